//! Access control on the node: who a request comes from (a member node, a token's user, or
//! nobody), and whether its grants allow what the request touches. Pure functions of the
//! catalogue's access records (`AuthTable`, rebuilt with each catalogue revision), so every
//! node decides alike and the checks are unit-tested without a cluster.
//!
//! What each request needs (`check_request`): single-key operations the permission on that
//! key; scans, counts, clears and range watches one grant covering the whole range; live
//! queries and searches `search` (and `watch`) on the whole store, since they reach every
//! key; lock and counter names are keys; leases and sessions `coordinate` anywhere in the
//! store (a lease is a store-wide object: see docs/SECURITY-MODEL in the README). A request
//! covered only by the union of two grants is refused: one grant must cover it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use libp2p::PeerId;
use sha2::{Digest, Sha256};

use super::catalogue::{RevokedRecord, RoleRecord, TokenRecord, UserRecord};
use crate::auth::{covers, Credential, Grant, Identity, Permission};
use crate::engine::watchers::Filter;
use crate::net::wire::{AuthOp, ClientBody, MembersOp, StoresOp};
use crate::state::command::{Command, LeaseScope, Query, Reply};
use crate::state::kv::BatchOp;
use crate::{Error, ErrorCode, KeyRange, Result};

/// The hasher of the per-request lookups (the keys are peer ids and token ids, not chosen
/// by a client to collide: a peer id is a hash of its key, a token id random).
type Fast = foldhash::fast::RandomState;

/// The access records of one catalogue revision, with each user's grants gathered.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AuthTable {
    pub(crate) enabled: bool,
    pub(crate) users: BTreeMap<String, UserRecord>,
    pub(crate) roles: BTreeMap<String, RoleRecord>,
    pub(crate) tokens: BTreeMap<u64, TokenRecord>,
    pub(crate) revoked: BTreeMap<u64, RevokedRecord>,
    /// The peer ids of the member nodes (their requests are the cluster's own).
    pub(crate) nodes: HashSet<PeerId, Fast>,
    revoked_peers: HashSet<PeerId, Fast>,
    grants: HashMap<String, Arc<Vec<Grant>>>,
    /// What a request needs of each token, gathered once per table: one lookup per request.
    entries: HashMap<u64, TokenEntry, Fast>,
    /// Changes whenever an access record changes (long polls re-check their permission).
    pub(crate) generation: u64,
}

impl AuthTable {
    pub(crate) fn add_user(&mut self, record: UserRecord) {
        self.users.insert(record.name.clone(), record);
    }

    pub(crate) fn add_role(&mut self, record: RoleRecord) {
        self.roles.insert(record.name.clone(), record);
    }

    pub(crate) fn add_token(&mut self, record: TokenRecord) {
        self.tokens.insert(record.id, record);
    }

    pub(crate) fn add_revoked(&mut self, record: RevokedRecord) {
        if let Ok(peer) = record.peer.parse() {
            self.revoked_peers.insert(peer);
        }
        self.revoked.insert(record.id, record);
    }

    /// Gathers each user's grants and the generation, once every record is in.
    pub(crate) fn compile(&mut self) {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (self.enabled, &self.users, &self.roles, &self.tokens, &self.revoked).hash(&mut hasher);
        self.generation = hasher.finish();
        self.grants = self
            .users
            .values()
            .map(|user| {
                let grants = user
                    .roles
                    .iter()
                    .filter_map(|role| self.roles.get(role))
                    .flat_map(|role| role.grants.iter().cloned())
                    .collect();
                (user.name.clone(), Arc::new(grants))
            })
            .collect();
        let names: HashMap<&str, Arc<str>> =
            self.users.keys().map(|name| (name.as_str(), Arc::from(name.as_str()))).collect();
        self.entries = self
            .tokens
            .values()
            .filter_map(|token| {
                let user = names.get(token.user.as_str()).zip(self.grants.get(&token.user)).map(|(name, grants)| {
                    Principal::User { name: Arc::clone(name), token: token.id, grants: Arc::clone(grants) }
                });
                let entry = TokenEntry {
                    hash: unhex(&token.hash)?,
                    expires_ms: token.expires_ms,
                    user,
                    verified: Verified::default(),
                };
                Some((token.id, entry))
            })
            .collect();
    }

    /// A member node (its peer id as the catalogue records it).
    pub(crate) fn add_node(&mut self, peer: &str) {
        if let Ok(peer) = peer.parse() {
            self.nodes.insert(peer);
        }
    }

    /// Whether the node with this peer id was revoked.
    pub(crate) fn is_revoked(&self, peer: &PeerId) -> bool {
        self.revoked_peers.contains(peer)
    }

    /// The user of token `id` with its grants, if the token is live (not expired, its user
    /// still there), without checking any secret.
    pub(crate) fn token_user(&self, id: u64, now_ms: u64) -> Option<Principal> {
        self.entries.get(&id)?.principal(id, now_ms).ok()
    }

    /// Who sent a request: `peer` is the sending peer (none: this node itself), `token` what
    /// the request carries, `now_ms` the wall clock (tokens expire by it).
    pub(crate) fn authenticate(
        &self,
        peer: Option<&PeerId>,
        token: Option<&Credential>,
        now_ms: u64,
    ) -> Result<Principal> {
        let Some(peer) = peer else { return Ok(Principal::Node) };
        if !self.revoked_peers.is_empty() && self.revoked_peers.contains(peer) {
            return Err(unauthenticated("this node was revoked from the cluster (members revoke): it is shut out"));
        }
        if self.nodes.contains(peer) {
            return Ok(Principal::Node);
        }
        if !self.enabled {
            return Ok(Principal::Open);
        }
        let (id, secret) = match token {
            None => return Ok(Principal::Anonymous),
            Some(Credential::Token { id, secret }) => (*id, &secret.0),
            Some(Credential::Malformed { bytes }) => {
                return Err(unauthenticated(format!(
                    "malformed token ({bytes} bytes): a token is {}, 16 hex digits, '_' and 64 hex digits, as \
                     `clustron token create` prints it",
                    crate::auth::TOKEN_PREFIX
                )))
            }
        };
        let unknown = || unauthenticated(format!("token {id:016x} is unknown or revoked"));
        let entry = self.entries.get(&id).ok_or_else(unknown)?;
        if entry.verified.0.get().is_some_and(|known| same(known, secret)) {
            return entry.principal(id, now_ms);
        }
        let digest: [u8; 32] = Sha256::digest(secret).into();
        if !same(&digest, &entry.hash) {
            return Err(unknown());
        }
        let principal = entry.principal(id, now_ms)?;
        // Only the one secret that hashes to the record is ever kept.
        let _ = entry.verified.0.set(*secret);
        Ok(principal)
    }
}

/// A token as requests need it (`AuthTable::entries`).
#[derive(Clone, Debug, PartialEq)]
struct TokenEntry {
    /// SHA-256 of its secret (the record keeps it in hex).
    hash: [u8; 32],
    expires_ms: Option<u64>,
    /// Its user with the user's grants (`None`: the user is gone).
    user: Option<Principal>,
    /// Its secret, once a request carried it and it checked: the next request with the same
    /// secret skips the hash (a new table, made by any change of the records, starts empty).
    verified: Verified,
}

impl TokenEntry {
    /// The user of token `id`, whose secret was checked.
    fn principal(&self, id: u64, now_ms: u64) -> Result<Principal> {
        if self.expires_ms.is_some_and(|expires| expires <= now_ms) {
            return Err(unauthenticated(format!("token {id:016x} has expired")));
        }
        self.user.clone().ok_or_else(|| unauthenticated(format!("token {id:016x} is unknown or revoked")))
    }
}

/// SHA-256 of a token's secret bytes, in hex: what the catalogue keeps.
pub(crate) fn hash_secret(secret: &[u8; 32]) -> String {
    use std::fmt::Write;
    Sha256::digest(secret).iter().fold(String::with_capacity(64), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

/// A verified token secret (see `TokenEntry::verified`): not part of what a table is.
#[derive(Default)]
struct Verified(std::sync::OnceLock<[u8; 32]>);

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "Verified(<redacted>)" } else { "Verified(none)" })
    }
}

impl Clone for Verified {
    fn clone(&self) -> Verified {
        Verified::default()
    }
}

impl PartialEq for Verified {
    fn eq(&self, _: &Verified) -> bool {
        true
    }
}

/// A hash's bytes from its hex text.
fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    (text.len() == 64).then_some(bytes)
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthenticated(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::Unauthenticated, message)
}

/// Who a request comes from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Principal {
    /// A member node (or this one): the cluster's own requests.
    Node,
    /// The cluster has access control off: everything is allowed.
    Open,
    /// Access control is on and the request carries no token.
    Anonymous,
    /// A token's user.
    User { name: Arc<str>, token: u64, grants: Arc<Vec<Grant>> },
}

/// Which keys a permission is needed on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scope<'a> {
    /// The cluster itself: `admin@*` on every key.
    Cluster,
    /// Every key of the store.
    Store,
    Key(&'a str),
    Range(&'a KeyRange),
    /// Anywhere in the store.
    Any,
}

impl Principal {
    /// The user, for logs and the audit trail (never the token's secret).
    pub(crate) fn who(&self) -> String {
        match self {
            Principal::Node => "node".into(),
            Principal::Open => "anyone".into(),
            Principal::Anonymous => "anonymous".into(),
            Principal::User { name, token, .. } => format!("{name} (token {token:016x})"),
        }
    }

    /// A member node, or anyone on a cluster without access control.
    pub(crate) fn is_trusted(&self) -> bool {
        matches!(self, Principal::Node | Principal::Open)
    }

    /// The token's id, for telling whose a watch is.
    pub(crate) fn token(&self) -> Option<u64> {
        match self {
            Principal::User { token, .. } => Some(*token),
            _ => None,
        }
    }

    pub(crate) fn identity(&self, auth: bool) -> Identity {
        match self {
            Principal::User { name, token, grants } => Identity {
                auth,
                user: Some(name.to_string()),
                token: Some(format!("{token:016x}")),
                grants: grants.to_vec(),
            },
            _ => Identity { auth, user: None, token: None, grants: Vec::new() },
        }
    }

    pub(crate) fn allows(&self, permission: Permission, store: &str, scope: Scope<'_>) -> bool {
        let grants = match self {
            Principal::Node | Principal::Open => return true,
            Principal::Anonymous => return false,
            Principal::User { grants, .. } => grants,
        };
        grants.iter().any(|grant| {
            let whole = || covers(&grant.keys, &KeyRange::All);
            match scope {
                Scope::Cluster => grant.store == "*" && grant.permissions.contains(&permission) && whole(),
                Scope::Store => grant.allows(permission, store) && whole(),
                Scope::Key(key) => grant.allows(permission, store) && grant.keys.contains(key),
                Scope::Range(range) => grant.allows(permission, store) && covers(&grant.keys, range),
                Scope::Any => grant.allows(permission, store),
            }
        })
    }

    /// Whether it may see that the store exists (any permission on it).
    pub(crate) fn sees_store(&self, store: &str) -> bool {
        Permission::ALL.into_iter().any(|permission| self.allows(permission, store, Scope::Any))
    }

    pub(crate) fn require(&self, permission: Permission, store: &str, scope: Scope<'_>) -> Result<()> {
        if self.allows(permission, store, scope) {
            return Ok(());
        }
        Err(self.denied(permission, store, scope))
    }

    fn denied(&self, permission: Permission, store: &str, scope: Scope<'_>) -> Error {
        let Principal::User { name, .. } = self else {
            return unauthenticated(
                "this cluster has access control on: the request needs a token (token= or token_file= in the \
                 connection string, CLUSTRON_TOKEN or --token-file on the command line)",
            );
        };
        let what = match scope {
            Scope::Cluster => "the cluster (a grant on every store: admin@*)".to_owned(),
            Scope::Store => format!("the whole store {store:?}"),
            Scope::Key(key) => format!("key {key:?} of store {store:?}"),
            Scope::Range(KeyRange::All) => format!("every key of store {store:?}"),
            Scope::Range(KeyRange::Prefix(prefix)) => format!("the keys with prefix {prefix:?} of store {store:?}"),
            Scope::Range(KeyRange::Between { start, end }) => match end {
                Some(end) => format!("the keys in [{start:?}, {end:?}) of store {store:?}"),
                None => format!("the keys from {start:?} on of store {store:?}"),
            },
            Scope::Any => format!("store {store:?}"),
        };
        Error::new(ErrorCode::PermissionDenied, format!("user {name:?} has no {permission} permission on {what}"))
    }

    /// Drops from a reply what it must not see: the keys of leases outside what it may read,
    /// the counts of a store it may not read whole.
    pub(crate) fn filter_reply(&self, store: &str, reply: &mut Reply) {
        if !matches!(self, Principal::User { .. }) {
            return;
        }
        if let Reply::Stats(stats) = reply {
            if !self.allows(Permission::Read, store, Scope::Store)
                && !self.allows(Permission::Admin, store, Scope::Store)
            {
                *stats = crate::state::command::StoreStats {
                    revision: stats.revision,
                    compacted_revision: stats.compacted_revision,
                    keys: 0,
                    bytes: 0,
                    leases: 0,
                    locks: 0,
                    counters: 0,
                };
            }
            return;
        }
        let keep = |info: &mut crate::LeaseInfo| {
            info.keys.retain(|key| self.allows(Permission::Read, store, Scope::Key(key)));
        };
        match reply {
            Reply::Lease(info) => keep(info),
            Reply::MaybeLease(Some(info)) => keep(info),
            Reply::Leases(list) => list.iter_mut().for_each(keep),
            _ => {}
        }
    }
}

/// Checks a request against its sender's grants (watch polls are also checked against the
/// watch's owner, by the node).
pub(crate) fn check_request(who: &Principal, store: &str, body: &ClientBody) -> Result<()> {
    use Permission::*;
    let node_only = || match who {
        Principal::Node | Principal::Open => Ok(()),
        _ => Err(Error::new(ErrorCode::PermissionDenied, "only the cluster's nodes send this request")),
    };
    let signed_in = || match who {
        Principal::Anonymous => Err(who.denied(Read, store, Scope::Any)),
        _ => Ok(()),
    };
    match body {
        ClientBody::Hello { .. } => Ok(()),
        ClientBody::Open { .. } => {
            if who.sees_store(store) {
                Ok(())
            } else {
                Err(who.denied(Read, store, Scope::Any))
            }
        }
        ClientBody::Write { command, .. } => check_command(who, store, command),
        ClientBody::Read { query, .. } => check_query(who, store, query),
        ClientBody::WaitLock { .. } | ClientBody::SessionOpen { .. } | ClientBody::SessionHeartbeat { .. } => {
            who.require(Coordinate, store, Scope::Any)
        }
        ClientBody::WatchOpen { filter, .. } => check_watch(who, store, filter),
        ClientBody::WatchPoll { .. } | ClientBody::WatchClose { .. } => who.require(Watch, store, Scope::Any),
        ClientBody::AdvanceClock { .. } => who.require(Admin, store, Scope::Store),
        ClientBody::Status => {
            if who.allows(Admin, store, Scope::Store) {
                Ok(())
            } else {
                who.require(Read, store, Scope::Store)
            }
        }
        ClientBody::Backup { .. } => who.require(Read, store, Scope::Store),
        ClientBody::Members(MembersOp::List) => signed_in(),
        ClientBody::Members(MembersOp::Join { .. }) => {
            if matches!(who, Principal::Node) {
                Ok(())
            } else {
                who.require(Admin, store, Scope::Cluster)
            }
        }
        ClientBody::Members(_)
        | ClientBody::Partition { .. }
        | ClientBody::SlowLinks { .. }
        | ClientBody::DiskFaults(_) => who.require(Admin, store, Scope::Cluster),
        ClientBody::Stores(op) => match op {
            StoresOp::Create { .. } => who.require(Admin, store, Scope::Cluster),
            StoresOp::Configure { name, .. } | StoresOp::Drop { name } => {
                let name = crate::config::normalize_store_name(name).unwrap_or_else(|_| name.clone());
                who.require(Admin, &name, Scope::Store)
            }
            StoresOp::List { .. } => signed_in(),
            StoresOp::Alive { .. } | StoresOp::Adopt { .. } => node_only(),
        },
        ClientBody::Auth(AuthOp::WhoAmI) => Ok(()),
        ClientBody::Auth(_) => who.require(Admin, store, Scope::Cluster),
    }
}

/// A lease is a store-wide object (any `coordinate` holder may name any lease by its id), but
/// ending one deletes its keys and releases its locks: a user whose grants do not cover the
/// whole store has its lease revocations and keep-alives confined to its grants, checked by
/// the state machine against what the lease holds when it applies (`LeaseScoped`).
pub(crate) fn confine(who: &Principal, store: &str, body: ClientBody) -> ClientBody {
    let ClientBody::Write { id, command: Command::LeaseRevoke { lease } | Command::LeaseKeepAlive { lease } } = &body
    else {
        return body;
    };
    let Principal::User { grants, .. } = who else { return body };
    let ranges = |permission: Permission| -> Option<Vec<KeyRange>> {
        let ranges: Vec<KeyRange> =
            grants.iter().filter(|grant| grant.allows(permission, store)).map(|grant| grant.keys.clone()).collect();
        (!ranges.iter().any(|range| covers(range, &KeyRange::All))).then_some(ranges)
    };
    let (write, coordinate) = (ranges(Permission::Write), ranges(Permission::Coordinate));
    if write.is_none() && coordinate.is_none() {
        return body;
    }
    let revoke = matches!(body, ClientBody::Write { command: Command::LeaseRevoke { .. }, .. });
    let scope = LeaseScope {
        write: write.unwrap_or_else(|| vec![KeyRange::All]),
        coordinate: coordinate.unwrap_or_else(|| vec![KeyRange::All]),
    };
    ClientBody::Write { id: *id, command: Command::LeaseScoped { lease: *lease, revoke, scope: Box::new(scope) } }
}

/// A watch reads what it covers; a live query reaches the whole store.
pub(crate) fn check_watch(who: &Principal, store: &str, filter: &Filter) -> Result<()> {
    match filter {
        Filter::Key(key) => who.require(Permission::Watch, store, Scope::Key(key)),
        Filter::Range(range) => who.require(Permission::Watch, store, Scope::Range(range)),
        Filter::Query(_) => {
            who.require(Permission::Watch, store, Scope::Store)?;
            who.require(Permission::Search, store, Scope::Store)
        }
    }
}

fn check_op(who: &Principal, store: &str, op: &BatchOp) -> Result<()> {
    match op {
        BatchOp::Get(key) => who.require(Permission::Read, store, Scope::Key(key)),
        BatchOp::Put(item) => who.require(Permission::Write, store, Scope::Key(&item.key)),
        BatchOp::Delete(item) => who.require(Permission::Write, store, Scope::Key(&item.key)),
    }
}

fn check_command(who: &Principal, store: &str, command: &Command) -> Result<()> {
    use Permission::*;
    if matches!(who, Principal::Node | Principal::Open) {
        return Ok(());
    }
    match command {
        Command::Put(item) => who.require(Write, store, Scope::Key(&item.key)),
        Command::Delete(item) => who.require(Write, store, Scope::Key(&item.key)),
        Command::PutMany(items) => items.iter().try_for_each(|item| who.require(Write, store, Scope::Key(&item.key))),
        Command::DeleteMany(items) => {
            items.iter().try_for_each(|item| who.require(Write, store, Scope::Key(&item.key)))
        }
        Command::Batch(ops) => ops.iter().try_for_each(|op| check_op(who, store, op)),
        Command::Clear(range) => who.require(Write, store, Scope::Range(range)),
        Command::Expire { key, .. } | Command::Persist { key } => who.require(Write, store, Scope::Key(key)),
        Command::LeaseGrant { .. } | Command::LeaseKeepAlive { .. } | Command::LeaseRevoke { .. } => {
            who.require(Coordinate, store, Scope::Any)
        }
        Command::LeaseScoped { scope, .. } => {
            who.require(Coordinate, store, Scope::Any)?;
            scope.write.iter().try_for_each(|range| who.require(Write, store, Scope::Range(range)))?;
            scope.coordinate.iter().try_for_each(|range| who.require(Coordinate, store, Scope::Range(range)))
        }
        Command::LockAcquire { name, .. }
        | Command::LockCancel { name, .. }
        | Command::LockRenew { name, .. }
        | Command::LockRelease { name, .. }
        | Command::CounterAdd { name, .. }
        | Command::CounterSet { name, .. }
        | Command::CounterCas { name, .. }
        | Command::CounterDelete { name } => who.require(Coordinate, store, Scope::Key(name)),
        Command::Txn(request) => {
            for compare in &request.compares {
                who.require(Read, store, Scope::Key(&compare.key))?;
            }
            request.success.iter().chain(&request.failure).try_for_each(|op| check_op(who, store, op))
        }
        Command::Load { .. } | Command::LoadEnd(_) => {
            who.require(Admin, store, Scope::Store)?;
            who.require(Write, store, Scope::Store)
        }
        Command::Tick | Command::SetHistory(_) | Command::LeaseGrace { .. } | Command::Configure { .. } => {
            Err(Error::new(ErrorCode::PermissionDenied, "only the store's leader proposes this command"))
        }
    }
}

fn check_query(who: &Principal, store: &str, query: &Query) -> Result<()> {
    use Permission::*;
    match query {
        Query::Get { key } | Query::Ttl { key } => who.require(Read, store, Scope::Key(key)),
        Query::GetMany { keys } => keys.iter().try_for_each(|key| who.require(Read, store, Scope::Key(key))),
        Query::Scan { range, .. } | Query::Count { range } => who.require(Read, store, Scope::Range(range)),
        Query::Lease { .. } | Query::Leases => who.require(Coordinate, store, Scope::Any),
        Query::Lock { name } | Query::Counter { name } => who.require(Coordinate, store, Scope::Key(name)),
        // Clients read the revision from it (a watch starts no earlier than what they saw);
        // the counts are kept from those who may not read the whole store (`filter_reply`).
        Query::Stats => {
            if who.sees_store(store) {
                Ok(())
            } else {
                Err(who.denied(Read, store, Scope::Any))
            }
        }
        Query::Search(_) => who.require(Search, store, Scope::Store),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Secret;
    use crate::cluster::catalogue::RECORD_VERSION;

    /// A token as a request carries it.
    fn cred(token: &Secret) -> Credential {
        Credential::from(token)
    }
    use crate::state::kv::PutItem;

    fn table(now_expired: bool) -> (AuthTable, Secret, Secret) {
        let mut table = AuthTable { enabled: true, ..AuthTable::default() };
        table.add_role(RoleRecord {
            v: RECORD_VERSION,
            name: "tenant-a".into(),
            grants: vec![Grant::parse("read,write,watch,coordinate@orders:a/").unwrap()],
        });
        table.add_user(UserRecord { v: RECORD_VERSION, name: "alice".into(), roles: vec!["tenant-a".into()] });
        let (alice, bytes) = Secret::generate(1).unwrap();
        table.add_token(TokenRecord {
            v: RECORD_VERSION,
            id: 1,
            user: "alice".into(),
            hash: hash_secret(&bytes),
            created_ms: 0,
            expires_ms: Some(if now_expired { 10 } else { 1_000 }),
            description: String::new(),
        });
        let (stranger, _) = Secret::generate(2).unwrap();
        table.nodes.insert(*NODE);
        table.add_revoked(RevokedRecord { v: RECORD_VERSION, id: 9, peer: GONE.to_base58() });
        table.compile();
        (table, alice, stranger)
    }

    static NODE: std::sync::LazyLock<PeerId> = std::sync::LazyLock::new(PeerId::random);
    static GONE: std::sync::LazyLock<PeerId> = std::sync::LazyLock::new(PeerId::random);
    static CLIENT: std::sync::LazyLock<PeerId> = std::sync::LazyLock::new(PeerId::random);

    #[test]
    fn tokens_are_checked_without_showing_them() {
        let (table, alice, stranger) = table(false);
        let who = table.authenticate(Some(&*CLIENT), Some(&cred(&alice)), 100).unwrap();
        assert_eq!(who.who(), "alice (token 0000000000000001)");
        assert!(matches!(table.authenticate(Some(&*NODE), None, 100).unwrap(), Principal::Node));
        assert!(matches!(table.authenticate(Some(&*CLIENT), None, 100).unwrap(), Principal::Anonymous));
        for (token, wanted) in [
            (stranger.clone(), "unknown or revoked"),
            (Secret::new("garbage"), "malformed token (7 bytes)"),
            (Secret::new("x".repeat(1 << 20)), "malformed token (1048576 bytes)"),
        ] {
            let error = table.authenticate(Some(&*CLIENT), Some(&cred(&token)), 100).unwrap_err();
            assert_eq!(error.code(), ErrorCode::Unauthenticated);
            assert!(error.message().contains(wanted), "{error}");
            assert!(
                !error.message().contains(&token.expose()[token.expose().len().min(20)..]) || token.expose().len() < 20
            );
        }
        // The right id with another secret is not the token.
        let forged = Secret::new(format!("{}{}", &alice.expose()[..27], "0".repeat(64)));
        assert_eq!(
            table.authenticate(Some(&*CLIENT), Some(&cred(&forged)), 100).unwrap_err().code(),
            ErrorCode::Unauthenticated
        );
        // Verified once, the same text skips the hash; another text under the same id does not.
        assert!(table.authenticate(Some(&*CLIENT), Some(&cred(&alice)), 100).is_ok());
        let forged_again = table.authenticate(Some(&*CLIENT), Some(&cred(&forged)), 100).unwrap_err();
        assert_eq!(forged_again.code(), ErrorCode::Unauthenticated);
        let expired = table.authenticate(Some(&*CLIENT), Some(&cred(&alice)), 1_000).unwrap_err();
        assert!(expired.message().contains("expired"), "{expired}");
        let revoked = table.authenticate(Some(&*GONE), None, 0).unwrap_err();
        assert_eq!(revoked.code(), ErrorCode::Unauthenticated);
        let open = AuthTable::default();
        assert!(matches!(open.authenticate(Some(&*CLIENT), None, 0).unwrap(), Principal::Open));
    }

    #[test]
    fn a_prefix_limited_user_reaches_only_its_prefix() {
        let (table, alice, _) = table(false);
        let who = table.authenticate(Some(&*CLIENT), Some(&cred(&alice)), 0).unwrap();
        let write = |key: &str| ClientBody::Write {
            id: crate::net::wire::RequestId { client: 1, seq: 1, acked: 1 },
            command: Command::Put(PutItem::new(key, "v")),
        };
        let read = |query| ClientBody::Read { query, local: false };
        check_request(&who, "orders", &write("a/1")).unwrap();
        let denied = check_request(&who, "orders", &write("b/1")).unwrap_err();
        assert_eq!(denied.code(), ErrorCode::PermissionDenied);
        assert_eq!(denied.message(), r#"user "alice" has no write permission on key "b/1" of store "orders""#);
        assert_eq!(check_request(&who, "other", &write("a/1")).unwrap_err().code(), ErrorCode::PermissionDenied);
        let scan = |range| read(Query::Scan { range, after: None, limit: None });
        check_request(&who, "orders", &scan(KeyRange::prefix("a/x"))).unwrap();
        for range in [KeyRange::All, KeyRange::prefix("a"), KeyRange::from("a/")] {
            assert!(check_request(&who, "orders", &scan(range.clone())).is_err(), "{range:?}");
        }
        assert!(check_request(&who, "orders", &read(Query::Count { range: KeyRange::All })).is_err());
        check_request(&who, "orders", &read(Query::Stats)).unwrap();
        let stats = crate::state::command::StoreStats {
            revision: 9,
            compacted_revision: 1,
            keys: 5,
            bytes: 50,
            leases: 1,
            locks: 1,
            counters: 1,
        };
        let mut reply = Reply::Stats(stats);
        who.filter_reply("orders", &mut reply);
        let Reply::Stats(shown) = reply else { unreachable!() };
        assert_eq!((shown.revision, shown.keys, shown.bytes), (9, 0, 0), "the revision, not the counts");
        assert!(check_request(&who, "orders", &ClientBody::Status).is_err());
        let search = read(Query::Search(Box::new(crate::search::SearchRequest::new(None))));
        assert!(check_request(&who, "orders", &search).is_err());
        let watch = |filter| ClientBody::WatchOpen {
            filter,
            prev_value: true,
            start: crate::engine::inproc::WatchStart::Now,
            min_revision: 0,
        };
        check_request(&who, "orders", &watch(Filter::Range(KeyRange::prefix("a/")))).unwrap();
        assert!(check_request(&who, "orders", &watch(Filter::Range(KeyRange::All))).is_err());
        assert!(check_request(&who, "orders", &watch(Filter::Key("b".into()))).is_err());
        let lock = |name: &str| ClientBody::Write {
            id: crate::net::wire::RequestId { client: 1, seq: 1, acked: 1 },
            command: Command::LockAcquire {
                name: name.into(),
                hold: crate::state::lock::Hold::Ttl(1000),
                wait_ms: None,
            },
        };
        check_request(&who, "orders", &lock("a/l")).unwrap();
        assert!(check_request(&who, "orders", &lock("l")).is_err());
        assert!(check_request(&who, "orders", &ClientBody::Auth(AuthOp::ListUsers)).is_err());
        check_request(&who, "orders", &ClientBody::Auth(AuthOp::WhoAmI)).unwrap();
        check_request(&who, "orders", &ClientBody::Open { settings: Default::default() }).unwrap();
        assert!(check_request(&who, "other", &ClientBody::Open { settings: Default::default() }).is_err());
        // Lease keys outside the prefix are not shown.
        let mut reply = Reply::Leases(vec![crate::LeaseInfo {
            id: crate::LeaseId::new(1),
            ttl: std::time::Duration::from_secs(1),
            expires_at: crate::Timestamp::from_unix_millis(1),
            remaining: std::time::Duration::from_secs(1),
            keys: vec!["a/1".into(), "b/2".into()],
        }]);
        who.filter_reply("orders", &mut reply);
        let Reply::Leases(list) = reply else { unreachable!() };
        assert_eq!(list[0].keys, vec![crate::Key::from("a/1")]);
        // Its lease revocations and keep-alives are confined to its grants (alice: all@orders:a/).
        let lease_op =
            |command| ClientBody::Write { id: crate::net::wire::RequestId { client: 1, seq: 1, acked: 1 }, command };
        let lease = crate::LeaseId::new(4);
        for (command, revoke) in [(Command::LeaseRevoke { lease }, true), (Command::LeaseKeepAlive { lease }, false)] {
            let confined = confine(&who, "orders", lease_op(command));
            let ClientBody::Write { command: Command::LeaseScoped { lease: l, revoke: r, scope }, .. } = &confined
            else {
                panic!("confined: {confined:?}");
            };
            assert_eq!(
                (*l, *r, &scope.write, &scope.coordinate),
                (lease, revoke, &vec![KeyRange::prefix("a/")], &vec![KeyRange::prefix("a/")])
            );
            check_request(&who, "orders", &confined).unwrap();
        }
        // A scope wider than the grants is refused (a client cannot send its own).
        let wide = lease_op(Command::LeaseScoped {
            lease,
            revoke: true,
            scope: Box::new(LeaseScope { write: vec![KeyRange::All], coordinate: vec![] }),
        });
        assert_eq!(check_request(&who, "orders", &wide).unwrap_err().code(), ErrorCode::PermissionDenied);
        // Nodes and whole-store users are not confined.
        let plain = lease_op(Command::LeaseRevoke { lease });
        let ClientBody::Write { command: Command::LeaseRevoke { .. }, .. } = confine(&Principal::Node, "orders", plain)
        else {
            panic!("a node's revocation is not confined");
        };
        // No token at all: unauthenticated, whatever is asked.
        let nobody = table.authenticate(Some(&*CLIENT), None, 0).unwrap();
        assert_eq!(check_request(&nobody, "orders", &write("a/1")).unwrap_err().code(), ErrorCode::Unauthenticated);
        check_request(&nobody, "", &ClientBody::Hello { version: 7 }).unwrap();
    }
}

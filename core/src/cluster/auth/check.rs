//! Authorization: whether a request's principal may do what the request touches, decided
//! from the grants the catalogue gives it (see the parent module for what each request needs).

use std::sync::Arc;

use super::unauthenticated;
use crate::auth::{covers, Grant, Identity, Permission};
use crate::engine::watchers::Filter;
use crate::net::wire::{AuthOp, ClientBody, MembersOp, StoresOp};
use crate::state::command::{Command, LeaseScope, Query, Reply};
use crate::state::kv::BatchOp;
use crate::{Error, ErrorCode, KeyRange, Result};

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

//! Access control on this node: the users, roles and tokens requests (answered by the
//! catalogue's leader, which writes their records), the bootstrap of a cluster with access
//! control on, the owner checks of watches and lock waits, and the audit trail (structured
//! log lines under the `clustron::audit` target, and counters for the metrics).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Node;
use crate::auth::{check_description, check_name, Grant, NewToken, Permission, Role, Secret, TokenInfo, User};
use crate::cluster::auth::{hash_secret, AuthTable, Principal};
use crate::cluster::catalogue::{
    encode, AuthRecord, RoleRecord, TokenRecord, UserRecord, AUTH_KEY, RECORD_VERSION, ROLE_PREFIX, USER_PREFIX,
};
use crate::net::wire::{AuthOp, AuthReply, ClientBody, ClientFault, ClientReply, ClientResponse, MembersOp, StoresOp};
use crate::state::command::{Command, Reply};
use crate::state::lock::AcquireReply;
use crate::{Error, ErrorCode, Key, KeyRange, Result};

/// The role and user a cluster with access control on starts with.
pub(crate) const ADMIN: &str = "admin";
/// How long a revocation waits for every member's copy of the catalogue to have it.
const SPREAD_WAIT: Duration = Duration::from_secs(2);
/// Lock waits remembered for cancelling when their owner's permission ends.
const MAX_LOCK_WAITS: usize = 65_536;

fn fault(error: Error) -> ClientFault {
    ClientFault::Error(error)
}

/// The wall clock in Unix milliseconds (tokens expire by it).
pub(super) fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// A short name of a request for logs and the audit trail (never its arguments).
pub(super) fn request_kind(body: &ClientBody) -> &'static str {
    match body {
        ClientBody::Hello { .. } => "hello",
        ClientBody::Open { .. } => "open",
        ClientBody::Write { .. } => "write",
        ClientBody::Read { .. } => "read",
        ClientBody::WaitLock { .. } => "lock_wait",
        ClientBody::WatchOpen { .. } => "watch_open",
        ClientBody::WatchPoll { .. } => "watch_poll",
        ClientBody::WatchClose { .. } => "watch_close",
        ClientBody::SessionOpen { .. } => "session_open",
        ClientBody::SessionHeartbeat { .. } => "session_heartbeat",
        ClientBody::AdvanceClock { .. } => "advance_clock",
        ClientBody::Status => "status",
        ClientBody::Members(MembersOp::List) => "members_list",
        ClientBody::Members(MembersOp::Join { .. }) => "members_join",
        ClientBody::Members(MembersOp::Remove(_)) => "members_remove",
        ClientBody::Members(MembersOp::Drain(_)) => "members_drain",
        ClientBody::Members(MembersOp::Revoke(_)) => "members_revoke",
        ClientBody::Partition { .. } | ClientBody::SlowLinks { .. } | ClientBody::DiskFaults(_) => "fault_injection",
        ClientBody::Stores(StoresOp::Create { .. }) => "store_create",
        ClientBody::Stores(StoresOp::Configure { .. }) => "store_configure",
        ClientBody::Stores(StoresOp::Drop { .. }) => "store_drop",
        ClientBody::Stores(StoresOp::List { .. }) => "store_list",
        ClientBody::Stores(StoresOp::Alive { .. }) => "node_alive",
        ClientBody::Stores(StoresOp::Adopt { .. }) => "store_adopt",
        ClientBody::Backup { .. } => "backup",
        ClientBody::Auth(op) => match op {
            AuthOp::WhoAmI => "whoami",
            AuthOp::ListUsers => "user_list",
            AuthOp::AddUser { .. } => "user_add",
            AuthOp::SetUserRoles { .. } => "user_set_roles",
            AuthOp::RemoveUser { .. } => "user_remove",
            AuthOp::ListRoles => "role_list",
            AuthOp::AddRole { .. } => "role_add",
            AuthOp::GrantRole { .. } => "role_grant",
            AuthOp::RevokeRole { .. } => "role_revoke",
            AuthOp::RemoveRole { .. } => "role_remove",
            AuthOp::ListTokens { .. } => "token_list",
            AuthOp::CreateToken { .. } => "token_create",
            AuthOp::RevokeToken { .. } => "token_revoke",
        },
    }
}

/// Administrative changes: logged with who made them and the outcome.
pub(super) fn is_audited(body: &ClientBody) -> bool {
    match body {
        ClientBody::Members(op) => !matches!(op, MembersOp::List),
        ClientBody::Stores(op) => {
            matches!(op, StoresOp::Create { .. } | StoresOp::Configure { .. } | StoresOp::Drop { .. })
        }
        ClientBody::Auth(op) => {
            !matches!(op, AuthOp::WhoAmI | AuthOp::ListUsers | AuthOp::ListRoles | AuthOp::ListTokens { .. })
        }
        _ => false,
    }
}

impl Node {
    /// A refused request: one audit line and a count (by code).
    pub(super) fn audit_denied(&self, who: &Principal, store: &str, kind: &str, code: ErrorCode) {
        let counter = match code {
            ErrorCode::Unauthenticated => &self.inner.audit.unauthenticated,
            _ => &self.inner.audit.denied,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        // A client that keeps asking for what it may not have must not flood the log: past
        // the budget lines are counted, and the next line says how many were left out.
        let Some(suppressed) = self.inner.audit.lines.lock().take(wall_ms() / 1000) else { return };
        if suppressed == 0 {
            tracing::warn!(target: "clustron::audit", who = who.who().as_str(), request = kind, store, result = code.name(), "audit: denied");
        } else {
            tracing::warn!(target: "clustron::audit", who = who.who().as_str(), request = kind, store, result = code.name(), suppressed, "audit: denied");
        }
    }

    /// An administrative change: one audit line (the request as `Debug` shows it, which never
    /// shows a token) and a count.
    pub(super) fn audit_change(&self, who: &Principal, store: &str, kind: &str, what: &str, response: &ClientResponse) {
        if matches!(response, Err(ClientFault::NotLeader(_))) {
            return;
        }
        // A node forwarding its own request is audited where the request is answered.
        if matches!(who, Principal::Node) && !self.catalogue_replica().is_some_and(|replica| replica.is_leader()) {
            return;
        }
        self.inner.audit.changes.fetch_add(1, Ordering::Relaxed);
        let result = match response {
            Ok(_) => "ok",
            Err(ClientFault::Error(error)) => error.code().name(),
            Err(ClientFault::NotLeader(_)) => "not_leader",
        };
        tracing::info!(target: "clustron::audit", who = who.who().as_str(), request = kind, store, what, result, "audit: change");
    }

    /// Whether `who` may still poll (or close) a watch: it must be the token that opened it,
    /// and still hold the permission on what it covers.
    pub(super) fn watch_access(&self, watch: u64, who: &Principal) -> Result<()> {
        let Some((owner, store, filter)) = self.watch_owner(watch) else { return Ok(()) };
        if owner != who.token() {
            return Err(Error::new(
                ErrorCode::PermissionDenied,
                format!("watch {watch} was opened with another token"),
            ));
        }
        crate::cluster::auth::check_watch(who, &store, &filter)
    }

    /// Remembers a lock wait queued by a request (and the token that queued it), to cancel
    /// it if its permission ends and to refuse its outcome to another token.
    pub(super) fn note_lock_wait(&self, store: &str, name: Key, owner: Option<u64>, reply: &ClientResponse) {
        if let Ok(ClientReply::Reply(Reply::Acquire(AcquireReply::Queued { waiter }))) = reply {
            let mut waits = self.inner.lock_waits.lock();
            if waits.len() < MAX_LOCK_WAITS {
                waits.insert((store.to_owned(), *waiter), (name, owner));
            }
        }
    }

    /// Whether `who` may wait on lock wait `waiter`: the token that queued it (a wait this
    /// node did not queue, or does not remember, is checked by its permission only).
    pub(super) fn lock_wait_access(&self, store: &str, waiter: u64, who: &Principal) -> Result<()> {
        match self.inner.lock_waits.lock().get(&(store.to_owned(), waiter)) {
            Some((_, owner)) if *owner != who.token() => Err(Error::new(
                ErrorCode::PermissionDenied,
                format!("lock wait {waiter} was queued with another token"),
            )),
            _ => Ok(()),
        }
    }

    /// A lock wait refused (its token revoked, its permission gone): it leaves the queue.
    pub(super) fn cancel_lock_wait(&self, store: &str, waiter: u64) {
        let Some((name, _)) = self.inner.lock_waits.lock().remove(&(store.to_owned(), waiter)) else { return };
        let Some(replica) = self.replica(store) else { return };
        replica.engine.forget_wait(waiter);
        tokio::spawn(async move {
            if let Err(error) = replica.propose(None, Command::LockCancel { name, waiter }).await {
                tracing::warn!("cancelling the lock wait of a refused request: {error:?}");
            }
        });
    }

    pub(super) fn forget_lock_wait(&self, store: &str, waiter: u64) {
        self.inner.lock_waits.lock().remove(&(store.to_owned(), waiter));
    }

    /// Starts access control on a cluster being bootstrapped: the `admin` role (every
    /// permission on every store) and user, and a token of it written to the file given.
    pub(super) async fn bootstrap_auth(&self) -> Result<()> {
        let config = &self.inner.config;
        if !config.auth || self.catalogue().auth.enabled {
            return Ok(());
        }
        let path = config
            .admin_token_file
            .clone()
            .ok_or_else(|| Error::invalid("--auth needs --admin-token-file: where to write the first admin token"))?;
        let _writing = self.inner.catalogue_writes.lock().await;
        let role = RoleRecord { v: RECORD_VERSION, name: ADMIN.into(), grants: vec![Grant::parse("all@*")?] };
        let user = UserRecord { v: RECORD_VERSION, name: ADMIN.into(), roles: vec![ADMIN.into()] };
        let (token, record) = new_token(ADMIN, None, "created at bootstrap".into())?;
        token.secret.write_to_file(&path)?;
        let write = |key: String, value: Vec<u8>| self.write_record(key, Some(value));
        write(format!("{ROLE_PREFIX}{ADMIN}"), encode(&role)).await.map_err(into_error)?;
        write(format!("{USER_PREFIX}{ADMIN}"), encode(&user)).await.map_err(into_error)?;
        write(TokenRecord::key(record.id), encode(&record)).await.map_err(into_error)?;
        write(AUTH_KEY.into(), encode(&AuthRecord { v: RECORD_VERSION, enabled: true })).await.map_err(into_error)?;
        tracing::info!(target: "clustron::audit", who = "bootstrap", request = "auth_on", file = %path.display(), "access control on; the admin token is in the file");
        Ok(())
    }

    /// Answers a users, roles or tokens request; only the catalogue's leader does.
    pub(super) async fn auth_op(&self, op: AuthOp, who: &Principal) -> ClientResponse {
        let replica = self.catalogue_replica().ok_or_else(|| fault(Error::unavailable("no catalogue here yet")))?;
        if !replica.is_leader() {
            return Err(ClientFault::NotLeader(replica.leader().filter(|leader| leader.id != self.inner.id)));
        }
        let (_writing, catalogue) = self.catalogue_for_change(&replica).await?;
        let auth = &catalogue.auth;
        if !auth.enabled {
            return Err(fault(Error::invalid(
                "this cluster has access control off (it is decided when the first node starts: clustron node --auth)",
            )));
        }
        let reply = match op {
            AuthOp::WhoAmI => AuthReply::Identity(who.identity(true)),
            AuthOp::ListUsers => AuthReply::Users(
                auth.users.values().map(|user| User { name: user.name.clone(), roles: user.roles.clone() }).collect(),
            ),
            AuthOp::ListRoles => AuthReply::Roles(
                auth.roles.values().map(|role| Role { name: role.name.clone(), grants: role.grants.clone() }).collect(),
            ),
            AuthOp::ListTokens { user } => AuthReply::Tokens(
                auth.tokens
                    .values()
                    .filter(|token| user.as_ref().is_none_or(|user| *user == token.user))
                    .map(info)
                    .collect(),
            ),
            AuthOp::AddUser { name, roles } | AuthOp::SetUserRoles { name, roles } if roles.len() > 64 => {
                return Err(fault(Error::invalid(format!("user {name:?}: at most 64 roles"))));
            }
            AuthOp::AddUser { name, roles } => {
                check_name("user", &name)?;
                if auth.users.contains_key(&name) {
                    return Err(fault(Error::invalid(format!("user {name:?} exists already"))));
                }
                let record = UserRecord { v: RECORD_VERSION, name, roles: known_roles(auth, roles)? };
                self.write_record(format!("{USER_PREFIX}{}", record.name), Some(encode(&record))).await?;
                AuthReply::Done
            }
            AuthOp::SetUserRoles { name, roles } => {
                let user = known_user(auth, &name)?;
                let record = UserRecord { roles: known_roles(auth, roles)?, ..user.clone() };
                let mut after = (**auth).clone();
                after.add_user(record.clone());
                keeps_an_admin(&after)?;
                self.write_record(format!("{USER_PREFIX}{name}"), Some(encode(&record))).await?;
                AuthReply::Done
            }
            AuthOp::RemoveUser { name } => {
                known_user(auth, &name)?;
                let mut after = (**auth).clone();
                after.users.remove(&name);
                keeps_an_admin(&after)?;
                // Its tokens first: a token never outlives its user's record.
                for token in auth.tokens.values().filter(|token| token.user == name) {
                    self.write_record(TokenRecord::key(token.id), None).await?;
                }
                self.write_record(format!("{USER_PREFIX}{name}"), None).await?;
                self.spread(&replica).await;
                AuthReply::Done
            }
            AuthOp::AddRole { name, grants } => {
                check_name("role", &name)?;
                check_grants(&grants)?;
                if auth.roles.contains_key(&name) {
                    return Err(fault(Error::invalid(format!("role {name:?} exists already"))));
                }
                let record = RoleRecord { v: RECORD_VERSION, name, grants: dedup(grants) };
                self.write_record(format!("{ROLE_PREFIX}{}", record.name), Some(encode(&record))).await?;
                AuthReply::Done
            }
            AuthOp::GrantRole { name, grants } | AuthOp::RevokeRole { name, grants } if grants.is_empty() => {
                return Err(fault(Error::invalid(format!("role {name:?}: no grant given"))));
            }
            AuthOp::GrantRole { name, grants } => {
                check_grants(&grants)?;
                let role = known_role(auth, &name)?;
                let record =
                    RoleRecord { grants: dedup(role.grants.iter().cloned().chain(grants).collect()), ..role.clone() };
                self.write_record(format!("{ROLE_PREFIX}{name}"), Some(encode(&record))).await?;
                AuthReply::Done
            }
            AuthOp::RevokeRole { name, grants } => {
                let role = known_role(auth, &name)?;
                if let Some(missing) = grants.iter().find(|grant| !role.grants.contains(grant)) {
                    return Err(fault(Error::new(
                        ErrorCode::NotFound,
                        format!("role {name:?} has no grant {missing} (its grants are listed by role list)"),
                    )));
                }
                let record = RoleRecord {
                    grants: role.grants.iter().filter(|g| !grants.contains(g)).cloned().collect(),
                    ..role.clone()
                };
                let mut after = (**auth).clone();
                after.add_role(record.clone());
                keeps_an_admin(&after)?;
                self.write_record(format!("{ROLE_PREFIX}{name}"), Some(encode(&record))).await?;
                self.spread(&replica).await;
                AuthReply::Done
            }
            AuthOp::RemoveRole { name } => {
                known_role(auth, &name)?;
                let mut after = (**auth).clone();
                after.roles.remove(&name);
                keeps_an_admin(&after)?;
                // Users holding it lose it.
                for user in auth.users.values().filter(|user| user.roles.contains(&name)) {
                    let record = UserRecord {
                        roles: user.roles.iter().filter(|role| **role != name).cloned().collect(),
                        ..user.clone()
                    };
                    self.write_record(format!("{USER_PREFIX}{}", user.name), Some(encode(&record))).await?;
                }
                self.write_record(format!("{ROLE_PREFIX}{name}"), None).await?;
                self.spread(&replica).await;
                AuthReply::Done
            }
            AuthOp::CreateToken { user, ttl_ms, description } => {
                known_user(auth, &user)?;
                check_description(&description)?;
                if auth.tokens.values().filter(|token| token.user == user).count() >= 1024 {
                    return Err(fault(Error::invalid(format!("user {user:?} has 1024 tokens: revoke some first"))));
                }
                let (token, record) = new_token(&user, ttl_ms, description)?;
                self.write_record(TokenRecord::key(record.id), Some(encode(&record))).await?;
                AuthReply::Token(token)
            }
            AuthOp::RevokeToken { id } => {
                let number = parse_token_id(&id)?;
                if !auth.tokens.contains_key(&number) {
                    return Err(fault(Error::new(
                        ErrorCode::NotFound,
                        format!("no token {id} (token list shows them)"),
                    )));
                }
                let mut after = (**auth).clone();
                after.tokens.remove(&number);
                keeps_an_admin(&after)?;
                self.write_record(TokenRecord::key(number), None).await?;
                self.spread(&replica).await;
                AuthReply::Done
            }
        };
        Ok(ClientReply::Auth(reply))
    }

    /// Waits (up to [`SPREAD_WAIT`]) until every member of the catalogue's group has
    /// received what this leader wrote, so a revocation holds on every node when it returns.
    pub(super) async fn spread(&self, replica: &crate::cluster::replica::Replica) {
        let deadline = tokio::time::Instant::now() + SPREAD_WAIT;
        let mut metrics = replica.raft.metrics();
        loop {
            let behind = {
                let now = metrics.borrow_and_update();
                let last = now.last_log_index.unwrap_or(0);
                now.replication.as_ref().is_some_and(|replication| {
                    replication.values().any(|matched| matched.is_none_or(|matched| matched.index < last))
                })
            };
            // Woken by openraft's next metrics (each follower's progress is one).
            if !behind || !matches!(tokio::time::timeout_at(deadline, metrics.changed()).await, Ok(Ok(()))) {
                return;
            }
        }
    }
}

fn into_error(fault: ClientFault) -> Error {
    match fault {
        ClientFault::Error(error) => error,
        ClientFault::NotLeader(_) => Error::unavailable("this node no longer leads the catalogue"),
    }
}

fn info(record: &TokenRecord) -> TokenInfo {
    TokenInfo {
        id: format!("{:016x}", record.id),
        user: record.user.clone(),
        created_ms: record.created_ms,
        expires_ms: record.expires_ms,
        description: record.description.clone(),
    }
}

fn new_token(user: &str, ttl_ms: Option<u64>, description: String) -> Result<(NewToken, TokenRecord)> {
    let id = crate::net::random_id();
    let (secret, bytes) = Secret::generate(id)?;
    let now = wall_ms();
    let record = TokenRecord {
        v: RECORD_VERSION,
        id,
        user: user.to_owned(),
        hash: hash_secret(&bytes),
        created_ms: now,
        expires_ms: ttl_ms.map(|ttl| now.saturating_add(ttl)),
        description,
    };
    Ok((NewToken { info: info(&record), secret }, record))
}

fn parse_token_id(id: &str) -> Result<u64> {
    let id = id.strip_prefix(crate::auth::TOKEN_PREFIX).map_or(id, |rest| rest.split('_').next().unwrap_or(""));
    match u64::from_str_radix(id, 16) {
        Ok(number) if id.len() == 16 => Ok(number),
        _ => Err(Error::invalid(format!(
            "bad token id {:?}: 16 hex digits, as token list shows them",
            id.chars().take(32).collect::<String>()
        ))),
    }
}

fn known_user<'a>(auth: &'a AuthTable, name: &str) -> Result<&'a UserRecord> {
    auth.users.get(name).ok_or_else(|| Error::new(ErrorCode::NotFound, format!("no user {name:?}")))
}

fn known_role<'a>(auth: &'a AuthTable, name: &str) -> Result<&'a RoleRecord> {
    auth.roles.get(name).ok_or_else(|| Error::new(ErrorCode::NotFound, format!("no role {name:?}")))
}

fn known_roles(auth: &AuthTable, roles: Vec<String>) -> Result<Vec<String>> {
    for role in &roles {
        known_role(auth, role)?;
    }
    let mut roles = roles;
    roles.sort();
    roles.dedup();
    Ok(roles)
}

fn check_grants(grants: &[Grant]) -> Result<()> {
    if grants.len() > 256 {
        return Err(Error::invalid("a role holds at most 256 grants"));
    }
    for grant in grants {
        if grant.permissions.is_empty() {
            return Err(Error::invalid(format!("grant {grant} gives no permission")));
        }
        if grant.store != "*" {
            crate::config::normalize_store_name(&grant.store)?;
        }
        if let KeyRange::Between { .. } = grant.keys {
            grant.keys.check()?;
        }
    }
    Ok(())
}

fn dedup(grants: Vec<Grant>) -> Vec<Grant> {
    let mut out: Vec<Grant> = Vec::with_capacity(grants.len());
    for grant in grants {
        if !out.contains(&grant) {
            out.push(grant);
        }
    }
    out
}

/// Refuses a change after which no user with a live token could administer the cluster.
fn keeps_an_admin(after: &AuthTable) -> Result<()> {
    let mut after = after.clone();
    after.compile();
    let now = wall_ms();
    let admin = after.tokens.keys().any(|id| {
        after
            .token_user(*id, now)
            .is_some_and(|who| who.allows(Permission::Admin, "", crate::cluster::auth::Scope::Cluster))
    });
    if admin {
        Ok(())
    } else {
        Err(Error::invalid(
            "refused: after this change no user with a live token could administer the cluster (create another admin \
             token first)",
        ))
    }
}

impl From<Error> for ClientFault {
    fn from(error: Error) -> ClientFault {
        ClientFault::Error(error)
    }
}

/// A lock wait queued through this node: the lock's name and the token that queued it.
pub(super) type LockWait = (Key, Option<u64>);

/// Counters of the audit trail (`clustron_auth_*` metrics).
#[derive(Debug, Default)]
pub(super) struct AuditCounts {
    pub(super) unauthenticated: std::sync::atomic::AtomicU64,
    pub(super) denied: std::sync::atomic::AtomicU64,
    pub(super) changes: std::sync::atomic::AtomicU64,
    /// The budget of `audit: denied` lines.
    pub(super) lines: parking_lot::Mutex<LineBudget>,
}

/// `audit: denied` lines a node writes per second at most; the metrics count every refusal.
const DENIED_LINES_PER_SECOND: u32 = 20;

/// How many `audit: denied` lines the current second has left.
#[derive(Debug, Default)]
pub(super) struct LineBudget {
    second: u64,
    written: u32,
    suppressed: u64,
}

impl LineBudget {
    /// Takes a line in `second`: `None` when the second's budget is spent (the line is
    /// counted as left out), else how many lines were left out since the last one written.
    fn take(&mut self, second: u64) -> Option<u64> {
        if second != self.second {
            self.second = second;
            self.written = 0;
        }
        if self.written == DENIED_LINES_PER_SECOND {
            self.suppressed += 1;
            return None;
        }
        self.written += 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_lines_are_budgeted_per_second_and_the_next_line_counts_the_rest() {
        let mut budget = LineBudget::default();
        for _ in 0..DENIED_LINES_PER_SECOND {
            assert_eq!(budget.take(7), Some(0));
        }
        assert_eq!(budget.take(7), None);
        assert_eq!(budget.take(7), None);
        // A new second: a line again, saying two were left out; then none left out.
        assert_eq!(budget.take(8), Some(2));
        assert_eq!(budget.take(8), Some(0));
    }
}

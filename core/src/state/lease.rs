//! Leases: a TTL that clients keep alive, with the keys, locks and lock waits bound to it.
//! When a lease expires or is revoked, its keys are deleted (delete events with cause
//! `LeaseEnded`), the locks it holds are released to their next waiters, and its queued
//! waits are dropped, all in one revision.

use std::collections::BTreeSet;
use std::time::Duration;

use super::command::{LeaseScope, Notice};
use super::deadline::Due;
use super::{kv, lock, Change, Coordination};
use crate::limits;
use crate::{DeleteCause, Error, ErrorCode, Key, KeyRange, LeaseId, Result, Timestamp};

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Lease {
    pub(crate) ttl_ms: u64,
    pub(crate) expires_at: u64,
    pub(crate) keys: BTreeSet<Key>,
    /// Locks this lease holds.
    pub(crate) locks: BTreeSet<Key>,
    /// Queued lock waits bound to this lease: (lock name, waiter id).
    pub(crate) waiters: BTreeSet<(Key, u64)>,
}

/// A lease as reported to clients.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct LeaseInfo {
    /// The lease.
    pub id: LeaseId,
    /// The TTL it was granted with; each keep-alive extends it to this from then.
    pub ttl: Duration,
    /// When it expires unless kept alive.
    pub expires_at: Timestamp,
    /// Time left.
    pub remaining: Duration,
    /// The keys attached to it, in order.
    pub keys: Vec<Key>,
}

impl LeaseInfo {
    pub(crate) fn of(id: LeaseId, lease: &Lease, now: u64) -> LeaseInfo {
        LeaseInfo {
            id,
            ttl: Duration::from_millis(lease.ttl_ms),
            expires_at: Timestamp::from_unix_millis(lease.expires_at),
            remaining: Duration::from_millis(lease.expires_at.saturating_sub(now)),
            keys: lease.keys.iter().cloned().collect(),
        }
    }
}

pub(crate) fn grant(c: &mut Change<'_>, ttl_ms: u64) -> Result<LeaseInfo> {
    limits::check_ttl_ms("lease ttl", ttl_ms)?;
    let now = c.now;
    let coord = c.coord();
    coord.last_lease += 1;
    let id = LeaseId::new(coord.last_lease);
    let lease = Lease {
        ttl_ms,
        expires_at: now + ttl_ms,
        keys: BTreeSet::new(),
        locks: BTreeSet::new(),
        waiters: BTreeSet::new(),
    };
    let info = LeaseInfo::of(id, &lease, now);
    coord.leases.insert(id, lease);
    c.deadlines.add(now + ttl_ms, Due::Lease(id));
    c.mark_changed();
    Ok(info)
}

pub(crate) fn keep_alive(c: &mut Change<'_>, id: LeaseId) -> Result<LeaseInfo> {
    let now = c.now;
    let lease = c.coord().leases.get_mut(&id).ok_or_else(|| Error::lease_not_found(id))?;
    let old = lease.expires_at;
    lease.expires_at = now + lease.ttl_ms;
    let info = LeaseInfo::of(id, lease, now);
    c.deadlines.replace(Some(old), Some(info.expires_at.unix_millis()), Due::Lease(id));
    c.mark_changed();
    Ok(info)
}

#[cfg(all(test, tokio_unstable))]
thread_local! {
    /// A bug planted for the simulation to find (`cluster/sim`): a new leader's grace sets
    /// every live lease to end at the grace's end, shortening the ones that had longer.
    pub(crate) static GRACE_SHORTENS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A new leader's grace: every lease still alive at `alive_at` (the last time the previous
/// leader acted) that would expire before `until` now expires at `until`. Leases are only
/// ever extended by this, so a leader change never shortens one, and clients that could not
/// reach any leader during the election do not lose their sessions for it.
pub(crate) fn grace(c: &mut Change<'_>, until: u64, alive_at: u64) {
    #[cfg(all(test, tokio_unstable))]
    let shortens = GRACE_SHORTENS.with(std::cell::Cell::get);
    #[cfg(not(all(test, tokio_unstable)))]
    let shortens = false;
    let extended: Vec<(LeaseId, u64)> = c
        .coord()
        .leases
        .iter_mut()
        .filter(|(_, lease)| lease.expires_at > alive_at && (lease.expires_at < until || shortens))
        .map(|(id, lease)| (*id, std::mem::replace(&mut lease.expires_at, until)))
        .collect();
    for (id, old) in &extended {
        c.deadlines.replace(Some(*old), Some(until), Due::Lease(*id));
    }
    if !extended.is_empty() {
        c.mark_changed();
    }
}

/// Whether ending or extending lease `id` stays inside `scope`: every key still attached to it
/// in a write range, every lock it holds or waits for in a coordinate range. A lease that does
/// not exist passes (revoking it changes nothing; keeping it alive says it is not found).
/// Needs every shard locked.
pub(crate) fn check_scope(c: &mut Change<'_>, id: LeaseId, scope: &LeaseScope) -> Result<()> {
    let Some(lease) = c.coord().leases.get(&id) else { return Ok(()) };
    let inside = |ranges: &[KeyRange], key: &str| ranges.iter().any(|range| range.contains(key));
    let locks_inside = lease
        .locks
        .iter()
        .chain(lease.waiters.iter().map(|(name, _)| name))
        .all(|name| inside(&scope.coordinate, name));
    let keys: Vec<Key> = lease.keys.iter().filter(|key| !inside(&scope.write, key)).cloned().collect();
    // A key listed but since re-put under another lease (or none) is not the lease's any more.
    let keys_inside = keys.iter().all(|key| c.keys.get(key).is_none_or(|entry| entry.lease() != Some(id)));
    if locks_inside && keys_inside {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::PermissionDenied,
        format!("lease {id} has keys or locks outside what this token may write and coordinate"),
    ))
}

/// Revokes a lease; false if it does not exist (already expired or revoked).
pub(crate) fn revoke(c: &mut Change<'_>, id: LeaseId) -> bool {
    if !c.coord().leases.contains_key(&id) {
        return false;
    }
    end(c, id);
    true
}

/// Ends a lease (expiry or revocation). Needs every shard locked.
pub(crate) fn end(c: &mut Change<'_>, id: LeaseId) {
    let Some(lease) = c.coord().leases.remove(&id) else {
        return;
    };
    c.deadlines.remove(lease.expires_at, &Due::Lease(id));
    for key in &lease.keys {
        if c.keys.get(key).is_some_and(|entry| entry.lease() == Some(id)) {
            kv::remove_key(c, key, DeleteCause::LeaseEnded);
        }
    }
    for name in &lease.locks {
        lock::lease_holder_ended(c, name, id);
    }
    for (name, waiter) in &lease.waiters {
        lock::drop_waiter(c, name, *waiter, Some(Error::lease_not_found(id)));
    }
    c.notices.push(Notice::LeaseEnded(id));
    c.mark_changed();
}

pub(crate) fn info(coord: &Coordination, id: LeaseId, now: u64) -> Option<LeaseInfo> {
    coord.leases.get(&id).filter(|lease| lease.expires_at > now).map(|lease| LeaseInfo::of(id, lease, now))
}

pub(crate) fn list(coord: &Coordination, now: u64) -> Vec<LeaseInfo> {
    coord
        .leases
        .iter()
        .filter(|(_, lease)| lease.expires_at > now)
        .map(|(id, lease)| LeaseInfo::of(*id, lease, now))
        .collect()
}

//! Restoring a backup through the state machine, so it takes the same path in process and on
//! a cluster (where the parts travel through the Raft log like any write, and every replica
//! applies them).
//!
//! A backup is restored only into a store that was never written (revision 0), in parts:
//! each [`Command::Load`](super::command::Command::Load) adds entries exactly as they were
//! (values, versions, revisions, attributes) and leaves the revision at 0;
//! [`Command::LoadEnd`](super::command::Command::LoadEnd) sets the leases, counters and
//! sequences, starts every deadline and moves the store to the backup's revision in one
//! step. Any other write between the parts moves the revision off 0, and the rest of the
//! restore is refused (`conflict`): nothing is ever merged into data it did not come from.
//! The parts make no events: a watch opened during a restore sees the store from the
//! backup's revision on (older revisions are compacted).
//!
//! What a backup does not carry: the change history, and locks. A restored store starts with
//! no lock held and no waiter queued, and its fencing sequence continues above every fence
//! the original store issued, so a holder of a lock there cannot pass a guard here.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use super::counter::Counter;
use super::deadline::Due;
use super::keyspace::{size_of, Merge, Shard, ShardMask, Start};
use super::lease::Lease;
use super::range::KeyRange;
use super::{Coordination, StateMachine};
use crate::search::postings::Id;
use crate::{Entry, Error, ErrorCode, Key, LeaseId, Result};

/// A lease as a backup keeps it (the keys bound to it are the entries that name it).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedLease {
    pub(crate) id: LeaseId,
    pub(crate) ttl_ms: u64,
    pub(crate) expires_at: u64,
}

/// A counter as a backup keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedCounter {
    pub(crate) name: Key,
    pub(crate) value: i64,
    pub(crate) expires_at: Option<u64>,
}

/// Everything of a store but its entries, at the backup's revision: the last part of a
/// restore.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct LoadEnd {
    pub(crate) revision: u64,
    pub(crate) leases: Vec<SavedLease>,
    pub(crate) counters: Vec<SavedCounter>,
    pub(crate) last_lease: u64,
    pub(crate) last_fence: u64,
    pub(crate) last_waiter: u64,
}

/// A store's contents at one revision, as a backup takes them.
#[derive(Debug)]
pub(crate) struct Saved {
    /// Every entry, in key order.
    pub(crate) entries: Vec<Entry>,
    pub(crate) end: LoadEnd,
}

/// Revisions and sequence numbers only count up by one per command: one past this is damage.
const CEILING: u64 = u64::MAX / 2;

fn refused(why: impl Into<String>) -> Error {
    Error::invalid(format!("not a restorable backup: {}", why.into()))
}

impl StateMachine {
    /// The store at its current revision, for a backup (the caller holds the writer, so the
    /// entries, tables and revision belong together). Entries are cloned (their values are
    /// shared, not copied); an entry already expired or bound to an ended lease is left out.
    pub(crate) fn save(&self, now: u64) -> Saved {
        let state = &*self.state;
        let entries = state.entries_in(&KeyRange::All, now);
        let coord = state.coord.read();
        let leases = coord
            .leases
            .iter()
            .filter(|(_, lease)| lease.expires_at > now)
            .map(|(id, lease)| SavedLease { id: *id, ttl_ms: lease.ttl_ms, expires_at: lease.expires_at })
            .collect();
        let mut counters: Vec<SavedCounter> = coord
            .counters
            .iter()
            .filter(|(_, counter)| counter.expires_at().is_none_or(|at| at > now))
            .map(|(name, counter)| SavedCounter {
                name: name.clone(),
                value: counter.value(),
                expires_at: counter.expires_at(),
            })
            .collect();
        counters.sort_by(|a, b| a.name.cmp(&b.name));
        let end = LoadEnd {
            revision: state.revision(),
            leases,
            counters,
            last_lease: coord.last_lease,
            last_fence: coord.last_fence,
            last_waiter: coord.last_waiter,
        };
        Saved { entries, end }
    }

    fn check_loadable(&self, revision: u64) -> Result<()> {
        let current = self.state.revision();
        if current != 0 {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!(
                    "a backup is restored only into a store that was never written; this one is at revision {current}"
                ),
            ));
        }
        if revision > CEILING {
            return Err(refused(format!("revision {revision} is beyond any a store reaches")));
        }
        Ok(())
    }

    /// Adds `entries` (in strictly ascending key order, none present yet) as they were at
    /// `revision`, within the store's limits and quota. All or nothing.
    pub(crate) fn load(&mut self, revision: u64, entries: Vec<Entry>) -> Result<()> {
        self.check_loadable(revision)?;
        crate::limits::check_batch("load", entries.len())?;
        let limits = self.configured.limits;
        let mut keys = self.state.keys.lock(ShardMask::ALL);
        let (mut count, mut bytes) = self.state.keys.totals();
        let mut previous: Option<&Key> = None;
        for entry in &entries {
            let key = &entry.key;
            crate::limits::check_key(key).map_err(|e| refused(format!("entry {key:?}: {}", e.message())))?;
            if previous.is_some_and(|previous| previous >= key) {
                return Err(refused(format!("entry {key:?} is out of key order or repeated")));
            }
            previous = Some(key);
            if keys.get(key).is_some() {
                return Err(refused(format!("entry {key:?} was restored already")));
            }
            if entry.version == 0 || entry.create_revision == 0 || entry.create_revision > entry.mod_revision {
                return Err(refused(format!("entry {key:?} has version or revisions no write gives")));
            }
            if entry.mod_revision > revision {
                return Err(refused(format!("entry {key:?} was written after the backup's revision {revision}")));
            }
            if key.len() > limits.max_key_bytes as usize || entry.value.len() > limits.max_value_bytes as usize {
                return Err(Error::invalid(format!(
                    "entry {key:?} is larger than this store accepts (max_key_bytes {}, max_value_bytes {})",
                    limits.max_key_bytes, limits.max_value_bytes
                )));
            }
            count += 1;
            bytes += size_of(entry);
        }
        if limits.max_keys.is_some_and(|max| count > max) || limits.max_bytes.is_some_and(|max| bytes > max) {
            return Err(Error::new(
                ErrorCode::QuotaExceeded,
                format!("the backup holds more than this store's quota allows ({count} keys, {bytes} bytes)"),
            ));
        }
        for entry in entries {
            keys.set(entry);
        }
        Ok(())
    }

    /// Ends a restore: the tables of `end`, every deadline, and the backup's revision.
    pub(crate) fn load_end(&mut self, end: LoadEnd) -> Result<()> {
        self.check_loadable(end.revision)?;
        if [end.last_lease, end.last_fence, end.last_waiter].iter().any(|number| *number > CEILING) {
            return Err(refused("a sequence number is beyond any a store reaches"));
        }
        let mut leases = std::collections::BTreeMap::new();
        for saved in &end.leases {
            if saved.id.get() == 0 || saved.id.get() > end.last_lease {
                return Err(refused(format!("lease {} is past the last one granted", saved.id)));
            }
            let lease = Lease {
                ttl_ms: saved.ttl_ms,
                expires_at: saved.expires_at,
                keys: BTreeSet::new(),
                locks: BTreeSet::new(),
                waiters: BTreeSet::new(),
            };
            if leases.insert(saved.id, lease).is_some() {
                return Err(refused(format!("lease {} is repeated", saved.id)));
            }
        }
        let mut counters = std::collections::HashMap::new();
        for saved in &end.counters {
            crate::limits::check_key(&saved.name).map_err(|e| refused(format!("counter: {}", e.message())))?;
            if counters.insert(saved.name.clone(), Counter::restored(saved.value, saved.expires_at)).is_some() {
                return Err(refused(format!("counter {:?} is repeated", saved.name)));
            }
        }
        // The entries' deadlines and lease bindings, checked before anything changes.
        let mut expiring: Vec<(u64, Id, Key)> = Vec::new();
        {
            let guards = self.state.keys.read_all();
            let shards: Vec<&Shard> = guards.iter().map(|guard| &**guard).collect();
            let mut merge = Merge::new(&shards, Start::of(&KeyRange::All, None));
            while let Some((entry, id)) = merge.next_with_id() {
                if entry.mod_revision > end.revision {
                    return Err(refused(format!("entry {:?} was written after revision {}", entry.key, end.revision)));
                }
                if let Some(id) = entry.lease() {
                    let lease: &mut Lease = leases.get_mut(&id).ok_or_else(|| {
                        refused(format!("entry {:?} names lease {id}, which it does not hold", entry.key))
                    })?;
                    lease.keys.insert(entry.key.clone());
                }
                if let Some(at) = entry.expires_at_millis() {
                    expiring.push((at, id, entry.key.clone()));
                }
            }
        }
        for (at, id, key) in expiring {
            self.deadlines.add_key(at, id, &key);
        }
        for (id, lease) in &leases {
            self.deadlines.add(lease.expires_at, Due::Lease(*id));
        }
        for (name, counter) in &counters {
            if let Some(at) = counter.expires_at() {
                self.deadlines.add(at, Due::Counter(name.clone()));
            }
        }
        *self.state.coord.write() = Coordination {
            leases,
            locks: Default::default(),
            counters,
            last_lease: end.last_lease,
            last_fence: end.last_fence,
            last_waiter: end.last_waiter,
        };
        let state = &*self.state;
        self.history.reset(end.revision);
        state.revision.store(end.revision, Ordering::Release);
        state.compacted.store(self.history.compacted(), Ordering::Release);
        state.next_deadline.store(self.deadlines.next().unwrap_or(u64::MAX), Ordering::Release);
        Ok(())
    }
}

//! The deterministic state machine: every semantic of a store lives here.
//!
//! Keys, versions and revisions, TTL expiry, leases, locks with their wait queues and fencing
//! tokens, counters, transactions and the event history are pure functions of
//! (state, command, time carried with the command). Nothing here reads a clock, a random
//! source or the network, and nothing iterates a hash map where order would be visible, so
//! every replica that applies the same commands reaches the same state and emits the same
//! events.
//!
//! The state is split for concurrency:
//! - [`State`] is what readers see: the sharded key space and the coordination tables,
//!   each behind its own lock, plus the current revision. Reads never take the writer lock.
//! - [`StateMachine`] is the single writer: it owns the `State` (shared through an `Arc`) and
//!   the writer-only parts, the deadline schedule and the event history.
//!
//! A command runs inside a [`Change`]: the shards it needs are write-locked up front (in
//! ascending order), everything is validated before anything is changed, and when it changed
//! something it commits as exactly one new revision.

pub(crate) mod command;
pub(crate) mod counter;
mod deadline;
pub(crate) mod history;
mod idset;
#[cfg(any(test, feature = "node"))]
pub(crate) mod image;
mod index;
pub(crate) mod keyspace;
pub(crate) mod kv;
pub(crate) mod lease;
pub(crate) mod load;
pub(crate) mod lock;
mod order;
mod quota;
pub(crate) mod range;
pub(crate) mod read;
mod slab;
#[cfg(test)]
mod tests;
pub(crate) mod txn;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{RwLock, RwLockWriteGuard};

use self::command::{Applied, Command, Notice, Reply};
use self::counter::Counter;
use self::deadline::{Deadlines, Due};
use self::history::History;
use self::keyspace::{KeySpace, ShardMask, ShardsMut};
use self::kv::BatchOp;
use self::lease::Lease;
use self::lock::LockState;
use crate::config::{HistoryLimits, StoreLimits};
use crate::{Event, Key, LeaseId, Result};

/// Leases, locks and counters, and the sequences that number them.
#[derive(Debug, Default)]
pub(crate) struct Coordination {
    pub(crate) leases: BTreeMap<LeaseId, Lease>,
    pub(crate) locks: HashMap<Key, LockState>,
    pub(crate) counters: HashMap<Key, Counter>,
    pub(crate) last_lease: u64,
    pub(crate) last_fence: u64,
    pub(crate) last_waiter: u64,
}

impl Coordination {
    pub(crate) fn lease_alive(&self, lease: LeaseId, now: u64) -> bool {
        self.leases.get(&lease).is_some_and(|lease| lease.expires_at > now)
    }
}

/// The part of a store that readers see.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) keys: KeySpace,
    pub(crate) coord: RwLock<Coordination>,
    revision: AtomicU64,
    compacted: AtomicU64,
    /// The earliest pending deadline (`u64::MAX` when none). Before it, no entry can be
    /// expired, so counts can trust the index without checking each key.
    next_deadline: AtomicU64,
}

impl State {
    pub(crate) fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    pub(crate) fn compacted(&self) -> u64 {
        self.compacted.load(Ordering::Acquire)
    }

    pub(crate) fn next_deadline(&self) -> u64 {
        self.next_deadline.load(Ordering::Acquire)
    }
}

/// The single writer of a store.
#[derive(Debug)]
pub(crate) struct StateMachine {
    state: Arc<State>,
    history: History,
    deadlines: Deadlines,
    last_now: u64,
    /// The events of the last `apply`, with their previous entries, for live watchers. The
    /// history keeps them without: retaining every previous value for the whole history
    /// would double what it holds and make each eviction free two cold values.
    recent: Vec<Event>,
    /// What the store accepts and holds (see `quota`), and the version of the configuration
    /// that set it (0: none yet).
    configured: Configured,
}

/// The configuration a replicated store's state machine applied last (`Command::Configure`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Configured {
    /// The catalogue record's revision it came from (0: the store was never configured).
    pub(crate) version: u64,
    pub(crate) limits: StoreLimits,
}

/// One revision's worth of changes in progress.
pub(crate) struct Change<'s> {
    pub(crate) now: u64,
    /// The revision these changes commit as.
    pub(crate) revision: u64,
    pub(crate) keys: ShardsMut<'s>,
    state: &'s State,
    coord: Option<RwLockWriteGuard<'s, Coordination>>,
    pub(crate) deadlines: &'s mut Deadlines,
    /// The apply's events so far; this change's start at `first_event`.
    events: &'s mut Vec<Event>,
    first_event: usize,
    pub(crate) notices: &'s mut Vec<Notice>,
    changed: bool,
    pub(crate) limits: StoreLimits,
}

impl Change<'_> {
    /// The coordination tables, write-locked on first use (after the shards, keeping the
    /// lock order).
    pub(crate) fn coord(&mut self) -> &mut Coordination {
        let state = self.state;
        self.coord.get_or_insert_with(|| state.coord.write())
    }

    /// The revision a result should report: the new one if this change wrote anything.
    pub(crate) fn result_revision(&self) -> u64 {
        if self.changed {
            self.revision
        } else {
            self.revision - 1
        }
    }

    pub(crate) fn event(&mut self, event: Event) {
        self.events.push(event);
        self.changed = true;
    }

    /// Records a change that emits no event (a lease, lock or counter change, a TTL change).
    pub(crate) fn mark_changed(&mut self) {
        self.changed = true;
    }
}

impl StateMachine {
    pub(crate) fn new(history: HistoryLimits) -> StateMachine {
        let state = State { next_deadline: AtomicU64::new(u64::MAX), ..State::default() };
        StateMachine {
            state: Arc::new(state),
            history: History::new(history),
            deadlines: Deadlines::default(),
            last_now: 0,
            recent: Vec::new(),
            configured: Configured::default(),
        }
    }

    /// The configuration applied last.
    #[cfg_attr(not(feature = "node"), allow(dead_code, reason = "replicas snapshot it"))]
    pub(crate) fn configured(&self) -> Configured {
        self.configured
    }

    /// Sets the entry limits and quota (what the store holds already stays) and the version
    /// of the configuration they came from.
    pub(crate) fn set_configured(&mut self, configured: Configured) -> Result<()> {
        configured.limits.check()?;
        self.configured = configured;
        Ok(())
    }

    /// The events of the last `apply`, in order, with their previous entries.
    pub(crate) fn recent_events(&self) -> &[Event] {
        &self.recent
    }

    /// Events the buffer of `recent_events` has room for.
    #[cfg(test)]
    pub(crate) fn recent_capacity(&self) -> usize {
        self.recent.capacity()
    }

    pub(crate) fn state(&self) -> &Arc<State> {
        &self.state
    }

    pub(crate) fn history(&self) -> &History {
        &self.history
    }

    /// When the next deadline falls, if any.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.deadlines.next()
    }

    /// The latest time any command was applied at.
    pub(crate) fn last_now(&self) -> u64 {
        self.last_now
    }

    /// Drops all data (the store is shutting down); the revision stays.
    pub(crate) fn clear(&mut self) {
        self.state.keys.lock(ShardMask::ALL).clear_all();
        *self.state.coord.write() = Coordination::default();
        self.deadlines.clear();
        self.history.reset(self.state.revision());
        self.recent.clear();
        self.state.next_deadline.store(u64::MAX, Ordering::Release);
    }

    /// Applies one command at `now` (milliseconds; a `now` earlier than a previous one is
    /// treated as the previous one, so store time never runs backwards). Due deadlines are
    /// processed first, as their own revisions: one per [`SWEEP_CHUNK`] deadlines, so that
    /// the shards are let go between chunks and readers are not held for a whole mass
    /// expiry (the chunks are counted, the same on every replica).
    pub(crate) fn apply(&mut self, command: Command, now: u64) -> Applied {
        let previous = self.last_now;
        let now = now.max(previous);
        self.last_now = now;
        let before = self.state.revision();
        self.recent.clear();
        // An apply that made a million events (a mass expiry, a large clear) left room for
        // them (144 bytes each): give it back rather than hold it for the store's life.
        self.recent.shrink_to(RECENT_KEPT);
        let mut notices = Vec::new();
        if let Command::LeaseGrace { until } = command {
            // Before the sweep: a lease the election made overdue is extended, not expired.
            let alive_at = previous;
            self.change(ShardMask::NONE, now, &mut notices, |c| {
                lease::grace(c, until, alive_at);
                Ok(())
            })
            .expect("a grace cannot fail");
        }
        loop {
            // A bucket's keys are named under read locks, let go before the sweep writes.
            let mut reader = self.state.keys.entry_reader();
            let due = self.deadlines.reach(now, &mut reader);
            drop(reader);
            if !due {
                break;
            }
            // The chunk's events are kept for the watchers (`recent`): room for them is made
            // here, not while every shard is locked (growing a million-event buffer under the
            // locks held readers for tens of milliseconds).
            self.recent.reserve(SWEEP_CHUNK);
            self.change(ShardMask::ALL, now, &mut notices, |change| {
                sweep(change, SWEEP_CHUNK);
                Ok(())
            })
            .expect("expiry cannot fail");
        }
        // `reach` may have opened slots of TTLs, which moves the next deadline without a
        // change (a leader's `Tick` at a slot's start does only that): publish it, or the
        // leader would see the slot's start again and tick again.
        self.state.next_deadline.store(self.deadlines.next().unwrap_or(u64::MAX), Ordering::Release);
        let reply = self.dispatch(command, now, &mut notices);
        Applied { reply, before, after: self.state.revision(), notices }
    }

    fn dispatch(&mut self, command: Command, now: u64, notices: &mut Vec<Notice>) -> Result<Reply> {
        let none = ShardMask::NONE;
        match command {
            Command::Put(item) => {
                let mask = self.state.keys.mask_of(&item.key);
                self.change(mask, now, notices, |c| kv::put(c, item)).map(Reply::Put)
            }
            Command::Delete(item) => {
                let mask = self.state.keys.mask_of(&item.key);
                self.change(mask, now, notices, |c| kv::delete(c, item)).map(Reply::Delete)
            }
            Command::PutMany(items) => {
                self.each("put_many", items, now, notices, |item| &item.key, kv::put).map(Reply::Puts)
            }
            Command::DeleteMany(items) => {
                self.each("delete_many", items, now, notices, |item| &item.key, kv::delete).map(Reply::Deletes)
            }
            Command::Batch(ops) => self.each("batch", ops, now, notices, BatchOp::key, kv::batch_op).map(Reply::Batch),
            Command::Clear(range) => {
                self.change(ShardMask::ALL, now, notices, |c| kv::clear(c, &range)).map(Reply::Cleared)
            }
            Command::Expire { key, ttl_ms } => {
                let mask = self.state.keys.mask_of(&key);
                self.change(mask, now, notices, |c| kv::expire(c, &key, Some(ttl_ms))).map(Reply::Flag)
            }
            Command::Persist { key } => {
                let mask = self.state.keys.mask_of(&key);
                self.change(mask, now, notices, |c| kv::expire(c, &key, None)).map(Reply::Flag)
            }
            Command::LeaseGrant { ttl_ms } => {
                self.change(none, now, notices, |c| lease::grant(c, ttl_ms)).map(Reply::Lease)
            }
            Command::LeaseKeepAlive { lease } => {
                self.change(none, now, notices, |c| lease::keep_alive(c, lease)).map(Reply::Lease)
            }
            Command::LeaseRevoke { lease } => {
                self.change(ShardMask::ALL, now, notices, |c| Ok(lease::revoke(c, lease))).map(Reply::Flag)
            }
            Command::LeaseScoped { lease, revoke: true, scope } => self
                .change(ShardMask::ALL, now, notices, |c| {
                    lease::check_scope(c, lease, &scope)?;
                    Ok(lease::revoke(c, lease))
                })
                .map(Reply::Flag),
            Command::LeaseScoped { lease, revoke: false, scope } => self
                .change(ShardMask::ALL, now, notices, |c| {
                    lease::check_scope(c, lease, &scope)?;
                    lease::keep_alive(c, lease)
                })
                .map(Reply::Lease),
            Command::LockAcquire { name, hold, wait_ms } => {
                self.change(none, now, notices, |c| lock::acquire(c, name, hold, wait_ms)).map(Reply::Acquire)
            }
            Command::LockCancel { name, waiter } => {
                self.change(none, now, notices, |c| lock::cancel(c, &name, waiter)).map(Reply::Flag)
            }
            Command::LockRenew { name, fence } => {
                self.change(none, now, notices, |c| lock::renew(c, &name, fence)).map(Reply::Lock)
            }
            Command::LockRelease { name, fence } => {
                self.change(none, now, notices, |c| lock::release(c, &name, fence)).map(Reply::Flag)
            }
            Command::CounterAdd { name, delta, min, max, ttl_ms } => self
                .change(none, now, notices, |c| counter::add(c, name, delta, min, max, ttl_ms))
                .map(Reply::CounterAdd),
            Command::CounterSet { name, value, ttl_ms } => {
                self.change(none, now, notices, |c| counter::set(c, name, value, ttl_ms)).map(Reply::CounterSet)
            }
            Command::CounterCas { name, expected, value } => self
                .change(none, now, notices, |c| counter::compare_and_set(c, name, expected, value))
                .map(Reply::CounterCas),
            Command::CounterDelete { name } => {
                self.change(none, now, notices, |c| counter::delete(c, &name)).map(Reply::Flag)
            }
            Command::Txn(request) => {
                let mask = request.keys().fold(ShardMask::NONE, |mask, key| {
                    mask.with(keyspace::KeySpace::shard_of(self.state.keys.hash(key)))
                });
                self.change(mask, now, notices, |c| txn::apply(c, request)).map(Reply::Txn)
            }
            Command::Tick | Command::LeaseGrace { .. } => Ok(Reply::Done),
            Command::SetHistory(limits) => {
                if limits.max_events == 0 || limits.max_bytes == 0 {
                    return Err(crate::Error::invalid("history limits must be positive"));
                }
                self.history.set_limits(limits);
                Ok(Reply::Done)
            }
            Command::Load { revision, entries } => self.load(revision, entries).map(|()| Reply::Done),
            Command::LoadEnd(end) => self.load_end(*end).map(|()| Reply::Done),
            Command::Configure { version, history, limits } => {
                if version < self.configured.version {
                    return Ok(Reply::Done);
                }
                if history.max_events == 0 || history.max_bytes == 0 {
                    return Err(crate::Error::invalid("history limits must be positive"));
                }
                self.set_configured(Configured { version, limits })?;
                self.history.set_limits(history);
                Ok(Reply::Done)
            }
        }
    }

    /// Runs `body` for each item, each as its own revision: bulk calls and batches are not
    /// atomic, and one item failing does not stop the others.
    fn each<I, T>(
        &mut self,
        what: &str,
        items: Vec<I>,
        now: u64,
        notices: &mut Vec<Notice>,
        key: impl Fn(&I) -> &Key,
        body: impl Fn(&mut Change<'_>, I) -> Result<T>,
    ) -> Result<Vec<Result<T>>> {
        crate::limits::check_batch(what, items.len())?;
        Ok(items
            .into_iter()
            .map(|item| {
                let mask = self.state.keys.mask_of(key(&item));
                self.change(mask, now, notices, |c| body(c, item))
            })
            .collect())
    }

    /// Runs `body` as one revision: locks `mask`, and commits (revision, history) if it
    /// changed anything. A body that fails must not have changed anything.
    fn change<T>(
        &mut self,
        mask: ShardMask,
        now: u64,
        notices: &mut Vec<Notice>,
        body: impl FnOnce(&mut Change<'_>) -> Result<T>,
    ) -> Result<T> {
        let state = &*self.state;
        let mut change = Change {
            now,
            revision: state.revision() + 1,
            keys: state.keys.lock(mask),
            state,
            coord: None,
            deadlines: &mut self.deadlines,
            first_event: self.recent.len(),
            events: &mut self.recent,
            notices,
            changed: false,
            limits: self.configured.limits,
        };
        let result = body(&mut change);
        if !change.changed {
            change.events.truncate(change.first_event);
        }
        debug_assert!(result.is_ok() || !change.changed, "a failed command changed state");
        if change.changed {
            // Published while the shards are still locked, so a scan sees the revision and the
            // data together.
            state.revision.store(change.revision, Ordering::Release);
            let events = &change.events[change.first_event..];
            self.history.append(events);
            state.compacted.store(self.history.compacted(), Ordering::Release);
        }
        state.next_deadline.store(change.deadlines.next().unwrap_or(u64::MAX), Ordering::Release);
        result
    }
}

/// Events of one apply whose room `recent` keeps for the next (more is given back).
const RECENT_KEPT: usize = 4096;

/// Deadlines one revision of a sweep processes at most. Expiring 1M keys at one instant
/// takes about a second and a half; in chunks of this many, a reader of other keys waits
/// for one chunk (milliseconds) instead (`cargo bench -p clustron --bench expiry`).
pub(crate) const SWEEP_CHUNK: usize = 4096;

/// Processes up to `chunk` deadlines due at `change.now`, earliest first.
fn sweep(change: &mut Change<'_>, chunk: usize) {
    for _ in 0..chunk {
        let Some((_, due)) = change.deadlines.pop_due(change.now, &mut change.keys) else { return };
        match due {
            Due::Key(key) => kv::expire_due(change, &key),
            Due::Lease(id) => lease::end(change, id),
            Due::LockHolder(name) => lock::holder_expired(change, &name),
            Due::Waiter(name, waiter) => lock::waiter_timed_out(change, &name, waiter),
            Due::Counter(name) => counter::expired(change, &name),
        }
    }
}

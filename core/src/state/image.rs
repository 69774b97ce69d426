//! A whole state machine as plain data: what a replica's snapshot holds, so a node that
//! fell behind (or restarts from its data directory) can be brought back to the same state
//! and then continue from the log.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::counter::Counter;
use super::deadline::Due;
use super::keyspace::ShardMask;
use super::lease::Lease;
use super::lock::LockState;
use super::{Coordination, State, StateMachine};
use crate::{Entry, Event, Key, LeaseId};

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Image {
    revision: u64,
    compacted: u64,
    last_now: u64,
    entries: Vec<Entry>,
    leases: Vec<(LeaseId, Lease)>,
    locks: Vec<(Key, LockState)>,
    counters: Vec<(Key, Counter)>,
    last_lease: u64,
    last_fence: u64,
    last_waiter: u64,
    deadlines: Vec<(u64, Due)>,
    /// The retained history, oldest first (without previous entries).
    history: Vec<Event>,
    history_limits: crate::config::HistoryLimits,
}

impl StateMachine {
    /// The whole state as plain data. Entries come in key order; tables in a fixed order.
    pub(crate) fn image(&self) -> Image {
        let state = &*self.state;
        let entries = state.entries_in(&super::range::KeyRange::All, 0);
        let coord = state.coord.read();
        let mut locks: Vec<(Key, LockState)> =
            coord.locks.iter().map(|(name, lock)| (name.clone(), lock.clone())).collect();
        locks.sort_by(|a, b| a.0.cmp(&b.0));
        let mut counters: Vec<(Key, Counter)> = coord.counters.iter().map(|(name, c)| (name.clone(), *c)).collect();
        counters.sort_by(|a, b| a.0.cmp(&b.0));
        Image {
            revision: state.revision(),
            compacted: self.history.compacted(),
            last_now: self.last_now,
            entries,
            leases: coord.leases.iter().map(|(id, lease)| (*id, lease.clone())).collect(),
            locks,
            counters,
            last_lease: coord.last_lease,
            last_fence: coord.last_fence,
            last_waiter: coord.last_waiter,
            deadlines: self.deadlines.all().cloned().collect(),
            history: self.history.retained().map(|record| self.history.event(record, None)).collect(),
            history_limits: self.history.limits(),
        }
    }

    /// Replaces everything with what `image` describes (the shared `State` stays the same
    /// object, so readers keep their handle on it).
    pub(crate) fn restore(&mut self, image: Image) {
        self.clear();
        let state: &Arc<State> = &self.state;
        {
            let mut keys = state.keys.lock(ShardMask::ALL);
            for entry in image.entries {
                keys.set(entry);
            }
        }
        *state.coord.write() = Coordination {
            leases: image.leases.into_iter().collect(),
            locks: image.locks.into_iter().collect(),
            counters: image.counters.into_iter().collect(),
            last_lease: image.last_lease,
            last_fence: image.last_fence,
            last_waiter: image.last_waiter,
        };
        for (at, due) in image.deadlines {
            self.deadlines.add(at, due);
        }
        self.history.set_limits(image.history_limits);
        self.history.reset(image.compacted);
        self.history.append(image.history.iter());
        self.last_now = image.last_now;
        state.revision.store(image.revision, Ordering::Release);
        state.compacted.store(self.history.compacted(), Ordering::Release);
        state.next_deadline.store(self.deadlines.next().unwrap_or(u64::MAX), Ordering::Release);
    }
}

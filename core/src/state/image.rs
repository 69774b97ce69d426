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
use super::{Coordination, StateMachine};
use crate::{Entry, Event, Key, LeaseId};

/// An event as a snapshot keeps it: the fields of [`Event`] a history record has, in a
/// layout of its own, so that what a watch delivers (`Event`, which gained a live query's
/// `change`) can grow without changing the snapshot format.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ImageEvent {
    kind: crate::EventKind,
    revision: u64,
    entry: Entry,
    prev: Option<Entry>,
    cause: Option<crate::DeleteCause>,
    snapshot: bool,
}

impl From<Event> for ImageEvent {
    fn from(event: Event) -> ImageEvent {
        let Event { kind, revision, entry, prev, cause, snapshot, change: _ } = event;
        ImageEvent { kind, revision, entry, prev, cause, snapshot }
    }
}

impl From<&ImageEvent> for Event {
    fn from(event: &ImageEvent) -> Event {
        Event {
            kind: event.kind,
            revision: event.revision,
            entry: event.entry.clone(),
            prev: event.prev.clone(),
            cause: event.cause,
            snapshot: event.snapshot,
            change: None,
        }
    }
}

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
    history: Vec<ImageEvent>,
    history_limits: crate::config::HistoryLimits,
}

impl Image {
    /// Whether the image is one a state machine could have produced, as far as restoring it
    /// relies on: a snapshot damaged on disk is refused with a reason instead of restored
    /// into a store that breaks later.
    pub(crate) fn check(&self) -> Result<(), String> {
        // Revisions, lease ids, fences and waiter ids only count up by one per command: a
        // value near the top of u64 is damage (and the next one would overflow).
        let ceiling = u64::MAX / 2;
        let numbers = [self.revision, self.last_lease, self.last_fence, self.last_waiter, self.last_now];
        if numbers.iter().any(|number| *number > ceiling) {
            return Err(format!("a sequence number is beyond any a store reaches: {numbers:?}"));
        }
        if self.compacted > self.revision {
            return Err(format!("compacted revision {} is past the revision {}", self.compacted, self.revision));
        }
        let mut previous: Option<&Key> = None;
        for entry in &self.entries {
            crate::limits::check_key(&entry.key).map_err(|e| format!("entry {:?}: {}", entry.key, e.message()))?;
            if previous.is_some_and(|previous| previous >= &entry.key) {
                return Err(format!("entry {:?} is out of key order or repeated", entry.key));
            }
            if entry.create_revision > entry.mod_revision || entry.mod_revision > self.revision {
                return Err(format!("entry {:?} has revisions past the store's", entry.key));
            }
            previous = Some(&entry.key);
        }
        let mut last = self.compacted;
        for event in &self.history {
            if event.revision < last || event.revision <= self.compacted || event.revision > self.revision {
                return Err(format!("history revision {} is out of order or range", event.revision));
            }
            last = event.revision;
        }
        let unique = |names: Vec<&Key>| names.windows(2).all(|pair| pair[0] < pair[1]);
        if !unique(self.locks.iter().map(|(name, _)| name).collect())
            || !unique(self.counters.iter().map(|(name, _)| name).collect())
        {
            return Err("locks or counters are out of order or repeated".into());
        }
        let mut leases: Vec<LeaseId> = self.leases.iter().map(|(id, _)| *id).collect();
        leases.sort_unstable();
        if leases.windows(2).any(|pair| pair[0] == pair[1])
            || leases.last().is_some_and(|id| id.get() > self.last_lease)
        {
            return Err("lease ids are repeated or past the last one granted".into());
        }
        Ok(())
    }
}

impl StateMachine {
    /// The whole state as plain data. Entries come in key order; tables in a fixed order.
    pub(crate) fn image(&self) -> Image {
        let state = &*self.state;
        let entries = state.entries_in(&super::range::KeyRange::All, 0);
        // Keys are named from their entries (shard locks), before the coordination lock.
        let deadlines = self.deadlines.all(&mut state.keys.entry_reader());
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
            deadlines,
            history: self.history.retained().map(|record| self.history.event(record, None).into()).collect(),
            history_limits: self.history.limits(),
        }
    }

    /// Replaces everything with what `image` describes (the shared `State` stays the same
    /// object, so readers keep their handle on it). Readers see the state before or the state
    /// after, never one between: every shard stays locked from the clearing to the new
    /// revision. (Clearing first and filling under a second lock let a read in between find
    /// an empty store at the old revision: a follower's get, or a node's copy of the
    /// catalogue, which it caches by revision.)
    pub(crate) fn restore(&mut self, image: Image) -> Result<(), String> {
        image.check()?;
        let state = Arc::clone(&self.state);
        // Shards first, then the coordination tables: the order every writer keeps.
        let mut keys = state.keys.lock(ShardMask::ALL);
        keys.clear_all();
        // TTLs are kept where the state they come from kept them (`Deadlines::restart_at`).
        self.deadlines.restart_at(image.last_now);
        self.recent.clear();
        for entry in image.entries {
            keys.set(entry);
        }
        for (at, due) in image.deadlines {
            match due {
                // A key's TTL is kept by its entry's id (`Deadlines::add_key`). One that
                // names a key with no entry could only expire nothing (the sweep finds no
                // key): it is dropped, on every replica alike, and the restore goes on
                // (refusing here would leave the machine half restored).
                Due::Key(key) => {
                    if let Some(id) = keys.id_of(&key) {
                        self.deadlines.add_key(at, id, &key);
                    }
                }
                due => self.deadlines.add(at, due),
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
        self.history.set_limits(image.history_limits);
        self.history.reset(image.compacted);
        let history: Vec<Event> = image.history.iter().map(Event::from).collect();
        self.history.append(history.iter());
        self.last_now = image.last_now;
        state.revision.store(image.revision, Ordering::Release);
        state.compacted.store(self.history.compacted(), Ordering::Release);
        state.next_deadline.store(self.deadlines.next().unwrap_or(u64::MAX), Ordering::Release);
        drop(keys);
        Ok(())
    }
}

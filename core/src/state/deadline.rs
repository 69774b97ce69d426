//! Everything in a store that happens at a time: key TTLs, lease expiry, TTL-bound lock
//! holders, lock-wait timeouts and counter TTLs, in one ordered set. Before applying any
//! command the state machine processes every deadline at or before the command's time, so
//! command logic never meets an expired object. The engine's timer asks for the next
//! deadline to know when to wake.

use std::collections::BTreeSet;

use crate::{Key, LeaseId};

/// What is due.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub(crate) enum Due {
    Key(Key),
    Lease(LeaseId),
    LockHolder(Key),
    Waiter(Key, u64),
    Counter(Key),
}

#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    set: BTreeSet<(u64, Due)>,
}

impl Deadlines {
    pub(crate) fn add(&mut self, at: u64, due: Due) {
        self.set.insert((at, due));
    }

    /// Removes a deadline. Tolerates one that is already gone: the sweep pops a deadline
    /// before handling it, and the handler then runs the ordinary bookkeeping.
    pub(crate) fn remove(&mut self, at: u64, due: Due) {
        self.set.remove(&(at, due));
    }

    /// Replaces `old` with `new` for the same thing (either may be absent).
    pub(crate) fn replace(&mut self, old: Option<u64>, new: Option<u64>, due: Due) {
        if old == new {
            return;
        }
        if let Some(old) = old {
            self.remove(old, due.clone());
        }
        if let Some(new) = new {
            self.add(new, due);
        }
    }

    /// Every pending deadline, earliest first (for a snapshot).
    #[cfg(any(test, feature = "node"))]
    pub(crate) fn all(&self) -> impl Iterator<Item = &(u64, Due)> {
        self.set.iter()
    }

    pub(crate) fn next(&self) -> Option<u64> {
        self.set.first().map(|(at, _)| *at)
    }

    /// Takes the earliest deadline if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<(u64, Due)> {
        if self.next()? <= now {
            self.set.pop_first()
        } else {
            None
        }
    }

    pub(crate) fn clear(&mut self) {
        self.set.clear();
    }
}

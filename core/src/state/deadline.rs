//! Everything in a store that happens at a time: key TTLs, lease expiry, TTL-bound lock
//! holders, lock-wait timeouts and counter TTLs. Before applying any command the state
//! machine processes every deadline at or before the command's time, so command logic never
//! meets an expired object. The engine's timer asks for the next deadline to know when to
//! wake.
//!
//! Deadlines are kept in buckets by their time (a hash set of what is due at that
//! millisecond) with a heap of the bucket times, so adding and removing one is O(1) amortized
//! (a put with a TTL that replaces another pays two hash operations, not two walks of an
//! ordered set of every deadline). The earliest bucket is sorted once when the sweep reaches
//! it, so deadlines still fall due in the order of `(time, what)`, the same on every
//! replica: exactly the order of one ordered set, which the tests compare against.

use crate::tagged::tagged;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

use crate::{Key, LeaseId};

type Hasher = foldhash::fast::RandomState;

tagged! {
    /// What is due.
    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub(crate) enum Due {
        Key(Key) = 0,
        Lease(LeaseId) = 1,
        LockHolder(Key) = 2,
        Waiter(Key, u64) = 3,
        Counter(Key) = 4,
    }
}

#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    /// What is due at each time (in no order), but the bucket the sweep reached.
    buckets: HashMap<u64, HashSet<Due, Hasher>, Hasher>,
    /// The times of `buckets`, earliest on top. A time whose bucket emptied may stay below
    /// the top (skipped when it gets there); the top is always a live bucket's.
    times: BinaryHeap<Reverse<u64>>,
    /// The earliest bucket once a sweep reached it, in order.
    reached: Option<(u64, BTreeSet<Due>)>,
}

impl Deadlines {
    pub(crate) fn add(&mut self, at: u64, due: Due) {
        if let Some((time, reached)) = &mut self.reached {
            if *time == at {
                reached.insert(due);
                return;
            }
        }
        let bucket = self.buckets.entry(at).or_insert_with(|| {
            self.times.push(Reverse(at));
            HashSet::default()
        });
        bucket.insert(due);
        if self.times.len() > 2 * self.buckets.len() + 1024 {
            // Times of emptied buckets pile up when deadlines move later again and again
            // (a key re-put with its TTL each millisecond): start the heap afresh.
            self.times = self.buckets.keys().map(|time| Reverse(*time)).collect();
        }
    }

    /// Removes a deadline. Tolerates one that is already gone: the sweep pops a deadline
    /// before handling it, and the handler then runs the ordinary bookkeeping.
    pub(crate) fn remove(&mut self, at: u64, due: &Due) {
        if let Some((time, reached)) = &mut self.reached {
            if *time == at {
                reached.remove(due);
                if reached.is_empty() {
                    self.reached = None;
                }
                return;
            }
        }
        let Some(bucket) = self.buckets.get_mut(&at) else { return };
        bucket.remove(due);
        if bucket.is_empty() {
            self.buckets.remove(&at);
            self.drop_dead_times();
        }
    }

    /// Replaces `old` with `new` for the same thing (either may be absent).
    pub(crate) fn replace(&mut self, old: Option<u64>, new: Option<u64>, due: Due) {
        if old == new {
            return;
        }
        if let Some(old) = old {
            self.remove(old, &due);
        }
        if let Some(new) = new {
            self.add(new, due);
        }
    }

    /// Every pending deadline, earliest first (for a snapshot).
    #[cfg(any(test, feature = "node"))]
    pub(crate) fn all(&self) -> Vec<(u64, Due)> {
        let mut all: Vec<(u64, Due)> = self
            .buckets
            .iter()
            .flat_map(|(at, bucket)| bucket.iter().map(|due| (*at, due.clone())))
            .chain(self.reached.iter().flat_map(|(at, reached)| reached.iter().map(|due| (*at, due.clone()))))
            .collect();
        all.sort_unstable();
        all
    }

    pub(crate) fn next(&self) -> Option<u64> {
        let bucketed = self.times.peek().map(|Reverse(time)| *time);
        let reached = self.reached.as_ref().map(|(time, _)| *time);
        bucketed.into_iter().chain(reached).min()
    }

    /// Takes the earliest deadline if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<(u64, Due)> {
        if !self.reach(now) {
            return None;
        }
        let (time, reached) = self.reached.as_mut().expect("a reached bucket");
        let (time, due) = (*time, reached.pop_first().expect("reached buckets are not empty"));
        if reached.is_empty() {
            self.reached = None;
        }
        Some((time, due))
    }

    /// Sorts the earliest bucket if it is due at `now` and not sorted yet (the work of the
    /// first `pop_due` of a bucket: a million deadlines due at one instant take a few hundred
    /// milliseconds, which the sweep does before it locks the shards). Whether a deadline
    /// is due.
    pub(crate) fn reach(&mut self, now: u64) -> bool {
        if self.next().is_none_or(|next| next > now) {
            return false;
        }
        let earliest_bucket = self.times.peek().map(|Reverse(time)| *time);
        let reach_next = match &self.reached {
            None => true,
            Some((time, _)) => earliest_bucket.is_some_and(|bucket| bucket < *time),
        };
        if reach_next {
            // A deadline earlier than the reached bucket's was added meanwhile (or none was
            // reached): put that one back and sort the earliest.
            if let Some((time, reached)) = self.reached.take() {
                self.buckets.insert(time, reached.into_iter().collect());
                self.times.push(Reverse(time));
            }
            let Reverse(time) = self.times.pop().expect("a live time is on top");
            let bucket = self.buckets.remove(&time).expect("the top time's bucket");
            self.drop_dead_times();
            self.reached = Some((time, bucket.into_iter().collect()));
        }
        true
    }

    pub(crate) fn clear(&mut self) {
        *self = Deadlines::default();
    }

    /// Pops the times of emptied buckets off the top of the heap.
    fn drop_dead_times(&mut self) {
        while let Some(Reverse(time)) = self.times.peek() {
            if self.buckets.contains_key(time) {
                return;
            }
            self.times.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model: one ordered set, as the deadlines were kept before the buckets.
    #[derive(Default)]
    struct Model(BTreeSet<(u64, Due)>);

    impl Model {
        fn pop_due(&mut self, now: u64) -> Option<(u64, Due)> {
            if self.0.first()?.0 <= now {
                self.0.pop_first()
            } else {
                None
            }
        }
    }

    fn roll(dice: &mut u64) -> u64 {
        *dice = dice.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *dice;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn due(dice: &mut u64) -> Due {
        let n = roll(dice);
        let key = || Key::from(format!("k{}", n % 7).as_str());
        match (n >> 8) % 5 {
            0 => Due::Key(key()),
            1 => Due::Lease(LeaseId::new(n % 5 + 1)),
            2 => Due::LockHolder(key()),
            3 => Due::Waiter(key(), n % 3),
            _ => Due::Counter(key()),
        }
    }

    /// Random adds, removes, replaces, sweeps and clears, with few distinct times and
    /// things (so buckets fill, empty, are reached and put back): every answer matches the
    /// ordered set's.
    #[test]
    fn buckets_answer_exactly_as_one_ordered_set() {
        for seed in 0..300u64 {
            let mut dice = seed;
            let (mut deadlines, mut model) = (Deadlines::default(), Model::default());
            let mut now = 0;
            for step in 0..400 {
                let dice_roll = roll(&mut dice);
                let at = now + dice_roll % 20;
                match (dice_roll >> 16) % 10 {
                    0..=3 => {
                        let due = due(&mut dice);
                        deadlines.add(at, due.clone());
                        model.0.insert((at, due));
                    }
                    4 | 5 => {
                        // Mostly a deadline that exists.
                        let pick = model.0.iter().nth((dice_roll >> 24) as usize % model.0.len().max(1)).cloned();
                        let (at, due) = pick.unwrap_or_else(|| (at, due(&mut dice)));
                        deadlines.remove(at, &due);
                        model.0.remove(&(at, due));
                    }
                    6 => {
                        let due = due(&mut dice);
                        let old = model.0.iter().find(|(_, d)| *d == due).map(|(at, _)| *at);
                        let new = (dice_roll % 3 != 0).then_some(at);
                        deadlines.replace(old, new, due.clone());
                        if old != new {
                            if let Some(old) = old {
                                model.0.remove(&(old, due.clone()));
                            }
                            if let Some(new) = new {
                                model.0.insert((new, due));
                            }
                        }
                    }
                    7 | 8 => {
                        now += dice_roll % 4;
                        // A sweep, with adds and removes between its pops as handlers do.
                        for _ in 0..(dice_roll >> 32) % 6 {
                            let popped = deadlines.pop_due(now);
                            assert_eq!(popped, model.pop_due(now), "seed {seed} step {step}");
                            if popped.is_none() {
                                break;
                            }
                            let due = due(&mut dice);
                            let at = now.saturating_sub(1) + roll(&mut dice) % 3;
                            deadlines.add(at, due.clone());
                            model.0.insert((at, due));
                        }
                    }
                    _ if step % 97 == 0 => {
                        deadlines.clear();
                        model.0.clear();
                    }
                    _ => {}
                }
                assert_eq!(deadlines.next(), model.0.first().map(|(at, _)| *at), "seed {seed} step {step}");
            }
            assert_eq!(deadlines.all(), model.0.iter().cloned().collect::<Vec<_>>(), "seed {seed}");
            while let Some(popped) = model.pop_due(u64::MAX) {
                assert_eq!(deadlines.pop_due(u64::MAX), Some(popped), "seed {seed}");
            }
            assert_eq!(deadlines.pop_due(u64::MAX), None);
        }
    }

    /// A key re-put with a new TTL every millisecond empties a bucket each time (behind an
    /// earlier deadline, so the emptied times are not on top): the heap of bucket times
    /// stays bounded.
    #[test]
    fn emptied_buckets_do_not_pile_up() {
        let mut deadlines = Deadlines::default();
        let anchor = Due::Lease(LeaseId::new(1));
        deadlines.add(1, anchor.clone());
        let key = Due::Key(Key::from("k"));
        for now in 0..100_000u64 {
            deadlines.replace(now.checked_sub(1).map(|before| before + 60_000), Some(now + 60_000), key.clone());
        }
        assert_eq!(deadlines.buckets.len(), 2);
        assert!(deadlines.times.len() <= 2 * deadlines.buckets.len() + 1025, "{} times", deadlines.times.len());
        assert_eq!(deadlines.pop_due(u64::MAX), Some((1, anchor)));
        assert_eq!(deadlines.pop_due(u64::MAX), Some((99_999 + 60_000, key)));
        assert_eq!(deadlines.next(), None);
    }
}

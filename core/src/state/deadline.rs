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
//!
//! A key's TTL, the deadline a put moves most often, is kept in its bucket by the entry's id
//! (`search::postings::Id`, 4 bytes: shard and slab slot, stable while the key exists) rather
//! than by name: moving it hashes a number instead of the key, copies no key, and a bucket of
//! a thousand keys takes 8-16 KiB instead of 64. The ids are in an [`IdSet`], where taking one
//! out of the bucket a TTL moves out of (written a while ago, so no longer in cache) costs one
//! cache miss, not hashbrown's two. A bucket names its keys only when the sweep reaches it,
//! reading them from their entries.

use crate::tagged::tagged;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

use super::idset::IdSet;
use crate::search::postings::Id;
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

/// What is due at one time.
#[derive(Debug, Default)]
struct Bucket {
    /// Keys, by entry id.
    keys: IdSet,
    /// Everything else, and keys by name when a reached bucket was put back (rare).
    named: HashSet<Due, Hasher>,
}

impl Bucket {
    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.named.is_empty()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    /// What is due at each time (in no order), but the bucket the sweep reached.
    buckets: HashMap<u64, Bucket, Hasher>,
    /// The times of `buckets`, earliest on top. A time whose bucket emptied may stay below
    /// the top (skipped when it gets there); the top is always a live bucket's.
    times: BinaryHeap<Reverse<u64>>,
    /// The earliest bucket once a sweep reached it, in order, every key by name.
    reached: Option<(u64, BTreeSet<Due>)>,
    /// The last bucket that emptied, kept with its room for the next new one (unless it grew
    /// past `SPARE_ROOM`): when TTLs are renewed, a bucket empties as another fills, every
    /// millisecond, and the new one then neither allocates nor rehashes as it grows.
    spare: Option<Bucket>,
}

/// The most keys a kept spare bucket has room for (a bucket a mass expiry filled is freed).
const SPARE_ROOM: usize = 1 << 16;

impl Deadlines {
    /// The reached bucket's set if it is the one of `at`.
    fn reached_at(&mut self, at: u64) -> Option<&mut BTreeSet<Due>> {
        self.reached.as_mut().filter(|(time, _)| *time == at).map(|(_, reached)| reached)
    }

    /// The bucket of `at`, made if there is none.
    fn bucket(&mut self, at: u64) -> &mut Bucket {
        if self.times.len() > 2 * self.buckets.len() + 1024 {
            // Times of emptied buckets pile up when deadlines move later again and again
            // (a key re-put with its TTL each millisecond): start the heap afresh.
            self.times = self.buckets.keys().map(|time| Reverse(*time)).collect();
        }
        self.buckets.entry(at).or_insert_with(|| {
            self.times.push(Reverse(at));
            self.spare.take().unwrap_or_default()
        })
    }

    /// Removes `at`'s bucket if `remove` left it empty.
    fn remove_from(&mut self, at: u64, remove: impl FnOnce(&mut Bucket)) {
        let Some(bucket) = self.buckets.get_mut(&at) else { return };
        remove(bucket);
        if bucket.is_empty() {
            let emptied = self.buckets.remove(&at).expect("the bucket is there");
            if emptied.keys.capacity() <= SPARE_ROOM && emptied.named.capacity() <= SPARE_ROOM {
                self.spare = Some(emptied);
            }
            self.drop_dead_times();
        }
    }

    pub(crate) fn add(&mut self, at: u64, due: Due) {
        if let Some(reached) = self.reached_at(at) {
            reached.insert(due);
            return;
        }
        self.bucket(at).named.insert(due);
    }

    /// Adds the TTL of `key`, whose entry is `id`.
    pub(crate) fn add_key(&mut self, at: u64, id: Id, key: &Key) {
        if let Some(reached) = self.reached_at(at) {
            reached.insert(Due::Key(key.clone()));
            return;
        }
        self.bucket(at).keys.insert(id);
    }

    /// Removes a deadline. Tolerates one that is already gone: the sweep pops a deadline
    /// before handling it, and the handler then runs the ordinary bookkeeping.
    pub(crate) fn remove(&mut self, at: u64, due: &Due) {
        if let Some(reached) = self.reached_at(at) {
            reached.remove(due);
            if reached.is_empty() {
                self.reached = None;
            }
            return;
        }
        self.remove_from(at, |bucket| {
            bucket.named.remove(due);
        });
    }

    /// Removes the TTL of `key`, whose entry is `id` (tolerated when gone, as `remove`).
    pub(crate) fn remove_key(&mut self, at: u64, id: Id, key: &Key) {
        if self.reached_at(at).is_some() {
            return self.remove(at, &Due::Key(key.clone()));
        }
        self.remove_from(at, |bucket| {
            if !bucket.keys.remove(id) && !bucket.named.is_empty() {
                bucket.named.remove(&Due::Key(key.clone()));
            }
        });
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

    /// Moves the TTL of `key`, whose entry is `id` (either time may be absent).
    pub(crate) fn replace_key(&mut self, old: Option<u64>, new: Option<u64>, id: Id, key: &Key) {
        if old == new {
            return;
        }
        if let Some(old) = old {
            self.remove_key(old, id, key);
        }
        if let Some(new) = new {
            self.add_key(new, id, key);
        }
    }

    /// Every pending deadline, earliest first (for a snapshot); `key_of` names a key's entry.
    #[cfg(any(test, feature = "node"))]
    pub(crate) fn all(&self, mut key_of: impl FnMut(Id) -> Key) -> Vec<(u64, Due)> {
        let mut all: Vec<(u64, Due)> = Vec::new();
        for (at, bucket) in &self.buckets {
            all.extend(bucket.keys.iter().map(|id| (*at, Due::Key(key_of(id)))));
            all.extend(bucket.named.iter().map(|due| (*at, due.clone())));
        }
        all.extend(self.reached.iter().flat_map(|(at, reached)| reached.iter().map(|due| (*at, due.clone()))));
        all.sort_unstable();
        all
    }

    pub(crate) fn next(&self) -> Option<u64> {
        let bucketed = self.times.peek().map(|Reverse(time)| *time);
        let reached = self.reached.as_ref().map(|(time, _)| *time);
        bucketed.into_iter().chain(reached).min()
    }

    /// Takes the earliest deadline if it is due at `now`; `key_of` names a key's entry.
    pub(crate) fn pop_due(&mut self, now: u64, key_of: impl FnMut(Id) -> Key) -> Option<(u64, Due)> {
        if !self.reach(now, key_of) {
            return None;
        }
        let (time, reached) = self.reached.as_mut().expect("a reached bucket");
        let (time, due) = (*time, reached.pop_first().expect("reached buckets are not empty"));
        if reached.is_empty() {
            self.reached = None;
        }
        Some((time, due))
    }

    /// Sorts the earliest bucket if it is due at `now` and not sorted yet, naming its keys
    /// by `key_of` (the work of the first `pop_due` of a bucket: a million deadlines due at
    /// one instant take a few hundred milliseconds, which the sweep does before it locks
    /// the shards). Whether a deadline is due.
    pub(crate) fn reach(&mut self, now: u64, mut key_of: impl FnMut(Id) -> Key) -> bool {
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
                let named = reached.into_iter().collect();
                self.buckets.insert(time, Bucket { keys: IdSet::default(), named });
                self.times.push(Reverse(time));
            }
            let Reverse(time) = self.times.pop().expect("a live time is on top");
            let bucket = self.buckets.remove(&time).expect("the top time's bucket");
            self.drop_dead_times();
            // Collected, then built in one go (sorted once, not a million inserts).
            let mut dues: Vec<Due> = bucket.named.into_iter().collect();
            dues.extend(bucket.keys.iter().map(|id| Due::Key(key_of(id))));
            self.reached = Some((time, dues.into_iter().collect()));
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
    use crate::dice::splitmix64 as roll;

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

    /// The test's entry ids: key `k<n>` is entry `n`.
    fn key_of(id: Id) -> Key {
        Key::from(format!("k{id}").as_str())
    }

    fn id_of(key: &Key) -> Id {
        key.as_str()[1..].parse().expect("test keys are k<n>")
    }

    /// Adds as the state machine does: a key's TTL by its entry's id, the rest by name.
    fn add(deadlines: &mut Deadlines, at: u64, due: Due) {
        match &due {
            Due::Key(key) => deadlines.add_key(at, id_of(key), key),
            _ => deadlines.add(at, due),
        }
    }

    fn remove(deadlines: &mut Deadlines, at: u64, due: &Due) {
        match due {
            Due::Key(key) => deadlines.remove_key(at, id_of(key), key),
            _ => deadlines.remove(at, due),
        }
    }

    fn replace(deadlines: &mut Deadlines, old: Option<u64>, new: Option<u64>, due: Due) {
        match &due {
            Due::Key(key) => deadlines.replace_key(old, new, id_of(key), key),
            _ => deadlines.replace(old, new, due),
        }
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
                        add(&mut deadlines, at, due.clone());
                        model.0.insert((at, due));
                    }
                    4 | 5 => {
                        // Mostly a deadline that exists.
                        let pick = model.0.iter().nth((dice_roll >> 24) as usize % model.0.len().max(1)).cloned();
                        let (at, due) = pick.unwrap_or_else(|| (at, due(&mut dice)));
                        remove(&mut deadlines, at, &due);
                        model.0.remove(&(at, due));
                    }
                    6 => {
                        let due = due(&mut dice);
                        let old = model.0.iter().find(|(_, d)| *d == due).map(|(at, _)| *at);
                        let new = (dice_roll % 3 != 0).then_some(at);
                        replace(&mut deadlines, old, new, due.clone());
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
                            let popped = deadlines.pop_due(now, key_of);
                            assert_eq!(popped, model.pop_due(now), "seed {seed} step {step}");
                            if popped.is_none() {
                                break;
                            }
                            let due = due(&mut dice);
                            let at = now.saturating_sub(1) + roll(&mut dice) % 3;
                            add(&mut deadlines, at, due.clone());
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
            assert_eq!(deadlines.all(key_of), model.0.iter().cloned().collect::<Vec<_>>(), "seed {seed}");
            while let Some(popped) = model.pop_due(u64::MAX) {
                assert_eq!(deadlines.pop_due(u64::MAX, key_of), Some(popped), "seed {seed}");
            }
            assert_eq!(deadlines.pop_due(u64::MAX, key_of), None);
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
        let key = Key::from("k7");
        for now in 0..100_000u64 {
            deadlines.replace_key(now.checked_sub(1).map(|before| before + 60_000), Some(now + 60_000), 7, &key);
        }
        assert_eq!(deadlines.buckets.len(), 2);
        assert!(deadlines.times.len() <= 2 * deadlines.buckets.len() + 1025, "{} times", deadlines.times.len());
        assert_eq!(deadlines.pop_due(u64::MAX, key_of), Some((1, anchor)));
        assert_eq!(deadlines.pop_due(u64::MAX, key_of), Some((99_999 + 60_000, Due::Key(key))));
        assert_eq!(deadlines.next(), None);
    }
}

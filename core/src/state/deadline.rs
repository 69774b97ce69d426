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
//!
//! Two levels, as in a hierarchical timing wheel: a key's TTL that falls after the current
//! *slot* (2^[`SLOT_BITS`] ms, about a second) is kept by slot, not by millisecond. A put
//! that renews a TTL (the same TTL again, a little later) usually leaves it in the same
//! slot, and then touches no deadline at all: no cache miss, no hashing. When the state's
//! time reaches a slot, the slot is *opened*: each of its keys goes to the bucket of its exact
//! time, read from its entry. Where a key's TTL is kept follows from its time and the slots
//! opened so far (`slot_of`), so nothing records it. Expiry stays exact; the only difference
//! a caller sees is [`Deadlines::next`], which may name the start of a slot (a wake-up to
//! open it, at most one slot before the deadline) instead of the deadline itself.

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

/// A slot is 2^SLOT_BITS ms (1,024). Much shorter, and a renewed TTL leaves its slot more
/// often; much longer, and opening a slot reads more entries at once and the wake-up to open
/// it comes further ahead of the deadline.
const SLOT_BITS: u32 = 10;

/// How the deadlines read the entries of the keys whose TTLs they hold, by entry id (each
/// must exist).
pub(crate) trait Entries {
    /// The entry's key.
    fn key(&mut self, id: Id) -> Key;
    /// When the entry expires.
    fn expires_at(&mut self, id: Id) -> Option<u64>;
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

/// Things kept by a number (a time or a slot), with the smallest at hand.
#[derive(Debug)]
struct Timetable<T> {
    by: HashMap<u64, T, Hasher>,
    /// The numbers of `by`, smallest on top. One whose thing was removed may stay below the
    /// top (skipped when it gets there); the top is always a live one.
    order: BinaryHeap<Reverse<u64>>,
}

impl<T> Default for Timetable<T> {
    fn default() -> Self {
        Timetable { by: HashMap::default(), order: BinaryHeap::new() }
    }
}

impl<T> Timetable<T> {
    fn first(&self) -> Option<u64> {
        self.order.peek().map(|Reverse(at)| *at)
    }

    fn get_mut(&mut self, at: u64) -> Option<&mut T> {
        self.by.get_mut(&at)
    }

    /// The thing at `at`, made by `make` if there is none.
    fn get_or_make(&mut self, at: u64, make: impl FnOnce() -> T) -> &mut T {
        if self.order.len() > 2 * self.by.len() + 1024 {
            // Numbers of removed things pile up when deadlines move later again and again
            // (a key re-put with its TTL each millisecond): start the heap afresh.
            self.order = self.by.keys().map(|at| Reverse(*at)).collect();
        }
        self.by.entry(at).or_insert_with(|| {
            self.order.push(Reverse(at));
            make()
        })
    }

    /// Puts back a thing taken out (there is none at `at`).
    fn put_back(&mut self, at: u64, thing: T) {
        self.by.insert(at, thing);
        self.order.push(Reverse(at));
    }

    fn remove(&mut self, at: u64) -> Option<T> {
        let thing = self.by.remove(&at)?;
        self.drop_dead();
        Some(thing)
    }

    fn pop_first(&mut self) -> Option<(u64, T)> {
        let Reverse(at) = self.order.pop()?;
        let thing = self.by.remove(&at).expect("the top is a live one");
        self.drop_dead();
        Some((at, thing))
    }

    /// Pops the numbers of removed things off the top of the heap.
    fn drop_dead(&mut self) {
        while let Some(Reverse(at)) = self.order.peek() {
            if self.by.contains_key(at) {
                return;
            }
            self.order.pop();
        }
    }

    #[cfg(any(test, feature = "node"))]
    fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        self.by.iter().map(|(at, thing)| (*at, thing))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by.len()
    }
}

#[derive(Debug)]
pub(crate) struct Deadlines {
    /// What is due at each time (in no order), but the bucket the sweep reached.
    buckets: Timetable<Bucket>,
    /// The earliest bucket once a sweep reached it, in order, every key by name.
    reached: Option<(u64, BTreeSet<Due>)>,
    /// The last bucket that emptied, kept with its room for the next new one (unless it grew
    /// past `SPARE_ROOM`): when TTLs are renewed, a bucket empties as another fills, every
    /// millisecond, and the new one then neither allocates nor rehashes as it grows.
    spare: Option<Bucket>,
    /// Key TTLs in slots not opened yet, by slot (`time >> slot_bits`), by entry id.
    slots: Timetable<IdSet>,
    /// Slots below this one are open: the TTLs in them are in `buckets`.
    opened: u64,
    /// [`SLOT_BITS`]; smaller in tests, so that slots open often.
    slot_bits: u32,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines::with_slot_bits(SLOT_BITS)
    }
}

/// The most keys a kept spare bucket has room for (a bucket a mass expiry filled is freed).
const SPARE_ROOM: usize = 1 << 16;

impl Deadlines {
    fn with_slot_bits(slot_bits: u32) -> Deadlines {
        Deadlines {
            buckets: Timetable::default(),
            reached: None,
            spare: None,
            slots: Timetable::default(),
            opened: 0,
            slot_bits,
        }
    }

    /// The slot where a key's TTL at `at` is kept, if that slot is not open yet.
    #[inline]
    fn slot_of(&self, at: u64) -> Option<u64> {
        let slot = at >> self.slot_bits;
        (slot >= self.opened).then_some(slot)
    }

    /// The reached bucket's set if it is the one of `at`.
    fn reached_at(&mut self, at: u64) -> Option<&mut BTreeSet<Due>> {
        self.reached.as_mut().filter(|(time, _)| *time == at).map(|(_, reached)| reached)
    }

    /// The bucket of `at`, made if there is none.
    fn bucket(&mut self, at: u64) -> &mut Bucket {
        let spare = &mut self.spare;
        self.buckets.get_or_make(at, || spare.take().unwrap_or_default())
    }

    /// Removes `at`'s bucket if `remove` left it empty.
    fn remove_from(&mut self, at: u64, remove: impl FnOnce(&mut Bucket)) {
        let Some(bucket) = self.buckets.get_mut(at) else { return };
        remove(bucket);
        if bucket.is_empty() {
            let emptied = self.buckets.remove(at).expect("the bucket is there");
            if emptied.keys.capacity() <= SPARE_ROOM && emptied.named.capacity() <= SPARE_ROOM {
                self.spare = Some(emptied);
            }
        }
    }

    pub(crate) fn add(&mut self, at: u64, due: Due) {
        if let Some(reached) = self.reached_at(at) {
            reached.insert(due);
            return;
        }
        self.bucket(at).named.insert(due);
    }

    /// Adds the TTL of `key`, whose entry is `id` (and expires at `at`).
    pub(crate) fn add_key(&mut self, at: u64, id: Id, key: &Key) {
        if let Some(reached) = self.reached_at(at) {
            reached.insert(Due::Key(key.clone()));
            return;
        }
        if let Some(slot) = self.slot_of(at) {
            self.slots.get_or_make(slot, IdSet::default).insert(id);
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
        if let Some(slot) = self.slot_of(at) {
            if let Some(ids) = self.slots.get_mut(slot) {
                ids.remove(id);
                if ids.is_empty() {
                    self.slots.remove(slot);
                }
            }
            return;
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
        if let (Some(old_at), Some(new_at)) = (old, new) {
            if self.slot_of(old_at).is_some_and(|slot| slot == new_at >> self.slot_bits) {
                // Renewed within a slot not opened yet: the key stays where it is, and its
                // entry has the new time when the slot opens.
                return;
            }
        }
        if let Some(old) = old {
            self.remove_key(old, id, key);
        }
        if let Some(new) = new {
            self.add_key(new, id, key);
        }
    }

    /// Every pending deadline, earliest first (for a snapshot).
    #[cfg(any(test, feature = "node"))]
    pub(crate) fn all(&self, entries: &mut impl Entries) -> Vec<(u64, Due)> {
        let mut all: Vec<(u64, Due)> = Vec::new();
        for (at, bucket) in self.buckets.iter() {
            all.extend(bucket.keys.iter().map(|id| (at, Due::Key(entries.key(id)))));
            all.extend(bucket.named.iter().map(|due| (at, due.clone())));
        }
        for (_, ids) in self.slots.iter() {
            for id in ids.iter() {
                if let Some(at) = entries.expires_at(id) {
                    all.push((at, Due::Key(entries.key(id))));
                }
            }
        }
        all.extend(self.reached.iter().flat_map(|(at, reached)| reached.iter().map(|due| (*at, due.clone()))));
        all.sort_unstable();
        all
    }

    /// When the deadlines next need the state machine: the earliest deadline, or the start
    /// of the earliest slot not opened yet when that comes first (at most one slot before
    /// the earliest deadline). Nothing is due before it.
    pub(crate) fn next(&self) -> Option<u64> {
        let bucketed = self.buckets.first();
        let reached = self.reached.as_ref().map(|(time, _)| *time);
        let slotted = self.slots.first().map(|slot| slot << self.slot_bits);
        bucketed.into_iter().chain(reached).chain(slotted).min()
    }

    /// Takes the earliest deadline if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: u64, entries: &mut impl Entries) -> Option<(u64, Due)> {
        if !self.reach(now, entries) {
            return None;
        }
        let (time, reached) = self.reached.as_mut().expect("a reached bucket");
        let (time, due) = (*time, reached.pop_first().expect("reached buckets are not empty"));
        if reached.is_empty() {
            self.reached = None;
        }
        Some((time, due))
    }

    /// Opens every slot up to `now`'s: each of their keys goes to the bucket of the time its
    /// entry expires at. Later keys whose TTLs fall in these slots go to buckets directly.
    fn open_slots(&mut self, now: u64, entries: &mut impl Entries) {
        let now_slot = now >> self.slot_bits;
        self.opened = self.opened.max(now_slot.saturating_add(1));
        while self.slots.first().is_some_and(|slot| slot <= now_slot) {
            let (_, ids) = self.slots.pop_first().expect("a first slot");
            for id in ids.iter() {
                let Some(at) = entries.expires_at(id) else {
                    debug_assert!(false, "entry {id} in a slot has no TTL");
                    continue;
                };
                match self.reached_at(at) {
                    Some(reached) => {
                        reached.insert(Due::Key(entries.key(id)));
                    }
                    None => {
                        self.bucket(at).keys.insert(id);
                    }
                }
            }
        }
    }

    /// Opens the slots `now` reached, and sorts the earliest bucket if it is due at `now`
    /// and not sorted yet, naming its keys from their entries (the work of the first
    /// `pop_due` of a bucket: a million deadlines due at one instant take a few hundred
    /// milliseconds, which the sweep does before it locks the shards for writing). Whether a
    /// deadline is due.
    pub(crate) fn reach(&mut self, now: u64, entries: &mut impl Entries) -> bool {
        self.open_slots(now, entries);
        if self.next().is_none_or(|next| next > now) {
            return false;
        }
        let earliest_bucket = self.buckets.first();
        let reach_next = match &self.reached {
            None => true,
            Some((time, _)) => earliest_bucket.is_some_and(|bucket| bucket < *time),
        };
        if reach_next {
            // A deadline earlier than the reached bucket's was added meanwhile (or none was
            // reached): put that one back and sort the earliest.
            if let Some((time, reached)) = self.reached.take() {
                let named = reached.into_iter().collect();
                self.buckets.put_back(time, Bucket { keys: IdSet::default(), named });
            }
            let (time, bucket) = self.buckets.pop_first().expect("a live time is on top");
            // Collected, then built in one go (sorted once, not a million inserts).
            let mut dues: Vec<Due> = bucket.named.into_iter().collect();
            dues.extend(bucket.keys.iter().map(|id| Due::Key(entries.key(id))));
            self.reached = Some((time, dues.into_iter().collect()));
        }
        true
    }

    /// Drops every deadline; slots already opened stay open (that follows time).
    pub(crate) fn clear(&mut self) {
        *self = Deadlines { opened: self.opened, ..Deadlines::with_slot_bits(self.slot_bits) };
    }

    /// Drops every deadline and opens the slots up to `now`'s, as applying a command at
    /// `now` does: a restored state keeps its TTLs where the state it was taken from did.
    #[cfg(any(test, feature = "node"))]
    pub(crate) fn restart_at(&mut self, now: u64) {
        *self = Deadlines::with_slot_bits(self.slot_bits);
        self.opened = (now >> self.slot_bits).saturating_add(1);
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

        /// The time of `due`'s deadline (a key has at most one).
        fn time_of(&self, due: &Due) -> Option<u64> {
            self.0.iter().find(|(_, d)| d == due).map(|(at, _)| *at)
        }
    }

    /// The test's entries, as the model has them: key `k<n>` is entry `n`, and expires when
    /// the model says.
    impl Entries for &Model {
        fn key(&mut self, id: Id) -> Key {
            key_of(id)
        }

        fn expires_at(&mut self, id: Id) -> Option<u64> {
            self.time_of(&Due::Key(key_of(id)))
        }
    }

    fn key_of(id: Id) -> Key {
        Key::from(format!("k{id}").as_str())
    }

    fn id_of(key: &Key) -> Id {
        key.as_str()[1..].parse().expect("test keys are k<n>")
    }

    /// The deadlines and the model, changed together as the state machine changes the
    /// deadlines: a key's TTL by its entry's id, at most one per key, removed at its own
    /// time; the rest by name.
    struct Harness {
        deadlines: Deadlines,
        model: Model,
    }

    impl Harness {
        fn new(slot_bits: u32) -> Harness {
            Harness { deadlines: Deadlines::with_slot_bits(slot_bits), model: Model::default() }
        }

        fn add(&mut self, at: u64, due: Due) {
            if let Due::Key(key) = &due {
                if let Some(old) = self.model.time_of(&due) {
                    return self.replace(Some(old), Some(at), due);
                }
                self.deadlines.add_key(at, id_of(key), key);
            } else {
                self.deadlines.add(at, due.clone());
            }
            self.model.0.insert((at, due));
        }

        /// Removes `due` at `at`; a key's TTL is removed at the time it has (if any).
        fn remove(&mut self, at: u64, due: &Due) {
            if let Due::Key(key) = due {
                let Some(at) = self.model.time_of(due) else { return };
                self.deadlines.remove_key(at, id_of(key), key);
                self.model.0.remove(&(at, due.clone()));
                return;
            }
            self.deadlines.remove(at, due);
            self.model.0.remove(&(at, due.clone()));
        }

        fn replace(&mut self, old: Option<u64>, new: Option<u64>, due: Due) {
            match &due {
                Due::Key(key) => self.deadlines.replace_key(old, new, id_of(key), key),
                _ => self.deadlines.replace(old, new, due.clone()),
            }
            if old != new {
                if let Some(old) = old {
                    self.model.0.remove(&(old, due.clone()));
                }
                if let Some(new) = new {
                    self.model.0.insert((new, due));
                }
            }
        }

        fn pop_due(&mut self, now: u64) -> Option<(u64, Due)> {
            // The entries answer as they were before the pop (the sweep reads an entry
            // before it removes the key).
            let popped = self.deadlines.pop_due(now, &mut &self.model);
            assert_eq!(popped, self.model.pop_due(now));
            popped
        }

        /// `next` is the earliest deadline, or a wake-up in the same slot before it.
        fn check_next(&self) {
            let next = self.deadlines.next();
            match self.model.0.first() {
                None => assert_eq!(next, None),
                Some((earliest, _)) => {
                    let slot_start = earliest >> self.deadlines.slot_bits << self.deadlines.slot_bits;
                    assert!(
                        next.is_some_and(|next| (slot_start..=*earliest).contains(&next)),
                        "next {next:?} for the earliest deadline {earliest}"
                    );
                }
            }
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
    /// things (so buckets fill, empty, are reached and put back, and slots of 1 to 8 ms, or
    /// the real ~1 s, open): every answer matches the ordered set's.
    #[test]
    fn buckets_answer_exactly_as_one_ordered_set() {
        for seed in 0..300u64 {
            let slot_bits = [0, 1, 2, 3, SLOT_BITS][seed as usize % 5];
            let mut dice = seed;
            let mut h = Harness::new(slot_bits);
            let mut now = 0;
            for step in 0..400 {
                let dice_roll = roll(&mut dice);
                let at = now + dice_roll % 20;
                match (dice_roll >> 16) % 10 {
                    0..=3 => h.add(at, due(&mut dice)),
                    4 | 5 => {
                        // Mostly a deadline that exists.
                        let pick = h.model.0.iter().nth((dice_roll >> 24) as usize % h.model.0.len().max(1)).cloned();
                        let (at, due) = pick.unwrap_or_else(|| (at, due(&mut dice)));
                        h.remove(at, &due);
                    }
                    6 => {
                        let due = due(&mut dice);
                        let old = h.model.time_of(&due);
                        let new = (dice_roll % 3 != 0).then_some(at);
                        h.replace(old, new, due);
                    }
                    7 | 8 => {
                        now += dice_roll % 4;
                        // A sweep, with adds and removes between its pops as handlers do.
                        for _ in 0..(dice_roll >> 32) % 6 {
                            if h.pop_due(now).is_none() {
                                break;
                            }
                            let due = due(&mut dice);
                            let at = now.saturating_sub(1) + roll(&mut dice) % 3;
                            h.add(at, due);
                        }
                    }
                    _ if step % 97 == 0 => {
                        h.deadlines.clear();
                        h.model.0.clear();
                    }
                    _ => {}
                }
                h.check_next();
            }
            let all = h.deadlines.all(&mut &h.model);
            assert_eq!(all, h.model.0.iter().cloned().collect::<Vec<_>>(), "seed {seed}");
            while !h.model.0.is_empty() {
                assert!(h.pop_due(u64::MAX).is_some(), "seed {seed}");
            }
            assert_eq!(h.deadlines.pop_due(u64::MAX, &mut &h.model), None);
        }
    }

    /// A key re-put with a new TTL every millisecond empties a bucket (or a slot) each time
    /// (behind an earlier deadline, so the emptied times are not on top): the heaps of
    /// bucket times and slots stay bounded.
    #[test]
    fn emptied_buckets_do_not_pile_up() {
        for slot_bits in [0, SLOT_BITS] {
            let mut h = Harness::new(slot_bits);
            let anchor = Due::Lease(LeaseId::new(1));
            h.add(1, anchor.clone());
            let key = Due::Key(Key::from("k7"));
            for now in 0..100_000u64 {
                h.add(now + 60_000, key.clone());
            }
            let deadlines = &h.deadlines;
            assert_eq!(deadlines.buckets.len() + deadlines.slots.len(), 2);
            assert!(deadlines.buckets.order.len() <= 2 * deadlines.buckets.len() + 1025);
            assert!(deadlines.slots.order.len() <= 2 * deadlines.slots.len() + 1025);
            assert_eq!(h.pop_due(u64::MAX), Some((1, anchor)));
            assert_eq!(h.pop_due(u64::MAX), Some((99_999 + 60_000, key)));
            assert_eq!(h.deadlines.next(), None);
        }
    }

    /// A TTL renewed within a slot not opened yet touches no deadline; the key still falls
    /// due exactly at its last time, read from its entry when the slot opens.
    #[test]
    fn a_ttl_renewed_within_its_slot_stays_put_and_expires_on_time() {
        let mut h = Harness::new(SLOT_BITS);
        let key = Due::Key(Key::from("k3"));
        // Slot 10 is [10,240, 11,264) ms.
        h.add(10_300, key.clone());
        assert_eq!((h.deadlines.slots.len(), h.deadlines.buckets.len()), (1, 0));
        for at in 10_301..11_000 {
            h.add(at, key.clone());
        }
        assert_eq!((h.deadlines.slots.len(), h.deadlines.buckets.len()), (1, 0));
        assert_eq!(h.deadlines.slots.by[&10].len(), 1);
        // The wake-up is the slot's start; opening it finds the exact time.
        assert_eq!(h.deadlines.next(), Some(10_240));
        assert_eq!(h.pop_due(10_240), None);
        assert_eq!(h.deadlines.next(), Some(10_999));
        assert_eq!(h.pop_due(10_998), None);
        assert_eq!(h.pop_due(10_999), Some((10_999, key.clone())));
        // The slot is open now: a TTL in it is kept by its exact time, and moving it moves it.
        h.add(11_100, key.clone());
        assert_eq!(h.deadlines.next(), Some(11_100));
        h.add(11_200, key.clone());
        assert_eq!(h.deadlines.next(), Some(11_200));
        // A TTL moved to the next slot leaves the bucket for that slot.
        h.add(11_300, key.clone());
        assert_eq!((h.deadlines.slots.len(), h.deadlines.buckets.len()), (1, 0));
        assert_eq!(h.pop_due(u64::MAX), Some((11_300, key)));
    }
}

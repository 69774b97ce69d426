//! A set of entry ids, for the deadline buckets (`deadline.rs`): open addressing with linear
//! probing in one array of ids.
//!
//! Why not `HashSet<Id>`: hashbrown keeps its control bytes and its slots apart, so taking an
//! id out of a bucket that no write touched for a while (a TTL moved later: the key's old
//! bucket was filled tens of milliseconds and thousands of writes ago, and left the cache)
//! costs two cache misses. Here the id is in the line its hash points at, or the next: one.
//! Removal shifts the ids after it back instead of leaving tombstones, so a bucket that only
//! loses ids (the old buckets of renewed TTLs) never needs rebuilding. The hash is fixed
//! (Fibonacci hashing of the id), so the layout is the same on every run.

use crate::search::postings::Id;

/// A free slot. The one id equal to it is kept aside ([`IdSet::holds_empty`]).
const EMPTY: Id = Id::MAX;

/// The fewest slots a set that holds anything has.
const MIN_SLOTS: usize = 8;

#[derive(Debug, Default)]
pub(crate) struct IdSet {
    /// Empty, or a power of two long and at most 3/4 full.
    slots: Box<[Id]>,
    /// Ids in `slots`.
    len: usize,
    /// Whether the set holds the id [`EMPTY`] (the last slot of the last shard).
    holds_empty: bool,
}

impl IdSet {
    pub(crate) fn len(&self) -> usize {
        self.len + usize::from(self.holds_empty)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many ids it holds before it grows.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len() / 4 * 3
    }

    /// Where `id`'s probe starts: the top bits of its product with 2^64 / φ.
    fn home(&self, id: Id) -> usize {
        let bits = self.slots.len().trailing_zeros();
        (u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
    }

    /// Adds `id`; whether it was not there.
    pub(crate) fn insert(&mut self, id: Id) -> bool {
        if id == EMPTY {
            return !std::mem::replace(&mut self.holds_empty, true);
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut at = self.home(id);
        loop {
            match self.slots[at] {
                EMPTY => {
                    self.slots[at] = id;
                    self.len += 1;
                    return true;
                }
                held if held == id => return false,
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Takes `id` out; whether it was there.
    pub(crate) fn remove(&mut self, id: Id) -> bool {
        if id == EMPTY {
            return std::mem::replace(&mut self.holds_empty, false);
        }
        if self.len == 0 {
            return false;
        }
        let mask = self.slots.len() - 1;
        let mut hole = self.home(id);
        loop {
            match self.slots[hole] {
                EMPTY => return false,
                held if held == id => break,
                _ => hole = (hole + 1) & mask,
            }
        }
        // Close the hole: each id after it up to the next free slot moves into it when the
        // hole lies on that id's probe path (between its home and where it is).
        let mut at = (hole + 1) & mask;
        loop {
            let held = self.slots[at];
            if held == EMPTY {
                break;
            }
            let from_home = at.wrapping_sub(self.home(held)) & mask;
            if from_home >= (at.wrapping_sub(hole) & mask) {
                self.slots[hole] = held;
                hole = at;
            }
            at = (at + 1) & mask;
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
        true
    }

    /// Every id, in no particular (but a fixed) order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Id> + '_ {
        self.slots.iter().copied().filter(|id| *id != EMPTY).chain(self.holds_empty.then_some(EMPTY))
    }

    /// Doubles the slots (or makes the first ones) and puts every id back.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; size].into_boxed_slice());
        self.len = 0;
        for id in old.iter().copied().filter(|id| *id != EMPTY) {
            self.insert(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dice::splitmix64 as roll;
    use std::collections::BTreeSet;

    /// Random inserts and removes over a few small id ranges (so probe runs collide, wrap
    /// around the end and get shifted back), with `EMPTY` itself among them: every answer,
    /// the length and the members match an ordered set's, and the set never gets fuller than
    /// 3/4.
    #[test]
    fn answers_exactly_as_an_ordered_set() {
        for seed in 0..200u64 {
            let mut dice = seed;
            let (mut set, mut model) = (IdSet::default(), BTreeSet::new());
            let span = 1 + roll(&mut dice) % 300;
            for step in 0..3_000 {
                let roll = roll(&mut dice);
                let id = match roll % 7 {
                    0 => EMPTY - (roll >> 8) as Id % 3,
                    _ => ((roll >> 8) % span) as Id * [1, 16, 1 << 20][(roll >> 40) as usize % 3],
                };
                if (roll >> 32) % 5 < 3 {
                    assert_eq!(set.insert(id), model.insert(id), "seed {seed} step {step}: insert {id}");
                } else {
                    assert_eq!(set.remove(id), model.remove(&id), "seed {seed} step {step}: remove {id}");
                }
                assert_eq!(set.len(), model.len(), "seed {seed} step {step}");
                assert!(set.len <= set.capacity(), "seed {seed} step {step}");
            }
            assert_eq!(set.iter().collect::<BTreeSet<_>>(), model, "seed {seed}");
            for id in model.iter().copied().collect::<Vec<_>>() {
                assert!(set.remove(id), "seed {seed}: {id} is there");
                model.remove(&id);
                assert_eq!(set.iter().collect::<BTreeSet<_>>(), model, "seed {seed}");
            }
            assert!(set.is_empty());
        }
    }
}

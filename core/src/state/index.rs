//! The hash index of one shard: key hash → slab slot, by open addressing with linear probing.
//!
//! Each bucket is one `u64` cell holding the low 32 bits of the key's hash and the slot.
//! A lookup reads one cell (usually one cache line of the index), filters candidates by the
//! stored hash bits, and only then reads the entry to compare keys: two dependent memory
//! accesses for a hit, where a SwissTable's separate control bytes and buckets take three.
//! The stored hash bits also give each cell's home bucket back, so growing and deleting
//! (backward shift, no tombstones) never rehash a key.
//!
//! Sizes: a cell's home is its hash bits scaled to the table (`bits * len >> 32`, a multiply
//! instead of a mask), so the table can have any length and grows by a quarter, not by
//! doubling. Between growths the load stays within 0.7 and 0.875, where doubling lets it fall
//! to 0.44 right after a growth: 9–11 bytes per key instead of 9–18 (17 at 1M keys in 16
//! shards, which had just doubled). The price is more growths (each key is moved about five
//! times over the table's life instead of twice), each as long as one doubling of the same
//! size would be.

const EMPTY: u64 = u64::MAX;
/// Grow when more than 7/8 of the buckets are full...
const LOAD_NUMERATOR: usize = 7;
const LOAD_DENOMINATOR: usize = 8;
/// ...by a quarter (at least `MIN_GROWTH` cells).
const GROWTH_NUMERATOR: usize = 5;
const GROWTH_DENOMINATOR: usize = 4;
const MIN_GROWTH: usize = 8;

#[derive(Debug)]
pub(crate) struct Index {
    cells: Box<[u64]>,
    len: usize,
}

impl Default for Index {
    /// One cell: every shard of every store starts with an index (16 per store, and a node
    /// may host thousands of stores, most of them small); it doubles as keys arrive.
    fn default() -> Self {
        Index { cells: vec![EMPTY; 1].into_boxed_slice(), len: 0 }
    }
}

fn cell(hash: u64, slot: u32) -> u64 {
    ((hash as u32 as u64) << 32) | slot as u64
}

fn slot_of(cell: u64) -> u32 {
    cell as u32
}

/// Where a probe for the hash bits `tag` starts in a table of `len` cells.
#[inline]
fn home_of(tag: u32, len: usize) -> usize {
    ((tag as u64 * len as u64) >> 32) as usize
}

impl Index {
    fn home(&self, cell: u64) -> usize {
        home_of((cell >> 32) as u32, self.cells.len())
    }

    /// The cell after `position`, wrapping around.
    #[inline]
    fn next(&self, position: usize) -> usize {
        if position + 1 == self.cells.len() {
            0
        } else {
            position + 1
        }
    }

    /// How many cells a probe walks from `from` to reach `to`.
    fn distance(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + self.cells.len() - from
        }
    }

    /// Starts loading the cell where a probe for `hash` begins (see `crate::prefetch`).
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        crate::prefetch::line(self.cells.as_ptr().wrapping_add(home_of(hash as u32, self.cells.len())));
    }

    /// The slot in the first cell of `hash`'s probe whose stored hash bits match: almost
    /// always the key's, but not checked against it (to start loading its entry early).
    pub(crate) fn candidate(&self, hash: u64) -> Option<u32> {
        self.position(hash, &mut |_| true).map(|position| slot_of(self.cells[position]))
    }

    /// The slot of the key whose hash is `hash` and for which `is_key(slot)` holds.
    pub(crate) fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        self.position(hash, &mut is_key).map(|position| slot_of(self.cells[position]))
    }

    fn position(&self, hash: u64, is_key: &mut impl FnMut(u32) -> bool) -> Option<usize> {
        let tag = hash as u32;
        let mut position = home_of(tag, self.cells.len());
        loop {
            let cell = self.cells[position];
            if cell == EMPTY {
                return None;
            }
            if (cell >> 32) as u32 == tag && is_key(slot_of(cell)) {
                return Some(position);
            }
            position = self.next(position);
        }
    }

    /// Adds a key known to be absent.
    pub(crate) fn insert(&mut self, hash: u64, slot: u32) {
        debug_assert_ne!(slot, u32::MAX, "u32::MAX is not a slot");
        if (self.len + 1) * LOAD_DENOMINATOR > self.cells.len() * LOAD_NUMERATOR {
            self.grow();
        }
        self.place(cell(hash, slot));
        self.len += 1;
    }

    fn place(&mut self, cell: u64) {
        let mut position = self.home(cell);
        while self.cells[position] != EMPTY {
            position = self.next(position);
        }
        self.cells[position] = cell;
    }

    fn grow(&mut self) {
        let len = self.cells.len();
        let grown = (len * GROWTH_NUMERATOR / GROWTH_DENOMINATOR).max(len + MIN_GROWTH);
        let old = std::mem::replace(&mut self.cells, vec![EMPTY; grown].into_boxed_slice());
        for cell in old.iter().copied().filter(|cell| *cell != EMPTY) {
            self.place(cell);
        }
    }

    /// Removes the key; returns its slot.
    pub(crate) fn remove(&mut self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let found = self.position(hash, &mut is_key)?;
        let slot = slot_of(self.cells[found]);
        // Backward shift: pull later cells of the probe run into the hole when the hole lies
        // between their home and where they sit, so every remaining key stays reachable.
        let mut hole = found;
        let mut next = found;
        loop {
            next = self.next(next);
            let cell = self.cells[next];
            if cell == EMPTY {
                break;
            }
            let home = self.home(cell);
            if self.distance(home, hole) < self.distance(home, next) {
                self.cells[hole] = cell;
                hole = next;
            }
        }
        self.cells[hole] = EMPTY;
        self.len -= 1;
        Some(slot)
    }

    pub(crate) fn clear(&mut self) {
        *self = Index::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A hash with deliberate collisions in the bits that pick a home (97 homes at most), to
    /// exercise probing, wrapping and deletes.
    fn hash(key: u32) -> u64 {
        ((key as u64 % 97) << 25) | ((key as u64) << 40)
    }

    #[test]
    fn behaves_like_a_map_through_growth_and_deletes() {
        let mut index = Index::default();
        let mut model: HashMap<u32, u32> = HashMap::new();
        let mut state = 12345u64;
        for round in 0..20_000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let key = (state % 3000) as u32;
            let is_key = |slot: u32| slot == key;
            if round % 3 == 0 {
                assert_eq!(index.remove(hash(key), is_key), model.remove(&key), "remove {key}");
            } else if index.find(hash(key), is_key).is_none() {
                index.insert(hash(key), key);
                model.insert(key, key);
            }
            if round % 1000 == 0 {
                for probe in 0..3000u32 {
                    assert_eq!(index.find(hash(probe), |slot| slot == probe), model.get(&probe).copied());
                }
            }
        }
        assert_eq!(index.len, model.len());
    }

    #[test]
    fn the_load_stays_between_seven_tenths_and_seven_eighths_as_it_grows() {
        let mut index = Index::default();
        for key in 0..200_000u32 {
            // A well-spread hash (a multiplicative one), as the key space's is.
            let hash = (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            index.insert(hash, key);
            if key >= 1000 {
                let load = index.len as f64 / index.cells.len() as f64;
                assert!((0.69..=0.875).contains(&load), "load {load} at {} keys", index.len);
            }
        }
        for key in (0..200_000u32).step_by(7919) {
            let hash = (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(index.find(hash, |slot| slot == key), Some(key));
        }
    }
}

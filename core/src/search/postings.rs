//! A posting list: the entries that share one label value (or one entity), in key order,
//! each as its key and its id (where it lives in the key space: shard and slot, see
//! [`Id`]).
//!
//! Keys and ids sit inline in sorted chunks of at most [`CHUNK`] entries (a two-level
//! B+tree, as the shards' `Order`), with each chunk's first key copied into the directory
//! that a lookup searches, next to the chunk's pointer. Against a `BTreeSet<Key>` this takes about
//! half the memory per key (chunks filled in key order stay full; a B-tree's nodes split in
//! half), and a walk reads contiguous arrays. A list that holds a good share of the store's
//! tagged entries (see [`DENSE`]) also keeps its ids in a [`Bitmap`], so that "is this entry
//! in the list" is a bit test: that is how a search intersects posting lists (see `plan`).
//!
//! A list of one entry (the common case for a unique label) is kept without any chunk.

use crate::Key;

/// Where an entry lives: its shard in the top bits, its slot below. Stable while the entry
/// exists (an overwrite keeps the slot); a removed entry's id may be given to another key,
/// which is why the index changes in the same call that moves an entry.
pub(crate) type Id = u32;

/// Bits of an [`Id`] that hold the slot.
pub(crate) const SLOT_BITS: u32 = 28;

/// The id of the entry in `slot` of shard `shard`.
#[inline]
pub(crate) fn id_of(shard: usize, slot: u32) -> Id {
    debug_assert!(slot < 1 << SLOT_BITS, "a shard holds fewer than 2^28 entries");
    ((shard as Id) << SLOT_BITS) | slot
}

/// The shard and slot an id names.
#[inline]
pub(crate) fn shard_and_slot(id: Id) -> (usize, u32) {
    ((id >> SLOT_BITS) as usize, id & ((1 << SLOT_BITS) - 1))
}

/// Entries per chunk: a chunk is at most 1 KiB, so an insert moves at most that much, and a
/// search in it reads 16 cache lines in one stream (measured against 16, 64 and 128: the
/// fastest writes; a B-tree's nodes are still about 1.6x cheaper to change).
const CHUNK: usize = 32;

/// A list longer than a chunk keeps a [`Bitmap`] of its ids while it holds at least one in
/// `DENSE` of the store's tagged entries (a bit per id of the store costs it at most 2 bytes
/// per entry then), and drops it below half of that.
const DENSE: usize = 16;

#[derive(Debug)]
pub(crate) enum Postings {
    One(Key, Id),
    Many(Box<Chunks>),
}

#[derive(Debug)]
pub(crate) struct Chunks {
    /// No chunk is empty.
    chunks: Vec<Chunk>,
    len: usize,
    /// Every id of the list, while the list is dense (see [`DENSE`]).
    ids: Option<Bitmap>,
}

/// Keys in order, each with its id beside it (one allocation, read in one stream), and a
/// copy of the first key in the list's directory, which a lookup searches.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// `entries[0].0` (the last key removed while the chunk is empty).
    first: Key,
    entries: Vec<(Key, Id)>,
}

impl Chunk {
    fn new(entries: Vec<(Key, Id)>) -> Chunk {
        Chunk { first: entries[0].0.clone(), entries }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn insert(&mut self, at: usize, entry: (Key, Id)) {
        if at == 0 {
            self.first = entry.0.clone();
        }
        self.entries.insert(at, entry);
    }

    fn remove(&mut self, at: usize) -> (Key, Id) {
        let removed = self.entries.remove(at);
        if at == 0 {
            if let Some((first, _)) = self.entries.first() {
                self.first = first.clone();
            }
        }
        removed
    }

    /// Moves the entries from `at` on into a new chunk.
    fn split_off(&mut self, at: usize) -> Chunk {
        let mut right = Vec::with_capacity(CHUNK);
        right.extend(self.entries.drain(at..));
        Chunk::new(right)
    }
}

/// Where a key is, or would be inserted: the chunk, and the offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct At {
    chunk: usize,
    offset: usize,
}

impl Chunks {
    fn from_two(a: (Key, Id), b: (Key, Id)) -> Chunks {
        let (a, b) = if a.0 < b.0 { (a, b) } else { (b, a) };
        Chunks { chunks: vec![Chunk::new(vec![a, b])], len: 2, ids: None }
    }

    /// The chunk that holds `key` if anything does: the last whose first key is not above it.
    fn chunk_of(&self, key: &str) -> usize {
        self.chunks.partition_point(|chunk| chunk.first.as_str() <= key).saturating_sub(1)
    }

    /// Where `key` is (`Ok`) or would go (`Err`).
    fn find(&self, key: &str) -> Result<At, At> {
        let chunk = self.chunk_of(key);
        // A linear scan: the chunk's keys are contiguous, so the hardware streams them in,
        // where a binary search takes a cache miss per step.
        let entries = &self.chunks[chunk].entries;
        let offset = entries.iter().position(|(probe, _)| probe.as_str() >= key).unwrap_or(entries.len());
        if entries.get(offset).is_some_and(|(probe, _)| probe.as_str() == key) {
            Ok(At { chunk, offset })
        } else {
            Err(At { chunk, offset })
        }
    }

    /// The first position holding a key above `key` (or not below it, with `inclusive`).
    fn seek(&self, key: &str, inclusive: bool) -> At {
        let at = match self.find(key) {
            Ok(at) if inclusive => at,
            Ok(At { chunk, offset }) => At { chunk, offset: offset + 1 },
            Err(at) => at,
        };
        self.normal(at)
    }

    /// `at` moved past the end of its chunk to the start of the next.
    fn normal(&self, at: At) -> At {
        if at.chunk < self.chunks.len() && at.offset == self.chunks[at.chunk].len() {
            At { chunk: at.chunk + 1, offset: 0 }
        } else {
            at
        }
    }

    fn insert(&mut self, key: &Key, id: Id, population: usize) {
        let At { chunk, offset } = match self.find(key) {
            Ok(_) => return,
            Err(at) => at,
        };
        self.len += 1;
        match &mut self.ids {
            Some(ids) => ids.insert(id),
            None if self.len > CHUNK && self.len * DENSE >= population => {
                let mut ids = Bitmap::default();
                self.chunks.iter().flat_map(|chunk| &chunk.entries).for_each(|(_, id)| ids.insert(*id));
                ids.insert(id);
                self.ids = Some(ids);
            }
            None => {}
        }
        let last_chunk = chunk + 1 == self.chunks.len();
        let target = &mut self.chunks[chunk];
        if target.len() < CHUNK {
            target.insert(offset, (key.clone(), id));
            return;
        }
        // Full. A neighbour with room takes the entry at this chunk's edge: a split moves
        // the directory, so chunks filled in key order and then written anywhere split
        // once per pair of neighbours, not once per write.
        if chunk > 0 && self.chunks[chunk - 1].len() < CHUNK {
            let (left, right) = self.chunks.split_at_mut(chunk);
            let (left, target) = (&mut left[chunk - 1], &mut right[0]);
            if offset == 0 {
                left.entries.push((key.clone(), id));
            } else {
                left.entries.push(target.remove(0));
                target.insert(offset - 1, (key.clone(), id));
            }
            return;
        }
        if chunk + 1 < self.chunks.len() && self.chunks[chunk + 1].len() < CHUNK {
            let (left, right) = self.chunks.split_at_mut(chunk + 1);
            let (target, next) = (&mut left[chunk], &mut right[0]);
            if offset == CHUNK {
                next.insert(0, (key.clone(), id));
            } else {
                next.insert(0, target.entries.pop().expect("a full chunk"));
                target.insert(offset, (key.clone(), id));
            }
            return;
        }
        // Appending after the last key starts a new chunk (lists filled in key order stay
        // full); anywhere else the chunk splits in two halves.
        if last_chunk && offset == CHUNK {
            let mut entries = Vec::with_capacity(CHUNK);
            entries.push((key.clone(), id));
            self.chunks.push(Chunk::new(entries));
            return;
        }
        let target = &mut self.chunks[chunk];
        let mut right = target.split_off(CHUNK / 2);
        if offset <= CHUNK / 2 {
            target.insert(offset, (key.clone(), id));
        } else {
            right.insert(offset - CHUNK / 2, (key.clone(), id));
        }
        self.chunks.insert(chunk + 1, right);
    }

    /// Removes `key` if present.
    fn remove(&mut self, key: &str, population: usize) {
        let Ok(At { chunk, offset }) = self.find(key) else { return };
        self.len -= 1;
        let target = &mut self.chunks[chunk];
        let (_, id) = target.remove(offset);
        if let Some(ids) = &mut self.ids {
            ids.remove(id);
            // Half of the threshold, so that a list at the edge does not build and drop its
            // bitmap on every write.
            if self.len <= CHUNK || self.len * DENSE * 2 < population {
                self.ids = None;
            }
        }
        if target.len() == 0 {
            self.chunks.remove(chunk);
            return;
        }
        // A chunk that fell to a quarter joins its right neighbour when both fit in one, so
        // that a list that shrinks does not keep a chunk per key.
        let len = target.len();
        if len < CHUNK / 4 && self.chunks.get(chunk + 1).is_some_and(|right| len + right.len() <= CHUNK / 2) {
            let right = self.chunks.remove(chunk + 1);
            let target = &mut self.chunks[chunk];
            target.entries.extend(right.entries);
        }
    }

    fn contains_id(&self, id: Id) -> bool {
        match &self.ids {
            Some(ids) => ids.contains(id),
            None => self.chunks.iter().flat_map(|chunk| &chunk.entries).any(|(_, here)| *here == id),
        }
    }
}

/// A set of ids as bits over the id space, a word array per shard grown to the highest slot
/// seen: an insert, a remove or a test reads two words and moves nothing. Its memory follows
/// the store's size (a bit per slot), not the list's, which is why only dense lists keep one.
#[derive(Debug, Default)]
pub(crate) struct Bitmap {
    /// Per shard, bit `slot` of the words.
    shards: Vec<Vec<u64>>,
}

impl Bitmap {
    /// The shard, word and bit of `id`.
    fn place(id: Id) -> (usize, usize, u64) {
        let (shard, slot) = shard_and_slot(id);
        (shard, slot as usize / 64, 1 << (slot % 64))
    }

    fn insert(&mut self, id: Id) {
        let (shard, word, bit) = Bitmap::place(id);
        if self.shards.len() <= shard {
            self.shards.resize_with(shard + 1, Vec::new);
        }
        let words = &mut self.shards[shard];
        if words.len() <= word {
            // Grown a page (4,096 slots) at a time.
            words.resize((word + 64) & !63, 0);
        }
        words[word] |= bit;
    }

    fn remove(&mut self, id: Id) {
        let (shard, word, bit) = Bitmap::place(id);
        if let Some(word) = self.shards.get_mut(shard).and_then(|words| words.get_mut(word)) {
            *word &= !bit;
        }
    }

    fn contains(&self, id: Id) -> bool {
        let (shard, word, bit) = Bitmap::place(id);
        self.shards.get(shard).and_then(|words| words.get(word)).is_some_and(|word| word & bit != 0)
    }

    #[cfg(test)]
    fn len(&self) -> u64 {
        self.shards.iter().flatten().map(|word| u64::from(word.count_ones())).sum()
    }
}

impl Postings {
    /// Adds the entry `key` with its `id` (nothing when the key is there already), in a
    /// store of `population` tagged entries.
    pub(crate) fn insert(&mut self, key: &Key, id: Id, population: usize) {
        match self {
            Postings::One(one, _) if one == key => {}
            Postings::One(one, one_id) => {
                *self = Postings::Many(Box::new(Chunks::from_two((one.clone(), *one_id), (key.clone(), id))))
            }
            Postings::Many(chunks) => chunks.insert(key, id, population),
        }
    }

    /// Removes `key` from a store of `population` tagged entries; true when nothing is left.
    pub(crate) fn remove(&mut self, key: &str, population: usize) -> bool {
        match self {
            Postings::One(one, _) => one.as_str() == key,
            Postings::Many(chunks) => {
                chunks.remove(key, population);
                if chunks.len == 1 {
                    let chunk = &chunks.chunks[0];
                    let (key, id) = chunk.entries[0].clone();
                    *self = Postings::One(key, id);
                }
                false
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Postings::One(..) => 1,
            Postings::Many(chunks) => chunks.len,
        }
    }

    /// The entries after key `after` (all when `None`), in key order.
    pub(crate) fn keys_after<'a>(&'a self, after: Option<&str>) -> Keys<'a> {
        match self {
            Postings::One(one, id) => {
                let past = after.is_some_and(|after| one.as_str() <= after);
                Keys::One(if past { None } else { Some((one, *id)) })
            }
            Postings::Many(chunks) => {
                let at = match after {
                    Some(after) => chunks.seek(after, false),
                    None => At { chunk: 0, offset: 0 },
                };
                Keys::Many { chunks: &chunks.chunks, at }
            }
        }
    }

    /// Whether [`contains`](Self::contains) is cheap: a bitmap test, or a look at one chunk.
    pub(crate) fn quick_to_test(&self) -> bool {
        match self {
            Postings::One(..) => true,
            Postings::Many(chunks) => chunks.ids.is_some() || chunks.len <= CHUNK,
        }
    }

    /// Whether the entry `id` is in the list.
    pub(crate) fn contains(&self, id: Id) -> bool {
        match self {
            Postings::One(_, one) => *one == id,
            Postings::Many(chunks) => chunks.contains_id(id),
        }
    }
}

/// The entries of a posting list in key order, from a position: each key with its id.
pub(crate) enum Keys<'a> {
    One(Option<(&'a Key, Id)>),
    Many { chunks: &'a [Chunk], at: At },
}

impl<'a> Iterator for Keys<'a> {
    type Item = (&'a Key, Id);

    fn next(&mut self) -> Option<(&'a Key, Id)> {
        match self {
            Keys::One(one) => one.take(),
            Keys::Many { chunks, at } => {
                let chunk = chunks.get(at.chunk)?;
                let (key, id) = &chunk.entries[at.offset];
                let found = (key, *id);
                at.offset += 1;
                if at.offset == chunk.len() {
                    *at = At { chunk: at.chunk + 1, offset: 0 };
                }
                Some(found)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A deterministic stream of numbers (SplitMix64).
    fn numbers(seed: u64) -> impl Iterator<Item = u64> {
        let mut state = seed;
        std::iter::repeat_with(move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
    }

    /// Keys of several shapes: multi-byte characters, and long keys sharing more than their
    /// first few bytes.
    fn key(n: u64) -> Key {
        let key = match n % 4 {
            0 => format!("k{n:05}"),
            1 => format!("k\u{e9}{n:05}"),
            2 => format!("k\u{e8}/tenant/0000000000/{n:05}"),
            _ => format!("k{n:05}\u{fc}"),
        };
        Key::from(key.as_str())
    }

    /// Keys whose order is that of `n`.
    fn ordered_key(n: u64) -> Key {
        Key::from(format!("k{n:05}").as_str())
    }

    /// A key's id: spread over the shards as the key space spreads keys, so not in key order.
    fn id(n: u64) -> Id {
        id_of((n.wrapping_mul(2_654_435_761) % 16) as usize, (n / 16) as u32)
    }

    fn check(postings: &Postings, model: &BTreeMap<Key, Id>) {
        assert_eq!(postings.len(), model.len());
        let entries: Vec<(&Key, Id)> = postings.keys_after(None).collect();
        assert_eq!(entries, model.iter().map(|(key, id)| (key, *id)).collect::<Vec<_>>());
        if let Postings::Many(list) = postings {
            for chunk in &list.chunks {
                assert!(chunk.len() > 0 && chunk.len() <= CHUNK && chunk.first == chunk.entries[0].0);
            }
            if let Some(ids) = &list.ids {
                assert_eq!(ids.len(), model.len() as u64);
            }
        }
    }

    /// Random inserts and removes against a `BTreeMap`: the order, the length, ids,
    /// `keys_after` from any point, and membership by id.
    #[test]
    fn postings_agree_with_a_btreemap() {
        for seed in 0..40 {
            let mut draw = numbers(seed);
            let span = [10, 300, 5_000][seed as usize % 3];
            // Stores where the list is dense (a bitmap) and where it is not.
            let population = [1, 100_000][seed as usize % 2];
            let mut model = BTreeMap::new();
            let n = draw.next().unwrap() % span;
            model.insert(key(n), id(n));
            let mut postings = Postings::One(key(n), id(n));
            for step in 0..3_000 {
                let n = draw.next().unwrap() % span;
                let removing = draw.next().unwrap() % 100 < if step < 1_500 { 30 } else { 60 };
                if removing {
                    let empty = postings.remove(&key(n), population);
                    model.remove(&key(n));
                    assert_eq!(empty, model.is_empty());
                    if empty {
                        model.insert(key(n), id(n));
                        postings = Postings::One(key(n), id(n));
                    }
                } else {
                    postings.insert(&key(n), id(n), population);
                    model.insert(key(n), id(n));
                }
                if step % 250 == 0 {
                    check(&postings, &model);
                }
            }
            check(&postings, &model);
            let after = key(draw.next().unwrap() % span);
            let tail: Vec<(&Key, Id)> = postings.keys_after(Some(&after)).collect();
            let expected: Vec<(&Key, Id)> = model
                .range::<str, _>((std::ops::Bound::Excluded(after.as_str()), std::ops::Bound::Unbounded))
                .map(|(key, id)| (key, *id))
                .collect();
            assert_eq!(tail, expected);
            for n in 0..span + 2 {
                assert_eq!(postings.contains(id(n)), model.contains_key(&key(n)), "seed {seed}, id of {n}");
            }
        }
    }

    #[test]
    fn lists_filled_in_key_order_keep_full_chunks() {
        let mut postings = Postings::One(ordered_key(0), id(0));
        for n in 1..10_000 {
            postings.insert(&ordered_key(n), id(n), 20_000);
        }
        let Postings::Many(list) = &postings else { panic!("many keys") };
        assert_eq!(list.chunks.len(), 10_000usize.div_ceil(CHUNK));
        assert!(list.ids.is_some());
        // Emptied from the front, the list keeps few chunks and drops its bitmap.
        for n in 0..9_990 {
            postings.remove(&ordered_key(n), 20_000);
        }
        let Postings::Many(list) = &postings else { panic!("ten keys") };
        assert!(list.chunks.len() <= 2, "{} chunks", list.chunks.len());
        assert!(list.ids.is_none());
    }
}

//! A posting list: the entries that share one label value (or one entity), in key order,
//! each as its key and its id (where it lives in the key space: shard and slot, see
//! [`Id`]).
//!
//! Keys and ids sit inline in sorted chunks of at most [`CHUNK`] entries (a two-level
//! B+tree, as the shards' `Order`), with each chunk's first key in the directory that a
//! lookup searches as an 8-byte number, and each key's next 4 bytes as a number in its chunk
//! (a hint: a lookup in a chunk compares numbers, and whole keys only where they tie).
//! Against a `BTreeSet<Key>` this takes about a quarter less memory per key (chunks filled in
//! key order stay full; a B-tree's nodes split in half), and a walk reads contiguous arrays. A list that holds a good share of the store's
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
    #[allow(clippy::vec_box, reason = "a chunk is 1.1 KB: a split moves pointers, not chunks")]
    chunks: Vec<Box<Chunk>>,
    /// Each chunk's first key as a [`word`] from `shared` on, in step with `chunks`: a lookup
    /// searches these 8-byte numbers (the directory of a 100k-entry list is 25 KB of them)
    /// and compares whole keys only among chunks whose words tie with its key's.
    words: Vec<u64>,
    /// How many leading bytes every key of the list has in common (it may be fewer than
    /// they do: it only shrinks, when a key without them comes in, and it stops at
    /// [`MAX_SHARED`]). Keys often share a long prefix (`tenant/acme/job/`), which would
    /// leave nothing to tell keys apart in a word of their first bytes.
    shared: usize,
    /// Those bytes, kept here rather than read from a key elsewhere in memory.
    prefix: [u8; MAX_SHARED],
    len: usize,
    /// Every id of the list, while the list is dense (see [`DENSE`]).
    ids: Option<Bitmap>,
}

/// The longest prefix [`Chunks`] skips. Keys that share more still work: their words tie
/// and a lookup compares the tied chunks' first keys (a binary search, as without words).
const MAX_SHARED: usize = 32;

/// The 8 bytes of `key` from `from` on as a big-endian number, zero past the key's end. For
/// two keys with the same first `from` bytes, a smaller word means a smaller key (a shorter
/// key pads with the smallest byte), and equal words need the keys compared.
fn word(key: &[u8], from: usize) -> u64 {
    let tail = key.get(from..).unwrap_or_default();
    let mut bytes = [0u8; 8];
    let len = tail.len().min(8);
    bytes[..len].copy_from_slice(&tail[..len]);
    u64::from_be_bytes(bytes)
}

/// How many leading bytes `a` and `b` have in common.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The 4 bytes of `key` from `from` on as a big-endian number (the top half of its
/// [`word`]): an entry's hint in its chunk.
fn hint(key: &[u8], from: usize) -> u32 {
    (word(key, from) >> 32) as u32
}

/// Up to [`CHUNK`] keys in order, each with its id, inline in one allocation, and before
/// them each key's hint. A lookup counts the hints below its key's (two cache lines, no
/// branch per entry) and reads whole keys only where hints tie, so it touches the one or
/// two entries it needs instead of streaming the chunk's keys through string compares.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// [`hint`] of each entry's key from the list's shared prefix on, in step with
    /// `entries`; `u32::MAX` from `len` on, which is never below a key's hint.
    hints: [u32; CHUNK],
    len: usize,
    /// The entries below `len`; empty keys above it.
    entries: [(Key, Id); CHUNK],
}

impl Chunk {
    fn empty() -> Box<Chunk> {
        Box::new(Chunk { hints: [u32::MAX; CHUNK], len: 0, entries: std::array::from_fn(|_| Default::default()) })
    }

    fn len(&self) -> usize {
        self.len
    }

    fn entries(&self) -> &[(Key, Id)] {
        &self.entries[..self.len]
    }

    fn first(&self) -> &Key {
        &self.entries[0].0
    }

    /// Where `key` (whose hint is `hint`) is (`Ok`) or would go (`Err`).
    fn find(&self, key: &str, hint: u32) -> Result<usize, usize> {
        // Hints are in order, so the count below is the position; over the whole array (a
        // fixed length the compiler unrolls) rather than up to `len`.
        let mut at = self.hints.iter().filter(|&&probe| probe < hint).count();
        while at < self.len && self.hints[at] == hint {
            match self.entries[at].0.as_str().cmp(key) {
                std::cmp::Ordering::Less => at += 1,
                std::cmp::Ordering::Equal => return Ok(at),
                std::cmp::Ordering::Greater => break,
            }
        }
        Err(at)
    }

    fn insert(&mut self, at: usize, entry: (Key, Id), hint: u32) {
        debug_assert!(self.len < CHUNK && at <= self.len);
        self.entries[at..=self.len].rotate_right(1);
        self.hints[at..=self.len].rotate_right(1);
        self.entries[at] = entry;
        self.hints[at] = hint;
        self.len += 1;
    }

    fn push(&mut self, entry: (Key, Id), hint: u32) {
        self.insert(self.len, entry, hint);
    }

    /// Removes the entry at `at`: it and its hint.
    fn remove(&mut self, at: usize) -> ((Key, Id), u32) {
        debug_assert!(at < self.len);
        let removed = (std::mem::take(&mut self.entries[at]), self.hints[at]);
        self.entries[at..self.len].rotate_left(1);
        self.hints[at..self.len].rotate_left(1);
        self.len -= 1;
        self.hints[self.len] = u32::MAX;
        removed
    }

    fn pop(&mut self) -> ((Key, Id), u32) {
        self.remove(self.len - 1)
    }

    /// Moves the entries from `at` on into a new chunk.
    fn split_off(&mut self, at: usize) -> Box<Chunk> {
        let mut right = Chunk::empty();
        for from in at..self.len {
            right.entries[from - at] = std::mem::take(&mut self.entries[from]);
            right.hints[from - at] = std::mem::replace(&mut self.hints[from], u32::MAX);
        }
        right.len = self.len - at;
        self.len = at;
        right
    }

    /// Moves every entry of `right` (whose keys are all above this chunk's) to the end.
    fn append(&mut self, right: &mut Chunk) {
        debug_assert!(self.len + right.len <= CHUNK);
        for from in 0..right.len {
            self.entries[self.len + from] = std::mem::take(&mut right.entries[from]);
            self.hints[self.len + from] = right.hints[from];
        }
        self.len += right.len;
        right.len = 0;
    }

    /// The hints again, from `shared` bytes on (after the list's prefix shrank).
    fn rehint(&mut self, shared: usize) {
        for at in 0..self.len {
            self.hints[at] = hint(self.entries[at].0.as_bytes(), shared);
        }
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
        let shared = common_prefix(a.0.as_bytes(), b.0.as_bytes()).min(MAX_SHARED);
        let mut prefix = [0; MAX_SHARED];
        prefix[..shared].copy_from_slice(&a.0.as_bytes()[..shared]);
        let words = vec![word(a.0.as_bytes(), shared)];
        let mut chunk = Chunk::empty();
        for entry in [a, b] {
            let hint = hint(entry.0.as_bytes(), shared);
            chunk.push(entry, hint);
        }
        Chunks { chunks: vec![chunk], words, shared, prefix, len: 2, ids: None }
    }

    /// The bytes every key of the list starts with.
    fn prefix(&self) -> &[u8] {
        &self.prefix[..self.shared]
    }

    /// The chunk that holds `key` if anything does: the last whose first key is not above it.
    fn chunk_of(&self, key: &str) -> usize {
        let bytes = key.as_bytes();
        let prefix = self.prefix();
        if bytes.get(..prefix.len()) != Some(prefix) {
            // Without the list's prefix the key sorts before every key of the list or after
            // every one.
            return if bytes < prefix { 0 } else { self.chunks.len() - 1 };
        }
        let word = word(bytes, self.shared);
        let below = self.words.partition_point(|&first| first < word);
        // Mostly no chunk or one ties: look at a few before searching.
        let after = &self.words[below..];
        let ties = match after.iter().take(4).position(|&first| first != word) {
            Some(ties) => ties,
            None => after.partition_point(|&first| first == word),
        };
        let tied = &self.chunks[below..below + ties];
        (below + tied.partition_point(|chunk| chunk.first().as_str() <= key)).saturating_sub(1)
    }

    /// The word of chunk `at`'s first key, after that key changed.
    fn reword(&mut self, at: usize) {
        self.words[at] = word(self.chunks[at].first().as_bytes(), self.shared);
    }

    /// Makes room for `key` in the list's prefix: fewer shared bytes, every word and hint
    /// again (a list's prefix only shrinks, at most [`MAX_SHARED`] times).
    fn share_with(&mut self, key: &[u8]) {
        let prefix = self.prefix();
        if key.starts_with(prefix) {
            return;
        }
        self.shared = common_prefix(prefix, key);
        for at in 0..self.chunks.len() {
            self.chunks[at].rehint(self.shared);
            self.reword(at);
        }
    }

    /// Where `key` is (`Ok`) or would go (`Err`).
    fn find(&self, key: &str) -> Result<At, At> {
        let chunk = self.chunk_of(key);
        // A key without the list's prefix has no hint in it: it goes before or after every
        // entry of the chunk `chunk_of` chose.
        let hint = match key.as_bytes().starts_with(self.prefix()) {
            true => hint(key.as_bytes(), self.shared),
            false if key.as_bytes() < self.prefix() => 0,
            false => u32::MAX,
        };
        match self.chunks[chunk].find(key, hint) {
            Ok(offset) => Ok(At { chunk, offset }),
            Err(offset) => Err(At { chunk, offset }),
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
        self.share_with(key.as_bytes());
        self.place(chunk, offset, (key.clone(), id), population);
    }

    /// Puts `entry` at `offset` of `chunk` (where [`find`](Self::find) says it goes), with
    /// the directory's words following whichever chunk's first key changes.
    fn place(&mut self, chunk: usize, offset: usize, entry: (Key, Id), population: usize) {
        self.len += 1;
        match &mut self.ids {
            Some(ids) => ids.insert(entry.1),
            None if self.len > CHUNK && self.len * DENSE >= population => {
                let mut ids = Bitmap::default();
                self.chunks.iter().flat_map(|chunk| chunk.entries()).for_each(|(_, id)| ids.insert(*id));
                ids.insert(entry.1);
                self.ids = Some(ids);
            }
            None => {}
        }
        let hint = hint(entry.0.as_bytes(), self.shared);
        let last_chunk = chunk + 1 == self.chunks.len();
        let target = &mut self.chunks[chunk];
        if target.len() < CHUNK {
            target.insert(offset, entry, hint);
            if offset == 0 {
                self.reword(chunk);
            }
            return;
        }
        // Full. A neighbour with room takes the entry at this chunk's edge: a split moves
        // the directory, so chunks filled in key order and then written anywhere split
        // once per pair of neighbours, not once per write.
        if chunk > 0 && self.chunks[chunk - 1].len() < CHUNK {
            let (left, right) = self.chunks.split_at_mut(chunk);
            let (left, target) = (&mut left[chunk - 1], &mut right[0]);
            if offset == 0 {
                left.push(entry, hint);
            } else {
                let (moved, moved_hint) = target.remove(0);
                left.push(moved, moved_hint);
                target.insert(offset - 1, entry, hint);
                self.reword(chunk);
            }
            return;
        }
        if chunk + 1 < self.chunks.len() && self.chunks[chunk + 1].len() < CHUNK {
            let (left, right) = self.chunks.split_at_mut(chunk + 1);
            let (target, next) = (&mut left[chunk], &mut right[0]);
            if offset == CHUNK {
                next.insert(0, entry, hint);
            } else {
                let (moved, moved_hint) = target.pop();
                next.insert(0, moved, moved_hint);
                target.insert(offset, entry, hint);
                if offset == 0 {
                    self.reword(chunk);
                }
            }
            self.reword(chunk + 1);
            return;
        }
        // Appending after the last key starts a new chunk (lists filled in key order stay
        // full); anywhere else the chunk splits in two halves.
        if last_chunk && offset == CHUNK {
            let mut next = Chunk::empty();
            next.push(entry, hint);
            self.chunks.push(next);
            self.words.push(0);
            self.reword(chunk + 1);
            return;
        }
        let target = &mut self.chunks[chunk];
        let mut right = target.split_off(CHUNK / 2);
        if offset <= CHUNK / 2 {
            target.insert(offset, entry, hint);
        } else {
            right.insert(offset - CHUNK / 2, entry, hint);
        }
        self.chunks.insert(chunk + 1, right);
        self.words.insert(chunk + 1, 0);
        self.reword(chunk + 1);
        if offset == 0 {
            self.reword(chunk);
        }
    }

    /// Removes `key` if present.
    fn remove(&mut self, key: &str, population: usize) {
        let Ok(At { chunk, offset }) = self.find(key) else { return };
        self.len -= 1;
        let target = &mut self.chunks[chunk];
        let ((_, id), _) = target.remove(offset);
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
            self.words.remove(chunk);
            return;
        }
        if offset == 0 {
            self.reword(chunk);
        }
        // A chunk that fell to a quarter joins its right neighbour when both fit in one, so
        // that a list that shrinks does not keep a chunk per key.
        let len = self.chunks[chunk].len();
        if len < CHUNK / 4 && self.chunks.get(chunk + 1).is_some_and(|right| len + right.len() <= CHUNK / 2) {
            let mut right = self.chunks.remove(chunk + 1);
            self.words.remove(chunk + 1);
            self.chunks[chunk].append(&mut right);
        }
    }

    fn contains_id(&self, id: Id) -> bool {
        match &self.ids {
            Some(ids) => ids.contains(id),
            None => self.chunks.iter().flat_map(|chunk| chunk.entries()).any(|(_, here)| *here == id),
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
                    let (key, id) = chunks.chunks[0].entries()[0].clone();
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
    Many { chunks: &'a [Box<Chunk>], at: At },
}

impl<'a> Iterator for Keys<'a> {
    type Item = (&'a Key, Id);

    fn next(&mut self) -> Option<(&'a Key, Id)> {
        match self {
            Keys::One(one) => one.take(),
            Keys::Many { chunks, at } => {
                let chunk = chunks.get(at.chunk)?;
                let (key, id) = &chunk.entries()[at.offset];
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
mod tests;

//! The key space: entries in 16 shards, each behind its own reader-writer lock.
//!
//! Why shards: a read takes one shard's read lock, so reads on different shards never touch
//! the same lock word and scale across cores, and a write holds only the shard it changes, so
//! a reader never waits for a whole write request, only (rarely) for one shard's in-place
//! update. Multi-key reads (scans, counts, bulk gets) read-lock every shard in ascending order
//! and so see a consistent state; writers lock the shards a request needs, also ascending,
//! before changing anything (see `ShardMask`), so a multi-key write is all-or-nothing to
//! readers. Locks are always taken shards-first (ascending), then the coordination lock.
//!
//! Within a shard: a slab of entries (one cache line each), a hash index of slots (one
//! 8-byte cell per bucket, see `index.rs`) and an ordered index of slots (about 6 bytes per
//! key). Keys live once, in the entry.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::deadline::Entries;
use super::index::Index;
use super::order::{Order, Position};
use super::range::KeyRange;
use super::slab::Slab;
use crate::search::index::SearchIndex;
use crate::search::postings::{id_of, shard_and_slot, Id};
use crate::{Entry, Key};

pub(crate) const SHARD_COUNT: usize = 16;

/// Keeps each shard's lock word on its own cache line.
#[repr(align(128))]
#[derive(Debug)]
struct Padded<T>(T);

#[derive(Debug, Default)]
pub(crate) struct Shard {
    index: Index,
    slab: Slab<Entry>,
    order: Order,
    /// Key and value bytes of the entries held.
    bytes: u64,
}

/// The search index's name for the entry in `slot` of the shard of `hash`.
fn search_id(hash: u64, slot: u32) -> Id {
    id_of(KeySpace::shard_of(hash), slot)
}

/// The entry a search index id names, among every shard (read-locked, in shard order).
pub(crate) fn entry_of<'a>(shards: &[&'a Shard], id: Id) -> &'a Entry {
    let (shard, slot) = shard_and_slot(id);
    shards[shard].slab.get(slot)
}

/// Starts loading the entry a search index id names (see `crate::prefetch`).
#[inline]
pub(crate) fn prefetch_entry(shards: &[&Shard], id: Id) {
    let (shard, slot) = shard_and_slot(id);
    shards[shard].slab.prefetch(slot);
}

/// The bytes an entry's key and value take, for the store's size and its quota.
pub(crate) fn size_of(entry: &Entry) -> u64 {
    (entry.key.len() + entry.value.len()) as u64
}

impl Shard {
    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    fn find(&self, hash: u64, key: &str) -> Option<u32> {
        self.index.find(hash, |slot| self.slab.get(slot).key.as_str() == key)
    }

    #[inline]
    pub(crate) fn lookup(&self, hash: u64, key: &str) -> Option<&Entry> {
        self.find(hash, key).map(|slot| self.slab.get(slot))
    }

    fn seek(&self, key: &str, after: bool) -> Position {
        let slab = &self.slab;
        self.order.seek(key, after, |slot| slab.get(slot).key.as_str())
    }

    fn start_at(&self, start: Start<'_>) -> Position {
        match start {
            Start::First => self.order.start(),
            Start::At(key) => self.seek(key, false),
            Start::After(key) => self.seek(key, true),
        }
    }

    /// Starts loading what a lookup of `hash` reads first: its index cell.
    #[inline]
    pub(crate) fn prefetch_probe(&self, hash: u64) {
        self.index.prefetch(hash);
    }

    /// Starts loading what a lookup of `hash` reads next: the entry its index cell names
    /// (after `prefetch_probe`, once that cell is likely loaded).
    #[inline]
    pub(crate) fn prefetch_candidate(&self, hash: u64) {
        if let Some(slot) = self.index.candidate(hash) {
            self.slab.prefetch(slot);
        }
    }

    /// How many keys of this shard lie in `range` (expired ones included).
    pub(crate) fn count_in(&self, range: &KeyRange) -> usize {
        let from = match range.start() {
            Some(start) => self.seek(start, false),
            None => self.order.start(),
        };
        let to = match range {
            KeyRange::All => self.order.end(),
            KeyRange::Prefix(prefix) => match prefix_successor(prefix) {
                Some(end) => self.seek(&end, false),
                None => self.order.end(),
            },
            KeyRange::Between { end: Some(end), .. } => self.seek(end, false),
            KeyRange::Between { end: None, .. } => self.order.end(),
        };
        self.order.count_between(from, to)
    }
}

/// The smallest string greater than every string starting with `prefix`, if there is one.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..0xE000).contains(&next) {
            next = 0xE000;
        }
        if let Some(next) = char::from_u32(next) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Where an ordered walk starts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Start<'a> {
    First,
    At(&'a str),
    After(&'a str),
}

impl<'a> Start<'a> {
    /// The start of a walk over `range`, resuming after `after` when paging.
    pub(crate) fn of(range: &'a KeyRange, after: Option<&'a str>) -> Start<'a> {
        match (range.start(), after) {
            (Some(start), Some(after)) if after < start => Start::At(start),
            (_, Some(after)) => Start::After(after),
            (Some(start), None) => Start::At(start),
            (None, None) => Start::First,
        }
    }
}

/// Which shards a write request locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ShardMask(u32);

impl ShardMask {
    pub(crate) const NONE: ShardMask = ShardMask(0);
    pub(crate) const ALL: ShardMask = ShardMask((1 << SHARD_COUNT) - 1);

    pub(crate) fn with(self, index: usize) -> ShardMask {
        ShardMask(self.0 | (1 << index))
    }

    fn contains(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }
}

#[derive(Debug)]
pub(crate) struct KeySpace {
    shards: Box<[Padded<RwLock<Shard>>]>,
    hasher: foldhash::fast::RandomState,
    /// Entries and their key and value bytes over every shard, kept by the one writer as it
    /// changes them: what a quota is checked against without locking every shard.
    totals: Totals,
    /// The search index of the entries (see `search::index`). The writer changes it while
    /// it holds the changed key's shard; a reader locks it only after read-locking every
    /// shard, so both see it agree with the entries.
    pub(crate) search: RwLock<SearchIndex>,
}

#[derive(Debug, Default)]
struct Totals {
    keys: AtomicU64,
    bytes: AtomicU64,
}

impl Default for KeySpace {
    fn default() -> Self {
        KeySpace {
            shards: (0..SHARD_COUNT).map(|_| Padded(RwLock::new(Shard::default()))).collect(),
            hasher: foldhash::fast::RandomState::default(),
            totals: Totals::default(),
            search: RwLock::new(SearchIndex::default()),
        }
    }
}

impl KeySpace {
    #[inline]
    pub(crate) fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard of a hash. Uses bits 40..44; the index uses the low 32 bits, so sharding
    /// does not weaken it.
    pub(crate) fn shard_of(hash: u64) -> usize {
        ((hash >> 40) as usize) & (SHARD_COUNT - 1)
    }

    pub(crate) fn mask_of(&self, key: &str) -> ShardMask {
        ShardMask::NONE.with(KeySpace::shard_of(self.hash(key)))
    }

    #[inline]
    pub(crate) fn read(&self, hash: u64) -> RwLockReadGuard<'_, Shard> {
        self.shards[KeySpace::shard_of(hash)].0.read()
    }

    /// Read-locks the shards in `mask`, in ascending order (indexed by shard; `None` for
    /// the others): a consistent view of the keys they hold.
    pub(crate) fn read_shards(&self, mask: ShardMask) -> Vec<Option<RwLockReadGuard<'_, Shard>>> {
        self.shards.iter().enumerate().map(|(index, shard)| mask.contains(index).then(|| shard.0.read())).collect()
    }

    /// Reads entries by id for the deadlines (each must exist): every shard is read-locked on
    /// the first read, and stays locked until the reader is dropped.
    pub(crate) fn entry_reader(&self) -> EntryReader<'_> {
        EntryReader { space: self, guards: None }
    }

    /// Read-locks every shard, in ascending order: a consistent view of all keys.
    pub(crate) fn read_all(&self) -> Vec<RwLockReadGuard<'_, Shard>> {
        self.shards.iter().map(|shard| shard.0.read()).collect()
    }

    /// Write-locks the shards in `mask`, in ascending order.
    pub(crate) fn lock(&self, mask: ShardMask) -> ShardsMut<'_> {
        let locked = match mask.0.count_ones() {
            0 => Locked::Nothing,
            // Most writes touch one key: lock its shard without building the whole array.
            1 => {
                let index = mask.0.trailing_zeros() as usize;
                Locked::One(index, self.shards[index].0.write())
            }
            _ => Locked::Many(Box::new(std::array::from_fn(|index| {
                mask.contains(index).then(|| self.shards[index].0.write())
            }))),
        };
        ShardsMut { space: self, locked }
    }

    /// Number of keys (expired but not yet swept included); a racy sum, for status.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.0.read().len()).sum()
    }

    /// Key and value bytes held (expired but not yet swept included); a racy sum, for status.
    pub(crate) fn bytes(&self) -> u64 {
        self.shards.iter().map(|shard| shard.0.read().bytes).sum()
    }

    /// Entries and their key and value bytes, as of the last change the writer made
    /// (exact for the writer, which alone changes them).
    pub(crate) fn totals(&self) -> (u64, u64) {
        (self.totals.keys.load(Ordering::Relaxed), self.totals.bytes.load(Ordering::Relaxed))
    }

    fn add_totals(&self, keys: i64, bytes: i64) {
        let Totals { keys: all_keys, bytes: all_bytes } = &self.totals;
        all_keys.store(all_keys.load(Ordering::Relaxed).wrapping_add_signed(keys), Ordering::Relaxed);
        all_bytes.store(all_bytes.load(Ordering::Relaxed).wrapping_add_signed(bytes), Ordering::Relaxed);
    }
}

/// Where a key's entry is in its shard (or is not): see [`ShardsMut::spot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Spot {
    hash: u64,
    slot: Option<u32>,
}

/// The deadlines' reader of entries outside a write (`KeySpace::entry_reader`).
pub(crate) struct EntryReader<'a> {
    space: &'a KeySpace,
    guards: Option<Vec<RwLockReadGuard<'a, Shard>>>,
}

impl EntryReader<'_> {
    fn entry(&mut self, id: Id) -> &Entry {
        let space = self.space;
        let guards = self.guards.get_or_insert_with(|| space.read_all());
        let (shard, slot) = shard_and_slot(id);
        guards[shard].slab.get(slot)
    }
}

impl Entries for EntryReader<'_> {
    fn key(&mut self, id: Id) -> Key {
        self.entry(id).key.clone()
    }

    fn expires_at(&mut self, id: Id) -> Option<u64> {
        self.entry(id).expires_at_millis()
    }
}

/// Inside a write that locked every shard (the sweep).
impl Entries for ShardsMut<'_> {
    fn key(&mut self, id: Id) -> Key {
        self.entry_at(id).key.clone()
    }

    fn expires_at(&mut self, id: Id) -> Option<u64> {
        self.entry_at(id).expires_at_millis()
    }
}

/// Write access to the shards a request locked.
pub(crate) struct ShardsMut<'a> {
    space: &'a KeySpace,
    locked: Locked<'a>,
}

type Guards<'a> = [Option<RwLockWriteGuard<'a, Shard>>; SHARD_COUNT];

enum Locked<'a> {
    Nothing,
    One(usize, RwLockWriteGuard<'a, Shard>),
    Many(Box<Guards<'a>>),
}

const NOT_LOCKED: &str = "the request locked this key's shard";

impl Drop for ShardsMut<'_> {
    /// Shards a request locked together (a sweep chunk, a clear, a transaction over several
    /// shards) are handed to the readers waiting for them, if any: let go the ordinary way,
    /// the writer's next chunk would take them back before a woken reader runs, and a reader
    /// could wait out many chunks (14 ms during a sweep of 1M keys, chunks of 2.5 ms).
    fn drop(&mut self) {
        if let Locked::Many(guards) = &mut self.locked {
            for guard in guards.iter_mut().filter_map(Option::take) {
                RwLockWriteGuard::unlock_fair(guard);
            }
        }
    }
}

impl ShardsMut<'_> {
    fn shard(&self, hash: u64) -> &Shard {
        self.shard_at(KeySpace::shard_of(hash))
    }

    fn shard_at(&self, index: usize) -> &Shard {
        match &self.locked {
            Locked::One(locked, guard) if *locked == index => guard,
            Locked::Many(guards) => guards[index].as_deref().expect(NOT_LOCKED),
            _ => panic!("{NOT_LOCKED}"),
        }
    }

    fn shard_mut(&mut self, hash: u64) -> &mut Shard {
        let index = KeySpace::shard_of(hash);
        match &mut self.locked {
            Locked::One(locked, guard) if *locked == index => guard,
            Locked::Many(guards) => guards[index].as_deref_mut().expect(NOT_LOCKED),
            _ => panic!("{NOT_LOCKED}"),
        }
    }

    fn every_shard(&self) -> impl Iterator<Item = &Shard> {
        let Locked::Many(guards) = &self.locked else { panic!("the request locked every shard") };
        guards.iter().map(|guard| guard.as_deref().expect("the request locked every shard"))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        let hash = self.space.hash(key);
        self.shard(hash).lookup(hash, key)
    }

    /// Where `key`'s entry is, or would go: for a write that reads the entry and then
    /// replaces it (a put), so that it hashes the key and probes the index once.
    pub(crate) fn spot(&self, key: &str) -> Spot {
        let hash = self.space.hash(key);
        Spot { hash, slot: self.shard(hash).find(hash, key) }
    }

    /// The entry at `spot`.
    pub(crate) fn at(&self, spot: Spot) -> Option<&Entry> {
        spot.slot.map(|slot| self.shard(spot.hash).slab.get(slot))
    }

    /// Inserts or replaces the entry for its key; returns the one it replaced and the
    /// entry's id (see `search::postings::Id`; a replaced entry keeps its id).
    pub(crate) fn set(&mut self, entry: Entry) -> (Option<Entry>, Id) {
        let spot = self.spot(&entry.key);
        self.set_at(spot, entry)
    }

    /// [`set`](Self::set) at the `spot` of the entry's key, found in this write with
    /// nothing changed since.
    pub(crate) fn set_at(&mut self, spot: Spot, entry: Entry) -> (Option<Entry>, Id) {
        debug_assert_eq!(spot, self.spot(&entry.key), "a stale spot");
        let Spot { hash, slot } = spot;
        let space = self.space;
        let shard = self.shard_mut(hash);
        let size = size_of(&entry);
        shard.bytes += size;
        if let Some(slot) = slot {
            let old = std::mem::replace(shard.slab.get_mut(slot), entry);
            shard.bytes -= size_of(&old);
            space.add_totals(0, size as i64 - size_of(&old) as i64);
            let new = shard.slab.get(slot);
            if SearchIndex::affected(Some(&old), Some(new)) {
                space.search.write().replace(Some(&old), Some(new), search_id(hash, slot));
            }
            return (Some(old), search_id(hash, slot));
        }
        space.add_totals(1, size as i64);
        let Shard { index, slab, order, .. } = shard;
        let slot = slab.insert(entry);
        index.insert(hash, slot);
        order.insert(slot, slab.get(slot).key.as_str(), |other| slab.get(other).key.as_str());
        let new = slab.get(slot);
        if SearchIndex::affected(None, Some(new)) {
            space.search.write().replace(None, Some(new), search_id(hash, slot));
        }
        (None, search_id(hash, slot))
    }

    /// Changes an entry in place without changing its key.
    pub(crate) fn update<T>(&mut self, key: &str, change: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        let hash = self.space.hash(key);
        let space = self.space;
        let shard = self.shard_mut(hash);
        let slot = shard.find(hash, key)?;
        let entry = shard.slab.get_mut(slot);
        // Only tagged attributes matter to the index: keep them to compare (most updates, a
        // TTL change of a plain entry, keep nothing).
        let tagged_before = entry.attrs.is_tagged().then(|| entry.attrs.clone());
        let result = change(entry);
        if tagged_before.is_some() || entry.attrs.is_tagged() {
            let before = Entry { attrs: tagged_before.unwrap_or_default(), ..entry.clone() };
            if SearchIndex::affected(Some(&before), Some(entry)) {
                space.search.write().replace(Some(&before), Some(entry), search_id(hash, slot));
            }
        }
        Some(result)
    }

    /// Removes the key's entry; returns it and the id it had.
    pub(crate) fn remove(&mut self, key: &str) -> Option<(Entry, Id)> {
        let hash = self.space.hash(key);
        let space = self.space;
        let shard = self.shard_mut(hash);
        let Shard { index, slab, order, bytes } = shard;
        let slot = index.remove(hash, |slot| slab.get(slot).key.as_str() == key)?;
        order.remove(slot, key, |other| slab.get(other).key.as_str());
        let old = slab.remove(slot);
        *bytes -= size_of(&old);
        space.add_totals(-1, -(size_of(&old) as i64));
        if SearchIndex::affected(Some(&old), None) {
            space.search.write().replace(Some(&old), None, search_id(hash, slot));
        }
        Some((old, search_id(hash, slot)))
    }

    /// The id of the key's entry.
    pub(crate) fn id_of(&self, key: &str) -> Option<Id> {
        let hash = self.space.hash(key);
        self.shard(hash).find(hash, key).map(|slot| search_id(hash, slot))
    }

    /// The entry `id` names (it must exist); its shard must be locked.
    pub(crate) fn entry_at(&self, id: Id) -> &Entry {
        let (shard, slot) = shard_and_slot(id);
        self.shard_at(shard).slab.get(slot)
    }

    /// The keys in `range`, in order. Needs every shard locked.
    pub(crate) fn keys_in(&self, range: &KeyRange) -> Vec<Key> {
        let shards: Vec<&Shard> = self.every_shard().collect();
        Merge::new(&shards, Start::of(range, None))
            .take_while(|entry| !range.is_past(&entry.key))
            .filter(|entry| range.contains(&entry.key))
            .map(|entry| entry.key.clone())
            .collect()
    }

    /// Drops every entry (used when a store shuts down or is restored). Needs every shard.
    pub(crate) fn clear_all(&mut self) {
        let Locked::Many(guards) = &mut self.locked else { panic!("the request locked every shard") };
        for guard in guards.iter_mut() {
            let shard = guard.as_deref_mut().expect("the request locked every shard");
            shard.index.clear();
            shard.slab.clear();
            shard.order.clear();
            shard.bytes = 0;
        }
        self.space.totals.keys.store(0, Ordering::Relaxed);
        self.space.totals.bytes.store(0, Ordering::Relaxed);
        self.space.search.write().clear();
    }
}

/// Entries of several shards in key order (a k-way merge of their ordered indexes).
pub(crate) struct Merge<'a> {
    shards: Vec<(&'a Shard, Position)>,
    heap: BinaryHeap<Reverse<(&'a str, usize)>>,
}

impl<'a> Merge<'a> {
    pub(crate) fn new(shards: &[&'a Shard], start: Start<'_>) -> Merge<'a> {
        let mut merge =
            Merge { shards: Vec::with_capacity(shards.len()), heap: BinaryHeap::with_capacity(shards.len()) };
        for (index, shard) in shards.iter().enumerate() {
            let position = shard.start_at(start);
            merge.shards.push((shard, position));
            merge.push(index);
        }
        merge
    }

    fn push(&mut self, index: usize) {
        let (shard, position) = self.shards[index];
        if let Some(slot) = shard.order.at(position) {
            self.heap.push(Reverse((shard.slab.get(slot).key.as_str(), index)));
        }
    }
}

impl<'a> Merge<'a> {
    /// The next entry with its search index id (the shards are every shard, in order).
    pub(crate) fn next_with_id(&mut self) -> Option<(&'a Entry, Id)> {
        let Reverse((_, index)) = self.heap.pop()?;
        let (shard, position) = self.shards[index];
        let slot = shard.order.at(position).expect("the heap only holds live positions");
        self.shards[index].1 = shard.order.next(position);
        self.push(index);
        Some((shard.slab.get(slot), id_of(index, slot)))
    }
}

impl<'a> Iterator for Merge<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        self.next_with_id().map(|(entry, _)| entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::AttrsRef;
    use crate::Value;

    fn entry(key: &str) -> Entry {
        Entry {
            key: Key::from(key),
            value: Value::from(key),
            version: 1,
            create_revision: 1,
            mod_revision: 1,
            attrs: AttrsRef::NONE,
        }
    }

    #[test]
    fn set_get_remove_and_ordered_walks_across_shards() {
        let space = KeySpace::default();
        let mut keys = space.lock(ShardMask::ALL);
        for i in (0..2000).rev() {
            assert!(keys.set(entry(&format!("k{i:04}"))).0.is_none());
        }
        let (replaced, id) = keys.set(entry("k0005"));
        assert!(replaced.is_some());
        assert_eq!((keys.id_of("k0005"), &keys.entry_at(id).key), (Some(id), &Key::from("k0005")));
        assert_eq!(keys.remove("k0007").unwrap().0.key, "k0007");
        assert!(keys.remove("k0007").is_none());
        assert_eq!(keys.get("k1999").unwrap().value, "k1999");
        let range = KeyRange::between("k0005", "k0010");
        let found: Vec<String> = keys.keys_in(&range).iter().map(|key| key.to_string()).collect();
        assert_eq!(found, ["k0005", "k0006", "k0008", "k0009"]);
        drop(keys);
        assert_eq!(space.len(), 1999);
        // Every key here is its own value: 5 + 5 bytes each.
        assert_eq!(space.bytes(), 1999 * 10);
        let mut keys = space.lock(ShardMask::ALL);
        keys.set(Entry { value: Value::from("a longer value"), ..entry("k0001") });
        drop(keys);
        assert_eq!(space.bytes(), 1998 * 10 + 5 + 14);
        let guards = space.read_all();
        let shards: Vec<&Shard> = guards.iter().map(|guard| &**guard).collect();
        let counted: usize = shards.iter().map(|shard| shard.count_in(&KeyRange::prefix("k01"))).sum();
        assert_eq!(counted, 100);
        let after: Vec<&str> = Merge::new(&shards, Start::After("k1997")).map(|entry| entry.key.as_str()).collect();
        assert_eq!(after, ["k1998", "k1999"]);
        drop(guards);
        space.lock(ShardMask::ALL).clear_all();
        assert_eq!((space.len(), space.bytes()), (0, 0));
    }

    #[test]
    fn prefix_successor_handles_the_top_of_the_alphabet() {
        assert_eq!(prefix_successor("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_successor(""), None);
    }
}

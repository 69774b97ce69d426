//! Reads: served from [`State`] under shard read locks, never behind the writer. An entry
//! whose TTL or lease has run out is invisible even before the sweep removes it.

use std::time::Duration;

use parking_lot::RwLockReadGuard;

use super::command::{Query, Reply, StoreStats};
use super::keyspace::{KeySpace, Merge, Shard, ShardMask, Start};
use super::kv::{KeyTtl, Page};
use super::range::KeyRange;
use super::{counter, lease, lock, Coordination, State};
use crate::limits::{self, DEFAULT_SCAN_LIMIT, MAX_SCAN_LIMIT};
use crate::{Entry, Error, Key, Result, Timestamp};

/// The coordination tables, read-locked on first need (after the shards).
pub(crate) struct CoordRead<'a> {
    state: &'a State,
    guard: Option<RwLockReadGuard<'a, Coordination>>,
}

impl<'a> CoordRead<'a> {
    pub(crate) fn new(state: &'a State) -> CoordRead<'a> {
        CoordRead { state, guard: None }
    }

    fn get(&mut self) -> &Coordination {
        let state = self.state;
        self.guard.get_or_insert_with(|| state.coord.read())
    }

    /// Whether `entry` is visible at `now`.
    pub(crate) fn visible(&mut self, entry: &Entry, now: u64) -> bool {
        if !entry.attrs.is_some() {
            return true;
        }
        if entry.attrs.expires_at().is_some_and(|at| at <= now) {
            return false;
        }
        entry.lease().is_none_or(|lease| self.get().lease_alive(lease, now))
    }
}

impl State {
    pub(crate) fn query(&self, query: Query, now: impl Fn() -> u64) -> Result<Reply> {
        Ok(match query {
            Query::Get { key } => Reply::Entry(self.get(&key, now)?),
            Query::GetMany { keys } => Reply::Entries(self.read_many(&keys, now, |entry| entry.cloned())?),
            Query::Scan { range, after, limit } => Reply::Page(self.scan(&range, after.as_deref(), limit, now())?),
            Query::Count { range } => Reply::Count(self.count(&range, now())?),
            Query::Ttl { key } => Reply::Ttl(self.ttl(&key, now())?),
            Query::Lease { lease: id } => Reply::MaybeLease(lease::info(&self.coord.read(), id, now())),
            Query::Leases => Reply::Leases(lease::list(&self.coord.read(), now())),
            Query::Lock { name } => {
                limits::check_name_like("lock name", &name)?;
                Reply::LockInfo(lock::info(&self.coord.read(), &name))
            }
            Query::Counter { name } => {
                limits::check_name_like("counter name", &name)?;
                Reply::Counter(counter::get(&self.coord.read(), &name, now()))
            }
            Query::Stats => Reply::Stats(self.stats()),
            Query::Search(request) => Reply::Search(self.search(&request, now())?),
        })
    }

    /// The entry for `key`, if it exists and has not expired. The clock is only read when
    /// the entry has a TTL or a lease.
    pub(crate) fn get(&self, key: &str, now: impl Fn() -> u64) -> Result<Option<Entry>> {
        self.read_entry(key, now, Entry::clone)
    }

    /// Hands `key`'s entry, if visible, to `read` while its shard is read-locked (no copy of
    /// the entry is made unless `read` makes one).
    #[inline]
    pub(crate) fn read_entry<R>(
        &self,
        key: &str,
        now: impl Fn() -> u64,
        read: impl FnOnce(&Entry) -> R,
    ) -> Result<Option<R>> {
        limits::check_key(key)?;
        let hash = self.keys.hash(key);
        let shard = self.keys.read(hash);
        let Some(entry) = shard.lookup(hash, key) else {
            return Ok(None);
        };
        if entry.attrs.is_some() && !CoordRead::new(self).visible(entry, now()) {
            return Ok(None);
        }
        Ok(Some(read(entry)))
    }

    /// Hands each key's entry (`None` when missing or expired) to `read`, in the order of
    /// `keys`, all read at one revision: every shard they live in is read-locked (ascending)
    /// before the first is read. Each key's index cell, then its entry, is asked for before
    /// any is read, so their cache misses overlap instead of following each other.
    pub(crate) fn read_many<K: AsRef<str>, R>(
        &self,
        keys: &[K],
        now: impl Fn() -> u64,
        mut read: impl FnMut(Option<&Entry>) -> R,
    ) -> Result<Vec<R>> {
        limits::check_batch("get_many", keys.len())?;
        for key in keys {
            limits::check_key(key.as_ref())?;
        }
        let hashes: Vec<u64> = keys.iter().map(|key| self.keys.hash(key.as_ref())).collect();
        let mask = hashes.iter().fold(ShardMask::NONE, |mask, hash| mask.with(KeySpace::shard_of(*hash)));
        let guards = self.keys.read_shards(mask);
        let shard = |hash: u64| guards[KeySpace::shard_of(hash)].as_deref().expect("the key's shard is locked");
        for hash in &hashes {
            shard(*hash).prefetch_probe(*hash);
        }
        for hash in &hashes {
            shard(*hash).prefetch_candidate(*hash);
        }
        let mut coord = CoordRead::new(self);
        let mut at = None;
        let found = keys.iter().zip(&hashes).map(|(key, hash)| {
            let entry = shard(*hash)
                .lookup(*hash, key.as_ref())
                .filter(|entry| !entry.attrs.is_some() || coord.visible(entry, *at.get_or_insert_with(&now)));
            read(entry)
        });
        Ok(found.collect())
    }

    pub(crate) fn scan(&self, range: &KeyRange, after: Option<&str>, limit: Option<usize>, now: u64) -> Result<Page> {
        range.check()?;
        let limit = limit.unwrap_or(DEFAULT_SCAN_LIMIT);
        if limit == 0 || limit > MAX_SCAN_LIMIT {
            return Err(Error::invalid(format!("scan limit must be 1 to {MAX_SCAN_LIMIT}, got {limit}")));
        }
        let guards = self.keys.read_all();
        let revision = self.revision();
        let shards: Vec<&Shard> = guards.iter().map(|guard| &**guard).collect();
        let mut coord = CoordRead::new(self);
        let mut entries: Vec<Entry> = Vec::with_capacity(limit.min(1024));
        let mut next = None;
        for entry in Merge::new(&shards, Start::of(range, after)) {
            if range.is_past(&entry.key) {
                break;
            }
            if !range.contains(&entry.key) || !coord.visible(entry, now) {
                continue;
            }
            if entries.len() == limit {
                next = entries.last().map(|last| last.key.clone());
                break;
            }
            entries.push(entry.clone());
        }
        Ok(Page { entries, next, revision })
    }

    /// Every visible entry in `range`, in order (watch snapshots).
    pub(crate) fn entries_in(&self, range: &KeyRange, now: u64) -> Vec<Entry> {
        let guards = self.keys.read_all();
        let shards: Vec<&Shard> = guards.iter().map(|guard| &**guard).collect();
        let mut coord = CoordRead::new(self);
        Merge::new(&shards, Start::of(range, None))
            .take_while(|entry| !range.is_past(&entry.key))
            .filter(|entry| range.contains(&entry.key) && coord.visible(entry, now))
            .cloned()
            .collect()
    }

    pub(crate) fn count(&self, range: &KeyRange, now: u64) -> Result<u64> {
        range.check()?;
        let guards = self.keys.read_all();
        let shards: Vec<&Shard> = guards.iter().map(|guard| &**guard).collect();
        if now < self.next_deadline() {
            // Nothing is due yet, so nothing in the index has expired: count by position.
            return Ok(shards.iter().map(|shard| shard.count_in(range) as u64).sum());
        }
        let mut coord = CoordRead::new(self);
        let visible = Merge::new(&shards, Start::of(range, None))
            .take_while(|entry| !range.is_past(&entry.key))
            .filter(|entry| range.contains(&entry.key) && coord.visible(entry, now))
            .count();
        Ok(visible as u64)
    }

    pub(crate) fn ttl(&self, key: &Key, now: u64) -> Result<KeyTtl> {
        let Some(entry) = self.get(key, || now)? else {
            return Ok(KeyTtl::Missing);
        };
        Ok(match entry.expires_at_millis() {
            None => KeyTtl::Persistent,
            Some(at) => KeyTtl::Expires {
                at: Timestamp::from_unix_millis(at),
                remaining: Duration::from_millis(at.saturating_sub(now)),
            },
        })
    }

    pub(crate) fn stats(&self) -> StoreStats {
        // The shards before the coordination lock, the order writers take them in: holding
        // the coordination table while waiting for a shard deadlocked with a restore.
        let keys = self.keys.len() as u64;
        let bytes = self.keys.bytes();
        let coord = self.coord.read();
        StoreStats {
            revision: self.revision(),
            compacted_revision: self.compacted(),
            keys,
            bytes,
            leases: coord.leases.len() as u64,
            locks: coord.locks.len() as u64,
            counters: coord.counters.len() as u64,
        }
    }
}

//! Key operations: put, get, delete, bulk and batch, scan, count, clear, TTL.

use std::time::Duration;

use super::call::{Op, Request, Sealed};
use super::Store;
use crate::limits::duration_to_ms;
use crate::state::command::{Command, Query};
use crate::{
    BatchOp, ClearResult, DeleteItem, DeleteOptions, DeleteResult, Entry, Key, KeyRange, KeyTtl, Label, LeaseId,
    LockGuard, OpResult, Page, PutItem, PutOptions, PutResult, Result, Value,
};

/// Implements [`Request`] for a type that becomes one command.
macro_rules! command_request {
    ($ty:ty => $output:ty, |$request:ident| $command:expr) => {
        impl $crate::api::call::Sealed for $ty {}
        impl $crate::api::call::Request for $ty {
            type Output = $output;
            #[inline]
            fn run_blocking(self, store: &$crate::api::Store) -> $crate::Result<$output> {
                let $request = self;
                store.execute($command)
            }
            #[inline]
            fn run<'s>(self, store: &'s $crate::api::Store) -> $crate::api::call::Call<'s, $output>
            where
                Self: 's,
            {
                let $request = self;
                store.execute_call($command)
            }
        }
    };
}

/// Implements [`Request`] for a type that becomes one query. With `local`, the type has a
/// `local: bool` field (the read is serializable instead of linearizable when it is set).
macro_rules! query_request {
    ($ty:ty => $output:ty, local |$request:ident| $query:expr) => {
        impl $crate::api::call::Read for $ty {
            fn set_local(&mut self) {
                self.local = true;
            }
        }
        impl $crate::api::call::Sealed for $ty {}
        impl $crate::api::call::Request for $ty {
            type Output = $output;
            #[inline]
            fn run_blocking(self, store: &$crate::api::Store) -> $crate::Result<$output> {
                let local = self.local;
                let $request = self;
                if local {
                    store.query_local($query)
                } else {
                    store.query($query)
                }
            }
            #[inline]
            fn run<'s>(self, store: &'s $crate::api::Store) -> $crate::api::call::Call<'s, $output>
            where
                Self: 's,
            {
                let local = self.local;
                let $request = self;
                store.query_call($query, local)
            }
        }
    };
    ($ty:ty => $output:ty, |$request:ident| $query:expr) => {
        impl $crate::api::call::Sealed for $ty {}
        impl $crate::api::call::Request for $ty {
            type Output = $output;
            #[inline]
            fn run_blocking(self, store: &$crate::api::Store) -> $crate::Result<$output> {
                let $request = self;
                store.query($query)
            }
            #[inline]
            fn run<'s>(self, store: &'s $crate::api::Store) -> $crate::api::call::Call<'s, $output>
            where
                Self: 's,
            {
                let $request = self;
                store.query_call($query, false)
            }
        }
    };
}
pub(crate) use {command_request, query_request};

impl<K: Into<Key>, V: Into<Value>> From<(K, V)> for PutItem {
    fn from((key, value): (K, V)) -> PutItem {
        PutItem::new(key, value)
    }
}

impl From<&str> for DeleteItem {
    fn from(key: &str) -> DeleteItem {
        DeleteItem::new(key)
    }
}

impl From<String> for DeleteItem {
    fn from(key: String) -> DeleteItem {
        DeleteItem::new(key)
    }
}

impl From<Key> for DeleteItem {
    fn from(key: Key) -> DeleteItem {
        DeleteItem::new(key)
    }
}

impl Store {
    /// Writes `value` at `key` (creating or replacing it). Options: [`ttl`](Op::ttl),
    /// [`lease`](Op::lease), [`if_absent`](Op::if_absent), [`if_version`](Op::if_version),
    /// [`guard`](Op::guard), [`content_type`](Op::content_type), [`entity`](Op::entity),
    /// [`label`](Op::label).
    pub fn put(&self, key: impl Into<Key>, value: impl Into<Value>) -> Op<'_, Put> {
        Op::new(self, Put { item: PutItem::new(key, value) })
    }

    /// Reads `key`: `None` when it does not exist or has expired.
    #[inline]
    pub fn get<'k>(&self, key: &'k str) -> Op<'_, Get<'k>> {
        Op::new(self, Get { key, local: false })
    }

    /// Reads `key` as [`get`](Store::get) does, blocking, and hands its entry to `read`
    /// without copying it: `None` when it does not exist or has expired. In process `read`
    /// runs while the entry's part of the store is read-locked, so it must be short and must
    /// not call the store (a write from it deadlocks); on a cluster it reads the entry as
    /// fetched. For callers that only look at the value (copy it out, parse it), this saves
    /// the entry's copy and its release.
    #[inline]
    pub fn get_with<R>(&self, key: &str, read: impl FnOnce(&Entry) -> R) -> Result<Option<R>> {
        self.check_open()?;
        match self.engine() {
            crate::engine::Engine::InProc(engine) => engine.read_entry(key, read),
            crate::engine::Engine::Remote(_) => Ok(self.get(key).wait()?.as_ref().map(read)),
        }
    }

    /// Reads `keys` as [`get_many`](Store::get_many) does (at one revision), blocking, and
    /// hands each entry (`None` when missing or expired) to `read` in order, without
    /// copying it. In process `read` runs while the keys' parts of the store are read-locked,
    /// with the same rules as [`get_with`](Store::get_with).
    pub fn get_many_with<K: AsRef<str>, R>(
        &self,
        keys: &[K],
        mut read: impl FnMut(Option<&Entry>) -> R,
    ) -> Result<Vec<R>> {
        self.check_open()?;
        match self.engine() {
            crate::engine::Engine::InProc(engine) => engine.read_entries(keys, read),
            crate::engine::Engine::Remote(_) => {
                let keys: Vec<Key> = keys.iter().map(|key| Key::from(key.as_ref())).collect();
                Ok(self.get_many(keys).wait()?.iter().map(|entry| read(entry.as_ref())).collect())
            }
        }
    }

    /// Deletes `key`. Options: [`if_version`](Op::if_version), [`guard`](Op::guard).
    pub fn delete(&self, key: impl Into<Key>) -> Op<'_, Delete> {
        Op::new(self, Delete { item: DeleteItem::new(key) })
    }

    /// Reads several keys; results in the same order.
    pub fn get_many<K: Into<Key>>(&self, keys: impl IntoIterator<Item = K>) -> Op<'_, GetMany> {
        Op::new(self, GetMany { keys: keys.into_iter().map(Into::into).collect(), local: false })
    }

    /// Writes several keys, each on its own (not atomic: one may fail while others land);
    /// results in the same order. Items are `(key, value)` pairs or [`PutItem`]s.
    pub fn put_many<I: Into<PutItem>>(&self, items: impl IntoIterator<Item = I>) -> Op<'_, PutMany> {
        Op::new(self, PutMany { items: items.into_iter().map(Into::into).collect() })
    }

    /// Deletes several keys, each on its own; results in the same order. Items are keys or
    /// [`DeleteItem`]s.
    pub fn delete_many<I: Into<DeleteItem>>(&self, items: impl IntoIterator<Item = I>) -> Op<'_, DeleteMany> {
        Op::new(self, DeleteMany { items: items.into_iter().map(Into::into).collect() })
    }

    /// Runs mixed operations in order, each on its own (not atomic); a read sees the writes
    /// before it.
    pub fn batch(&self, ops: impl IntoIterator<Item = BatchOp>) -> Op<'_, Batch> {
        Op::new(self, Batch { ops: ops.into_iter().collect() })
    }

    /// Reads a page of the keys in `range`, in key order. Options: [`limit`](Op::limit)
    /// (default [`DEFAULT_SCAN_LIMIT`](crate::limits::DEFAULT_SCAN_LIMIT)),
    /// [`after`](Op::after) (the previous page's `next`).
    pub fn scan(&self, range: KeyRange) -> Op<'_, Scan> {
        Op::new(self, Scan { range, after: None, limit: None, local: false })
    }

    /// Counts the live keys in `range`.
    pub fn count(&self, range: KeyRange) -> Op<'_, Count> {
        Op::new(self, Count { range, local: false })
    }

    /// Deletes every key in `range` in one revision (a delete event per key).
    pub fn clear(&self, range: KeyRange) -> Op<'_, Clear> {
        Op::new(self, Clear { range })
    }

    /// Sets or replaces the TTL of an existing key; false if the key does not exist.
    pub fn expire(&self, key: impl Into<Key>, ttl: Duration) -> Op<'_, Expire> {
        Op::new(self, Expire { key: key.into(), ttl_ms: duration_to_ms(ttl) })
    }

    /// Removes the TTL of a key; false if the key does not exist or had none.
    pub fn persist(&self, key: impl Into<Key>) -> Op<'_, Persist> {
        Op::new(self, Persist { key: key.into() })
    }

    /// A key's time to live.
    pub fn ttl(&self, key: impl Into<Key>) -> Op<'_, Ttl> {
        Op::new(self, Ttl { key: key.into() })
    }
}

/// See [`Store::put`].
#[derive(Debug)]
pub struct Put {
    item: PutItem,
}

impl Op<'_, Put> {
    fn with(mut self, change: impl FnOnce(PutOptions) -> PutOptions) -> Self {
        self.request.item.options = change(std::mem::take(&mut self.request.item.options));
        self
    }

    /// The key expires `ttl` after this write.
    pub fn ttl(self, ttl: Duration) -> Self {
        self.with(|options| options.ttl(ttl))
    }

    /// The key is deleted when `lease` ends.
    pub fn lease(self, lease: LeaseId) -> Self {
        self.with(|options| options.lease(lease))
    }

    /// Write only if the key does not exist.
    pub fn if_absent(self) -> Self {
        self.with(PutOptions::if_absent)
    }

    /// Write only if the key's version is `version` (0: it does not exist).
    pub fn if_version(self, version: u64) -> Self {
        self.with(|options| options.if_version(version))
    }

    /// Reject the write as `Locked` unless `guard` holds its lock.
    pub fn guard(self, guard: LockGuard) -> Self {
        self.with(|options| options.guard(guard))
    }

    /// Record a content type.
    pub fn content_type(self, content_type: impl Into<String>) -> Self {
        self.with(|options| options.content_type(content_type))
    }

    /// Tag with an entity name.
    pub fn entity(self, entity: impl Into<String>) -> Self {
        self.with(|options| options.entity(entity))
    }

    /// Add a label.
    pub fn label(self, label: Label) -> Self {
        self.with(|options| options.label(label))
    }

    /// Replace all options.
    pub fn options(self, options: PutOptions) -> Self {
        self.with(|_| options)
    }
}

command_request!(Put => PutResult, |put| Command::Put(put.item));

/// See [`Store::get`].
#[derive(Debug)]
pub struct Get<'k> {
    key: &'k str,
    local: bool,
}

impl Sealed for Get<'_> {}

impl super::call::Read for Get<'_> {
    fn set_local(&mut self) {
        self.local = true;
    }
}

impl Request for Get<'_> {
    type Output = Option<Entry>;

    #[inline]
    fn run_blocking(self, store: &Store) -> Result<Option<Entry>> {
        if self.local {
            crate::limits::check_key(self.key)?;
            store.query_local(Query::Get { key: Key::from(self.key) })
        } else {
            store.engine().get(self.key)
        }
    }

    #[inline]
    fn run<'s>(self, store: &'s Store) -> super::call::Call<'s, Option<Entry>>
    where
        Self: 's,
    {
        match store.engine() {
            crate::engine::Engine::InProc(_) => super::call::Call::ready(self.run_blocking(store)),
            crate::engine::Engine::Remote(_) => match crate::limits::check_key(self.key) {
                Ok(()) => store.query_call(Query::Get { key: Key::from(self.key) }, self.local),
                Err(error) => super::call::Call::ready(Err(error)),
            },
        }
    }
}

/// See [`Store::delete`].
#[derive(Debug)]
pub struct Delete {
    item: DeleteItem,
}

impl Op<'_, Delete> {
    fn with(mut self, change: impl FnOnce(DeleteOptions) -> DeleteOptions) -> Self {
        self.request.item.options = change(std::mem::take(&mut self.request.item.options));
        self
    }

    /// Delete only if the key's version is `version`.
    pub fn if_version(self, version: u64) -> Self {
        self.with(|options| options.if_version(version))
    }

    /// Reject the delete as `Locked` unless `guard` holds its lock.
    pub fn guard(self, guard: LockGuard) -> Self {
        self.with(|options| options.guard(guard))
    }

    /// Replace all options.
    pub fn options(self, options: DeleteOptions) -> Self {
        self.with(|_| options)
    }
}

command_request!(Delete => DeleteResult, |delete| Command::Delete(delete.item));

/// See [`Store::get_many`].
#[derive(Debug)]
pub struct GetMany {
    keys: Vec<Key>,
    local: bool,
}

query_request!(GetMany => Vec<Option<Entry>>, local |request| Query::GetMany { keys: request.keys });

/// See [`Store::put_many`].
#[derive(Debug)]
pub struct PutMany {
    items: Vec<PutItem>,
}

command_request!(PutMany => Vec<Result<PutResult>>, |request| Command::PutMany(request.items));

/// See [`Store::delete_many`].
#[derive(Debug)]
pub struct DeleteMany {
    items: Vec<DeleteItem>,
}

command_request!(DeleteMany => Vec<Result<DeleteResult>>, |request| Command::DeleteMany(request.items));

/// See [`Store::batch`].
#[derive(Debug)]
pub struct Batch {
    ops: Vec<BatchOp>,
}

command_request!(Batch => Vec<Result<OpResult>>, |request| Command::Batch(request.ops));

/// See [`Store::scan`].
#[derive(Debug)]
pub struct Scan {
    range: KeyRange,
    after: Option<Key>,
    limit: Option<usize>,
    local: bool,
}

impl Op<'_, Scan> {
    /// At most `limit` entries (1 to [`MAX_SCAN_LIMIT`](crate::limits::MAX_SCAN_LIMIT)).
    pub fn limit(mut self, limit: usize) -> Self {
        self.request.limit = Some(limit);
        self
    }

    /// Continue after this key (the previous page's `next`).
    pub fn after(mut self, key: impl Into<Key>) -> Self {
        self.request.after = Some(key.into());
        self
    }
}

query_request!(Scan => Page, local |scan| Query::Scan { range: scan.range, after: scan.after, limit: scan.limit });

/// See [`Store::count`].
#[derive(Debug)]
pub struct Count {
    range: KeyRange,
    local: bool,
}

query_request!(Count => u64, local |count| Query::Count { range: count.range });

/// See [`Store::clear`].
#[derive(Debug)]
pub struct Clear {
    range: KeyRange,
}

command_request!(Clear => ClearResult, |clear| Command::Clear(clear.range));

/// See [`Store::expire`].
#[derive(Debug)]
pub struct Expire {
    key: Key,
    ttl_ms: u64,
}

command_request!(Expire => bool, |expire| Command::Expire { key: expire.key, ttl_ms: expire.ttl_ms });

/// See [`Store::persist`].
#[derive(Debug)]
pub struct Persist {
    key: Key,
}

command_request!(Persist => bool, |persist| Command::Persist { key: persist.key });

/// See [`Store::ttl`].
#[derive(Debug)]
pub struct Ttl {
    key: Key,
}

query_request!(Ttl => KeyTtl, |ttl| Query::Ttl { key: ttl.key });

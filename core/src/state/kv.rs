//! Keys: put (with TTL, lease, conditions, lock guard, content type, entity and labels),
//! delete, bulk and batch, clear, expire and persist, and the bookkeeping that keeps
//! deadlines and lease key sets in step with the entries.

use crate::tagged::tagged;
use std::time::Duration;

use compact_str::CompactString;

use super::lock::{self, LockGuard};
use super::quota;
use super::range::KeyRange;
use super::Change;
use crate::entry::{Attrs, AttrsRef};
use crate::limits::{self, duration_to_ms, MAX_LABELS};
use crate::search::postings::Id;
use crate::{DeleteCause, Entry, Error, Event, EventKind, Key, Label, LeaseId, Result, Timestamp, Value};

/// The options of a put. Build with the chained methods; every limit is checked when the
/// put is applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PutOptions {
    pub(crate) ttl_ms: Option<u64>,
    pub(crate) lease: Option<LeaseId>,
    pub(crate) if_absent: bool,
    pub(crate) if_version: Option<u64>,
    /// The rarely set options, out of line so that a plain put is a small command.
    pub(crate) extra: Option<Box<PutExtra>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PutExtra {
    pub(crate) guard: Option<LockGuard>,
    pub(crate) content_type: Option<String>,
    pub(crate) entity: Option<String>,
    pub(crate) labels: Vec<Label>,
}

impl PutOptions {
    /// No options: an unconditional put with no TTL.
    pub fn new() -> PutOptions {
        PutOptions::default()
    }

    /// The key expires `ttl` after this write (rounded up to whole milliseconds).
    pub fn ttl(mut self, ttl: Duration) -> PutOptions {
        self.ttl_ms = Some(duration_to_ms(ttl));
        self
    }

    /// The key is deleted when `lease` expires or is revoked.
    pub fn lease(mut self, lease: LeaseId) -> PutOptions {
        self.lease = Some(lease);
        self
    }

    /// Write only if the key does not exist.
    pub fn if_absent(mut self) -> PutOptions {
        self.if_absent = true;
        self
    }

    /// Write only if the key's current version is `version` (0: the key does not exist).
    pub fn if_version(mut self, version: u64) -> PutOptions {
        self.if_version = Some(version);
        self
    }

    /// Reject the write as `Locked` unless `guard` names the current holder of its lock.
    pub fn guard(mut self, guard: LockGuard) -> PutOptions {
        self.extra_mut().guard = Some(guard);
        self
    }

    /// Record a content type with the value.
    pub fn content_type(mut self, content_type: impl Into<String>) -> PutOptions {
        self.extra_mut().content_type = Some(content_type.into());
        self
    }

    /// Tag the entry with an entity name.
    pub fn entity(mut self, entity: impl Into<String>) -> PutOptions {
        self.extra_mut().entity = Some(entity.into());
        self
    }

    /// Add a label.
    pub fn label(mut self, label: Label) -> PutOptions {
        self.extra_mut().labels.push(label);
        self
    }

    fn extra_mut(&mut self) -> &mut PutExtra {
        self.extra.get_or_insert_with(Default::default)
    }

    pub(crate) fn guard_ref(&self) -> Option<&LockGuard> {
        self.extra.as_ref()?.guard.as_ref()
    }

    fn check(&self) -> Result<()> {
        if let Some(ttl_ms) = self.ttl_ms {
            limits::check_ttl_ms("ttl", ttl_ms)?;
        }
        if self.if_absent && self.if_version.is_some_and(|version| version != 0) {
            return Err(Error::invalid("if_absent and if_version (other than 0) cannot both hold"));
        }
        let Some(extra) = &self.extra else { return Ok(()) };
        if let Some(content_type) = &extra.content_type {
            limits::check_tag("content type", content_type)?;
        }
        if let Some(entity) = &extra.entity {
            limits::check_tag("entity name", entity)?;
        }
        if extra.labels.len() > MAX_LABELS {
            return Err(Error::invalid(format!("{} labels; the limit is {MAX_LABELS}", extra.labels.len())));
        }
        for label in &extra.labels {
            if label.name().is_empty() {
                return Err(Error::invalid("label name must not be empty"));
            }
            limits::check_tag("label name", label.name())?;
            limits::check_tag("label value", label.value())?;
        }
        Ok(())
    }

    pub(crate) fn is_conditional(&self) -> bool {
        self.if_absent || self.if_version.is_some()
    }
}

/// One put of a bulk call, batch or transaction.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PutItem {
    pub(crate) key: Key,
    pub(crate) value: Value,
    pub(crate) options: PutOptions,
}

impl PutItem {
    /// An unconditional put.
    pub fn new(key: impl Into<Key>, value: impl Into<Value>) -> PutItem {
        PutItem { key: key.into(), value: value.into(), options: PutOptions::default() }
    }

    /// A put with options.
    pub fn with_options(key: impl Into<Key>, value: impl Into<Value>, options: PutOptions) -> PutItem {
        PutItem { key: key.into(), value: value.into(), options }
    }
}

/// The options of a delete.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeleteOptions {
    pub(crate) if_version: Option<u64>,
    pub(crate) guard: Option<LockGuard>,
}

impl DeleteOptions {
    /// An unconditional delete.
    pub fn new() -> DeleteOptions {
        DeleteOptions::default()
    }

    /// Delete only if the key's current version is `version`.
    pub fn if_version(mut self, version: u64) -> DeleteOptions {
        self.if_version = Some(version);
        self
    }

    /// Reject the delete as `Locked` unless `guard` names the current holder of its lock.
    pub fn guard(mut self, guard: LockGuard) -> DeleteOptions {
        self.guard = Some(guard);
        self
    }
}

/// One delete of a bulk call, batch or transaction.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeleteItem {
    pub(crate) key: Key,
    pub(crate) options: DeleteOptions,
}

impl DeleteItem {
    /// An unconditional delete.
    pub fn new(key: impl Into<Key>) -> DeleteItem {
        DeleteItem { key: key.into(), options: DeleteOptions::default() }
    }

    /// A delete with options.
    pub fn with_options(key: impl Into<Key>, options: DeleteOptions) -> DeleteItem {
        DeleteItem { key: key.into(), options }
    }
}

tagged! {
    /// One operation of a batch or of a transaction branch.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum BatchOp {
        /// Read a key.
        Get(Key) = 0,
        /// Write a key.
        Put(PutItem) = 1,
        /// Delete a key.
        Delete(DeleteItem) = 2,
    }
}

impl BatchOp {
    /// A read.
    pub fn get(key: impl Into<Key>) -> BatchOp {
        BatchOp::Get(key.into())
    }

    /// An unconditional write.
    pub fn put(key: impl Into<Key>, value: impl Into<Value>) -> BatchOp {
        BatchOp::Put(PutItem::new(key, value))
    }

    /// An unconditional delete.
    pub fn delete(key: impl Into<Key>) -> BatchOp {
        BatchOp::Delete(DeleteItem::new(key))
    }

    /// The key the operation touches.
    pub fn key(&self) -> &Key {
        match self {
            BatchOp::Get(key) => key,
            BatchOp::Put(item) => &item.key,
            BatchOp::Delete(item) => &item.key,
        }
    }
}

tagged! {
    /// The result of one batch or transaction operation.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum OpResult {
        /// What a read found.
        Get(Option<Entry>) = 0,
        /// What a write did.
        Put(PutResult) = 1,
        /// What a delete did.
        Delete(DeleteResult) = 2,
    }
}

/// What a put did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct PutResult {
    /// The store revision after the put (unchanged if nothing was written).
    pub revision: u64,
    /// The key's version after the put (its current version if nothing was written; 0 if
    /// it does not exist).
    pub version: u64,
    /// The put created the key.
    pub created: bool,
    /// The put wrote (false when an `if_absent` or `if_version` condition failed).
    pub changed: bool,
}

/// What a delete did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct DeleteResult {
    /// A key was deleted.
    pub deleted: bool,
    /// The store revision after the delete.
    pub revision: u64,
}

/// One page of a scan.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Page {
    /// The entries, in key order.
    pub entries: Vec<Entry>,
    /// When more entries follow: the cursor to pass as `after` for the next page.
    pub next: Option<Key>,
    /// The store revision the page was read at.
    pub revision: u64,
}

/// What a clear did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ClearResult {
    /// How many keys were removed.
    pub deleted: u64,
    /// The store revision after the clear.
    pub revision: u64,
}

tagged! {
    /// A key's time to live.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum KeyTtl {
        /// The key does not exist.
        Missing = 0,
        /// The key exists and has no TTL (it may still be attached to a lease).
        Persistent = 1,
        /// The key expires.
        Expires {
            /// When.
            at: Timestamp,
            /// How long from now.
            remaining: Duration,
        } = 2,
    }
}

/// The checks of a put that need no state (also run by a leader before it replicates a put
/// that could only fail).
pub(crate) fn check_put_input(item: &PutItem) -> Result<()> {
    limits::check_key(&item.key)?;
    limits::check_value(&item.value)?;
    item.options.check()
}

/// Checks everything about a put that can fail, without changing anything.
pub(crate) fn check_put(c: &mut Change<'_>, item: &PutItem) -> Result<()> {
    check_put_input(item)?;
    quota::check_sizes(&c.limits, item)?;
    if let Some(guard) = item.options.guard_ref() {
        lock::check_guard(c, guard)?;
    }
    if let Some(lease) = item.options.lease {
        let now = c.now;
        if !c.coord().lease_alive(lease, now) {
            return Err(Error::lease_not_found(lease));
        }
    }
    Ok(())
}

pub(crate) fn put(c: &mut Change<'_>, item: PutItem) -> Result<PutResult> {
    check_put(c, &item)?;
    quota::check_put(c, &item)?;
    Ok(put_checked(c, item))
}

/// Applies a checked put. Conditions that fail are a result, not an error.
pub(crate) fn put_checked(c: &mut Change<'_>, item: PutItem) -> PutResult {
    let PutItem { key, value, options } = item;
    let expires_at = options.ttl_ms.map(|ttl| c.now + ttl);
    let spot = c.keys.spot(&key);
    let current = c.keys.at(spot).map(|entry| {
        let kept = same_attrs(&entry.attrs, expires_at, &options).then(|| entry.attrs.clone());
        (entry.version, entry.create_revision, kept)
    });
    let created = current.is_none();
    let (current_version, create_revision, kept) = current.unwrap_or((0, 0, None));
    let condition_failed =
        (options.if_absent && !created) || options.if_version.is_some_and(|version| version != current_version);
    if condition_failed {
        return PutResult { revision: c.result_revision(), version: current_version, created: false, changed: false };
    }
    let attrs = kept.unwrap_or_else(|| {
        let extra = options.extra.map(|extra| *extra).unwrap_or_default();
        Attrs {
            expires_at,
            lease: options.lease,
            content_type: extra.content_type.map(String::into_boxed_str),
            entity: extra.entity.map(CompactString::from),
            labels: extra.labels.into_boxed_slice(),
        }
        .into_shared()
    });
    let entry = Entry {
        key,
        value,
        version: current_version + 1,
        create_revision: if created { c.revision } else { create_revision },
        mod_revision: c.revision,
        attrs,
    };
    let version = entry.version;
    let (prev, id) = c.keys.set_at(spot, entry.clone());
    track(c, id, &entry.key, prev.as_ref(), Some(&entry));
    c.event(Event {
        kind: EventKind::Put,
        revision: c.revision,
        entry,
        prev,
        cause: None,
        snapshot: false,
        change: None,
    });
    PutResult { revision: c.revision, version, created, changed: true }
}

/// Whether a put with `options` (expiring at `expires_at`) gives its key the attributes it
/// has: then the new version shares them, and the put neither allocates them nor frees the
/// old ones (which are cold by the time the history lets them go). A tagged entry rewritten
/// with its entity and labels, as most updates of a job or a session are, takes that path.
/// A key bound to a lease and rewritten with it (a session's keys) shares them too.
fn same_attrs(attrs: &AttrsRef, expires_at: Option<u64>, options: &PutOptions) -> bool {
    let Some(attrs) = attrs.shared() else { return false };
    let (content_type, entity, labels) = match options.extra.as_deref() {
        Some(extra) => (extra.content_type.as_deref(), extra.entity.as_deref(), extra.labels.as_slice()),
        None => (None, None, &[][..]),
    };
    attrs.expires_at == expires_at
        && attrs.lease == options.lease
        && attrs.content_type.as_deref() == content_type
        && attrs.entity.as_deref() == entity
        && *attrs.labels == *labels
}

pub(crate) fn check_delete(c: &mut Change<'_>, item: &DeleteItem) -> Result<()> {
    limits::check_key(&item.key)?;
    if let Some(guard) = &item.options.guard {
        lock::check_guard(c, guard)?;
    }
    Ok(())
}

pub(crate) fn delete(c: &mut Change<'_>, item: DeleteItem) -> Result<DeleteResult> {
    check_delete(c, &item)?;
    Ok(delete_checked(c, item))
}

pub(crate) fn delete_checked(c: &mut Change<'_>, item: DeleteItem) -> DeleteResult {
    let version = c.keys.get(&item.key).map(|entry| entry.version);
    let deleted = match (version, item.options.if_version) {
        (None, _) => false,
        (Some(current), Some(wanted)) if current != wanted => false,
        (Some(_), _) => remove_key(c, &item.key, DeleteCause::Deleted).is_some(),
    };
    DeleteResult { deleted, revision: c.result_revision() }
}

pub(crate) fn batch_op(c: &mut Change<'_>, op: BatchOp) -> Result<OpResult> {
    match op {
        BatchOp::Get(key) => {
            limits::check_key(&key)?;
            Ok(OpResult::Get(c.keys.get(&key).cloned()))
        }
        BatchOp::Put(item) => put(c, item).map(OpResult::Put),
        BatchOp::Delete(item) => delete(c, item).map(OpResult::Delete),
    }
}

/// Removes a key with a delete event; the one way keys leave the store.
pub(crate) fn remove_key(c: &mut Change<'_>, key: &str, cause: DeleteCause) -> Option<Entry> {
    let (old, id) = c.keys.remove(key)?;
    track(c, id, &old.key, Some(&old), None);
    let tombstone = Entry {
        key: old.key.clone(),
        value: Value::empty(),
        version: 0,
        create_revision: 0,
        mod_revision: c.revision,
        attrs: AttrsRef::NONE,
    };
    let event = Event {
        kind: EventKind::Delete,
        revision: c.revision,
        entry: tombstone,
        prev: Some(old.clone()),
        cause: Some(cause),
        snapshot: false,
        change: None,
    };
    c.event(event);
    Some(old)
}

pub(crate) fn clear(c: &mut Change<'_>, range: &KeyRange) -> Result<ClearResult> {
    range.check()?;
    let keys = c.keys.keys_in(range);
    for key in &keys {
        remove_key(c, key, DeleteCause::Cleared);
    }
    Ok(ClearResult { deleted: keys.len() as u64, revision: c.result_revision() })
}

/// Sets (`Some`) or removes (`None`) a key's TTL. Changes no version and emits no event: the
/// value did not change. Returns whether anything changed.
pub(crate) fn expire(c: &mut Change<'_>, key: &Key, ttl_ms: Option<u64>) -> Result<bool> {
    limits::check_key(key)?;
    if let Some(ttl_ms) = ttl_ms {
        limits::check_ttl_ms("ttl", ttl_ms)?;
    }
    let Some(old) = c.keys.get(key).map(|entry| entry.attrs.clone()) else {
        return Ok(false);
    };
    let mut attrs = old.to_attrs();
    let old_expiry = attrs.expires_at;
    attrs.expires_at = ttl_ms.map(|ttl| c.now + ttl);
    if attrs.expires_at == old_expiry && ttl_ms.is_none() {
        return Ok(false);
    }
    let new_expiry = attrs.expires_at;
    let attrs = attrs.into_shared();
    c.keys.update(key, |entry| entry.attrs = attrs);
    let id = c.keys.id_of(key).expect("the key was just read");
    c.deadlines.replace_key(old_expiry, new_expiry, id, key);
    c.mark_changed();
    Ok(true)
}

/// A key's TTL deadline came: remove it if it really has expired.
pub(crate) fn expire_due(c: &mut Change<'_>, key: &Key) {
    let now = c.now;
    if c.keys.get(key).is_some_and(|entry| !entry.ttl_alive(now)) {
        remove_key(c, key, DeleteCause::Expired);
    }
}

/// Keeps the deadline schedule and lease key sets in step when the entry `id` is replaced
/// (`old` → `new`, either absent).
fn track(c: &mut Change<'_>, id: Id, key: &Key, old: Option<&Entry>, new: Option<&Entry>) {
    let old_expiry = old.and_then(Entry::expires_at_millis);
    let new_expiry = new.and_then(Entry::expires_at_millis);
    c.deadlines.replace_key(old_expiry, new_expiry, id, key);
    let old_lease = old.and_then(Entry::lease);
    let new_lease = new.and_then(Entry::lease);
    if old_lease != new_lease {
        if let Some(lease) = old_lease.and_then(|id| c.coord().leases.get_mut(&id)) {
            lease.keys.remove(key);
        }
        if let Some(lease) = new_lease.and_then(|id| c.coord().leases.get_mut(&id)) {
            lease.keys.insert(key.clone());
        }
    }
}

//! Keys: put, get, delete, bulk and batch, scan, count, clear, TTL.

use std::ffi::c_char;

use clustron::limits::MAX_BATCH;
use clustron::{
    BatchOp, DeleteItem, DeleteOptions, Key, KeyRange, KeyTtl, Label, LeaseId, LockGuard, OpResult, PutItem,
    PutOptions, Result, Value,
};

use crate::guard::{self, call, invalid};
use crate::objects::{
    clustron_delete_result, clustron_entries, clustron_entry, clustron_label, clustron_put_result, clustron_results,
    CLUSTRON_OP_DELETE, CLUSTRON_OP_GET, CLUSTRON_OP_PUT,
};
use crate::status::{clustron_error, clustron_status};
use crate::store::{clustron_store, store};

/// `ttl_ms` is set: the key expires that many milliseconds after the write (> 0).
pub const CLUSTRON_PUT_TTL: u32 = 1 << 0;
/// `lease` is set: the key is deleted when the lease ends.
pub const CLUSTRON_PUT_LEASE: u32 = 1 << 1;
/// Write only if the key does not exist.
pub const CLUSTRON_PUT_IF_ABSENT: u32 = 1 << 2;
/// `if_version` is set: write only if the key's version is it (0: absent).
pub const CLUSTRON_PUT_IF_VERSION: u32 = 1 << 3;
/// `guard_lock` / `guard_fence` are set: fail with CLUSTRON_LOCKED unless that fence holds the lock.
pub const CLUSTRON_PUT_GUARD: u32 = 1 << 4;
/// `content_type` is set.
pub const CLUSTRON_PUT_CONTENT_TYPE: u32 = 1 << 5;
/// `entity` is set.
pub const CLUSTRON_PUT_ENTITY: u32 = 1 << 6;
/// `labels` / `labels_len` are set.
pub const CLUSTRON_PUT_LABELS: u32 = 1 << 7;
const PUT_FLAGS: u32 = (1 << 8) - 1;

/// `if_version` is set: delete only if the key's version is it.
pub const CLUSTRON_DELETE_IF_VERSION: u32 = 1 << 0;
/// `guard_lock` / `guard_fence` are set.
pub const CLUSTRON_DELETE_GUARD: u32 = 1 << 1;
const DELETE_FLAGS: u32 = (1 << 2) - 1;

/// Every key.
pub const CLUSTRON_RANGE_ALL: i32 = 0;
/// Keys starting with `start`.
pub const CLUSTRON_RANGE_PREFIX: i32 = 1;
/// Keys from `start` (inclusive) to `end` (exclusive; to the last key when `has_end` is false).
pub const CLUSTRON_RANGE_BETWEEN: i32 = 2;

/// The key does not exist.
pub const CLUSTRON_TTL_MISSING: i32 = 0;
/// The key exists and has no TTL.
pub const CLUSTRON_TTL_PERSISTENT: i32 = 1;
/// The key expires; see `remaining_ms` and `expires_at_ms`.
pub const CLUSTRON_TTL_EXPIRES: i32 = 2;

/// Options of a put. Only the fields whose flag is set are read, so a zeroed struct (or a
/// NULL pointer) is a plain put. Unknown flag bits are CLUSTRON_INVALID_INPUT.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct clustron_put_options {
    pub flags: u32,
    pub ttl_ms: i64,
    pub lease: u64,
    pub if_version: u64,
    pub guard_lock: *const c_char,
    pub guard_lock_len: usize,
    pub guard_fence: u64,
    pub content_type: *const c_char,
    pub content_type_len: usize,
    pub entity: *const c_char,
    pub entity_len: usize,
    pub labels: *const clustron_label,
    pub labels_len: usize,
}

/// Options of a delete (NULL: unconditional).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct clustron_delete_options {
    pub flags: u32,
    pub if_version: u64,
    pub guard_lock: *const c_char,
    pub guard_lock_len: usize,
    pub guard_fence: u64,
}

/// A key (get_many).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct clustron_key {
    pub key: *const c_char,
    pub key_len: usize,
}

/// One put of put_many.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct clustron_put_item {
    pub key: *const c_char,
    pub key_len: usize,
    pub value: *const u8,
    pub value_len: usize,
    /// NULL: no options.
    pub options: *const clustron_put_options,
}

/// One delete of delete_many.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct clustron_delete_item {
    pub key: *const c_char,
    pub key_len: usize,
    /// NULL: unconditional.
    pub options: *const clustron_delete_options,
}

/// One operation of a batch or transaction branch: CLUSTRON_OP_GET, _PUT or _DELETE.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct clustron_op {
    pub kind: i32,
    pub key: *const c_char,
    pub key_len: usize,
    /// Puts only.
    pub value: *const u8,
    pub value_len: usize,
    /// Puts only; NULL: no options.
    pub put_options: *const clustron_put_options,
    /// Deletes only; NULL: unconditional.
    pub delete_options: *const clustron_delete_options,
}

/// Which keys a scan, count, clear or watch covers. NULL where a range is taken: every key.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct clustron_range {
    /// CLUSTRON_RANGE_ALL, _PREFIX or _BETWEEN.
    pub kind: i32,
    pub start: *const c_char,
    pub start_len: usize,
    pub end: *const c_char,
    pub end_len: usize,
    pub has_end: bool,
}

/// A key's time to live.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct clustron_ttl {
    /// CLUSTRON_TTL_MISSING, _PERSISTENT or _EXPIRES.
    pub state: i32,
    pub remaining_ms: u64,
    /// Milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
}

fn lock_guard(lock: *const c_char, len: usize, fence: u64) -> Result<LockGuard> {
    // SAFETY: caller contract for the guard fields.
    let name = unsafe { guard::key(lock, len, "guard lock name") }?;
    Ok(LockGuard::new(name, fence))
}

pub(crate) fn put_options(options: *const clustron_put_options) -> Result<PutOptions> {
    // SAFETY: NULL or a readable struct (caller contract).
    let Some(options) = (unsafe { options.as_ref() }) else { return Ok(PutOptions::new()) };
    let flags = options.flags;
    guard::check_flags(flags, PUT_FLAGS, "put option")?;
    let mut built = PutOptions::new();
    if flags & CLUSTRON_PUT_TTL != 0 {
        built = built.ttl(guard::ttl(options.ttl_ms)?);
    }
    if flags & CLUSTRON_PUT_LEASE != 0 {
        built = built.lease(LeaseId::new(options.lease));
    }
    if flags & CLUSTRON_PUT_IF_ABSENT != 0 {
        built = built.if_absent();
    }
    if flags & CLUSTRON_PUT_IF_VERSION != 0 {
        built = built.if_version(options.if_version);
    }
    if flags & CLUSTRON_PUT_GUARD != 0 {
        built = built.guard(lock_guard(options.guard_lock, options.guard_lock_len, options.guard_fence)?);
    }
    if flags & CLUSTRON_PUT_CONTENT_TYPE != 0 {
        // SAFETY: caller contract for the flagged field.
        built =
            built.content_type(unsafe { guard::text(options.content_type, options.content_type_len, "content type") }?);
    }
    if flags & CLUSTRON_PUT_ENTITY != 0 {
        // SAFETY: caller contract for the flagged field.
        built = built.entity(unsafe { guard::text(options.entity, options.entity_len, "entity") }?);
    }
    if flags & CLUSTRON_PUT_LABELS != 0 {
        for label in array(options.labels, options.labels_len, "labels")? {
            // SAFETY: caller contract for each label.
            let name = unsafe { guard::text(label.name, label.name_len, "label name") }?;
            // SAFETY: as above.
            let value = unsafe { guard::text(label.value, label.value_len, "label value") }?;
            built = built.label(if label.indexed { Label::new(name, value) } else { Label::unindexed(name, value) });
        }
    }
    Ok(built)
}

pub(crate) fn delete_options(options: *const clustron_delete_options) -> Result<DeleteOptions> {
    // SAFETY: NULL or a readable struct (caller contract).
    let Some(options) = (unsafe { options.as_ref() }) else { return Ok(DeleteOptions::new()) };
    guard::check_flags(options.flags, DELETE_FLAGS, "delete option")?;
    let mut built = DeleteOptions::new();
    if options.flags & CLUSTRON_DELETE_IF_VERSION != 0 {
        built = built.if_version(options.if_version);
    }
    if options.flags & CLUSTRON_DELETE_GUARD != 0 {
        built = built.guard(lock_guard(options.guard_lock, options.guard_lock_len, options.guard_fence)?);
    }
    Ok(built)
}

/// A caller's array: NULL only when empty, at most MAX_BATCH items (refused before reading).
pub(crate) fn array<'a, T>(items: *const T, len: usize, what: &str) -> Result<&'a [T]> {
    if len > MAX_BATCH {
        return Err(invalid(format!("{what} has {len} items; the limit is {MAX_BATCH}")));
    }
    if len == 0 {
        return Ok(&[]);
    }
    if items.is_null() {
        return Err(invalid(format!("{what} is NULL but its length is {len}")));
    }
    // SAFETY: non-NULL, bounded, `len` readable items by the caller contract.
    Ok(unsafe { std::slice::from_raw_parts(items, len) })
}

pub(crate) fn range(range: *const clustron_range) -> Result<KeyRange> {
    // SAFETY: NULL or a readable struct (caller contract).
    let Some(range) = (unsafe { range.as_ref() }) else { return Ok(KeyRange::All) };
    // SAFETY: caller contract for the bounds.
    let start = unsafe { guard::text(range.start, range.start_len, "range start") }?;
    match range.kind {
        CLUSTRON_RANGE_ALL => Ok(KeyRange::All),
        CLUSTRON_RANGE_PREFIX => Ok(KeyRange::prefix(start)),
        CLUSTRON_RANGE_BETWEEN if range.has_end => {
            // SAFETY: caller contract for the bounds.
            let end = unsafe { guard::text(range.end, range.end_len, "range end") }?;
            Ok(KeyRange::between(start, end))
        }
        CLUSTRON_RANGE_BETWEEN => Ok(KeyRange::from(start)),
        other => Err(invalid(format!("unknown range kind {other}"))),
    }
}

pub(crate) fn op(op: &clustron_op) -> Result<BatchOp> {
    // SAFETY: caller contract for the op's fields.
    let key = unsafe { guard::key(op.key, op.key_len, "key") }?;
    match op.kind {
        CLUSTRON_OP_GET => Ok(BatchOp::Get(Key::from(key))),
        CLUSTRON_OP_PUT => {
            // SAFETY: caller contract for the op's fields.
            let value = unsafe { guard::value(op.value, op.value_len) }?;
            Ok(BatchOp::Put(PutItem::with_options(key, value, put_options(op.put_options)?)))
        }
        CLUSTRON_OP_DELETE => Ok(BatchOp::Delete(DeleteItem::with_options(key, delete_options(op.delete_options)?))),
        other => Err(invalid(format!("unknown operation kind {other}"))),
    }
}

/// Writes `value` at `key`. `options` may be NULL; `out` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_put(
    store: *const clustron_store,
    key: *const c_char,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    options: *const clustron_put_options,
    out: *mut clustron_put_result,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let (key, value) = unsafe { (guard::key(key, key_len, "key")?, guard::value(value, value_len)?) };
        let result = store.put(key, Value::from(value)).options(put_options(options)?).wait()?;
        // SAFETY: an optional out-parameter.
        unsafe { guard::write_optional(out, result.into()) };
        Ok(())
    })
}

/// Reads `key`: `*out` receives the entry, or NULL when the key does not exist.
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_get(
    store: *const clustron_store,
    key: *const c_char,
    key_len: usize,
    out: *mut *mut clustron_entry,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "entry")?;
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let key = unsafe { guard::key(key, key_len, "key") }?;
        let found = store.get(key).wait()?;
        let entry = found.map_or(std::ptr::null_mut(), |entry| guard::boxed(clustron_entry { entry }));
        // SAFETY: checked above.
        unsafe { guard::write(out, entry) };
        Ok(())
    })
}

/// Reads `key`'s value into the caller's buffer, allocating nothing. `*found` says whether
/// the key exists. When it does, `*value_len` receives the value's length and the value is
/// copied into `buf` if it fits (`*value_len <= buf_cap`); if it does not, nothing is copied:
/// call again with a buffer of `*value_len` bytes. `buf` may be NULL when `buf_cap` is 0 (to
/// learn the length). `version` (optional, NULL: not wanted) receives the key's version.
/// `*value_len` and `*version` are 0 when the key does not exist.
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_get_into(
    store: *const clustron_store,
    key: *const c_char,
    key_len: usize,
    buf: *mut u8,
    buf_cap: usize,
    found: *mut bool,
    value_len: *mut usize,
    version: *mut u64,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(found, "found")?;
        guard::out(value_len, "value_len")?;
        if buf.is_null() && buf_cap > 0 {
            return Err(invalid(format!("buf is NULL but its capacity is {buf_cap}")));
        }
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let key = unsafe { guard::key(key, key_len, "key") }?;
        // Copied out while the store holds the entry: no copy of the entry is made.
        let read = store.get_with(key, |entry| {
            let bytes = entry.value().as_bytes();
            if bytes.len() <= buf_cap && !bytes.is_empty() {
                // SAFETY: `buf` holds `buf_cap` writable bytes (caller contract), and the
                // value fits; a store's value never overlaps the caller's buffer.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
            }
            (bytes.len(), entry.version())
        })?;
        let (len, at) = read.unwrap_or((0, 0));
        // SAFETY: checked above; `version` is optional.
        unsafe {
            guard::write(found, read.is_some());
            guard::write(value_len, len);
            guard::write_optional(version, at);
        }
        Ok(())
    })
}

/// Deletes `key`. `options` may be NULL; `out` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_delete(
    store: *const clustron_store,
    key: *const c_char,
    key_len: usize,
    options: *const clustron_delete_options,
    out: *mut clustron_delete_result,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let key = unsafe { guard::key(key, key_len, "key") }?;
        let result = store.delete(key).options(delete_options(options)?).wait()?;
        // SAFETY: an optional out-parameter.
        unsafe { guard::write_optional(out, result.into()) };
        Ok(())
    })
}

/// Reads `count` keys; `*out` receives a list with one slot per key, in order (empty slots
/// for missing keys).
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_get_many(
    store: *const clustron_store,
    keys: *const clustron_key,
    count: usize,
    out: *mut *mut clustron_entries,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "entries")?;
        let store = self::store(store)?;
        let keys = array(keys, count, "keys")?
            .iter()
            // SAFETY: caller contract for each key.
            .map(|key| unsafe { guard::key(key.key, key.key_len, "key") }.map(Key::from))
            .collect::<Result<Vec<_>>>()?;
        let found = store.get_many(keys).wait()?;
        // SAFETY: checked above.
        unsafe { guard::write(out, guard::boxed(clustron_entries::of(found))) };
        Ok(())
    })
}

/// Where `clustron_kv_get_many_into` put one key's value.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct clustron_value_slot {
    /// The key exists.
    pub found: bool,
    /// Its value's length (0 when it does not exist).
    pub len: usize,
    /// Where its value starts in the buffer, or `SIZE_MAX` when the buffer had no room left
    /// for it (found, with a length, but not copied).
    pub offset: usize,
    /// Its version (0 when it does not exist).
    pub version: u64,
}

/// Reads `count` keys at one revision into the caller's memory, with no allocation per key:
/// `slots` (an array of `count`) receives, in order, whether each key exists, its value's
/// length, where in `buf` (capacity `buf_cap`) its value was copied, and its version. Values
/// are packed one after the other in key order until one does not fit; that one and every
/// later found value get the offset `SIZE_MAX` (nothing more is copied). `needed` (optional)
/// receives the bytes every found value takes together: with a buffer that large, nothing is
/// left out.
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_get_many_into(
    store: *const clustron_store,
    keys: *const clustron_key,
    count: usize,
    buf: *mut u8,
    buf_cap: usize,
    slots: *mut clustron_value_slot,
    needed: *mut usize,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        if slots.is_null() && count > 0 {
            return Err(invalid(format!("slots is NULL but count is {count}")));
        }
        if buf.is_null() && buf_cap > 0 {
            return Err(invalid(format!("buf is NULL but its capacity is {buf_cap}")));
        }
        let store = self::store(store)?;
        let keys = array(keys, count, "keys")?
            .iter()
            // SAFETY: caller contract for each key.
            .map(|key| unsafe { guard::key(key.key, key.key_len, "key") })
            .collect::<Result<Vec<&str>>>()?;
        let (mut used, mut total, mut full, mut index) = (0usize, 0usize, false, 0usize);
        // Copied out while the store holds the entries: no copy of an entry is made.
        store.get_many_with(&keys, |entry| {
            let slot = match entry {
                None => clustron_value_slot::default(),
                Some(entry) => {
                    let bytes = entry.value().as_bytes();
                    total = total.saturating_add(bytes.len());
                    full = full || bytes.len() > buf_cap - used;
                    let offset = if full { usize::MAX } else { used };
                    if !full && !bytes.is_empty() {
                        // SAFETY: `buf` holds `buf_cap` writable bytes and `used + len` fits.
                        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.add(used), bytes.len()) };
                        used += bytes.len();
                    }
                    clustron_value_slot { found: true, len: bytes.len(), offset, version: entry.version() }
                }
            };
            // SAFETY: `slots` holds `count` writable slots (caller contract), `index < count`.
            unsafe { slots.add(index).write(slot) };
            index += 1;
        })?;
        // SAFETY: optional.
        unsafe { guard::write_optional(needed, total) };
        Ok(())
    })
}

/// Writes `count` keys, each on its own (not atomic); `*out` receives one result per item.
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_put_many(
    store: *const clustron_store,
    items: *const clustron_put_item,
    count: usize,
    out: *mut *mut clustron_results,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "results")?;
        let store = self::store(store)?;
        let items = array(items, count, "items")?
            .iter()
            .map(|item| {
                // SAFETY: caller contract for each item.
                let (key, value) =
                    unsafe { (guard::key(item.key, item.key_len, "key")?, guard::value(item.value, item.value_len)?) };
                Ok(PutItem::with_options(key, value, put_options(item.options)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let results = store.put_many(items).wait()?;
        // SAFETY: checked above.
        unsafe { guard::write(out, guard::boxed(clustron_results::of(results, OpResult::Put))) };
        Ok(())
    })
}

/// Deletes `count` keys, each on its own; `*out` receives one result per item.
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_delete_many(
    store: *const clustron_store,
    items: *const clustron_delete_item,
    count: usize,
    out: *mut *mut clustron_results,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "results")?;
        let store = self::store(store)?;
        let items = array(items, count, "items")?
            .iter()
            .map(|item| {
                // SAFETY: caller contract for each item.
                let key = unsafe { guard::key(item.key, item.key_len, "key") }?;
                Ok(DeleteItem::with_options(key, delete_options(item.options)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let results = store.delete_many(items).wait()?;
        // SAFETY: checked above.
        unsafe { guard::write(out, guard::boxed(clustron_results::of(results, OpResult::Delete))) };
        Ok(())
    })
}

/// Runs `count` mixed operations in order, each on its own; `*out` receives their results.
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_batch(
    store: *const clustron_store,
    ops: *const clustron_op,
    count: usize,
    out: *mut *mut clustron_results,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "results")?;
        let store = self::store(store)?;
        let ops = array(ops, count, "ops")?.iter().map(op).collect::<Result<Vec<_>>>()?;
        let results = store.batch(ops).wait()?;
        // SAFETY: checked above.
        unsafe { guard::write(out, guard::boxed(clustron_results::of(results, |result| result))) };
        Ok(())
    })
}

/// Reads a page of the keys in `range` (NULL: all) in key order, after the key `after`
/// (NULL: from the start), at most `limit` entries (0: the default, 1000). `*out` receives
/// the page; `clustron_entries_next` gives the cursor for the next one.
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_scan(
    store: *const clustron_store,
    range: *const clustron_range,
    after: *const c_char,
    after_len: usize,
    limit: usize,
    out: *mut *mut clustron_entries,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "page")?;
        let store = self::store(store)?;
        let mut scan = store.scan(self::range(range)?);
        if !after.is_null() {
            // SAFETY: caller contract.
            scan = scan.after(unsafe { guard::key(after, after_len, "after") }?);
        }
        if limit > 0 {
            scan = scan.limit(limit);
        }
        let page = scan.wait()?;
        let entries = clustron_entries::page(page.entries, page.next, page.revision);
        // SAFETY: checked above.
        unsafe { guard::write(out, guard::boxed(entries)) };
        Ok(())
    })
}

/// Counts the live keys in `range` (NULL: all).
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_count(
    store: *const clustron_store,
    range: *const clustron_range,
    out: *mut u64,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "count")?;
        let count = self::store(store)?.count(self::range(range)?).wait()?;
        // SAFETY: checked above.
        unsafe { guard::write(out, count) };
        Ok(())
    })
}

/// Deletes every key in `range` (NULL: all) in one revision. `deleted` and `revision` may be
/// NULL.
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_clear(
    store: *const clustron_store,
    range: *const clustron_range,
    deleted: *mut u64,
    revision: *mut u64,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let result = self::store(store)?.clear(self::range(range)?).wait()?;
        // SAFETY: optional out-parameters.
        unsafe {
            guard::write_optional(deleted, result.deleted);
            guard::write_optional(revision, result.revision);
        }
        Ok(())
    })
}

/// Sets or replaces the TTL of an existing key (`ttl_ms` > 0). `*changed` (may be NULL) is
/// false when the key does not exist.
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_expire(
    store: *const clustron_store,
    key: *const c_char,
    key_len: usize,
    ttl_ms: i64,
    changed: *mut bool,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let key = unsafe { guard::key(key, key_len, "key") }?;
        let result = store.expire(key, guard::ttl(ttl_ms)?).wait()?;
        // SAFETY: an optional out-parameter.
        unsafe { guard::write_optional(changed, result) };
        Ok(())
    })
}

/// Removes the TTL of a key. `*changed` (may be NULL) is false when the key does not exist
/// or had no TTL.
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_persist(
    store: *const clustron_store,
    key: *const c_char,
    key_len: usize,
    changed: *mut bool,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let key = unsafe { guard::key(key, key_len, "key") }?;
        let result = store.persist(key).wait()?;
        // SAFETY: an optional out-parameter.
        unsafe { guard::write_optional(changed, result) };
        Ok(())
    })
}

/// A key's time to live into `*out`.
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_ttl(
    store: *const clustron_store,
    key: *const c_char,
    key_len: usize,
    out: *mut clustron_ttl,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "ttl")?;
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let key = unsafe { guard::key(key, key_len, "key") }?;
        let ttl = match store.ttl(key).wait()? {
            KeyTtl::Missing => clustron_ttl { state: CLUSTRON_TTL_MISSING, ..clustron_ttl::default() },
            KeyTtl::Persistent => clustron_ttl { state: CLUSTRON_TTL_PERSISTENT, ..clustron_ttl::default() },
            KeyTtl::Expires { at, remaining } => clustron_ttl {
                state: CLUSTRON_TTL_EXPIRES,
                remaining_ms: remaining.as_millis() as u64,
                expires_at_ms: at.unix_millis(),
            },
        };
        // SAFETY: checked above.
        unsafe { guard::write(out, ttl) };
        Ok(())
    })
}

//! Watches, read by pulling: `clustron_watch_next` blocks up to a timeout.

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use clustron::{DeleteCause, Event, EventKind, Watch};

use crate::guard::{self, call};
use crate::kv::{clustron_range, range};
use crate::objects::clustron_entry;
use crate::status::{clustron_error, clustron_status};
use crate::store::{clustron_store, store};

/// Start with the current entries (snapshot events), then the live changes.
pub const CLUSTRON_WATCH_SNAPSHOT: u32 = 1 << 0;
/// `from_revision` is set: start with the changes from that revision on.
pub const CLUSTRON_WATCH_FROM_REVISION: u32 = 1 << 1;
/// Deliver each change's previous entry.
pub const CLUSTRON_WATCH_PREV_VALUE: u32 = 1 << 2;
const WATCH_FLAGS: u32 = (1 << 3) - 1;

/// A put event.
pub const CLUSTRON_EVENT_PUT: i32 = 1;
/// A delete event.
pub const CLUSTRON_EVENT_DELETE: i32 = 2;

/// Not a delete.
pub const CLUSTRON_CAUSE_NONE: i32 = 0;
/// An explicit delete.
pub const CLUSTRON_CAUSE_DELETED: i32 = 1;
/// The key's TTL ran out.
pub const CLUSTRON_CAUSE_EXPIRED: i32 = 2;
/// The key's lease expired or was revoked.
pub const CLUSTRON_CAUSE_LEASE_ENDED: i32 = 3;
/// A clear removed it.
pub const CLUSTRON_CAUSE_CLEARED: i32 = 4;

/// Not an event of a live query.
pub const CLUSTRON_QUERY_NONE: i32 = 0;
/// The entry entered the live query's results.
pub const CLUSTRON_QUERY_ENTER: i32 = 1;
/// The entry changed inside the results.
pub const CLUSTRON_QUERY_CHANGE: i32 = 2;
/// The entry left the results.
pub const CLUSTRON_QUERY_LEAVE: i32 = 3;

/// Options of a watch (NULL: live changes only).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct clustron_watch_options {
    pub flags: u32,
    pub from_revision: u64,
}

/// A running watch. `clustron_watch_next` may be called from one thread at a time (others
/// wait their turn).
#[derive(Debug)]
pub struct clustron_watch {
    watch: Mutex<Watch>,
    cancelled: AtomicBool,
}

/// A change delivered by a watch.
#[derive(Debug)]
pub struct clustron_event {
    kind: EventKind,
    revision: u64,
    snapshot: bool,
    cause: Option<DeleteCause>,
    entry: clustron_entry,
    prev: Option<clustron_entry>,
    change: Option<clustron::search::QueryChange>,
}

impl From<Event> for clustron_event {
    fn from(event: Event) -> clustron_event {
        clustron_event {
            kind: event.kind(),
            revision: event.revision(),
            snapshot: event.is_snapshot(),
            cause: event.cause(),
            entry: clustron_entry { entry: event.entry().clone() },
            prev: event.prev().cloned().map(|entry| clustron_entry { entry }),
            change: event.query_change(),
        }
    }
}

fn open(
    store: *const clustron_store,
    options: *const clustron_watch_options,
    out: *mut *mut clustron_watch,
    start: impl FnOnce(&clustron::Store) -> clustron::Op<'_, clustron::ops::OpenWatch>,
) -> clustron::Result<()> {
    guard::out(out, "watch")?;
    let mut open = start(self::store(store)?);
    // SAFETY: NULL or a readable struct (caller contract).
    if let Some(options) = unsafe { options.as_ref() } {
        guard::check_flags(options.flags, WATCH_FLAGS, "watch option")?;
        if options.flags & CLUSTRON_WATCH_SNAPSHOT != 0 {
            open = open.snapshot();
        }
        if options.flags & CLUSTRON_WATCH_FROM_REVISION != 0 {
            open = open.from_revision(options.from_revision);
        }
        if options.flags & CLUSTRON_WATCH_PREV_VALUE != 0 {
            open = open.prev_value();
        }
    }
    let watch = open.wait()?;
    let handle = clustron_watch { watch: Mutex::new(watch), cancelled: AtomicBool::new(false) };
    // SAFETY: checked above.
    unsafe { guard::write(out, guard::boxed(handle)) };
    Ok(())
}

/// Watches one key.
#[no_mangle]
pub unsafe extern "C" fn clustron_watch_key(
    store: *const clustron_store,
    key: *const c_char,
    key_len: usize,
    options: *const clustron_watch_options,
    out: *mut *mut clustron_watch,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        // SAFETY: caller contract.
        let key = unsafe { guard::key(key, key_len, "key") }?;
        open(store, options, out, |store| store.watch().key(key))
    })
}

/// Watches the keys in `range` (NULL: every key).
#[no_mangle]
pub unsafe extern "C" fn clustron_watch_range(
    store: *const clustron_store,
    range: *const clustron_range,
    options: *const clustron_watch_options,
    out: *mut *mut clustron_watch,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let range = self::range(range)?;
        open(store, options, out, |store| store.watch().range(range))
    })
}

/// A live query: the tagged entries of `search->entity` (NULL: every entity) matching
/// `search->clause` (NULL: all of them); the search's other fields do not apply. Each
/// event's `clustron_event_query_change` says whether its entry entered the results,
/// changed inside them or left them; CLUSTRON_WATCH_SNAPSHOT starts with every match.
#[no_mangle]
pub unsafe extern "C" fn clustron_watch_search(
    store: *const clustron_store,
    search: *const crate::search::clustron_search,
    options: *const clustron_watch_options,
    out: *mut *mut clustron_watch,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        // SAFETY: caller contract.
        let spec = unsafe { crate::search::spec(search) }?;
        open(store, options, out, |store| {
            let open = match &spec.entity {
                Some(entity) => store.watch().search(entity.as_str()),
                None => store.watch().search_all(),
            };
            match &spec.clause {
                Some(clause) => open.matching(clause),
                None => open,
            }
        })
    })
}

fn watch<'a>(watch: *const clustron_watch) -> clustron::Result<&'a clustron_watch> {
    // SAFETY: NULL or a live handle (caller contract).
    unsafe { guard::object(watch, "watch") }
}

/// Waits up to `timeout_ms` (negative: no limit; 0: do not wait) for the next event. On
/// CLUSTRON_OK `*out` receives the event, or NULL when the time ran out. When the watch is
/// over the call fails: CLUSTRON_CLOSED (cancelled or store closed), CLUSTRON_COMPACTED
/// (it fell behind the history) or CLUSTRON_PERMISSION_DENIED (on a cluster with access
/// control, its permission ended: a grant taken away, its token revoked or expired).
#[no_mangle]
pub unsafe extern "C" fn clustron_watch_next(
    watch: *const clustron_watch,
    timeout_ms: i64,
    out: *mut *mut clustron_event,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "event")?;
        let mut watch = self::watch(watch)?.watch.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let event = watch.next_timeout(guard::timeout(timeout_ms))?;
        let event = event.map_or(std::ptr::null_mut(), |event| guard::boxed(clustron_event::from(event)));
        // SAFETY: checked above.
        unsafe { guard::write(out, event) };
        Ok(())
    })
}

/// The revision of the last event delivered (0 before the first): resume elsewhere with
/// CLUSTRON_WATCH_FROM_REVISION at this + 1.
#[no_mangle]
pub unsafe extern "C" fn clustron_watch_revision(watch: *const clustron_watch) -> u64 {
    self::watch(watch).map_or(0, |watch| watch.watch.lock().map_or(0, |watch| watch.revision()))
}

/// Stops the watch. A second cancel returns CLUSTRON_CLOSED. The watch must still be freed.
#[no_mangle]
pub unsafe extern "C" fn clustron_watch_cancel(watch: *const clustron_watch) -> clustron_status {
    call(std::ptr::null_mut(), || {
        let watch = self::watch(watch)?;
        if watch.cancelled.swap(true, Ordering::AcqRel) {
            return Err(clustron::Error::new(clustron::ErrorCode::Closed, "the watch was already cancelled"));
        }
        watch.watch.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).cancel();
        Ok(())
    })
}

/// Frees a watch (cancelling it). NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn clustron_watch_free(watch: *mut clustron_watch) {
    // SAFETY: NULL or a pointer this library returned, freed once.
    unsafe { guard::free(watch) };
}

fn event<'a>(event: *const clustron_event) -> Option<&'a clustron_event> {
    // SAFETY: NULL or a live handle (caller contract).
    unsafe { event.as_ref() }
}

/// CLUSTRON_EVENT_PUT or CLUSTRON_EVENT_DELETE (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn clustron_event_kind(event: *const clustron_event) -> i32 {
    match self::event(event).map(|event| event.kind) {
        Some(EventKind::Put) => CLUSTRON_EVENT_PUT,
        Some(EventKind::Delete) => CLUSTRON_EVENT_DELETE,
        None => 0,
    }
}

/// The revision of the change (snapshot events: the revision the snapshot was taken at).
#[no_mangle]
pub unsafe extern "C" fn clustron_event_revision(event: *const clustron_event) -> u64 {
    self::event(event).map_or(0, |event| event.revision)
}

/// Whether the event belongs to the initial snapshot.
#[no_mangle]
pub unsafe extern "C" fn clustron_event_is_snapshot(event: *const clustron_event) -> bool {
    self::event(event).is_some_and(|event| event.snapshot)
}

/// On a live query's watch, how the change moved the entry in the results:
/// CLUSTRON_QUERY_ENTER, _CHANGE or _LEAVE (CLUSTRON_QUERY_NONE on key and range watches).
#[no_mangle]
pub unsafe extern "C" fn clustron_event_query_change(event: *const clustron_event) -> i32 {
    match self::event(event).and_then(|event| event.change) {
        None => CLUSTRON_QUERY_NONE,
        Some(clustron::search::QueryChange::Enter) => CLUSTRON_QUERY_ENTER,
        Some(clustron::search::QueryChange::Change) => CLUSTRON_QUERY_CHANGE,
        Some(clustron::search::QueryChange::Leave) => CLUSTRON_QUERY_LEAVE,
    }
}

/// Why a key was removed: CLUSTRON_CAUSE_* (CLUSTRON_CAUSE_NONE for puts).
#[no_mangle]
pub unsafe extern "C" fn clustron_event_cause(event: *const clustron_event) -> i32 {
    match self::event(event).and_then(|event| event.cause) {
        None => CLUSTRON_CAUSE_NONE,
        Some(DeleteCause::Deleted) => CLUSTRON_CAUSE_DELETED,
        Some(DeleteCause::Expired) => CLUSTRON_CAUSE_EXPIRED,
        Some(DeleteCause::LeaseEnded) => CLUSTRON_CAUSE_LEASE_ENDED,
        Some(DeleteCause::Cleared) => CLUSTRON_CAUSE_CLEARED,
    }
}

/// The entry after the change (a delete: the key, an empty value, version 0). Owned by the
/// event; read it with the clustron_entry_* functions.
#[no_mangle]
pub unsafe extern "C" fn clustron_event_entry(event: *const clustron_event) -> *const clustron_entry {
    self::event(event).map_or(std::ptr::null(), |event| &event.entry)
}

/// The entry before the change (watches opened with CLUSTRON_WATCH_PREV_VALUE), or NULL.
/// Owned by the event.
#[no_mangle]
pub unsafe extern "C" fn clustron_event_prev(event: *const clustron_event) -> *const clustron_entry {
    self::event(event).and_then(|event| event.prev.as_ref()).map_or(std::ptr::null(), |prev| prev)
}

/// Frees an event. NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn clustron_event_free(event: *mut clustron_event) {
    // SAFETY: NULL or a pointer this library returned, freed once.
    unsafe { guard::free(event) };
}

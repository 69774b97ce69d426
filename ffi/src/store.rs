//! Opening, closing and describing a store.

use std::ffi::c_char;
use std::time::Duration;

use clustron::{Config, Mode, Store};

use crate::guard::{self, call};
use crate::status::{clustron_error, clustron_status};

/// An open store handle. Safe to use from many threads at once. Close it with
/// `clustron_store_close` (later calls fail with CLUSTRON_CLOSED) and free it with
/// `clustron_store_free`.
#[derive(Debug)]
pub struct clustron_store {
    pub(crate) store: Store,
}

/// A store's status.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct clustron_store_stats {
    /// The current revision.
    pub revision: u64,
    /// Watches can resume from revisions after this one.
    pub compacted_revision: u64,
    /// Keys held (expired ones not yet swept included).
    pub keys: u64,
    /// Live leases.
    pub leases: u64,
    /// Locks held or waited for.
    pub locks: u64,
    /// Counters.
    pub counters: u64,
    /// Open watches.
    pub watchers: u64,
    /// Sessions kept alive by this process.
    pub sessions: u64,
    /// The consensus term (0 in-process).
    pub term: u64,
    /// 0: in-process; 1: remote.
    pub mode: i32,
}

pub(crate) fn store<'a>(store: *const clustron_store) -> clustron::Result<&'a Store> {
    // SAFETY: NULL or a live handle (caller contract).
    unsafe { guard::object(store, "store") }.map(|handle| &handle.store)
}

/// Opens a store. `target` (NUL-terminated) is a store name (in-process), a connection string
/// (`clustron://inproc/orders`, `clustron://h1:7861/orders`) or the JSON form with a "Store".
/// On success `*out` receives the handle.
#[no_mangle]
pub unsafe extern "C" fn clustron_store_open(
    target: *const c_char,
    out: *mut *mut clustron_store,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        // SAFETY: caller contract.
        let target = unsafe { guard::c_string(target, "target") }?;
        guard::out(out, "store")?;
        let store = clustron::open(target).wait()?;
        // SAFETY: checked above.
        unsafe { guard::write(out, guard::boxed(clustron_store { store })) };
        Ok(())
    })
}

/// Opens the store `name` with `config`: a connection string or the JSON form
/// (`{"Mode": "InProc"}`). Both NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn clustron_store_open_with(
    name: *const c_char,
    config: *const c_char,
    out: *mut *mut clustron_store,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        // SAFETY: caller contract.
        let name = unsafe { guard::c_string(name, "name") }?;
        // SAFETY: caller contract.
        let config = Config::parse(unsafe { guard::c_string(config, "config") }?)?;
        guard::out(out, "store")?;
        let store = clustron::open_with(name, config).wait()?;
        // SAFETY: checked above.
        unsafe { guard::write(out, guard::boxed(clustron_store { store })) };
        Ok(())
    })
}

/// Closes the handle: its watches and sessions end, its locks are released, and later
/// calls through it fail with CLUSTRON_CLOSED. Closing twice is harmless. The handle must
/// still be freed.
#[no_mangle]
pub unsafe extern "C" fn clustron_store_close(store: *mut clustron_store) -> clustron_status {
    call(std::ptr::null_mut(), || {
        self::store(store)?.close();
        Ok(())
    })
}

/// Frees the handle (closing it if this was its last use). NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn clustron_store_free(store: *mut clustron_store) {
    // SAFETY: NULL or a pointer this library returned, freed once.
    unsafe { guard::free(store) };
}

/// The store's name (lowercase, not NUL-terminated), or NULL for a NULL handle.
#[no_mangle]
pub unsafe extern "C" fn clustron_store_name(store: *const clustron_store, len: *mut usize) -> *const c_char {
    let Ok(store) = self::store(store) else { return std::ptr::null() };
    // SAFETY: an optional out-parameter.
    unsafe { guard::write_optional(len, store.name().len()) };
    store.name().as_ptr().cast()
}

/// The store's status into `*out`.
#[no_mangle]
pub unsafe extern "C" fn clustron_store_status(
    store: *const clustron_store,
    out: *mut clustron_store_stats,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "stats")?;
        let status = self::store(store)?.status().wait()?;
        let stats = clustron_store_stats {
            revision: status.revision,
            compacted_revision: status.compacted_revision,
            keys: status.keys,
            leases: status.leases,
            locks: status.locks,
            counters: status.counters,
            watchers: status.watchers,
            sessions: status.sessions,
            term: status.term,
            mode: match status.mode {
                Mode::InProc => 0,
                Mode::Remote => 1,
            },
        };
        // SAFETY: checked above.
        unsafe { guard::write(out, stats) };
        Ok(())
    })
}

/// Moves a manual clock forward by `millis` (stores opened with `clock=manual`), running
/// every expiry and timeout that falls due on the way.
#[no_mangle]
pub unsafe extern "C" fn clustron_store_advance_clock(
    store: *const clustron_store,
    millis: u64,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || self::store(store)?.advance_clock(Duration::from_millis(millis)).wait())
}

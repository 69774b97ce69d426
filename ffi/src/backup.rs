//! Backups from C: a store to a file (`clustron_store_backup`), a file to a new store
//! (`clustron_restore`), and a file checked (`clustron_backup_inspect`). What a file holds
//! comes back as JSON text (the fields of `clustron backup --json`), freed with
//! `clustron_text_free`. Each call blocks while it reads or writes the file (and, for a
//! cluster's store, while the parts travel).

use std::ffi::c_char;

use crate::guard::{self, call, text_out};
use crate::status::{clustron_error, clustron_status};
use crate::store::{clustron_store, store};

/// Writes a backup of the store to `path` (NUL-terminated): every entry as of one revision,
/// the leases, counters and the store's configuration, in a checksummed file that appears
/// under `path` once complete and synced (an existing file is replaced). Writers go on
/// meanwhile. `info` (optional, NULL: not wanted) receives what the file holds as JSON text:
/// `{"path", "store", "revision", "entries", "file_bytes", "created_at_ms",
/// "clustron_version", "replicas", "history_events", "history_bytes", "max_keys",
/// "max_bytes"}`.
#[no_mangle]
pub unsafe extern "C" fn clustron_store_backup(
    store: *const clustron_store,
    path: *const c_char,
    info: *mut *mut c_char,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let path = unsafe { guard::c_string(path, "path") }?;
        let written = store.backup(path).wait()?;
        if !info.is_null() {
            // SAFETY: not NULL, and caller contract.
            unsafe { text_out(info, written.to_json().to_string()) }?;
        }
        Ok(())
    })
}

/// Creates the store `target` names (a store name in process, or a connection string
/// `clustron://h1:7861,h2:7861/orders`) from the backup at `path` (both NUL-terminated) and
/// opens it: the same entries with the same values, versions and revisions, the same leases,
/// counters and revision, and the backup's configuration. The whole file is checked first: a
/// damaged, truncated or foreign file gives `CLUSTRON_INVALID_INPUT` with nothing created, a
/// missing one `CLUSTRON_NOT_FOUND`; a store that holds data `CLUSTRON_CONFLICT`. On success
/// `*out` receives the store (an in-process store lives while a handle on it does).
#[no_mangle]
pub unsafe extern "C" fn clustron_restore(
    path: *const c_char,
    target: *const c_char,
    out: *mut *mut clustron_store,
    err: *mut *mut clustron_error,
) -> clustron_status {
    // SAFETY: caller contract, passed on.
    unsafe { restore_into(path, target, out, err, false) }
}

/// Like `clustron_restore`, but a cluster's store of that name is dropped first (its leases
/// end and its locks are released; clients get `CLUSTRON_NOT_FOUND` until it is made again)
/// once the whole file is checked, and made anew from the backup: a damaged file never costs
/// the store. An in-process store open with data cannot be replaced (`CLUSTRON_CONFLICT`).
#[no_mangle]
pub unsafe extern "C" fn clustron_restore_replacing(
    path: *const c_char,
    target: *const c_char,
    out: *mut *mut clustron_store,
    err: *mut *mut clustron_error,
) -> clustron_status {
    // SAFETY: caller contract, passed on.
    unsafe { restore_into(path, target, out, err, true) }
}

/// `clustron_restore` and `clustron_restore_replacing`.
///
/// # Safety
/// As theirs: NUL-terminated strings or NULL, `out` and `err` valid or NULL.
unsafe fn restore_into(
    path: *const c_char,
    target: *const c_char,
    out: *mut *mut clustron_store,
    err: *mut *mut clustron_error,
    replace: bool,
) -> clustron_status {
    call(err, || {
        // SAFETY: caller contract.
        let path = unsafe { guard::c_string(path, "path") }?;
        // SAFETY: caller contract.
        let target = unsafe { guard::c_string(target, "target") }?;
        guard::out(out, "store")?;
        let restored = if replace {
            clustron::backup::restore_replacing(path, target)?
        } else {
            clustron::backup::restore(path, target)?
        };
        // SAFETY: checked above.
        unsafe { guard::write(out, guard::boxed(clustron_store { store: restored.store })) };
        Ok(())
    })
}

/// Reads and checks a whole backup file (`path`, NUL-terminated) without restoring it;
/// `*info` receives what it holds as JSON text (as `clustron_store_backup` gives it).
#[no_mangle]
pub unsafe extern "C" fn clustron_backup_inspect(
    path: *const c_char,
    info: *mut *mut c_char,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        // SAFETY: caller contract.
        let path = unsafe { guard::c_string(path, "path") }?;
        guard::out(info, "info")?;
        let inspected = clustron::backup::inspect(path)?;
        // SAFETY: checked above.
        unsafe { text_out(info, inspected.to_json().to_string()) }
    })
}

//! Leases and sessions.

use std::time::Duration;

use clustron::{LeaseId, LeaseInfo, Session};

use crate::guard::{self, call};
use crate::objects::clustron_keys;
use crate::status::{clustron_error, clustron_status};
use crate::store::{clustron_store, store};

/// A lease as reported by grant, keep-alive and time-to-live.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct clustron_lease_info {
    pub id: u64,
    pub ttl_ms: u64,
    pub remaining_ms: u64,
    /// Milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
    /// How many keys are attached.
    pub keys: u64,
}

impl From<&LeaseInfo> for clustron_lease_info {
    fn from(info: &LeaseInfo) -> clustron_lease_info {
        clustron_lease_info {
            id: info.id.get(),
            ttl_ms: info.ttl.as_millis() as u64,
            remaining_ms: info.remaining.as_millis() as u64,
            expires_at_ms: info.expires_at.unix_millis(),
            keys: info.keys.len() as u64,
        }
    }
}

/// A list of leases.
#[derive(Debug)]
pub struct clustron_leases {
    items: Vec<clustron_lease_info>,
}

/// Grants a lease of `ttl_ms` (> 0) into `*out`.
#[no_mangle]
pub unsafe extern "C" fn clustron_lease_grant(
    store: *const clustron_store,
    ttl_ms: i64,
    out: *mut clustron_lease_info,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "lease")?;
        let info = self::store(store)?.leases().grant(guard::ttl(ttl_ms)?).wait()?;
        // SAFETY: checked above.
        unsafe { guard::write(out, (&info).into()) };
        Ok(())
    })
}

/// Extends a lease to its TTL from now; CLUSTRON_LEASE_NOT_FOUND if it already ended.
/// `out` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn clustron_lease_keep_alive(
    store: *const clustron_store,
    lease: u64,
    out: *mut clustron_lease_info,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let info = self::store(store)?.leases().keep_alive(LeaseId::new(lease)).wait()?;
        // SAFETY: an optional out-parameter.
        unsafe { guard::write_optional(out, (&info).into()) };
        Ok(())
    })
}

/// Ends a lease now (its keys are deleted, its locks released). `*revoked` (may be NULL) is
/// false when it had already ended.
#[no_mangle]
pub unsafe extern "C" fn clustron_lease_revoke(
    store: *const clustron_store,
    lease: u64,
    revoked: *mut bool,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let result = self::store(store)?.leases().revoke(LeaseId::new(lease)).wait()?;
        // SAFETY: an optional out-parameter.
        unsafe { guard::write_optional(revoked, result) };
        Ok(())
    })
}

/// A lease's state into `*out` and `*found` (false when it ended; `*out` is then not
/// written). `keys` (may be NULL) receives the keys attached, or NULL when not found.
#[no_mangle]
pub unsafe extern "C" fn clustron_lease_time_to_live(
    store: *const clustron_store,
    lease: u64,
    found: *mut bool,
    out: *mut clustron_lease_info,
    keys: *mut *mut clustron_keys,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(found, "found")?;
        let info = self::store(store)?.leases().time_to_live(LeaseId::new(lease)).wait()?;
        // SAFETY: checked (found) and optional (out, keys) out-parameters.
        unsafe {
            guard::write(found, info.is_some());
            if let Some(info) = &info {
                guard::write_optional(out, info.into());
            }
            let list = info.map_or(std::ptr::null_mut(), |info| guard::boxed(clustron_keys { items: info.keys }));
            if keys.is_null() {
                guard::free(list);
            } else {
                guard::write(keys, list);
            }
        }
        Ok(())
    })
}

/// Every live lease, by id, into `*out`.
#[no_mangle]
pub unsafe extern "C" fn clustron_lease_list(
    store: *const clustron_store,
    out: *mut *mut clustron_leases,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "leases")?;
        let leases = self::store(store)?.leases().list().wait()?;
        let items = leases.iter().map(clustron_lease_info::from).collect();
        // SAFETY: checked above.
        unsafe { guard::write(out, guard::boxed(clustron_leases { items })) };
        Ok(())
    })
}

/// How many leases the list holds.
#[no_mangle]
pub unsafe extern "C" fn clustron_leases_len(leases: *const clustron_leases) -> usize {
    // SAFETY: NULL or a live handle.
    unsafe { leases.as_ref() }.map_or(0, |leases| leases.items.len())
}

/// Lease `index` into `*out`; false when out of range.
#[no_mangle]
pub unsafe extern "C" fn clustron_leases_at(
    leases: *const clustron_leases,
    index: usize,
    out: *mut clustron_lease_info,
) -> bool {
    // SAFETY: NULL or a live handle.
    let Some(info) = (unsafe { leases.as_ref() }).and_then(|leases| leases.items.get(index)) else { return false };
    // SAFETY: an optional out-parameter.
    unsafe { guard::write_optional(out, *info) };
    true
}

/// Frees a list of leases. NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn clustron_leases_free(leases: *mut clustron_leases) {
    // SAFETY: NULL or a pointer this library returned, freed once.
    unsafe { guard::free(leases) };
}

/// A session: a lease kept alive in the background until the session is closed or freed.
#[derive(Debug)]
pub struct clustron_session {
    session: Session,
}

/// Opens a session with a lease of `ttl_ms` (> 0), kept alive every `ttl_ms / 3`.
#[no_mangle]
pub unsafe extern "C" fn clustron_session_open(
    store: *const clustron_store,
    ttl_ms: i64,
    out: *mut *mut clustron_session,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "session")?;
        let session = self::store(store)?.session(guard::ttl(ttl_ms)?).wait()?;
        // SAFETY: checked above.
        unsafe { guard::write(out, guard::boxed(clustron_session { session })) };
        Ok(())
    })
}

/// The session's lease id (attach keys and locks to it), or 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn clustron_session_lease(session: *const clustron_session) -> u64 {
    // SAFETY: NULL or a live handle.
    unsafe { session.as_ref() }.map_or(0, |session| session.session.lease().get())
}

/// Whether the session has ended (lease revoked or expired, or closed). True for NULL.
#[no_mangle]
pub unsafe extern "C" fn clustron_session_is_lost(session: *const clustron_session) -> bool {
    // SAFETY: NULL or a live handle.
    unsafe { session.as_ref() }.is_none_or(|session| session.session.is_lost())
}

/// Blocks until the session ends or `timeout_ms` passes (negative: no limit). Returns
/// whether it ended; `*reason` (may be NULL) receives why (CLUSTRON_LEASE_NOT_FOUND,
/// CLUSTRON_CLOSED).
#[no_mangle]
pub unsafe extern "C" fn clustron_session_wait_lost(
    session: *const clustron_session,
    timeout_ms: i64,
    reason: *mut clustron_status,
) -> bool {
    // SAFETY: NULL or a live handle.
    let Some(session) = (unsafe { session.as_ref() }) else { return true };
    let timeout = guard::timeout(timeout_ms).map(|timeout: Duration| timeout);
    match session.session.wait_lost(timeout) {
        Some(error) => {
            // SAFETY: an optional out-parameter.
            unsafe { guard::write_optional(reason, error.code().into()) };
            true
        }
        None => false,
    }
}

/// Stops the keep-alive and revokes the lease. `*was_alive` (may be NULL) is false when the
/// lease had already ended. The session must still be freed.
#[no_mangle]
pub unsafe extern "C" fn clustron_session_close(
    session: *const clustron_session,
    was_alive: *mut bool,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        // SAFETY: caller contract.
        let session = unsafe { guard::object(session, "session") }?;
        let alive = session.session.close().wait()?;
        // SAFETY: an optional out-parameter.
        unsafe { guard::write_optional(was_alive, alive) };
        Ok(())
    })
}

/// Frees a session, revoking its lease if it is still open. NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn clustron_session_free(session: *mut clustron_session) {
    // SAFETY: NULL or a pointer this library returned, freed once.
    unsafe { guard::free(session) };
}

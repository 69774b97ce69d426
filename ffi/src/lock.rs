//! Locks with fencing tokens.

use std::ffi::c_char;

use clustron::{LeaseId, Lock};

use crate::guard::{self, call};
use crate::status::{clustron_error, clustron_status};
use crate::store::{clustron_store, store};

/// `ttl_ms` is set: hold the lock that long (renewable). Without it or a lease: 60 s.
pub const CLUSTRON_LOCK_TTL: u32 = 1 << 0;
/// `lease` is set: hold the lock as long as the lease lives.
pub const CLUSTRON_LOCK_LEASE: u32 = 1 << 1;
/// `wait_ms` is set: wait in line that long when the lock is held (fair, first come first
/// served). Without it, try once.
pub const CLUSTRON_LOCK_WAIT: u32 = 1 << 2;
const LOCK_FLAGS: u32 = (1 << 3) - 1;

/// Options of an acquire (NULL: try once, 60 s TTL).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct clustron_lock_options {
    pub flags: u32,
    pub ttl_ms: i64,
    pub lease: u64,
    pub wait_ms: i64,
}

/// A held lock. Freeing it releases it.
#[derive(Debug)]
pub struct clustron_lock {
    lock: Lock,
}

/// Who holds a lock.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct clustron_lock_info {
    /// The holder's fencing token.
    pub fence: u64,
    /// The lease the lock is bound to (0: none).
    pub lease: u64,
    /// When the holder's TTL runs out, in milliseconds since the Unix epoch (0: lease-bound).
    pub expires_at_ms: u64,
    /// How many acquirers are queued.
    pub waiters: u64,
}

/// Acquires the lock `name`. `*out` receives the lock, or NULL when it is held by someone
/// else (at once, or when the wait ran out). Blocks while waiting.
#[no_mangle]
pub unsafe extern "C" fn clustron_lock_acquire(
    store: *const clustron_store,
    name: *const c_char,
    name_len: usize,
    options: *const clustron_lock_options,
    out: *mut *mut clustron_lock,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "lock")?;
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let name = unsafe { guard::key(name, name_len, "lock name") }?;
        let mut acquire = store.locks().acquire(name);
        // SAFETY: NULL or a readable struct (caller contract).
        if let Some(options) = unsafe { options.as_ref() } {
            guard::check_flags(options.flags, LOCK_FLAGS, "lock option")?;
            if options.flags & CLUSTRON_LOCK_TTL != 0 {
                acquire = acquire.ttl(guard::ttl(options.ttl_ms)?);
            }
            if options.flags & CLUSTRON_LOCK_LEASE != 0 {
                acquire = acquire.lease(LeaseId::new(options.lease));
            }
            if options.flags & CLUSTRON_LOCK_WAIT != 0 {
                let wait = guard::timeout(options.wait_ms).ok_or_else(|| {
                    guard::invalid(format!("lock wait must not be negative, got {} ms", options.wait_ms))
                })?;
                acquire = acquire.timeout(wait);
            }
        }
        let lock = acquire.wait()?;
        let lock = lock.map_or(std::ptr::null_mut(), |lock| guard::boxed(clustron_lock { lock }));
        // SAFETY: checked above.
        unsafe { guard::write(out, lock) };
        Ok(())
    })
}

fn lock<'a>(lock: *const clustron_lock) -> clustron::Result<&'a Lock> {
    // SAFETY: NULL or a live handle (caller contract).
    unsafe { guard::object(lock, "lock") }.map(|handle| &handle.lock)
}

/// The fencing token of this grant (0 for NULL): larger than every earlier grant's.
#[no_mangle]
pub unsafe extern "C" fn clustron_lock_fence(lock: *const clustron_lock) -> u64 {
    self::lock(lock).map_or(0, Lock::fence)
}

/// The lease the lock is bound to (0: none).
#[no_mangle]
pub unsafe extern "C" fn clustron_lock_lease(lock: *const clustron_lock) -> u64 {
    self::lock(lock).ok().and_then(Lock::lease).map_or(0, |lease| lease.get())
}

/// The lock name (not NUL-terminated), or NULL for NULL.
#[no_mangle]
pub unsafe extern "C" fn clustron_lock_name(lock: *const clustron_lock, len: *mut usize) -> *const c_char {
    let Ok(lock) = self::lock(lock) else { return std::ptr::null() };
    // SAFETY: an optional out-parameter.
    unsafe { guard::write_optional(len, lock.name().len()) };
    lock.name().as_ptr().cast()
}

/// Extends the lock's TTL from now (or keeps its lease alive); CLUSTRON_LOCKED if the lock
/// was lost.
#[no_mangle]
pub unsafe extern "C" fn clustron_lock_renew(
    lock: *const clustron_lock,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || self::lock(lock)?.renew().wait().map(drop))
}

/// Releases the lock. `*released` (may be NULL) is false when it had already been lost.
/// The lock must still be freed.
#[no_mangle]
pub unsafe extern "C" fn clustron_lock_release(
    lock: *const clustron_lock,
    released: *mut bool,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let result = self::lock(lock)?.release().wait()?;
        // SAFETY: an optional out-parameter.
        unsafe { guard::write_optional(released, result) };
        Ok(())
    })
}

/// Frees a lock, releasing it if still held. NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn clustron_lock_free(lock: *mut clustron_lock) {
    // SAFETY: NULL or a pointer this library returned, freed once.
    unsafe { guard::free(lock) };
}

/// Who holds the lock `name`: `*held` is false when no one does (`*out` is then not written).
#[no_mangle]
pub unsafe extern "C" fn clustron_lock_holder(
    store: *const clustron_store,
    name: *const c_char,
    name_len: usize,
    held: *mut bool,
    out: *mut clustron_lock_info,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(held, "held")?;
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let name = unsafe { guard::key(name, name_len, "lock name") }?;
        let info = store.locks().info(name).wait()?;
        // SAFETY: checked (held) and optional (out) out-parameters.
        unsafe {
            guard::write(held, info.is_some());
            if let Some(info) = info {
                let view = clustron_lock_info {
                    fence: info.fence,
                    lease: info.lease.map_or(0, |lease| lease.get()),
                    expires_at_ms: info.expires_at.map_or(0, |at| at.unix_millis()),
                    waiters: info.waiters as u64,
                };
                guard::write_optional(out, view);
            }
        }
        Ok(())
    })
}

//! Counters.

use std::ffi::c_char;

use crate::guard::{self, call};
use crate::status::{clustron_error, clustron_status};
use crate::store::{clustron_store, store};

/// `min` is set: refuse an add that would go below it.
pub const CLUSTRON_COUNTER_MIN: u32 = 1 << 0;
/// `max` is set: refuse an add that would go above it.
pub const CLUSTRON_COUNTER_MAX: u32 = 1 << 1;
/// `ttl_ms` is set: add and set give the counter that TTL (add: only when it creates it).
pub const CLUSTRON_COUNTER_TTL: u32 = 1 << 2;
const COUNTER_FLAGS: u32 = (1 << 3) - 1;

/// Options of an add or set (NULL: none).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct clustron_counter_options {
    pub flags: u32,
    pub min: i64,
    pub max: i64,
    pub ttl_ms: i64,
}

/// What an add did.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct clustron_counter_result {
    /// False when the add would have crossed a bound or overflowed.
    pub applied: bool,
    pub previous: i64,
    pub current: i64,
    pub revision: u64,
}

fn options<'a>(options: *const clustron_counter_options) -> clustron::Result<Option<&'a clustron_counter_options>> {
    // SAFETY: NULL or a readable struct (caller contract).
    let options = unsafe { options.as_ref() };
    if let Some(options) = options {
        guard::check_flags(options.flags, COUNTER_FLAGS, "counter option")?;
    }
    Ok(options)
}

/// Adds `delta` to the counter `name`.
#[no_mangle]
pub unsafe extern "C" fn clustron_counter_add(
    store: *const clustron_store,
    name: *const c_char,
    name_len: usize,
    delta: i64,
    options: *const clustron_counter_options,
    out: *mut clustron_counter_result,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let name = unsafe { guard::key(name, name_len, "counter name") }?;
        let mut add = store.counters().add(name, delta);
        if let Some(options) = self::options(options)? {
            if options.flags & CLUSTRON_COUNTER_MIN != 0 {
                add = add.min(options.min);
            }
            if options.flags & CLUSTRON_COUNTER_MAX != 0 {
                add = add.max(options.max);
            }
            if options.flags & CLUSTRON_COUNTER_TTL != 0 {
                add = add.ttl(guard::ttl(options.ttl_ms)?);
            }
        }
        let result = add.wait()?;
        let view = clustron_counter_result {
            applied: result.applied,
            previous: result.previous,
            current: result.current,
            revision: result.revision,
        };
        // SAFETY: an optional out-parameter.
        unsafe { guard::write_optional(out, view) };
        Ok(())
    })
}

/// The counter's value (0 when it does not exist).
#[no_mangle]
pub unsafe extern "C" fn clustron_counter_get(
    store: *const clustron_store,
    name: *const c_char,
    name_len: usize,
    out: *mut i64,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "value")?;
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let name = unsafe { guard::key(name, name_len, "counter name") }?;
        let value = store.counters().get(name).wait()?;
        // SAFETY: checked above.
        unsafe { guard::write(out, value) };
        Ok(())
    })
}

/// Sets the counter (options: only CLUSTRON_COUNTER_TTL). `*previous` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn clustron_counter_set(
    store: *const clustron_store,
    name: *const c_char,
    name_len: usize,
    value: i64,
    options: *const clustron_counter_options,
    previous: *mut i64,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let name = unsafe { guard::key(name, name_len, "counter name") }?;
        let mut set = store.counters().set(name, value);
        if let Some(options) = self::options(options)? {
            if options.flags & (CLUSTRON_COUNTER_MIN | CLUSTRON_COUNTER_MAX) != 0 {
                return Err(guard::invalid("set takes no bounds, only a ttl"));
            }
            if options.flags & CLUSTRON_COUNTER_TTL != 0 {
                set = set.ttl(guard::ttl(options.ttl_ms)?);
            }
        }
        let result = set.wait()?;
        // SAFETY: an optional out-parameter.
        unsafe { guard::write_optional(previous, result.previous) };
        Ok(())
    })
}

/// Sets the counter to `value` if it is `expected` (a missing counter is 0). `*applied` and
/// `*current` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn clustron_counter_compare_and_set(
    store: *const clustron_store,
    name: *const c_char,
    name_len: usize,
    expected: i64,
    value: i64,
    applied: *mut bool,
    current: *mut i64,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let name = unsafe { guard::key(name, name_len, "counter name") }?;
        let result = store.counters().compare_and_set(name, expected, value).wait()?;
        // SAFETY: optional out-parameters.
        unsafe {
            guard::write_optional(applied, result.applied);
            guard::write_optional(current, result.current);
        }
        Ok(())
    })
}

/// Removes the counter. `*existed` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn clustron_counter_delete(
    store: *const clustron_store,
    name: *const c_char,
    name_len: usize,
    existed: *mut bool,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let name = unsafe { guard::key(name, name_len, "counter name") }?;
        let result = store.counters().delete(name).wait()?;
        // SAFETY: an optional out-parameter.
        unsafe { guard::write_optional(existed, result) };
        Ok(())
    })
}

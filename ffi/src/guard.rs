//! The boundary: every `extern "C"` function runs its body through [`call`], and reads its
//! pointer arguments through the checked helpers here. NULL where a value is required, a
//! length over a limit, bad UTF-8: an `InvalidInput` error, never undefined behaviour we can
//! detect. Lengths are checked against the limits *before* memory is read, so an absurd
//! length cannot make us read past a buffer.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use clustron::limits::{self, MAX_KEY_BYTES, MAX_VALUE_BYTES};
use clustron::{Error, ErrorCode, Result};

use crate::status::{clustron_error, clustron_status};

/// Runs `body`; maps its error (or a panic) to a status and the optional `err` out-parameter.
pub(crate) fn call(err: *mut *mut clustron_error, body: impl FnOnce() -> Result<()>) -> clustron_status {
    let error = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return clustron_status::CLUSTRON_OK,
        Ok(Err(error)) => error,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Error::new(ErrorCode::Internal, format!("internal error (a bug in Clustron): {what}"))
        }
    };
    let status = clustron_status::from(error.code());
    if !err.is_null() {
        // SAFETY: the caller passed a writable `clustron_error **` (documented contract).
        unsafe { err.write(Box::into_raw(Box::new(clustron_error::from(error)))) };
    }
    status
}

pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidInput, message)
}

/// A required object handle.
pub(crate) unsafe fn object<'a, T>(pointer: *const T, what: &str) -> Result<&'a T> {
    // SAFETY: NULL or a live handle from this library (caller contract).
    unsafe { pointer.as_ref() }.ok_or_else(|| invalid(format!("{what} is NULL")))
}

/// A required out-parameter, checked before any work is done.
pub(crate) fn out<T>(pointer: *mut T, what: &str) -> Result<()> {
    if pointer.is_null() {
        Err(invalid(format!("the {what} out-parameter is NULL")))
    } else {
        Ok(())
    }
}

/// Writes a checked out-parameter.
pub(crate) unsafe fn write<T>(pointer: *mut T, value: T) {
    // SAFETY: checked non-NULL by `out`; writable by the caller contract.
    unsafe { pointer.write(value) };
}

/// Writes an optional out-parameter (NULL: the caller does not want it).
pub(crate) unsafe fn write_optional<T>(pointer: *mut T, value: T) {
    if !pointer.is_null() {
        // SAFETY: non-NULL and writable by the caller contract.
        unsafe { pointer.write(value) };
    }
}

/// `len` bytes at `pointer`, at most `limit`. NULL is allowed only with length 0.
#[inline]
pub(crate) unsafe fn bytes<'a>(pointer: *const u8, len: usize, what: &str, limit: usize) -> Result<&'a [u8]> {
    if len > limit {
        return Err(invalid(format!("{what} is {len} bytes; the limit is {limit}")));
    }
    if len == 0 {
        return Ok(&[]);
    }
    if pointer.is_null() {
        return Err(invalid(format!("{what} is NULL but its length is {len}")));
    }
    // SAFETY: non-NULL, `len` is bounded, and the caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(pointer, len) })
}

/// A key (or lock or counter name) as UTF-8. Emptiness and the key length limit are left to
/// the core, so the error (and, in bulk calls, which item it belongs to) is the same as from
/// every other surface; only an absurd length is refused here, before memory is read.
#[inline]
pub(crate) unsafe fn key<'a>(pointer: *const c_char, len: usize, what: &str) -> Result<&'a str> {
    // SAFETY: forwarded caller contract.
    let bytes = unsafe { bytes(pointer.cast(), len, what, MAX_VALUE_BYTES) }?;
    limits::key_from_utf8(bytes).map_err(|error| invalid(format!("{what}: {}", error.message())))
}

/// Text that may be empty (a prefix, a range bound, a content type), UTF-8.
pub(crate) unsafe fn text<'a>(pointer: *const c_char, len: usize, what: &str) -> Result<&'a str> {
    // SAFETY: forwarded caller contract.
    let bytes = unsafe { bytes(pointer.cast(), len, what, MAX_KEY_BYTES) }?;
    std::str::from_utf8(bytes).map_err(|_| invalid(format!("{what} is not valid UTF-8")))
}

/// A value: up to MAX_VALUE_BYTES bytes, NUL bytes allowed.
pub(crate) unsafe fn value<'a>(pointer: *const u8, len: usize) -> Result<&'a [u8]> {
    // SAFETY: forwarded caller contract.
    unsafe { bytes(pointer, len, "value", MAX_VALUE_BYTES) }
}

/// A NUL-terminated UTF-8 string (configuration, store names).
pub(crate) unsafe fn c_string<'a>(pointer: *const c_char, what: &str) -> Result<&'a str> {
    if pointer.is_null() {
        return Err(invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller contract.
    unsafe { CStr::from_ptr(pointer) }.to_str().map_err(|_| invalid(format!("{what} is not valid UTF-8")))
}

/// A TTL in milliseconds as C passes it; zero and negative values are invalid.
pub(crate) fn ttl(millis: i64) -> Result<Duration> {
    limits::ttl_from_millis(millis)
}

/// A timeout in milliseconds; negative means no limit.
pub(crate) fn timeout(millis: i64) -> Option<Duration> {
    u64::try_from(millis).ok().map(Duration::from_millis)
}

/// Rejects option flag bits this version does not know.
pub(crate) fn check_flags(flags: u32, known: u32, what: &str) -> Result<()> {
    let unknown = flags & !known;
    if unknown != 0 {
        return Err(invalid(format!("unknown {what} flags 0x{unknown:x}")));
    }
    Ok(())
}

/// Moves a value to the heap and hands the pointer to C.
pub(crate) fn boxed<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Frees what [`boxed`] returned. NULL is allowed.
pub(crate) unsafe fn free<T>(pointer: *mut T) {
    if !pointer.is_null() {
        // SAFETY: a pointer from `boxed`, freed once (caller contract).
        drop(unsafe { Box::from_raw(pointer) });
    }
}

/// Writes `text` to a checked out-parameter as a NUL-terminated string the caller frees with
/// `clustron_text_free`.
pub(crate) unsafe fn text_out(out: *mut *mut std::ffi::c_char, text: String) -> Result<()> {
    let text = std::ffi::CString::new(text).map_err(|_| invalid("the answer holds a NUL byte"))?;
    // SAFETY: checked by the caller with `out`.
    unsafe { write(out, text.into_raw()) };
    Ok(())
}

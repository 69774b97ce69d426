//! Status codes and error objects.

use std::ffi::{c_char, CStr, CString};

use clustron::{Error, ErrorCode};

/// The outcome of a call: `CLUSTRON_OK` or one of the stable error codes (the same numbers
/// as `ErrorCode` in Rust, the Python exceptions and Node's `err.code`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum clustron_status {
    /// Success.
    CLUSTRON_OK = 0,
    /// Malformed request: NULL pointer, bad length, empty or oversized key or value, bad
    /// UTF-8, bad TTL, unknown option flag, malformed configuration.
    CLUSTRON_INVALID_INPUT = 1,
    /// A named thing the request needs does not exist (missing keys are not errors).
    CLUSTRON_NOT_FOUND = 2,
    /// An optimistic transaction read something that changed before it committed.
    CLUSTRON_CONFLICT = 3,
    /// A guarded write or lock operation carried a fencing token that does not hold the lock.
    CLUSTRON_LOCKED = 4,
    /// The lease does not exist or has expired.
    CLUSTRON_LEASE_NOT_FOUND = 5,
    /// A watch asked for history that is no longer kept.
    CLUSTRON_COMPACTED = 6,
    /// The operation did not complete in the time it was given.
    CLUSTRON_TIMEOUT = 7,
    /// The store cannot serve the request now.
    CLUSTRON_UNAVAILABLE = 8,
    /// The store, watch or session was closed.
    CLUSTRON_CLOSED = 9,
    /// A bug in Clustron.
    CLUSTRON_INTERNAL = 10,
    /// No room for the write: a node's disk is full (writes resume once space is freed).
    CLUSTRON_NO_SPACE = 11,
    /// The write would take the store past its quota (max_keys, max_bytes); nothing changed.
    CLUSTRON_QUOTA_EXCEEDED = 12,
    /// No credential, or one the cluster does not accept (malformed, unknown, expired, revoked).
    CLUSTRON_UNAUTHENTICATED = 13,
    /// The credential's roles do not grant what the request needs.
    CLUSTRON_PERMISSION_DENIED = 14,
}

impl From<ErrorCode> for clustron_status {
    fn from(code: ErrorCode) -> clustron_status {
        match code {
            ErrorCode::InvalidInput => clustron_status::CLUSTRON_INVALID_INPUT,
            ErrorCode::NotFound => clustron_status::CLUSTRON_NOT_FOUND,
            ErrorCode::Conflict => clustron_status::CLUSTRON_CONFLICT,
            ErrorCode::Locked => clustron_status::CLUSTRON_LOCKED,
            ErrorCode::LeaseNotFound => clustron_status::CLUSTRON_LEASE_NOT_FOUND,
            ErrorCode::Compacted => clustron_status::CLUSTRON_COMPACTED,
            ErrorCode::Timeout => clustron_status::CLUSTRON_TIMEOUT,
            ErrorCode::Unavailable => clustron_status::CLUSTRON_UNAVAILABLE,
            ErrorCode::Closed => clustron_status::CLUSTRON_CLOSED,
            ErrorCode::NoSpace => clustron_status::CLUSTRON_NO_SPACE,
            ErrorCode::QuotaExceeded => clustron_status::CLUSTRON_QUOTA_EXCEEDED,
            ErrorCode::Unauthenticated => clustron_status::CLUSTRON_UNAUTHENTICATED,
            ErrorCode::PermissionDenied => clustron_status::CLUSTRON_PERMISSION_DENIED,
            _ => clustron_status::CLUSTRON_INTERNAL,
        }
    }
}

/// An error: a status code and a message. Owned by the caller; free with
/// `clustron_error_free`.
#[derive(Debug)]
pub struct clustron_error {
    status: clustron_status,
    message: CString,
}

impl From<Error> for clustron_error {
    fn from(error: Error) -> clustron_error {
        let message = error.message().replace('\0', "\u{FFFD}");
        clustron_error { status: error.code().into(), message: CString::new(message).unwrap_or_default() }
    }
}

/// The code of an error (`CLUSTRON_INVALID_INPUT` for NULL).
#[no_mangle]
pub unsafe extern "C" fn clustron_error_code(error: *const clustron_error) -> clustron_status {
    // SAFETY: NULL or a pointer this library returned and the caller has not freed.
    unsafe { error.as_ref() }.map_or(clustron_status::CLUSTRON_INVALID_INPUT, |error| error.status)
}

/// The error message, NUL-terminated, valid until the error is freed ("" for NULL).
#[no_mangle]
pub unsafe extern "C" fn clustron_error_message(error: *const clustron_error) -> *const c_char {
    // SAFETY: as above.
    match unsafe { error.as_ref() } {
        Some(error) => error.message.as_ptr(),
        None => c"".as_ptr(),
    }
}

/// Frees an error. NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn clustron_error_free(error: *mut clustron_error) {
    if !error.is_null() {
        // SAFETY: a pointer from Box::into_raw in this library, freed once by the caller.
        drop(unsafe { Box::from_raw(error) });
    }
}

/// The stable name of a status ("ok", "invalid_input", ...; "unknown" for other numbers).
/// The string is static.
#[no_mangle]
pub unsafe extern "C" fn clustron_status_name(status: i32) -> *const c_char {
    let name: &'static CStr = match status {
        0 => c"ok",
        1 => c"invalid_input",
        2 => c"not_found",
        3 => c"conflict",
        4 => c"locked",
        5 => c"lease_not_found",
        6 => c"compacted",
        7 => c"timeout",
        8 => c"unavailable",
        9 => c"closed",
        10 => c"internal",
        11 => c"no_space",
        12 => c"quota_exceeded",
        13 => c"unauthenticated",
        14 => c"permission_denied",
        _ => c"unknown",
    };
    name.as_ptr()
}

/// The library version, e.g. "0.1.0". The string is static.
#[no_mangle]
pub unsafe extern "C" fn clustron_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_numbers_and_names_match_the_error_code_table() {
        for code in ErrorCode::ALL {
            let status = clustron_status::from(code);
            assert_eq!(status as i32, code.number() as i32, "{code}");
            // SAFETY: the function returns a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(clustron_status_name(status as i32)) };
            assert_eq!(name.to_str().unwrap(), code.name());
        }
    }
}

//! The documented limits and the checks that enforce them. The state machine runs these on
//! every request, whichever surface it came from; bindings use the conversion helpers here
//! (`ttl_from_millis`, `key_from_utf8`) so a negative TTL or a bad UTF-8 key gets the same
//! error in every language.

use std::time::Duration;

use crate::{Error, Result};

/// Longest key (and lock or counter name), in bytes.
pub const MAX_KEY_BYTES: usize = 4096;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;
/// Longest TTL (keys, leases, locks, counters, lock waits): ten years.
pub const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Most labels on one entry.
pub const MAX_LABELS: usize = 64;
/// Longest label name or label value, content type, or entity name, in bytes.
pub const MAX_TAG_BYTES: usize = 1024;
/// Most operations in one bulk call, batch or transaction (each branch), and most compares.
pub const MAX_BATCH: usize = 10_000;
/// Largest page a scan returns.
pub const MAX_SCAN_LIMIT: usize = 100_000;
/// The page size of a scan that does not set one.
pub const DEFAULT_SCAN_LIMIT: usize = 1000;
/// Longest store name, in bytes.
pub const MAX_STORE_NAME_BYTES: usize = 128;

pub(crate) const MAX_TTL_MS: u64 = MAX_TTL.as_millis() as u64;

/// Checks a key: non-empty, at most [`MAX_KEY_BYTES`].
#[inline]
pub fn check_key(key: &str) -> Result<()> {
    check_name_like("key", key)
}

#[inline]
pub(crate) fn check_name_like(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_KEY_BYTES {
        return Err(bad_name(what, name));
    }
    Ok(())
}

#[cold]
fn bad_name(what: &str, name: &str) -> Error {
    if name.is_empty() {
        Error::invalid(format!("{what} must not be empty"))
    } else {
        Error::invalid(format!("{what} is {} bytes; the limit is {MAX_KEY_BYTES}", name.len()))
    }
}

/// Checks a value: at most [`MAX_VALUE_BYTES`].
pub fn check_value(value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::invalid(format!("value is {} bytes; the limit is {MAX_VALUE_BYTES}", value.len())));
    }
    Ok(())
}

/// Checks a TTL in milliseconds: positive and at most [`MAX_TTL`].
pub(crate) fn check_ttl_ms(what: &str, ttl_ms: u64) -> Result<()> {
    if ttl_ms == 0 {
        return Err(Error::invalid(format!("{what} must be positive")));
    }
    if ttl_ms > MAX_TTL_MS {
        return Err(Error::invalid(format!(
            "{what} of {ttl_ms} ms is longer than the limit of {MAX_TTL_MS} ms (10 years)"
        )));
    }
    Ok(())
}

pub(crate) fn check_tag(what: &str, text: &str) -> Result<()> {
    if text.len() > MAX_TAG_BYTES {
        return Err(Error::invalid(format!("{what} is {} bytes; the limit is {MAX_TAG_BYTES}", text.len())));
    }
    Ok(())
}

pub(crate) fn check_batch(what: &str, len: usize) -> Result<()> {
    if len > MAX_BATCH {
        return Err(Error::invalid(format!("{what} has {len} items; the limit is {MAX_BATCH}")));
    }
    Ok(())
}

/// A duration in whole milliseconds, rounding a sub-millisecond remainder up so that a tiny
/// positive duration never becomes zero.
pub(crate) fn duration_to_ms(duration: Duration) -> u64 {
    let millis = duration.as_millis();
    let rounded = if duration.subsec_nanos() % 1_000_000 != 0 { millis + 1 } else { millis };
    u64::try_from(rounded).unwrap_or(u64::MAX)
}

/// A TTL from a signed millisecond count, as C and Node pass it: zero, negative and too-long
/// TTLs are [`ErrorCode::InvalidInput`](crate::ErrorCode::InvalidInput).
pub fn ttl_from_millis(millis: i64) -> Result<Duration> {
    if millis <= 0 {
        return Err(Error::invalid(format!("ttl must be positive, got {millis} ms")));
    }
    let ttl = Duration::from_millis(millis as u64);
    check_ttl_ms("ttl", millis as u64)?;
    Ok(ttl)
}

/// A TTL from seconds as a float, as Python passes it: NaN, infinite, zero, negative and
/// too-long TTLs are [`ErrorCode::InvalidInput`](crate::ErrorCode::InvalidInput).
pub fn ttl_from_secs_f64(secs: f64) -> Result<Duration> {
    if !secs.is_finite() || secs <= 0.0 {
        return Err(Error::invalid(format!("ttl must be a positive number of seconds, got {secs}")));
    }
    // Whole seconds, the usual TTL, skip the float decomposition of `try_from_secs_f64`
    // (exact either way: every whole number of seconds below 2^53 is a float).
    let ttl = if secs.fract() == 0.0 && secs < (1u64 << 53) as f64 {
        Duration::from_secs(secs as u64)
    } else {
        Duration::try_from_secs_f64(secs).map_err(|_| Error::invalid(format!("ttl of {secs} s is out of range")))?
    };
    check_ttl_ms("ttl", duration_to_ms(ttl))?;
    Ok(ttl)
}

/// A key from bytes, as C passes it: invalid UTF-8 is
/// [`ErrorCode::InvalidInput`](crate::ErrorCode::InvalidInput).
#[inline]
pub fn key_from_utf8(bytes: &[u8]) -> Result<&str> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is UTF-8 (the common case, checked a word at a time).
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).map_err(|error| {
        Error::invalid(format!("key is not valid UTF-8 (invalid byte at offset {})", error.valid_up_to()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn keys_must_be_non_empty_and_bounded() {
        assert!(check_key("a").is_ok());
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert_eq!(check_key("").unwrap_err().code(), ErrorCode::InvalidInput);
        let error = check_key(&"k".repeat(MAX_KEY_BYTES + 1)).unwrap_err();
        assert!(error.message().contains("4097 bytes"), "{error}");
    }

    #[test]
    fn ttls_from_bindings_are_checked() {
        assert_eq!(ttl_from_millis(1500).unwrap(), Duration::from_millis(1500));
        assert!(ttl_from_millis(0).is_err());
        assert!(ttl_from_millis(-5).is_err());
        assert!(ttl_from_millis(i64::MAX).is_err());
        assert_eq!(ttl_from_secs_f64(0.25).unwrap(), Duration::from_millis(250));
        // Whole seconds take the short way; the answer is the same.
        for secs in [1.0, 3600.0, 86_400.0 * 365.0] {
            assert_eq!(ttl_from_secs_f64(secs).unwrap(), Duration::try_from_secs_f64(secs).unwrap(), "{secs}");
        }
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300, 9.0e15, 2f64.powi(53)] {
            assert_eq!(ttl_from_secs_f64(bad).unwrap_err().code(), ErrorCode::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn sub_millisecond_durations_round_up() {
        assert_eq!(duration_to_ms(Duration::from_micros(1)), 1);
        assert_eq!(duration_to_ms(Duration::from_millis(7)), 7);
        assert_eq!(duration_to_ms(Duration::from_micros(7001)), 8);
    }

    #[test]
    fn utf8_keys_from_bytes() {
        assert_eq!(key_from_utf8(b"ok").unwrap(), "ok");
        let error = key_from_utf8(b"ab\xff").unwrap_err();
        assert!(error.message().contains("offset 2"), "{error}");
    }
}

//! The stable error-code table and the error type every operation returns.
//!
//! Expected outcomes (a missing key, a failed `if_absent`, a lock that is taken, an add that
//! would cross a bound) are values, not errors. An [`Error`] means the request could not be
//! carried out; its [`ErrorCode`] is stable across releases and identical in Rust, C, Python
//! and Node. Codes are appended, never renumbered or reused: the numbers are part of the C ABI
//! and the wire format, and `tests/conformance/error_codes.json` pins them.

use std::fmt;

/// The stable code carried by every [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request is malformed: empty or oversized key or value, bad UTF-8, a bad TTL,
    /// malformed configuration, an unknown option.
    InvalidInput = 1,
    /// A named thing the request needs does not exist (an unknown store, a transaction that
    /// was already finished). A missing *key* is not an error: reads return nothing.
    NotFound = 2,
    /// An optimistic transaction read something that changed before it committed.
    Conflict = 3,
    /// A lock-guarded write carried a fencing token that does not hold the lock, or a lock
    /// operation named a fence that is no longer the holder's.
    Locked = 4,
    /// The lease does not exist or has already expired.
    LeaseNotFound = 5,
    /// The watch asked to resume from a revision that is no longer in the retained history.
    Compacted = 6,
    /// The operation did not complete in the time it was given.
    Timeout = 7,
    /// The store cannot serve the request now (no quorum, no reachable node, or a mode this
    /// build does not provide).
    Unavailable = 8,
    /// The store handle, watch or session was closed.
    Closed = 9,
    /// A bug in Clustron. Please report it with the message.
    Internal = 10,
    /// There is no room for the write: the node's disk is full (writes resume once space
    /// is freed; reads go on meanwhile).
    NoSpace = 11,
    /// The write would take the store past its quota (`max_keys` or `max_bytes`): nothing was
    /// written or evicted. Reads and deletes go on; writes land again once the store is back
    /// under its quota or the quota is raised.
    QuotaExceeded = 12,
    /// The request carries no credential, or one the cluster does not accept: a malformed,
    /// unknown, expired or revoked token (on a cluster with access control on).
    Unauthenticated = 13,
    /// The credential is valid but its roles do not grant what the request needs; the
    /// message names the missing permission, never what exists outside the grant.
    PermissionDenied = 14,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::InvalidInput,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::Locked,
        ErrorCode::LeaseNotFound,
        ErrorCode::Compacted,
        ErrorCode::Timeout,
        ErrorCode::Unavailable,
        ErrorCode::Closed,
        ErrorCode::Internal,
        ErrorCode::NoSpace,
        ErrorCode::QuotaExceeded,
        ErrorCode::Unauthenticated,
        ErrorCode::PermissionDenied,
    ];

    /// The stable number (also the C `clustron_status` value).
    pub const fn number(self) -> u16 {
        self as u16
    }

    /// The code for a stable number, if it is one.
    pub fn from_number(number: u16) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|code| code.number() == number)
    }

    /// The stable snake_case name (`"invalid_input"`), used by Python and Node and in the
    /// conformance vectors.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Locked => "locked",
            ErrorCode::LeaseNotFound => "lease_not_found",
            ErrorCode::Compacted => "compacted",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Closed => "closed",
            ErrorCode::Internal => "internal",
            ErrorCode::NoSpace => "no_space",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::PermissionDenied => "permission_denied",
        }
    }

    /// The code for a stable name, if it is one.
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|code| code.name() == name)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// Codes travel as their stable number, never as a Rust discriminant or a variant name.
impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.number())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = <u16 as serde::Deserialize>::deserialize(deserializer)?;
        ErrorCode::from_number(number).ok_or_else(|| serde::de::Error::custom(format!("unknown error code {number}")))
    }
}

/// A failed request: a stable [`ErrorCode`] and a message meant for people.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Error {
    code: ErrorCode,
    message: Box<str>,
}

/// The result type of every Clustron operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error { code, message: message.into().into_boxed_str() }
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message, without the code.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::InvalidInput, message)
    }

    pub(crate) fn closed() -> Error {
        Error::new(ErrorCode::Closed, "the store handle is closed")
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::Unavailable, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::Internal, message)
    }

    pub(crate) fn lease_not_found(lease: crate::LeaseId) -> Error {
        Error::new(ErrorCode::LeaseNotFound, format!("lease {lease} does not exist or has expired"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({}: {:?})", self.code, self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_round_trip() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_number(code.number()), Some(code));
            assert_eq!(ErrorCode::from_name(code.name()), Some(code));
        }
        assert_eq!(ErrorCode::from_number(0), None);
        assert_eq!(ErrorCode::from_name("nope"), None);
    }

    #[test]
    fn display_carries_code_and_message() {
        let error = Error::new(ErrorCode::Locked, "lock 'job' is held by fence 9");
        assert_eq!(error.to_string(), "locked: lock 'job' is held by fence 9");
        assert_eq!(error.code(), ErrorCode::Locked);
    }

    #[test]
    fn codes_serialize_as_numbers() {
        let json = serde_json::to_string(&Error::new(ErrorCode::Timeout, "slow")).unwrap();
        assert_eq!(json, r#"{"code":7,"message":"slow"}"#);
        let back: Error = serde_json::from_str(&json).unwrap();
        assert_eq!(back.code(), ErrorCode::Timeout);
        assert!(serde_json::from_str::<Error>(r#"{"code":999,"message":""}"#).is_err());
    }
}

"""The exceptions Clustron raises: one class per stable error code.

Every exception has ``code`` (the stable name, e.g. ``"invalid_input"``) and ``number`` (the
stable number, the same in C, Node and Rust). Where a standard exception fits, the class also
derives from it, so ``except ValueError`` catches an invalid argument and ``except
TimeoutError`` a timeout.
"""

from __future__ import annotations

import builtins


class ClustronError(Exception):
    """Base class of every Clustron error."""

    code: str = "internal"
    number: int = 10

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(ClustronError, ValueError):
    """A malformed request: empty or oversized key or value, bad TTL, bad configuration."""

    code = "invalid_input"
    number = 1


class NotFoundError(ClustronError, LookupError):
    """A named thing the request needs does not exist (a missing key is not an error)."""

    code = "not_found"
    number = 2


class ConflictError(ClustronError):
    """An optimistic transaction read something that changed before it committed."""

    code = "conflict"
    number = 3


class LockedError(ClustronError):
    """A lock is held by someone else, or a fencing token no longer holds its lock."""

    code = "locked"
    number = 4


class LeaseNotFoundError(ClustronError, LookupError):
    """The lease does not exist or has expired."""

    code = "lease_not_found"
    number = 5


class CompactedError(ClustronError):
    """A watch asked for history that is no longer kept."""

    code = "compacted"
    number = 6


class TimeoutError(ClustronError, builtins.TimeoutError):  # noqa: A001 - the stable name
    """The operation did not complete in the time it was given."""

    code = "timeout"
    number = 7


class UnavailableError(ClustronError, ConnectionError):
    """The store cannot serve the request now."""

    code = "unavailable"
    number = 8


class ClosedError(ClustronError):
    """The store, watch or session was closed."""

    code = "closed"
    number = 9


class InternalError(ClustronError):
    """A bug in Clustron."""

    code = "internal"
    number = 10


class NoSpaceError(ClustronError, OSError):
    """No room for the write: a node's disk is full (writes resume once space is freed)."""

    code = "no_space"
    number = 11


class QuotaExceededError(ClustronError):
    """The write would take the store past its quota (max_keys, max_bytes); nothing changed."""

    code = "quota_exceeded"
    number = 12


class UnauthenticatedError(ClustronError, PermissionError):
    """No credential, or one the cluster does not accept (malformed, unknown, expired, revoked)."""

    code = "unauthenticated"
    number = 13


class PermissionDeniedError(ClustronError, PermissionError):
    """The credential's roles do not grant what the request needs (the message names the permission)."""

    code = "permission_denied"
    number = 14


#: Exception class by stable error number (the native module raises through this table).
BY_NUMBER: dict[int, type[ClustronError]] = {
    cls.number: cls
    for cls in (
        InvalidInputError,
        NotFoundError,
        ConflictError,
        LockedError,
        LeaseNotFoundError,
        CompactedError,
        TimeoutError,
        UnavailableError,
        ClosedError,
        InternalError,
        NoSpaceError,
        QuotaExceededError,
        UnauthenticatedError,
        PermissionDeniedError,
    )
}

//! The `Args:` sections shared by several methods' docstrings, one text each, so that
//! `help()` explains an option the same way wherever it is taken. Each macro expands to a
//! string literal used as `#[doc = name!()]`; `tests/test_docs.py` checks that every option
//! of every public callable has its line.

/// The options of `Store.put`, `Transaction.put` and `Op.put`.
macro_rules! put_args {
    () => {
        "
Args:
    key: the key (a non-empty str).
    value: bytes, bytearray or str (a str is stored as UTF-8 with the text content type).
    ttl: seconds (int, float or timedelta) until the key expires; None keeps it until
        it is deleted.
    lease: a lease id (`Store.leases.grant`): the key is deleted when the lease ends.
    if_absent: write only if the key does not exist; otherwise nothing changes and
        the result's `changed` is False.
    if_version: write only if the key's version is this (0: only if it does not exist);
        otherwise nothing changes and the result's `changed` is False.
    guard: a `Lock` (or a `(name, fence)` tuple): the write is refused with
        `LockedError` unless that lock grant still holds, so a stale holder cannot write.
    content_type: recorded with the value (default: text for a str, none for bytes).
    entity: the entity the entry belongs to, for `search` (e.g. \"job\").
    labels: the entry's labels for `search`: a dict `{name: value}` (all indexed), or a
        list of `LabelValue` / `(name, value, indexed)`; values are str, int or float.
"
    };
}

/// The options of `Store.delete` and `Op.delete`.
macro_rules! delete_args {
    () => {
        "
Args:
    key: the key to delete.
    if_version: delete only if the key's version is this; otherwise nothing changes and
        the result's `deleted` is False.
    guard: a `Lock` (or a `(name, fence)` tuple): refused with `LockedError` unless that
        lock grant still holds.
"
    };
}

/// A key range given by `prefix=`, or `start=`/`end=`.
macro_rules! range_args {
    () => {
        "
Args:
    prefix: every key starting with this str (not with `start`/`end`).
    start: the first key of the range (inclusive; None: from the first key).
    end: the key the range stops before (exclusive; None: to the last key).
"
    };
}

/// The options of every `Watches` method.
macro_rules! watch_args {
    () => {
        "    snapshot: start with the current entries (one `put` event each) before the
        changes.
    from_revision: replay every change from this revision on before the live ones
        (`CompactedError` when the history no longer holds it); resumes a watch exactly.
    prev_value: deliver each change's previous entry as `event.prev`.
"
    };
}

/// The options of `Locks.acquire` and `Locks.try_acquire`.
macro_rules! lock_args {
    () => {
        "
Args:
    name: the lock's name.
    ttl: seconds (int, float or timedelta) the grant holds unless renewed (default 60);
        not with `lease`.
    lease: a lease id: the grant holds as long as the lease lives (a `Session`'s lease
        ends it when the session is lost).
    wait: seconds to wait in line for the lock (None: try once); the queue is fair.
"
    };
}

pub(crate) use {delete_args, lock_args, put_args, range_args, watch_args};

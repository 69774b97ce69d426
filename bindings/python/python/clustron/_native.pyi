"""Type stubs of the native module (checked against it by mypy.stubtest in `make test`)."""

from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any, Optional, Union, final

from typing_extensions import Self, disjoint_base

from ._errors import ClustronError

_Seconds = Union[float, int, timedelta]
_Value = Union[bytes, bytearray, str]
_Guard = Any  # a Lock, a (name, fence) tuple, or an object with such a `guard`
_LabelValue = Union[str, int, float]
_Labels = Union[
    Mapping[str, _LabelValue], Iterable[tuple[str, _LabelValue]], Iterable[tuple[str, _LabelValue, bool]]
]

__version__: str
__all__ = [
    "JSON",
    "TEXT",
    "Admin",
    "ClearResult",
    "Compare",
    "CounterAdd",
    "CounterCas",
    "CounterSet",
    "Counters",
    "DeleteResult",
    "Entry",
    "Event",
    "Lease",
    "Leases",
    "Lock",
    "LockInfo",
    "Locks",
    "Op",
    "Page",
    "Pending",
    "PutResult",
    "Reactor",
    "SearchPage",
    "Session",
    "Status",
    "Store",
    "Transaction",
    "TxnResult",
    "Watch",
    "Watches",
    "__version__",
    "inspect_backup",
    "parse_config",
]

TEXT: str
JSON: str

@disjoint_base
class Store:
    """An open store. `Store("orders")` opens the in-process store `orders` (created on first
    open, shared by every handle in the process); `Store("clustron://inproc/orders")` and
    the JSON form work too, and `config=` (a connection string, a JSON string or a dict)
    configures the store named by the first argument. Safe to share between threads.
    """
    def __new__(
        cls, target: str, config: Optional[Union[str, dict[str, Any]]] = None, *, _restore_from: Optional[str] = None, _replace: bool = False
    ) -> Self: ...
    def _backup(self, path: str) -> str: ...
    @property
    def name(self) -> str:
        """The store name."""
    @property
    def closed(self) -> bool:
        """Whether this handle was closed."""
    @property
    def is_remote(self) -> bool:
        """Whether a cluster serves this store (its operations are network round trips)."""
    def close(self) -> None:
        """Closes this handle: its watches end, its sessions and locks are released. Idempotent."""
    def _deferred(self) -> Store: ...
    @staticmethod
    def _open_deferred(target: str, config: Optional[Union[str, dict[str, Any]]] = None) -> Pending: ...
    def _call_floor(self, key: str) -> None: ...
    def _get_floor(self, key: str) -> None: ...
    def get(self, key: str) -> Optional[Entry]:
        """The entry at `key`, or None."""
    def put(
        self,
        key: str,
        value: _Value,
        *,
        ttl: Optional[_Seconds] = None,
        lease: Optional[int] = None,
        if_absent: bool = False,
        if_version: Optional[int] = None,
        guard: _Guard = None,
        content_type: Optional[str] = None,
        entity: Optional[str] = None,
        labels: Optional[_Labels] = None,
    ) -> PutResult:
        """Writes `value` at `key` and returns a `PutResult` (the write's revision, the key's
        new version, and whether it `changed`: False when a condition did not hold).

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
            entity: the entity the entry belongs to, for `search` (e.g. "job").
            labels: the entry's labels for `search`: a dict `{name: value}` (all indexed), or a
                list of `LabelValue` / `(name, value, indexed)`; values are str, int or float.
        """
    def delete(self, key: str, *, if_version: Optional[int] = None, guard: _Guard = None) -> DeleteResult:
        """Deletes `key` and returns a `DeleteResult` (`deleted`: False when the key was
        missing or a condition did not hold).

        Args:
            key: the key to delete.
            if_version: delete only if the key's version is this; otherwise nothing changes and
                the result's `deleted` is False.
            guard: a `Lock` (or a `(name, fence)` tuple): refused with `LockedError` unless that
                lock grant still holds.
        """
    def get_many(self, keys: Iterable[str]) -> list[Optional[Entry]]:
        """The entries at `keys` (None where a key is missing), read at one revision."""
    def put_many(self, items: Iterable[Union[tuple[str, _Value], Op]]) -> list[Union[PutResult, ClustronError]]:
        """Writes each item (`(key, value)` or `Op.put(...)`) on its own: one result per item,
        a `PutResult` or the exception instance of its error.
        """
    def delete_many(self, items: Iterable[Union[str, Op]]) -> list[Union[DeleteResult, ClustronError]]:
        """Deletes each item (a key or `Op.delete(...)`) on its own: one `DeleteResult` or
        exception instance per item.
        """
    def batch(self, ops: Iterable[Op]) -> list[Union[Entry, PutResult, DeleteResult, ClustronError, None]]:
        """Runs `Op` objects in order, each on its own (not atomically; see `txn`): one result
        per op (Entry or None, PutResult, DeleteResult, or the exception instance).
        """
    def scan_page(
        self,
        *,
        prefix: Optional[str] = None,
        start: Optional[str] = None,
        end: Optional[str] = None,
        limit: Optional[int] = None,
        after: Optional[str] = None,
    ) -> Page:
        """One page of the keys in a range (`prefix=`, or `start=`/`end=`; none: every key), in
        key order, after the key `after`. `Store.scan` iterates over every page.

        Args:
            prefix: every key starting with this str (not with `start`/`end`).
            start: the first key of the range (inclusive; None: from the first key).
            end: the key the range stops before (exclusive; None: to the last key).

            limit: the most entries in the page (default and cap: the store's page size).
            after: start after this key (the previous page's `next_after`).
        """
    def search_page(
        self,
        entity: Optional[str] = None,
        *,
        where: Optional[str] = None,
        order_by: Optional[list[str]] = None,
        limit: Optional[int] = None,
        after: Optional[str] = None,
        select: Optional[list[str]] = None,
        output: str = "entries",
        local: bool = False,
    ) -> Any:
        """One page of a search (`Store.search` builds these calls): the tagged entries of
        `entity` (None: every entity) matching the expression `where`, ordered by
        `order_by` (`"label"`, `"-label"` for descending), after the cursor `after`. `output`
        is `"entries"` (a SearchPage), `"keys"` (a SearchPage without entries), `"count"`
        (an int) or `"explain"` (a dict: plan, index, candidates).

        Args:
            entity: the entity searched (None: every entity).
            where: the filter, an expression such as `"status = 'pending' and prio >= 3"`
                (docs/SEARCH.md has the grammar; None: every tagged entry of the entity).
            order_by: labels to order by, `"-label"` for descending (the key breaks ties;
                None: key order).
            limit: the most results in the page.
            after: the cursor of the previous page (`SearchPage.cursor`).
            select: only these labels in each result's labels (None: all of them).
            output: `"entries"`, `"keys"`, `"count"` or `"explain"`, as above.
            local: read this node's replica without asking the leader (may be behind).
        """
    def count(self, *, prefix: Optional[str] = None, start: Optional[str] = None, end: Optional[str] = None) -> int:
        """How many keys a range holds (`prefix=`, or `start=`/`end=`; none: every key).

        Args:
            prefix: every key starting with this str (not with `start`/`end`).
            start: the first key of the range (inclusive; None: from the first key).
            end: the key the range stops before (exclusive; None: to the last key).
        """
    def clear(
        self, *, prefix: Optional[str] = None, start: Optional[str] = None, end: Optional[str] = None
    ) -> ClearResult:
        """Deletes every key of a range (`prefix=`, or `start=`/`end=`; none: every key).

        Args:
            prefix: every key starting with this str (not with `start`/`end`).
            start: the first key of the range (inclusive; None: from the first key).
            end: the key the range stops before (exclusive; None: to the last key).
        """
    def expire(self, key: str, ttl: _Seconds) -> bool:
        """Gives `key` a TTL (seconds or a timedelta) from now; False if the key is missing."""
    def persist(self, key: str) -> bool:
        """Removes `key`'s TTL; False if the key is missing."""
    def ttl(self, key: str) -> Optional[float]:
        """Seconds until `key` expires: None if the key is missing, `math.inf` if it has no TTL."""
    def status(self) -> Status:
        """What the store reports about itself."""
    def advance_clock(self, by: _Seconds) -> None:
        """Moves a manual clock forward (seconds or a timedelta), running everything that falls
        due on the way. Only for stores opened with `?clock=manual`.
        """
    @property
    def leases(self) -> Leases:
        """Lease operations."""
    @property
    def locks(self) -> Locks:
        """Lock operations."""
    @property
    def counters(self) -> Counters:
        """Counter operations."""
    @property
    def watch(self) -> Watches:
        """Watches: `store.watch.key(...)`, `.prefix(...)`, `.range(...)`."""
    def session(self, ttl: _Seconds) -> Session:
        """Opens a session: a lease kept alive in the background until the session is closed."""
    def transaction(self) -> Transaction:
        """Starts an optimistic transaction: reads record what they saw, writes are buffered,
        and commit applies them only if nothing read has changed (else `ConflictError`).
        """
    def txn(
        self,
        compares: Optional[Iterable[Compare]] = None,
        then: Optional[Iterable[Op]] = None,
        otherwise: Optional[Iterable[Op]] = None,
    ) -> TxnResult:
        """A compare-then-else transaction: if every compare holds, run `then`, else
        `otherwise`, atomically. Returns a `TxnResult` (`succeeded`, and one result per op).

        Args:
            compares: `Compare` objects (`Compare.version("k") == 3`, ...), all of which
                must hold (None or empty: always true).
            then: the `Op`s run when every compare holds.
            otherwise: the `Op`s run when one does not.
        """

@final
class Op:
    """One operation of `Store.batch`, `Store.put_many` / `delete_many` or a `Store.txn` branch.
    Build it with `Op.get(key)`, `Op.put(key, value, **options)` or
    `Op.delete(key, **options)`.
    """
    @staticmethod
    def get(key: str) -> Op:
        """A read of `key`."""
    @staticmethod
    def put(
        key: str,
        value: _Value,
        *,
        ttl: Optional[_Seconds] = None,
        lease: Optional[int] = None,
        if_absent: bool = False,
        if_version: Optional[int] = None,
        guard: _Guard = None,
        content_type: Optional[str] = None,
        entity: Optional[str] = None,
        labels: Optional[_Labels] = None,
    ) -> Op:
        """A write of `key` for `Store.batch` and `Store.txn`, with the options of `Store.put`.

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
            entity: the entity the entry belongs to, for `search` (e.g. "job").
            labels: the entry's labels for `search`: a dict `{name: value}` (all indexed), or a
                list of `LabelValue` / `(name, value, indexed)`; values are str, int or float.
        """
    @staticmethod
    def delete(key: str, *, if_version: Optional[int] = None, guard: _Guard = None) -> Op:
        """A delete of `key` for `Store.batch` and `Store.txn`, with the options of
        `Store.delete`.

        Args:
            key: the key to delete.
            if_version: delete only if the key's version is this; otherwise nothing changes and
                the result's `deleted` is False.
            guard: a `Lock` (or a `(name, fence)` tuple): refused with `LockedError` unless that
                lock grant still holds.
        """
    @property
    def kind(self) -> str:
        """"get", "put" or "delete"."""
    @property
    def key(self) -> str:
        """The key the operation touches."""

@final
class Compare:
    """One guard of `Store.txn`: `Compare.version(key, "==", 3)`, `Compare.value(key, "!=",
    b"x")`, `Compare.exists(key)`... Operators: "==", "!=", "<", ">".
    """
    @staticmethod
    def version(key: str, op: str, version: int) -> Compare:
        """The key's version (0 when it does not exist)."""
    @staticmethod
    def create_revision(key: str, op: str, revision: int) -> Compare:
        """The revision that created the key (0 when it does not exist)."""
    @staticmethod
    def mod_revision(key: str, op: str, revision: int) -> Compare:
        """The revision of the key's last write (0 when it does not exist)."""
    @staticmethod
    def value(key: str, op: str, value: _Value) -> Compare:
        """The key's value (bytes or str), compared byte by byte."""
    @staticmethod
    def lease(key: str, op: str, lease: Optional[int]) -> Compare:
        """The lease the key is attached to (None: no lease)."""
    @staticmethod
    def exists(key: str) -> Compare:
        """The key exists."""
    @staticmethod
    def absent(key: str) -> Compare:
        """The key does not exist."""

@final
class Leases:
    """Lease operations: `store.leases`."""
    def grant(self, ttl: _Seconds) -> Lease:
        """Grants a lease of `ttl` (seconds or a timedelta). Keys and locks attached to it go
        when it expires or is revoked.
        """
    def keep_alive(self, lease: int) -> Lease:
        """Renews the lease for its full TTL from now (`LeaseNotFoundError` once it is gone)."""
    def revoke(self, lease: int) -> bool:
        """Revokes the lease now; False if it was already gone."""
    def time_to_live(self, lease: int) -> Optional[Lease]:
        """The lease, or None once it is gone."""
    def list(self) -> list[Lease]:
        """Every live lease."""

@final
class Session:
    """A lease kept alive in the background. Closing the session (or leaving its `with` block)
    revokes the lease: its keys are deleted and its locks released.
    """
    @property
    def lease(self) -> int:
        """The session's lease id: pass it as `lease=` to puts and lock acquires."""
    @property
    def ttl(self) -> float:
        """The lease TTL in seconds."""
    @property
    def lost(self) -> bool:
        """Whether the session has ended (lease expired or revoked, session or store closed)."""
    def wait_lost(self, timeout: Optional[_Seconds] = None) -> Optional[ClustronError]:
        """Blocks until the session ends or `timeout` (seconds) passes; returns why it ended
        (a `LeaseNotFoundError` or `ClosedError` instance), or None on timeout. Ctrl+C
        interrupts it.

        Args:
            timeout: seconds (int, float or timedelta) to wait at most; None: until it ends.
        """
    def _lost_task(self) -> Pending: ...
    def close(self) -> bool:
        """Ends the session and revokes its lease; False if the lease was already gone."""
    def __enter__(self) -> Self: ...
    def __exit__(self, kind: object, value: object, traceback: object) -> bool: ...

@final
class Locks:
    """Lock operations: `store.locks`."""
    def acquire(
        self, name: str, *, ttl: Optional[_Seconds] = None, lease: Optional[int] = None, wait: Optional[_Seconds] = None
    ) -> Lock:
        """Acquires the lock `name` and returns it (a context manager that releases it). Held
        for `ttl` seconds (default 60; extend with `renew`) or as long as `lease` lives.
        With `wait`, waits in line up to that many seconds (`TimeoutError` when it runs
        out); without, tries once (`LockedError` when the lock is held). The wait releases
        the GIL and Ctrl+C interrupts it.

        Args:
            name: the lock's name.
            ttl: seconds (int, float or timedelta) the grant holds unless renewed (default 60);
                not with `lease`.
            lease: a lease id: the grant holds as long as the lease lives (a `Session`'s lease
                ends it when the session is lost).
            wait: seconds to wait in line for the lock (None: try once); the queue is fair.
        """
    def try_acquire(
        self, name: str, *, ttl: Optional[_Seconds] = None, lease: Optional[int] = None, wait: Optional[_Seconds] = None
    ) -> Optional[Lock]:
        """Like `acquire`, but returns None instead of raising when the lock is not granted.

        Args:
            name: the lock's name.
            ttl: seconds (int, float or timedelta) the grant holds unless renewed (default 60);
                not with `lease`.
            lease: a lease id: the grant holds as long as the lease lives (a `Session`'s lease
                ends it when the session is lost).
            wait: seconds to wait in line for the lock (None: try once); the queue is fair.
        """
    def _acquire_task(
        self, name: str, *, ttl: Optional[_Seconds] = None, lease: Optional[int] = None, wait: Optional[_Seconds] = None
    ) -> Pending: ...
    def info(self, name: str) -> Optional[LockInfo]:
        """Who holds the lock `name`, or None."""

@final
class Lock:
    """A held lock. Use it as a context manager (released on exit), pass it (or `lock.guard`)
    as `guard=` to writes that must only land while it is held, and hand `lock.fence` to
    other systems as a fencing token.
    """
    @property
    def name(self) -> str:
        """The lock name."""
    @property
    def fence(self) -> int:
        """The fencing token of this grant: larger than every earlier grant's."""
    @property
    def lease(self) -> Optional[int]:
        """The lease the lock is bound to, if any."""
    @property
    def expires_at(self) -> Optional[float]:
        """When the lock's TTL runs out (seconds since the Unix epoch), for TTL-bound locks."""
    @property
    def guard(self) -> tuple[str, int]:
        """`(name, fence)`: what `guard=` checks."""
    def renew(self) -> Optional[float]:
        """Extends the lock's TTL from now (or keeps its lease alive); `LockedError` if the lock
        was lost. Returns the new expiry (seconds since the epoch) of a TTL-bound lock.
        """
    def release(self) -> bool:
        """Releases the lock; False if it had already been lost or released."""
    def __enter__(self) -> Self: ...
    def __exit__(self, kind: object, value: object, traceback: object) -> bool: ...

@final
class Counters:
    """Counter operations: `store.counters`."""
    def add(
        self,
        name: str,
        delta: int = 1,
        *,
        min: Optional[int] = None,
        max: Optional[int] = None,
        ttl: Optional[_Seconds] = None,
    ) -> CounterAdd:
        """Adds `delta` (default 1). With `min` / `max`, an add that would leave the bounds is
        refused (`applied` is False) and changes nothing. `ttl` (seconds) applies when the
        add creates the counter. Returns a `CounterAdd` (`value`, `applied`).

        Args:
            name: the counter's name (a counter that does not exist counts from 0).
            delta: the amount added (negative subtracts; default 1).
            min: the lowest value the add may leave (None: no bound).
            max: the highest value the add may leave (None: no bound).
            ttl: seconds (int, float or timedelta) the counter lives when this add creates
                it; None: until deleted.
        """
    def get(self, name: str) -> int:
        """The counter's value (0 when it does not exist)."""
    def set(self, name: str, value: int, *, ttl: Optional[_Seconds] = None) -> CounterSet:
        """Sets the counter to `value`, optionally with a TTL.

        Args:
            name: the counter's name.
            value: the new value (an int in the signed 64-bit range).
            ttl: seconds (int, float or timedelta) until the counter expires; None: until
                deleted.
        """
    def compare_and_set(self, name: str, expected: int, value: int) -> CounterCas:
        """Sets the counter to `value` only if it is `expected`."""
    def delete(self, name: str) -> bool:
        """Deletes the counter; False if it did not exist."""

@final
class Watches:
    """Watch operations: `store.watch`."""
    def key(
        self, key: str, *, snapshot: bool = False, from_revision: Optional[int] = None, prev_value: bool = False
    ) -> Watch:
        """Watches one key. `snapshot=True` starts with its current entry; `from_revision=N`
        replays the changes from revision N on (`CompactedError` when no longer kept);
        `prev_value=True` delivers each change's previous entry as `event.prev`.

        Args:
            key: the key watched.
            snapshot: start with the current entries (one `put` event each) before the
                changes.
            from_revision: replay every change from this revision on before the live ones
                (`CompactedError` when the history no longer holds it); resumes a watch exactly.
            prev_value: deliver each change's previous entry as `event.prev`.
        """
    def prefix(
        self, prefix: str, *, snapshot: bool = False, from_revision: Optional[int] = None, prev_value: bool = False
    ) -> Watch:
        """Watches every key starting with `prefix` (options as for `key`).

        Args:
            prefix: every key starting with this str is watched.
            snapshot: start with the current entries (one `put` event each) before the
                changes.
            from_revision: replay every change from this revision on before the live ones
                (`CompactedError` when the history no longer holds it); resumes a watch exactly.
            prev_value: deliver each change's previous entry as `event.prev`.
        """
    def range(
        self,
        start: Optional[str] = None,
        end: Optional[str] = None,
        *,
        snapshot: bool = False,
        from_revision: Optional[int] = None,
        prev_value: bool = False,
    ) -> Watch:
        """Watches the keys from `start` up to (not including) `end` (None: no end; both None:
        every key). Options as for `key`.

        Args:
            start: the first key watched (inclusive; None: from the first key).
            end: the key the range stops before (exclusive; None: no end).
            snapshot: start with the current entries (one `put` event each) before the
                changes.
            from_revision: replay every change from this revision on before the live ones
                (`CompactedError` when the history no longer holds it); resumes a watch exactly.
            prev_value: deliver each change's previous entry as `event.prev`.
        """
    def search(
        self,
        entity: Optional[str] = None,
        *,
        where: Optional[Any] = None,
        snapshot: bool = False,
        from_revision: Optional[int] = None,
        prev_value: bool = False,
    ) -> Watch:
        """A live query: the tagged entries of `entity` (None: every entity) matching `where`
        (a `Q` or an expression). Each event's `query_change` says whether its entry
        entered the results ("enter"), changed inside them ("change") or left them ("leave");
        `snapshot=True` starts with every current match. Options as for `key`.

        Args:
            entity: the entity watched (None: every entity).
            where: the filter, a `Q` or an expression (None: every tagged entry).
            snapshot: start with the current entries (one `put` event each) before the
                changes.
            from_revision: replay every change from this revision on before the live ones
                (`CompactedError` when the history no longer holds it); resumes a watch exactly.
            prev_value: deliver each change's previous entry as `event.prev`.
        """

@final
class Watch:
    """A running watch: iterate over it (`for event in watch`) or call `next(timeout)`. The
    iteration waits without the GIL and Ctrl+C interrupts it; it ends after `close()` (or
    leaving its `with` block). A watch the store ended (the store closed, or the history it
    needed was compacted) raises that error once, then ends.
    """
    def __iter__(self) -> Iterator[Event]: ...
    def __next__(self) -> Event: ...
    def next(self, timeout: Optional[_Seconds] = None) -> Optional[Event]:
        """The next event, waiting up to `timeout` seconds (None: for ever; 0: only if one is
        already waiting). None when the time ran out; `ClosedError` once the watch is over.

        Args:
            timeout: seconds (int, float or timedelta) to wait at most; None: for ever.
        """
    def _next_task(self) -> Pending: ...
    def _mark_ended(self) -> None: ...
    @property
    def _quiet(self) -> bool: ...
    @property
    def revision(self) -> int:
        """The revision of the last event delivered (0 before the first). To resume later,
        watch again with `from_revision=watch.revision + 1`.
        """
    def close(self) -> None:
        """Stops the watch; iteration ends. Idempotent."""
    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
    def __enter__(self) -> Self: ...
    def __exit__(self, kind: object, value: object, traceback: object) -> bool: ...

@final
class Transaction:
    """An optimistic transaction (`store.transaction()`): reads record what they saw, writes are
    buffered, and `commit` applies them atomically only if nothing read changed meanwhile
    (else `ConflictError`). As a context manager it commits when the block succeeds and
    rolls back when it raises. From `clustron.aio` on a remote store, `get` and `commit`
    return a `Pending`; a write buffered while one runs raises `InvalidInputError`.
    """
    def get(self, key: str) -> Optional[Entry]:
        """Reads `key` (seeing this transaction's own writes) and records the read."""
    def put(
        self,
        key: str,
        value: _Value,
        *,
        ttl: Optional[_Seconds] = None,
        lease: Optional[int] = None,
        if_absent: bool = False,
        if_version: Optional[int] = None,
        guard: _Guard = None,
        content_type: Optional[str] = None,
        entity: Optional[str] = None,
        labels: Optional[_Labels] = None,
    ) -> None:
        """Buffers a write, applied at `commit`, with the options of `Store.put`.

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
            entity: the entity the entry belongs to, for `search` (e.g. "job").
            labels: the entry's labels for `search`: a dict `{name: value}` (all indexed), or a
                list of `LabelValue` / `(name, value, indexed)`; values are str, int or float.
        """
    def delete(self, key: str) -> None:
        """Buffers a delete."""
    def commit(self) -> int:
        """Applies the writes if nothing read changed; returns the new revision. Raises
        `ConflictError` (and applies nothing) otherwise.
        """
    def rollback(self) -> None:
        """Drops the buffered writes."""
    @property
    def finished(self) -> bool:
        """Whether the transaction was committed or rolled back."""
    def __enter__(self) -> Self: ...
    def __exit__(self, kind: object, value: object, traceback: object) -> bool: ...

@final
class Reactor:
    """The waker side of one event loop. Create it with the write end of a non-blocking pipe;
    the reactor owns (and closes) that descriptor.
    """
    def __new__(cls, write_fd: int) -> Self: ...
    def take_ready(self) -> list[int]:
        """The ids woken since the last call (each at most once, in wake order)."""

@final
class Pending:
    """One awaitable wait. `poll` it on the loop; `cancel` drops it."""
    def poll(self, reactor: Reactor, id: int) -> tuple[bool, Any]:
        """Polls once. Returns `(True, result)` when done, `(False, None)` when the reactor will
        wake `id` later; raises the operation's error. A finished or cancelled task stays
        finished.
        """
    def cancel(self) -> None:
        """Drops the wait (a queued acquire leaves the queue). Idempotent."""
    @property
    def done(self) -> bool:
        """Whether the wait finished or was cancelled."""

@final
class Entry:
    """A key, its value and what the store knows about it."""
    @property
    def key(self) -> str:
        """The key."""
    @property
    def value(self) -> bytes:
        """The value, as bytes."""
    @property
    def text(self) -> str:
        """The value decoded as UTF-8 (UnicodeDecodeError if it is not)."""
    def json(self) -> Any:
        """The value parsed as JSON."""
    @property
    def version(self) -> int:
        """The per-key version (1 on creation)."""
    @property
    def create_revision(self) -> int:
        """The revision that created the key."""
    @property
    def mod_revision(self) -> int:
        """The revision of the key's last write."""
    @property
    def lease(self) -> Optional[int]:
        """The lease the key is attached to, if any."""
    @property
    def expires_at(self) -> Optional[float]:
        """When the key expires, in seconds since the Unix epoch, if it has a TTL."""
    @property
    def content_type(self) -> Optional[str]:
        """The content type recorded with the value."""
    @property
    def entity(self) -> Optional[str]:
        """The entity name."""
    @property
    def labels(self) -> list[tuple[str, str, bool]]:
        """The labels, as (name, value, indexed) tuples."""

@final
class Event:
    """A change delivered by a watch."""
    @property
    def kind(self) -> str:
        """"put" or "delete"."""
    @property
    def key(self) -> str: ...
    @property
    def value(self) -> bytes:
        """The new value (empty for a delete)."""
    @property
    def text(self) -> str: ...
    def json(self) -> Any:
        """The new value parsed as JSON."""
    @property
    def revision(self) -> int:
        """The revision of the change (for snapshot events, the snapshot's revision)."""
    @property
    def version(self) -> int:
        """The key's version after the change (0 for a delete)."""
    @property
    def snapshot(self) -> bool:
        """Whether the event belongs to the watch's initial snapshot."""
    @property
    def cause(self) -> Optional[str]:
        """Why a key was removed: "deleted", "expired", "lease_ended" or "cleared" (None for puts)."""
    @property
    def entry(self) -> Entry:
        """The entry after the change."""
    @property
    def query_change(self) -> Optional[str]:
        """On a live query's watch: "enter", "change" or "leave" (how the change moved the
        entry in the query's results); None on key and range watches.
        """
    @property
    def prev(self) -> Optional[Entry]:
        """The entry before the change (watches opened with prev_value=True)."""

@final
class PutResult:
    """What a put did."""
    @property
    def revision(self) -> int:
        """The store revision after the put (unchanged when nothing was written)."""
    @property
    def version(self) -> int:
        """The key's version after the put."""
    @property
    def created(self) -> bool:
        """The put created the key."""
    @property
    def changed(self) -> bool:
        """The put wrote (false when if_absent / if_version did not hold)."""

@final
class DeleteResult:
    """What a delete did."""
    @property
    def deleted(self) -> bool: ...
    @property
    def revision(self) -> int: ...

@final
class ClearResult:
    """What a clear did."""
    @property
    def deleted(self) -> int: ...
    @property
    def revision(self) -> int: ...

@final
class Lease:
    """A lease."""
    @property
    def id(self) -> int: ...
    @property
    def ttl(self) -> float:
        """Seconds."""
    @property
    def remaining(self) -> float:
        """Seconds left."""
    @property
    def expires_at(self) -> float:
        """Seconds since the Unix epoch."""
    @property
    def keys(self) -> list[str]: ...

@final
class LockInfo:
    """Who holds a lock."""
    @property
    def name(self) -> str: ...
    @property
    def fence(self) -> int: ...
    @property
    def lease(self) -> Optional[int]: ...
    @property
    def expires_at(self) -> Optional[float]: ...
    @property
    def waiters(self) -> int: ...

@final
class CounterAdd:
    """What a counter add did."""
    @property
    def applied(self) -> bool: ...
    @property
    def previous(self) -> int: ...
    @property
    def current(self) -> int: ...
    @property
    def revision(self) -> int: ...

@final
class CounterSet:
    """What a counter set did."""
    @property
    def previous(self) -> int: ...
    @property
    def revision(self) -> int: ...

@final
class CounterCas:
    """What a counter compare-and-set did."""
    @property
    def applied(self) -> bool: ...
    @property
    def current(self) -> int: ...
    @property
    def revision(self) -> int: ...

@final
class Status:
    """A store's status."""
    @property
    def store(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def compacted_revision(self) -> int: ...
    @property
    def keys(self) -> int: ...
    @property
    def leases(self) -> int: ...
    @property
    def locks(self) -> int: ...
    @property
    def counters(self) -> int: ...
    @property
    def watchers(self) -> int: ...
    @property
    def sessions(self) -> int: ...
    @property
    def members(self) -> list[str]: ...
    @property
    def leader(self) -> Optional[str]: ...
    @property
    def term(self) -> int: ...
    @property
    def clock(self) -> str:
        """"system" or "manual"."""

@final
class Page:
    """One page of a scan."""
    @property
    def entries(self) -> list[Entry]:
        """The entries, in key order."""
    @property
    def next(self) -> Optional[str]:
        """The key to pass as `after` for the next page, or None when this was the last."""
    @property
    def revision(self) -> int:
        """The revision the page was read at."""

@final
class SearchPage:
    """One page of a search."""
    @property
    def entries(self) -> list[Entry]:
        """The matching entries, in the query's order (empty when only keys were asked for)."""
    @property
    def keys(self) -> list[str]:
        """The matching keys, in the query's order."""
    @property
    def next(self) -> Optional[str]:
        """The cursor to pass as `after` for the next page, or None when this was the last."""
    @property
    def revision(self) -> int:
        """The revision the page was read at."""

@final
class TxnResult:
    """What a compare-then-else transaction did."""
    @property
    def succeeded(self) -> bool:
        """Every compare held, so the then-branch ran."""
    @property
    def revision(self) -> int:
        """The store revision after."""
    @property
    def responses(self) -> list[Union[Entry, PutResult, DeleteResult, None]]:
        """One result per operation of the branch that ran (Entry or None, PutResult,
        DeleteResult).
        """

def parse_config(input: Union[str, dict[str, Any]]) -> dict[str, Any]:
    """Parses a configuration (a connection string, a JSON string or a dict) without opening
    anything: a dict of mode, store, seeds, clock, history_events and history_bytes.
    """
def inspect_backup(path: str) -> str:
    """Reads and checks a backup file without restoring it: what it holds, as JSON text."""

@disjoint_base
class Admin:
    """A cluster to administer, reached through a connection string
    (`clustron://host:port,host:port[/store][?cluster_key=FILE]`; the store part is ignored).
    """
    def __new__(cls, target: str) -> Self: ...
    def _stores(self) -> list[str]: ...
    def _store(self, name: str) -> str: ...
    def _create_store(self, name: str, options: str) -> str: ...
    def _configure_store(self, name: str, options: str) -> str: ...
    def _drop_store(self, name: str, force: bool) -> None: ...
    def _members(self) -> list[str]: ...
    def _add_member(self, address: str) -> str: ...
    def _drain_member(self, node_id: str) -> None: ...
    def _remove_member(self, node_id: str) -> None: ...
    def _access(self, request: str) -> str: ...

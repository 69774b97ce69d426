"""Clustron for asyncio: the API of :mod:`clustron` with ``await``, ``async for`` and
``async with``.

    import clustron.aio

    store = await clustron.aio.open("orders")
    await store.put("order/1", "pending", ttl=30)
    async with store.locks.acquire("job", ttl=10, wait=5) as lock:
        await store.put("job/owner", "me", guard=lock)
    async for event in store.watch.prefix("cfg/"):
        ...

Operations on an in-process store complete at once, so they run inline without blocking the
event loop. On a remote store (a cluster) each operation is a network round trip, awaited
without a thread: the native call returns the request's future, the client's connection
reader wakes the loop through a pipe (``loop.add_reader``) when the answer arrives, and any
number of operations can be in flight from one loop (``asyncio.gather`` of a thousand puts
sends them all at once). Cancelling such an await does not recall a request already sent (its
outcome is unknown). Waits (a queued lock acquire, the next watch event, a session's end) are
awaited the same way; cancelling a wait is safe: a queued acquire leaves the queue, and a
watch loses no event. Opening a store, a transaction's reads and commit, a lock acquire's
first round trip and a watch's opening are awaited the same way (``watch = await
store.watch.key(k)`` returns once the store has it open, so a write made after it is in the
watch). Backups, restores and the ``Admin`` calls run on a worker thread
(``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import os
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterable
from typing import Any, Optional, TypeVar

import clustron
from clustron import _native
from clustron._search import AsyncSearch
from clustron._errors import ClustronError, LockedError
from clustron._errors import TimeoutError as _Timeout

from . import (
    BackupInfo,
    ClearResult,
    Compare,
    ConfigLike,
    CounterAdd,
    CounterCas,
    CounterSet,
    DeleteResult,
    Entry,
    Event,
    Lease,
    LockInfo,
    Op,
    Page,
    PutResult,
    Seconds,
    Status,
    TxnResult,
)

T = TypeVar("T")

async def _done(result: T) -> T:
    """The outcome of a call on a deferred native object (``Store._deferred()``): on a remote
    store it returns a ``Pending`` round trip, awaited here on the loop; in-process it
    returned the result itself."""
    if isinstance(result, _native.Pending):
        value: T = await _wait(result)
        return value
    return result


__all__ = [
    "Admin",
    "Counters",
    "Leases",
    "Lock",
    "Locks",
    "Session",
    "Store",
    "Transaction",
    "Watch",
    "Watches",
    "open",
    "restore",
]


class _Reactor:
    """Polls the native waits of one event loop when the store wakes them."""

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Reactor] = weakref.WeakKeyDictionary()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        self._loop = loop
        self._read = read
        self._native = _native.Reactor(write)  # owns and closes the write end
        self._tasks: dict[int, tuple[_native.Pending, asyncio.Future[Any]]] = {}
        self._ids = itertools.count(1)
        loop.add_reader(read, self._on_readable)
        weakref.finalize(self, _close_quietly, read)

    @classmethod
    def current(cls) -> _Reactor:
        loop = asyncio.get_running_loop()
        reactor = cls._by_loop.get(loop)
        if reactor is None:
            reactor = cls._by_loop[loop] = _Reactor(loop)
        return reactor

    def run(self, pending: _native.Pending) -> tuple[int, asyncio.Future[Any]]:
        """Starts polling `pending`: its id and the future of its outcome (already done when
        the first poll completes it)."""
        task_id = next(self._ids)
        future: asyncio.Future[Any] = self._loop.create_future()
        self._tasks[task_id] = (pending, future)
        self._poll(task_id)
        return task_id, future

    def cancel(self, task_id: int) -> None:
        """Drops a task whose awaiting coroutine was cancelled: a queued acquire leaves the
        queue, a watch read stops."""
        entry = self._tasks.pop(task_id, None)
        if entry is not None:
            entry[0].cancel()

    def _poll(self, task_id: int) -> None:
        entry = self._tasks.get(task_id)
        if entry is None:
            return
        pending, future = entry
        try:
            finished, value = pending.poll(self._native, task_id)
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting coroutine
            del self._tasks[task_id]
            if not future.done():
                future.set_exception(error)
            return
        if finished:
            del self._tasks[task_id]
            if not future.done():
                future.set_result(value)

    def _on_readable(self) -> None:
        # Drain the pipe first, then take the ids: a wake in between writes a new byte.
        try:
            while os.read(self._read, 4096):
                pass
        except BlockingIOError:
            pass
        for task_id in self._native.take_ready():
            self._poll(task_id)


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


async def _wait(pending: _native.Pending) -> Any:
    reactor = _Reactor.current()
    task_id, future = reactor.run(pending)
    if future.done():
        return future.result()
    try:
        return await future
    except asyncio.CancelledError:
        reactor.cancel(task_id)
        raise


class _Opening(Coroutine[Any, Any, T]):
    """What opens a lock or a session: await it (``x = await f()``, or hand it to
    ``asyncio.create_task``) or use it as an async context manager (``async with f() as x``)."""

    def __init__(self, open_: Callable[[], Coroutine[Any, Any, T]]) -> None:
        self._open = open_
        self._coro: Optional[Coroutine[Any, Any, T]] = None
        self._value: Optional[T] = None

    def _inner(self) -> Coroutine[Any, Any, T]:
        if self._coro is None:
            self._coro = self._open()
        return self._coro

    def send(self, value: Any) -> Any:
        return self._inner().send(value)

    def throw(self, *args: Any) -> Any:
        return self._inner().throw(*args)

    def close(self) -> None:
        if self._coro is not None:
            self._coro.close()

    def __await__(self) -> Generator[Any, None, T]:
        return self._inner().__await__()

    async def __aenter__(self) -> T:
        self._value = await self._open()
        return self._value

    async def __aexit__(self, *exc_info: object) -> None:
        value = self._value
        if value is not None:
            await value.__aexit__(*exc_info)  # type: ignore[attr-defined]


class Store:
    """An open store for asyncio (see :func:`open`). ``async with`` closes it."""

    def __init__(self, target: str, config: Optional[ConfigLike] = None) -> None:
        self._store = clustron.Store(target, config)
        self._calls = self._store._deferred()

    @classmethod
    def wrap(cls, store: clustron.Store) -> Store:
        """An asyncio face on an open synchronous store (both share one handle)."""
        wrapped = cls.__new__(cls)
        wrapped._store = store
        wrapped._calls = store._deferred()
        return wrapped

    @property
    def sync(self) -> clustron.Store:
        """The synchronous store behind this one."""
        return self._store

    @property
    def name(self) -> str:
        return self._store.name

    @property
    def closed(self) -> bool:
        return self._store.closed

    def close(self) -> None:
        self._store.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    async def get(self, key: str) -> Optional[Entry]:
        return await _done(self._calls.get(key))

    async def put(
        self,
        key: str,
        value: bytes | bytearray | str,
        *,
        ttl: Optional[Seconds] = None,
        lease: Optional[int] = None,
        if_absent: bool = False,
        if_version: Optional[int] = None,
        guard: Any = None,
        content_type: Optional[str] = None,
        entity: Optional[str] = None,
        labels: Any = None,
    ) -> PutResult:
        return await _done(
            self._calls.put(
                key,
                value,
                ttl=ttl,
                lease=lease,
                if_absent=if_absent,
                if_version=if_version,
                guard=guard,
                content_type=content_type,
                entity=entity,
                labels=labels,
            )
        )

    async def put_json(self, key: str, value: Any, **options: Any) -> PutResult:
        """Stores ``value`` as JSON (see ``clustron.Store.put_json``)."""
        options.setdefault("content_type", clustron.JSON)
        return await self.put(key, json.dumps(value, separators=(",", ":")), **options)

    async def get_json(self, key: str, default: Any = None) -> Any:
        """The value at ``key`` parsed as JSON, or ``default`` when the key is missing."""
        entry = await self.get(key)
        return default if entry is None else entry.json()

    async def delete(self, key: str, *, if_version: Optional[int] = None, guard: Any = None) -> DeleteResult:
        return await _done(self._calls.delete(key, if_version=if_version, guard=guard))

    async def get_many(self, keys: Iterable[str]) -> list[Optional[Entry]]:
        return await _done(self._calls.get_many(keys))

    async def put_many(self, items: Iterable[Any]) -> list[PutResult | ClustronError]:
        return await _done(self._calls.put_many(items))

    async def delete_many(self, items: Iterable[Any]) -> list[DeleteResult | ClustronError]:
        return await _done(self._calls.delete_many(items))

    async def batch(self, ops: Iterable[Op]) -> list[Any]:
        return await _done(self._calls.batch(ops))

    async def scan_page(
        self,
        *,
        prefix: Optional[str] = None,
        start: Optional[str] = None,
        end: Optional[str] = None,
        limit: Optional[int] = None,
        after: Optional[str] = None,
    ) -> Page:
        return await _done(self._calls.scan_page(prefix=prefix, start=start, end=end, limit=limit, after=after))

    def search(self, entity: Optional[str] = None) -> AsyncSearch:
        """A search of the tagged entries of ``entity`` (None: every entity), like
        ``clustron.Store.search``; await its ``page()``, ``count()``, ``keys()``,
        ``explain()``, or ``async for`` every match."""
        return AsyncSearch(self._calls, entity)

    async def scan(
        self,
        *,
        prefix: Optional[str] = None,
        start: Optional[str] = None,
        end: Optional[str] = None,
        after: Optional[str] = None,
        page_size: int = 1000,
    ) -> AsyncIterator[Entry]:
        """Every entry of a range, in key order, a page at a time (see ``Store.scan``)."""
        if page_size < 1:
            raise clustron.InvalidInputError(f"page_size must be at least 1, got {page_size}")
        while True:
            page = await self.scan_page(prefix=prefix, start=start, end=end, limit=page_size, after=after)
            for entry in page.entries:
                yield entry
            if page.next is None:
                return
            after = page.next

    async def count(self, *, prefix: Optional[str] = None, start: Optional[str] = None, end: Optional[str] = None) -> int:
        return await _done(self._calls.count(prefix=prefix, start=start, end=end))

    async def clear(
        self, *, prefix: Optional[str] = None, start: Optional[str] = None, end: Optional[str] = None
    ) -> ClearResult:
        return await _done(self._calls.clear(prefix=prefix, start=start, end=end))

    async def expire(self, key: str, ttl: Seconds) -> bool:
        return await _done(self._calls.expire(key, ttl))

    async def persist(self, key: str) -> bool:
        return await _done(self._calls.persist(key))

    async def ttl(self, key: str) -> Optional[float]:
        return await _done(self._calls.ttl(key))

    async def status(self) -> Status:
        return await _done(self._calls.status())

    async def backup(self, path: str | os.PathLike[str]) -> BackupInfo:
        """Writes a backup of the store to ``path`` (see :meth:`clustron.Store.backup`), on a
        worker thread: the loop goes on."""
        return await asyncio.to_thread(clustron.Store.backup, self._store, path)

    async def advance_clock(self, by: Seconds) -> None:
        # The deferred store returns a Pending where the stub says None.
        await _done(self._calls.advance_clock(by))  # type: ignore[func-returns-value]

    @property
    def leases(self) -> Leases:
        return Leases(self._calls)

    @property
    def locks(self) -> Locks:
        return Locks(self._calls)

    @property
    def counters(self) -> Counters:
        return Counters(self._calls)

    @property
    def watch(self) -> Watches:
        return Watches(self._calls)

    def session(self, ttl: Seconds) -> _Opening[Session]:
        """Opens a session: ``s = await store.session(10)`` or ``async with store.session(10) as s``."""

        async def open_() -> Session:
            return Session(await _done(self._calls.session(ttl)))

        return _Opening(open_)

    def transaction(self) -> Transaction:
        """An optimistic transaction; ``async with`` commits on success, rolls back on error."""
        return Transaction(self._calls.transaction())

    async def txn(
        self,
        compares: Optional[Iterable[Compare]] = None,
        then: Optional[Iterable[Op]] = None,
        otherwise: Optional[Iterable[Op]] = None,
    ) -> TxnResult:
        return await _done(self._calls.txn(compares, then, otherwise))

    def __repr__(self) -> str:
        return f"<clustron.aio.Store {self.name!r}{' closed' if self.closed else ''}>"


class Admin:
    """:class:`clustron.Admin` for asyncio: the same methods, awaited. Each call is a few
    round trips that block in the native client, so it runs on a worker thread
    (``asyncio.to_thread``); administration is rare, and the loop goes on meanwhile."""

    def __init__(self, target: str) -> None:
        self._admin = clustron.Admin(target)

    async def stores(self) -> "list[dict[str, Any]]":
        return await asyncio.to_thread(self._admin.stores)

    async def store(self, name: str) -> "dict[str, Any]":
        return await asyncio.to_thread(self._admin.store, name)

    async def create_store(self, name: str, **options: Any) -> "dict[str, Any]":
        """See :meth:`clustron.Admin.create_store` for the options."""
        return await asyncio.to_thread(lambda: self._admin.create_store(name, **options))

    async def configure_store(self, name: str, **options: Any) -> "dict[str, Any]":
        """See :meth:`clustron.Admin.configure_store` for the options."""
        return await asyncio.to_thread(lambda: self._admin.configure_store(name, **options))

    async def drop_store(self, name: str, *, force: bool = False) -> None:
        await asyncio.to_thread(lambda: self._admin.drop_store(name, force=force))

    async def members(self) -> "list[dict[str, Any]]":
        return await asyncio.to_thread(self._admin.members)

    async def add_member(self, address: str) -> "dict[str, Any]":
        return await asyncio.to_thread(self._admin.add_member, address)

    async def drain_member(self, node_id: str) -> None:
        await asyncio.to_thread(self._admin.drain_member, node_id)

    async def remove_member(self, node_id: str) -> None:
        await asyncio.to_thread(self._admin.remove_member, node_id)


async def open(target: str, config: Optional[ConfigLike] = None) -> Store:  # noqa: A001 - the product's verb
    """Opens a store (see :func:`clustron.open`). The loop goes on while a cluster answers."""
    return Store.wrap(await _wait(_native.Store._open_deferred(target, config)))


async def restore(path: str | os.PathLike[str], target: str, *, replace: bool = False) -> Store:
    """Creates and opens a store from a backup file (see :func:`clustron.restore`), on a
    worker thread: the loop goes on."""
    return Store.wrap(await asyncio.to_thread(clustron.restore, path, target, replace=replace))


class Leases:
    def __init__(self, store: _native.Store) -> None:
        self._leases = store.leases

    async def grant(self, ttl: Seconds) -> Lease:
        return await _done(self._leases.grant(ttl))

    async def keep_alive(self, lease: int) -> Lease:
        return await _done(self._leases.keep_alive(lease))

    async def revoke(self, lease: int) -> bool:
        return await _done(self._leases.revoke(lease))

    async def time_to_live(self, lease: int) -> Optional[Lease]:
        return await _done(self._leases.time_to_live(lease))

    async def list(self) -> list[Lease]:
        return await _done(self._leases.list())


class Session:
    """A lease kept alive in the background; ``async with`` closes it."""

    def __init__(self, session: _native.Session) -> None:
        self._session = session

    @property
    def lease(self) -> int:
        return self._session.lease

    @property
    def ttl(self) -> float:
        return self._session.ttl

    @property
    def lost(self) -> bool:
        return self._session.lost

    async def wait_lost(self, timeout: Optional[float] = None) -> Optional[ClustronError]:
        """Waits until the session ends; returns why, or None when ``timeout`` passed."""
        try:
            return await asyncio.wait_for(_wait(self._session._lost_task()), timeout)
        except asyncio.TimeoutError:
            return None

    async def close(self) -> bool:
        return await _done(self._session.close())

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await _done(self._session.close())


class Locks:
    def __init__(self, store: _native.Store) -> None:
        self._locks = store.locks

    def acquire(
        self, name: str, *, ttl: Optional[Seconds] = None, lease: Optional[int] = None, wait: Optional[Seconds] = None
    ) -> _Opening[Lock]:
        """Acquires a lock: ``lock = await locks.acquire(...)`` or ``async with
        locks.acquire(...) as lock``. ``LockedError`` when held (no ``wait``),
        ``TimeoutError`` when ``wait`` ran out. Cancelling the wait leaves the queue."""

        async def open_() -> Lock:
            lock = await self._acquire(name, ttl, lease, wait)
            if lock is None:
                if wait is None:
                    raise LockedError(f"lock {name!r} is held by someone else")
                raise _Timeout(f"lock {name!r} was not granted in time")
            return lock

        return _Opening(open_)

    async def try_acquire(
        self, name: str, *, ttl: Optional[Seconds] = None, lease: Optional[int] = None, wait: Optional[Seconds] = None
    ) -> Optional[Lock]:
        """Like ``acquire``, but None instead of an error when the lock is not granted."""
        return await self._acquire(name, ttl, lease, wait)

    async def _acquire(
        self, name: str, ttl: Optional[Seconds], lease: Optional[int], wait: Optional[Seconds]
    ) -> Optional[Lock]:
        native = await _wait(self._locks._acquire_task(name, ttl=ttl, lease=lease, wait=wait))
        return None if native is None else Lock(native)

    async def info(self, name: str) -> Optional[LockInfo]:
        return await _done(self._locks.info(name))


class Lock:
    """A held lock; ``async with`` releases it. Pass it as ``guard=`` to guarded writes."""

    def __init__(self, lock: _native.Lock) -> None:
        self._lock = lock

    @property
    def name(self) -> str:
        return self._lock.name

    @property
    def fence(self) -> int:
        return self._lock.fence

    @property
    def lease(self) -> Optional[int]:
        return self._lock.lease

    @property
    def expires_at(self) -> Optional[float]:
        return self._lock.expires_at

    @property
    def guard(self) -> tuple[str, int]:
        return self._lock.guard

    async def renew(self) -> Optional[float]:
        return await _done(self._lock.renew())

    async def release(self) -> bool:
        return await _done(self._lock.release())

    async def __aenter__(self) -> Lock:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await _done(self._lock.release())

    def __repr__(self) -> str:
        return f"<clustron.aio.Lock {self.name!r} fence={self.fence}>"


class Counters:
    def __init__(self, store: _native.Store) -> None:
        self._counters = store.counters

    async def add(
        self,
        name: str,
        delta: int = 1,
        *,
        min: Optional[int] = None,  # noqa: A002 - mirrors the sync API
        max: Optional[int] = None,  # noqa: A002
        ttl: Optional[Seconds] = None,
    ) -> CounterAdd:
        return await _done(self._counters.add(name, delta, min=min, max=max, ttl=ttl))

    async def get(self, name: str) -> int:
        return await _done(self._counters.get(name))

    async def set(self, name: str, value: int, *, ttl: Optional[Seconds] = None) -> CounterSet:
        return await _done(self._counters.set(name, value, ttl=ttl))

    async def compare_and_set(self, name: str, expected: int, value: int) -> CounterCas:
        return await _done(self._counters.compare_and_set(name, expected, value))

    async def delete(self, name: str) -> bool:
        return await _done(self._counters.delete(name))


class Watches:
    """Watch operations: ``store.watch``. Each call returns the :class:`Watch` at once, its
    opening under way; ``await`` it to know the store has it open (a write made after that
    is in the watch), or iterate it (``async for``), which waits for the opening first."""

    def __init__(self, store: _native.Store) -> None:
        self._watches = store.watch

    def key(
        self, key: str, *, snapshot: bool = False, from_revision: Optional[int] = None, prev_value: bool = False
    ) -> Watch:
        return _watch(lambda: self._watches.key(key, snapshot=snapshot, from_revision=from_revision, prev_value=prev_value))

    def prefix(
        self, prefix: str, *, snapshot: bool = False, from_revision: Optional[int] = None, prev_value: bool = False
    ) -> Watch:
        return _watch(
            lambda: self._watches.prefix(prefix, snapshot=snapshot, from_revision=from_revision, prev_value=prev_value)
        )

    def range(
        self,
        start: Optional[str] = None,
        end: Optional[str] = None,
        *,
        snapshot: bool = False,
        from_revision: Optional[int] = None,
        prev_value: bool = False,
    ) -> Watch:
        return _watch(
            lambda: self._watches.range(start, end, snapshot=snapshot, from_revision=from_revision, prev_value=prev_value)
        )

    def search(
        self,
        entity: Optional[str] = None,
        *,
        where: Optional[Any] = None,
        snapshot: bool = False,
        from_revision: Optional[int] = None,
        prev_value: bool = False,
    ) -> Watch:
        """A live query (see ``clustron.Store.watch.search``)."""
        return _watch(
            lambda: self._watches.search(
                entity, where=where, snapshot=snapshot, from_revision=from_revision, prev_value=prev_value
            )
        )


def _watch(open_: Callable[[], Any]) -> Watch:
    """The watch `open_` starts. A store's refusal (``CompactedError``, ``InvalidInputError``)
    is raised where a remote opening raises it, by the await or the first read, so that both
    modes fail in the same place; a wrong argument type raises here."""
    try:
        return Watch(open_())
    except ClustronError as error:
        return Watch(error)


class Watch:
    """A watch: ``async for event in watch``. Ends after ``close()``; a watch the store ended
    raises that error once, then ends.

    On a remote store it is returned while its opening is still a round trip away (the
    event loop is not blocked): ``watch = await store.watch.key(k)`` (or ``async with``)
    waits until the store has it open, so that a write made after it is in the watch.
    Reading it (``async for``, ``next``) waits for the opening first. An opening the store
    refuses (``CompactedError``, ``InvalidInputError``...) raises from the await or the
    read, in process too, where the watch is open when the call returns."""

    def __init__(self, opening: Any) -> None:
        self._watch: Optional[_native.Watch] = None
        self._pending: Optional[_native.Pending] = None
        self._opening: Optional[asyncio.Task[_native.Watch]] = None
        self._failed: Optional[ClustronError] = None
        self._closed = False
        if isinstance(opening, ClustronError):
            self._failed = opening
        elif isinstance(opening, _native.Pending):
            self._pending = opening
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return  # started by the first await, on its loop
            self._start()
        else:
            self._watch = opening

    def _start(self) -> asyncio.Task[_native.Watch]:
        """Sends the opening (at once when made on a loop, so that the request is on its way
        before the caller awaits it)."""
        if self._opening is None:
            assert self._pending is not None
            self._opening = asyncio.ensure_future(_wait(self._pending))
            self._opening.add_done_callback(_retrieve)
        return self._opening

    async def _open(self) -> _native.Watch:
        if self._failed is not None:
            raise self._failed
        if self._watch is None:
            watch = await asyncio.shield(self._start())
            if self._closed:
                watch.close()
            self._watch = watch
        return self._watch

    def __await__(self) -> Generator[Any, None, Watch]:
        return self._opened().__await__()

    async def _opened(self) -> Watch:
        await self._open()
        return self

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> Event:
        event = await self._next()
        if event is None:
            raise StopAsyncIteration
        return event

    async def next(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event, or None when ``timeout`` seconds passed (or the watch ended)."""
        try:
            return await asyncio.wait_for(self._next(), timeout)
        except asyncio.TimeoutError:
            return None

    async def _next(self) -> Optional[Event]:
        if self._closed:
            return None
        watch = await self._open()
        if watch._quiet:
            return None
        try:
            event: Optional[Event] = await _wait(watch._next_task())
        except ClustronError:
            if watch._quiet:
                return None
            watch._mark_ended()
            raise
        return event

    @property
    def revision(self) -> int:
        """The revision of the last event delivered (0 before the first, and while opening)."""
        return 0 if self._watch is None else self._watch.revision

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stops the watch (one still opening is closed as soon as it opens). Idempotent."""
        self._closed = True
        if self._watch is not None:
            self._watch.close()
        elif self._opening is not None:
            self._opening.add_done_callback(_close_opened)

    async def __aenter__(self) -> Watch:
        await self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


def _retrieve(opening: asyncio.Task[_native.Watch]) -> None:
    """Marks an opening's error as seen: it is raised where the watch is read, and a watch
    never read must not make asyncio log it."""
    if not opening.cancelled():
        opening.exception()


def _close_opened(opening: asyncio.Task[_native.Watch]) -> None:
    """Closes the watch that a closed `Watch` was still opening."""
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


class Transaction:
    """An optimistic transaction; ``async with`` commits on success (``ConflictError`` if
    something it read changed) and rolls back when the block raises."""

    def __init__(self, txn: _native.Transaction) -> None:
        self._txn = txn

    async def get(self, key: str) -> Optional[Entry]:
        """Reads ``key`` (seeing this transaction's own writes). Await each read before the
        next write: a write buffered while a read runs raises ``InvalidInputError``."""
        entry: Optional[Entry] = await _done(self._txn.get(key))
        return entry

    def put(self, key: str, value: bytes | bytearray | str, **options: Any) -> None:
        """Buffers a write (the options of ``Store.put``); nothing to await."""
        self._txn.put(key, value, **options)

    def delete(self, key: str) -> None:
        """Buffers a delete; nothing to await."""
        self._txn.delete(key)

    async def commit(self) -> int:
        revision: int = await _done(self._txn.commit())
        return revision

    def rollback(self) -> None:
        self._txn.rollback()

    @property
    def finished(self) -> bool:
        return self._txn.finished

    async def __aenter__(self) -> Transaction:
        return self

    async def __aexit__(self, kind: Optional[type[BaseException]], *rest: object) -> None:
        if self.finished:
            return
        if kind is not None:
            self.rollback()
        else:
            await self.commit()



def _args(doc: str) -> str:
    """The ``Args:`` section of a cleaned docstring ("" when it has none)."""
    at = doc.find("\nArgs:\n")
    return "" if at < 0 else doc[at + 1 :].rstrip()


def _share_doc(mine: Any, twin: Any) -> None:
    """Gives ``mine`` the docstring of its synchronous ``twin``, or, when it has its own
    text, the twin's ``Args:`` section after it: one text for each option, for both faces."""
    theirs = inspect.cleandoc(twin.__doc__ or "")
    if not mine.__doc__:
        mine.__doc__ = theirs or None
        return
    own = inspect.cleandoc(mine.__doc__)
    if "\nArgs:\n" not in own and _args(theirs):
        mine.__doc__ = f"{own}\n\n{_args(theirs)}"


def _share_docs() -> None:
    """Each awaitable method explains its options with its synchronous twin's text, so
    ``help()`` explains every option of both faces from one place."""
    twins = {
        Store: clustron.Store,
        Admin: clustron.Admin,
        Leases: clustron.Leases,
        Session: clustron.Session,
        Locks: clustron.Locks,
        Lock: clustron.Lock,
        Counters: clustron.Counters,
        Watches: clustron.Watches,
        Watch: clustron.Watch,
        Transaction: clustron.Transaction,
    }
    for mine, theirs in twins.items():
        for name, member in vars(mine).items():
            twin = getattr(theirs, name, None)
            if not name.startswith("_") and callable(member) and twin is not None:
                _share_doc(member, twin)
    _share_doc(open, clustron.open)
    _share_doc(restore, clustron.restore)


_share_docs()

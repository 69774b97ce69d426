"""clustron.aio: the same API for asyncio, with waits that never block the loop."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import clustron
import clustron.aio

_names = itertools.count()


def run(body: Callable[[clustron.aio.Store], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with await clustron.aio.open(f"clustron://inproc/aio-{next(_names)}?clock=manual") as store:
            return await asyncio.wait_for(body(store), 10)

    return asyncio.run(main())


def test_keys_and_results() -> None:
    async def body(store: clustron.aio.Store) -> None:
        put = await store.put("k", "v", ttl=5)
        assert put.created
        entry = await store.get("k")
        assert entry is not None and entry.text == "v"
        assert await store.ttl("k") == pytest.approx(5)
        await store.put_json("j", [1, 2])
        assert await store.get_json("j") == [1, 2]
        assert [e.key async for e in store.scan(page_size=1)] == ["j", "k"]
        assert await store.count() == 2
        assert (await store.delete("k")).deleted
        assert (await store.status()).keys == 1

    run(body)


def test_async_for_watch_sees_writes_from_another_task() -> None:
    async def body(store: clustron.aio.Store) -> None:
        watch = store.watch.prefix("cfg/")

        async def writer() -> None:
            for i in range(3):
                await asyncio.sleep(0)
                await store.put(f"cfg/{i}", str(i))

        task = asyncio.create_task(writer())
        seen = []
        async for event in watch:
            seen.append(event.key)
            if len(seen) == 3:
                watch.close()
        await task
        assert seen == ["cfg/0", "cfg/1", "cfg/2"]

    run(body)


def test_watch_wakes_from_another_thread() -> None:
    async def body(store: clustron.aio.Store) -> None:
        async with store.watch.key("k") as watch:
            loop = asyncio.get_running_loop()
            writer = loop.run_in_executor(None, lambda: store.sync.put("k", "from a thread"))
            event = await watch.next(timeout=10)
            await writer
            assert event is not None and event.text == "from a thread"

    run(body)


def test_cancelled_watch_wait_loses_no_event() -> None:
    async def body(store: clustron.aio.Store) -> None:
        watch = await store.watch.key("k")
        assert await watch.next(timeout=0) is None  # a cancelled wait
        await store.put("k", "1")
        event = await watch.next(timeout=10)
        assert event is not None and event.text == "1"

    run(body)


def test_watch_opening_is_awaited_and_its_refusal_raised_there() -> None:
    async def body(store: clustron.aio.Store) -> None:
        opening = store.watch.key("k", snapshot=True, from_revision=1)  # refused by the store
        with pytest.raises(clustron.InvalidInputError, match="not both"):
            await opening
        with pytest.raises(clustron.InvalidInputError):
            await opening.next(timeout=1)
        with pytest.raises(TypeError):
            store.watch.key(5)  # type: ignore[arg-type]
        watch = await store.watch.key("k")
        assert watch.revision == 0 and not watch.closed
        await store.put("k", "1")
        async with store.watch.key("k", from_revision=1) as replay:
            event = await replay.next(timeout=10)
            assert event is not None and event.text == "1" and replay.revision == event.revision
        assert replay.closed
        event = await watch.next(timeout=10)
        assert event is not None and event.text == "1"
        watch.close()
        assert await watch.next(timeout=10) is None

    run(body)


def test_lock_wait_is_granted_when_the_holder_releases() -> None:
    async def body(store: clustron.aio.Store) -> None:
        holder = await store.locks.acquire("job", ttl=30)

        async def release_when_queued() -> None:
            while (await store.locks.info("job")).waiters == 0:  # type: ignore[union-attr]
                await asyncio.sleep(0)
            await holder.release()

        releaser = asyncio.create_task(release_when_queued())
        async with store.locks.acquire("job", ttl=30, wait=60) as lock:
            assert lock.fence > holder.fence
            assert (await store.put("out", "1", guard=lock)).changed
        await releaser
        assert await store.locks.info("job") is None

    run(body)


def test_lock_errors_and_cancellation_leaves_the_queue() -> None:
    async def body(store: clustron.aio.Store) -> None:
        holder = await store.locks.acquire("job", ttl=30)
        with pytest.raises(clustron.LockedError):
            await store.locks.acquire("job")
        assert await store.locks.try_acquire("job") is None
        waiter = asyncio.create_task(store.locks.try_acquire("job", wait=60))
        while (await store.locks.info("job")).waiters == 0:  # type: ignore[union-attr]
            await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (await store.locks.info("job")).waiters == 0  # type: ignore[union-attr]
        timed_out = asyncio.create_task(store.locks.acquire("job", wait=1))
        while (await store.locks.info("job")).waiters == 0:  # type: ignore[union-attr]
            await asyncio.sleep(0)
        await store.advance_clock(1)
        with pytest.raises(clustron.TimeoutError):
            await timed_out
        await holder.release()

    run(body)


def test_session_wait_lost_wakes_on_expiry() -> None:
    async def body(store: clustron.aio.Store) -> None:
        lease = await store.leases.grant(5)
        async with store.session(5) as session:
            assert await session.wait_lost(timeout=0) is None
            waiting = asyncio.create_task(session.wait_lost())
            await asyncio.sleep(0)
            store.sync.leases.revoke(session.lease)
            reason = await waiting
            assert isinstance(reason, clustron.LeaseNotFoundError)
        assert lease.id != session.lease

    run(body)


def test_transactions_commit_and_conflict() -> None:
    async def body(store: clustron.aio.Store) -> None:
        await store.put("n", "1")
        async with store.transaction() as tx:
            entry = await tx.get("n")
            tx.put("n", str(int(entry.text) + 1))  # type: ignore[union-attr]
        assert (await store.get("n")).text == "2"  # type: ignore[union-attr]
        with pytest.raises(clustron.ConflictError):
            async with store.transaction() as tx:
                await tx.get("n")
                await store.put("n", "x")
                tx.put("n", "y")
        result = await store.txn([clustron.Compare.exists("n")], [clustron.Op.delete("n")])
        assert result.succeeded

    run(body)


def test_counters_and_leases() -> None:
    async def body(store: clustron.aio.Store) -> None:
        assert (await store.counters.add("c", 2)).current == 2
        assert await store.counters.get("c") == 2
        lease = await store.leases.grant(3)
        await store.put("tmp", "x", lease=lease.id)
        await store.advance_clock(3)
        assert await store.get("tmp") is None
        assert await store.leases.time_to_live(lease.id) is None

    run(body)

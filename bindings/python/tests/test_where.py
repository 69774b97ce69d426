"""Where an operation runs: in-process ones inline on the caller's thread, remote ones (when
CLUSTRON_NODES names a cluster, as `make test-bindings-cluster` does) off the event loop.
Each test pins one side; the other side's test runs in the other setting."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
from collections.abc import Awaitable
from typing import Optional

import pytest

import clustron
import clustron.aio

NODES: Optional[str] = os.environ.get("CLUSTRON_NODES") or None
_names = itertools.count()


def target() -> str:
    return f"clustron://{NODES or 'inproc'}/where-{os.getpid()}-{next(_names)}?clock=manual"


async def yields_to_the_loop(operation: Awaitable[object]) -> bool:
    """Whether another task ran while `operation` was awaited (it runs only if it yields)."""
    ran = asyncio.Event()

    async def other() -> None:
        ran.set()

    task = asyncio.ensure_future(other())
    await operation
    seen = ran.is_set()
    await task
    return seen


class _NoThreads(concurrent.futures.ThreadPoolExecutor):
    """A default executor that refuses work: what runs while it is installed uses no thread."""

    def submit(self, *args: object, **kwargs: object) -> concurrent.futures.Future[object]:  # type: ignore[override]
        raise AssertionError("an operation went to the loop's executor")


def test_aio_has_a_thousand_operations_in_flight_without_a_thread() -> None:
    async def main() -> None:
        asyncio.get_running_loop().set_default_executor(_NoThreads())
        async with await clustron.aio.open(target()) as store:
            puts = await asyncio.gather(*(store.put(f"many/{i}", str(i)) for i in range(1000)))
            assert all(put.created for put in puts)
            entries = await asyncio.gather(*(store.get(f"many/{i}") for i in range(1000)))
            assert [entry.text if entry else None for entry in entries] == [str(i) for i in range(1000)]
            adds = await asyncio.gather(*(store.counters.add("hits") for _ in range(100)))
            assert sorted(add.current for add in adds) == list(range(1, 101))
            async with store.session(30) as session:
                assert not session.lost
            lock = await store.locks.acquire("job", ttl=30)
            assert await lock.renew() is not None
            assert await lock.release()

            async def transact(i: int) -> int:
                txn = store.transaction()
                seen = await txn.get(f"many/{i}")
                txn.put(f"many/{i}", f"{seen.text}+" if seen else "?")
                return await txn.commit()

            revisions = await asyncio.gather(*(transact(i) for i in range(100)))
            assert len(set(revisions)) == 100
            held = await store.locks.acquire("queue", ttl=30)
            waiting = asyncio.ensure_future(store.locks.acquire("queue", ttl=30, wait=30))
            await asyncio.sleep(0)  # one turn of the loop (no time passes): the acquire starts
            assert await held.release()
            assert (await waiting).fence > held.fence
            assert (await store.clear(prefix="many/")).deleted == 1000

    asyncio.run(asyncio.wait_for(main(), 60))


def test_the_store_knows_where_it_lives() -> None:
    with clustron.open(target()) as store:
        assert store.is_remote == (NODES is not None)


def test_aio_operations_yield_to_the_loop_exactly_when_remote() -> None:
    async def main() -> bool:
        opening = clustron.aio.open(target())
        assert await yields_to_the_loop(opening) == (NODES is not None)
        async with await clustron.aio.open(target()) as store:
            seen = await yields_to_the_loop(store.put("k", "v"))
            txn = store.transaction()
            assert await yields_to_the_loop(txn.get("k")) == seen
            txn.put("k", "v")
            assert await yields_to_the_loop(txn.commit()) == seen
            assert await yields_to_the_loop(store.locks.acquire("l", ttl=30)) == seen
            # The other calls take the same road: a round trip of each kind works.
            assert (await store.get("k")) is not None
            assert (await store.counters.add("c", 2)).current == 2
            lease = await store.leases.grant(30)
            assert (await store.leases.time_to_live(lease.id)) is not None
            async with store.transaction() as txn:
                await txn.get("k")
                txn.put("k", "w")
            assert (await store.get("k")).value == b"w"  # type: ignore[union-attr]
            assert [entry.key async for entry in store.scan(prefix="k")] == ["k"]
            return seen

    # In-process a put completes inline; on a cluster it runs off the loop.
    assert asyncio.run(asyncio.wait_for(main(), 30)) == (NODES is not None)


@pytest.mark.parametrize("page_size", [0, -1])
def test_aio_scan_refuses_a_bad_page_size(page_size: int) -> None:
    async def main() -> None:
        async with await clustron.aio.open(target()) as store:
            with pytest.raises(clustron.InvalidInputError):
                async for _ in store.scan(page_size=page_size):
                    pass

    asyncio.run(main())

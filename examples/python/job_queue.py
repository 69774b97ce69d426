"""A job queue worked by several asyncio workers: each job is claimed with a lock, and the
lock's fencing token guards the write of the result, so a worker that lost its lock (it
stalled past the TTL and another took over) cannot overwrite the newer worker's result.

    python examples/python/job_queue.py
"""

from __future__ import annotations

import asyncio

import clustron
import clustron.aio

JOBS = 12
WORKERS = 4


async def worker(store: clustron.aio.Store, name: str, done: list[str]) -> None:
    async for entry in store.scan(prefix="jobs/pending/"):
        job = entry.key.removeprefix("jobs/pending/")
        lock = await store.locks.try_acquire(f"job/{job}", ttl=30)
        if lock is None:
            continue  # another worker has it
        async with lock:
            if await store.get(entry.key) is None:
                continue  # finished by another worker before we got the lock
            await asyncio.sleep(0)  # the work
            # Writes guarded by the fence land only while this grant holds the lock.
            await store.put(f"jobs/result/{job}", f"{name} did {entry.text}", guard=lock)
            await store.delete(entry.key, guard=lock)
            done.append(job)


async def stale_worker_is_fenced_off(store: clustron.aio.Store) -> None:
    await store.put("jobs/pending/slow", "slow job")
    stale = await store.locks.acquire("job/slow", ttl=1)
    await store.advance_clock(1)  # the stale worker stalls past its TTL...
    async with store.locks.acquire("job/slow", ttl=30) as fresh:  # ...and another takes over
        await store.put("jobs/result/slow", "fresh result", guard=fresh)
        try:
            await store.put("jobs/result/slow", "stale result", guard=stale)
            raise AssertionError("a stale fence must be refused")
        except clustron.LockedError as error:
            print(f"stale worker fenced off (fence {stale.fence} < {fresh.fence}): {error.code}")
        await store.delete("jobs/pending/slow", guard=fresh)


async def main() -> None:
    async with await clustron.aio.open("clustron://inproc/job-queue?clock=manual") as store:
        await store.put_many([(f"jobs/pending/{i:03}", f"job {i}") for i in range(JOBS)])
        done: list[str] = []
        await asyncio.gather(*(worker(store, f"worker-{w}", done) for w in range(WORKERS)))
        assert sorted(done) == [f"{i:03}" for i in range(JOBS)], "every job ran exactly once"
        assert await store.count(prefix="jobs/pending/") == 0
        print(f"{len(done)} jobs done by {WORKERS} workers")
        await stale_worker_is_fenced_off(store)
        result = await store.get("jobs/result/slow")
        assert result is not None and result.text == "fresh result"


if __name__ == "__main__":
    asyncio.run(main())

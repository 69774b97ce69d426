"""clustron.aio against a store (a cluster, as the aio path matters there): N coroutines on
one event loop, each awaiting puts (or gets) of 100-byte values to random keys for a fixed
time. Prints ops/s; compare with `clustron bench put --clients 64` on the same cluster.

    python bench/bench_aio.py --target clustron://127.0.0.1:7000/bench --tasks 256 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

import clustron.aio


async def run(target: str, tasks: int, seconds: float, op: str, keys: int) -> float:
    async with await clustron.aio.open(target) as store:
        value = b"x" * 100
        if op == "get":
            await asyncio.gather(*(store.put(f"bench/{i}", value) for i in range(keys)))
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker(seed: int) -> None:
            nonlocal done
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                key = f"bench/{rng.randrange(keys)}"
                if op == "put":
                    await store.put(key, value)
                else:
                    await store.get(key)
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(tasks)))
        return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True)
    parser.add_argument("--tasks", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--op", choices=["put", "get"], default="put")
    parser.add_argument("--keys", type=int, default=10_000)
    args = parser.parse_args()
    rate = asyncio.run(run(args.target, args.tasks, args.seconds, args.op, args.keys))
    print(f"clustron.aio {args.op} {args.tasks} tasks: {rate:,.0f} ops/s")


if __name__ == "__main__":
    main()

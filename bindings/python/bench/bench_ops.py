"""Single-thread get and put throughput from Python: Clustron (in-process) against
cachetools.TTLCache and a plain dict, same keys, same 100-byte values, same run.

    make bench-python            # builds the release module first
    python bench/bench_ops.py --keys 100000 --ops 500000 --repeat 5

Each figure is the best of --repeat runs (ops per second); the dict is the ceiling of what a
Python call can do, TTLCache the usual in-process cache with expiry. The floor is a call into
the extension that takes a key as `get` does and does nothing (`Store._call_floor`): each
Clustron operation is also reported as a multiple of it. A second floor adds the store's own
get to that call without making a Python result (`Store._get_floor`): what a get costs
beyond it is its result object.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

import cachetools

import clustron


def measure(label: str, op: Callable[[str], Any], keys: list[str], ops: int, repeat: int) -> float:
    count = len(keys)
    best = 0.0
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for i in range(ops):
            op(keys[i % count])
        elapsed = time.perf_counter() - start
        best = max(best, ops / elapsed)
    print(f"{label:<34} {best / 1e6:8.3f} M ops/s   {1e9 / best:8.0f} ns/op")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--ops", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    value = b"v" * 100
    keys = [f"bench/key/{i:08}" for i in range(args.keys)]
    store = clustron.open("python-bench")
    ttl_cache: cachetools.TTLCache[str, bytes] = cachetools.TTLCache(maxsize=args.keys * 2, ttl=3600)
    plain: dict[str, bytes] = {}
    for key in keys:
        store.put(key, value)
        ttl_cache[key] = value
        plain[key] = value

    print(f"{args.keys} keys, 100-byte values, {args.ops} ops per run, best of {args.repeat}")
    results = {}
    results["floor"] = measure("floor     store._call_floor(key)", store._call_floor, keys, args.ops, args.repeat)
    results["get floor"] = measure("floor     store._get_floor(key)", store._get_floor, keys, args.ops, args.repeat)
    results["clustron get"] = measure("clustron  store.get(key)", store.get, keys, args.ops, args.repeat)
    results["ttlcache get"] = measure("TTLCache  cache.get(key)", ttl_cache.get, keys, args.ops, args.repeat)
    results["dict get"] = measure("dict      d.get(key)", plain.get, keys, args.ops, args.repeat)
    put = store.put
    results["clustron put"] = measure("clustron  store.put(key, value)", lambda k: put(k, value), keys, args.ops, args.repeat)
    setitem = ttl_cache.__setitem__
    results["ttlcache put"] = measure("TTLCache  cache[key] = value", lambda k: setitem(k, value), keys, args.ops, args.repeat)
    plain_set = plain.__setitem__
    results["dict put"] = measure("dict      d[key] = value", lambda k: plain_set(k, value), keys, args.ops, args.repeat)
    put_ttl = store.put
    results["clustron put ttl"] = measure(
        "clustron  store.put(key, value, ttl=)", lambda k: put_ttl(k, value, ttl=3600), keys, args.ops, args.repeat
    )
    print(
        f"clustron vs TTLCache: get {results['clustron get'] / results['ttlcache get']:.2f}x, "
        f"put {results['clustron put'] / results['ttlcache put']:.2f}x, "
        f"put with ttl {results['clustron put ttl'] / results['ttlcache put']:.2f}x"
    )
    floor = results["floor"]
    print(
        f"as multiples of the floor ({1e9 / floor:.0f} ns): get {floor / results['clustron get']:.2f}x, "
        f"put {floor / results['clustron put']:.2f}x, put with ttl {floor / results['clustron put ttl']:.2f}x "
        f"(dict get {floor / results['dict get']:.2f}x)"
    )
    # The call floor excludes the store's own work; a get cannot cost less than the call plus
    # that work (mostly memory latency at this many keys), and what it costs beyond both is
    # its result object.
    get_floor = results["get floor"]
    print(
        f"the store's get in Rust adds {1e9 / get_floor - 1e9 / floor:.0f} ns to the call "
        f"(call + get, no result: {1e9 / get_floor:.0f} ns); store.get is {get_floor / results['clustron get']:.2f}x that, "
        f"its result object {1e9 / results['clustron get'] - 1e9 / get_floor:.0f} ns"
    )
    store.close()


if __name__ == "__main__":
    main()

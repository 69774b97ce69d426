"""Clustron from Python in one page: keys, TTLs, a lock with a fencing token, a counter, a
watch and a transaction.

    python examples/python/quickstart.py [store name or connection string]
"""

from __future__ import annotations

import sys

import clustron


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else "quickstart"
    with clustron.open(target) as store:
        # Keys: str values are stored as UTF-8 and recorded as text; bytes are stored as is.
        written = store.put("greeting", "hello", ttl=30)
        entry = store.get("greeting")
        assert entry is not None
        print(f"{entry.key} = {entry.text!r} (version {entry.version}, revision {written.revision})")
        print(f"expires in {store.ttl('greeting'):.0f} s")

        store.put_json("config/app", {"replicas": 3, "region": "eu"})
        print("config:", store.get_json("config/app"))

        # A watch sees every change after it opens.
        with store.watch.prefix("config/") as watch:
            store.put_json("config/app", {"replicas": 5, "region": "eu"})
            event = watch.next(timeout=5)
            assert event is not None
            print(f"watch: {event.kind} {event.key} -> {event.json()}")

        # A lock: only one holder; its fencing token guards writes.
        with store.locks.acquire("report", ttl=10, wait=5) as lock:
            store.put("report/owner", "quickstart", guard=lock)
            print(f"holding {lock.name!r} with fence {lock.fence}")

        # Counters are exact under concurrency.
        store.counters.add("visits")
        print("visits:", store.counters.add("visits", 2).current)

        # An optimistic transaction: commits on exit, raises ConflictError if what it read
        # changed meanwhile.
        with store.transaction() as tx:
            current = tx.get("greeting")
            tx.put("greeting", (current.text if current else "") + ", world")
        print("greeting:", store.get("greeting").text)  # type: ignore[union-attr]

        status = store.status()
        print(f"store {status.store!r}: {status.keys} keys at revision {status.revision}")


if __name__ == "__main__":
    main()

"""Eight threads on one store: counters stay exact, locks stay exclusive, blocking waits
release the GIL."""

from __future__ import annotations

import threading

import clustron

THREADS = 8


def run_threads(target: object) -> None:
    barrier = threading.Barrier(THREADS)

    def body(index: int) -> None:
        barrier.wait(10)
        target(index)  # type: ignore[operator]

    threads = [threading.Thread(target=body, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()


def test_counters_are_exact(store: clustron.Store) -> None:
    adds = 2000

    def work(_: int) -> None:
        for _ in range(adds):
            store.counters.add("hits")

    run_threads(work)
    assert store.counters.get("hits") == THREADS * adds


def test_puts_from_threads_all_land(store: clustron.Store) -> None:
    def work(index: int) -> None:
        for i in range(500):
            store.put(f"t{index}/{i}", b"x" * 100)

    run_threads(work)
    assert store.count() == THREADS * 500
    assert store.status().revision == THREADS * 500


def test_locks_are_exclusive_and_fences_increase(store: clustron.Store) -> None:
    holder: list[int] = []
    overlaps: list[tuple[int, int]] = []
    fences: list[int] = []
    rounds = 50

    def work(index: int) -> None:
        for _ in range(rounds):
            with store.locks.acquire("shared", ttl=60, wait=60) as lock:
                if holder:
                    overlaps.append((holder[0], index))
                holder.append(index)
                fences.append(lock.fence)
                store.put("owner", str(index), guard=lock)
                holder.pop()

    run_threads(work)
    assert overlaps == []
    assert len(fences) == THREADS * rounds
    assert fences == sorted(fences) and len(set(fences)) == len(fences)


def test_blocked_watch_releases_the_gil(store: clustron.Store) -> None:
    # The watcher blocks in next() with no timeout; if it held the GIL, the writer thread
    # could never run and the join below would time out.
    watch = store.watch.key("wake")
    got: list[str] = []
    watcher = threading.Thread(target=lambda: got.append(next(watch).text))
    watcher.start()
    store.put("wake", "up")
    watcher.join(10)
    assert got == ["up"]

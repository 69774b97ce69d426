"""A fixed-window rate limiter: one counter per client and window, created with a TTL so that
old windows clean themselves up, and a bounded add that refuses past the limit.

    python examples/python/rate_limiter.py

The store runs on a manual clock here so the example can move time forward without
sleeping; in an application, open a plain store name and let the system clock run.
"""

from __future__ import annotations

import clustron

LIMIT = 5  # requests
WINDOW = 10.0  # seconds


class RateLimiter:
    def __init__(self, store: clustron.Store, limit: int, window: float) -> None:
        self.store = store
        self.limit = limit
        self.window = window
        self.now = 0.0  # seconds since the example started (a real service reads time.time())

    def allow(self, client: str) -> bool:
        window = int(self.now // self.window)
        # The add is refused (applied=False) when it would pass the limit; the counter
        # expires with its window.
        result = self.store.counters.add(f"rate/{client}/{window}", 1, max=self.limit, ttl=self.window)
        return result.applied

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.store.advance_clock(seconds)


def main() -> None:
    with clustron.open("clustron://inproc/rate-limiter?clock=manual") as store:
        limiter = RateLimiter(store, LIMIT, WINDOW)
        first = [limiter.allow("alice") for _ in range(8)]
        print("alice, first window: ", ["ok" if ok else "429" for ok in first])
        assert first == [True] * LIMIT + [False] * 3
        assert limiter.allow("bob"), "each client has its own budget"

        limiter.advance(WINDOW)
        second = [limiter.allow("alice") for _ in range(2)]
        print("alice, next window:  ", ["ok" if ok else "429" for ok in second])
        assert second == [True, True]
        limiter.advance(WINDOW)
        # The old windows' counters expired on their own.
        print("counters left:", store.status().counters)


if __name__ == "__main__":
    main()

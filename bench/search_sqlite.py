#!/usr/bin/env python3
"""SQLite's side of the search benchmark (core/benches/search.rs): the same 1M rows and the
same three queries, on an in-memory database with one index per label, through Python's
sqlite3. Each query is timed one call at a time (execute + fetchall of the page); the time
of `SELECT 1` through the same path is printed too, so the Python call overhead can be
read off.

Run: python3 bench/search_sqlite.py   (part of `make bench-core`)
"""

import sqlite3
import time

ROWS = 1_000_000
ROUNDS = 2_000


MASK = (1 << 64) - 1


def mix(i):
    """SplitMix64's finalizer, as in core/benches/search.rs."""
    z = (i + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def fill(db):
    db.execute(
        "CREATE TABLE entries (key TEXT PRIMARY KEY, value BLOB, entity TEXT, status TEXT, region TEXT, prio INTEGER)"
        " WITHOUT ROWID"
    )
    rows = (
        (f"job/{i:07}", b"v", "job", f"s{i % 100}", f"r{m % 10}", m // 10 % 1000)
        for i, m in ((i, mix(i)) for i in range(ROWS))
    )
    db.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?)", rows)
    for label in ("entity", "status", "region", "prio"):
        db.execute(f"CREATE INDEX by_{label} ON entries ({label})")
    db.execute("ANALYZE")
    db.commit()


def latency(db, sql, params):
    times = []
    returned = 0
    for round_ in range(ROUNDS):
        args = params(round_)
        start = time.perf_counter_ns()
        returned = len(db.execute(sql, args).fetchall())
        times.append(time.perf_counter_ns() - start)
    times.sort()
    return times[ROUNDS // 2] / 1000, times[ROUNDS * 99 // 100] / 1000, returned


def main():
    db = sqlite3.connect(":memory:")
    start = time.time()
    fill(db)
    print(f"fill: {ROWS} rows with 4 indexes in {time.time() - start:.1f} s (SQLite {sqlite3.sqlite_version})")
    columns = "key, value, entity, status, region, prio"
    queries = [
        (
            "eq, 1% (status = s<n>), first page of 100",
            f"SELECT {columns} FROM entries WHERE entity = 'job' AND status = ? ORDER BY key LIMIT 100",
            lambda r: (f"s{r % 100}",),
        ),
        (
            "and of 10% and 1% (region = r<n> and status = s<m>), first page of 100",
            f"SELECT {columns} FROM entries WHERE entity = 'job' AND region = ? AND status = ? ORDER BY key LIMIT 100",
            lambda r: (f"r{r % 10}", f"s{r % 100}"),
        ),
        (
            "order_by prio desc, limit 100, over 100k matches (region = r<n>)",
            f"SELECT {columns} FROM entries WHERE entity = 'job' AND region = ? ORDER BY prio DESC, key LIMIT 100",
            lambda r: (f"r{r % 10}",),
        ),
        ("SELECT 1 (the call overhead)", "SELECT 1", lambda r: ()),
    ]
    for name, sql, params in queries:
        p50, p99, returned = latency(db, sql, params)
        plan = " / ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params(1)))
        print(f"{name}: p50 {p50:.1f} µs, p99 {p99:.1f} µs ({returned} rows)  [{plan}]")


if __name__ == "__main__":
    main()

"""Search from Python: the builder, Q, iteration over pages, asyncio, label values that
are numbers, and wrong types. The shared vectors (tests/conformance/search.json) pin the
meaning; these pin the Python surface."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

import clustron
import clustron.aio
from clustron import Q


def fresh(prefix: str = "py-search") -> clustron.Store:
    return clustron.open(f"{prefix}-{uuid.uuid4().hex[:8]}")


def fill(store: clustron.Store) -> None:
    for i in range(25):
        store.put(
            f"job/{i:02}",
            f"payload {i}",
            entity="job",
            labels={"status": "pending" if i % 2 else "done", "priority": i % 5, "weight": i / 4},
        )
    store.put("user/1", "ann", entity="user", labels={"status": "pending"})


def test_q_writes_the_expression_language() -> None:
    assert str(Q.eq("status", "pending") & Q.ge("priority", 3)) == '"status" = "pending" and "priority" >= "3"'
    clause = (Q.eq("a", 1) | Q.eq("b", 2.5)) & ~Q.has("c")
    assert str(clause) == '("a" = "1" or "b" = "2.5") and not has "c"'
    assert str(Q.one_of("k", ["x", 'y"z'])) == '"k" in ("x", "y\\"z")'
    assert str(Q.prefix("name", "ab")) == '"name" ^= "ab"'
    assert repr(Q.ne("a", "b")) == "Q('\"a\" != \"b\"')"


def test_builder_pages_iterates_and_counts() -> None:
    store = fresh()
    fill(store)
    pending = store.search("job").where(Q.eq("status", "pending"))
    assert pending.count() == 12
    top = pending.where("priority >= 3").order_by("-priority").limit(4)
    page = top.page()
    assert page.keys == ["job/09", "job/19", "job/03", "job/13"]
    assert [entry.key for entry in page.entries] == page.keys
    assert page.next is not None and page.revision >= 26
    rest = top.after(page.next).page()
    assert rest.keys == ["job/23"] and rest.next is None
    # Iterating reads every page.
    assert [entry.key for entry in top] == page.keys + rest.keys
    assert store.search("job").where("priority = 4.0").keys().keys == ["job/04", "job/09", "job/14", "job/19", "job/24"]
    assert store.search().where(Q.eq("status", "pending")).count() == 13
    weights = [entry.key for entry in store.search("job").where(Q.lt("weight", 1)).order_by("weight")]
    assert weights == ["job/00", "job/01", "job/02", "job/03"]
    # select and explain.
    selected = store.search("job").select("priority").limit(1).page().entries[0]
    assert selected.labels == [("priority", "0", True)]
    plan = store.search("job").where(Q.eq("status", "done")).explain()
    assert plan["index"] == "status" and plan["candidates"] == 13 and "status" in plan["plan"]
    # The builder is immutable: a derived query does not change its source.
    assert pending.count() == 12


def test_bad_queries_and_wrong_types() -> None:
    store = fresh()
    fill(store)
    with pytest.raises(clustron.InvalidInputError, match="column 11"):
        store.search("job").where("priority >").page()
    with pytest.raises(clustron.InvalidInputError, match="another query"):
        cursor = store.search("job").limit(1).page().next
        store.search("job").where("status = done").after(cursor).page()
    with pytest.raises(clustron.InvalidInputError, match="not a search cursor"):
        store.search("job").after("garbage").page()
    with pytest.raises(clustron.InvalidInputError, match="1 to 1000"):
        store.search("job").limit(0).page()
    with pytest.raises(clustron.InvalidInputError, match="must not be empty"):
        store.search("").page()
    with pytest.raises(TypeError, match="str or a Q"):
        store.search("job").where(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not bool"):
        Q.eq("a", True)
    with pytest.raises(clustron.InvalidInputError, match="finite"):
        Q.eq("a", float("nan"))
    with pytest.raises(TypeError, match="entity must be a str"):
        store.search(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="limit must be an int"):
        store.search("job").limit("10")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not bool"):
        store.put("k", "v", labels={"flag": True})
    with pytest.raises(clustron.InvalidInputError, match="finite"):
        store.put("k", "v", labels={"x": float("inf")})
    with pytest.raises(TypeError, match="str, int or float"):
        store.put("k", "v", labels={"x": [1]})
    with pytest.raises(clustron.InvalidInputError, match="output must be"):
        store.search_page("job", output="rows")


def test_label_numbers_are_stored_as_their_text() -> None:
    store = fresh()
    store.put("n", "v", entity="e", labels=[("int", 10**30), ("float", 0.1), ("neg", -3, False)])
    entry = store.get("n")
    assert entry is not None
    assert entry.labels == [("int", "1" + "0" * 30, True), ("float", "0.1", True), ("neg", "-3", False)]
    assert store.search("e").where(Q.gt("int", 10**29)).count() == 1
    assert store.search("e").where(Q.eq("neg", -3.0)).count() == 1


def test_aio_search() -> None:
    """In process, or on the cluster of `make test-bindings-cluster` (CLUSTRON_NODES): there
    every call is a round trip awaited on the loop."""
    nodes = os.environ.get("CLUSTRON_NODES") or "inproc"

    async def main() -> None:
        store = await clustron.aio.open(f"clustron://{nodes}/py-search-aio-{uuid.uuid4().hex[:8]}")
        for i in range(7):
            await store.put(f"k{i}", "v", entity="e", labels={"n": i})
        search = store.search("e").where("n >= 2").order_by("-n").limit(2)
        page = await search.page()
        assert page.keys == ["k6", "k5"]
        assert [entry.key async for entry in search] == ["k6", "k5", "k4", "k3", "k2"]
        assert await search.count() == 5
        assert (await search.keys()).keys == ["k6", "k5"]
        assert (await search.explain())["index"] is not None
        store.close()

    asyncio.run(main())


def test_live_query_sync_and_aio() -> None:
    """A live query from Python: enters, changes and leaves, with Q or an expression; the
    asyncio form on the cluster of `make test-bindings-cluster` too."""
    nodes = os.environ.get("CLUSTRON_NODES") or "inproc"
    store = clustron.open(f"clustron://{nodes}/py-live-{uuid.uuid4().hex[:8]}")
    store.put("job/1", "a", entity="job", labels={"status": "pending"})
    with store.watch.search("job", where=Q.eq("status", "pending"), snapshot=True) as live:
        store.put("job/2", "b", entity="job", labels={"status": "pending"})
        store.put("job/1", "a", entity="job", labels={"status": "done"})
        seen = [(event.query_change, event.key) for event in (live.next(5) for _ in range(3)) if event is not None]
    assert seen == [("enter", "job/1"), ("enter", "job/2"), ("leave", "job/1")]
    with pytest.raises(TypeError, match="str or a Q"):
        store.watch.search("job", where=5)
    with pytest.raises(clustron.InvalidInputError, match="column 9"):
        store.watch.search("job", where="status =")
    key_watch = store.watch.key("k")
    store.put("k", "v")
    event = key_watch.next(5)
    assert event is not None and event.query_change is None
    key_watch.close()
    store.close()

    async def main() -> None:
        store = await clustron.aio.open(f"clustron://{nodes}/py-live-aio-{uuid.uuid4().hex[:8]}")
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        before = ticks
        # Awaited: open once this returns, so the write below is in it.
        live = await store.watch.search(where="has n")
        if nodes != "inproc":
            assert ticks > before, "the loop ran while the opening was a round trip"
        await store.put("x", "1", labels={"n": 1})
        event = await live.next(5)
        assert event is not None and (event.query_change, event.key) == ("enter", "x")
        live.close()
        # Refused by the store: raised by the await (on the cluster after the round trip).
        with pytest.raises(clustron.InvalidInputError, match="column 9"):
            await store.watch.search("job", where="status =")
        # Closed while still opening: it opens, then closes; reading it ends at once.
        closing = store.watch.key("k")
        closing.close()
        assert closing.closed and await closing.next(5) is None
        ticker.cancel()
        store.close()

    asyncio.run(main())

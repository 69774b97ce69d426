"""The Python face of the store: values, options, results, iteration, context managers."""

from __future__ import annotations

import math
import threading
from datetime import timedelta

import pytest

import clustron
from clustron import Compare, Op


def test_open_by_name_connection_string_and_config(store: clustron.Store) -> None:
    with clustron.open("py-open") as a, clustron.open("clustron://inproc/py-open") as b:
        a.put("k", "v")
        assert b.get("k").text == "v"  # one in-process store, two handles
    with clustron.open("py-open-cfg", config={"Mode": "InProc"}) as c:
        assert c.name == "py-open-cfg"
        assert c.status().mode == "inproc"
    with clustron.open("py-open-cfg2", config="clustron://inproc/py-open-cfg2?clock=manual") as d:
        assert d.status().clock == "manual"


def test_put_get_delete_with_results(store: clustron.Store) -> None:
    first = store.put("a", b"\x00\xff")
    assert (first.created, first.changed, first.version) == (True, True, 1)
    second = store.put("a", "text")
    assert second.version == 2 and second.revision == first.revision + 1 and not second.created
    entry = store.get("a")
    assert entry is not None
    assert (entry.key, entry.value, entry.text, entry.version) == ("a", b"text", "text", 2)
    assert entry.content_type == clustron.TEXT
    assert entry.create_revision == first.revision and entry.mod_revision == second.revision
    assert store.get("missing") is None
    deleted = store.delete("a")
    assert deleted.deleted and deleted.revision == second.revision + 1
    assert not store.delete("a").deleted
    assert "Entry(key='a'" in repr(entry) and "PutResult(revision=" in repr(first)


def test_bytes_values_are_not_text(store: clustron.Store) -> None:
    store.put("raw", bytearray(b"\xff\xfe"))
    entry = store.get("raw")
    assert entry is not None and entry.value == b"\xff\xfe" and entry.content_type is None
    with pytest.raises(UnicodeDecodeError):
        _ = entry.text


def test_json_records_its_content_type(store: clustron.Store) -> None:
    store.put_json("cfg", {"replicas": 3, "name": "x"}, ttl=60)
    entry = store.get("cfg")
    assert entry is not None and entry.content_type == "application/json"
    assert entry.json() == {"replicas": 3, "name": "x"}
    assert store.get_json("cfg") == {"replicas": 3, "name": "x"}
    assert store.get_json("absent", default=[]) == []


def test_conditional_puts_and_metadata(store: clustron.Store) -> None:
    assert store.put("k", "1", if_absent=True).changed
    assert not store.put("k", "2", if_absent=True).changed
    assert not store.put("k", "2", if_version=7).changed
    assert store.put("k", "2", if_version=1, entity="order", labels={"region": "eu"}).changed
    entry = store.get("k")
    assert entry is not None and entry.entity == "order" and entry.labels == [("region", "eu", True)]
    store.put("k", "3", labels=[("tier", "gold", False)])
    assert store.get("k").labels == [("tier", "gold", False)]  # type: ignore[union-attr]


def test_ttl_as_float_or_timedelta_on_the_manual_clock(store: clustron.Store) -> None:
    store.put("short", "x", ttl=1.5)
    store.put("long", "x", ttl=timedelta(minutes=1))
    store.put("forever", "x")
    # Whole seconds (their own conversion), at both ends of the range.
    store.put("second", "x", ttl=1)
    store.put("decade", "x", ttl=315_360_000)
    assert store.ttl("second") == 1.0 and store.ttl("decade") == 315_360_000.0
    assert store.ttl("short") == pytest.approx(1.5)
    assert store.ttl("long") == pytest.approx(60.0)
    assert store.ttl("forever") == math.inf
    assert store.ttl("missing") is None
    store.advance_clock(1.5)
    assert store.get("short") is None and store.get("long") is not None
    assert store.expire("forever", 2) and store.ttl("forever") == pytest.approx(2.0)
    assert store.persist("forever") and store.ttl("forever") == math.inf
    assert not store.expire("missing", 1)
    store.advance_clock(timedelta(seconds=60))
    assert store.get("long") is None


def test_bulk_batch_scan_count_clear(store: clustron.Store) -> None:
    results = store.put_many([("a/1", "1"), ("a/2", b"2"), Op.put("a/3", "3", ttl=10), ("", "empty key")])
    assert [type(r).__name__ for r in results] == ["PutResult", "PutResult", "PutResult", "InvalidInputError"]
    assert isinstance(results[3], clustron.InvalidInputError) and results[3].code == "invalid_input"
    assert [e.text if e else None for e in store.get_many(["a/1", "nope", "a/3"])] == ["1", None, "3"]
    batch = store.batch([Op.get("a/1"), Op.put("b", "x"), Op.delete("a/2"), Op.put("", "bad")])
    assert isinstance(batch[0], clustron.Entry) and batch[1].created and batch[2].deleted  # type: ignore[union-attr]
    assert isinstance(batch[3], clustron.InvalidInputError)
    for i in range(25):
        store.put(f"s/{i:02}", str(i))
    assert [e.key for e in store.scan(prefix="s/", page_size=7)] == [f"s/{i:02}" for i in range(25)]
    assert [e.key for e in store.scan(start="s/10", end="s/13")] == ["s/10", "s/11", "s/12"]
    page = store.scan_page(prefix="s/", limit=10)
    assert len(page.entries) == 10 and page.next == "s/09"
    assert store.count(prefix="s/") == 25 and store.count() == 28
    deleted = store.delete_many(["a/1", Op.delete("a/3", if_version=99), "gone"])
    assert [r.deleted for r in deleted] == [True, False, False]  # type: ignore[union-attr]
    cleared = store.clear(prefix="s/")
    assert cleared.deleted == 25 and store.count(prefix="s/") == 0
    with pytest.raises(clustron.InvalidInputError):
        list(store.scan(page_size=0))


def test_leases_and_sessions(store: clustron.Store) -> None:
    lease = store.leases.grant(10)
    store.put("svc/a", "up", lease=lease.id)
    assert store.leases.time_to_live(lease.id).keys == ["svc/a"]  # type: ignore[union-attr]
    assert [info.id for info in store.leases.list()] == [lease.id]
    store.advance_clock(5)
    assert store.leases.keep_alive(lease.id).remaining == pytest.approx(10)
    assert store.leases.revoke(lease.id) and store.get("svc/a") is None
    with pytest.raises(clustron.LeaseNotFoundError) as raised:
        store.leases.keep_alive(lease.id)
    assert raised.value.code == "lease_not_found" and isinstance(raised.value, LookupError)

    with store.session(5) as session:
        store.put("member/me", "x", lease=session.lease)
        store.advance_clock(60)  # the session keeps its lease alive on the manual clock too
        assert not session.lost and store.get("member/me") is not None
        assert session.wait_lost(0) is None
    assert session.lost and store.get("member/me") is None
    reason = session.wait_lost(0)
    assert isinstance(reason, clustron.ClustronError)


def test_locks_fences_guards_and_context_manager(store: clustron.Store) -> None:
    with store.locks.acquire("job", ttl=10) as lock:
        assert lock.name == "job" and lock.guard == ("job", lock.fence)
        assert store.put("job/out", "1", guard=lock).changed
        with pytest.raises(clustron.LockedError):
            store.locks.acquire("job")
        assert store.locks.try_acquire("job") is None
        with pytest.raises(clustron.TimeoutError) as raised:
            store.locks.acquire("job", wait=0)
        assert isinstance(raised.value, TimeoutError)
        info = store.locks.info("job")
        assert info is not None and info.fence == lock.fence
        first_fence = lock.fence
    assert store.locks.info("job") is None
    with pytest.raises(clustron.LockedError):
        store.put("job/out", "stale", guard=("job", first_fence))
    again = store.locks.acquire("job", ttl=timedelta(seconds=5))
    assert again.fence > first_fence
    store.advance_clock(5)
    with pytest.raises(clustron.LockedError):
        again.renew()
    assert not again.release()


def test_queued_acquire_is_granted_on_release(store: clustron.Store) -> None:
    holder = store.locks.acquire("q", ttl=5)
    # The holder's TTL runs out while the waiter waits: the manual clock moves once the
    # waiter is queued.
    result: list[clustron.Lock] = []
    waiter = threading.Thread(target=lambda: result.append(store.locks.acquire("q", ttl=5, wait=30)))
    waiter.start()
    while store.locks.info("q").waiters == 0:  # type: ignore[union-attr]
        pass
    store.advance_clock(5)
    waiter.join(10)
    assert not waiter.is_alive()
    assert result[0].fence > holder.fence


def test_counters(store: clustron.Store) -> None:
    assert store.counters.add("hits").current == 1
    assert store.counters.add("hits", 5).current == 6
    refused = store.counters.add("hits", 10, max=10)
    assert not refused.applied and refused.current == 6
    assert store.counters.get("hits") == 6 and store.counters.get("none") == 0
    assert store.counters.set("hits", 100).previous == 6
    assert not store.counters.compare_and_set("hits", 1, 2).applied
    assert store.counters.compare_and_set("hits", 100, 2).applied
    store.counters.add("window", ttl=1)
    store.advance_clock(1)
    assert store.counters.get("window") == 0
    assert store.counters.delete("hits") and not store.counters.delete("hits")


def test_watch_iterates_and_closes(store: clustron.Store) -> None:
    store.put("cfg/a", "1")
    with store.watch.prefix("cfg/", snapshot=True, prev_value=True) as watch:
        store.put("cfg/a", "2")
        store.delete("cfg/a")
        store.put("other", "x")
        seen = []
        for event in watch:
            seen.append((event.kind, event.key, event.text, event.snapshot, event.cause))
            if len(seen) == 3:
                watch.close()
        assert seen == [
            ("put", "cfg/a", "1", True, None),
            ("put", "cfg/a", "2", False, None),
            ("delete", "cfg/a", "", False, "deleted"),
        ]
        assert watch.closed and list(watch) == []
        assert watch.revision == store.status().revision - 1


def test_watch_next_with_timeout_and_resume(store: clustron.Store) -> None:
    watch = store.watch.key("k")
    assert watch.next(0) is None
    store.put("k", "1", ttl=1)
    event = watch.next(0)
    assert event is not None and event.prev is None and event.entry.version == 1
    store.advance_clock(1)
    expired = watch.next(0)
    assert expired is not None and expired.cause == "expired"
    replay = store.watch.key("k", from_revision=event.revision)
    assert [e.revision for e in (replay.next(0), replay.next(0))] == [event.revision, expired.revision]  # type: ignore[union-attr]


def test_watch_raises_when_the_store_closes() -> None:
    store = clustron.open("py-watch-close")
    watch = store.watch.prefix("")
    store.close()
    with pytest.raises(clustron.ClosedError):
        next(watch)
    assert list(watch) == []  # the error is raised once, then the iteration ends


def test_optimistic_transaction_commits_and_conflicts(store: clustron.Store) -> None:
    store.put("balance", "10")
    with store.transaction() as tx:
        current = tx.get("balance")
        assert current is not None
        tx.put("balance", str(int(current.text) + 5))
    assert store.get("balance").text == "15"  # type: ignore[union-attr]

    with pytest.raises(clustron.ConflictError) as raised:
        with store.transaction() as tx:
            tx.get("balance")
            store.put("balance", "0")  # someone else writes what the transaction read
            tx.put("balance", "99")
    assert raised.value.code == "conflict"
    assert store.get("balance").text == "0"  # type: ignore[union-attr]

    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            tx.put("balance", "lost")
            raise RuntimeError("abort")
    assert tx.finished and store.get("balance").text == "0"  # type: ignore[union-attr]


def test_compare_then_else(store: clustron.Store) -> None:
    created = store.txn(compares=[Compare.absent("leader")], then=[Op.put("leader", "me")], otherwise=[Op.get("leader")])
    assert created.succeeded and isinstance(created.responses[0], clustron.PutResult)
    lost = store.txn([Compare.absent("leader")], [Op.put("leader", "you")], [Op.get("leader")])
    assert not lost.succeeded and lost.responses[0].text == "me"  # type: ignore[union-attr]
    moved = store.txn([Compare.value("leader", "==", "me"), Compare.version("leader", ">", 0)], [Op.delete("leader")])
    assert moved.succeeded and moved.responses[0].deleted  # type: ignore[union-attr]
    with pytest.raises(clustron.InvalidInputError):
        Compare.version("k", "~=", 1)


def test_status_reports_the_store(store: clustron.Store) -> None:
    store.put("a", "1")
    status = store.status()
    assert status.store == store.name and status.keys == 1 and status.mode == "inproc"
    assert status.members == ["inproc"] and status.leader == "inproc" and status.term == 0


def test_parse_config_forms() -> None:
    assert clustron.parse_config("clustron://h1:7000,h2/orders")["seeds"] == ["h1:7000", "h2:7861"]
    parsed = clustron.parse_config({"Mode": "Remote", "Seeds": [{"Host": "h", "Port": 1}], "Store": "s"})
    assert parsed["mode"] == "remote" and parsed["store"] == "s"


def test_exceptions_carry_stable_codes() -> None:
    for number, cls in clustron._errors.BY_NUMBER.items():
        assert cls.number == number and issubclass(cls, clustron.ClustronError)
    assert issubclass(clustron.InvalidInputError, ValueError)
    assert issubclass(clustron.TimeoutError, TimeoutError)

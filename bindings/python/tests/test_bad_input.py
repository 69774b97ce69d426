"""Bad input gets a clear error with a stable code, never a crash or a hang."""

from __future__ import annotations

import pytest

import clustron
from clustron import Op


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.put(1, "v"), TypeError),
        (lambda s: s.put("k", None), TypeError),
        (lambda s: s.put("k", 12), TypeError),
        (lambda s: s.put("k", {"a": 1}), TypeError),
        (lambda s: s.get(None), TypeError),
        (lambda s: s.get(b"bytes-key"), TypeError),
        (lambda s: s.put("k", "v", ttl="10"), TypeError),
        (lambda s: s.put("k", "v", ttl=True), TypeError),
        (lambda s: s.put("k", "v", lease=-1), OverflowError),
        (lambda s: s.put("k", "v", guard="job"), TypeError),
        (lambda s: s.put("k", "v", labels=5), TypeError),
        (lambda s: s.put("k", "v", labels=[("only-name",)]), TypeError),
        (lambda s: s.get_many("abc"), TypeError),
        (lambda s: s.get_many([1, 2]), TypeError),
        (lambda s: s.put_many([1]), TypeError),
        (lambda s: s.put_many([Op.get("k")]), TypeError),
        (lambda s: s.delete_many("k"), TypeError),
        (lambda s: s.batch(["get k"]), TypeError),
        (lambda s: s.txn(compares=["x"]), TypeError),
        (lambda s: s.counters.add("c", "1"), TypeError),
        (lambda s: s.counters.add("c", 2**63), OverflowError),
        (lambda s: s.locks.acquire("job", wait="soon"), TypeError),
    ],
)
def test_wrong_types_raise_type_errors(store: clustron.Store, call: object, error: type) -> None:
    with pytest.raises(error):
        call(store)  # type: ignore[operator]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.put("", "v"),
        lambda s: s.put("k" * 4097, "v"),
        lambda s: s.put("k", b"x" * (16 * 1024 * 1024 + 1)),
        lambda s: s.put("k", "v", ttl=0),
        lambda s: s.put("k", "v", ttl=-1.5),
        lambda s: s.put("k", "v", ttl=float("nan")),
        lambda s: s.put("k", "v", ttl=float("inf")),
        lambda s: s.put("k", "v", ttl=1e12),
        lambda s: s.put("k", "v", ttl=-5),
        lambda s: s.put("k", "v", ttl=10**30),
        # Whole seconds take their own path: just past the 10-year limit, and past i64 ms.
        lambda s: s.put("k", "v", ttl=315_360_001),
        lambda s: s.put("k", "v", ttl=2**62),
        lambda s: s.put("k", "v", content_type="x" * 5000),
        lambda s: s.put("k", "v", labels={f"l{i}": "v" for i in range(100)}),
        lambda s: s.expire("k", 0),
        lambda s: s.count(prefix="a", start="b"),
        lambda s: s.scan_page(limit=10**9),
        lambda s: s.put_many([("k", "v")] * 10_001),
        lambda s: s.locks.acquire("job", wait=-1),
        lambda s: s.locks.acquire("job", ttl=5, lease=1),
        lambda s: s.advance_clock(-1),
        lambda s: s.watch.key("k", snapshot=True, from_revision=1),
        lambda s: clustron.Compare.lease("k", "<=", None),
    ],
)
def test_refused_values_raise_invalid_input(store: clustron.Store, call: object) -> None:
    with pytest.raises(clustron.InvalidInputError) as raised:
        call(store)  # type: ignore[operator]
    assert raised.value.code == "invalid_input" and raised.value.number == 1
    assert isinstance(raised.value, ValueError) and str(raised.value)


def test_lone_surrogates_are_refused_not_crashed(store: clustron.Store) -> None:
    with pytest.raises(UnicodeEncodeError):
        store.put("\ud800", "v")
    with pytest.raises(UnicodeEncodeError):
        store.put("k", "\udfff")
    assert store.count() == 0


@pytest.mark.parametrize(
    ("target", "config"),
    [
        ("", None),
        ("a" * 200, None),
        ("clustron://", None),
        ("clustron://inproc/x?clock=sometimes", None),
        ("x", {"Mode": "Sideways"}),
        ("x", {"Moed": "InProc"}),
        ("x", "not a config"),
        ("x", "{not json"),
        ("x", {"Store": "y"}),
    ],
)
def test_malformed_configuration(target: str, config: object) -> None:
    with pytest.raises(clustron.InvalidInputError):
        clustron.open(target, config)  # type: ignore[arg-type]


def test_config_of_the_wrong_type() -> None:
    with pytest.raises(TypeError):
        clustron.open("x", config=5)  # type: ignore[arg-type]


def test_an_unreachable_cluster_is_unavailable() -> None:
    with pytest.raises(clustron.UnavailableError) as raised:
        clustron.open("clustron://127.0.0.1:1/orders")
    assert isinstance(raised.value, ConnectionError)
    assert "cannot reach the cluster" in str(raised.value)


def test_closed_store_raises_closed(store: clustron.Store) -> None:
    lock = store.locks.acquire("job")
    store.close()
    store.close()  # idempotent
    for call in (
        lambda: store.get("k"),
        lambda: store.put("k", "v"),
        lambda: store.locks.acquire("job"),
        lambda: store.watch.key("k"),
        lambda: store.session(5),
        lambda: lock.renew(),
    ):
        with pytest.raises(clustron.ClosedError):
            call()
    assert store.closed


def test_stale_fences_and_expired_leases(store: clustron.Store) -> None:
    lock = store.locks.acquire("job", ttl=1)
    store.advance_clock(1)
    with pytest.raises(clustron.LockedError):
        store.put("k", "v", guard=lock)
    with pytest.raises(clustron.LockedError):
        store.delete("k", guard=("job", lock.fence))
    lease = store.leases.grant(1)
    store.advance_clock(1)
    with pytest.raises(clustron.LeaseNotFoundError):
        store.put("k", "v", lease=lease.id)
    with pytest.raises(clustron.LeaseNotFoundError):
        store.locks.acquire("other", lease=lease.id)
    assert store.count() == 0


def test_compacted_history(store: clustron.Store) -> None:
    with clustron.open("clustron://inproc/py-compacted?clock=manual&history_events=2") as small:
        for i in range(5):
            small.put("k", str(i))
        with pytest.raises(clustron.CompactedError):
            small.watch.key("k", from_revision=1)

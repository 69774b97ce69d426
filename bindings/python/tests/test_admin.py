"""`clustron.Admin`: stores and members of a cluster. The lifecycle tests need a cluster
(CLUSTRON_NODES, as `make test-bindings-cluster` gives them); the bad-input tests run anywhere,
since nothing they pass reaches the network."""

from __future__ import annotations

import asyncio
import os
from typing import Optional

import pytest

import clustron
import clustron.aio

NODES: Optional[str] = os.environ.get("CLUSTRON_NODES") or None
needs_cluster = pytest.mark.skipif(NODES is None, reason="needs a cluster (CLUSTRON_NODES)")


def admin() -> clustron.Admin:
    return clustron.Admin(f"clustron://{NODES}")


@needs_cluster
def test_a_store_is_created_configured_listed_and_dropped() -> None:
    name = f"py-admin-{os.getpid()}"
    created = admin().create_store(name, replicas=2, max_keys=3)
    assert created["store"] == name
    assert created["replicas"] == 2 and len(created["placement"]) == 2
    assert created["limits"]["max_keys"] == 3 and created["limits"]["max_bytes"] is None
    assert created["health"] in ("healthy", "moving")
    with clustron.open(f"clustron://{NODES}/{name}") as store:
        for n in range(3):
            store.put(f"k{n}", "v")
        with pytest.raises(clustron.QuotaExceededError):
            store.put("k3", "v")
        changed = admin().configure_store(name, max_keys=None, replicas=3)
        assert changed["limits"]["max_keys"] is None and changed["replicas"] == 3
        assert changed["limits"]["max_key_bytes"] == created["limits"]["max_key_bytes"], "the rest is kept"
        store.put("k3", "v")  # configure returns once the store applied the lifted quota
    listed = {store["store"]: store for store in admin().stores()}
    assert listed[name]["keys"] == 4
    assert admin().store(name)["uid"] == created["uid"]
    with pytest.raises(clustron.InvalidInputError, match="exists already"):
        admin().create_store(name)
    admin().drop_store(name)
    with pytest.raises(clustron.NotFoundError):
        admin().store(name)
    with pytest.raises(clustron.NotFoundError):
        admin().drop_store(name)


@needs_cluster
def test_members_are_listed_with_hexadecimal_ids() -> None:
    members = admin().members()
    assert len(members) == len(NODES.split(","))  # type: ignore[union-attr]
    for member in members:
        int(member["id"], 16)
        assert member["addrs"] and member["peer"]


@needs_cluster
def test_bad_stores_and_options_are_refused_by_the_cluster() -> None:
    with pytest.raises(clustron.NotFoundError):
        admin().store("no-such-store")
    with pytest.raises(clustron.NotFoundError):
        admin().configure_store("no-such-store", replicas=2)
    with pytest.raises(clustron.InvalidInputError, match="replicas"):
        admin().create_store(f"py-zero-{os.getpid()}", replicas=0)
    with pytest.raises(clustron.InvalidInputError):
        admin().create_store("")
    with pytest.raises(clustron.InvalidInputError):
        admin().create_store("x" * 300)
    with pytest.raises(clustron.NotFoundError):
        admin().drain_member("abcdef")


def test_wrong_types_and_targets_are_refused_before_anything_is_sent() -> None:
    nowhere = clustron.Admin("clustron://127.0.0.1:9")
    with pytest.raises(TypeError, match="replicas must be an int"):
        nowhere.create_store("s", replicas="3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="max_keys must be an int or None"):
        nowhere.configure_store("s", max_keys=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        nowhere.create_store("s", replicas=True)
    with pytest.raises(TypeError):
        nowhere.drop_store("s", force="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        nowhere.store(42)  # type: ignore[arg-type]
    with pytest.raises(clustron.InvalidInputError, match="node id"):
        nowhere.drain_member("not-hex")
    with pytest.raises(clustron.InvalidInputError, match="connection string"):
        clustron.Admin("orders")
    with pytest.raises(clustron.InvalidInputError, match="in-process"):
        clustron.Admin("clustron://inproc/orders")
    with pytest.raises(clustron.InvalidInputError):
        clustron.Admin("clustron://")


@needs_cluster
def test_the_asyncio_admin_awaits_the_same_calls() -> None:
    async def main() -> None:
        admin = clustron.aio.Admin(f"clustron://{NODES}")
        name = f"py-aio-admin-{os.getpid()}"
        created, members = await asyncio.gather(admin.create_store(name, replicas=1), admin.members())
        assert created["replicas"] == 1 and len(members) == len(NODES.split(","))  # type: ignore[union-attr]
        assert (await admin.configure_store(name, max_keys=5))["limits"]["max_keys"] == 5
        assert name in [store["store"] for store in await admin.stores()]
        await admin.drop_store(name)
        with pytest.raises(clustron.NotFoundError):
            await admin.store(name)

    asyncio.run(main())


def test_the_asyncio_admin_refuses_wrong_types_when_awaited() -> None:
    async def main() -> None:
        admin = clustron.aio.Admin("clustron://127.0.0.1:9")
        with pytest.raises(TypeError):
            await admin.create_store("s", replicas="3")
        with pytest.raises(TypeError):
            await admin.create_store("s", replica=3)
        with pytest.raises(clustron.InvalidInputError):
            await admin.drain_member("not-hex")

    asyncio.run(main())

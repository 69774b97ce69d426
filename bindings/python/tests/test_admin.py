"""`clustron.Admin`: stores and members of a cluster. A store's lifecycle (create, write up
to the quota, configure, list, drop, and the cluster's refusals) is in the shared conformance
vectors (tests/conformance/admin.json, run by test_conformance.py on a cluster); here what is
Python's own: asyncio, argument types, members. The cluster tests need CLUSTRON_NODES, as
`make test-bindings-cluster` gives them; the bad-input tests run anywhere, since nothing they
pass reaches the network."""

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
def test_members_are_listed_with_hexadecimal_ids() -> None:
    members = admin().members()
    assert len(members) == len(NODES.split(","))  # type: ignore[union-attr]
    for member in members:
        int(member["id"], 16)
        assert member["addrs"] and member["peer"]


@needs_cluster
def test_an_empty_name_and_an_unknown_member_are_refused_by_the_cluster() -> None:
    # The rest of the lifecycle and its refusals are the shared vectors (tests/conformance/admin.json).
    with pytest.raises(clustron.InvalidInputError):
        admin().create_store("")
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

"""Access control from Python: users, roles and tokens through `clustron.Admin`, a token in the
connection string, the two error classes, and that a secret never shows. Needs a cluster with
access control on (CLUSTRON_AUTH_NODES and CLUSTRON_ADMIN_TOKEN_FILE, as `make
test-bindings-cluster` gives them); the rest is skipped without one."""

from __future__ import annotations

import os
import pathlib
from datetime import timedelta
from typing import Callable, Optional

import pytest

import clustron

NODES: Optional[str] = os.environ.get("CLUSTRON_AUTH_NODES") or None
ADMIN_TOKEN: Optional[str] = os.environ.get("CLUSTRON_ADMIN_TOKEN_FILE") or None
needs_auth = pytest.mark.skipif(NODES is None or ADMIN_TOKEN is None, reason="needs a cluster with --auth")


def admin() -> clustron.Admin:
    return clustron.Admin(f"clustron://{NODES}?token_file={ADMIN_TOKEN}")


def open_with(secret: str, tmp_path: pathlib.Path, name: str) -> clustron.Store:
    path = tmp_path / f"{name}.token"
    path.write_text(secret + "\n")
    return clustron.open(f"clustron://{NODES}/orders?token_file={path}&call_timeout_ms=5000")


def test_the_error_classes_are_in_the_table() -> None:
    assert clustron.UnauthenticatedError.number == 13 and clustron.UnauthenticatedError.code == "unauthenticated"
    assert clustron.PermissionDeniedError.number == 14
    assert issubclass(clustron.PermissionDeniedError, PermissionError)


def test_a_token_only_applies_to_a_cluster() -> None:
    with pytest.raises(clustron.InvalidInputError, match="only applies to remote"):
        clustron.open("clustron://inproc/x?token=abc")
    with pytest.raises(clustron.InvalidInputError) as raised:
        clustron.open("clustron://h1:1/x?token=clustron1_supersecret&bogus=1")
    assert "supersecret" not in str(raised.value), "a connection string's token is never echoed"


@needs_auth
def test_a_prefix_limited_user_and_a_revoked_token(tmp_path: pathlib.Path) -> None:
    suffix = os.getpid()
    who = admin().whoami()
    assert who["auth"] is True and who["user"] == "admin" and "all@*" in who["grants"]
    role, user = f"py-tenant-{suffix}", f"py-user-{suffix}"
    admin().add_role(role, ["read,write,watch,coordinate@orders:a/"])
    admin().add_user(user, [role])
    assert {"name": user, "roles": [role]} in admin().users()
    assert {"name": role, "grants": ["read,write,coordinate,watch@orders:a/"]} in admin().roles()
    token = admin().create_token(user, ttl=timedelta(hours=1), description="python")
    assert token["user"] == user and token["expires_ms"] > token["created_ms"]
    secret = token["secret"]
    assert secret not in repr(admin().tokens(user))
    with open_with(secret, tmp_path, "tenant") as store:
        store.put("a/1", "v")
        assert store.get("a/1").text == "v"
        with pytest.raises(clustron.PermissionDeniedError, match=r'no write permission on key "b/1"'):
            store.put("b/1", "v")
        with pytest.raises(clustron.PermissionDeniedError) as raised:
            store.get("b/1")
        assert secret[-64:] not in str(raised.value) and secret[-64:] not in repr(store)
        with pytest.raises(clustron.PermissionDeniedError):
            list(store.scan())
        assert [entry.key for entry in store.scan(prefix="a/")] == ["a/1"]
        admin().revoke_token(token["id"])
        with pytest.raises(clustron.UnauthenticatedError, match="unknown or revoked"):
            store.put("a/2", "v")
    with pytest.raises(clustron.UnauthenticatedError):
        clustron.open(f"clustron://{NODES}/orders?call_timeout_ms=5000")
    with pytest.raises(clustron.UnauthenticatedError, match="malformed token"):
        open_with("not-a-token", tmp_path, "bad")
    admin().remove_user(user)
    admin().remove_role(role)


@needs_auth
def test_bad_administration_is_coded() -> None:
    with pytest.raises(clustron.NotFoundError):
        admin().add_user(f"nobody-{os.getpid()}", ["no-such-role"])
    with pytest.raises(clustron.InvalidInputError, match="unknown permission"):
        admin().add_role("bad", ["fly@orders"])
    with pytest.raises(clustron.InvalidInputError):
        admin().add_user(5, [])  # type: ignore[arg-type]
    with pytest.raises(clustron.NotFoundError):
        admin().create_token("no-such-user")
    with pytest.raises(clustron.InvalidInputError, match="16 hex digits"):
        admin().revoke_token("zz")
    without = clustron.Admin(f"clustron://{NODES}")
    with pytest.raises(clustron.UnauthenticatedError):
        without.users()


def _outcome(call: Callable[[], object]) -> Optional[str]:
    try:
        call()
        return None
    except clustron.ClustronError as error:
        return error.code


def _operations(store: clustron.Store) -> "list[tuple[str, Optional[str]]]":
    """Every operation kind, as the Rust matrix (cli/tests/auth.rs) runs them."""
    Op = clustron.Op
    return [
        ("put a/", _outcome(lambda: store.put("a/1", "v"))),
        ("put b/", _outcome(lambda: store.put("b/1", "v"))),
        ("get a/", _outcome(lambda: store.get("a/1"))),
        ("get b/", _outcome(lambda: store.get("b/1"))),
        ("delete b/", _outcome(lambda: store.delete("b/2"))),
        ("scan a/", _outcome(lambda: list(store.scan(prefix="a/")))),
        ("scan all", _outcome(lambda: list(store.scan()))),
        ("count all", _outcome(lambda: store.count())),
        ("clear b/", _outcome(lambda: store.clear(prefix="b/"))),
        ("txn a/", _outcome(lambda: store.txn(then=[Op.put("a/t", "1"), Op.get("a/1")]))),
        ("txn a/+b/", _outcome(lambda: store.txn(then=[Op.put("a/t", "1"), Op.get("b/1")]))),
        ("watch a/", _outcome(lambda: store.watch.prefix("a/").close())),
        ("watch all", _outcome(lambda: store.watch.range().close())),
        ("lock a/", _outcome(lambda: store.locks.acquire("a/lock", ttl=60))),
        ("lock b/", _outcome(lambda: store.locks.acquire("b/lock", ttl=60))),
        ("counter a/", _outcome(lambda: store.counters.add("a/n", 1))),
        ("lease", _outcome(lambda: store.leases.grant(60))),
        ("search", _outcome(lambda: store.search().count())),
        ("status", _outcome(lambda: store.status())),
    ]


DENIED = "permission_denied"
_NAMES = [
    "put a/", "put b/", "get a/", "get b/", "delete b/", "scan a/", "scan all", "count all", "clear b/", "txn a/",
    "txn a/+b/", "watch a/", "watch all", "lock a/", "lock b/", "counter a/", "lease", "search", "status",
]


@needs_auth
def test_the_permission_matrix(tmp_path: pathlib.Path) -> None:
    suffix = os.getpid()
    reader, tenant = f"py-m-reader-{suffix}", f"py-m-tenant-{suffix}"
    admin().add_role(reader, ["read@orders"])
    admin().add_role(tenant, ["read,write,coordinate,watch@orders:a/"])
    admin().add_user(reader, [reader])
    admin().add_user(tenant, [tenant])
    expected_reader: "dict[str, Optional[str]]" = dict.fromkeys(_NAMES, DENIED)
    expected_reader.update({"get a/": None, "get b/": None, "scan a/": None, "scan all": None, "count all": None, "status": None})
    expected_tenant: "dict[str, Optional[str]]" = dict.fromkeys(_NAMES, DENIED)
    expected_tenant.update(
        {name: None for name in ["put a/", "get a/", "scan a/", "txn a/", "watch a/", "lock a/", "counter a/", "lease"]}
    )
    for user, expected in [(reader, expected_reader), (tenant, expected_tenant)]:
        secret = admin().create_token(user)["secret"]
        with open_with(secret, tmp_path, user) as store:
            assert dict(_operations(store)) == expected, user
    with open_with(pathlib.Path(ADMIN_TOKEN or "").read_text().strip(), tmp_path, "admin") as store:
        assert all(outcome is None for _, outcome in _operations(store))
    for user in (reader, tenant):
        admin().remove_user(user)
        admin().remove_role(user)


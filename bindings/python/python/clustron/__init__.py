"""Clustron: a key-value store with coordination primitives (TTL, leases, locks with fencing
tokens, counters, watches, transactions), in-process or distributed, with one API.

    import clustron

    store = clustron.open("orders")
    store.put("order/1", "pending", ttl=30)
    print(store.get("order/1").text)

    with store.locks.acquire("job", ttl=10, wait=5) as lock:
        store.put("job/owner", "me", guard=lock)

    for event in store.watch.prefix("cfg/"):
        ...

``clustron.aio`` has the same API for asyncio. Every error is a :class:`ClustronError` with a
stable ``code``; wrong argument types raise ``TypeError``.
"""

from __future__ import annotations

import json as _json
import os as _os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Union

from . import _native
from ._errors import (
    ClosedError,
    ClustronError,
    CompactedError,
    ConflictError,
    InternalError,
    InvalidInputError,
    LeaseNotFoundError,
    LockedError,
    NoSpaceError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    TimeoutError,
    UnauthenticatedError,
    UnavailableError,
)
from ._native import (
    ClearResult,
    Compare,
    CounterAdd,
    Counters,
    CounterCas,
    CounterSet,
    DeleteResult,
    Entry,
    Event,
    Lease,
    Leases,
    Lock,
    LockInfo,
    Locks,
    Op,
    Page,
    PutResult,
    SearchPage,
    Session,
    Status,
    Transaction,
    TxnResult,
    Watch,
    Watches,
    parse_config,
)

from ._search import AsyncSearch, LabelValue, Q, Search  # noqa: E402

__version__: str = _native.__version__

#: The content type `put_json` records.
JSON = _native.JSON
#: The content type recorded when a ``str`` value is stored.
TEXT = _native.TEXT

#: Seconds as a number, or a timedelta.
Seconds = Union[float, int, timedelta]
#: A configuration: a connection string, a JSON string, or a dict of the JSON form.
ConfigLike = Union[str, "dict[str, Any]"]


@dataclass(frozen=True)
class BackupInfo:
    """What a backup file holds (``Store.backup``, ``restore``, ``inspect_backup``)."""

    #: Where the file is.
    path: str
    #: The store it was taken from.
    store: str
    #: The store's revision when it was taken: every entry as of that revision.
    revision: int
    #: How many entries it holds (counters, leases are not entries).
    entries: int
    #: The file's size in bytes.
    file_bytes: int
    #: When it was taken (the clock of the machine that wrote it), in UTC.
    created_at: datetime
    #: The Clustron version that wrote it.
    clustron_version: str
    #: The store's configuration, which a restore creates the store with.
    replicas: int
    history_events: int
    history_bytes: int
    max_keys: Optional[int]
    max_bytes: Optional[int]

    @classmethod
    def _of(cls, text: str) -> BackupInfo:
        fields = _json.loads(text)
        millis = fields.pop("created_at_ms")
        return cls(created_at=datetime.fromtimestamp(millis / 1000, tz=timezone.utc), **fields)


class Store(_native.Store):
    """An open store (see ``clustron.open``). Use it as a context manager to close it."""

    def __enter__(self) -> Store:
        return self

    def backup(self, path: Union[str, "_os.PathLike[str]"]) -> BackupInfo:
        """Writes a backup of the store to ``path``: every entry as of one revision (values,
        versions, revisions, TTLs, leases, content types, entities, labels), the leases and
        counters, and the store's configuration, in a checksummed file. Writers go on
        meanwhile; the file appears under ``path`` once complete and synced (an existing file
        is replaced). On a cluster the store's leader takes it and it is fetched in parts.
        ``restore`` makes a store from it. Blocks without holding the GIL."""
        return BackupInfo._of(self._backup(_os.fspath(path)))

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def scan(
        self,
        *,
        prefix: Optional[str] = None,
        start: Optional[str] = None,
        end: Optional[str] = None,
        after: Optional[str] = None,
        page_size: int = 1000,
    ) -> Iterator[Entry]:
        """Every entry of a range (``prefix=``, or ``start=``/``end=``; none: every key), in
        key order, fetched ``page_size`` at a time. Each page is read at its own revision:
        keys written behind the cursor during the scan are not seen again.

        Args:
            prefix: every key starting with this str (not with ``start``/``end``).
            start: the first key of the range (inclusive; None: from the first key).
            end: the key the range stops before (exclusive; None: to the last key).
            after: start after this key (resumes an earlier scan).
            page_size: how many entries each round trip fetches (at least 1).
        """
        if page_size < 1:
            raise InvalidInputError(f"page_size must be at least 1, got {page_size}")
        while True:
            page = self.scan_page(prefix=prefix, start=start, end=end, limit=page_size, after=after)
            yield from page.entries
            if page.next is None:
                return
            after = page.next

    def search(self, entity: Optional[str] = None) -> Search:
        """A search of the tagged entries of ``entity`` (None: every entity). Build it with
        ``where`` (a ``Q`` or an expression), ``order_by``, ``limit``, ``after``, ``select``;
        run it with ``page()``, ``count()``, ``keys()``, ``explain()``, or iterate it for
        every match, a page at a time.

        Args:
            entity: the entity searched (None: every entity).
        """
        return Search(self, entity)

    def put_json(self, key: str, value: Any, **options: Any) -> PutResult:
        """Stores ``value`` as JSON (compact, UTF-8) with the content type
        ``application/json``. Takes the keyword options of ``put``."""
        options.setdefault("content_type", JSON)
        return self.put(key, _json.dumps(value, separators=(",", ":")), **options)

    def get_json(self, key: str, default: Any = None) -> Any:
        """The value at ``key`` parsed as JSON, or ``default`` when the key is missing.

        Args:
            key: the key read.
            default: what is returned when the key is missing (None unless given).
        """
        entry = self.get(key)
        return default if entry is None else entry.json()


_KEEP: Any = object()
_SIZES = ("replicas", "history_events", "history_bytes", "max_key_bytes", "max_value_bytes")
_QUOTAS = ("max_keys", "max_bytes")


def _object(text: str) -> "dict[str, Any]":
    parsed: "dict[str, Any]" = _json.loads(text)
    return parsed


def _store_options(given: "dict[str, Any]") -> str:
    """The JSON form of a store's options: only those given; a quota given as None is removed."""
    options: "dict[str, Any]" = {}
    for name, value in given.items():
        if value is _KEEP or (value is None and name in _SIZES):
            continue
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise TypeError(f"{name} must be an int{' or None' if name in _QUOTAS else ''}, not {type(value).__name__}")
        options[name] = value
    return _json.dumps(options)


class Admin(_native.Admin):
    """Operates a cluster: its stores (create, configure, list, drop), its members (add,
    drain, remove, revoke) and its access control (users, roles, tokens), as ``clustron
    store``, ``clustron members``, ``clustron user``, ``role`` and ``token`` do. On a cluster
    with access control on, give an admin token in the connection string
    (``?token_file=PATH``).

        admin = clustron.Admin("clustron://127.0.0.1:7861,127.0.0.1:7862")
        admin.create_store("orders", replicas=3, max_keys=1_000_000)
        for store in admin.stores():
            print(store["store"], store["health"], store["members"])

    Stores and nodes are dicts with the fields of ``clustron store list --json`` and
    ``clustron members list --json`` (node ids are hexadecimal strings). Errors are
    :class:`ClustronError` subclasses: ``NotFoundError`` for an unknown store,
    ``InvalidInputError`` for a bad name or option or a store that exists already.
    """

    def stores(self) -> "list[dict[str, Any]]":
        """Every store: its configuration, where it is wanted, its members, leader, health,
        keys and bytes."""
        return [_object(line) for line in self._stores()]

    def store(self, name: str) -> "dict[str, Any]":
        """One store (``NotFoundError`` when the cluster has none of that name)."""
        return _object(self._store(name))

    def create_store(
        self,
        name: str,
        *,
        replicas: Optional[int] = None,
        max_keys: Optional[int] = None,
        max_bytes: Optional[int] = None,
        max_key_bytes: Optional[int] = None,
        max_value_bytes: Optional[int] = None,
        history_events: Optional[int] = None,
        history_bytes: Optional[int] = None,
    ) -> "dict[str, Any]":
        """Creates a store on ``replicas`` nodes (default 3, capped at the nodes there are);
        it serves once this returns. ``max_keys``/``max_bytes`` set a quota (writes past it
        fail with ``QuotaExceededError``), ``max_key_bytes``/``max_value_bytes`` the largest
        key and value, ``history_events``/``history_bytes`` the history kept for watches.
        Returns the store as ``store(name)`` shows it.

        Args:
            name: the store's name: 1 to 128 ASCII letters, digits, ``-``, ``_`` or ``.``,
                starting with a letter or digit (case-insensitive).
            replicas: how many nodes hold a replica (default 3, capped at the nodes there
                are); each write is made durable on a majority of them.
            max_keys: the most keys the store may hold (None: no limit).
            max_bytes: the most bytes of keys and values the store may hold (None: no limit).
            max_key_bytes: the largest key accepted (None: the default, 4 KiB).
            max_value_bytes: the largest value accepted (None: the default, 16 MiB).
            history_events: how many past changes are kept for watches that resume from a
                revision (None: the default, 100,000).
            history_bytes: the most bytes of past changes kept (None: the default, 64 MiB).
        """
        options = _store_options(dict(
            replicas=replicas, max_keys=max_keys if max_keys is not None else _KEEP,
            max_bytes=max_bytes if max_bytes is not None else _KEEP, max_key_bytes=max_key_bytes,
            max_value_bytes=max_value_bytes, history_events=history_events, history_bytes=history_bytes))
        return _object(self._create_store(name, options))

    def configure_store(
        self,
        name: str,
        *,
        replicas: Optional[int] = None,
        max_keys: Optional[int] = _KEEP,
        max_bytes: Optional[int] = _KEEP,
        max_key_bytes: Optional[int] = None,
        max_value_bytes: Optional[int] = None,
        history_events: Optional[int] = None,
        history_bytes: Optional[int] = None,
    ) -> "dict[str, Any]":
        """Changes what is given of a store's configuration and keeps the rest; a quota given
        as ``None`` is removed. More replicas are placed at once (the leader moves its group).
        Returns once the store applied the change: a write sent after it meets the new
        limits (``ClustronError`` with code ``unavailable`` if the store has no leader for
        15 s; the catalogue keeps the change and the store's next leader applies it).
        Returns the store as ``store(name)`` shows it.

        Args:
            name: the store's name.
            replicas: the new number of replicas (None: unchanged).
            max_keys: the new key quota (None: removed; not given: unchanged).
            max_bytes: the new byte quota (None: removed; not given: unchanged).
            max_key_bytes: the largest key accepted from now on (None: unchanged).
            max_value_bytes: the largest value accepted from now on (None: unchanged).
            history_events: how many past changes are kept for watches (None: unchanged).
            history_bytes: the most bytes of past changes kept (None: unchanged).
        """
        options = _store_options(dict(
            replicas=replicas, max_keys=max_keys, max_bytes=max_bytes, max_key_bytes=max_key_bytes,
            max_value_bytes=max_value_bytes, history_events=history_events, history_bytes=history_bytes))
        return _object(self._configure_store(name, options))

    def drop_store(self, name: str, *, force: bool = False) -> None:
        """Drops a store: every replica's data is removed and clients then get
        ``NotFoundError``. A store with live leases or held locks is refused unless
        ``force=True``.

        Args:
            name: the store dropped.
            force: drop it even with live leases or held locks (their holders get
                ``NotFoundError``).
        """
        if not isinstance(force, bool):
            raise TypeError(f"force must be a bool, not {type(force).__name__}")
        self._drop_store(name, force)

    def members(self) -> "list[dict[str, Any]]":
        """The nodes of the cluster: ``{"id", "addrs", "peer"}``."""
        return [_object(line) for line in self._members()]

    def add_member(self, address: str) -> "dict[str, Any]":
        """Adds the node listening at ``address`` (``host:port``); a node started with
        ``--seed`` joins by itself."""
        return _object(self._add_member(address))

    def drain_member(self, node_id: str) -> None:
        """Moves every replica off a node (its id as ``members()`` gives it); it takes no
        new ones. ``stores()`` shows the moves."""
        self._drain_member(node_id)

    def remove_member(self, node_id: str) -> None:
        """Drains a node, waits until no store's group counts it, and removes it."""
        self._remove_member(node_id)

    def revoke_member(self, node_id: str) -> None:
        """Shuts a node out for good: removed at once, and its identity refused by every node,
        so it cannot rejoin (the others keep their keys). Its replicas are re-created elsewhere."""
        self._call_access("revoke_member", id=node_id)

    # Access control (a cluster started with ``clustron node --auth``). Grants are written
    # ``PERMISSIONS@STORE[:PREFIX|:[START,END)]``, e.g. ``"read,watch@orders:tenant-a/"``.

    def _call_access(self, op: str, **fields: Any) -> Any:
        return _json.loads(self._access(_json.dumps(dict(op=op, **fields))))

    def whoami(self) -> "dict[str, Any]":
        """Who the cluster takes this handle's token for: ``auth`` (whether the cluster checks
        tokens), ``user``, ``token`` (its id) and ``grants``."""
        identity: "dict[str, Any]" = self._call_access("whoami")
        return identity

    def users(self) -> "list[dict[str, Any]]":
        """Every user: ``name`` and ``roles``."""
        users: "list[dict[str, Any]]" = self._call_access("users")
        return users

    def add_user(self, name: str, roles: "Sequence[str]" = ()) -> None:
        """Adds a user holding ``roles`` (each must exist: ``NotFoundError`` otherwise).

        Args:
            name: the user's name: 1 to 128 ASCII letters, digits, ``-``, ``_`` or ``.``.
            roles: the names of the roles it holds (none: it may do nothing yet).
        """
        self._call_access("add_user", name=name, roles=list(roles))

    def set_user_roles(self, name: str, roles: "Sequence[str]") -> None:
        """Replaces the roles a user holds."""
        self._call_access("set_user_roles", name=name, roles=list(roles))

    def remove_user(self, name: str) -> None:
        """Removes a user and revokes its tokens."""
        self._call_access("remove_user", name=name)

    def roles(self) -> "list[dict[str, Any]]":
        """Every role: ``name`` and ``grants`` (as grant texts)."""
        roles: "list[dict[str, Any]]" = self._call_access("roles")
        return roles

    def add_role(self, name: str, grants: "Sequence[str]") -> None:
        """Adds a role with grants such as ``"read,write@orders:tenant-a/"`` or ``"all@*"``."""
        self._call_access("add_role", name=name, grants=list(grants))

    def grant(self, role: str, grants: "Sequence[str]") -> None:
        """Adds grants to a role."""
        self._call_access("grant", role=role, grants=list(grants))

    def revoke(self, role: str, grants: "Sequence[str]") -> None:
        """Takes grants from a role (as ``roles()`` shows them); watches that relied on them end
        with ``PermissionDeniedError``."""
        self._call_access("revoke", role=role, grants=list(grants))

    def remove_role(self, name: str) -> None:
        """Removes a role; the users holding it lose it."""
        self._call_access("remove_role", name=name)

    def tokens(self, user: Optional[str] = None) -> "list[dict[str, Any]]":
        """Tokens (of one user, or all): ``id``, ``user``, ``created_ms``, ``expires_ms``,
        ``description``; never their secrets.

        Args:
            user: only this user's tokens (None: every token).
        """
        tokens: "list[dict[str, Any]]" = self._call_access("tokens", user=user)
        return tokens

    def create_token(
        self, user: str, *, ttl: Optional[Union[float, timedelta]] = None, description: str = ""
    ) -> "dict[str, Any]":
        """Creates a token of ``user``, valid for ``ttl`` seconds (None: until revoked). The
        answer's ``secret`` is the only copy: the cluster keeps a hash of it. Give it to a
        client as ``token_file=PATH`` in its connection string.

        Args:
            user: the user the token acts as (``NotFoundError`` if there is none).
            ttl: how long the token works, in seconds or as a ``timedelta`` (None: until
                revoked).
            description: what the token is for (shown by ``tokens()``; at most 1 KiB).
        """
        seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else ttl
        ttl_ms = None if seconds is None else max(1, int(seconds * 1000))
        token: "dict[str, Any]" = self._call_access("create_token", user=user, ttl_ms=ttl_ms, description=description)
        return token

    def revoke_token(self, token_id: str) -> None:
        """Revokes a token (its ``id``): every node refuses it when this returns; its watches
        and lock waits end with ``UnauthenticatedError``."""
        self._call_access("revoke_token", id=token_id)


def restore(path: Union[str, "_os.PathLike[str]"], target: str, *, replace: bool = False) -> Store:
    """Creates the store ``target`` names (an in-process store name, or a connection string
    ``"clustron://h1:7861,h2:7861/orders"``) from the backup at ``path`` and opens it: the same
    entries with the same values, versions and revisions, the same leases, counters and
    revision, and the backup's configuration (a cluster's store is created with it).

    The whole file is checked first: a damaged, truncated or foreign file raises
    ``InvalidInputError`` with nothing created; a missing one ``NotFoundError``. Only a store
    that was never written is restored into; one that holds data raises ``ConflictError``.
    An in-process store lives while a handle on it does: keep the returned store open.

    Args:
        path: the backup file.
        target: the store to create: an in-process name or a connection string.
        replace: if the cluster has a store of that name, drop it (its leases end, its locks
            are released, clients get ``NotFoundError`` meanwhile) once the file is checked,
            and make it anew from the backup. An in-process store open with data cannot be
            replaced (``ConflictError``): it ends with its last handle.
    """
    if not isinstance(replace, bool):
        raise TypeError(f"replace must be a bool, not {type(replace).__name__}")
    return Store(target, _restore_from=_os.fspath(path), _replace=replace)


def inspect_backup(path: Union[str, "_os.PathLike[str]"]) -> BackupInfo:
    """Reads and checks a whole backup file without restoring it: what it holds, or
    ``InvalidInputError`` saying why it cannot be used (damaged, truncated, a newer format)."""
    return BackupInfo._of(_native.inspect_backup(_os.fspath(path)))


def open(target: str, config: Optional[ConfigLike] = None) -> Store:  # noqa: A001 - the product's verb
    """Opens a store.

    ``target`` is a store name (an in-process store, created on first open and shared by every
    handle in this process), a connection string (``"clustron://inproc/orders"``,
    ``"clustron://h1:7861,h2:7861/orders"``) or the JSON form. With ``config`` (a connection
    string, JSON string or dict such as ``{"Mode": "InProc"}``), ``target`` is the store name.

    Args:
        target: a store name, a connection string or the JSON form, as above.
        config: how to open it when ``target`` is a bare name: a connection string, a JSON
            string or a dict (``Mode``, ``Nodes``, ``ClusterKey``, limits...); None: in process.
    """
    return Store(target, config)


__all__ = [
    "JSON",
    "TEXT",
    "Admin",
    "BackupInfo",
    "ClearResult",
    "ClosedError",
    "ClustronError",
    "CompactedError",
    "Compare",
    "ConfigLike",
    "ConflictError",
    "CounterAdd",
    "CounterCas",
    "CounterSet",
    "Counters",
    "DeleteResult",
    "Entry",
    "Event",
    "InternalError",
    "InvalidInputError",
    "LabelValue",
    "Lease",
    "LeaseNotFoundError",
    "Leases",
    "Lock",
    "LockInfo",
    "LockedError",
    "Locks",
    "NoSpaceError",
    "NotFoundError",
    "AsyncSearch",
    "Op",
    "Page",
    "PutResult",
    "Q",
    "PermissionDeniedError",
    "QuotaExceededError",
    "Search",
    "SearchPage",
    "Seconds",
    "Session",
    "Status",
    "Store",
    "TimeoutError",
    "UnauthenticatedError",
    "Transaction",
    "TxnResult",
    "UnavailableError",
    "Watch",
    "Watches",
    "inspect_backup",
    "open",
    "parse_config",
    "restore",
]

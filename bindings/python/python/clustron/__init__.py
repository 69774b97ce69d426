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
from collections.abc import Iterator
from datetime import timedelta
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
    QuotaExceededError,
    TimeoutError,
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
    Session,
    Status,
    Transaction,
    TxnResult,
    Watch,
    Watches,
    parse_config,
)

__version__: str = _native.__version__

#: The content type `put_json` records.
JSON = _native.JSON
#: The content type recorded when a ``str`` value is stored.
TEXT = _native.TEXT

#: Seconds as a number, or a timedelta.
Seconds = Union[float, int, timedelta]
#: A configuration: a connection string, a JSON string, or a dict of the JSON form.
ConfigLike = Union[str, "dict[str, Any]"]


class Store(_native.Store):
    """An open store (see ``clustron.open``). Use it as a context manager to close it."""

    def __enter__(self) -> Store:
        return self

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
        keys written behind the cursor during the scan are not seen again."""
        if page_size < 1:
            raise InvalidInputError(f"page_size must be at least 1, got {page_size}")
        while True:
            page = self.scan_page(prefix=prefix, start=start, end=end, limit=page_size, after=after)
            yield from page.entries
            if page.next is None:
                return
            after = page.next

    def put_json(self, key: str, value: Any, **options: Any) -> PutResult:
        """Stores ``value`` as JSON (compact, UTF-8) with the content type
        ``application/json``. Takes the keyword options of ``put``."""
        options.setdefault("content_type", JSON)
        return self.put(key, _json.dumps(value, separators=(",", ":")), **options)

    def get_json(self, key: str, default: Any = None) -> Any:
        """The value at ``key`` parsed as JSON, or ``default`` when the key is missing."""
        entry = self.get(key)
        return default if entry is None else entry.json()


def open(target: str, config: Optional[ConfigLike] = None) -> Store:  # noqa: A001 - the product's verb
    """Opens a store.

    ``target`` is a store name (an in-process store, created on first open and shared by every
    handle in this process), a connection string (``"clustron://inproc/orders"``,
    ``"clustron://h1:7861,h2:7861/orders"``) or the JSON form. With ``config`` (a connection
    string, JSON string or dict such as ``{"Mode": "InProc"}``), ``target`` is the store name.
    """
    return Store(target, config)


__all__ = [
    "JSON",
    "TEXT",
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
    "Lease",
    "LeaseNotFoundError",
    "Leases",
    "Lock",
    "LockInfo",
    "LockedError",
    "Locks",
    "NoSpaceError",
    "NotFoundError",
    "Op",
    "Page",
    "PutResult",
    "QuotaExceededError",
    "Seconds",
    "Session",
    "Status",
    "Store",
    "TimeoutError",
    "Transaction",
    "TxnResult",
    "UnavailableError",
    "Watch",
    "Watches",
    "open",
    "parse_config",
]

"""Search from Python: ``Q`` builds clauses, ``Search`` builds a query and runs it.

    from clustron import Q

    jobs = store.search("job").where(Q.eq("status", "pending") & Q.ge("priority", 3))
    for entry in jobs.order_by("-priority").limit(20):
        ...
    store.search("job").where("status = pending and priority >= 3").count()

A clause is also accepted as text in the expression language (docs/SEARCH.md); ``Q``
writes that text, so both forms mean exactly the same thing, on every surface.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union

if TYPE_CHECKING:
    from . import Store
    from ._native import Entry, SearchPage

#: A label value: text, or a number (compared by value).
LabelValue = Union[str, int, float]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(value: LabelValue) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(f"a label value must be a str, int or float, not {type(value).__name__}")
    if isinstance(value, float):
        if not math.isfinite(value):
            from ._errors import InvalidInputError

            raise InvalidInputError(f"a label value must be a finite number, not {value}")
        return _quote(repr(value))
    return _quote(str(value))


def _label(label: str) -> str:
    if not isinstance(label, str):
        raise TypeError(f"a label name must be a str, not {type(label).__name__}")
    return _quote(label)


class Q:
    """A search clause. Combine with ``&`` (and), ``|`` (or) and ``~`` (not)."""

    __slots__ = ("_text", "_kind")

    def __init__(self, text: str, kind: str = "leaf") -> None:
        self._text = text
        self._kind = kind

    @staticmethod
    def eq(label: str, value: LabelValue) -> Q:
        """The label equals ``value`` (numbers by value: 3 equals 3.0)."""
        return Q(f"{_label(label)} = {_value(value)}")

    @staticmethod
    def ne(label: str, value: LabelValue) -> Q:
        """Not ``eq`` (an entry without the label matches)."""
        return Q(f"{_label(label)} != {_value(value)}")

    @staticmethod
    def lt(label: str, value: LabelValue) -> Q:
        """Entries whose ``label`` is below ``value`` (``label < value``; values of different
        types compare in one total order: numbers by value, every number before every text)."""
        return Q(f"{_label(label)} < {_value(value)}")

    @staticmethod
    def le(label: str, value: LabelValue) -> Q:
        """Entries whose ``label`` is at most ``value`` (``label <= value``; values of different
        types compare in one total order: numbers by value, every number before every text)."""
        return Q(f"{_label(label)} <= {_value(value)}")

    @staticmethod
    def gt(label: str, value: LabelValue) -> Q:
        """Entries whose ``label`` is above ``value`` (``label > value``; values of different
        types compare in one total order: numbers by value, every number before every text)."""
        return Q(f"{_label(label)} > {_value(value)}")

    @staticmethod
    def ge(label: str, value: LabelValue) -> Q:
        """Entries whose ``label`` is at least ``value`` (``label >= value``; values of different
        types compare in one total order: numbers by value, every number before every text)."""
        return Q(f"{_label(label)} >= {_value(value)}")

    @staticmethod
    def prefix(label: str, prefix: str) -> Q:
        """The label's value is text starting with ``prefix``."""
        if not isinstance(prefix, str):
            raise TypeError(f"a prefix must be a str, not {type(prefix).__name__}")
        return Q(f"{_label(label)} ^= {_quote(prefix)}")

    @staticmethod
    def one_of(label: str, values: Iterable[LabelValue]) -> Q:
        """The label's value is one of ``values``."""
        if isinstance(values, (str, bytes)):
            raise TypeError("one_of takes an iterable of values, not a single str")
        listed = ", ".join(_value(value) for value in values)
        return Q(f"{_label(label)} in ({listed})")

    @staticmethod
    def has(label: str) -> Q:
        """The entry carries the label."""
        return Q(f"has {_label(label)}")

    def _part(self, kind: str) -> str:
        return self._text if self._kind in ("leaf", "not", kind) else f"({self._text})"

    def __and__(self, other: Q) -> Q:
        if not isinstance(other, Q):
            return NotImplemented
        return Q(f"{self._part('and')} and {other._part('and')}", "and")

    def __or__(self, other: Q) -> Q:
        if not isinstance(other, Q):
            return NotImplemented
        return Q(f"{self._part('or')} or {other._part('or')}", "or")

    def __invert__(self) -> Q:
        return Q(f"not {self._part('not')}", "not")

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Q({self._text!r})"


def _clause(clause: Union[str, Q]) -> str:
    if isinstance(clause, Q):
        return str(clause)
    if isinstance(clause, str):
        return clause
    raise TypeError(f"a clause must be a str or a Q, not {type(clause).__name__}")


_Self = TypeVar("_Self", bound="_Query")


class _Query:
    """What a search asks for; each builder method returns a new query."""

    def __init__(self, store: Any, entity: Optional[str]) -> None:
        if entity is not None and not isinstance(entity, str):
            raise TypeError(f"entity must be a str or None, not {type(entity).__name__}")
        self._store = store
        self._entity = entity
        self._where: list[str] = []
        self._order: list[str] = []
        self._limit: Optional[int] = None
        self._after: Optional[str] = None
        self._select: Optional[list[str]] = None
        self._local = False

    def _copy(self: _Self, **changes: Any) -> _Self:
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other._where = list(self._where)
        other._order = list(self._order)
        for name, value in changes.items():
            setattr(other, name, value)
        return other

    def where(self: _Self, clause: Union[str, Q]) -> _Self:
        """Only entries matching ``clause`` (and-ed with earlier ones): a ``Q`` or the text of
        the expression language."""
        return self._copy(_where=self._where + [_clause(clause)])

    def order_by(self: _Self, *labels: str) -> _Self:
        """Order by these labels (``"-label"``: descending); ties go to the key. Entries
        without a label come after those with it."""
        for label in labels:
            if not isinstance(label, str):
                raise TypeError(f"an order_by label must be a str, not {type(label).__name__}")
        return self._copy(_order=self._order + list(labels))

    def limit(self: _Self, limit: int) -> _Self:
        """Page size (1 to 1000; default 100). Iterating reads every page."""
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError(f"limit must be an int, not {type(limit).__name__}")
        return self._copy(_limit=limit)

    def after(self: _Self, cursor: Optional[str]) -> _Self:
        """Start after a previous page's ``next``."""
        if cursor is not None and not isinstance(cursor, str):
            raise TypeError(f"a cursor must be a str, not {type(cursor).__name__}")
        return self._copy(_after=cursor)

    def select(self: _Self, *labels: str) -> _Self:
        """Return only these labels of each entry."""
        return self._copy(_select=list(labels))

    def local(self: _Self) -> _Self:
        """A serializable read from the node reached (see ``get(local=True)``)."""
        return self._copy(_local=True)

    def _call(self, output: str, after: Optional[str] = None) -> Any:
        where = " and ".join(f"({clause})" for clause in self._where) if len(self._where) > 1 else None
        if len(self._where) == 1:
            where = self._where[0]
        return self._store.search_page(
            self._entity,
            where=where,
            order_by=self._order or None,
            limit=self._limit,
            after=after if after is not None else self._after,
            select=self._select,
            output=output,
            local=self._local,
        )


class Search(_Query):
    """A search on a store (``Store.search``). Iterate it for every match, page by page."""

    def page(self) -> SearchPage:
        """One page: ``entries``, ``keys``, ``next`` (the cursor, or None) and ``revision``."""
        page: SearchPage = self._call("entries")
        return page

    def keys(self) -> SearchPage:
        """One page of keys only (``entries`` is empty)."""
        page: SearchPage = self._call("keys")
        return page

    def count(self) -> int:
        """How many entries match (limit and cursor do not apply)."""
        count: int = self._call("count")
        return count

    def explain(self) -> dict[str, Any]:
        """How the search would run: ``plan``, ``index`` (or None) and ``candidates``."""
        plan: dict[str, Any] = self._call("explain")
        return plan

    def __iter__(self) -> Iterator[Entry]:
        after = self._after
        while True:
            page = self._call("entries", after)
            yield from page.entries
            if page.next is None:
                return
            after = page.next


class AsyncSearch(_Query):
    """``Search`` for ``clustron.aio``: await ``page()``, ``count()``...; ``async for`` every match."""

    async def page(self) -> SearchPage:
        """One page: ``entries``, ``keys``, ``next`` (the cursor, or None) and ``revision``."""
        from .aio import _done

        page: SearchPage = await _done(self._call("entries"))
        return page

    async def keys(self) -> SearchPage:
        """One page of keys only (``entries`` is empty)."""
        from .aio import _done

        page: SearchPage = await _done(self._call("keys"))
        return page

    async def count(self) -> int:
        """How many entries match (limit and cursor do not apply)."""
        from .aio import _done

        count: int = await _done(self._call("count"))
        return count

    async def explain(self) -> dict[str, Any]:
        """How the search would run: ``plan``, ``index`` (or None) and ``candidates``."""
        from .aio import _done

        plan: dict[str, Any] = await _done(self._call("explain"))
        return plan

    async def __aiter__(self) -> AsyncIterator[Entry]:
        from .aio import _done

        after = self._after
        while True:
            page = await _done(self._call("entries", after))
            for entry in page.entries:
                yield entry
            if page.next is None:
                return
            after = page.next

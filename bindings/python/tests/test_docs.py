"""Every public callable says what it does, and every option it takes (a parameter with a default
or a keyword-only one) has an entry `name: meaning` in its docstring, so that ``help()`` and IDEs
explain it. The stub (_native.pyi) carries the same docstrings as the module (tools/stubdoc.py)."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import clustron
import clustron.aio

MODULES = [clustron, clustron.aio]


def _public(obj: Any) -> Iterator[tuple[str, Any]]:
    for name in sorted(dir(obj)):
        if name.startswith("_") and name not in ("__init__",):
            continue
        yield name, getattr(obj, name)


def _callables() -> Iterator[tuple[str, Any]]:
    seen: set[int] = set()
    for module in MODULES:
        for name, value in _public(module):
            where = f"{module.__name__}.{name}"
            if not getattr(value, "__module__", "").startswith("clustron"):
                continue
            if inspect.isclass(value):
                if issubclass(value, BaseException) or id(value) in seen:
                    continue
                seen.add(id(value))
                for attr in sorted(dir(value)):
                    if attr.startswith("_") or hasattr(object, attr):
                        continue
                    member = inspect.getattr_static(value, attr)
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    if callable(member) and not inspect.isclass(member):
                        yield f"{where}.{attr}", member
            elif callable(value):
                yield where, value


def _options(func: Any) -> list[str]:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in signature.parameters.values()
        if not p.name.startswith("_")
        and p.name not in ("self", "cls")
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and (p.kind == p.KEYWORD_ONLY or p.default is not p.empty)
    ]


def test_every_public_callable_has_a_docstring() -> None:
    missing = [where for where, func in _callables() if not (func.__doc__ or "").strip()]
    assert not missing, f"no docstring: {missing}"


def test_every_option_is_explained() -> None:
    missing = []
    for where, func in _callables():
        doc = func.__doc__ or ""
        for option in _options(func):
            if not re.search(rf"^\s+{re.escape(option)}: \S", doc, re.MULTILINE):
                missing.append(f"{where}({option}=)")
    assert not missing, "options without an `name: meaning` line:\n" + "\n".join(missing)


def test_help_of_put_explains_every_keyword() -> None:
    text = inspect.getdoc(clustron.Store.put) or ""
    for option in ("ttl", "lease", "if_absent", "if_version", "guard", "content_type", "entity", "labels"):
        assert re.search(rf"^\s+{option}: \S", text, re.MULTILINE), option


def test_the_stub_carries_the_module_docstrings() -> None:
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, str(root / "tools" / "stubdoc.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr

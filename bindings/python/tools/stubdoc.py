#!/usr/bin/env python3
"""Copies the native module's docstrings into its stub, python/clustron/_native.pyi, so IDEs
show the same text as ``help()``. The Rust doc comments of the bindings are the one source;
the stub's signatures stay hand-written (mypy's stubtest checks them against the module).

    tools/stubdoc.py           rewrite the stub
    tools/stubdoc.py --check   exit 1 when the stub's docstrings differ from the module's
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path
from typing import Any, Optional, Union

from clustron import _native

STUB = Path(__file__).resolve().parents[1] / "python" / "clustron" / "_native.pyi"

Def = Union[ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef]


def _doc(owner: Any, name: str) -> Optional[str]:
    """The cleaned docstring of ``owner.name`` at run time (None: no such object or no text)."""
    try:
        value = inspect.getattr_static(owner, name)
    except AttributeError:
        return None
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    text = getattr(value, "__doc__", None)
    if not isinstance(text, str) or not text.strip():
        return None
    if isinstance(value, type) and text == type.__doc__:
        return None
    return inspect.cleandoc(text)


def _literal(doc: str, indent: str) -> str:
    doc = doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = doc.splitlines()
    if len(lines) == 1 and not doc.endswith('"'):
        return f'{indent}"""{doc}"""'
    body = "\n".join(f"{indent}{line}" if line else "" for line in lines[1:])
    return f'{indent}"""{lines[0]}\n{body}\n{indent}"""' if body else f'{indent}"""{lines[0]}\n{indent}"""'


def _edits(nodes: list[ast.stmt], owner: Any, lines: list[str]) -> list[tuple[int, int, int, int, str]]:
    """(first line, first col, last line, last col, new text) for every docstring to write."""
    edits = []
    for node in nodes:
        if not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if node.name.startswith("_"):
            continue
        doc = _doc(owner, node.name)
        if isinstance(node, ast.ClassDef):
            inner = getattr(owner, node.name, None)
            if inner is not None:
                edits += _edits(node.body, inner, lines)
        if doc is None:
            continue
        indent = " " * (node.col_offset + 4)
        first = node.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            # An existing docstring, replaced whole.
            edits.append((first.lineno, 0, first.end_lineno or first.lineno, len(lines[(first.end_lineno or first.lineno) - 1]), _literal(doc, indent)))
        elif isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and first.value.value is Ellipsis:
            # `def f(...) -> T: ...`: the ellipsis becomes the docstring, on its own line.
            head = lines[first.lineno - 1][: first.col_offset].rstrip()
            edits.append((first.lineno, 0, first.end_lineno or first.lineno, first.end_col_offset or 0, head + "\n" + _literal(doc, indent)))
        else:
            # A class with members: the docstring goes before the first one.
            at = min([first.lineno] + [d.lineno for d in getattr(first, "decorator_list", [])])
            edits.append((at, 0, at, 0, _literal(doc, indent) + "\n"))
    return edits


def render(text: str) -> str:
    lines = text.split("\n")
    edits = _edits(ast.parse(text).body, _native, lines)
    for first, first_col, last, last_col, new in sorted(edits, reverse=True):
        before = lines[first - 1][:first_col]
        after = lines[last - 1][last_col:]
        lines[first - 1 : last] = (before + new + after).split("\n")
    return "\n".join(lines)


def main() -> int:
    text = STUB.read_text()
    new = render(text)
    if "--check" in sys.argv[1:]:
        if new != text:
            print(f"{STUB} is out of date with the module's docstrings: run tools/stubdoc.py")
            return 1
        return 0
    STUB.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())

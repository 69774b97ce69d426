#!/usr/bin/env python3
"""Checks for the documentation site (`make docs`).

    check.py errors [--update]   docs/reference/errors.md is the table of
                                 tests/conformance/error_codes.json (--update rewrites it)
    check.py links BOOK_DIR      every link and anchor between the site's pages resolves, and
                                 every API reference the site links to was built

Links to other sites (http, https, mailto) are not followed: CI has no network. Inside the
generated API references (api/), rustdoc checks its own links (-D warnings); only the pages
the book links to are checked there.
"""

from __future__ import annotations

import html.parser
import json
import sys
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

ROOT = Path(__file__).resolve().parents[2]
ERRORS_PAGE = ROOT / "docs" / "reference" / "errors.md"
ERROR_TABLE = ROOT / "tests" / "conformance" / "error_codes.json"


def render_errors() -> str:
    codes = json.loads(ERROR_TABLE.read_text())["codes"]
    lines = [
        "# Error codes",
        "",
        "<!-- Generated from tests/conformance/error_codes.json by `tests/docs/check.py errors --update`;",
        "     `make docs` fails when it differs. -->",
        "",
        "Every error carries one of these codes, the same in every language, on the wire and in",
        "the C ABI. Numbers never change and are never reused; new codes are appended. The CLI",
        "exits with 10 + the number. [Errors](../concepts/errors.md) says how each language shows",
        "them.",
        "",
        "| Number | Code | C | Python | CLI exit | Meaning |",
        "|---:|---|---|---|---:|---|",
    ]
    for code in codes:
        name = code["name"]
        python = "".join(part.capitalize() for part in name.split("_")) + "Error"
        lines.append(
            f"| {code['number']} | `{name}` | `CLUSTRON_{name.upper()}` | `clustron.{python}` "
            f"| {10 + code['number']} | {code['meaning']} |"
        )
    return "\n".join(lines) + "\n"


def errors(update: bool) -> int:
    rendered = render_errors()
    if update:
        ERRORS_PAGE.write_text(rendered)
        return 0
    if not ERRORS_PAGE.exists() or ERRORS_PAGE.read_text() != rendered:
        print(f"{ERRORS_PAGE.relative_to(ROOT)} differs from {ERROR_TABLE.relative_to(ROOT)}: "
              "run tests/docs/check.py errors --update")
        return 1
    return 0


class _Page(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name"):
                self.ids.add(value)
            elif (name == "href" and tag in ("a", "link")) or (name == "src" and tag in ("img", "script")):
                self.links.append(value)


def links(book: Path) -> int:
    pages: dict[Path, _Page] = {}

    def page(path: Path) -> _Page:
        if path not in pages:
            parsed = _Page()
            parsed.feed(path.read_text(errors="replace"))
            pages[path] = parsed
        return pages[path]

    api = book / "api"
    broken = []
    checked = 0
    for source in sorted(book.rglob("*.html")):
        if api in source.parents:
            continue
        for link in page(source).links:
            if urlparse(link).scheme in ("http", "https", "mailto", "data", "javascript"):
                continue
            target, fragment = urldefrag(link)
            path = (source.parent / unquote(target)).resolve() if target else source
            if path.is_dir():
                path = path / "index.html"
            checked += 1
            where = f"{source.relative_to(book)}: {link}"
            if not path.exists():
                broken.append(f"{where} (no such file)")
            elif fragment and path.suffix == ".html" and unquote(fragment) not in page(path).ids:
                broken.append(f"{where} (no anchor #{fragment})")
    for line in broken:
        print("broken link:", line)
    print(f"{checked} links in {len([p for p in pages if api not in p.parents])} pages checked, {len(broken)} broken")
    return 1 if broken or checked == 0 else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["errors"]:
        return errors("--update" in argv[1:])
    if argv[:1] == ["links"] and len(argv) == 2:
        return links(Path(argv[1]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

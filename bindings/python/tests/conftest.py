from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import clustron

sys.path.insert(0, str(Path(__file__).parent))

_names = itertools.count()


@pytest.fixture
def store() -> Iterator[clustron.Store]:
    """A fresh in-process store on a manual clock: time moves only with advance_clock."""
    with clustron.open(f"clustron://inproc/pytest-{next(_names)}?clock=manual") as opened:
        yield opened

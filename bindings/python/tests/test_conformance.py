"""Every shared conformance vector, through the Python API, with readable ids."""

from __future__ import annotations

from typing import Any

import pytest

import clustron
from conformance import error_codes, load_vectors, run_vector

VECTORS = load_vectors()


@pytest.mark.parametrize(
    ("area", "index", "vector"),
    [
        pytest.param(
            area,
            index,
            vector,
            id=f"{area}/{name}",
            marks=pytest.mark.skipif(not runs, reason="needs a cluster (CLUSTRON_NODES)"),
        )
        for area, name, index, vector, runs in VECTORS
    ],
)
def test_vector(area: str, index: int, vector: dict[str, Any]) -> None:
    run_vector(area, index, vector)


def test_every_vector_file_was_loaded() -> None:
    assert len({area for area, _, _, _, _ in VECTORS}) >= 13
    assert len(VECTORS) >= 90


@pytest.mark.parametrize(("number", "name"), error_codes())
def test_error_code_table(number: int, name: str) -> None:
    cls = clustron._errors.BY_NUMBER[number]
    assert cls.code == name
    assert cls.number == number
    assert issubclass(cls, clustron.ClustronError)

"""Fixtures shared across the suite."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def checkout_spans() -> pl.DataFrame:
    """The seed's checkout trace (fixtures/checkout_trace.json), decoded from OTLP JSON."""
    from tracelens.ingest import decode_otlp_json

    result = decode_otlp_json((FIXTURES / "checkout_trace.json").read_bytes())
    assert result.rejected == 0
    return result.spans

"""Options and error handling shared by every CLI command (the conventions of issue 5).

- ``--data DIR``: default from ``TRACELENS_DATA`` or ``./tracelens-data``.
- ``--json``: the documented machine-readable shape instead of the human view.
- Library errors become one clean line on stderr with exit code 1 (2 for usage errors);
  never a traceback for a user mistake.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from tracelens.config import DATA_DIR_ENV, DEFAULT_DATA_DIR

F = TypeVar("F", bound=Callable[..., Any])


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


data_option = click.option(
    "--data",
    "data",
    type=click.Path(file_okay=False, path_type=Path),
    default=default_data_dir,
    show_default=f"${DATA_DIR_ENV} or ./{DEFAULT_DATA_DIR}",
    help="Data directory of the span store.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of the human view.")


def existing_data_dir(path: Path) -> Path:
    """The data dir, or a clean usage error when it does not exist (reads never create it)."""
    if not path.exists():
        raise click.UsageError(f"no span store at {path} (pass --data DIR or set ${DATA_DIR_ENV})")
    return path


def handle_errors(func: F) -> F:
    """Turn tracelens errors (and unreadable files) into one line on stderr, exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from tracelens.errors import ExpressionError, TracelensError

        try:
            return func(*args, **kwargs)
        except ExpressionError as exc:
            detail = f"\n{exc.caret()}" if exc.expression else ""
            raise click.UsageError(f"{exc}{detail}") from None
        except (TracelensError, OSError) as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def echo_json(payload: object) -> None:
    """Print ``payload`` as JSON (datetimes ISO 8601, durations in seconds)."""
    click.echo(json.dumps(payload, indent=2, default=_json_default))


def frame_records(frame: Any) -> list[dict[str, Any]]:
    """Rows of a polars frame as JSON-ready dicts (durations as milliseconds)."""
    import polars as pl

    converted = frame.with_columns(
        [
            (pl.col(name).dt.total_nanoseconds() / 1e6).alias(name)
            for name, dtype in frame.schema.items()
            if isinstance(dtype, pl.Duration)
        ]
    )
    return converted.to_dicts()

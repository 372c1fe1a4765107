"""One exception hierarchy for tracelens.

::

    TracelensError                 base: catch this to catch everything we raise
    ├── SchemaError                a frame does not meet the span contract
    ├── DecodeError                bytes/JSON that cannot be decoded as spans (whole request)
    ├── StoreError                 the span store cannot be opened, read or written
    │   └── WALCorruptionError     a write-ahead-log record failed its CRC (tail is kept apart)
    ├── ReceiverError              the receiver cannot start (port in use, bad TLS files)
    ├── ExpressionError            a span filter expression is malformed (has .position)
    ├── SpecError                  an SLO / canary spec file is invalid
    ├── ScenarioError              a demo chaos scenario or duration cannot be parsed
    └── TraceNotFoundError         no spans for the requested trace id

Problems *in data* (a bad span among good ones) are not exceptions: they are counted,
reported as warnings and the rest is kept. Exceptions are for whole inputs we cannot use.
"""

from __future__ import annotations


class TracelensError(Exception):
    """Base class of every error tracelens raises on purpose."""


class SchemaError(TracelensError):
    """A frame does not meet the span contract (tracelens.schema)."""


class DecodeError(TracelensError):
    """A whole request or file cannot be decoded (undecodable protobuf, invalid JSON)."""


class StoreError(TracelensError):
    """The span store cannot be opened, read or written."""


class WALCorruptionError(StoreError):
    """A write-ahead-log record failed its CRC check."""


class ReceiverError(TracelensError):
    """The OTLP receiver cannot start or run."""


class ExpressionError(TracelensError):
    """A span filter expression is malformed; ``position`` is the offending character."""

    def __init__(self, message: str, expression: str = "", position: int = 0) -> None:
        self.expression = expression
        self.position = position
        super().__init__(message)

    def caret(self) -> str:
        """The expression with a caret under the offending character."""
        return f"{self.expression}\n{' ' * self.position}^"


class SpecError(TracelensError):
    """An SLO or canary specification is invalid."""


class ScenarioError(TracelensError):
    """A demo chaos scenario (``--scenario``) or duration cannot be parsed."""


class TraceNotFoundError(TracelensError):
    """No spans exist for the requested trace id."""

"""What every decoder returns: the accepted spans plus an account of what was rejected."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from tracelens import schema as s

#: at most this many error sentences are kept per result (the counts stay exact)
MAX_ERRORS = 20

INVALID_TRACE_ID = "invalid_trace_id"
INVALID_SPAN_ID = "invalid_span_id"
INVALID_PARENT_SPAN_ID = "invalid_parent_span_id"


@dataclass(frozen=True)
class DecodeResult:
    """Accepted spans (span contract) and the spans rejected one by one, by reason."""

    spans: pl.DataFrame
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    errors: tuple[str, ...] = ()

    @property
    def accepted(self) -> int:
        return self.spans.height

    def error_message(self) -> str:
        """One English paragraph for OTLP partial_success.error_message ('' if nothing rejected)."""
        if not self.rejected:
            return ""
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.rejected_by_reason.items()))
        shown = "; ".join(self.errors)
        return f"rejected {self.rejected} span(s) ({reasons}): {shown}"


@dataclass(frozen=True)
class Validation:
    """What a decoder would accept and reject, without the frame (see
    ``tracelens.ingest.validate_otlp_protobuf``)."""

    accepted: int
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    errors: tuple[str, ...] = ()


def empty_result() -> DecodeResult:
    return DecodeResult(spans=s.empty_frame())


def combine(results: Iterable[DecodeResult]) -> DecodeResult:
    """Concatenate several results (e.g. the lines of a JSON-lines file)."""
    results = list(results)
    if not results:
        return empty_result()
    frames = [r.spans for r in results if r.spans.height] or [results[0].spans]
    reasons: dict[str, int] = {}
    for r in results:
        for reason, n in r.rejected_by_reason.items():
            reasons[reason] = reasons.get(reason, 0) + n
    errors = tuple(e for r in results for e in r.errors)[:MAX_ERRORS]
    return DecodeResult(
        spans=pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0],
        rejected=sum(r.rejected for r in results),
        rejected_by_reason=reasons,
        errors=errors,
    )

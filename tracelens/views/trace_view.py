"""A trace as a tree in the terminal: one line per span, a time bar, the critical path marked.

::

    trace 5b8efff798038103d269b633813fc60c  2190 ms  9 spans  1 error
    ├─ web-frontend  POST /checkout        ━━━━━━━━━━━━━━━━━━━━  2190 ms   10 ms
    │  └─ auth-service  authorize          ━━━━━━━━━━━━━━━━━━━━  2180 ms   50 ms
    ...
    Bottleneck: credit-card-api (82% of total time)

The view only lays out what it is given (views never compute analyses): the spans of one
trace, the ids of spans on the critical path, self times and the bottleneck line come from
the analysis layer. Laying out (depth-first order by start time, tree guides, bars) is
presentation and lives here. Deep traces are walked iteratively (no recursion limit);
``collapse`` folds runs of same-named siblings so a 10,000-span trace stays readable.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl
from rich.console import Group, RenderableType
from rich.text import Text

from tracelens import schema as s

BAR_WIDTH = 20
MIN_BAR_WIDTH = 10
NUMBERS_WIDTH = 32  # " " + duration (11) + "  self " + self time (9) + " ◆" + slack
CRITICAL_MARK = "◆"


@dataclass(frozen=True, slots=True)
class Line:
    """One displayed row: a span, or a folded run of similar siblings."""

    guide: str
    span: Mapping[str, object]
    folded: int = 0  # > 0: this row stands for `folded` more siblings like `span`
    folded_total_ns: int = 0


def _ms(ns: int) -> str:
    ms = ns / 1e6
    if ms >= 100 or ms == int(ms):
        return f"{ms:.0f} ms"
    return f"{ms:.1f} ms" if ms >= 1 else f"{ms:.3f} ms"


def _children_by_parent(spans: pl.DataFrame) -> tuple[list[dict[str, object]], dict[str, list[dict[str, object]]]]:
    rows = spans.sort(s.START, s.SPAN_ID).to_dicts()
    ids = {r[s.SPAN_ID] for r in rows}
    children: dict[str, list[dict[str, object]]] = defaultdict(list)
    roots = []
    for row in rows:
        parent = row[s.PARENT_SPAN_ID]
        if parent is None or parent not in ids or parent == row[s.SPAN_ID]:
            roots.append(row)  # orphans are shown as roots, as the model does
        else:
            children[str(parent)].append(row)
    return roots, children


def _fold(siblings: list[dict[str, object]], collapse: int | None) -> list[tuple[dict[str, object], int, int]]:
    """Siblings with runs of the same (service, name) beyond ``collapse`` folded into one."""
    if not collapse:
        return [(sib, 0, 0) for sib in siblings]
    groups: dict[tuple[object, object], list[dict[str, object]]] = defaultdict(list)
    for sib in siblings:
        groups[(sib[s.SERVICE_NAME], sib[s.NAME])].append(sib)
    out: list[tuple[dict[str, object], int, int]] = []
    emitted: set[tuple[object, object]] = set()
    for sib in siblings:
        key = (sib[s.SERVICE_NAME], sib[s.NAME])
        group = groups[key]
        if len(group) <= collapse:
            out.append((sib, 0, 0))
        elif key not in emitted:
            emitted.add(key)
            kept = group[: collapse - 1] if collapse > 1 else []
            out.extend((k, 0, 0) for k in kept)
            rest = group[len(kept):]
            total = sum(_duration_ns(r) for r in rest)
            out.append((rest[0], len(rest), total))
    return out


_START_NS = "_start_ns"
_DUR_NS = "_dur_ns"


def _duration_ns(row: Mapping[str, object]) -> int:
    return int(row[_DUR_NS])  # type: ignore[call-overload]


def layout(spans: pl.DataFrame, *, max_depth: int | None = None, collapse: int | None = None) -> list[Line]:
    """Depth-first rows with tree guides, children in start order (iterative walk)."""
    spans = spans.with_columns(
        pl.col(s.START).cast(pl.Int64).alias(_START_NS), pl.col(s.DURATION).cast(pl.Int64).alias(_DUR_NS)
    )
    roots, children = _children_by_parent(spans)
    lines: list[Line] = []
    # stack of (row, prefix, is_last, depth, folded, folded_total)
    stack = [(r, "", i == len(roots) - 1, 0, 0, 0) for i, r in reversed(list(enumerate(roots)))]
    while stack:
        row, prefix, last, depth, folded, folded_total = stack.pop()
        lines.append(Line(prefix + ("└─ " if last else "├─ "), row, folded, folded_total))
        if folded or (max_depth is not None and depth + 1 >= max_depth):
            continue
        kids = _fold(children.get(str(row[s.SPAN_ID]), []), collapse)
        child_prefix = prefix + ("   " if last else "│  ")
        for i in reversed(range(len(kids))):
            kid, n, total = kids[i]
            stack.append((kid, child_prefix, i == len(kids) - 1, depth + 1, n, total))
    return lines


def _bar(start_ns: int, dur_ns: int, t0: int, total: int, width: int) -> str:
    if total <= 0:
        return "━" * width
    left = int((start_ns - t0) / total * width)
    length = max(1, round(dur_ns / total * width))
    left = min(max(left, 0), width - 1)
    length = min(length, width - left)
    return " " * left + "━" * length + " " * (width - left - length)


def render_trace(
    spans: pl.DataFrame,
    *,
    critical: set[str] | frozenset[str] = frozenset(),
    self_times: Mapping[str, int] | None = None,
    bottleneck: str | None = None,
    max_depth: int | None = None,
    collapse: int | None = None,
    show_attributes: bool = False,
    width: int = 100,
) -> RenderableType:
    """The trace as rich text: a header, one line per span, then the bottleneck line."""
    if spans.is_empty():
        return Text("(no spans)")
    t0 = int(spans[s.START].cast(pl.Int64).min())  # type: ignore[arg-type]
    total = int(spans[s.END].cast(pl.Int64).max()) - t0  # type: ignore[arg-type]
    errors = int((spans[s.STATUS_CODE] == "error").sum())
    trace_id = spans[s.TRACE_ID][0]
    header = Text(f"trace {trace_id}  {_ms(total)}  {spans.height} spans  {errors} error{'s' if errors != 1 else ''}", style="bold")
    lines = layout(spans, max_depth=max_depth, collapse=collapse)
    # names matter more than bar resolution: the label column fits the longest label
    # within what the terminal leaves after a minimal bar and the numbers
    label_width = min(max(len(_label(line)) for line in lines) + 1, max(24, width - MIN_BAR_WIDTH - NUMBERS_WIDTH))
    bar_width = max(MIN_BAR_WIDTH, min(BAR_WIDTH, width - label_width - NUMBERS_WIDTH))
    body: list[RenderableType] = [header]
    for line in lines:
        body.append(_span_line(line, label_width, bar_width, t0, total, critical, self_times))
        if show_attributes and not line.folded:
            body.extend(_attribute_lines(line))
    hidden = spans.height - sum(1 + l.folded for l in lines)
    if hidden > 0:
        body.append(Text(f"… {hidden} deeper span(s) not shown (raise --depth)", style="dim"))
    if bottleneck:
        body.append(Text(f"Bottleneck: {bottleneck}", style="bold"))
    return Group(*body)


def _label(line: Line) -> str:
    span = line.span
    name = f"{span[s.SERVICE_NAME]}  {span[s.NAME]}"
    if line.folded:
        name = f"{line.folded} × {name}"
    return line.guide + name


def _span_line(
    line: Line,
    label_width: int,
    bar_width: int,
    t0: int,
    total: int,
    critical: set[str] | frozenset[str],
    self_times: Mapping[str, int] | None,
) -> Text:
    span = line.span
    start_ns = int(span[_START_NS])  # type: ignore[call-overload]
    dur_ns = line.folded_total_ns if line.folded else _duration_ns(span)
    is_error = span[s.STATUS_CODE] == "error"
    on_path = span[s.SPAN_ID] in critical and not line.folded
    text = Text(line.guide, style="dim")
    label = _label(line)
    if len(label) > label_width - 1:  # long names are cut, so the bars stay aligned
        label = label[: label_width - 2] + "…"
    service, _, rest = label[len(line.guide):].partition("  ")
    text.append(service, style="bold red" if is_error else "bold")
    text.append("  " + rest if rest else "")
    text.pad_right(max(0, label_width - len(label)))
    text.append(" ")
    text.append(_bar(start_ns, _duration_ns(span), t0, total, bar_width), style="red" if is_error else ("yellow" if on_path else "cyan"))
    text.append(f" {_ms(dur_ns):>10}")
    if self_times is not None and not line.folded:
        text.append(f"  self {_ms(int(self_times.get(str(span[s.SPAN_ID]), 0))):>9}", style="dim")
    if line.folded:
        text.append("  (total)", style="dim")
    if on_path:
        text.append(f" {CRITICAL_MARK}", style="yellow")
    if is_error:
        message = span.get(s.STATUS_MESSAGE) or ""
        text.append(f" error{': ' + str(message) if message else ''}", style="red")
    return text


def _attribute_lines(line: Line) -> list[Text]:
    indent = " " * len(line.guide) + "   "
    out = []
    for attr in line.span.get(s.ATTRIBUTES) or []:  # type: ignore[union-attr]
        out.append(Text(f"{indent}{attr['key']} = {s.plain_value(attr)!r}", style="dim"))
    for event in line.span.get(s.EVENTS) or []:  # type: ignore[union-attr]
        attrs = s.plain_attributes(event["attributes"])
        out.append(Text(f"{indent}event {event['name']} {attrs if attrs else ''}".rstrip(), style="magenta"))
    return out

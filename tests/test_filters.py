"""Span filter expressions: valid ones against hand-written polars, invalid ones with
their exact messages and caret positions, and random junk that must only ever raise
ExpressionError."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracelens import schema as s
from tracelens.errors import ExpressionError
from tracelens.filters import parse_filter, tokenize
from tracelens.testing import make_spans, span_id_for

ROWS = [
    {"span": "pay", "service": "checkout", "name": "POST /pay", "kind": "server", "start": 0, "end": 800,
     "status": "error", "attrs": {"http.route": "/pay", "http.response.status_code": 500, "retries": 3,
                                  "region": "eu", "cached": True, "ratio": 0.25}},
    {"span": "db", "parent": "pay", "service": "db", "name": "SELECT orders", "kind": "client", "start": 10,
     "end": 110, "attrs": {"db.system": "postgresql", "retries": 1.5, "region": "us"}},
    {"span": "cart", "service": "checkout", "name": "GET /cart", "kind": "server", "start": 0, "end": 120,
     "status": "ok", "attrs": {"http.route": "/cart", "http.response.status_code": 200, "region": "eu",
                               "cached": False, "retries": "3"},
     "resource": {"service.version": "1.2", "team": "payments"}},
    {"span": "queue", "service": "worker", "name": "process", "kind": "consumer", "start": 0, "end": 2000,
     "attrs": {"messaging.system": "kafka"}, "resource": {"team": "platform"}},
]


@pytest.fixture(scope="module")
def spans() -> pl.DataFrame:
    return make_spans(ROWS)


def labels(frame: pl.DataFrame) -> set[str]:
    by_id = {span_id_for(r["span"]): r["span"] for r in ROWS}
    return {by_id[x] for x in frame[s.SPAN_ID]}


MS = 1_000_000

# expression -> the labels it must select (hand-computed from ROWS)
VALID: list[tuple[str, set[str]]] = [
    ('service.name = "checkout" and http.route = "/pay" and duration > 500ms and status = error', {"pay"}),
    ('service = checkout', {"pay", "cart"}),
    ("service = web-frontend", set()),
    ('name = "SELECT orders"', {"db"}),
    ("name != \"process\"", {"pay", "db", "cart"}),
    ("kind = server", {"pay", "cart"}),
    ("kind in (server, consumer)", {"pay", "cart", "queue"}),
    ("kind not in (server)", {"db", "queue"}),
    ("status = error", {"pay"}),
    ("status != error", {"db", "cart", "queue"}),
    ("STATUS = OK", {"cart"}),
    ("duration > 500ms", {"pay", "queue"}),
    ("duration >= 2s", {"queue"}),
    ("duration < 0.12s", {"db"}),
    ("duration <= 120000us", {"db", "cart"}),
    ("duration = 100000000ns", {"db"}),
    ("duration in (100ms, 2s)", {"db", "queue"}),
    ("duration > 1m", set()),
    ("http.route = \"/pay\"", {"pay"}),
    ("http.route != \"/pay\"", {"cart"}),  # absent attribute: comparison is false
    ("not http.route = \"/pay\"", {"db", "cart", "queue"}),
    ("http.response.status_code >= 500", {"pay"}),
    ("http.status_code = 200", {"cart"}),  # legacy name, same column
    ("http.response.status_code in (200, 404)", {"cart"}),
    ("db.system = postgresql", {"db"}),
    ("db.system.name =~ \"post.*\"", {"db"}),
    ("messaging.system = 'kafka'", {"queue"}),
    ("retries > 2", {"pay"}),  # int 3 yes; string "3" is not numeric
    ("retries < 2", {"db"}),  # double 1.5
    ("retries = \"3\"", {"pay", "cart"}),  # text comparison sees both
    ("span.retries = 1.5", {"db"}),
    ("ratio = 0.25", {"pay"}),
    ("region = eu", {"pay", "cart"}),
    ("region in (\"us\", \"xx\")", {"db"}),
    ("region not in (\"us\")", {"pay", "cart", "queue"}),
    ("cached = true", {"pay"}),
    ("cached = false", {"cart"}),
    ("exists region", {"pay", "db", "cart"}),
    ("not exists region", {"queue"}),
    ("exists http.route", {"pay", "cart"}),
    ("exists parent_span_id", {"db"}),
    ("not exists parent_span_id", {"pay", "cart", "queue"}),
    ("resource.team = payments", {"cart"}),
    ("resource.service.version = \"1.2\"", {"cart"}),
    ("service.version = \"1.2\"", {"cart"}),
    ("resource.service.name = worker", {"queue"}),
    ("exists resource.team", {"cart", "queue"}),
    ("name =~ \"(POST|GET) /.*\"", {"pay", "cart"}),
    ("name =~ \"POST\"", set()),  # anchored: must match the whole value
    ("name !~ \"GET.*\"", {"pay", "db", "queue"}),
    ("region =~ \"e.\"", {"pay", "cart"}),
    ("status = error or kind = consumer", {"pay", "queue"}),
    ("status = error or kind = consumer and duration < 1s", {"pay"}),  # and binds tighter
    ("(status = error or kind = consumer) and duration > 1s", {"queue"}),
    ("not (service = checkout or service = db)", {"queue"}),
    ("not not kind = client", {"db"}),
    ("trace_id = \"" + "0" * 32 + "\"", set()),
    ("span_id = \"" + span_id_for("cart") + "\"", {"cart"}),
    ("parent_span_id = \"" + span_id_for("pay") + "\"", {"db"}),
    ("status_message = \"\"", {"pay", "db", "cart", "queue"}),
    ("service = \"check\\\"out\"", set()),
]


@pytest.mark.parametrize(("expression", "expected"), VALID, ids=[e for e, _ in VALID])
def test_valid_expression_selects_expected_spans(spans: pl.DataFrame, expression: str, expected: set[str]) -> None:
    assert labels(spans.filter(parse_filter(expression))) == expected


def _attr(key: str) -> pl.Expr:
    return pl.col(s.ATTRIBUTES).list.eval(pl.element().filter(pl.element().struct.field("key") == key)).list.last()


# the same selections written by hand in polars: the parser must agree with them
BY_HAND: list[tuple[str, pl.Expr]] = [
    ('service.name = "checkout" and duration > 500ms and status = error',
     (pl.col(s.SERVICE_NAME) == "checkout") & (pl.col(s.DURATION) > pl.duration(milliseconds=500))
     & (pl.col(s.STATUS_CODE) == "error")),
    ("kind = server or kind = consumer", pl.col(s.KIND).is_in(["server", "consumer"])),
    ("http.route = \"/cart\"", pl.col(s.HTTP_ROUTE) == "/cart"),
    ("retries > 2", (_attr("retries").struct.field("int") > 2).fill_null(False)),
    ("exists region", pl.col(s.ATTRIBUTES).list.eval(pl.element().struct.field("key") == "region").list.any()),
    ("name =~ \"GET.*\"", pl.col(s.NAME).str.starts_with("GET")),
    ("not status = error", pl.col(s.STATUS_CODE) != "error"),
]


@pytest.mark.parametrize(("expression", "by_hand"), BY_HAND, ids=[e for e, _ in BY_HAND])
def test_parser_agrees_with_hand_written_polars(spans: pl.DataFrame, expression: str, by_hand: pl.Expr) -> None:
    got = spans.filter(parse_filter(expression))[s.SPAN_ID].to_list()
    want = spans.filter(by_hand)[s.SPAN_ID].to_list()
    assert got == want
    assert 0 < len(want) < spans.height  # the case discriminates


def test_works_lazily_and_on_empty_frames(spans: pl.DataFrame) -> None:
    expr = parse_filter("status = error and region = eu")
    assert spans.lazy().filter(expr).collect().height == 1
    assert s.empty_frame().filter(expr).height == 0


# expression -> (exact message, position of the offending character)
INVALID: list[tuple[str, str, int]] = [
    ("", "empty expression: expected a condition such as status = error", 0),
    ("   ", "empty expression: expected a condition such as status = error", 3),
    ("duration > 500", "duration needs a unit, e.g. 500ms", 11),
    ("duration > \"fast\"", 'duration compares with a duration such as 500ms, got "fast"', 11),
    ("duration > 5kg", "unknown duration unit 'kg' (use ns, us, ms, s, m, h or d)", 12),
    ("duration > 5min", "unknown duration unit 'min' (use ns, us, ms, s, m, h or d)", 12),
    ("status = err", "unknown status 'err': expected one of unset, ok, error", 9),
    ("kind = sever", "unknown kind 'sever': expected one of unspecified, internal, server, client, producer, consumer", 7),
    ("kind in (server, clinet)", "unknown kind 'clinet': expected one of unspecified, internal, server, client, producer, consumer", 17),
    ("service = ", "expected a value, got end of expression", 10),
    ("service", "expected an operator (= != < <= > >= =~ !~ in) after 'service', got end of expression", 7),
    ("service checkout", "expected an operator (= != < <= > >= =~ !~ in) after 'service', got 'checkout'", 8),
    ("(status = error", "missing ')' to close this '('", 0),
    ("status = error)", "unmatched ')'", 14),
    ("service = \"web", "unterminated string: missing closing quote", 10),
    ("service = \"a\\qb\"", "unknown escape \\q in string (use \\\\ for a backslash)", 12),
    ("name < \"a\"", "< needs a number or a duration, got \"a\"", 7),
    ("status > ok", "> needs a number or a duration, got ok", 9),
    ("region >= eu", ">= needs a number or a duration, got eu", 10),
    ("name =~ \"(\"", "invalid regular expression \"(\" (error: unclosed group)", 8),
    ("duration =~ \"1.*\"", "=~ needs a text field; duration is a duration", 9),
    ("name =~ 5", "=~ needs a quoted regular expression, got 5", 8),
    ("http.response.status_code = \"500\"", "http.response.status_code is a number, got \"500\"", 28),
    ("http.route = 5", "http.route is text; quote the value: \"5\"", 13),
    ("name = 5ms", "name is not a duration; remove the unit from 5ms", 7),
    ("service = a #", "unexpected character '#'", 12),
    ("status = error and", "unexpected end of expression: expected a condition", 18),
    ("status = error status = ok", "expected 'and', 'or' or end of expression, got 'status'", 15),
    ("and status = error", "expected a field name, got 'and'", 0),
    ("exists", "expected a field name, got end of expression", 6),
    ("exists 5", "expected a field name, got '5'", 7),
    ("kind not server", "expected 'in' after 'not', got 'server'", 9),
    ("kind in server", "expected '(' after 'in', got 'server'", 8),
    ("kind in (server", "missing ')' to close this '('", 8),
    ("kind in (server client)", "expected ',' or ')', got 'client'", 16),
    ("region in ()", "expected a value, got ')'", 11),
    ("duration > 1e300h", "duration 1e300h is out of range", 11),
    ("= 5", "expected a field name, got '='", 0),
]


@pytest.mark.parametrize(("expression", "message", "position"), INVALID, ids=[e or "<empty>" for e, _, _ in INVALID])
def test_invalid_expression_error_message_and_position(expression: str, message: str, position: int) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_filter(expression)
    assert str(info.value) == message
    assert info.value.position == position
    assert info.value.expression == expression
    assert info.value.caret().splitlines()[-1] == " " * position + "^"


def test_tokenizer_reads_units_and_signed_numbers() -> None:
    tokens = tokenize("duration > 1.5s and x = -2 and y < 10µs")
    values = [(t.kind, t.value) for t in tokens if t.kind in ("duration", "number")]
    assert values == [("duration", 1_500_000_000), ("number", -2), ("duration", 10_000)]


_ALPHABET = st.sampled_from(
    list("abcdefxyz0123456789 ()=!<>~,.'\"\\-_µ#") + ["and ", "or ", "not ", "in ", "exists ", "ms", "duration",
                                                   "status", "kind", "http.route", "resource.", "error", "server"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ALPHABET, max_size=20).map("".join))
def test_random_junk_raises_only_expression_error(text: str) -> None:
    frame = make_spans(ROWS[:2])
    try:
        expr = parse_filter(text)
    except ExpressionError as exc:
        assert 0 <= exc.position <= len(text)
        return
    frame.filter(expr)  # a parsed expression must also evaluate without error


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_arbitrary_text_raises_only_expression_error(text: str) -> None:
    try:
        parse_filter(text)
    except ExpressionError as exc:
        assert 0 <= exc.position <= len(text)

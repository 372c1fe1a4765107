"""Span filter expressions: a small, safe language parsed into polars expressions.

    >>> expr = parse_filter('service.name = "checkout" and duration > 500ms and status = error')
    >>> spans.filter(expr)                                       # doctest: +SKIP

Grammar (hand-written tokenizer + recursive descent; nothing is ever ``eval``-ed)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | primary
    primary    := "(" expr ")" | "exists" field | field op value
                | field ["not"] "in" "(" value ("," value)* ")"
    op         := "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "=~" | "!~"
    value      := "string" | 'string' | number | duration | bare-word

Fields: the intrinsics ``name kind status duration service (= service.name) trace_id
span_id parent_span_id status_message``; dotted semantic-convention names that have a
dedicated column (``http.route``, ``http.response.status_code`` ...); ``resource.X`` for a
resource attribute; ``span.X`` (or any other name) for a span attribute in the generic
typed ``attributes`` list. Durations take units ``ns us µs ms s m h d``.

Semantics worth knowing (they follow TraceQL where it has an opinion):

* Comparisons are two-valued: a comparison on an absent attribute is *false* (so
  ``http.route != "/pay"`` only matches spans that have a route), and ``not`` of it is true.
* ``=~`` / ``!~`` are regular expressions matched against the *whole* value (anchored).
* A number compares numerically with an attribute whose typed value is int or double;
  a string compares with the attribute's text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import polars as pl

from tracelens import schema as s
from tracelens.errors import ExpressionError

__all__ = ["parse_filter", "FIELD_HELP"]

# --- tokens -------------------------------------------------------------------------------

_DURATION_UNITS_NS: Final = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}
_KEYWORDS: Final = frozenset({"and", "or", "not", "in", "exists"})
_OPERATORS: Final = ("==", "!=", "<=", ">=", "=~", "!~", "=", "<", ">")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_UNIT = re.compile(r"(?:ns|us|µs|ms|s|m|h|d)(?![A-Za-z0-9_.])")
_WORD = re.compile(r"[A-Za-z_@][A-Za-z0-9_.\-/:@]*")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # word | keyword | string | number | duration | op | lparen | rparen | comma | end
    text: str
    pos: int
    value: object = None


def _fail(message: str, text: str, pos: int) -> ExpressionError:
    return ExpressionError(message, text, pos)


def _read_string(text: str, pos: int) -> tuple[str, int]:
    """The string literal starting at ``pos`` (a quote) and the index after it."""
    quote = text[pos]
    out: list[str] = []
    i = pos + 1
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= len(text):
                break
            nxt = text[i + 1]
            if nxt not in escapes:
                msg = f"unknown escape \\{nxt} in string (use \\\\ for a backslash)"
                raise _fail(msg, text, i)
            out.append(escapes[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise _fail("unterminated string: missing closing quote", text, pos)


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"  # ASCII only: str.isdigit() also accepts '²'


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``; raises ExpressionError at the first character that fits none."""
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "\"'":
            value, end = _read_string(text, i)
            tokens.append(Token("string", text[i:end], i, value))
            i = end
            continue
        if ch == "(":
            tokens.append(Token("lparen", ch, i))
            i += 1
            continue
        if ch == ")":
            tokens.append(Token("rparen", ch, i))
            i += 1
            continue
        if ch == ",":
            tokens.append(Token("comma", ch, i))
            i += 1
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is not None:
            tokens.append(Token("op", op, i))
            i += len(op)
            continue
        if _is_digit(ch) or (ch == "-" and i + 1 < n and _is_digit(text[i + 1])):
            sign = -1 if ch == "-" else 1
            m = _NUMBER.match(text, i + (ch == "-"))
            assert m is not None  # a digit always starts a number
            end = m.end()
            number_text = m.group()
            unit = _UNIT.match(text, end)
            if unit is not None:
                scaled = float(number_text) * _DURATION_UNITS_NS[unit.group()]
                if not scaled < 2**63:  # also catches inf
                    raise _fail(f"duration {text[i : unit.end()]} is out of range", text, i)
                ns = round(scaled) * sign
                tokens.append(Token("duration", text[i : unit.end()], i, ns))
                i = unit.end()
                continue
            if end < n and (text[end].isalpha() or text[end] in "_µ"):
                m2 = _WORD.match(text, end)
                word = m2.group() if m2 else text[end]
                msg = f"unknown duration unit {word!r} (use ns, us, ms, s, m, h or d)"
                raise _fail(msg, text, end)
            value: float | int = float(number_text) if any(c in number_text for c in ".eE") else int(number_text)
            if isinstance(value, int) and abs(value) >= 2**63:
                value = float(value)  # beyond Int64: compare as a float rather than overflow
            tokens.append(Token("number", text[i:end], i, value * sign))
            i = end
            continue
        m = _WORD.match(text, i)
        if m is not None:
            word = m.group()
            kind = "keyword" if word.lower() in _KEYWORDS else "word"
            tokens.append(Token(kind, word, i, word.lower() if kind == "keyword" else word))
            i = m.end()
            continue
        raise _fail(f"unexpected character {ch!r}", text, i)
    tokens.append(Token("end", "", n))
    return tokens


# --- fields -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """What a name in an expression refers to.

    ``type`` is one of: text, number, duration, enum, attribute (generic typed attribute).
    """

    name: str
    type: str
    column: str | None = None  # dedicated column, when there is one
    key: str | None = None  # attribute key for generic attributes
    list_column: str | None = None  # attributes or resource_attributes
    choices: tuple[str, ...] = ()


_INTRINSICS: Final[dict[str, Field]] = {
    "name": Field("name", "text", s.NAME),
    "kind": Field("kind", "enum", s.KIND, choices=s.SPAN_KINDS),
    "status": Field("status", "enum", s.STATUS_CODE, choices=s.STATUS_CODES),
    "status_message": Field("status_message", "text", s.STATUS_MESSAGE),
    "duration": Field("duration", "duration", s.DURATION),
    "service": Field("service", "text", s.SERVICE_NAME),
    "trace_id": Field("trace_id", "text", s.TRACE_ID),
    "span_id": Field("span_id", "text", s.SPAN_ID),
    "parent_span_id": Field("parent_span_id", "text", s.PARENT_SPAN_ID),
}
_INTRINSIC_ALIASES: Final = {
    "status.code": "status",
    "status_code": "status",
    "status.message": "status_message",
    "service_name": "service",
    "span.name": "name",
    "span.kind": "kind",
    "span.duration": "duration",
    "traceid": "trace_id",
    "spanid": "span_id",
}
_PROMOTED_BY_COLUMN: Final = {p.column: p for p in s.PROMOTED_ATTRIBUTES}

#: one line per field family, for help texts
FIELD_HELP: Final = (
    "name, kind, status, duration, service (service.name), trace_id, span_id, parent_span_id, "
    "status_message; semantic-convention names such as http.route or "
    "http.response.status_code; resource.KEY; span.KEY or any other KEY for span attributes"
)


def _column_field(name: str, column: str) -> Field:
    if column == s.SERVICE_NAME:
        return Field(name, "text", column)
    promoted = _PROMOTED_BY_COLUMN[column]
    is_number = promoted.dtype == pl.Int64()
    return Field(name, "number" if is_number else "text", column)


def resolve_field(name: str) -> Field:
    """The Field a name in an expression refers to (never fails: unknown names are
    generic span attributes)."""
    lowered = name.lower()
    if lowered in _INTRINSICS:
        return _INTRINSICS[lowered]
    if lowered in _INTRINSIC_ALIASES:
        return _INTRINSICS[_INTRINSIC_ALIASES[lowered]]
    if name.startswith("resource."):
        key = name[len("resource.") :]
        column = s.ATTRIBUTE_KEY_TO_COLUMN.get(key)
        if column is not None and (column == s.SERVICE_NAME or _PROMOTED_BY_COLUMN[column].resource):
            return _column_field(name, column)
        return Field(name, "attribute", key=key, list_column=s.RESOURCE_ATTRIBUTES)
    key = name[len("span.") :] if name.startswith("span.") else name
    column = s.ATTRIBUTE_KEY_TO_COLUMN.get(key)
    if column is not None and (column == s.SERVICE_NAME or not _PROMOTED_BY_COLUMN[column].resource):
        return _column_field(name, column)
    if column is not None and not name.startswith("span."):
        # a resource-level semconv name written without the prefix (host.name, service.version)
        return _column_field(name, column)
    return Field(name, "attribute", key=key, list_column=s.ATTRIBUTES)


def _attribute(field: Field) -> pl.Expr:
    """The typed attribute struct for ``field.key`` (the last one wins, as in OTLP SDKs)."""
    assert field.list_column is not None and field.key is not None
    return (
        pl.col(field.list_column)
        .list.eval(pl.element().filter(pl.element().struct.field("key") == field.key))
        .list.last()
    )


def _attribute_number(field: Field) -> pl.Expr:
    attr = _attribute(field)
    kind = attr.struct.field("type")
    return (
        pl.when(kind == "int")
        .then(attr.struct.field("int").cast(pl.Float64))
        .when(kind == "double")
        .then(attr.struct.field("float"))
    )


def _attribute_text(field: Field) -> pl.Expr:
    return s.attribute_value(pl.col(field.list_column or s.ATTRIBUTES), field.key or "")


def _attribute_exists(field: Field) -> pl.Expr:
    return (
        pl.col(field.list_column or s.ATTRIBUTES)
        .list.eval(pl.element().struct.field("key") == field.key)
        .list.any()
        .fill_null(False)
    )


# --- parser -------------------------------------------------------------------------------

_COMPARE: Final[dict[str, Callable[[pl.Expr, object], pl.Expr]]] = {
    "=": lambda c, v: c == v,
    "==": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
}
_ORDERING: Final = frozenset({"<", "<=", ">", ">="})
_REGEX_OPS: Final = frozenset({"=~", "!~"})


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "end of expression"
    return repr(token.text)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # token helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "end":
            self.i += 1
        return token

    def is_keyword(self, word: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.value == word

    def error(self, message: str, token: Token | None = None) -> ExpressionError:
        return _fail(message, self.text, (token or self.tok).pos)

    # grammar
    def parse(self) -> pl.Expr:
        if self.tok.kind == "end":
            raise self.error("empty expression: expected a condition such as status = error")
        expr = self.parse_or()
        if self.tok.kind != "end":
            if self.tok.kind == "rparen":
                raise self.error("unmatched ')'")
            raise self.error(f"expected 'and', 'or' or end of expression, got {_describe(self.tok)}")
        return expr

    def parse_or(self) -> pl.Expr:
        expr = self.parse_and()
        while self.is_keyword("or"):
            self.advance()
            expr = expr | self.parse_and()
        return expr

    def parse_and(self) -> pl.Expr:
        expr = self.parse_unary()
        while self.is_keyword("and"):
            self.advance()
            expr = expr & self.parse_unary()
        return expr

    def parse_unary(self) -> pl.Expr:
        if self.is_keyword("not"):
            self.advance()
            return ~self.parse_unary()
        return self.parse_primary()

    def parse_primary(self) -> pl.Expr:
        token = self.tok
        if token.kind == "lparen":
            self.advance()
            expr = self.parse_or()
            if self.tok.kind != "rparen":
                if self.tok.kind == "end":
                    raise _fail("missing ')' to close this '('", self.text, token.pos)
                raise self.error(f"expected ')', got {_describe(self.tok)}")
            self.advance()
            return expr
        if self.is_keyword("exists"):
            self.advance()
            field_token = self.expect_field()
            return self.exists(resolve_field(field_token.text))
        if token.kind == "word":
            return self.parse_condition()
        if token.kind == "end":
            raise self.error("unexpected end of expression: expected a condition")
        raise self.error(f"expected a field name, got {_describe(token)}")

    def expect_field(self) -> Token:
        token = self.tok
        if token.kind != "word":
            raise self.error(f"expected a field name, got {_describe(token)}")
        return self.advance()

    def parse_condition(self) -> pl.Expr:
        field_token = self.advance()
        field = resolve_field(field_token.text)
        negate_in = False
        if self.is_keyword("not"):
            self.advance()
            if not self.is_keyword("in"):
                raise self.error(f"expected 'in' after 'not', got {_describe(self.tok)}")
            negate_in = True
        if self.is_keyword("in"):
            self.advance()
            values = self.parse_list(field)
            expr = self.membership(field, values)
            return ~expr if negate_in else expr
        op_token = self.tok
        if op_token.kind != "op":
            raise self.error(f"expected an operator (= != < <= > >= =~ !~ in) after {field_token.text!r}, got {_describe(op_token)}")
        self.advance()
        value_token = self.expect_value()
        return self.comparison(field, op_token, value_token)

    def expect_value(self) -> Token:
        token = self.tok
        if token.kind in ("string", "number", "duration", "word"):
            return self.advance()
        raise self.error(f"expected a value, got {_describe(token)}")

    def parse_list(self, field: Field) -> list[tuple[Token, object]]:
        if self.tok.kind != "lparen":
            raise self.error(f"expected '(' after 'in', got {_describe(self.tok)}")
        open_token = self.advance()
        values = [self.expect_value()]
        while self.tok.kind == "comma":
            self.advance()
            values.append(self.expect_value())
        if self.tok.kind != "rparen":
            if self.tok.kind == "end":
                raise _fail("missing ')' to close this '('", self.text, open_token.pos)
            raise self.error(f"expected ',' or ')', got {_describe(self.tok)}")
        self.advance()
        return [(tok, self.coerce(field, "in", tok)) for tok in values]

    # semantics
    def coerce(self, field: Field, op: str, token: Token) -> object:
        """The Python value ``token`` denotes when compared with ``field``, or an error."""
        if field.type == "duration":
            if token.kind == "duration":
                return token.value
            if token.kind == "number":
                raise self.error(f"duration needs a unit, e.g. {token.text}ms", token)
            raise self.error(f"duration compares with a duration such as 500ms, got {token.text}", token)
        if token.kind == "duration":
            raise self.error(f"{field.name} is not a duration; remove the unit from {token.text}", token)
        if field.type == "enum":
            word = str(token.value).lower()
            if token.kind not in ("word", "string") or word not in field.choices:
                choices = ", ".join(field.choices)
                raise self.error(f"unknown {field.name} {token.text!r}: expected one of {choices}", token)
            return word
        if field.type == "number":
            if token.kind != "number":
                raise self.error(f"{field.name} is a number, got {token.text}", token)
            return token.value
        if field.type == "text":
            if token.kind == "number":
                raise self.error(f"{field.name} is text; quote the value: \"{token.text}\"", token)
            return str(token.value)
        # generic attribute: numbers stay numbers; words true/false are booleans
        if token.kind == "word" and str(token.value).lower() in ("true", "false"):
            return str(token.value).lower() == "true"
        return token.value

    def column_expr(self, field: Field, value: object) -> pl.Expr:
        """The expression a value of this Python type is compared with."""
        if field.type != "attribute":
            assert field.column is not None
            return pl.col(field.column)
        if isinstance(value, bool):
            attr = _attribute(field)
            return pl.when(attr.struct.field("type") == "bool").then(attr.struct.field("bool"))
        if isinstance(value, int | float):
            return _attribute_number(field)
        return _attribute_text(field)

    def comparison(self, field: Field, op_token: Token, value_token: Token) -> pl.Expr:
        op = op_token.text
        if op in _REGEX_OPS:
            if field.type not in ("text", "attribute", "enum") or value_token.kind not in ("string", "word"):
                if field.type in ("duration", "number"):
                    raise self.error(f"{op} needs a text field; {field.name} is a {field.type}", op_token)
                raise self.error(f"{op} needs a quoted regular expression, got {value_token.text}", value_token)
            pattern = f"^(?:{value_token.value})$"  # whole-value match, like TraceQL and PromQL
            self.check_regex(pattern, value_token)
            column = pl.col(field.column).cast(pl.String) if field.column else _attribute_text(field)
            matched = column.str.contains(pattern)
            result = matched if op == "=~" else ~matched
            return result.fill_null(False)
        value = self.coerce(field, op, value_token)
        if op in _ORDERING:
            if field.type in ("text", "enum") or (field.type == "attribute" and isinstance(value, str | bool)):
                raise self.error(f"{op} needs a number or a duration, got {value_token.text}", value_token)
        if field.type == "duration":
            value = pl.lit(value, dtype=pl.Int64).cast(s.DURATION_DTYPE)
        column = self.column_expr(field, value if not isinstance(value, pl.Expr) else 0)
        return _COMPARE[op](column, value).fill_null(False)

    def membership(self, field: Field, values: list[tuple[Token, object]]) -> pl.Expr:
        if field.type == "duration":
            raw = [v for _, v in values]
            return pl.col(s.DURATION).cast(pl.Int64).is_in(raw).fill_null(False)
        if field.type in ("text", "number", "enum"):
            assert field.column is not None
            # enum columns compare with their (validated) category names directly: no cast
            return pl.col(field.column).is_in([v for _, v in values]).fill_null(False)
        parts = [
            (self.column_expr(field, v) == v).fill_null(False)
            for _, v in values
        ]
        result = parts[0]
        for part in parts[1:]:
            result = result | part
        return result

    def exists(self, field: Field) -> pl.Expr:
        if field.type == "attribute":
            return _attribute_exists(field)
        assert field.column is not None
        return pl.col(field.column).is_not_null()

    def check_regex(self, pattern: str, token: Token) -> None:
        # polars uses Rust's regex engine; ask it (not Python's re) whether the pattern is valid
        try:
            pl.Series([""], dtype=pl.String).str.contains(pattern)
        except Exception as exc:  # polars raises ComputeError; the message names the problem
            first = str(exc).strip().splitlines()
            detail = next((line.strip() for line in first if line.strip().startswith("error:")), "")
            msg = f"invalid regular expression {token.text}" + (f" ({detail})" if detail else "")
            raise self.error(msg, token) from None


def parse_filter(text: str) -> pl.Expr:
    """A boolean polars expression over span-contract frames from a filter expression.

    Raises ExpressionError (with ``.position`` and ``.caret()``) on a malformed expression.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"a filter expression must be text, got {type(text).__name__}", "", 0)
    return _Parser(text).parse()


def as_expression(where: str | pl.Expr) -> pl.Expr:
    """A filter given as text (parsed) or already as a polars expression (kept): what every
    ``where=`` parameter of the library accepts."""
    return parse_filter(where) if isinstance(where, str) else where

"""Strict-but-forgiving readers for JSON values: every wrong shape raises DecodeError."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from tracelens.errors import DecodeError

_HEX = re.compile(r"[0-9a-fA-F]*")
_SPECIAL_DOUBLES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def fail(what: str, value: Any, expected: str) -> DecodeError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return DecodeError(f"{what}: expected {expected}, got {shown}")


def load_json(data: bytes | str) -> Any:
    """Parse JSON text; any failure (syntax, encoding, nesting depth) is a DecodeError."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        msg = f"invalid JSON: {exc}"
        raise DecodeError(msg) from exc


def field(obj: dict[str, Any], *names: str) -> Any:
    """The first of ``names`` present in ``obj`` (camelCase first, then snake_case)."""
    for name in names:
        if name in obj:
            return obj[name]
    return None


def as_object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(what, value, "an object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(what, value, "a list")
    return value


def as_str(value: Any, what: str, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise fail(what, value, "a string")
    return value


def as_int(value: Any, what: str, default: int = 0) -> int:
    """A 64-bit int written as a JSON number or a decimal string (J5)."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise fail(what, value, "an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if number.is_integer():
                return int(number)
    raise fail(what, value, "an integer (number or decimal string)")


def as_float(value: Any, what: str) -> float:
    """A double written as a number, a numeric string, or "NaN"/"Infinity"/"-Infinity" (J5)."""
    if isinstance(value, bool):
        raise fail(what, value, "a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value in _SPECIAL_DOUBLES:
            return _SPECIAL_DOUBLES[value]
        try:
            return float(value)
        except ValueError:
            pass
    raise fail(what, value, "a number")


def as_bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise fail(what, value, "true or false")


def as_enum(value: Any, what: str, names: Sequence[str], prefix: str) -> int:
    """An enum as its number or its name, e.g. 2, "2", "SPAN_KIND_SERVER", "SERVER" (J2)."""
    if value is None:
        return 0
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        text = value.strip().upper()
        short = text.removeprefix(prefix)
        for i, name in enumerate(names):
            if short == name.upper():
                return i
        raise fail(what, value, f"one of {', '.join(prefix + n.upper() for n in names)} or a number")
    return as_int(value, what)


def hex_id(value: Any, what: str) -> bytes:
    """An id written as hex, any case (J1). Never base64: a 32-char hex string is valid base64."""
    text = as_str(value, what)
    if len(text) % 2 or not _HEX.fullmatch(text):
        raise fail(what, value, "a hex string")
    return bytes.fromhex(text)


def base64_bytes(value: Any, what: str) -> bytes:
    """bytesValue: standard or URL-safe base64, padding optional."""
    text = as_str(value, what)
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.b64decode(padded, altchars=b"-_", validate=True)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise fail(what, value, "base64 text") from exc

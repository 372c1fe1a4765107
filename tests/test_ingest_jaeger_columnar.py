"""The columnar Jaeger decoder against the reference (json.loads + per-span Python).

Property under test: for any input, the columnar decoder either returns exactly the
reference's DecodeResult (same frame, same rejections and sentences) or returns None (the
caller then runs the reference); it never returns a result where the reference raises.
Inputs: hand-written edge cases, frames from the test builders and the benchmark workload
through encode_jaeger_json, Jaeger documents built from the shared golden cases
(fixtures/testdata, copies of ../shared/testdata), hypothesis-made documents and byte
mutations of valid ones.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracelens.errors import DecodeError
from tracelens.ingest import decode_bytes, decode_file, decode_jaeger_json, encode_jaeger_json
from tracelens.ingest.jaeger import SPECIAL_TAGS, decode_jaeger_fast, decode_jaeger_reference
from tracelens.ingest.jaeger_columnar import _SPECIAL
from tracelens.testing import make_trace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.workload import realistic_requests  # noqa: E402

TESTDATA = ROOT / "fixtures" / "testdata"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def reference(data: bytes | str) -> Any:
    """The reference's result, or the DecodeError it raises."""
    try:
        return decode_jaeger_reference(data)
    except DecodeError as exc:
        return exc


def assert_same(data: bytes | str, *, fast_path: bool | None = None) -> None:
    """The columnar result equals the reference's (or is None: fallback). ``fast_path``:
    True = must not fall back, False = must fall back."""
    expected = reference(data)
    fast = decode_jaeger_fast(data)
    if fast_path is not None:
        assert (fast is not None) == fast_path, "fast path taken" if fast is not None else "fell back"
    if isinstance(expected, DecodeError):
        assert fast is None, f"fast path accepted input the reference rejects: {expected}"
        with pytest.raises(DecodeError) as raised:
            decode_jaeger_json(data)
        assert str(raised.value) == str(expected)
        return
    actual = decode_jaeger_json(data)  # the public entry: fast or fallback
    for result in (actual, fast) if fast is not None else (actual,):
        assert result.spans.schema == expected.spans.schema
        assert result.spans.equals(expected.spans), _first_difference(result.spans, expected.spans)
        assert result.rejected == expected.rejected
        assert result.rejected_by_reason == expected.rejected_by_reason
        assert result.errors == expected.errors


def _first_difference(a: pl.DataFrame, b: pl.DataFrame) -> str:
    if a.height != b.height:
        return f"heights {a.height} != {b.height}"
    for name in a.columns:
        if not a[name].equals(b[name]):
            i = next(i for i in range(a.height) if a[name].slice(i, 1).to_list() != b[name].slice(i, 1).to_list())
            return f"column {name!r} row {i}: {a[name][i]!r} != {b[name][i]!r}"
    return "equal?"


def doc(*spans: dict[str, Any], processes: dict[str, Any] | None = None, trace_id: Any = "abc", **trace: Any) -> dict[str, Any]:
    body = {"traceID": trace_id, "spans": list(spans), "processes": processes if processes is not None else {"p1": {"serviceName": "svc", "tags": []}}}
    body.update(trace)
    return {"data": [body]}


def span(span_id: Any = "1", **fields: Any) -> dict[str, Any]:
    out = {"traceID": "abc", "spanID": span_id, "operationName": "op", "references": [], "startTime": 1_700_000_000_000_000,
           "duration": 5, "tags": [], "logs": [], "processID": "p1", "warnings": None}
    out.update(fields)
    return out


def tag(key: str, value: Any, kind: Any = "string") -> dict[str, Any]:
    return {"key": key, "type": kind, "value": value}


def test_special_tag_table_matches_the_reference():
    assert set(_SPECIAL) == set(SPECIAL_TAGS)


# --- hand-written edge cases: fast path taken ---------------------------------------------
FAST_CASES: dict[str, Any] = {
    "short and uppercase ids": doc(span("A1", traceID="ABC"), span("2", references=[{"refType": "CHILD_OF", "traceID": "abc", "spanID": "a1"}])),
    "invalid ids are rejected one by one": doc(
        span(""), span("zz"), span("0"), span("1" * 17), span(None), span(5), span("3", traceID="0"),
        span("4", traceID="g"), span("5", traceID=None), span("6", traceID="1" * 33), span("7"), span("8", operationName="n\u00e9"),
    ),
    "more than twenty rejections keep twenty sentences": doc(*[span("", operationName=f"s{i}") for i in range(30)], span("1")),
    "trace id from the trace, given after the spans": {"data": [{"spans": [{"spanID": "1", "operationName": "x", "processID": "p1"},
                                                                          {"spanID": "2", "references": [{"spanID": "1"}]}],
                                                                "processes": {"p1": {"serviceName": "a"}}, "traceID": "feed"}]},
    "no trace id anywhere": {"data": [{"spans": [{"spanID": "1"}]}]},
    "references": doc(
        span("1"),
        span("2", references=[{"refType": "FOLLOWS_FROM", "traceID": "abc", "spanID": "1"}]),
        span("3", references=[{"refType": "CHILD_OF", "traceID": "other", "spanID": "1"}, {"refType": "child_of", "spanID": "2"}]),
        span("4", references=[{"refType": "CHILD_OF", "traceID": "abc", "spanID": "bad!"}, {"refType": "CHILD_OF", "spanID": "2"},
                              {"refType": "CHILD_OF", "spanID": "3"}]),
        span("5", references=[{"refType": None, "spanID": "1"}, {"refType": 7, "traceID": None, "spanID": None}, {"spanID": "1"}]),
        span("6", references=[{"refType": "CHILD_OF", "spanID": "0"}, {"refType": "CHILD_OF", "spanID": "1"}]),
        span("7", references=None, parentSpanID="1"),
        span("8", references=[{"refType": "FOLLOWS_FROM", "spanID": "1"}], parentSpanID="2"),
        span("9", references=[{"refType": "CHILD_OF", "spanID": "x"}], parentSpanID="zz"),
        span("a", parentSpanID=7),
        span("b", traceID="", references=[{"refType": "CHILD_OF", "traceID": "", "spanID": "1"}]),
    ),
    "tags of every type": doc(span(tags=[
        tag("s", "x"), tag("b1", True, "bool"), tag("b2", "false", "BOOL"), tag("i", -42, "int64"), tag("i0", None, "int64"),
        tag("f1", 0.1, "float64"), tag("f2", 1e300, "float64"), tag("f3", -0.0, "float64"), tag("f4", 3, "float64"),
        tag("f5", 12345678901234567891, "float64"), tag("f6", 1.7976931348623157e308, "float64"), tag("f7", 5e-324, "float64"),
        tag("f8", 2.5e-3, "float64"), tag("f9", 123456.789e3, "float64"), tag("bin", "AAE=", "binary"), tag("bin0", None, "binary"),
        tag("bin-unpadded", "AAE", "binary"), tag("bin-urlsafe", "-_8", "binary"), tag("bin-long", "AAECAwQFBgcICQoLDA0ODxAREhM=", "binary"),
        tag("u", "x", "unknown-type"), tag("n", None), {"key": "notype", "value": "v"}, {"key": "novalue", "type": "string"},
        {"type": "string", "value": "nokey"}, tag("t", "y", None), tag("t2", "z", 5), tag("big", 9223372036854775807, "int64"),
        tag("small", -9223372036854775808, "int64"),
    ])),
    "special tags": doc(
        span("1", tags=[tag("span.kind", "SERVER"), tag("otel.status_code", "error"), tag("otel.status_description", "bad"),
                        tag("otel.scope.name", "lib"), tag("otel.library.name", "old"), tag("otel.library.version", "0.1"),
                        tag("w3c.tracestate", "k=v")]),
        span("2", tags=[tag("span.kind", "weird"), tag("error", True, "bool"), tag("otel.status_code", "OK")]),
        span("3", tags=[tag("error", "TRUE")]),
        span("4", tags=[tag("error", "no"), tag("span.kind", True, "bool"), tag("otel.status_code", 2, "int64")]),
        span("5", tags=[tag("error", 1, "int64"), tag("span.kind", "Consumer")]),
    ),
    "promoted attributes (current and legacy names)": doc(span(tags=[
        tag("http.method", "GET"), tag("http.request.method", "POST"), tag("http.status_code", 503, "int64"),
        tag("db.system", "pg"), tag("net.peer.name", "db1"), tag("http.route", 5, "int64"),
    ]), processes={"p1": {"serviceName": "svc", "tags": [tag("host.name", "h"), tag("deployment.environment", "prod"),
                                                          tag("service.version", 2, "int64")]}}),
    "logs": doc(span(logs=[
        {"timestamp": 1_700_000_000_000_001, "fields": [tag("event", "exception"), tag("exception.message", "boom")]},
        {"timestamp": None, "fields": None}, {"fields": [tag("x", 1, "int64")]}, {},
    ])),
    "processes": doc(
        span("1", processID="p2"), span("2", processID=None), span("3", processID="missing"), span("4", processID="p\u00e9"),
        {"spanID": "5", "traceID": "abc"},
        processes={"p2": {"serviceName": "", "tags": [tag("service.name", "from-tag"), tag("a", 1, "int64")]},
                   "None": {"serviceName": "none-svc", "tags": [tag("service.name", "dropped")]},
                   "": {"serviceName": "empty-key"}, "p\u00e9": {"tags": None, "serviceName": None}},
    ),
    "spans without a matching process and no default": doc(span("1", processID="nope"), processes={}),
    "escapes and unicode": doc(span(operationName="caf\u00e9 \"q\" \\ \n \t \u2028 \U0001f600 /", tags=[
        tag("k\u00e9y", "v\u00e4l"), tag("esc\"aped", "a\\b"), tag("span.kin\u0064", "server"),
    ])),
    "flags and times": doc(span("1", flags=None), span("2", flags=0), span("3", flags=-1), span("4", startTime=None, duration=None),
                           span("5", startTime=-5, duration=9_223_372_036_854_775), span("6", startTime=9_223_372_036_854_775_807)),
    "extra keys everywhere": {"total": 1, "limit": 0, "errors": None, "data": [
        {"traceID": "1", "extra": {"a": [1, 2, {"b": None}]}, "spans": [span("1", traceID="1", extra=[True, False, 1.5e3, "s"])],
         "processes": {"p1": {"serviceName": "x", "other": "y"}}, "warnings": ["w"]}], "offset": 0},
    "inline process that is not an object": doc(span(process=None), span("2", process="p")),
    "empty data": {"data": []},
    "null data": {"data": None},
    "null lists": doc(span(tags=None, logs=None, references=None), processes=None),
    "trace without spans": {"data": [{"traceID": "1", "spans": None}, {"traceID": "2"}]},
    "empty operation name and null": doc(span("1", operationName=""), span("2", operationName=None)),
    "skipped values nested 60 deep": doc(span(extra=json.loads("[" * 30 + '{"a": ' * 30 + "1" + "}" * 30 + "]" * 30))),
    "500 tags": doc(span(tags=[tag(f"k{i}", i, "int64") for i in range(500)])),
}


@pytest.mark.parametrize("name", list(FAST_CASES))
def test_fast_path_equals_reference(name):
    assert_same(json.dumps(FAST_CASES[name]).encode(), fast_path=True)


@pytest.mark.parametrize("name", ["short and uppercase ids", "tags of every type", "escapes and unicode", "references"])
def test_fast_path_is_layout_independent(name):
    """Whitespace, key order and escaping do not matter."""
    document = FAST_CASES[name]
    for text in (json.dumps(document, indent=2), json.dumps(document, separators=(",", ":"), ensure_ascii=False),
                 json.dumps(document, sort_keys=True), "\n\t " + json.dumps(document) + " \r\n"):
        assert_same(text.encode(), fast_path=True)
    assert_same(json.dumps(document), fast_path=True)  # str input


# --- input the fast path leaves to the reference -----------------------------------------
FALLBACK_CASES: dict[str, bytes] = {
    "duplicate tag keys": json.dumps(doc(span(tags=[tag("a", "1"), tag("b", "2"), tag("a", "3")]))).encode(),
    "duplicate span key": b'{"data": [{"spans": [{"spanID": "1", "spanID": "2"}]}]}',
    "duplicate process key": b'{"data": [{"spans": [], "processes": {"p": {}, "p": {"serviceName": "x"}}}]}',
    "space in an id (fromhex skips it)": json.dumps(doc(span("  ab"))).encode(),
    "escaped id": b'{"data": [{"spans": [{"spanID": "\\u0031"}]}]}',
    "numbers as strings": json.dumps(doc(span(startTime="1700000000000000"))).encode(),
    "float time": json.dumps(doc(span(duration=5.0))).encode(),
    "int64 tag as string": json.dumps(doc(span(tags=[tag("n", "5", "int64")]))).encode(),
    "string tag with a number": json.dumps(doc(span(tags=[tag("n", 5)]))).encode(),
    "NaN double": b'{"data": [{"spans": [{"spanID": "1", "tags": [{"key": "f", "type": "float64", "value": NaN}]}]}]}',
    "special tag that needs str()": json.dumps(doc(span(tags=[tag("otel.status_description", 5, "int64")]))).encode(),
    "event name that needs str()": json.dumps(doc(span(logs=[{"fields": [tag("event", 5, "int64")]}]))).encode(),
    "non-ASCII kind": json.dumps(doc(span(tags=[tag("span.kind", "\u017eerver")]))).encode(),
    "null tag": json.dumps(doc(span(tags=[None]))).encode(),
    "null reference": json.dumps(doc(span(references=[None]))).encode(),
    "null process": json.dumps(doc(span(), processes={"p1": None})).encode(),
    "inline process object": json.dumps(doc(span(process={"serviceName": "inline"}))).encode(),
    "single trace without data": json.dumps({"traceID": "1", "spans": [span()]}).encode(),
    "list of traces": json.dumps([{"traceID": "1", "spans": [span()]}]).encode(),
    "UTF-8 BOM": b"\xef\xbb\xbf" + json.dumps(doc(span())).encode(),
    "lone surrogate": b'{"data": [{"spans": [{"spanID": "1", "operationName": "\\ud800"}]}]}',
    "big int": json.dumps(doc(span(tags=[tag("n", 2**70, "int64")]))).encode(),
    "skipped value nested deeper than the kernel's stack": json.dumps(doc(span(extra=json.loads("[" * 70 + "]" * 70)))).encode(),
    "more tags than the pairwise duplicate check": json.dumps(doc(span(tags=[tag(f"k{i}", "v") for i in range(600)]))).encode(),
}
ERROR_CASES: dict[str, bytes] = {
    "not JSON": b"{oops",
    "data not a list": b'{"data": 5}',
    "time not a number": b'{"data": [{"spans": [{"startTime": "soon"}]}]}',
    "int64 tag not a number": b'{"data": [{"spans": [{"tags": [{"key": "x", "type": "int64", "value": "nope"}]}]}]}',
    "a number": b"42",
    "truncated": json.dumps(doc(span())).encode()[:-3],
    "trailing garbage": json.dumps(doc(span())).encode() + b" x",
    "invalid UTF-8": b'{"data": [{"spans": [{"spanID": "1", "operationName": "\xff"}]}]}',
    "raw control character": b'{"data": [{"spans": [{"spanID": "1", "operationName": "a\x01"}]}]}',
    "leading zero": b'{"data": [{"spans": [{"spanID": "1", "duration": 01}]}]}',
    "bad bool": json.dumps(doc(span(tags=[tag("b", "yes", "bool")]))).encode(),
    "bad base64": json.dumps(doc(span(tags=[tag("b", "!!", "binary")]))).encode(),
    "operation name not a string": json.dumps(doc(span(operationName=5))).encode(),
    "tags not a list": json.dumps(doc(span(tags={"a": 1}))).encode(),
    "OTLP JSON": b'{"resourceSpans": []}',
}


@pytest.mark.parametrize("name", list(FALLBACK_CASES))
def test_fallback_to_the_reference(name):
    assert_same(FALLBACK_CASES[name], fast_path=False)


@pytest.mark.parametrize("name", list(ERROR_CASES))
def test_errors_are_the_reference_errors(name):
    assert_same(ERROR_CASES[name], fast_path=False)


# --- generated inputs ----------------------------------------------------------------------
def test_builder_frames_round_trip_on_the_fast_path():
    rows = [
        {"span": "root", "service": "web", "name": "GET /", "start": 0, "end": 100, "kind": "server",
         "attrs": {"http.route": "/x", "n": 3, "f": 1.5, "b": True, "raw": b"\x00\x01"},
         "resource": {"host.name": "h1"}, "events": [(5, "exception", {"exception.type": "E"})],
         "links": [("t2", "s2", {})], "status": "error", "status_message": "bad"},
        {"span": "db", "parent": "root", "service": "db", "start": 10, "end": 60, "kind": "client", "scope": "sql"},
        {"span": "other", "trace": "t3", "service": "web", "start": 3, "end": 4, "kind": "unspecified", "status": "ok"},
    ]
    data = json.dumps(encode_jaeger_json(make_trace(rows))).encode()
    assert_same(data, fast_path=True)


def test_realistic_workload_on_the_fast_path():
    from tracelens.ingest import decode_otlp_protobuf

    frames = [decode_otlp_protobuf(r).spans for r in realistic_requests(3, spans_per_request=200, seed=11)]
    data = json.dumps(encode_jaeger_json(pl.concat(frames))).encode()
    assert_same(data, fast_path=True)


def _golden_documents() -> dict[str, bytes]:
    """Jaeger documents from the shared golden cases (critical path, clock skew): their
    ids as given (mostly not hex: rejected) and mapped to hex."""
    out = {}
    cases = json.loads((TESTDATA / "critical_path" / "jaeger_ui_cases.json").read_text())["cases"]
    for name, case in cases.items():
        ids = {c["id"]: f"{i + 1:x}" for i, c in enumerate(case["spans"])}
        for mapped in (False, True):
            spans = []
            for c in case["spans"]:
                sid = ids[c["id"]] if mapped else c["id"]
                refs = []
                if "parent" in c:
                    refs.append({"refType": c.get("ref", "CHILD_OF"), "traceID": "c0ffee", "spanID": ids[c["parent"]] if mapped else c["parent"]})
                tags = [tag("span.kind", c["kind"])] if "kind" in c else []
                spans.append(span(sid, traceID="c0ffee", startTime=c["start"], duration=c["dur"], references=refs, tags=tags))
            out[f"critical-path {name} {'hex' if mapped else 'raw'}"] = json.dumps(doc(*spans, trace_id="c0ffee")).encode()
    skew = json.loads((TESTDATA / "clock_skew_cases.json").read_text())["cases"]
    for k, case in enumerate(skew):
        spans, processes = [], {}
        for sid, parent, start, dur, host, _expected in case["spans"]:
            processes.setdefault(f"p-{host}", {"serviceName": f"svc-{host}", "tags": [tag("host.name", host)]})
            refs = [{"refType": "CHILD_OF", "spanID": f"{parent:x}"}] if parent else []
            spans.append(span(f"{sid:x}", traceID="5ca1ab1e", startTime=start * 1000, duration=dur * 1000, references=refs, processID=f"p-{host}"))
        out[f"clock-skew {k}"] = json.dumps(doc(*spans, trace_id="5ca1ab1e", processes=processes)).encode()
    return out


GOLDEN = _golden_documents()


@pytest.mark.parametrize("name", list(GOLDEN))
def test_shared_golden_cases_as_jaeger_documents(name):
    assert_same(GOLDEN[name], fast_path=True)


# --- hypothesis ------------------------------------------------------------------------------
HEXISH = st.text(alphabet="0123456789abcdefABCDEF", min_size=0, max_size=34)
IDS = st.one_of(HEXISH, HEXISH, st.sampled_from(["", "0", "00000000000000000", "xyz", "1 2", "é"]), st.none(), st.integers(0, 9))
TEXT = st.text(max_size=8)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(allow_nan=False), TEXT)
TAG_KEYS = st.one_of(TEXT, st.sampled_from(sorted(SPECIAL_TAGS) + ["http.status_code", "http.route", "service.name", "event",
                                                                    "host.name", "db.system", "peer.service"]))
TAG_TYPES = st.sampled_from(["string", "bool", "int64", "float64", "binary", "BOOL", "Int64", None, "other"])


@st.composite
def tags(draw: Any) -> list[Any]:
    out = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(TAG_TYPES)
        value = draw(st.one_of(SCALARS, st.sampled_from(["true", "false", "AAE=", "SERVER", "error", "OK", "TRUE"])))
        item: dict[str, Any] = {"key": draw(TAG_KEYS), "value": value}
        if kind is not None or draw(st.booleans()):
            item["type"] = kind
        out.append(item)
    return out


@st.composite
def documents(draw: Any) -> dict[str, Any]:
    traces = []
    for _ in range(draw(st.integers(0, 3))):
        trace_id = draw(IDS)
        span_ids = [draw(IDS) for _ in range(draw(st.integers(0, 5)))]
        processes = {f"p{i}": {"serviceName": draw(st.one_of(TEXT, st.none())), "tags": draw(tags())} for i in range(draw(st.integers(0, 2)))}
        spans = []
        for sid in span_ids:
            item: dict[str, Any] = {"spanID": sid, "operationName": draw(st.one_of(TEXT, st.none())),
                                    "startTime": draw(st.integers(-(2**40), 2**62)), "duration": draw(st.integers(0, 2**40)),
                                    "tags": draw(tags()), "processID": draw(st.sampled_from(["p0", "p1", "p9", None]))}
            if draw(st.booleans()):
                item["traceID"] = draw(st.one_of(st.just(trace_id), IDS))
            item["references"] = [
                {"refType": draw(st.sampled_from(["CHILD_OF", "FOLLOWS_FROM", "child_of", None])), "spanID": draw(st.one_of(st.sampled_from(span_ids or ["1"]), IDS)),
                 **({"traceID": draw(st.one_of(st.just(trace_id), IDS))} if draw(st.booleans()) else {})}
                for _ in range(draw(st.integers(0, 2)))
            ]
            if draw(st.booleans()):
                item["logs"] = [{"timestamp": draw(st.integers(0, 2**60)), "fields": draw(tags())} for _ in range(draw(st.integers(0, 2)))]
            if draw(st.booleans()):
                item["flags"] = draw(st.one_of(st.none(), st.integers(0, 255)))
            if draw(st.booleans()):
                item["parentSpanID"] = draw(IDS)
            spans.append(item)
        trace: dict[str, Any] = {"spans": spans, "processes": processes}
        if draw(st.booleans()):
            trace["traceID"] = trace_id
        traces.append(trace)
    return {"data": traces}


@SETTINGS
@given(documents(), st.booleans())
def test_hypothesis_documents(document, ascii_only):
    assert_same(json.dumps(document, ensure_ascii=ascii_only).encode())


BASE = json.dumps(FAST_CASES["tags of every type"] | {"data": FAST_CASES["tags of every type"]["data"] + FAST_CASES["references"]["data"]}).encode()


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, len(BASE) - 1), st.integers(0, 255)), min_size=1, max_size=3))
def test_byte_mutations(mutations):
    data = bytearray(BASE)
    for position, value in mutations:
        data[position] = value
    assert_same(bytes(data))


# --- the file path ---------------------------------------------------------------------------
def test_decode_file_uses_the_fast_path_and_keeps_other_formats(tmp_path, monkeypatch):
    data = json.dumps(FAST_CASES["references"]).encode()
    (tmp_path / "j.json").write_bytes(data)
    expected = decode_jaeger_reference(data)
    assert decode_file(tmp_path / "j.json").spans.equals(expected.spans)
    # JSON lines of Jaeger documents: the fast path declines, the line-by-line path decodes
    assert decode_bytes(data + b"\n" + data + b"\n").spans.height == 2 * expected.spans.height
    # fallback on the file path gives the reference's frame
    import tracelens.ingest.files as files

    monkeypatch.setattr(files, "decode_jaeger_fast", lambda _data: None)
    assert decode_file(tmp_path / "j.json").spans.equals(expected.spans)


def test_decode_file_reads_jaeger_without_json_loads(tmp_path, monkeypatch):
    """The whole point: no Python object per value on the file path."""
    import tracelens.ingest._jsonvalues as jsonvalues
    import tracelens.ingest.files as files

    data = json.dumps(FAST_CASES["tags of every type"]).encode()
    (tmp_path / "j.json").write_bytes(data)
    expected = decode_jaeger_reference(data)

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("json.loads called")

    monkeypatch.setattr(files.json, "loads", refuse)
    monkeypatch.setattr(jsonvalues.json, "loads", refuse)
    assert decode_file(tmp_path / "j.json").spans.equals(expected.spans)
    with pytest.raises(AssertionError, match="json.loads called"):
        decode_file_path = tmp_path / "fallback.json"
        decode_file_path.write_bytes(FALLBACK_CASES["duplicate tag keys"])
        decode_file(decode_file_path)

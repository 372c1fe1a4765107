import json

import pytest
from click.testing import CliRunner

from tracelens.cli.main import cli
from tracelens.store import Store

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
def checkout_store(tmp_path_factory, checkout_spans):
    path = tmp_path_factory.mktemp("store")
    with Store.open(path) as store:
        store.append(checkout_spans)
    return path


def _run(*args):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"})


def test_show_renders_the_expected_tree(checkout_store, fixtures_dir):
    result = _run("show", TRACE, "--data", str(checkout_store))
    assert result.exit_code == 0, result.output
    expected = (fixtures_dir / "expected" / "show_checkout.txt").read_text()
    assert result.output == expected
    assert result.output.rstrip().endswith("Bottleneck: credit-card-api (82% of total time)")


def test_show_json_and_export(checkout_store):
    result = _run("show", TRACE, "--data", str(checkout_store), "--json")
    payload = json.loads(result.output)
    assert payload["bottleneck"] == "credit-card-api" and round(payload["bottleneck_share"], 2) == 0.82
    assert payload["duration_ms"] == 2190 and payload["span_count"] == 7


def test_show_user_mistakes_are_one_clean_line(checkout_store, tmp_path):
    unknown = _run("show", "0" * 31 + "1", "--data", str(checkout_store))
    assert unknown.exit_code == 1 and "no spans for trace" in unknown.output and "Traceback" not in unknown.output
    missing = _run("show", TRACE, "--data", str(tmp_path / "nope"))
    assert missing.exit_code == 2 and "no span store at" in missing.output


@pytest.mark.parametrize("fmt", ["otlp-json", "jaeger-json"])
def test_show_exports_the_trace(checkout_store, checkout_spans, fmt):
    from polars.testing import assert_frame_equal

    from tracelens import schema as s
    from tracelens.ingest import decode_jaeger_json, decode_otlp_json

    result = _run("show", TRACE, "--data", str(checkout_store), "--format", fmt)
    assert result.exit_code == 0, result.output
    decode = decode_otlp_json if fmt == "otlp-json" else decode_jaeger_json
    back = decode(result.output).spans.sort(s.SPAN_ID)
    if fmt == "otlp-json":
        assert_frame_equal(back, checkout_spans.sort(s.SPAN_ID))
    else:  # Jaeger's model has no scope version/flags: compare what it carries
        cols = [s.TRACE_ID, s.SPAN_ID, s.PARENT_SPAN_ID, s.NAME, s.KIND, s.SERVICE_NAME, s.START, s.END, s.STATUS_CODE]
        assert_frame_equal(back.select(cols), checkout_spans.sort(s.SPAN_ID).select(cols))

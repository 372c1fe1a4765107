import time

from rich.console import Console

from tracelens.testing import make_trace, span_id_for, trace_id_for
from tracelens.views.trace_view import layout, render_trace


def _text(renderable, width=100):
    console = Console(width=width, color_system=None, force_terminal=False, record=True)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def _small():
    return make_trace([
        {"span": "fe", "service": "web", "name": "GET /", "kind": "server", "start": 0, "end": 100},
        {"span": "b", "parent": "fe", "service": "api", "name": "call", "start": 50, "end": 100, "status": "error",
         "status_message": "boom"},
        {"span": "a", "parent": "fe", "service": "api", "name": "call", "start": 10, "end": 40},
    ])


def test_layout_orders_children_by_start_and_draws_guides():
    lines = layout(_small())
    assert [ln.span["span_id"] for ln in lines] == [span_id_for(x) for x in ("fe", "a", "b")]
    assert [ln.guide for ln in lines] == ["└─ ", "   ├─ ", "   └─ "]


def test_render_exact_text():
    text = _text(render_trace(_small(), critical={span_id_for("fe"), span_id_for("b")},
                              self_times={span_id_for("fe"): 20_000_000}, bottleneck="api (50% of total time)"))
    lines = text.splitlines()
    assert lines[0] == f"trace {trace_id_for('trace-1')}  100 ms  3 spans  1 error"
    # labels padded to the longest (15) + 1, a space, a 20-column bar placed at start/total
    assert lines[1] == "└─ web  GET /" + " " * 4 + "━" * 20 + "     100 ms  self     20 ms ◆"
    assert lines[2] == "   ├─ api  call" + " " * 2 + "  " + "━" * 6 + " " * 12 + "      30 ms  self      0 ms"
    assert lines[3].endswith("50 ms  self      0 ms ◆ error: boom")
    assert lines[-1] == "Bottleneck: api (50% of total time)"


def test_deep_chain_and_wide_fanout_render_quickly():
    chain = make_trace([{"span": "s0", "start": 0, "end": 50_000}] +
                       [{"span": f"s{i}", "parent": f"s{i-1}", "start": i, "end": 50_000} for i in range(1, 3_000)])
    started = time.perf_counter()
    lines = layout(chain, max_depth=30)
    assert len(lines) == 30
    text = _text(render_trace(chain, max_depth=30))
    assert "2970 deeper span(s) not shown" in text
    fan = make_trace([{"span": "root", "start": 0, "end": 3_000}] +
                     [{"span": f"c{i}", "parent": "root", "service": "db", "name": "q", "start": i, "end": i + 1}
                      for i in range(3_000)])
    text = _text(render_trace(fan, collapse=5))
    assert "2996 × db  q" in text and len(text.splitlines()) == 1 + 1 + 5
    assert time.perf_counter() - started < 10

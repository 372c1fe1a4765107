"""docs/analysis.md: the example runs and says what it claims."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_docs_example_runs(monkeypatch):
    text = (ROOT / "docs" / "analysis.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(code, "docs/analysis.md", "exec"), namespace)  # noqa: S102 - our own docs
    [row] = namespace["tracelens"].bottlenecks(namespace["spans"]).to_dicts()
    assert row["service_name"] == "credit-card-api" and round(row["share"], 2) == 0.82
    assert len(namespace["tree"]) == 7

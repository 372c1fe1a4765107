"""Keep the layering of DESIGN.md true: each layer imports only layers to its left/above.

receiver never reads (no analysis), store knows nothing of traces, analysis never prints,
views never compute (they render frames they are given). Only cli/, demo/ and the package
facade combine layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tracelens"
BASE = {"schema", "errors", "config"}

# layer -> tracelens layers it may import
ALLOWED: dict[str, set[str]] = {
    "schema": {"errors"},
    "errors": set(),
    "config": set(),
    "testing": BASE,
    "filters": BASE,
    "ingest": BASE,
    "store": BASE | {"ingest"},  # WAL records may hold raw OTLP requests, decoded again on replay
    "receiver": BASE | {"ingest", "store"},
    "model": BASE,
    "analysis": BASE | {"model", "filters"},
    "slo": BASE | {"model", "analysis", "filters"},
    "canary": BASE | {"model", "analysis", "filters", "slo"},
    "views": BASE | {"model"},
}
COMBINERS = {"cli", "demo", "__init__", "__main__"}


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _display_hook_nodes(tree: ast.AST) -> set[int]:
    """Nodes inside ``_repr_html_`` methods. A display hook is notebook-facade code: it may
    import tracelens.views and tracelens.analysis lazily (only Jupyter calls it), so a
    TraceTree or a ServiceGraph renders in a notebook without model/analysis importing
    the layers to their right at module level."""
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "_repr_html_"
        for inner in ast.walk(node)
    }


def _imported_layers(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    hooks = _display_hook_nodes(tree)
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "tracelens":
                names = [f"tracelens.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "tracelens" and len(parts) > 1:
                if id(node) in hooks and parts[1] in ("views", "analysis"):
                    continue
                found.add(parts[1])
    return found


def test_layers_import_only_leftwards():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(path)
        if layer in COMBINERS:
            continue
        allowed = ALLOWED.get(layer)
        assert allowed is not None, f"{path}: layer {layer!r} is not in tests/test_layers.py ALLOWED"
        imported = _imported_layers(ast.parse(path.read_text(), str(path))) - {layer}
        bad = imported - allowed
        if bad:
            violations.append(f"{path.relative_to(PACKAGE)} imports {sorted(bad)}")
    assert not violations, "\n".join(violations)


def test_analysis_never_prints():
    offenders = []
    for layer in ("analysis", "model", "slo", "canary", "store", "ingest", "filters"):
        for path in sorted((PACKAGE / layer).rglob("*.py")) if (PACKAGE / layer).is_dir() else [PACKAGE / f"{layer}.py"]:
            if not path.exists():
                continue
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, offenders

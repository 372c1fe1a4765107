"""Every array a kernel views through unmanaged() must outlive the view.

unmanaged(x) copies the array struct with a NULL meminfo; numba frees a local array at its
last use, so an owner used only in the unmanaged() call is freed at once and every write
through the view lands in freed heap memory (scan_request's s_prio_o / r_prio_o did that:
heap corruption, "Fatal Python error: Aborted", when other threads allocate meanwhile).
An owner is safe when it is an argument (the caller holds it), a module-level array
(numba freezes those), or used again after its last view is taken (e.g. returned)."""

from __future__ import annotations

import ast
import inspect
import re

import pytest

from tracelens.ingest import _jaeger_scan, _jsonscan, _wire


def _unsafe_owners(module) -> list[str]:
    tree = ast.parse(inspect.getsource(module))
    problems = []
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        args = {a.arg for a in fn.args.args}
        aliases = {"unmanaged"} | {t.id for n in ast.walk(fn) if isinstance(n, ast.Assign)
                                    and isinstance(n.value, ast.Name) and n.value.id == "unmanaged"
                                    for t in n.targets if isinstance(t, ast.Name)}
        calls = [c for c in ast.walk(fn) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
                 and c.func.id in aliases and c.args and isinstance(c.args[0], ast.Name)]
        for call in calls:
            owner = call.args[0].id
            if owner in args or not re.match(r"[a-z_]\w*$", owner) or owner.isupper():
                continue
            sources = [n.value for n in ast.walk(fn) if isinstance(n, ast.Assign)
                       and any(isinstance(t, ast.Name) and t.id == owner for tgt in n.targets for t in ast.walk(tgt))]
            if all(isinstance(v, ast.Name) and v.id.isupper() for v in sources):
                continue  # not a local allocation: a module-level array (numba freezes it)
            later = [n for n in ast.walk(fn) if isinstance(n, ast.Name) and n.id == owner and isinstance(n.ctx, ast.Load)
                     and n.lineno > max(c.lineno for c in calls if c.args[0].id == owner)]
            if not later:
                problems.append(f"{module.__name__}.{fn.name}: {owner} is freed right after unmanaged({owner})")
    return sorted(set(problems))


@pytest.mark.parametrize("module", [_wire, _jaeger_scan, _jsonscan])
def test_owners_of_unmanaged_views_outlive_them(module):
    assert _unsafe_owners(module) == []

"""`tracelens --help` must start fast: heavy modules (polars, numba, grpc) load lazily."""

import subprocess
import sys
import time


def _best_of(runs: int, args: list[str]) -> tuple[float, str]:
    best, out = float("inf"), ""
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True).stdout
        best = min(best, time.perf_counter() - started)
    return best, out


def test_help_starts_in_under_half_a_second():
    best, out = _best_of(5, ["-m", "tracelens", "--help"])
    assert "Usage" in out
    # 0.5 s on a quiet machine (a bare `import click` costs ~0.1 s there). On a loaded one
    # everything is slower, so the bound also scales with what the bare import costs now.
    baseline, _ = _best_of(5, ["-c", "import click"])
    bound = max(0.5, 2.5 * baseline)
    assert best < bound, f"tracelens --help took {best:.2f}s (bound {bound:.2f}s, bare click import {baseline:.2f}s)"


def test_help_imports_no_heavy_module():
    code = (
        "import sys; from tracelens.cli.main import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('polars', 'numba', 'grpc', 'networkx', 'deltalake', 'pyarrow') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY=", out.stdout

"""A terminal session as a user would type it: a real shell in a pseudo-terminal (pexpect)."""

import os
import shutil
import sys
from pathlib import Path

import pexpect
import pytest

from tracelens.store import Store

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture()
def shell(tmp_path, checkout_spans):
    with Store.open(tmp_path / "data") as store:
        store.append(checkout_spans)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "PS1": "$ ",
           "TRACELENS_DATA": str(tmp_path / "data"), "COLUMNS": "100", "LINES": "50", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(shutil.which("bash") or "/bin/bash", ["--norc", "--noprofile"], env=env,
                          encoding="utf-8", timeout=60, dimensions=(50, 100))
    child.expect_exact("$ ")
    yield child
    child.sendline("exit")
    child.close()


def test_incident_session(shell):
    shell.sendline(f"tracelens show {TRACE}")
    shell.expect_exact("Bottleneck: credit-card-api (82% of total time)")
    shell.expect_exact("$ ")
    shell.sendline("tracelens stats " + TRACE + " --by service | head -5")
    shell.expect_exact("82.2%")  # the first row: credit-card-api's share of the trace
    shell.expect_exact("$ ")
    shell.sendline("tracelens show 00000000000000000000000000000001; echo exit=$?")
    shell.expect_exact("no spans for trace")
    shell.expect_exact("exit=1")
    shell.sendline("tracelens services --since 100000d --json | head -3; echo done")
    shell.expect_exact('"total": 7')
    shell.expect_exact("done")

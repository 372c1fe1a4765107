"""The ``tracelens`` command: a click group whose subcommands are imported lazily.

Each command lives in its own module under tracelens/cli/ and is a thin adapter:
parse options -> one library call -> render. Register it in COMMANDS below.
Exit codes: 0 ok, 1 failure, 2 usage error (click's own convention).
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:function" (keep sorted)
COMMANDS: dict[str, str] = {
    "critical-path": "tracelens.cli.critical_path:critical_path",
    "canary": "tracelens.cli.canary:canary",
    "compact": "tracelens.cli.compact:compact",
    "demo": "tracelens.cli.demo:demo",
    "deps": "tracelens.cli.deps:deps",
    "export": "tracelens.cli.export:export",
    "diff": "tracelens.cli.diff:diff",
    "import": "tracelens.cli.import_:import_",
    "serve": "tracelens.cli.serve:serve",
    "services": "tracelens.cli.services:services",
    "show": "tracelens.cli.show:show",
    "slo": "tracelens.cli.slo:slo",
    "stats": "tracelens.cli.stats:stats",
    "status": "tracelens.cli.status:status",
    "traces": "tracelens.cli.traces:traces",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that command runs, so
    ``tracelens --help`` stays fast (no polars/grpc import)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tracelens")
def cli() -> None:
    """tracelens: where latency comes from, which requests break their SLOs and why.

    \b
    Example:
      tracelens serve --data ./tracelens-data      # OTLP on 127.0.0.1:4317/4318
      tracelens traces --data ./tracelens-data --json
    """


def main() -> None:
    cli(prog_name="tracelens")

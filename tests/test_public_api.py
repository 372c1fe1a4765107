import tracelens


def test_all_is_sorted_and_importable():
    assert tracelens.__all__ == sorted(tracelens.__all__)
    for name in tracelens.__all__:
        assert getattr(tracelens, name) is not None, name


def test_cli_commands_have_help_with_example():
    from click.testing import CliRunner

    from tracelens.cli.main import COMMANDS, cli

    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Example" in result.output, f"`tracelens {name} --help` has no example"


def test_every_cli_command_is_documented():
    from pathlib import Path

    from tracelens.cli.main import COMMANDS

    docs = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    missing = [name for name in COMMANDS if f"`tracelens {name}" not in docs]
    assert not missing, f"commands not documented in docs/cli.md: {missing}"

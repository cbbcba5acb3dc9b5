"""The CLI registers the command it runs, and only that one (no plotting imports for a
country-flows run); with no command, every command under its own name."""

from __future__ import annotations

import argparse
import subprocess
import sys

from flowmosaic.cli import COMMANDS, build_parser


def _choices(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_every_command_is_registered_under_its_name_in_order():
    assert _choices(build_parser([])) == list(COMMANDS)
    assert _choices(build_parser(["--help"])) == list(COMMANDS)
    assert _choices(build_parser(["no-such-command"])) == list(COMMANDS)


def test_a_run_registers_and_imports_its_command_only():
    assert _choices(build_parser(["country-flows", "--universe", "X"])) == ["country-flows"]
    code = (
        "import sys; from flowmosaic.cli import build_parser; "
        "build_parser(['country-flows', '--universe', 'X']); "
        "print(sorted(m for m in sys.modules if m.startswith(('matplotlib', 'flowmosaic.cli.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['flowmosaic.cli.context', 'flowmosaic.cli.country_flows']"


def test_the_help_of_the_tool_and_of_every_command_renders(capsys):
    """`flowmosaic --help` lists every command with its one-line help (some say "flow %":
    plain text, not a format string), and each command's --help renders."""
    import pytest

    from flowmosaic.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in COMMANDS)
    assert "country signals beyond flow % per universe" in listing
    assert "quintile backtest of country flow % against returns" in listing
    for name in COMMANDS:
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0, name
        assert f"usage: flowmosaic {name}" in capsys.readouterr().out

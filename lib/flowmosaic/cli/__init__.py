"""`flowmosaic <command>`: one module per command, each registered the same way (NAME, HELP,
add_arguments(parser), run(context) -> exit status). Errors a user can fix print one line
and exit 2; a write that lost to a concurrent writer after its retries exits 3."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from flowmosaic.cli.context import Context, add_common
from flowmosaic.errors import ConcurrentWriteError, FlowmosaicError

# the commands, in the order `flowmosaic --help` lists them; command a-b lives in module
# flowmosaic.cli.a_b. A run imports only the module of the command it runs (the plotting ones
# pull in matplotlib, ~0.5 s of a cold start).
COMMANDS = (
    "generate",
    "ingest",
    "ingest-series",
    "quarantine",
    "country-flows",
    "mosaic-flows",
    "signals",
    "coverage",
    "mosaic",
    "nightly",
    "export",
    "backtest",
    "compare-signals",
    "maintain",
    "demo",
    "serve",
)


def _command_modules(argv: list[str] | None):
    """The modules of the commands to register: the one argv names, else all (for --help and
    for errors that list the commands)."""
    args = sys.argv[1:] if argv is None else argv
    first = next((a for a in args if not a.startswith("-")), None)
    names = [first] if first in COMMANDS else COMMANDS
    return [importlib.import_module(f"flowmosaic.cli.{n.replace('-', '_')}") for n in names]


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowmosaic", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd in _command_modules(argv):
        p = sub.add_parser(
            cmd.NAME,
            help=cmd.HELP.replace("%", "%%"),  # plain text: argparse %-formats help strings
            description=getattr(cmd, "DESCRIPTION", None) or cmd.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_common(p)
        cmd.add_arguments(p)
        p.set_defaults(run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    started = time.time()
    try:
        rc = args.run(Context(args))
    except ConcurrentWriteError as exc:
        print(f"flowmosaic {args.command}: {exc}", file=sys.stderr)
        return 3
    except FlowmosaicError as exc:
        print(f"flowmosaic {args.command}: error: {exc}", file=sys.stderr)
        return 2
    print(f"[{args.command}] done in {time.time() - started:.1f}s", file=sys.stderr)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())

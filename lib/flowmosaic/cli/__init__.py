"""`flowmosaic <command>`: one module per command, each registered the same way (NAME, HELP,
add_arguments(parser), run(context) -> exit status). Errors a user can fix print one line
and exit 2; a write that lost to a concurrent writer after its retries exits 3."""

from __future__ import annotations

import argparse
import sys
import time

from flowmosaic.cli import (
    backtest,
    compare_signals,
    country_flows,
    demo,
    export,
    generate,
    ingest,
    ingest_series,
    maintain,
    mosaic,
    mosaic_flows,
    nightly,
    quarantine,
    serve,
    signals,
)
from flowmosaic.cli.context import Context, add_common
from flowmosaic.errors import ConcurrentWriteError, FlowmosaicError

COMMANDS = (
    generate,
    ingest,
    ingest_series,
    quarantine,
    country_flows,
    mosaic_flows,
    signals,
    mosaic,
    nightly,
    export,
    backtest,
    compare_signals,
    maintain,
    demo,
    serve,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowmosaic", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd in COMMANDS:
        p = sub.add_parser(
            cmd.NAME,
            help=cmd.HELP,
            description=getattr(cmd, "DESCRIPTION", None) or cmd.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_common(p)
        cmd.add_arguments(p)
        p.set_defaults(run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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

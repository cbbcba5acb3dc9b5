"""`flowmosaic serve`: a Spark Connect server with Delta on 127.0.0.1, for `--remote`.

    flowmosaic serve                      # foreground; Ctrl-C stops it
    flowmosaic serve --background         # returns once it is up; pid file beside its log
    flowmosaic country-flows --remote sc://127.0.0.1:15002 --universe FloPctCtry
    flowmosaic serve --stop

Every start draws a new token, kept beside the pid file in a file only you can read
(default $TMPDIR/flowmosaic-connect-PORT.token); `--remote sc://127.0.0.1:PORT` finds it
there and sends it, and a client without it is refused. With another --pid-file, give the
token to clients in SPARK_CONNECT_AUTHENTICATE_TOKEN.

The server runs with the settings' Spark conf (master, driver memory...) and Delta's jars, as
a local session would (docs/connect.md).
"""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path

from flowmosaic.cli.context import Context
from flowmosaic.spark import connect_server as cs
from flowmosaic.spark import connect_token as ct

NAME = "serve"
HELP = "run a Spark Connect server with Delta on 127.0.0.1 (for --remote)"
DESCRIPTION = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--port",
        type=int,
        help=f"port (default: the port of --remote or the settings' remote, else "
        f"{cs.DEFAULT_PORT})",
    )
    p.add_argument(
        "--background",
        action="store_true",
        help="return once the server listens; write a pid file and a log",
    )
    p.add_argument(
        "--stop", action="store_true", help="stop the background server of --port (or --pid-file)"
    )
    p.add_argument(
        "--pid-file",
        help="pid file of a background server (default: "
        "$TMPDIR/flowmosaic-connect-PORT.pid; its log: .log)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=cs.START_TIMEOUT,
        help="seconds to wait for the server to listen (default %(default)s)",
    )


def _port(ctx: Context) -> int:
    if ctx.args.port is not None:
        return ctx.args.port
    return ct.port_of(ctx.settings.remote) or cs.DEFAULT_PORT


def run(ctx: Context) -> int:
    a = ctx.args
    port = _port(ctx)
    pid_file = Path(a.pid_file) if a.pid_file else ct.default_pid_file(port)
    if a.stop:
        ctx.say(cs.stop(pid_file))
        return 0
    token, tokens = ct.new_token(), ct.token_file(pid_file)
    if a.background:
        log = pid_file.with_suffix(".log")
        server = cs.start(
            ctx.settings, port, background=True, log=log, timeout=a.timeout, token=token
        )
        cs.write_pid_file(pid_file, server)
        ct.write_token_file(tokens, token)
        ctx.say(
            f"serving {server.url} in the background (pid {server.process.pid}, "
            f"log {log}; its token, readable by you only: {tokens}; "
            f"stop: flowmosaic serve --stop --port {port})"
        )
        return 0

    def terminate(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, terminate)
    t0 = time.time()
    try:
        server = cs.start(ctx.settings, port, timeout=a.timeout, token=token)
    except KeyboardInterrupt:  # start() has stopped the half-started server
        ctx.say("interrupted while starting: stopped")
        return 1
    ct.write_token_file(tokens, token)
    try:
        ctx.say(
            f"serving {server.url} (Ctrl-C to stop; its token, readable by you only: "
            f"{tokens})  [up in {time.time() - t0:.1f}s]"
        )
        status = server.process.wait()
        ctx.say(f"the server exited with status {status}")
        return 0 if status == 0 else 1
    except KeyboardInterrupt:
        ctx.say("stopping the server ...")
        server.stop()
        ctx.say("stopped")
        return 0
    finally:
        tokens.unlink(missing_ok=True)

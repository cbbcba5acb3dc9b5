"""A local Spark Connect server with Delta (`flowmosaic serve`; docs/connect.md).

The server is pyspark's own spark-submit running
`org.apache.spark.sql.connect.service.SparkConnectServer` (its jar ships in the pyspark wheel)
with the conf a local session gets (session.BASE_CONF, the settings' spark conf, Delta's jars,
the class-data-sharing archive), listening on 127.0.0.1 only. Clients (`--remote sc://...`)
then start no JVM of their own: a warm server answers in a fraction of a cold start.

    server = start(settings, port=15002)       # a child process; returns once the port answers
    ...
    server.stop()

In the background (`serve --background`) the server gets its own session (it outlives the
command) and a pid file beside its log; stop(pid_file) ends it.

Only its owner can use it: every start draws a new token, which the server gets in its
environment (never on its command line, which any user can read) and which is kept in a file
only the owner can read (token_file, beside the pid file). A client sends it as a bearer
token (connect_token.client_url); a client without it is refused.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from flowmosaic.config import Settings
from flowmosaic.errors import ConfigError
from flowmosaic.spark import localfs, session
from flowmosaic.spark.connect_token import TOKEN_ENV, token_file

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
HOST = "127.0.0.1"
DEFAULT_PORT = 15002
# The matrix engine ships a batch's weights inside its task function, so a plan can be large
# (the default limit is 128 MiB).
MAX_INBOUND_MESSAGE = 256 * 1024 * 1024
START_TIMEOUT = 300.0  # seconds for a cold JVM on a busy 2-core machine
STOP_TIMEOUT = 60.0


def spark_submit() -> Path:
    """pyspark's bundled spark-submit (the wheel carries bin/ and the jars)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent / "bin" / "spark-submit"


def url(port: int, host: str = HOST) -> str:
    return f"sc://{host}:{port}"


def server_conf(settings: Settings, port: int) -> dict[str, str]:
    """The server's Spark conf: what a local session gets, then the Connect endpoint."""
    conf = {
        **session.BASE_CONF,
        "spark.sql.warehouse.dir": f"{settings.warehouse.rstrip('/')}/catalog",
        "spark.log.level": settings.log_level,
        **settings.spark_conf,
        "spark.connect.grpc.binding.address": HOST,
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.grpc.maxInboundMessageSize": str(MAX_INBOUND_MESSAGE),
    }
    if settings.master.startswith("local"):  # one JVM: the driver's class path is enough
        conf = localfs.session_conf(conf)
    return session.with_driver_java_options(conf)


def command(settings: Settings, port: int) -> list[str]:
    """The spark-submit command line of a server on 127.0.0.1:port."""
    cmd = [
        str(spark_submit()),
        "--class",
        SERVER_CLASS,
        "--master",
        settings.master,
        "--name",
        f"{settings.app_name}-connect-{port}",
    ]
    cmd += ["--jars", ",".join(session.delta_jars())]
    for key, value in server_conf(settings, port).items():
        cmd += ["--conf", f"{key}={value}"]
    return cmd


def environment(token: str | None = None) -> dict[str, str]:
    """The server's environment: its Python workers run this interpreter (flowmosaic's venv:
    the matrix engine's task functions import flowmosaic), it binds to loopback, and it
    requires `token` from every client."""
    env = dict(os.environ)
    env.pop(TOKEN_ENV, None)
    if token:
        env[TOKEN_ENV] = token
    env["PYSPARK_PYTHON"] = sys.executable
    env.setdefault("SPARK_LOCAL_IP", HOST)
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("SPARK_CONNECT_MODE_ENABLED", None)
    env.pop("SPARK_REMOTE", None)
    return env


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A port nothing listens on right now (for tests and scripts)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path | None = None

    @property
    def url(self) -> str:
        return url(self.port)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM (Spark's shutdown hook stops the context and the gRPC service), then
        SIGKILL if it has not ended within timeout; returns the exit status (None if the
        process had still not ended 5 s after SIGKILL)."""
        return _terminate(self.process.pid, lambda: self.process.poll(), timeout, group=False)


def _tail(log: Path | None, lines: int = 40) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def start(
    settings: Settings,
    port: int = DEFAULT_PORT,
    background: bool = False,
    log: Path | None = None,
    timeout: float = START_TIMEOUT,
    token: str | None = None,
) -> Server:
    """Start a server and return once 127.0.0.1:port accepts connections; with a token,
    clients that do not send it are refused.

    In the foreground (default) the server shares this process's terminal and process group
    (Ctrl-C reaches both). With background=True it gets its own session, its output goes to
    `log`, and it outlives this process."""
    if port_open(port):
        raise ConfigError(
            f"port {port} on {HOST} is already in use (a server running? "
            f"`flowmosaic serve --stop --port {port}`)"
        )
    cmd = command(settings, port)
    out = None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "ab")
    try:
        proc = subprocess.Popen(
            cmd,
            env=environment(token),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=background,
        )
    except OSError as exc:
        raise ConfigError(f"cannot run {cmd[0]}: {exc}") from exc
    finally:
        if out is not None:
            out.close()
    server = Server(proc, port, log)
    deadline = time.monotonic() + timeout
    try:
        while not port_open(port):
            if proc.poll() is not None:
                raise ConfigError(
                    f"the Connect server exited with status {proc.returncode} "
                    f"before listening on port {port}"
                    + (f"; last lines of {log}:\n{_tail(log)}" if log else "")
                )
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"the Connect server did not listen on port {port} within "
                    f"{timeout:.0f}s" + (f"; see {log}" if log else "")
                )
            time.sleep(0.25)
    except BaseException:  # timed out, or interrupted while starting: leave nothing running
        if proc.poll() is None:
            server.stop()
        raise
    return server


def write_pid_file(path: Path, server: Server) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{server.process.pid}\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (ended, not yet reaped by its parent) counts as ended
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _is_server(pid: int) -> bool:
    """The process is a Connect server (its command line names the server class), so a pid
    file left behind by a server long gone never makes us signal an unrelated process."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return SERVER_CLASS.encode() in fh.read()
    except OSError:
        return _alive(pid)  # no /proc: trust the pid file


def _terminate(pid: int, ended, timeout: float, group: bool) -> int | None:
    kill = os.killpg if group else os.kill
    try:
        kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return ended()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = ended()
        if status is not None:
            return status
        time.sleep(0.2)
    try:
        kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for _ in range(50):
        status = ended()
        if status is not None:
            return status
        time.sleep(0.1)
    return ended()


def stop(pid_file: Path, timeout: float = STOP_TIMEOUT) -> str:
    """Stop the background server of a pid file (its whole process group: the JVM and its
    Python workers) and remove the file; returns what was done."""
    if not pid_file.exists():
        raise ConfigError(
            f"no pid file {pid_file}: no background server on that port "
            "(started with `flowmosaic serve --background`)"
        )
    try:
        pid = int(pid_file.read_text().split()[0])
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"{pid_file}: not a pid file") from exc
    if not _alive(pid) or not _is_server(pid):
        pid_file.unlink(missing_ok=True)
        token_file(pid_file).unlink(missing_ok=True)
        return f"server {pid} was not running; removed {pid_file}"
    group = os.getpgid(pid) == pid  # started in its own session by start(background=True)
    _terminate(pid, lambda: None if _alive(pid) else 0, timeout, group)
    if _alive(pid):
        raise ConfigError(f"server {pid} did not stop")
    pid_file.unlink(missing_ok=True)
    token_file(pid_file).unlink(missing_ok=True)
    return f"stopped server {pid}"

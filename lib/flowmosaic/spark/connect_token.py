"""The Connect server's token and where a client finds it (docs/connect.md, "Only its owner can
use it"). Apart from connect_server so that a client session (spark/session.py) reads it
without importing the server's side."""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path

from flowmosaic.errors import ConfigError

# read by the server (Spark's spark.connect.authenticate.token) and by pyspark's client
TOKEN_ENV = "SPARK_CONNECT_AUTHENTICATE_TOKEN"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def _address(remote: str) -> tuple[str, str, str]:
    """(host, port as written, the rest: /;params) of an sc://HOST:PORT[/;params] address."""
    body = remote.removeprefix("sc://")
    cut = min((i for i in (body.find("/"), body.find(";")) if i >= 0), default=len(body))
    host, _, port = body[:cut].rpartition(":")
    return host, port, body[cut:]


def port_of(remote: str | None) -> int | None:
    """The port of an sc://HOST:PORT[/;params] address (None if it names none)."""
    if not remote:
        return None
    host, port, _ = _address(remote)
    return int(port) if host and port.isdigit() else None


def default_pid_file(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"flowmosaic-connect-{port}.pid"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_file(pid_file: Path) -> Path:
    """Where the token of the server of a pid file is kept."""
    return pid_file.with_suffix(".token")


def write_token_file(path: Path, token: str) -> None:
    """The token in a file only its owner can read or write (created anew: an existing file,
    or a link planted there, is replaced, never written through)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")


def read_token_file(path: Path) -> str | None:
    """The token of a file this user owns and nobody else can read; None if there is none.
    A file others could read or write is refused: its token is not a secret any more."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
        raise ConfigError(f"{path}: not a token file of this user")
    if st.st_mode & 0o077:
        raise ConfigError(
            f"{path}: other users can read or write it (mode {stat.S_IMODE(st.st_mode):o}); "
            "restart the server (`flowmosaic serve`) for a new token"
        )
    return path.read_text().strip() or None


def client_url(remote: str) -> tuple[str, str | None]:
    """(the address to connect to, the token to send) for --remote. A token in the address
    (`;token=...`) or in SPARK_CONNECT_AUTHENTICATE_TOKEN is used as given; otherwise the
    token file of a server of ours on that port (default pid file location). pyspark sends a
    token without TLS only to `localhost`, so a loopback host is written so."""
    if ";token=" in remote or os.environ.get(TOKEN_ENV):
        return remote, None
    port = port_of(remote)
    host, _, rest = _address(remote)
    if port is None or host not in LOOPBACK:
        return remote, None
    token = read_token_file(token_file(default_pid_file(port)))
    if token is None:
        return remote, None
    return f"sc://localhost:{port}/{rest.removeprefix('/')}", token

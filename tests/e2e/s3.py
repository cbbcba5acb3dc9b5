"""A real S3-compatible server on 127.0.0.1 for tests: S3Proxy (org.gaul:s3proxy) over a local
directory, with signed requests required (AWS signature v2 or v4, one test key).

The server's jar (about 55 MB) comes from Maven Central once and is kept in
~/.cache/flowmosaic/ ($XDG_CACHE_HOME/flowmosaic/), checked against Maven Central's SHA-1.
`with s3_server(workdir) as s3:` starts it on a free port, waits for the port, creates the
bucket, and stops the server (and removes nothing but what it created under workdir) on exit.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

S3PROXY_VERSION = "4.1.0"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
REPO = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flowmosaic"


def _fetch(url: str, timeout: float = 60) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def s3proxy_jar(version: str = S3PROXY_VERSION) -> Path:
    """The S3Proxy executable jar, downloaded from Maven Central on first use."""
    name = f"s3proxy-{version}-jar-with-dependencies.jar"
    target = cache_dir() / name
    if target.exists():
        return target
    url = f"{MAVEN_CENTRAL}/org/gaul/s3proxy/{version}/{name}"
    print(f"fetching {url} (once, into {target.parent})", file=sys.stderr, flush=True)
    want = _fetch(url + ".sha1").decode().split()[0].strip()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f"{name}.{os.getpid()}.part")
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(part, "wb") as out:
            shutil.copyfileobj(r, out, 1 << 20)
        got = hashlib.sha1(part.read_bytes()).hexdigest()
        if got != want:
            raise RuntimeError(f"{url}: SHA-1 {got} != {want} (Maven Central's)")
        os.replace(part, target)  # atomic: a concurrent run sees the whole jar or none
    finally:
        part.unlink(missing_ok=True)
    return target


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    if not home:
        home = subprocess.run(
            [str(REPO / "scripts" / "java_home.sh")], capture_output=True, text=True, check=True
        ).stdout.strip()
    return str(Path(home) / "bin" / "java")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT
    bucket: str
    access_key: str
    secret_key: str
    region: str
    basedir: Path  # the server's storage: one directory per bucket

    def env(self) -> dict[str, str]:
        """The standard AWS variables a client (S3A, delta-rs, the CLI) reads."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
        }

    def storage_options(self) -> dict[str, str]:
        """delta-rs (deltalake) options for s3://BUCKET/... on this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_S3_ADDRESSING_STYLE": "path",
        }

    def objects(self, prefix: str = "") -> list[str]:
        """Keys stored under a prefix of the bucket (read from the server's directory)."""
        root = self.basedir / self.bucket
        return sorted(str(p.relative_to(root)) for p in (root / prefix).rglob("*") if p.is_file())


@contextmanager
def s3_server(
    work: Path,
    bucket: str = "flowmosaic",
    access_key: str = "flowmosaic-test",
    secret_key: str = "flowmosaic-test-secret",
    region: str = "us-east-1",
    timeout: float = 90,
) -> Iterator[S3Server]:
    """Start S3Proxy on 127.0.0.1 storing under work/data, with `bucket` created; stop it on
    exit whatever happened."""
    jar = s3proxy_jar()
    work.mkdir(parents=True, exist_ok=True)
    basedir = work / "data"
    # the filesystem backends keep each bucket as a directory under basedir: creating the
    # directory creates the bucket (no unsigned request needed, the server requires signatures)
    (basedir / bucket).mkdir(parents=True, exist_ok=True)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    props = work / "s3proxy.properties"
    props.write_text(
        "\n".join(
            [
                f"s3proxy.endpoint={endpoint}",
                "s3proxy.authorization=aws-v2-or-v4",
                f"s3proxy.identity={access_key}",
                f"s3proxy.credential={secret_key}",
                "jclouds.provider=filesystem-nio2",
                f"jclouds.filesystem.basedir={basedir}",
                f"jclouds.region={region}",
            ]
        )
        + "\n"
    )
    log = work / "s3proxy.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [java(), "-Xmx256m", "-XX:+UseSerialGC", "-jar", str(jar), "--properties", str(props)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.time() + timeout
        while not _port_open(port):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"s3proxy exited with {proc.returncode}: "
                    f"{log.read_text(errors='replace')[-2000:]}"
                )
            if time.time() > deadline:
                raise TimeoutError(f"s3proxy did not open port {port} in {timeout:.0f} s")
            time.sleep(0.3)
        yield S3Server(endpoint, bucket, access_key, secret_key, region, basedir)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

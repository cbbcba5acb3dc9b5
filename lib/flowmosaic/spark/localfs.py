"""Hadoop's local file system without a process per call, for local sessions.

pyspark's wheel has no native Hadoop library, so Hadoop's local file system starts a process
for two common calls: `chmod` for every file and directory it creates (data files, their
.crc files, Delta log entries) and `readlink`, twice, for every rename (every Delta commit
renames its temporary log file). One ingest of a small universe started 286 processes, at about
7 ms each on the driver's critical path (measured here: bench/profile notes in
docs/benchmarks.md).

spark/java/io/flowmosaic/localfs/ holds three small classes that subclass Hadoop's own and do
those two calls in Java (java.nio) with the same results; everything else is Hadoop's. They are
compiled once with the JDK's javac against the Hadoop client pyspark ships, into a jar beside
the recorded Delta jars (named by a digest of the sources and the Hadoop version, so a change
of either recompiles), by `make jars` or by the first local session. A local session puts the
jar on the driver's class path and sets fs.file.impl and fs.AbstractFileSystem.file.impl to
them, unless the settings name a file:// implementation themselves. Without a javac (a JRE
only) sessions use Hadoop's classes unchanged. The Connect server (`flowmosaic serve`) gets
them too when its master is local; sessions under spark-submit are left as their launcher made
them (a cluster's executors would need the jar on their own class path)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

from flowmosaic.spark import jars as jarlib

SOURCES = Path(__file__).resolve().parent / "java"
FILE_SYSTEM = "io.flowmosaic.localfs.ForklessLocalFileSystem"
ABSTRACT_FILE_SYSTEM = "io.flowmosaic.localfs.ForklessLocalFs"
FS_KEY = "spark.hadoop.fs.file.impl"
AFS_KEY = "spark.hadoop.fs.AbstractFileSystem.file.impl"
CLASSPATH_KEY = "spark.driver.extraClassPath"


def _sources() -> list[Path]:
    return sorted(SOURCES.rglob("*.java"))


def _hadoop_api_jar() -> Path:
    return jarlib.pyspark_jars_dir() / f"hadoop-client-api-{jarlib.hadoop_version()}.jar"


def jar_path() -> Path:
    """Where the compiled classes go: named by a digest of the sources and the Hadoop client
    they are compiled against."""
    digest = hashlib.sha256(jarlib.hadoop_version().encode())
    for src in _sources():
        digest.update(src.name.encode())
        digest.update(src.read_bytes())
    return jarlib.list_dir() / f"flowmosaic-localfs-{digest.hexdigest()[:12]}.jar"


def build() -> Path | None:
    """The jar, compiled now if it is not there yet; None where the JDK has no javac or the
    compilation fails (sessions then keep Hadoop's own classes)."""
    jar = jar_path()
    if jar.exists():
        return jar
    javac, jar_tool = jarlib.jdk_tool("javac"), jarlib.jdk_tool("jar")
    if not javac or not jar_tool:
        return None
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flowmosaic-localfs-") as tmp:
        classes, part = Path(tmp) / "classes", Path(tmp) / jar.name
        compiled = subprocess.run(
            [javac, "--release", "17", "-nowarn", "-cp", str(_hadoop_api_jar()),
             "-d", str(classes), *map(str, _sources())],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if compiled.returncode != 0:
            return None
        packed = subprocess.run(
            [jar_tool, "cf", str(part), "-C", str(classes), "."],
            capture_output=True, check=False,
        )  # fmt: skip
        if packed.returncode != 0:
            return None
        os.replace(part, jar)  # atomic: two sessions building at once both find a whole jar
    for old in jar.parent.glob("flowmosaic-localfs-*.jar"):
        if old != jar:
            old.unlink(missing_ok=True)  # built from sources since changed
    return jar


def session_conf(conf: dict[str, str]) -> dict[str, str]:
    """conf with the forkless local file system, unless it sets a file:// implementation
    itself or the jar cannot be had."""
    if FS_KEY in conf or AFS_KEY in conf:
        return conf
    jar = build()
    if jar is None:
        return conf
    given = conf.get(CLASSPATH_KEY, "").strip()
    return {
        **conf,
        FS_KEY: FILE_SYSTEM,
        AFS_KEY: ABSTRACT_FILE_SYSTEM,
        CLASSPATH_KEY: f"{given}{os.pathsep}{jar}" if given else str(jar),
    }

"""Start and stop a real Spark standalone cluster (one master, one or more workers) on 127.0.0.1
from the pyspark installation, and submit jobs to it with spark-submit."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyspark

from tests.conftest import SHORT_JVM_OPTIONS

SPARK_HOME = Path(pyspark.__file__).resolve().parent
# The JVM options of the cluster's daemons, drivers and executors: the tests' short-lived
# ones; bench/run_bench.py sets "" so that its cluster figure runs on the JVM's defaults, as
# its local[1] and local[2] runs do.
JVM_OPTIONS = SHORT_JVM_OPTIONS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(check, what: str, timeout: float = 90.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise TimeoutError(f"timed out waiting for {what}")


def master_state(ui_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as r:
        return json.loads(r.read())


def _alive_workers(ui_port: int) -> int:
    try:
        return sum(w.get("state") == "ALIVE" for w in master_state(ui_port).get("workers", []))
    except OSError:
        return 0


def spark_env(java_home: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["SPARK_HOME"] = str(SPARK_HOME)
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env["PYSPARK_PYTHON"] = sys.executable
    env["SPARK_DAEMON_JAVA_OPTS"] = JVM_OPTIONS  # the master and the workers
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("PYSPARK_GATEWAY_SECRET", None)
    if java_home:
        env["JAVA_HOME"] = java_home
    return env


@dataclass
class Worker:
    """A worker process, leader of its own process group: the executors it launches (and
    their JVMs) are in that group too."""

    process: subprocess.Popen
    ui_port: int
    log: Path

    def state(self) -> dict:
        """The worker's /json/ page (its executors, cores, memory)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as r:
            return json.loads(r.read())

    def kill(self, timeout: float = 30.0) -> None:
        """SIGKILL to the worker and every executor it launched; returns once none is left
        (an executor's PySpark daemon has its own group and ends when its JVM is gone)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        _wait_for(
            lambda: not _group_alive(self.process.pid), "the worker's executors to die", timeout
        )


@dataclass
class Cluster:
    master: str  # spark://127.0.0.1:PORT
    ui_port: int  # the master's web UI (and its /json/ page)
    workers: list[Worker]


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(stat.parent.name))
    return out


def _group_alive(pgid: int) -> bool:
    return bool(group_members(pgid))


@contextmanager
def cluster(
    work: Path, workers: int = 1, worker_cores: int = 2, worker_memory: str = "3g"
) -> Iterator[Cluster]:
    """A master and `workers` workers of worker_cores cores each; yields the Cluster once every
    worker has registered; kills them all on exit, whatever happened."""
    work.mkdir(parents=True, exist_ok=True)
    env = spark_env()
    port, ui = free_port(), free_port()
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    spark_class,
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--webui-port",
                    str(ui),
                ],
                env=env,
                stdout=open(work / "master.log", "w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        url = f"spark://127.0.0.1:{port}"
        _wait_for(lambda: _can_connect(ui), "the master's web UI")
        started = []
        for i in range(workers):
            # the first worker keeps the names of the one-worker cluster (worker.log, worker/)
            name = "worker" if i == 0 else f"worker-{i + 1}"
            wui, log = free_port(), work / f"{name}.log"
            procs.append(
                subprocess.Popen(
                    [
                        spark_class,
                        "org.apache.spark.deploy.worker.Worker",
                        url,
                        "--host",
                        "127.0.0.1",
                        "--cores",
                        str(worker_cores),
                        "--memory",
                        worker_memory,
                        "--webui-port",
                        str(wui),
                        "--work-dir",
                        str(work / name),
                    ],
                    env=env,
                    stdout=open(log, "w"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            started.append(Worker(procs[-1], wui, log))
        _wait_for(
            lambda: _alive_workers(ui) >= workers,
            "a worker to register" if workers == 1 else f"{workers} workers to register",
        )
        yield Cluster(url, ui, started)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@contextmanager
def standalone_cluster(
    work: Path, worker_cores: int = 2, worker_memory: str = "3g", workers: int = 1
) -> Iterator[tuple[str, int]]:
    """Yields (master_url, ui_port); kills master and workers on exit, whatever happened.
    (cluster() yields the worker processes too.)"""
    with cluster(work, workers, worker_cores, worker_memory) as c:
        yield c.master, c.ui_port


def _can_connect(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def build_py_files(root: Path, target: Path) -> Path:
    """Zip the flowmosaic package, every subpackage included (spark/, ingest/, ingest/sources/,
    country_flows/, export/, backtest/, mosaic/, cli/ ...), for --py-files."""
    with zipfile.ZipFile(target, "w") as z:
        for f in sorted((root / "lib" / "flowmosaic").rglob("*.py")):
            if "__pycache__" not in f.parts:
                z.write(f, f.relative_to(root / "lib"))
    return target


def packages(root: Path) -> list[str]:
    """The flowmosaic package and its subpackages as dotted names (directories with an
    __init__.py under lib/)."""
    lib = root / "lib"
    return sorted(
        ".".join(p.parent.relative_to(lib).parts)
        for p in (lib / "flowmosaic").rglob("__init__.py")
        if "__pycache__" not in p.parts
    )


def submit_command(
    root: Path,
    master: str,
    script: str | Path,
    args: list[str],
    py_files: Path,
    extra_conf: dict[str, str] | None = None,
    executor_cores: int | None = None,
    cores_max: int | None = None,
) -> list[str]:
    """The spark-submit command line of jobs/<script> (or a script path) with Delta."""
    from flowmosaic.spark.session import DELTA_CATALOG, DELTA_EXTENSION, delta_package

    conf = {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.driver.memory": "1g",
        "spark.executor.memory": "2g",
        "spark.sql.shuffle.partitions": "4",
        "spark.pyspark.python": sys.executable,
        "spark.ui.enabled": "false",
        # Delta's log replay: 2 tasks, not its default 50 (each a round trip to an executor)
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.driver.extraJavaOptions": JVM_OPTIONS,
        "spark.executor.extraJavaOptions": JVM_OPTIONS,
        **({"spark.executor.cores": str(executor_cores)} if executor_cores else {}),
        **({"spark.cores.max": str(cores_max)} if cores_max else {}),
        **(extra_conf or {}),
    }
    cmd = [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--master",
        master,
        "--packages",
        delta_package(),
        "--py-files",
        str(py_files),
    ]
    for k, v in conf.items():
        cmd += ["--conf", f"{k}={v}"]
    return cmd + [str(root / "jobs" / script), *args]


def start_submit(
    root: Path, master: str, script: str | Path, args: list[str], py_files: Path, log: Path, **kw
) -> subprocess.Popen:
    """spark-submit in the background (its own process group), output to `log`; kw as for
    submit_command."""
    env = spark_env()
    env["FLOWMOSAIC_CONF_DIR"] = str(root / "conf")
    with open(log, "w") as fh:
        return subprocess.Popen(
            submit_command(root, master, script, args, py_files, **kw),
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=root,
            start_new_session=True,
        )


def submit(
    root: Path,
    master: str,
    script: str | Path,
    args: list[str],
    py_files: Path,
    log: Path | None = None,
    extra_conf: dict[str, str] | None = None,
    executor_cores: int | None = None,
    cores_max: int | None = None,
) -> subprocess.CompletedProcess:
    """spark-submit and wait (15 minutes at most); output to `log` (default: submit.log
    beside py_files)."""
    log = log or py_files.parent / "submit.log"
    proc = start_submit(
        root,
        master,
        script,
        args,
        py_files,
        log,
        extra_conf=extra_conf,
        executor_cores=executor_cores,
        cores_max=cores_max,
    )
    try:
        proc.wait(timeout=900)
    except BaseException:  # timed out, or interrupted: the job does not outlive the test
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode)

"""Start and stop a real Spark standalone cluster (one master, one worker) on 127.0.0.1 from the
pyspark installation, and submit jobs to it with spark-submit."""
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
from contextlib import contextmanager
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).resolve().parent


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
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("PYSPARK_GATEWAY_SECRET", None)
    if java_home:
        env["JAVA_HOME"] = java_home
    return env


@contextmanager
def standalone_cluster(work: Path, worker_cores: int = 2, worker_memory: str = "3g"):
    """Yields (master_url, ui_port); kills master and worker on exit, whatever happened."""
    work.mkdir(parents=True, exist_ok=True)
    env = spark_env()
    port, ui, wui = free_port(), free_port(), free_port()
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    procs = []
    try:
        procs.append(subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(port), "--webui-port", str(ui)],
            env=env, stdout=open(work / "master.log", "w"), stderr=subprocess.STDOUT,
            start_new_session=True))
        url = f"spark://127.0.0.1:{port}"
        _wait_for(lambda: _can_connect(ui), "the master's web UI")
        procs.append(subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
             "--cores", str(worker_cores), "--memory", worker_memory, "--webui-port", str(wui),
             "--work-dir", str(work / "worker")],
            env=env, stdout=open(work / "worker.log", "w"), stderr=subprocess.STDOUT,
            start_new_session=True))
        _wait_for(lambda: _alive_workers(ui) >= 1, "a worker to register")
        yield url, ui
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _can_connect(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def build_py_files(root: Path, target: Path) -> Path:
    """Zip the flowmosaic package for --py-files."""
    with zipfile.ZipFile(target, "w") as z:
        for f in sorted((root / "lib" / "flowmosaic").rglob("*.py")):
            z.write(f, f.relative_to(root / "lib"))
    return target


def submit(root: Path, master: str, script: str, args: list[str], py_files: Path,
           log: Path, extra_conf: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    from flowmosaic.session import DELTA_CATALOG, DELTA_EXTENSION, delta_package
    conf = {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.driver.memory": "1g",
        "spark.executor.memory": "2g",
        "spark.sql.shuffle.partitions": "4",
        "spark.pyspark.python": sys.executable,
        "spark.ui.enabled": "false",
        **(extra_conf or {}),
    }
    cmd = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", master,
           "--packages", delta_package(), "--py-files", str(py_files)]
    for k, v in conf.items():
        cmd += ["--conf", f"{k}={v}"]
    cmd += [str(root / "jobs" / script), *args]
    env = spark_env()
    env["FLOWMOSAIC_CONF_DIR"] = str(root / "conf")
    with open(log, "w") as fh:
        return subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=root,
                              timeout=900)

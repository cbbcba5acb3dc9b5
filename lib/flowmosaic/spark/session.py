"""The SparkSession factory.

Three ways to get a session, one function (get_spark):
- Spark Connect (`settings.remote = sc://host:port`, from --remote or the settings file): a thin
  client to a running server (`flowmosaic serve` starts one with Delta); no local JVM.
- under spark-submit the JVM and its session already exist: taken as they are, nothing added.
- local (the embedded default): master and conf from conf/local.yaml, the Delta extension and
  catalog set, Delta's jars from the list `make jars` recorded (no Ivy run), and the JVM's
  class-data-sharing archive `make jars` recorded (a faster JVM start).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from pyspark.sql import SparkSession

from flowmosaic.config import Settings, load_settings
from flowmosaic.errors import ConfigError

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"

# Settings every session flowmosaic starts gets (conf/local.yaml and --conf may override).
BASE_CONF = {
    "spark.sql.extensions": DELTA_EXTENSION,
    "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
    # Quiet start: no bind warnings on hosts whose name resolves to loopback.
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}


def delta_package() -> str:
    """The Maven coordinate of Delta's jar matching the installed pyspark and delta-spark,
    for `spark-submit --packages`."""
    from importlib.metadata import version

    import pyspark
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{version('delta-spark')}"


def _cache_dir() -> Path:
    # beside the interpreter's environment, so each virtualenv keeps its own
    return Path(sys.prefix) / "flowmosaic-delta-jars"


def _jar_list_file() -> Path:
    return _cache_dir() / f"{delta_package().replace(':', '_')}.txt"


def _cds_archive() -> Path:
    """The JVM's dynamic class-data-sharing archive, recorded by `--fetch-jars`."""
    return _cache_dir() / f"{delta_package().replace(':', '_')}.jsa"


def cached_delta_jars() -> list[str]:
    """Delta's jars as resolved by an earlier Ivy run (see --fetch-jars), if all still exist."""
    listing = _jar_list_file()
    if not listing.exists():
        return []
    jars = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    return jars if jars and all(Path(j).exists() for j in jars) else []


def _remember_jars(spark: SparkSession) -> int:
    """Record the jar files spark-submit's Ivy run resolved (spark.jars after resolution)."""
    resolved = spark.sparkContext.getConf().get("spark.jars", "")
    jars = [j.removeprefix("file://").removeprefix("file:") for j in resolved.split(",") if j]
    if not any("delta-spark" in j for j in jars):
        return 0
    listing = _jar_list_file()
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text("\n".join(jars) + "\n")
    return len(jars)


def under_spark_submit() -> bool:
    # spark-submit starts the JVM first and hands Python the gateway port.
    return "PYSPARK_GATEWAY_PORT" in os.environ or SparkSession.getActiveSession() is not None


def driver_java_options(archive_at_exit: Path | None = None) -> str:
    """JVM options of a local driver: start from the recorded class-data-sharing archive
    (classes pre-parsed: about 2 s less per start), or record one at exit."""
    if archive_at_exit is not None:
        return f"-XX:ArchiveClassesAtExit={archive_at_exit} -Xlog:cds=off -Xlog:cds+dynamic=off"
    if _cds_archive().exists() and cached_delta_jars():
        return f"-XX:SharedArchiveFile={_cds_archive()} -Xshare:auto -Xlog:cds=off"
    return ""


def get_spark(settings: Settings | None = None, app_name: str | None = None,
              extra_conf: dict[str, str] | None = None) -> SparkSession:
    settings = settings or load_settings()
    if settings.remote:
        return _connect(settings.remote, app_name)
    if under_spark_submit():
        builder = SparkSession.builder
        if app_name:
            builder = builder.appName(app_name)
        spark = builder.getOrCreate()
        _check_delta(spark)
        return spark

    from delta import configure_spark_with_delta_pip

    conf = {
        **BASE_CONF,
        "spark.sql.warehouse.dir": f"{settings.warehouse.rstrip('/')}/catalog",
        **settings.spark_conf,
        **(extra_conf or {}),
    }
    java_opts = driver_java_options()
    if java_opts and "spark.driver.extraJavaOptions" not in conf:
        conf["spark.driver.extraJavaOptions"] = java_opts
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.master(settings.master).appName(app_name or settings.app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    jars = cached_delta_jars()
    if jars:  # resolved before (make jars): no Ivy run, a quieter and faster start
        builder = builder.config("spark.jars", ",".join(jars))
    else:
        builder = configure_spark_with_delta_pip(builder)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.log_level)
    return spark


def _connect(url: str, app_name: str | None) -> SparkSession:
    """A Spark Connect client session; the server must have been started with Delta."""
    try:
        builder = SparkSession.builder.remote(url)
        if app_name:
            builder = builder.appName(app_name)
        return builder.getOrCreate()
    except ImportError as exc:  # the connect extras (grpcio...) are not installed
        raise ConfigError(f"--remote {url}: the Spark Connect client is not installed "
                          f"(pip install 'pyspark[connect]'): {exc}") from exc


def _check_delta(spark: SparkSession) -> None:
    exts = spark.conf.get("spark.sql.extensions", "") or ""
    if DELTA_EXTENSION not in exts:
        raise ConfigError(
            "this Spark session has no Delta extension: submit with "
            f"--packages {delta_package()} "
            f"--conf spark.sql.extensions={DELTA_EXTENSION} "
            f"--conf spark.sql.catalog.spark_catalog={DELTA_CATALOG}"
        )


class JobCounter:
    """Counts the Spark jobs launched while it is active (classic sessions; None over
    Connect), through the status tracker and a job group."""

    def __init__(self, spark: SparkSession, group: str = "flowmosaic"):
        self.spark, self.group = spark, group
        self._sc = None if spark is None or type(spark).__module__.startswith(
            "pyspark.sql.connect") else spark.sparkContext

    def __enter__(self) -> JobCounter:
        if self._sc is not None:
            self._sc.setJobGroup(self.group, self.group, interruptOnCancel=False)
        return self

    def __exit__(self, *exc) -> None:
        return None

    @property
    def jobs(self) -> int | None:
        if self._sc is None:
            return None
        return len(self._sc.statusTracker().getJobIdsForGroup(self.group))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Spark session helper")
    parser.add_argument("--fetch-jars", action="store_true",
                        help="start a local session once so Ivy caches Delta's jars, then record "
                             "the JVM's class-data-sharing archive")
    parser.add_argument("--record-cds", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = load_settings(warehouse=tempfile.gettempdir())
    if args.record_cds:  # in its own process: the archive is written when this JVM exits
        _warm(settings, {"spark.driver.extraJavaOptions":
                         driver_java_options(archive_at_exit=_cds_archive())})
        _exit_jvm()
        return 0
    if args.fetch_jars:
        _jar_list_file().unlink(missing_ok=True)  # resolve through Ivy afresh
        _cds_archive().unlink(missing_ok=True)
        version = _warm(settings, {})
        import subprocess
        subprocess.run([sys.executable, "-m", "flowmosaic.spark.session", "--record-cds"],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"Spark {version} with {delta_package()} ready: {len(cached_delta_jars())} jars "
              f"recorded in {_jar_list_file()}; class-data-sharing archive "
              f"{'recorded' if _cds_archive().exists() else 'not recorded (slower starts)'}")
    return 0


def _exit_jvm() -> None:
    """End the local JVM and wait for it (it exits when its stdin closes)."""
    from pyspark import SparkContext
    proc = getattr(SparkContext._gateway, "proc", None)
    if proc is not None:
        proc.stdin.close()
        proc.wait(timeout=300)


def _warm(settings: Settings, conf: dict[str, str]) -> str:
    """Start a session and run what a flowmosaic run runs on a small scale (create a Delta
    table by SQL, replace a window, aggregate, read through Arrow), so the classes a run
    needs are loaded; remember the resolved jars; returns the Spark version."""
    spark = get_spark(settings, app_name="flowmosaic-fetch-jars",
                      extra_conf={"spark.ui.enabled": "false",
                                  "spark.ui.showConsoleProgress": "false", **conf})
    path = tempfile.mkdtemp(prefix="flowmosaic-jar-check-")
    spark.sql(f"CREATE TABLE IF NOT EXISTS delta.`{path}` (id BIGINT NOT NULL, m DATE NOT NULL) "
              "USING DELTA PARTITIONED BY (m) TBLPROPERTIES ('delta.checkpointInterval' = '20')")
    df = spark.range(100).selectExpr("id", "DATE'2020-01-01' AS m")
    df.write.format("delta").mode("overwrite").option("replaceWhere", "m = DATE'2020-01-01'").save(path)
    spark.read.format("delta").load(path).groupBy("m").count().toPandas()
    _remember_jars(spark)
    version = spark.version
    spark.stop()
    shutil.rmtree(path, ignore_errors=True)
    return version


if __name__ == "__main__":
    raise SystemExit(main())

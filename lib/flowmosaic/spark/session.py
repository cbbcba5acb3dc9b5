"""The SparkSession factory.

Three ways to get a session, one function (get_spark):
- Spark Connect (`settings.remote = sc://host:port`, from --remote or the settings file): a thin
  client to a running server (`flowmosaic serve` starts one with Delta); no local JVM.
- under spark-submit the JVM and its session already exist: taken as they are, nothing added.
- local (the embedded default): master and conf from conf/local.yaml, the Delta extension and
  catalog set, Delta's jars from the list `make jars` recorded (resolved on first use without
  it, quietly: jars.py), and the JVM's class-data-sharing archive `make jars` recorded (a
  faster JVM start). When the warehouse (or a conf value) is an s3a:// URI, or the settings
  have an `object_storage:` section, also Hadoop's S3 connector (jars.py: hadoop-aws + the
  AWS SDK modules it uses, fetched on first use) and the fs.s3a.* conf from the settings and
  the AWS environment variables (s3a_conf).
  Delta then commits to S3 through its default S3SingleDriverLogStore: safe for one writing
  driver per table at a time (docs/object-storage.md).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pyspark.sql import SparkSession

from flowmosaic.config import Settings, join_path, load_settings, redact_url
from flowmosaic.errors import ConfigError
from flowmosaic.spark import connect_token, localfs
from flowmosaic.spark import jars as jarlib

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
# Runtime defaults of every classic session (local or spark-submit; a Connect session does
# this by design): pandas <-> Spark through Arrow, not pickled Row objects, which is what
# driver-side collections (dimensions, members, weights) spend their time on otherwise.
SESSION_DEFAULTS = {"spark.sql.execution.arrow.pyspark.enabled": "true"}


def console_progress(stream=None) -> str:
    """spark.ui.showConsoleProgress for a local session: Spark's stage progress line
    ([Stage 3:====>  (5 + 2) / 8], rewritten in place on stderr) when stderr is a terminal;
    off otherwise, so that logs and captured output get no progress bars."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return "true" if callable(isatty) and isatty() else "false"


def _apply_session_defaults(spark: SparkSession) -> None:
    """Under spark-submit: the defaults the submitter did not set (--conf wins)."""
    given = spark.sparkContext.getConf()
    for key, value in SESSION_DEFAULTS.items():
        if not given.contains(key):
            spark.conf.set(key, value)


def delta_package() -> str:
    """The Maven coordinate of Delta's jar matching the installed pyspark and delta-spark,
    for `spark-submit --packages`."""
    from importlib.metadata import version

    import pyspark

    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{version('delta-spark')}"


def _cache_dir() -> Path:
    return jarlib.list_dir()


def _jar_list_file() -> Path:
    return _cache_dir() / f"{delta_package().replace(':', '_')}.txt"


def _cds_archive() -> Path:
    """The JVM's dynamic class-data-sharing archive, recorded by `--fetch-jars`. The JVM uses
    it only with the class path it was recorded with, whose first entry is the local file
    system's jar (localfs): its name is part of the archive's, so an archive of another jar is
    never offered (a JVM would ignore it and start without it)."""
    jar = localfs.jar_path()
    suffix = f"-{jar.stem}" if jar.exists() else ""
    return _cache_dir() / f"{delta_package().replace(':', '_')}{suffix}.jsa"


def cached_delta_jars() -> list[str]:
    """Delta's jars as resolved by an earlier Ivy run (see --fetch-jars), if all still exist,
    without those pyspark ships itself (lists recorded before that filter are filtered here)."""
    return jarlib.not_shipped(jarlib.read_list(_jar_list_file()))


def delta_jars() -> list[str]:
    """Delta's recorded jars, resolved now (one line per download) if they are not yet; a
    failure (e.g. offline) is one ConfigError saying what to run. The list leaves out what
    pyspark ships: Delta's resolution brings hadoop-client-api/-runtime 3.4 and Parquet 1.16
    (and Jackson, log4j, slf4j ...), which must not sit next to pyspark's own."""
    jars = cached_delta_jars()
    if jars:
        return jars
    try:
        return jarlib.fetch_delta_jars(delta_package(), _jar_list_file(), say=_progress)
    except (ConfigError, OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(
            f"Delta's jars ({delta_package()}) are not fetched yet and could not be now "
            f"({exc}); run `make jars` (python -m flowmosaic.spark.session --fetch-jars) where "
            f"Maven Central is reachable"
        ) from exc


def needs_s3(settings: Settings, conf: dict[str, str]) -> bool:
    """A local session gets Hadoop's S3 connector when the warehouse or a conf key or value
    names s3a://, or the settings have an `object_storage:` section."""
    return settings.object_storage.configured or jarlib.uses_s3(
        settings.warehouse, *conf.keys(), *conf.values()
    )


def s3a_conf(settings: Settings, env: dict[str, str] | None = None) -> dict[str, str]:
    """spark.hadoop.fs.s3a.* from the settings' `object_storage:` section, its gaps filled
    from the standard AWS environment variables: the endpoint (AWS_ENDPOINT_URL_S3,
    AWS_ENDPOINT_URL) with path-style access and TLS as its scheme says, the region
    (AWS_REGION, AWS_DEFAULT_REGION; us-east-1 for an endpoint without one), and static keys
    with S3A's SimpleAWSCredentialsProvider when the section gives them. Without keys S3A's
    default chain applies: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN] from
    the environment, then the instance's role. Spark conf given explicitly wins over these."""
    env = dict(os.environ if env is None else env)
    o = settings.object_storage
    endpoint = o.endpoint or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    region = o.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    conf: dict[str, str] = {}
    if endpoint:
        conf["fs.s3a.endpoint"] = endpoint
        conf["fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https://")).lower()
        region = region or "us-east-1"  # S3-compatible servers ignore it; the SDK wants one
    path_style = o.path_style_access if o.path_style_access is not None else bool(endpoint)
    conf["fs.s3a.path.style.access"] = str(path_style).lower()
    if region:
        conf["fs.s3a.endpoint.region"] = region
    if o.access_key and o.secret_key:
        conf["fs.s3a.access.key"] = o.access_key
        conf["fs.s3a.secret.key"] = o.secret_key
        conf["fs.s3a.aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        )
    if o.credentials_provider:
        conf["fs.s3a.aws.credentials.provider"] = o.credentials_provider
    return {f"spark.hadoop.{k}": v for k, v in conf.items()}


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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


def with_driver_java_options(conf: dict[str, str]) -> dict[str, str]:
    """conf with the recorded class-data-sharing options in front of any
    spark.driver.extraJavaOptions it gives (both apply: the archive and the user's flags)."""
    java_opts = driver_java_options()
    if not java_opts:
        return conf
    given = conf.get("spark.driver.extraJavaOptions", "").strip()
    return {**conf, "spark.driver.extraJavaOptions": f"{java_opts} {given}".strip()}


def get_spark(
    settings: Settings | None = None,
    app_name: str | None = None,
    extra_conf: dict[str, str] | None = None,
) -> SparkSession:
    settings = settings or load_settings()
    if settings.remote:
        return _connect(settings.remote, app_name)
    if under_spark_submit():
        builder = SparkSession.builder
        if app_name:
            builder = builder.appName(app_name)
        spark = builder.getOrCreate()
        _check_delta(spark)
        _apply_session_defaults(spark)
        return spark

    if re.match(r"^s3n?://", settings.warehouse):
        raise ConfigError(
            f"warehouse {settings.warehouse}: a local session reaches S3 through "
            "Hadoop's S3A connector: write s3a://" + settings.warehouse.split("://", 1)[1]
        )
    conf = {
        **BASE_CONF,
        **SESSION_DEFAULTS,
        "spark.ui.showConsoleProgress": console_progress(),
        "spark.sql.warehouse.dir": join_path(settings.warehouse, "catalog"),
        **settings.spark_conf,
        **(extra_conf or {}),
    }
    s3_jars: list[str] = []
    if needs_s3(settings, conf):
        s3_jars = jarlib.s3_jars(say=_progress)  # fetched now on first use
        conf = {**s3a_conf(settings), **conf}
    conf = with_driver_java_options(localfs.session_conf(conf))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.master(settings.master).appName(app_name or settings.app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    # resolved once (make jars, or now on first use): sessions start with no Ivy run
    builder = builder.config("spark.jars", ",".join([*delta_jars(), *s3_jars]))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.log_level)
    return spark


def _connect(url: str, app_name: str | None) -> SparkSession:
    """A Spark Connect client session; the server must have been started with Delta. The
    token of a server of ours on that port is sent with every request (connect_server); the
    address with the token is never printed."""
    address, token = connect_token.client_url(url)
    if token:
        address += f";token={token}"
    try:
        builder = SparkSession.builder.remote(address)
        if app_name:
            builder = builder.appName(app_name)
        return builder.getOrCreate()
    except ImportError as exc:  # the connect extras (grpcio...) are not installed
        raise ConfigError(
            f"--remote {redact_url(url)}: the Spark Connect client is not installed "
            f"(pip install 'pyspark[connect]'): {exc}"
        ) from exc


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
        self._sc = (
            None
            if spark is None or type(spark).__module__.startswith("pyspark.sql.connect")
            else spark.sparkContext
        )

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
    parser.add_argument(
        "--fetch-jars",
        action="store_true",
        help="start a local session once so Ivy caches Delta's jars, then record "
        "the JVM's class-data-sharing archive",
    )
    parser.add_argument(
        "--fetch-s3-jars",
        action="store_true",
        help="resolve Hadoop's S3 connector (hadoop-aws and the AWS SDK modules "
        "it uses) for s3a:// paths, afresh, and record the jar list",
    )
    parser.add_argument("--record-cds", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fetch_s3_jars:
        jarlib.s3_list_file().unlink(missing_ok=True)
        jarlib.s3_jars(say=print)
        if not args.fetch_jars:
            return 0
    settings = load_settings(warehouse=tempfile.gettempdir())
    if args.record_cds:  # in its own process: the archive is written when this JVM exits
        _warm(
            settings,
            {"spark.driver.extraJavaOptions": driver_java_options(archive_at_exit=_cds_archive())},
        )
        _exit_jvm()
        return 0
    if args.fetch_jars:
        _jar_list_file().unlink(missing_ok=True)  # resolve afresh
        for archive in _cache_dir().glob("*.jsa"):
            archive.unlink()  # recorded with other jars: no JVM would use it
        jarlib.fetch_delta_jars(delta_package(), _jar_list_file(), say=print)
        version = _warm(settings, {})
        subprocess.run(
            [sys.executable, "-m", "flowmosaic.spark.session", "--record-cds"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        print(
            f"Spark {version} with {delta_package()} ready: {len(cached_delta_jars())} jars "
            f"recorded in {_jar_list_file()}; class-data-sharing archive "
            f"{'recorded' if _cds_archive().exists() else 'not recorded (slower starts)'}"
        )
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
    needs are loaded; returns the Spark version."""
    spark = get_spark(
        settings,
        app_name="flowmosaic-fetch-jars",
        extra_conf={"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false", **conf},
    )
    path = tempfile.mkdtemp(prefix="flowmosaic-jar-check-")
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS delta.`{path}` (id BIGINT NOT NULL, m DATE NOT NULL) "
        "USING DELTA PARTITIONED BY (m) TBLPROPERTIES ('delta.checkpointInterval' = '20')"
    )
    df = spark.range(100).selectExpr("id", "DATE'2020-01-01' AS m")
    (
        df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", "m = DATE'2020-01-01'")
        .save(path)
    )
    spark.read.format("delta").load(path).groupBy("m").count().toPandas()
    version = spark.version
    spark.stop()
    shutil.rmtree(path, ignore_errors=True)
    return version


if __name__ == "__main__":
    raise SystemExit(main())

"""SparkSession factory.

Local default: master and conf from conf/local.yaml, Delta extension and catalog set, Delta's jars
resolved by Ivy (configure_spark_with_delta_pip). Under spark-submit the JVM and its session
already exist: we take that session as it is and add nothing the submit set.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from flowmosaic.config import Settings, load_settings

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def delta_package() -> str:
    """The Maven coordinate of Delta's jar matching the installed pyspark and delta-spark,
    for `spark-submit --packages`."""
    from importlib.metadata import version

    import pyspark
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{version('delta-spark')}"


def _jar_list_file() -> Path:
    # beside the interpreter's environment, so each virtualenv keeps its own resolution
    return Path(sys.prefix) / "flowmosaic-delta-jars" / f"{delta_package().replace(':', '_')}.txt"


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


def get_spark(settings: Settings | None = None, app_name: str | None = None,
              extra_conf: dict[str, str] | None = None) -> SparkSession:
    if under_spark_submit():
        builder = SparkSession.builder
        if app_name:
            builder = builder.appName(app_name)
        spark = builder.getOrCreate()
        _check_delta(spark)
        return spark

    settings = settings or load_settings()
    from delta import configure_spark_with_delta_pip

    conf = {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.warehouse.dir": f"{settings.warehouse.rstrip('/')}/catalog",
        # Quiet start: no bind warnings on hosts whose name resolves to loopback.
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        **settings.spark_conf,
        **(extra_conf or {}),
    }
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


def _check_delta(spark: SparkSession) -> None:
    exts = spark.conf.get("spark.sql.extensions", "") or ""
    if DELTA_EXTENSION not in exts:
        raise RuntimeError(
            "this Spark session has no Delta extension: submit with "
            f"--packages {delta_package()} "
            f"--conf spark.sql.extensions={DELTA_EXTENSION} "
            f"--conf spark.sql.catalog.spark_catalog={DELTA_CATALOG}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Spark session helper")
    parser.add_argument("--fetch-jars", action="store_true",
                        help="start a local session once so Ivy caches Delta's jars")
    args = parser.parse_args(argv)
    if args.fetch_jars:
        settings = load_settings(warehouse=os.path.join(os.getcwd(), ".venv", "jar-check"))
        _jar_list_file().unlink(missing_ok=True)  # resolve through Ivy afresh
        spark = get_spark(settings, app_name="flowmosaic-fetch-jars",
                          extra_conf={"spark.ui.enabled": "false"})
        path = os.path.join(settings.warehouse, "check")
        spark.range(3).write.format("delta").mode("overwrite").save(path)
        rows = spark.read.format("delta").load(path).count()
        n = _remember_jars(spark)
        spark.stop()
        print(f"Spark {spark.version} with {delta_package()} ready: wrote and read a Delta "
              f"table ({rows} rows); {n} jars recorded in {_jar_list_file()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""SparkSession factory.

Local default: master and conf from conf/local.yaml, Delta extension and catalog set, Delta's jars
resolved by Ivy (configure_spark_with_delta_pip). Under spark-submit the JVM and its session
already exist: we take that session as it is and add nothing the submit set.
"""
from __future__ import annotations

import argparse
import os
import sys

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
    spark = configure_spark_with_delta_pip(builder).getOrCreate()
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
        spark = get_spark(settings, app_name="flowmosaic-fetch-jars",
                          extra_conf={"spark.ui.enabled": "false"})
        version = spark.sql("SELECT 1 AS ok").collect()[0].ok
        spark.stop()
        print(f"Spark {spark.version} with Delta ready (check={version})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The CLI in the test's own process and Spark session."""

from __future__ import annotations

from flowmosaic.cli import main


def run_in_session(spark, args: list[str]) -> int:
    """`flowmosaic ARGS` in this process. The command reuses this Spark session and sets the
    settings file's Spark options on it: the session's runtime options are put back after."""

    def current() -> dict[str, str]:
        conf = spark.conf.getAll
        return dict(conf() if callable(conf) else conf)

    before = current()
    try:
        return main(args)
    finally:
        for key, value in current().items():
            if before.get(key) != value and spark.conf.isModifiable(key):
                if key in before:
                    spark.conf.set(key, before[key])
                else:
                    spark.conf.unset(key)

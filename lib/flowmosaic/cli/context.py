"""What every command gets: its parsed arguments, the settings they select, and a Spark
session started the first time a command asks for it (commands that need none start none)."""

from __future__ import annotations

import argparse
import datetime as dt
from functools import cached_property

from pyspark.sql import SparkSession

from flowmosaic.calendar import parse_date
from flowmosaic.config import Settings, load_settings
from flowmosaic.errors import InputError
from flowmosaic.spark.session import get_spark


class Context:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.command: str = args.command

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.args.conf, warehouse=self.args.warehouse, remote=self.args.remote)

    @cached_property
    def spark(self) -> SparkSession:
        return get_spark(self.settings, app_name=f"flowmosaic-{self.command}")

    def say(self, message: str) -> None:
        print(message, flush=True)


def add_common(p: argparse.ArgumentParser) -> None:
    """The options every command takes."""
    p.add_argument("--conf", help="settings YAML (default conf/local.yaml or $FLOWMOSAIC_CONF)")
    p.add_argument(
        "--warehouse",
        help="warehouse directory or URI, e.g. s3a://bucket/prefix (overrides the settings file)",
    )
    p.add_argument(
        "--remote",
        help="run on a Spark Connect server sc://HOST:PORT (see "
        "`flowmosaic serve`; or the settings key `remote`)",
    )


def add_force_replace(p: argparse.ArgumentParser) -> None:
    """The option that lets a delivery replace what the guard would refuse."""
    p.add_argument(
        "--force-replace",
        action="store_true",
        help="replace even when a batch rejects more rows than the settings' "
        "ingest.max_rejected_pct, or would empty or shrink a flow date, an allocation month "
        "or a series beyond ingest.max_drop_pct (the report lists what was removed)",
    )


def day(text: str | None) -> dt.date | None:
    """A --start/--end/--date value (yyyy-mm-dd or yyyymmdd)."""
    if text is None:
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        raise InputError(str(exc)) from exc


def month(text: str | None, option: str = "--alloc-month") -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.datetime.strptime(text.strip()[:7], "%Y-%m").date()
    except ValueError as exc:
        raise InputError(f"{option} wants YYYY-MM, got {text!r}") from exc

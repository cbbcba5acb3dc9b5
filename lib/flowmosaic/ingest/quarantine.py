"""What the quarantine holds, for a person fixing a delivery (`flowmosaic quarantine`,
docs/ingest.md "12. Quarantine"): one run's rejected rows (the latest run by default) grouped
by source, reason and file, with a few of the original rows each, and optionally all of them
as a CSV file to correct and re-ingest.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from flowmosaic import storage
from flowmosaic.config import Settings
from flowmosaic.errors import InputError


@dataclass
class Group:
    source_table: str
    reason: str
    source_file: str
    rows: int
    examples: list[tuple[str, str]]  # (detail, row as read)


@dataclass
class QuarantineView:
    run_id: str
    at: str
    rows: int
    groups: list[Group] = field(default_factory=list)
    runs: int = 0  # runs the table holds rows of

    def describe(self) -> str:
        out = [
            f"quarantine: run {self.run_id} ({self.at}): {self.rows:,} rejected row(s) "
            f"in {len(self.groups)} group(s); the table holds rows of {self.runs} run(s)"
        ]
        for g in self.groups:
            out.append(f"{g.source_table}  {g.reason}  {g.source_file}  {g.rows:,} row(s)")
            for detail, row in g.examples:
                out.append(f"    {detail or ''}")
                out.append(f"      {_shown_row(row)}")
        return "\n".join(out)


def _shown_row(row: str) -> str:
    """The row as read: a malformed line as it was, other rows as comma-separated values."""
    try:
        values = json.loads(row)
    except (TypeError, ValueError):
        return str(row)
    if isinstance(values, dict) and set(values) == {"line"}:
        return str(values["line"])
    if isinstance(values, dict):
        return ", ".join(f"{k}={'' if v is None else v}" for k, v in values.items())
    return str(row)


def view(
    spark: SparkSession,
    settings: Settings,
    run_id: str | None = None,
    source: str | None = None,
    reason: str | None = None,
    examples: int = 3,
) -> tuple[QuarantineView, pd.DataFrame]:
    """The run's rejected rows (the latest run's by default), grouped; and the rows."""
    q = storage.read_table(spark, settings, "quarantine")
    runs = q.groupBy("run_id").agg(F.max("quarantined_at").alias("at")).collect()
    if not runs:
        raise InputError("the quarantine is empty: no ingest rejected a row")
    if run_id is None:
        latest = max(runs, key=lambda r: (r["at"], r["run_id"]))
    else:
        match = [r for r in runs if r["run_id"] == run_id]
        if not match:
            known = ", ".join(r["run_id"] for r in sorted(runs, key=lambda r: r["at"])[-5:])
            raise InputError(f"no quarantined rows of run {run_id} (latest runs: {known})")
        latest = match[0]
    rows = q.where(F.col("run_id") == latest["run_id"])
    if source:
        rows = rows.where(F.col("source_table") == source)
    if reason:
        rows = rows.where(F.col("reason") == reason)
    pdf: pd.DataFrame = rows.select(
        "source_table", "reason", "source_file", "detail", "row_content"
    ).toPandas()
    result = QuarantineView(latest["run_id"], str(latest["at"]), len(pdf), runs=len(runs))
    if not pdf.empty:
        keys = ["source_table", "reason", "source_file"]
        for (table, why, file), g in pdf.groupby(keys, sort=True):
            ex = list(zip(g["detail"].head(examples), g["row_content"].head(examples)))
            result.groups.append(Group(table, why, file, len(g), ex))
    return result, pdf


def write_rows(pdf: pd.DataFrame, path: str) -> None:
    """The rows as CSV: source_table, reason, source_file, detail, row_content."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pdf.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)

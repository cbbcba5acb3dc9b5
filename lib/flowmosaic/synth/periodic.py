"""The weekly and monthly flow files: weekly_flows.<ext> and monthly_flows.<ext>.

One file each beside the daily flows (CSV with header, or one Parquet file, as the scale's flow
format), with the daily file's columns (FLOW_COLUMNS), one row per share class and full period
it reports, the period's flows summed from the days the daily model draws for the fund:
Flow, PortfolioChange and ForexChange summed, AssetsStart the first day's, AssetsEnd the last
day's, so AssetsEnd = AssetsStart + Flow + PortfolioChange + ForexChange holds in cents.

- monthly_flows: dated at the month's last calendar day; the vendor's superset: every fund of
  the universe (daily, weekly-only and monthly-only reporters) for every calendar month whose
  flow dates it all reports (a fund starting or stopping mid-month has no row for that month).
  A daily reporter's month is the sum of its days in the daily file, exactly.
- weekly_flows: dated at the week's end, a Wednesday (the week runs Thursday to Wednesday; a
  Friday before 2001-09-19, as calendar.period_end), for the weekly-only reporters only, for
  every full week. (Choice: not the daily reporters' weeks, at any scale: they would add 26% to
  the daily file's rows at 'large' and nothing the daily rows do not hold; the monthly file
  already has daily reporters in a coarser file.)

Each file is made by its own pass over the funds (the same code and streams as the daily flows,
so the same cents), written by Spark as header-less CSV or Parquet parts and joined into one
file in fund order.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from flowmosaic.synth.files import _concat_parts, _ids, _stack
from flowmosaic.synth.flows import _fund_flows
from flowmosaic.synth.funds import _profile
from flowmosaic.synth.plan import _full_periods, _Plan

MONEY = ("flow", "portfolio_change", "forex_change")


def _period_rows(plan: _Plan, prof: dict, daily: dict, freq: str) -> dict[str, np.ndarray]:
    """One fund's full-period rows (columns of FLOWS_SCHEMA, int64 cents) from its daily rows
    `daily` (_fund_flows' arrays, share class after share class)."""
    starts, lengths, full, period = _full_periods(plan, prof["start_row"], prof["end_row"], freq)
    k, n = prof["n_sc"], prof["end_row"] - prof["start_row"] + 1
    ends = plan.week_end if freq == "weekly" else plan.months_end
    assert ends is not None
    s, last = starts[full], (starts + lengths - 1)[full]
    out = {
        "day": np.tile(ends[period[full]], k),
        "fund": np.full(len(s) * k, prof["idx"], dtype=np.int32),
        "sc": np.repeat(np.arange(1, k + 1, dtype=np.int32), len(s)),
        "assets_start": daily["assets_start"].reshape(k, n)[:, s].ravel(),
        "assets_end": daily["assets_end"].reshape(k, n)[:, last].ravel(),
    }
    for c in MONEY:
        out[c] = np.add.reduceat(daily[c].reshape(k, n), starts, axis=1)[:, full].ravel()
    return {
        c: out[c] for c in ("day", "fund", "sc", "flow", "assets_start", "assets_end", *MONEY[1:])
    }


def _periodic_fn(plan: _Plan, freq: str, batch_rows: int = 200_000):
    """mapInPandas over fund ids: the full-period rows of the funds that belong in the file
    (monthly: every fund; weekly: the weekly-only reporters)."""

    def fn(batches):
        buf, size = [], 0
        for idx in _ids(batches):
            rng, prof = _profile(plan, idx)
            if freq == "weekly" and prof["reports"] != "weekly":
                continue
            part = _period_rows(plan, prof, _fund_flows(plan, rng, prof), freq)
            if not len(part["day"]):
                continue
            buf.append(part)
            size += len(part["day"])
            if size >= batch_rows:
                yield _stack(buf)
                buf, size = [], 0
        if buf:
            yield _stack(buf)

    return fn


def write_one_file(df, target: Path, fmt: str, header: list[str]) -> None:
    """Write a Spark DataFrame as one file: CSV with `header`, or Parquet (the parts' row
    groups, in part order)."""
    tmp = target.parent / f"_{target.stem}_parts"
    if fmt == "csv":
        df.write.mode("overwrite").option("header", "false").csv(str(tmp))
        _concat_parts(tmp, target, ",".join(header))
        return
    import pyarrow.parquet as pq

    df.write.mode("overwrite").parquet(str(tmp))
    writer = None
    try:
        for part in sorted(tmp.glob("part-*.parquet")):
            table = pq.read_table(part)
            if writer is None:
                writer = pq.ParquetWriter(str(target), table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    shutil.rmtree(tmp)

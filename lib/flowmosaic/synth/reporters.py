"""The vendor's reporter mix: who reports daily, weekly or monthly, and with what assets.

The vendor's coverage table for fixed income (2019, US$ bn, VENDOR_FI_2019): all funds 16,288;
cross-border 11,494; cross-border daily reporters 3,893; cross-border daily reporters with
allocations 507. Most assets report monthly only; the daily reporters with allocations (what
the flow-% signals and the mosaic stand on) are 4.4% of the cross-border assets.

The universe's usual funds (and the mosaic scenario's) are all daily reporters, and its
cross-border ones publish allocations: they are the 507. The generator adds, with ids after
theirs, in this order (the Roster):

    daily     cross-border funds with daily flows and NO allocation rows
              (DAILY_PER_FUND of the usual fund count, at least 2)
    hedge     the mosaic scenario's hedging plant (hedging.py), only with the scenario
    weekly    weekly-only reporters (WEEKLY_PER_FUND, at least 3)
    monthly   monthly-only reporters (MONTHLY_PER_FUND, at least 6)

(the ids of the scenario's funds are kept whether the scenario is on or not, so every other
fund keeps its FundId). A weekly or monthly fund j is cross-border unless j % XB_EVERY ==
XB_EVERY - 1 (two in three), and is drawn like a usual fund otherwise (funds.py, from stream
[seed, 6, group, j]); its cross-border funds publish allocations like the usual ones. The new
funds are few (tiny: 4 + 8 + 20), so their sizes are scaled per group (size_scales) to put the
group's starting assets at the vendor's proportion of the usual cross-border funds' starting
assets A:

    daily (cross-border, no allocations)   (3,893 - 507) / 507 A
    weekly cross-border                     WEEKLY_SHARE x (11,494 - 3,893) / 507 A
    monthly cross-border                    (1 - WEEKLY_SHARE) x (11,494 - 3,893) / 507 A
    weekly single-country                   WEEKLY_SHARE x ((16,288 - 11,494) / 507 A - S)
    monthly single-country                  (1 - WEEKLY_SHARE) x the same

with S the usual single-country funds' starting assets. The manifest's reporter_mix measures the
mix from the monthly file (every fund's full months) at each year's last full month.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from flowmosaic import calendar as cal

VENDOR_FI_2019 = {  # US$ bn, the vendor's 2019 coverage table for fixed income
    "all_funds": 16_288,
    "cross_border": 11_494,
    "cross_border_daily": 3_893,
    "cross_border_daily_with_allocations": 507,
}
DAILY_PER_FUND = 0.05  # daily reporters without allocations, per usual fund
WEEKLY_PER_FUND = 0.10
MONTHLY_PER_FUND = 0.25
WEEKLY_SHARE = 0.12  # the weekly-only reporters' part of the assets that do not report daily
XB_EVERY = 3  # weekly / monthly fund j is single-country when j % 3 == 2
GROUP_KEY = {"daily": 0, "weekly": 1, "monthly": 2}  # stream [seed, 6, key, j]
KINDS = ("base", "launched", "daily", "hedge", "weekly", "monthly")
MIX_CATEGORIES = ("all", "daily", "daily_with_allocations", "weekly_only", "monthly_only")


@dataclass(frozen=True)
class _Roster:
    """The funds by id: usual [0, n_base), then the groups of KINDS in order."""

    n_base: int
    n_launch: int  # ids reserved for the scenario's launched funds (present with it)
    n_daily: int = 0
    n_hedge: int = 0  # ids reserved for the hedging plant (present with the scenario)
    n_weekly: int = 0
    n_monthly: int = 0
    mosaic: bool = True
    scales: dict[str, float] = field(default_factory=dict)  # size factor per group (size_scales)

    def groups(self) -> list[tuple[str, int, int]]:
        """(kind, first id, count) of every group, present or not, in id order."""
        out, a = [], 0
        for kind, n in zip(
            KINDS,
            (self.n_base, self.n_launch, self.n_daily, self.n_hedge, self.n_weekly, self.n_monthly),
        ):
            out.append((kind, a, n))
            a += n
        return out

    def present(self, kind: str) -> bool:
        return self.mosaic or kind not in ("launched", "hedge")

    def kind(self, idx: int) -> tuple[str, int]:
        """(kind, index within the group) of fund id idx."""
        for kind, a, n in self.groups():
            if a <= idx < a + n:
                return kind, idx - a
        raise IndexError(f"fund id {idx} is outside the roster")

    def first(self, kind: str) -> int:
        return next(a for k, a, _ in self.groups() if k == kind)

    def ranges(self, *kinds: str) -> list[tuple[int, int]]:
        """The id ranges [a, b) of the present groups among `kinds`, contiguous ones merged."""
        out: list[tuple[int, int]] = []
        for kind, a, n in self.groups():
            if kind in kinds and n and self.present(kind):
                if out and out[-1][1] == a:
                    out[-1] = (out[-1][0], a + n)
                else:
                    out.append((a, a + n))
        return out

    def scale(self, kind: str, xb: bool) -> float:
        return self.scales.get(_group(kind, xb), 1.0)


def _group(kind: str, xb: bool) -> str:
    return f"{kind}-{'xb' if xb else 'single'}"


def make_roster(n_base: int, n_launch: int, n_hedge: int, mosaic: bool, vendor: bool) -> _Roster:
    """The roster of n_base usual funds; vendor=False: no new funds (the universe as before)."""
    if not vendor:
        return _Roster(n_base, n_launch, mosaic=mosaic)
    return _Roster(
        n_base,
        n_launch,
        n_daily=max(2, int(round(n_base * DAILY_PER_FUND))),
        n_hedge=n_hedge,
        n_weekly=max(3, int(round(n_base * WEEKLY_PER_FUND))),
        n_monthly=max(6, int(round(n_base * MONTHLY_PER_FUND))),
        mosaic=mosaic,
    )


def size_scales(fs: pd.DataFrame) -> dict[str, float]:
    """Size factor per new group (module docstring) from the funds frame with the drawn sizes
    (columns group, xb, size)."""
    base = fs[fs["group"] == "base"]
    a = float(base.loc[base["xb"], "size"].sum())
    s = float(base.loc[~base["xb"], "size"].sum())
    v = VENDOR_FI_2019
    unit = a / v["cross_border_daily_with_allocations"]
    other_xb = (v["cross_border"] - v["cross_border_daily"]) * unit
    single = max(0.0, (v["all_funds"] - v["cross_border"]) * unit - s)
    target = {
        "daily-xb": (v["cross_border_daily"] - v["cross_border_daily_with_allocations"]) * unit,
        "weekly-xb": WEEKLY_SHARE * other_xb,
        "monthly-xb": (1.0 - WEEKLY_SHARE) * other_xb,
        "weekly-single": WEEKLY_SHARE * single,
        "monthly-single": (1.0 - WEEKLY_SHARE) * single,
    }
    drawn = fs.groupby(fs["group"] + "-" + fs["xb"].map({True: "xb", False: "single"}))["size"]
    sums = drawn.sum()
    return {g: t / float(sums[g]) for g, t in target.items() if g in sums.index and sums[g] > 0}


def mix_months(fdates: list[dt.date]) -> list[dt.date]:
    """Per calendar year of the range, the month end of its last full month (every flow date
    of the month in the range): December, or the range's last full month."""
    have = set(fdates)
    out: dict[int, dt.date] = {}
    m = cal.month_start(fdates[0])
    while m <= fdates[-1]:
        days = cal.flow_dates(m, cal.month_end(m))
        if days and all(d in have for d in days):
            out[m.year] = cal.month_end(m)
        m = cal.add_months(m, 1)
    return sorted(out.values())


def _month_end_assets(path: Path, fmt: str, months: list[str]) -> pd.DataFrame:
    """(date, FundId, assets in cents) summed over share classes, of the monthly file's rows
    dated in `months`, streamed in record batches (no Spark job: the file is one file)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = ["ReportDate", "FundId", "AssetsEnd"]
    if fmt == "csv":
        from pyarrow import csv

        batches = csv.open_csv(
            str(path),
            convert_options=csv.ConvertOptions(
                include_columns=cols, column_types=dict.fromkeys(cols, pa.string())
            ),
        )
    else:
        import pyarrow.parquet as pq

        batches = pq.ParquetFile(str(path)).iter_batches(columns=cols)
    keep = pa.array(months)
    parts = []
    for b in batches:
        date = pc.cast(b.column(0), pa.string())
        sel = pc.is_in(date, value_set=keep)
        if not pc.any(sel).as_py():
            continue
        if fmt == "csv":  # exact text with 2 decimals: cents without the point
            cents = pc.cast(pc.replace_substring(b.column(2), ".", ""), pa.int64())
        else:
            cents = pc.cast(pc.round(pc.multiply(b.column(2), 100.0)), pa.int64())
        parts.append(
            pd.DataFrame(
                {
                    "date": pc.filter(date, sel).to_pandas(),
                    "FundId": pc.filter(b.column(1), sel).to_pandas(),
                    "cents": pc.filter(cents, sel).to_pandas(),
                }
            )
        )
    if not parts:
        return pd.DataFrame({"date": [], "FundId": [], "cents": []})
    df = pd.concat(parts, ignore_index=True)
    return df.groupby(["date", "FundId"], as_index=False)["cents"].sum()


def reporter_mix(path: Path, fmt: str, fs: pd.DataFrame, fdates: list[dt.date]) -> dict:
    """manifest.json's reporter_mix, from the monthly file's rows at mix_months: per year the
    month-end assets (sum of AssetsEnd, US$) and fund counts of every category of
    MIX_CATEGORIES, among all funds and among the cross-border ones."""
    months = [d.isoformat() for d in mix_months(fdates)]
    rows = _month_end_assets(path, fmt, months)
    funds = pd.DataFrame(
        {
            "FundId": fs["fund"].map("F{:06d}".format),
            "xb": fs["xb"].astype(bool),
            "reports": fs["reports"],
            "published": fs["alloc_rows"] > 0,
        }
    )
    rows = rows.merge(funds, on="FundId", how="left", validate="m:1")
    daily = rows["reports"] == "daily"
    member = {
        "all": pd.Series(True, index=rows.index),
        "daily": daily,
        "daily_with_allocations": daily & rows["published"],
        "weekly_only": rows["reports"] == "weekly",
        "monthly_only": rows["reports"] == "monthly",
    }
    by_year: dict[str, dict] = {}
    for month in months:
        at = rows["date"] == month
        entry: dict = {"month_end": month}
        for scope, sel in (("all_funds", at), ("cross_border", at & rows["xb"])):
            entry[scope] = {
                "funds": {c: int((sel & member[c]).sum()) for c in MIX_CATEGORIES},
                "assets_usd": {
                    c: int(rows.loc[sel & member[c], "cents"].sum()) / 100 for c in MIX_CATEGORIES
                },
            }
        xb = entry["cross_border"]["assets_usd"]
        total = entry["all_funds"]["assets_usd"]["all"]
        entry["cross_border_share_of_all_assets"] = round(xb["all"] / total, 4) if total else None
        entry["shares_of_cross_border_assets"] = {
            c: round(xb[c] / xb["all"], 4) if xb["all"] else None for c in MIX_CATEGORIES[1:]
        }
        by_year[month[:4]] = entry
    v = VENDOR_FI_2019
    return {
        "enabled": True,
        "definition": "per year, the month-end assets (sum of AssetsEnd, US$) and fund counts "
        "in monthly_flows at the year's last full month (December, or the range's last full "
        "month): of all funds and of the cross-border ones (CrossBorder true), split into "
        "daily reporters (the daily flows file), daily reporters with allocations (those with "
        "allocation rows), weekly-only and monthly-only reporters; a fund without that month "
        "in full (starting late, stopping early) is not counted",
        "vendor_fixed_income_2019_usd_bn": v,
        "vendor_shares_of_cross_border_assets": {
            "daily": round(v["cross_border_daily"] / v["cross_border"], 4),
            "daily_with_allocations": round(
                v["cross_border_daily_with_allocations"] / v["cross_border"], 4
            ),
        },
        "vendor_cross_border_share_of_all_assets": round(v["cross_border"] / v["all_funds"], 4),
        "by_year": by_year,
    }

"""`generate`: the orchestration: draws the funds, the market, the scenario's totals and the
external series on the driver, has Spark write allocations and the daily, weekly and monthly
flows, and records the manifest.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from flowmosaic import calendar as cal
from flowmosaic.config import load_countries
from flowmosaic.synth.allocations import _alloc_fn, alloc_columns
from flowmosaic.synth.currencies import HEDGE_P
from flowmosaic.synth.external import (
    COVERAGE_FUNDS,
    EXTERNAL_COLUMNS,
    EXTERNAL_SERIES,
    external_series,
)
from flowmosaic.synth.files import _concat_parts, _du, _fund_id, _money, _share_id
from flowmosaic.synth.flows import FLOW_COLUMNS, FLOWS_SCHEMA, _flows_fn
from flowmosaic.synth.funds import FUND_COLUMNS, _funds_fn, _funds_schema, write_funds
from flowmosaic.synth.hedging import n_hedge_funds
from flowmosaic.synth.market import (
    BURN_IN,
    EFFECT_LAG,
    K_RET,
    K_YLD,
    alloc_tilt,
    mixing_matrix,
    simulate_latent,
    simulate_market,
)
from flowmosaic.synth.non_country import NON_COUNTRY_COLUMNS, NON_COUNTRY_KIND
from flowmosaic.synth.periodic import _periodic_fn, write_one_file
from flowmosaic.synth.plan import _make_plan
from flowmosaic.synth.reporters import _Roster, make_roster, reporter_mix, size_scales
from flowmosaic.synth.scales import SCALES
from flowmosaic.synth.scenario import MOSAIC_MONTHS, n_launched
from flowmosaic.synth.scenario_totals import _hedge_totals, _scenario_manifest, _scenario_pass
from flowmosaic.synth.tail import tail_destinations


@dataclass
class GenerateSummary:
    out: str
    scale: str
    seed: int
    effect: float
    bond_effect: float
    fmt: str
    start: str
    end: str
    n_flow_dates: int
    n_weekdays: int
    n_funds: int
    n_cross_border: int
    n_share_classes: int
    flow_rows: int
    allocation_rows: int
    partitions: int
    mosaic: bool = True
    alloc_effect: float = 0.0  # the planted allocation-change effect
    n_scenario_funds: int = 0  # funds the mosaic scenario adds (included in n_funds)
    # destinations in the allocation file (held by at least one cross-border fund), and the
    # long tail's among them
    n_destinations: int = 0
    n_tail_destinations: int = 0
    # the vendor model (share-class currencies, weekly and monthly reporters, daily reporters
    # without allocations, the hedging plant): funds by how they report, rows of its files
    vendor_model: bool = True
    n_reporters: dict[str, int] = field(default_factory=dict)
    weekly_rows: int = 0
    monthly_rows: int = 0
    # the allocation lines that are not countries (non_country.py): whether they are written,
    # and per kind (cash, other, supranational) its column, the (fund, month) lines written
    # and their mean percent
    non_country: bool = True
    non_country_lines: dict[str, dict] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    bytes_on_disk: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def describe(self) -> str:
        mb = {k: v / 1e6 for k, v in self.bytes_on_disk.items()}
        lines = [
            f"synthetic universe '{self.scale}' (seed {self.seed}, effect {self.effect}"
            + (f", bond effect {self.bond_effect}" if self.bond_effect != self.effect else "")
            + (f", allocation-change effect {self.alloc_effect}" if self.alloc_effect else "")
            + f") -> {self.out}",
            f"  dates       {self.start} .. {self.end}: {self.n_flow_dates:,} flow dates, "
            f"{self.n_weekdays:,} market weekdays",
            f"  funds       {self.n_funds:,} ({self.n_cross_border:,} cross-border), "
            f"{self.n_share_classes:,} share classes",
            "  scenario    "
            + (
                f"mosaic (last {MOSAIC_MONTHS} months; {self.n_scenario_funds} funds of its own)"
                if self.mosaic
                else "none"
            ),
            "  reporters   "
            + (
                ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in self.n_reporters.items())
                if self.vendor_model
                else "all daily (no vendor model)"
            ),
            f"  flows       {self.flow_rows:,} rows ({self.fmt}, {self.partitions} partitions), "
            f"{mb.get('flows', 0):,.1f} MB",
            *(
                [
                    f"  periodic    {self.weekly_rows:,} weekly rows, "
                    f"{mb.get('weekly_flows', 0):,.1f} MB; {self.monthly_rows:,} monthly rows, "
                    f"{mb.get('monthly_flows', 0):,.1f} MB"
                ]
                if self.vendor_model
                else []
            ),
            f"  allocations {self.allocation_rows:,} fund-months over {self.n_destinations} "
            f"destinations ({self.n_tail_destinations} beyond the 52), "
            f"{mb.get('allocations', 0):,.1f} MB",
            *(
                [
                    "  non-country "
                    + ", ".join(
                        f"{v['lines']:,} {k} lines (mean {v['mean_pct']:.2f} %)"
                        for k, v in self.non_country_lines.items()
                    )
                ]
                if self.non_country
                else []
            ),
            f"  market      {mb.get('returns', 0) + mb.get('yields', 0):,.1f} MB, external "
            f"series {mb.get('external_series', 0):,.2f} MB; total "
            f"{sum(mb.values()):,.1f} MB",
            f"  generated in {self.seconds:.1f} s ("
            + ", ".join(f"{k} {v:.1f}" for k, v in self.stage_seconds.items())
            + ")",
        ]
        return "\n".join(lines)


def generate(
    spark,
    out: str | os.PathLike,
    scale: str = "tiny",
    seed: int = 7,
    fmt: str | None = None,
    effect: float | None = None,
    *,
    n_funds: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    partitions: int | None = None,
    bond_effect: float | None = None,
    mosaic: bool = True,
    alloc_effect: float = 0.0,
    tail_countries: int | None = None,
    vendor_model: bool = True,
    non_country_lines: bool | None = None,
) -> GenerateSummary:
    """Write a synthetic universe under `out` (layout in the docstring of flowmosaic.synth).

    fmt ('csv' | 'parquet') and effect default to the scale's; n_funds, start, end and partitions
    override the scale (tests use tiny custom universes). bond_effect is the yields' planted
    effect: by default the scale's when effect is the scale's too, else `effect`, so an explicit
    effect sets both (as before bond_effect existed). mosaic=False leaves out the mosaic
    scenario: every file but manifest.json and market/external_series.csv is then byte for byte
    what the generator wrote before the scenario existed. alloc_effect: the planted
    allocation-change effect (flowmosaic.synth.market; 0: none). tail_countries: destinations
    beyond the 52 that funds may hold (TAIL_ZIPF; default the scale's, 0 below 'large').
    vendor_model=False leaves out the vendor's data model (share classes' Currency and Hedged,
    the weekly and monthly files and their reporters, the daily reporters without allocations,
    the mosaic scenario's hedging plant): every file but manifest.json is then byte for byte
    what the generator wrote before it existed. With it, those files' existing rows are the
    same and come first (funds.csv, allocations.csv; the daily flows' part files are the same
    files, the new funds' in parts after them). non_country_lines (default: vendor_model): the
    allocation lines that are not countries (Cash, Other, Supranational; non_country.py), columns
    after the country columns, out of each row's uninvested rest; without them every other
    column of allocations.csv is the same, byte for byte.
    """
    t0 = time.time()
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}")
    spec = SCALES[scale]
    fmt = fmt or spec.fmt
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    if bond_effect is None:
        bond_effect = spec.bond_effect if effect is None else effect
    bond_effect = float(spec.effect if bond_effect is None else bond_effect)
    effect = spec.effect if effect is None else float(effect)
    n_funds = spec.n_funds if n_funds is None else int(n_funds)
    start = start or spec.start
    end = end or spec.end
    k = int(partitions or spec.partitions)
    n_tail = spec.tail_countries if tail_countries is None else int(tail_countries)
    lines = vendor_model if non_country_lines is None else bool(non_country_lines)
    if not cal.flow_dates(start, end):
        raise ValueError(f"no flow dates between {start} and {end}")

    countries = load_countries()
    order = countries.published_order
    g10 = countries.groups["G10"]
    outp = Path(out).resolve()
    outp.mkdir(parents=True, exist_ok=True)
    (outp / "market").mkdir(exist_ok=True)
    paths = {
        "funds": outp / "funds.csv",
        "share_classes": outp / "share_classes.csv",
        "flows": outp / "flows",
        "allocations": outp / "allocations.csv",
        "returns": outp / "market" / "returns_daily.csv",
        "yields": outp / "market" / "yields_10y.csv",
        "external_series": outp / "market" / "external_series.csv",
    }
    ext_flows = "csv" if fmt == "csv" else "parquet"
    if vendor_model:
        paths["weekly_flows"] = outp / f"weekly_flows.{ext_flows}"
        paths["monthly_flows"] = outp / f"monthly_flows.{ext_flows}"
    paths["manifest"] = outp / "manifest.json"

    stages: dict[str, float] = {}
    lap = [time.time()]

    def stage(name: str) -> None:
        now = time.time()
        stages[name] = round(now - lap[0], 2)
        lap[0] = now

    fdates = cal.flow_dates(start, end)
    latent = simulate_latent(seed, len(fdates), len(order))[BURN_IN:]
    tilt = alloc_tilt(seed, fdates, len(order)) if alloc_effect else None
    tail = tail_destinations(seed, n_tail)
    roster = make_roster(n_funds, n_launched(n_funds), n_hedge_funds(n_funds), mosaic, vendor_model)
    base_plan = _make_plan(seed, order, fdates, latent, roster=roster, alloc_tilt=tilt, tail=tail)
    n_extra = sum(n for kind, _, n in roster.groups() if kind in ("launched", "hedge") and mosaic)
    # The funds that existed before the vendor model (the usual ones and the scenario's
    # launched funds) keep their partitioning, so their part files stay the same; the new
    # funds come in partitions of their own after them.
    n_old = roster.ranges("base", "launched")[0][1]
    old_ids = spark.range(0, n_old, 1, k)

    def ids(*kinds: str):
        df = old_ids if "base" in kinds else None
        for a, b in roster.ranges(*[x for x in kinds if x not in ("base", "launched")]):
            part = spark.range(a, b, 1, max(1, int(round(k * (b - a) / n_old))))
            df = part if df is None else df.union(part)
        return df

    # Funds and share classes: generated by Spark, small enough to write with pandas. The new
    # reporter groups' sizes are then scaled to the vendor's mix (reporters.size_scales).
    fs = (
        ids("base", "daily", "hedge", "weekly", "monthly")
        .mapInPandas(_funds_fn(base_plan), _funds_schema(len(order)))
        .toPandas()
    )
    fs = fs.sort_values("fund", kind="stable").reset_index(drop=True)
    if vendor_model:
        roster = replace(roster, scales=size_scales(fs))
        for kind in ("daily", "weekly", "monthly"):
            for xb in (True, False):
                sel = (fs["group"] == kind) & (fs["xb"] == xb)
                fs.loc[sel, "size"] *= roster.scale(kind, xb)
    sc = write_funds(fs, paths["funds"], paths["share_classes"], vendor_model)
    flow_rows = int(fs["flow_rows"].sum())
    alloc_rows = int(fs["alloc_rows"].sum())
    xb_w = fs.loc[fs["alloc_rows"] > 0, [f"w{i}" for i in range(len(order))]].to_numpy()
    tail_held = set(",".join(fs["tail"]).split(",")) - {""}
    old = fs[fs["fund"] < n_old]
    stage("funds")

    # Market: the planted effect follows the flows the cross-border funds would show (the
    # funds that existed before the vendor model, so the market files stay the same).
    w = old[[f"w{i}" for i in range(len(order))]].to_numpy()
    size = old["size"].to_numpy()
    mixes = {}
    for ac in ("E", "B"):
        sel = ((old["ac"] == ac) & old["xb"]).to_numpy()
        mixes[ac] = mixing_matrix(w[sel], size[sel])
    market = simulate_market(
        seed, order, g10, start, end, effect, mixes["E"], mixes["B"], bond_effect, alloc_effect
    )
    plan = _make_plan(
        seed, order, fdates, latent, market, roster=roster, alloc_tilt=tilt, tail=tail
    )
    wd = [cal.to_yyyymmdd(d) for d in market["weekdays"]]
    ret = pd.DataFrame(np.round(market["returns"], 6), columns=list(order))
    ret.insert(0, "date", wd)
    ret.to_csv(paths["returns"], index=False, float_format="%.6f")
    yl = pd.DataFrame(np.round(market["yields"], 4), columns=list(g10))
    yl.insert(0, "date", wd)
    yl.to_csv(paths["yields"], index=False, float_format="%.4f")
    stage("market")

    # The scenario's totals and the external series need a few funds' flows: on the driver
    # (the external series from the funds that existed before the vendor model).
    jp_flows, groups = _scenario_pass(plan, old, fdates)
    if plan.mosaic is not None and roster.n_hedge:
        groups["us_bond_hedging_switch"] = _hedge_totals(plan, fs, fdates)
    drift = groups.get("us_bond_weight_drift", {}).get("factor_by_month")
    ext = external_series(
        seed,
        start,
        end,
        fdates,
        jp_flows["foreign"],
        jp_flows["foreign_base"],
        market["returns_flow"][:, order.index("JP")],
        n_funds,
        drift,
    )
    ext.to_csv(paths["external_series"], index=False)
    stage("scenario")

    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    # Allocations: Spark writes header-less parts, concatenated in order into one CSV; the
    # non-country lines are counted as they are written.
    alloc_cols = ["ReportDate", "FundId", *alloc_columns(plan, lines)]
    adf = ids("base", "weekly", "monthly").mapInPandas(
        _alloc_fn(plan, lines),
        "day int, fund int, " + ", ".join(f"{c} double" for c in alloc_cols[2:]),
    )
    adf = adf.select(
        F.expr("date_from_unix_date(day)").alias("ReportDate"),
        _fund_id().alias("FundId"),
        *[F.col(c).cast("decimal(8,4)").alias(c) for c in alloc_cols[2:]],
    )
    seen = None
    if lines:
        seen = Observation("non_country_lines")
        adf = adf.observe(
            seen,
            *[F.count(c).alias(f"n_{c}") for c in NON_COUNTRY_COLUMNS],
            *[F.sum(c).alias(f"s_{c}") for c in NON_COUNTRY_COLUMNS],
        )
    tmp = outp / "_allocations_parts"
    adf.write.mode("overwrite").option("header", "false").csv(str(tmp))
    _concat_parts(tmp, paths["allocations"], ",".join(alloc_cols))
    line_counts = _line_counts(seen.get if seen is not None else None)
    stage("allocations")

    def flow_columns(df):
        return df.select(
            F.expr("date_from_unix_date(day)").alias("ReportDate"),
            _share_id().alias("ShareId"),
            _fund_id().alias("FundId"),
            _money("flow", fmt).alias("Flow"),
            _money("assets_start", fmt).alias("AssetsStart"),
            _money("assets_end", fmt).alias("AssetsEnd"),
            _money("portfolio_change", fmt).alias("PortfolioChange"),
            _money("forex_change", fmt).alias("ForexChange"),
        )

    # Flows: the big one, streamed per fund group inside each task.
    fdf = flow_columns(ids("base", "daily", "hedge").mapInPandas(_flows_fn(plan), FLOWS_SCHEMA))
    writer = fdf.write.mode("overwrite")
    if fmt == "csv":
        writer.option("header", "true").csv(str(paths["flows"]))
    else:
        writer.parquet(str(paths["flows"]))
    stage("flows")

    # Weekly and monthly files, and the reporter mix measured on the monthly one.
    mix: dict = {"enabled": False}
    if vendor_model:
        for freq, kinds in (
            ("weekly", ("weekly",)),
            ("monthly", ("base", "daily", "hedge", "weekly", "monthly")),
        ):
            pdf = ids(*kinds).mapInPandas(_periodic_fn(plan, freq), FLOWS_SCHEMA)
            write_one_file(flow_columns(pdf), paths[f"{freq}_flows"], fmt, FLOW_COLUMNS)
        stage("periodic")
        mix = reporter_mix(paths["monthly_flows"], fmt, fs, fdates)
        stage("mix")

    fd = fdates
    summary = GenerateSummary(
        out=str(outp),
        scale=scale,
        seed=seed,
        effect=effect,
        bond_effect=bond_effect,
        fmt=fmt,
        start=fd[0].isoformat(),
        end=fd[-1].isoformat(),
        n_flow_dates=len(fd),
        n_weekdays=len(market["weekdays"]),
        n_funds=len(fs),
        mosaic=mosaic,
        alloc_effect=float(alloc_effect),
        n_scenario_funds=n_extra,
        n_destinations=int((xb_w > 0).any(axis=0).sum()) + len(tail_held),
        n_tail_destinations=len(tail_held),
        n_cross_border=int(fs["xb"].sum()),
        n_share_classes=len(sc),
        flow_rows=flow_rows,
        allocation_rows=alloc_rows,
        partitions=k,
        vendor_model=vendor_model,
        n_reporters=_reporter_counts(fs, roster) if vendor_model else {},
        weekly_rows=int(fs["week_rows"].sum()) if vendor_model else 0,
        monthly_rows=int(fs["month_rows"].sum()) if vendor_model else 0,
        non_country=lines,
        non_country_lines=line_counts,
        paths={name: str(p) for name, p in paths.items()},
        bytes_on_disk={name: _du(p) for name, p in paths.items() if name != "manifest"},
        stage_seconds=stages,
    )
    summary.seconds = round(time.time() - t0, 2)
    manifest = asdict(summary)
    manifest.update(
        {
            "generator": "flowmosaic.synth",
            "planted_effect": {
                "definition": "return(c,t) += effect*K_RET*s_E(c,t-3); dyield_bp(c,t) -= "
                "bond_effect*K_YLD*s_B(c,t-3); s_U = cross-sectional z-score of the "
                "20-row compounded latent flow factors mixed by the cross-border funds' "
                "AUM-weighted allocations of asset class U (see flowmosaic.synth)",
                "K_RET_pct_per_day": K_RET,
                "K_YLD_bp_per_day": K_YLD,
                "lag_rows": EFFECT_LAG,
            },
            "single_country_funds": "no allocation rows; 100% in their GeographicFocus country",
            "mosaic_scenario": _scenario_manifest(plan, fdates, groups),
            "external_series": {
                "path": "market/external_series.csv",
                "columns": EXTERNAL_COLUMNS,
                "coverage": min(1.0, n_funds / COVERAGE_FUNDS),
                "series": [
                    {
                        "series": a,
                        "country": b,
                        "unit": c,
                        "frequency": d,
                        "description": e,
                        "rows": int((ext["series"] == a).sum()),
                    }
                    for a, b, c, d, e in EXTERNAL_SERIES
                ],
            },
            "reporter_mix": mix,
            "non_country_lines": {
                "enabled": lines,
                "definition": "allocation lines that are not countries, columns after the "
                "country columns (conf/destinations.yaml non_country; ingest keeps them in "
                "fund_allocations_other): per cross-border fund and month from stream "
                "[seed, 7, fund], out of the row's uninvested rest (100 minus its country "
                "columns), so no row sums above 100 and no country weight moves "
                "(flowmosaic.synth.non_country); lines: the (fund, month) lines written (cells "
                "not blank), mean_pct: their mean percent",
                "by_kind": line_counts,
            },
            "share_class_currencies": {
                "enabled": vendor_model,
                "definition": "share class 1 is in the fund's base currency (by domicile; "
                "drawn for LU, IE, KY), never hedged; a further class draws its currency from "
                "its domicile's mix and, in a currency other than the base, is hedged with "
                "the asset class's probability (flowmosaic.synth.currencies)",
                "hedge_probability": HEDGE_P,
            },
            "columns": {
                "flows": FLOW_COLUMNS,
                "funds": FUND_COLUMNS,
                "share_classes": list(sc.columns),
                "allocations": alloc_cols,
                **(
                    {"weekly_flows": FLOW_COLUMNS, "monthly_flows": FLOW_COLUMNS}
                    if vendor_model
                    else {}
                ),
            },
        }
    )
    paths["manifest"].write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return summary


def _line_counts(row: dict | None) -> dict[str, dict]:
    """Per kind of non-country line: its column, the (fund, month) lines written and their
    mean percent (from the observed counts and decimal sums of the allocations' write)."""
    if row is None:
        return {}
    out = {}
    for c in NON_COUNTRY_COLUMNS:
        n = int(row[f"n_{c}"] or 0)
        total = row[f"s_{c}"] or 0
        out[NON_COUNTRY_KIND[c]] = {
            "column": c,
            "lines": n,
            "mean_pct": round(float(total) / n, 4) if n else 0.0,
        }
    return out


def _reporter_counts(fs: pd.DataFrame, roster: _Roster) -> dict[str, int]:
    """Funds by how they report (the summary's n_reporters)."""
    daily = fs["reports"] == "daily"
    return {
        "daily_reporters": int(daily.sum()),
        "daily_without_allocations": int((daily & fs["xb"] & (fs["alloc_rows"] == 0)).sum()),
        "hedging_plant": int((fs["group"] == "hedge").sum()),
        "weekly_only": int((fs["reports"] == "weekly").sum()),
        "monthly_only": int((fs["reports"] == "monthly").sum()),
    }

"""`generate`: the orchestration: draws the funds, the market, the scenario's totals and the
external series on the driver, has Spark write allocations and flows, and records the manifest.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from flowmosaic import calendar as cal
from flowmosaic.config import load_countries
from flowmosaic.synth.allocations import _alloc_fn
from flowmosaic.synth.external import (
    COVERAGE_FUNDS,
    EXTERNAL_COLUMNS,
    EXTERNAL_SERIES,
    external_series,
)
from flowmosaic.synth.files import _concat_parts, _du, _fund_id, _money, _share_id
from flowmosaic.synth.flows import FLOW_COLUMNS, FLOWS_SCHEMA, _flows_fn
from flowmosaic.synth.funds import FUND_COLUMNS, SHARE_CLASS_COLUMNS, _funds_fn, _funds_schema
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
from flowmosaic.synth.plan import _make_plan
from flowmosaic.synth.scales import SCALES
from flowmosaic.synth.scenario import MOSAIC_MONTHS
from flowmosaic.synth.scenario_totals import _scenario_manifest, _scenario_pass
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
                f"mosaic (last {MOSAIC_MONTHS} months; {self.n_scenario_funds} launched funds)"
                if self.mosaic
                else "none"
            ),
            f"  flows       {self.flow_rows:,} rows ({self.fmt}, {self.partitions} partitions), "
            f"{mb.get('flows', 0):,.1f} MB",
            f"  allocations {self.allocation_rows:,} fund-months over {self.n_destinations} "
            f"destinations ({self.n_tail_destinations} beyond the 52), "
            f"{mb.get('allocations', 0):,.1f} MB",
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
        "manifest": outp / "manifest.json",
    }

    stages: dict[str, float] = {}
    lap = [time.time()]

    def stage(name: str) -> None:
        now = time.time()
        stages[name] = round(now - lap[0], 2)
        lap[0] = now

    fdates = cal.flow_dates(start, end)
    latent = simulate_latent(seed, len(fdates), len(order))[BURN_IN:]
    n_base = n_funds if mosaic else None
    tilt = alloc_tilt(seed, fdates, len(order)) if alloc_effect else None
    tail = tail_destinations(seed, n_tail)
    base_plan = _make_plan(seed, order, fdates, latent, n_base=n_base, alloc_tilt=tilt, tail=tail)
    n_extra = base_plan.mosaic.n_launch if base_plan.mosaic is not None else 0
    ids = spark.range(0, n_funds + n_extra, 1, k)

    # Funds and share classes: generated by Spark, small enough to write with pandas.
    fs = ids.mapInPandas(_funds_fn(base_plan), _funds_schema(len(order))).toPandas()
    fs = fs.sort_values("fund", kind="stable").reset_index(drop=True)
    fs["FundId"] = fs["fund"].map("F{:06d}".format)
    funds = pd.DataFrame(
        {
            "FundId": fs["FundId"],
            "AssetClass": fs["ac"],
            "GeographicFocus": fs["focus"],
            "CrossBorder": np.where(fs["xb"], "true", "false"),
            "Domicile": fs["domicile"],
            "ActivePassive": fs["ap"],
            "Vehicle": fs["vehicle"],
        }
    )
    funds.to_csv(paths["funds"], index=False)
    sc_fund = np.repeat(fs["fund"].to_numpy(), fs["n_sc"].to_numpy())
    sc_num = np.concatenate([np.arange(1, m + 1) for m in fs["n_sc"]])
    sc_inst = np.array(list("".join(fs["inst"])))
    sc = pd.DataFrame(
        {
            "ShareId": pd.Series(sc_fund * 10 + sc_num).map("S{:07d}".format),
            "FundId": pd.Series(sc_fund).map("F{:06d}".format),
            "InvestorType": np.where(sc_inst == "I", "Institutional", "Retail"),
        }
    )
    sc.to_csv(paths["share_classes"], index=False)
    flow_rows = int(fs["flow_rows"].sum())
    alloc_rows = int(fs["alloc_rows"].sum())
    xb_w = fs.loc[fs["xb"], [f"w{i}" for i in range(len(order))]].to_numpy()
    tail_held = set(",".join(fs["tail"]).split(",")) - {""}
    stage("funds")

    # Market: the planted effect follows the flows the cross-border funds would show.
    w = fs[[f"w{i}" for i in range(len(order))]].to_numpy()
    size = fs["size"].to_numpy()
    mixes = {}
    for ac in ("E", "B"):
        sel = ((fs["ac"] == ac) & fs["xb"]).to_numpy()
        mixes[ac] = mixing_matrix(w[sel], size[sel])
    market = simulate_market(
        seed, order, g10, start, end, effect, mixes["E"], mixes["B"], bond_effect, alloc_effect
    )
    plan = _make_plan(
        seed, order, fdates, latent, market, n_base=n_base, alloc_tilt=tilt, tail=tail
    )
    wd = [cal.to_yyyymmdd(d) for d in market["weekdays"]]
    ret = pd.DataFrame(np.round(market["returns"], 6), columns=list(order))
    ret.insert(0, "date", wd)
    ret.to_csv(paths["returns"], index=False, float_format="%.6f")
    yl = pd.DataFrame(np.round(market["yields"], 4), columns=list(g10))
    yl.insert(0, "date", wd)
    yl.to_csv(paths["yields"], index=False, float_format="%.4f")
    stage("market")

    # The scenario's totals and the external series need a few funds' flows: on the driver.
    jp_flows, groups = _scenario_pass(plan, fs, fdates)
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

    from pyspark.sql import functions as F

    # Allocations: Spark writes header-less parts, concatenated in order into one CSV.
    alloc_cols = ["ReportDate", "FundId", *order, *tail]
    adf = ids.mapInPandas(
        _alloc_fn(plan), "day int, fund int, " + ", ".join(f"{c} double" for c in alloc_cols[2:])
    )
    adf = adf.select(
        F.expr("date_from_unix_date(day)").alias("ReportDate"),
        _fund_id().alias("FundId"),
        *[F.col(c).cast("decimal(8,4)").alias(c) for c in alloc_cols[2:]],
    )
    tmp = outp / "_allocations_parts"
    adf.write.mode("overwrite").option("header", "false").csv(str(tmp))
    _concat_parts(tmp, paths["allocations"], ",".join(alloc_cols))
    stage("allocations")

    # Flows: the big one, streamed per fund group inside each task.
    fdf = ids.mapInPandas(_flows_fn(plan), FLOWS_SCHEMA)
    fdf = fdf.select(
        F.expr("date_from_unix_date(day)").alias("ReportDate"),
        _share_id().alias("ShareId"),
        _fund_id().alias("FundId"),
        _money("flow", fmt).alias("Flow"),
        _money("assets_start", fmt).alias("AssetsStart"),
        _money("assets_end", fmt).alias("AssetsEnd"),
        _money("portfolio_change", fmt).alias("PortfolioChange"),
        _money("forex_change", fmt).alias("ForexChange"),
    )
    writer = fdf.write.mode("overwrite")
    if fmt == "csv":
        writer.option("header", "true").csv(str(paths["flows"]))
    else:
        writer.parquet(str(paths["flows"]))
    stage("flows")

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
            "columns": {
                "flows": FLOW_COLUMNS,
                "funds": FUND_COLUMNS,
                "share_classes": SHARE_CLASS_COLUMNS,
                "allocations": alloc_cols,
            },
        }
    )
    paths["manifest"].write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return summary

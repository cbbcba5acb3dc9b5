"""The driver's recount of a few funds' flows, with the workers' code and streams (so the same
cents): the mosaic scenario's groups and planted US$ totals for the manifest, the
foreign-domiciled equity flows into JP the external series follow, and the hedging plant's
flows into US bonds with their background.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from flowmosaic import calendar as cal
from flowmosaic.synth.flows import _fund_flows
from flowmosaic.synth.funds import _alloc_month_range, _profile
from flowmosaic.synth.hedging import HEDGED_US_INFLOW, UNHEDGED_US_OUTFLOW
from flowmosaic.synth.plan import _Plan
from flowmosaic.synth.scenario import (
    FOREIGN_JP_INFLOW,
    JP_RETAIL_OUTFLOW,
    MOSAIC_MONTHS,
    OFFSHORE,
    US_BOND_DRIFT,
)


def _scenario_pass(plan: _Plan, fs: pd.DataFrame, fdates: list[dt.date]) -> tuple[dict, dict]:
    """On the driver, the flows of the few funds the manifest and the external series need,
    recomputed with the workers' code and streams (so the same cents): the scenario's groups
    (a) and (b) and every foreign-domiciled equity fund holding JP.

    Returns ({"foreign": US$ a flow date into JP, "foreign_base": the same without the launched
    funds}, the manifest's "mosaic_scenario" groups (empty without a scenario)).
    """
    n, m = len(fdates), plan.mosaic
    jp = plan.countries.index("JP")
    foreign = np.zeros(n)
    foreign_base = np.zeros(n)
    months = np.array([d.strftime("%Y-%m") for d in fdates])
    groups: dict = {}
    retail: dict[str, Any] = {
        "funds": [],
        "share_classes": [],
        "cents": np.zeros(n, dtype=np.int64),
    }
    launched: dict[str, Any] = {
        "funds": {},
        "flow_cents": np.zeros(n, dtype=np.int64),
        "planted_cents": np.zeros(n, dtype=np.int64),
        "seed_cents": 0,
    }
    dom = fs["domicile"]
    is_jp_eq = (fs["ac"] == "E") & (fs[f"w{jp}"] > 0)
    pick = is_jp_eq & ~dom.isin(list(OFFSHORE) + ["JP"])  # foreign, into JP
    pick |= is_jp_eq & ~fs["xb"] & (dom == "JP") & fs["inst"].str.contains("R")  # group (a)
    for idx in fs.loc[pick, "fund"].to_numpy():
        rng, prof = _profile(plan, int(idx))
        out = _fund_flows(plan, rng, prof)
        rows = np.arange(prof["start_row"], prof["end_row"] + 1)
        k = prof["n_sc"]
        flow = out["flow"].reshape(k, len(rows))
        w_jp = prof["pct"][plan.month_of_day[rows], int(np.flatnonzero(prof["held"] == jp)[0])]
        fid = f"F{int(idx):06d}"
        if prof["domicile"] not in OFFSHORE and prof["domicile"] != "JP":
            into = flow.sum(axis=0) * w_jp / 100.0 / 100.0  # cents x percent -> US$
            foreign[rows] += into
            if m is None or idx < m.n_base:
                foreign_base[rows] += into
        if "planted" not in out:
            continue
        planted = out["planted"].reshape(k, len(rows))
        if prof["domicile"] == "JP":
            retail["funds"].append(fid)
            retail["share_classes"] += [
                f"S{int(idx) * 10 + j + 1:07d}" for j in range(k) if not prof["sc_inst"][j]
            ]
            retail["cents"][rows] += planted.sum(axis=0)
        else:
            launched["funds"][fid] = prof["domicile"]
            launched["flow_cents"][rows] += flow.sum(axis=0)
            launched["planted_cents"][rows] += planted.sum(axis=0)
            launched["seed_cents"] += int(out["assets_start"].reshape(k, -1)[:, 0].sum())
    if m is None:
        return {"foreign": foreign, "foreign_base": foreign_base}, groups

    def usd(cents: np.ndarray) -> dict:
        by_month = pd.Series(cents[m.ws :]).groupby(months[m.ws :]).sum()
        return {
            "usd": int(cents.sum()) / 100,
            "cents": int(cents.sum()),
            "usd_by_month": {k: int(v) / 100 for k, v in by_month.items()},
        }

    groups["jp_retail_outflow"] = {
        "definition": "Retail share classes of JP-domiciled JP single-country equity funds "
        "(CrossBorder false, GeographicFocus JP, AssetClass E): a steady planted "
        "outflow of JP_RETAIL_OUTFLOW a year of each share class's AssetsStart on "
        "the window's first flow date (or its first row in the window), in whole "
        "cents a flow day (ETF share classes: on their dealing days, /0.6)",
        "rate_per_year": JP_RETAIL_OUTFLOW,
        "n_funds": len(retail["funds"]),
        "funds": retail["funds"],
        "share_classes": retail["share_classes"],
        "planted_flow": usd(retail["cents"]),
    }
    groups["foreign_into_jp"] = {
        "definition": "Equity money from foreign-domiciled investors into JP: foreign-domiciled "
        "(not JP, not offshore) JP single-country equity funds launched on the "
        "window's first flow date, which exist only in the scenario. "
        "planted_inflow = the steady planted US$ a flow day (FOREIGN_JP_INFLOW x "
        "the base fund count, split over the funds); all_flows = every flow of "
        "these funds (planted + their own day-to-day flows), i.e. what the "
        "scenario adds to foreign flows into JP",
        "usd_per_flow_day_per_base_fund": FOREIGN_JP_INFLOW,
        "n_funds": len(launched["funds"]),
        "funds": launched["funds"],
        "seed_capital_usd": launched["seed_cents"] / 100,
        "planted_inflow": usd(launched["planted_cents"]),
        "all_flows": usd(launched["flow_cents"]),
    }
    us = plan.countries.index("US")
    n_drift = 0
    w0 = int(plan.month_of_day[m.ws])
    cand = (fs["ac"] == "B") & fs["xb"] & (dom != "US") & (fs[f"w{us}"] > 0)
    for idx in fs.loc[cand & (fs["fund"] < m.n_base), "fund"].to_numpy():
        n_drift += _alloc_month_range(plan, _profile(plan, int(idx), scenario=False)[1])[1] >= w0
    first_month = cal.add_months(cal.month_start(fdates[0]), -2)
    groups["us_bond_weight_drift"] = {
        "definition": "Cross-border bond funds domiciled outside the US that hold US: the US "
        "allocation (allocations.csv, and the true weights behind their flows and "
        "returns) is scaled by factor(month), linear to US_BOND_DRIFT in the "
        "window's last month; the freed weight goes to the fund's other holdings "
        "in proportion, so each row's total is unchanged",
        "final_factor": US_BOND_DRIFT,
        "n_funds": int(n_drift),
        "factor_by_month": {
            cal.add_months(first_month, i).strftime("%Y-%m"): float(f)
            for i, f in enumerate(m.drift)
            if f < 1.0
        },
    }
    return {"foreign": foreign, "foreign_base": foreign_base}, groups


def _scenario_manifest(plan: _Plan, fdates: list[dt.date], groups: dict) -> dict:
    m = plan.mosaic
    if m is None:
        return {"enabled": False}
    return {
        "enabled": True,
        "window": {
            "start": fdates[m.ws].isoformat(),
            "end": fdates[-1].isoformat(),
            "flow_dates": len(fdates) - m.ws,
            "months": MOSAIC_MONTHS,
        },
        "investor_domicile": f"the fund's Domicile: JP domestic, offshore ({', '.join(OFFSHORE)}) "
        "a group of its own, any other foreign",
        "flows_into_country": "sum of Flow x weight(c): allocation/100, or 1 for a "
        "single-country fund in its country",
        "n_base_funds": m.n_base,
        "n_launched_funds": m.n_launch,
        "n_hedging_funds": len(m.hedge_daily),
        "groups": groups,
    }


def _usd(cents: np.ndarray, months: np.ndarray, ws: int) -> dict:
    """The window's total of a flow-date series of cents: US$, cents and US$ by month."""
    c = np.rint(cents[ws:]).astype(np.int64)
    by_month = pd.Series(c).groupby(months[ws:]).sum()
    return {
        "usd": int(c.sum()) / 100,
        "cents": int(c.sum()),
        "usd_by_month": {k: int(v) / 100 for k, v in by_month.items()},
    }


def _hedge_totals(plan: _Plan, fs: pd.DataFrame, fdates: list[dt.date]) -> dict:
    """The manifest's us_bond_hedging_switch group (hedging.py): the planted funds' flows into
    the US by hedged and unhedged class over the window, and the background's: every other
    foreign-domiciled bond fund of the daily file the pipeline can place in the US (single-country
    US funds, weight 1; cross-border funds with allocations, the 23rd rule's US weight), by the
    share classes' Hedged flag. fs: the funds frame of every fund (columns of funds._funds_fn)."""
    m = plan.mosaic
    assert m is not None
    n, ws = len(fdates), m.ws
    us = plan.countries.index("US")
    months = np.array([d.strftime("%Y-%m") for d in fdates])
    back = np.array([1 if d.day >= cal.RELEASE_DAY else 2 for d in fdates])  # the 23rd rule
    cents = {k: np.zeros(n, dtype=np.int64) for k in ("h", "u", "ph", "pu")}
    funds: dict[str, str] = {}
    classes: dict[str, dict[str, str]] = {"hedged": {}, "unhedged": {}}
    for idx in fs.loc[fs["group"] == "hedge", "fund"].to_numpy():
        rng, prof = _profile(plan, int(idx))
        out = _fund_flows(plan, rng, prof)
        rows = np.arange(prof["start_row"], prof["end_row"] + 1)
        flow = out["flow"].reshape(2, len(rows))
        planted = out["planted"].reshape(2, len(rows))
        cents["u"][rows] += flow[0]
        cents["h"][rows] += flow[1]
        cents["pu"][rows] += planted[0]
        cents["ph"][rows] += planted[1]
        funds[f"F{int(idx):06d}"] = prof["domicile"]
        classes["unhedged"][f"S{int(idx) * 10 + 1:07d}"] = "USD"
        classes["hedged"][f"S{int(idx) * 10 + 2:07d}"] = prof["hedge_plant"]
    dom = fs["domicile"]
    placed = (fs["xb"] & (fs["alloc_rows"] > 0) & (fs[f"w{us}"] > 0)) | (
        ~fs["xb"] & (fs["focus"] == "US")
    )
    cand = (
        (fs["ac"] == "B")
        & ~dom.isin([*OFFSHORE, "US"])
        & (fs["reports"] == "daily")
        & (fs["group"] != "hedge")
        & placed
    )
    bg = {"h": np.zeros(n), "u": np.zeros(n)}
    n_sc = {"h": 0, "u": 0}
    for idx, hedged in fs.loc[cand, ["fund", "hedged"]].itertuples(index=False):
        rng, prof = _profile(plan, int(idx))
        out = _fund_flows(plan, rng, prof)
        rows = np.arange(prof["start_row"], prof["end_row"] + 1)
        flow = out["flow"].reshape(prof["n_sc"], len(rows)).astype(float)
        if prof["xb"]:
            col = int(np.flatnonzero(prof["held"] == us)[0])
            w = prof["pct"][plan.month_of_day[rows] - back[rows], col] / 100.0
        else:
            w = np.ones(len(rows))
        h = np.array([c == "1" for c in hedged])
        bg["h"][rows] += (flow[h] * w).sum(axis=0)
        bg["u"][rows] += (flow[~h] * w).sum(axis=0)
        n_sc["h"] += int(h.sum())
        n_sc["u"] += int((~h).sum())
    return {
        "definition": "Foreign investors switch to hedged US bond exposure: single-country US "
        "bond funds (AssetClass B, GeographicFocus US, CrossBorder false: weight 1 in "
        "the US) domiciled outside the US and the offshore centres, which exist only "
        "in the scenario, each with share class 1 in USD unhedged (the fund's base "
        "currency) and share class 2 in the domicile's currency, hedged. Over the "
        "window the hedged classes take HEDGED_US_INFLOW and the unhedged ones give "
        "UNHEDGED_US_OUTFLOW US$ a flow day per base fund in all (planted_*), on top "
        "of their own flows; hedged_flows / unhedged_flows = every flow of these "
        "classes over the window (what the scenario adds to foreign flows into the "
        "US). background = the same flows into the US of every other foreign-domiciled "
        "bond fund of the daily flows file that the pipeline can place (single-country "
        "US funds, weight 1; cross-border funds with allocation rows, the US weight of "
        "the 23rd rule's snapshot), by the share class's Hedged flag, in US$ rounded to "
        "the cent",
        "usd_per_flow_day_per_base_fund": {
            "hedged_inflow": HEDGED_US_INFLOW,
            "unhedged_outflow": UNHEDGED_US_OUTFLOW,
        },
        "window": {"start": fdates[ws].isoformat(), "end": fdates[-1].isoformat()},
        "n_funds": len(funds),
        "funds": funds,
        "hedged_share_classes": classes["hedged"],
        "unhedged_share_classes": classes["unhedged"],
        "planted_hedged_inflow": _usd(cents["ph"], months, ws),
        "planted_unhedged_outflow": _usd(cents["pu"], months, ws),
        "hedged_flows": _usd(cents["h"], months, ws),
        "unhedged_flows": _usd(cents["u"], months, ws),
        "background": {
            "n_funds": int(cand.sum()),
            "n_hedged_share_classes": n_sc["h"],
            "n_unhedged_share_classes": n_sc["u"],
            "hedged_flows": _usd(bg["h"], months, ws),
            "unhedged_flows": _usd(bg["u"], months, ws),
        },
    }

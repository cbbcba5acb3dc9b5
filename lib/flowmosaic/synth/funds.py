"""Fund profiles (attributes, share classes, reporting window, allocation path) and the funds
and share_classes files.

Funds and share classes
- AssetClass E/B/M (about 60/30/10%). CrossBorder about 50% of equity, 65% of bond, 60% of
  multi-asset funds. Cross-border funds have a regional GeographicFocus ('Global', 'Developed
  Markets', 'Global Emerging Markets', 'Asia ex-Japan', 'Europe', 'Latin America', ...), hold a
  handful to a few dozen of the focus's countries and are mostly domiciled in LU/IE.
- Single-country funds (CrossBorder false) have GeographicFocus = an ISO2 code, invest 100% in that
  country for their flows and returns, and have NO allocation rows (choice: the vendor's
  allocation file covers cross-border funds only).
- Fund size log-normal, clipped to [1e6, 1e11] US$; 1-6 share classes (mean about 2.7), split by a
  Dirichlet draw; about 15% of funds start reporting late and about 8% stop early.
- The vendor model's reporters (reporters.py: daily reporters without allocations, weekly-only
  and monthly-only reporters) are drawn the same way from streams [seed, 6, group, j], with
  their CrossBorder flag set by their group and their sizes scaled to the group's assets; the
  mosaic scenario's funds are its own (scenario.py, hedging.py). Share classes' Currency and
  Hedged: currencies.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flowmosaic.synth.currencies import share_class_currencies
from flowmosaic.synth.draws import _ar1, _choice, _rng
from flowmosaic.synth.files import _ids
from flowmosaic.synth.hedging import _hedge_profile
from flowmosaic.synth.plan import _full_periods, _Plan
from flowmosaic.synth.reporters import GROUP_KEY, XB_EVERY
from flowmosaic.synth.scenario import _apply_scenario, _launch_profile
from flowmosaic.synth.tail import _tail_holdings
from flowmosaic.synth.universe import CROSS_BORDER_P, FOCUS_MIX, SC_P, XB_DOMICILES

FUND_COLUMNS = [
    "FundId",
    "AssetClass",
    "GeographicFocus",
    "CrossBorder",
    "Domicile",
    "ActivePassive",
    "Vehicle",
]


# Currency and Hedged: the vendor model's (currencies.py; without it the first three only)
SHARE_CLASS_COLUMNS = ["ShareId", "FundId", "InvestorType", "Currency", "Hedged"]


def _fund_profile(
    plan: _Plan, idx: int, key: tuple[int, ...] | None = None, xb: bool | None = None
):
    """A fund's attributes, share classes and monthly allocation path; returns (rng, profile).

    The draws happen in a fixed order, so the flows drawn afterwards from the same generator are
    the same in every pass. key: the stream after the seed (a usual fund's: (1, idx)); xb: the
    CrossBorder flag to use instead of the drawn one (the draw is made all the same).
    """
    rng = _rng(plan.seed, *(key or (1, idx)))
    nc = len(plan.countries)
    n_days = len(plan.flow_days)
    n_months = len(plan.months_end)
    u = rng.random(8)
    ac = "E" if u[0] < 0.6 else ("B" if u[0] < 0.9 else "M")
    xb = bool(u[1] < CROSS_BORDER_P[ac]) if xb is None else xb
    passive = bool(u[2] < (0.25 if ac == "E" else 0.15 if ac == "B" else 0.05))
    etf = bool(u[3] < (0.8 if passive else 0.05))
    cap = plan.cap if ac == "E" else plan.bond_cap
    if xb:
        focus = _choice(rng, FOCUS_MIX[ac])
        domicile = _choice(rng, XB_DOMICILES)
        members = plan.focus_idx[focus]
        m = len(members)
        k = m if passive else max(min(3, m), int(round(m * (0.35 + 0.65 * u[4]))))
        # Largest countries are most likely held: Gumbel top-k on log(cap^0.7).
        score = 0.7 * np.log(cap[members]) + rng.gumbel(size=m)
        held = np.sort(members[np.argsort(-score)[:k]])
    else:
        p = cap**0.5
        c = int(rng.choice(nc, p=p / p.sum()))
        focus = plan.countries[c]
        domicile = focus if u[4] < 0.8 else ("LU" if u[5] < 0.5 else "IE")
        held = np.array([c])
    # Size and share classes.
    size = float(np.clip(np.exp(rng.normal(19.1 + (1.0 if passive else 0.0), 1.7)), 1e6, 1e11))
    n_sc = int(rng.choice(6, p=SC_P)) + 1
    sc_inst = rng.random(n_sc) < 0.4
    sc_share = rng.dirichlet(np.full(n_sc, 0.8))
    # Reporting window on the flow calendar.
    start_row, end_row = 0, n_days - 1
    if u[6] < 0.15 and n_days > 40:
        start_row = int(rng.integers(1, max(2, int(0.9 * n_days) - 20)))
    if u[7] < 0.08 and n_days - start_row > 40:
        end_row = int(rng.integers(start_row + 20, n_days - 1))
    # Monthly allocation path (percent, 4 decimals), drawn over all months.
    h = len(held)
    if xb:
        base = np.log(cap[held] ** 0.6)
        tilt = rng.normal(0, 0.05 if passive else 0.4, h)
        dev = _ar1(rng, n_months, h, 0.9, 0.05 if passive else 0.2)
        lw = base + tilt + dev
        if plan.alloc_tilt is not None:
            lw = lw + plan.alloc_tilt[:, held]
        w = np.exp(lw - lw.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        inv = 0.9475 + 0.045 * np.tanh(_ar1(rng, n_months, 1, 0.8, 0.8))  # 90.3 .. 99.2
        pct = np.round(np.maximum(w * inv * 100.0, 0.01), 4)
    else:
        pct = np.full((n_months, 1), 100.0)
    prof = {
        "idx": idx,
        "ac": ac,
        "xb": xb,
        "passive": passive,
        "etf": etf,
        "focus": focus,
        "domicile": domicile,
        "held": held,
        "size": size,
        "n_sc": n_sc,
        "sc_inst": sc_inst,
        "sc_share": sc_share,
        "start_row": start_row,
        "end_row": end_row,
        "pct": pct,
    }
    return rng, prof


def _reporter_profile(plan: _Plan, kind: str, j: int, idx: int):
    """Fund j of the reporter group `kind` (daily without allocations, weekly, monthly; see
    reporters.py), fund id idx: drawn like a usual fund from stream [seed, 6, group, j], its
    CrossBorder flag set by the group and its size scaled to the group's assets."""
    xb = True if kind == "daily" else j % XB_EVERY != XB_EVERY - 1
    rng, prof = _fund_profile(plan, idx, key=(6, GROUP_KEY[kind], j), xb=xb)
    if plan.roster is not None:
        prof["size"] *= plan.roster.scale(kind, xb)
    prof["reports"] = kind
    prof["published"] = xb and kind != "daily"  # the daily ones have no allocation rows
    return rng, prof


def _profile(plan: _Plan, idx: int, scenario: bool = True):
    """(rng, profile) of fund idx by the plan's roster: a usual fund, with the scenario's changes
    when the plan has one (unless scenario=False), one of the scenario's launched or hedging
    funds, or a reporter of the vendor model. Every profile says how it reports ('reports':
    daily, weekly or monthly), whether it publishes allocations ('published') and its group
    ('kind')."""
    m = plan.mosaic
    if plan.roster is not None:
        kind, j = plan.roster.kind(idx)
    elif m is not None and idx >= m.n_base:
        kind, j = "launched", idx - m.n_base
    else:
        kind, j = "base", idx
    if kind in ("launched", "hedge"):
        if m is None:
            raise ValueError(f"fund {idx} belongs to the mosaic scenario, which is off")
        if kind == "launched":
            rng, prof = _launch_profile(plan, m, j)
        else:
            rng, prof = _hedge_profile(plan, m, j, idx)
    elif kind in GROUP_KEY:
        rng, prof = _reporter_profile(plan, kind, j, idx)
    else:
        rng, prof = _fund_profile(plan, idx)
        if m is not None and scenario:
            _apply_scenario(plan, m, prof)
    prof.setdefault("reports", "daily")
    prof.setdefault("published", prof["xb"])
    prof["kind"] = kind
    return rng, prof


def _alloc_month_range(plan: _Plan, prof: dict) -> tuple[int, int]:
    """First and last month index (inclusive) of a fund's allocation rows."""
    first = int(plan.month_of_day[prof["start_row"]]) - 2
    last = int(plan.month_of_day[prof["end_row"]])
    return first, last


def _funds_schema(n_countries: int) -> str:
    return (
        "fund int, ac string, focus string, xb boolean, domicile string, ap string, "
        "vehicle string, n_sc int, inst string, size double, flow_rows long, alloc_rows long, "
        "tail string, group string, reports string, ccy string, hedged string, week_rows long, "
        "month_rows long, " + ", ".join(f"w{i} double" for i in range(n_countries))
    )


def _funds_fn(plan: _Plan):
    """One row per fund: attributes, share-class flags, counts and mean allocation fractions
    (without the scenario's drift: the market's mixing matrices do not depend on the scenario)."""
    nc = len(plan.countries)

    def fn(batches):
        recs = []
        for idx in _ids(batches):
            _, p = _profile(plan, idx, scenario=False)
            first, last = _alloc_month_range(plan, p)
            w = np.zeros(nc)
            w[p["held"]] = p["pct"][max(first, 0) : last + 1].mean(axis=0) / 100.0
            ccy, hedged = share_class_currencies(plan.seed, p)
            rows = p["end_row"] - p["start_row"] + 1
            weeks = _full_periods(plan, p["start_row"], p["end_row"], "weekly")[2].sum()
            months = _full_periods(plan, p["start_row"], p["end_row"], "monthly")[2].sum()
            recs.append(
                (
                    idx,
                    p["ac"],
                    p["focus"],
                    p["xb"],
                    p["domicile"],
                    "P" if p["passive"] else "A",
                    "ETF" if p["etf"] else "MF",
                    p["n_sc"],
                    "".join("I" if x else "R" for x in p["sc_inst"]),
                    p["size"],
                    rows * p["n_sc"] if p["reports"] == "daily" else 0,
                    last - first + 1 if p["published"] else 0,
                    ",".join(plan.tail[i] for i in _tail_holdings(plan, p)[0])
                    if p["published"]
                    else "",
                    p["kind"],
                    p["reports"],
                    ",".join(ccy),
                    "".join("1" if h else "0" for h in hedged),
                    weeks * p["n_sc"] if p["reports"] == "weekly" else 0,
                    months * p["n_sc"],
                    *w,
                )
            )
        cols = [
            "fund",
            "ac",
            "focus",
            "xb",
            "domicile",
            "ap",
            "vehicle",
            "n_sc",
            "inst",
            "size",
            "flow_rows",
            "alloc_rows",
            "tail",
            "group",
            "reports",
            "ccy",
            "hedged",
            "week_rows",
            "month_rows",
            *[f"w{i}" for i in range(nc)],
        ]
        yield pd.DataFrame.from_records(recs, columns=cols)

    return fn


def write_funds(fs: pd.DataFrame, funds_path, sc_path, vendor: bool) -> pd.DataFrame:
    """funds.csv and share_classes.csv from the funds frame (fund order); returns the share
    classes (ShareId, FundId, InvestorType and, with the vendor model, Currency and Hedged)."""
    funds = pd.DataFrame(
        {
            "FundId": fs["fund"].map("F{:06d}".format),
            "AssetClass": fs["ac"],
            "GeographicFocus": fs["focus"],
            "CrossBorder": np.where(fs["xb"], "true", "false"),
            "Domicile": fs["domicile"],
            "ActivePassive": fs["ap"],
            "Vehicle": fs["vehicle"],
        }
    )
    funds.to_csv(funds_path, index=False)
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
    if vendor:
        sc["Currency"] = ",".join(fs["ccy"]).split(",")
        sc["Hedged"] = np.where(np.array(list("".join(fs["hedged"]))) == "1", "true", "false")
    sc.to_csv(sc_path, index=False)
    return sc

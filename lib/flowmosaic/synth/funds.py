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
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flowmosaic.synth.draws import _ar1, _choice, _rng
from flowmosaic.synth.files import _ids
from flowmosaic.synth.plan import _Plan
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


SHARE_CLASS_COLUMNS = ["ShareId", "FundId", "InvestorType"]


def _fund_profile(plan: _Plan, idx: int):
    """A fund's attributes, share classes and monthly allocation path; returns (rng, profile).

    The draws happen in a fixed order, so the flows drawn afterwards from the same generator are
    the same in every pass.
    """
    rng = _rng(plan.seed, 1, idx)
    nc = len(plan.countries)
    n_days = len(plan.flow_days)
    n_months = len(plan.months_end)
    u = rng.random(8)
    ac = "E" if u[0] < 0.6 else ("B" if u[0] < 0.9 else "M")
    xb = bool(u[1] < CROSS_BORDER_P[ac])
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


def _profile(plan: _Plan, idx: int, scenario: bool = True):
    """(rng, profile) of fund idx: a usual fund, with the scenario's changes when the plan has
    one (unless scenario=False), or one of the scenario's launched funds."""
    m = plan.mosaic
    if m is not None and idx >= m.n_base:
        return _launch_profile(plan, m, idx - m.n_base)
    rng, prof = _fund_profile(plan, idx)
    if m is not None and scenario:
        _apply_scenario(plan, m, prof)
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
        "tail string, " + ", ".join(f"w{i} double" for i in range(n_countries))
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
                    (p["end_row"] - p["start_row"] + 1) * p["n_sc"],
                    last - first + 1 if p["xb"] else 0,
                    ",".join(plan.tail[i] for i in _tail_holdings(plan, p)[0]),
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
            *[f"w{i}" for i in range(nc)],
        ]
        yield pd.DataFrame.from_records(recs, columns=cols)

    return fn

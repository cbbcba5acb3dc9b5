"""The mosaic scenario's hedging plant: foreign investors buy US bonds through hedged classes.

(d) With the mosaic scenario and the vendor model on, the generator adds n_hedge_funds(n_base)
(n_base / FUNDS_PER_HEDGE_FUND, at least 2) single-country US bond funds (AssetClass B,
GeographicFocus US, CrossBorder false: no allocation rows, weight 1 in the US) domiciled
outside the US and the offshore centres (HEDGE_DOMICILES: JP, DE, GB, CH, FR), reporting daily
over the whole range, each with two share classes: 1 in USD, the fund's base currency,
unhedged, and 2 in the domicile's currency (JPY, EUR, GBP, CHF), hedged. Over the window,
class 2 takes a steady planted inflow and class 1 a steady planted outflow, HEDGED_US_INFLOW and
UNHEDGED_US_OUTFLOW US$ a flow day per usual fund in all (split over the funds by a Dirichlet
draw from [seed, 2, 3]; each fund's attributes from [seed, 2, 2, j]): foreign money switches
from unhedged to hedged US bond exposure. Planted as (a) and (b) are (scenario.py: whole cents
on top of the class's own flows, a stock of its own carried in the assets); the unhedged class
starts with about three years of its planted outflow, the hedged one with a fifth of a year of
its inflow. The funds exist only with the scenario, so all their flows are scenario money.
manifest.json's mosaic_scenario group us_bond_hedging_switch records the funds, their classes,
the planted totals and all the flows of their hedged and unhedged classes over the window (US$,
into the US), and the background: the same flows of every other foreign-domiciled (not US, not
offshore) bond fund of the daily file that the pipeline can place (single-country US funds,
weight 1; cross-border funds with allocations, weight = the US allocation of the 23rd rule's
snapshot), by the share classes' Hedged flag, recomputed on the driver with the workers' code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from flowmosaic.synth.currencies import CURRENCY
from flowmosaic.synth.draws import _choice, _rng
from flowmosaic.synth.scenario import FLOW_DAYS_PER_YEAR, _Mosaic

if TYPE_CHECKING:
    from flowmosaic.synth.plan import _Plan

FUNDS_PER_HEDGE_FUND = 500  # one planted fund per 500 usual funds, at least 2
HEDGED_US_INFLOW = 6_000.0  # US$ a flow day per usual fund into the hedged classes (window)
UNHEDGED_US_OUTFLOW = 4_000.0  # US$ a flow day per usual fund out of the unhedged USD classes
HEDGE_DOMICILES = {"JP": 0.35, "DE": 0.20, "GB": 0.15, "CH": 0.15, "FR": 0.15}


def n_hedge_funds(n_base: int) -> int:
    return max(2, int(round(n_base / FUNDS_PER_HEDGE_FUND)))


def hedge_plan(seed: int, n_base: int, n: int) -> np.ndarray:
    """(n, 2) planted US$ a flow day of each planted fund: [unhedged class (< 0), hedged class]."""
    shares = _rng(seed, 2, 3).dirichlet(np.full(n, 2.0))
    return np.column_stack(
        [-UNHEDGED_US_OUTFLOW * n_base * shares, HEDGED_US_INFLOW * n_base * shares]
    )


def _hedge_profile(plan: _Plan, m: _Mosaic, j: int, idx: int):
    """Planted fund j (fund id idx) of the hedging plant (stream [seed, 2, 2, j])."""
    rng = _rng(plan.seed, 2, 2, j)
    domicile = _choice(rng, HEDGE_DOMICILES)
    daily = m.hedge_daily[j]
    year = FLOW_DAYS_PER_YEAR
    unhedged = float(-3.0 * year * daily[0] * np.exp(rng.normal(0.0, 0.3)))
    hedged = float(0.2 * year * daily[1] * np.exp(rng.normal(0.0, 0.3)))
    size = unhedged + hedged
    prof = {
        "idx": idx,
        "ac": "B",
        "xb": False,
        "passive": False,
        "etf": False,
        "focus": "US",
        "domicile": domicile,
        "held": np.array([plan.countries.index("US")]),
        "size": size,
        "n_sc": 2,
        "sc_inst": rng.random(2) < 0.4,
        "sc_share": np.array([unhedged / size, hedged / size]),
        "start_row": 0,
        "end_row": len(plan.flow_days) - 1,
        "pct": np.full((len(plan.months_end), 1), 100.0),
        "plant_from": m.ws,
        "plant_usd": daily.copy(),
        "hedge_plant": CURRENCY[domicile],
    }
    return rng, prof

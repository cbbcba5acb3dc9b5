"""The mosaic scenario: its window, plan, launched funds, US-weight drift and planted flows.

MOSAIC SCENARIO (mosaic=True, the default): a planted story over the WINDOW = the last
MOSAIC_MONTHS = 12 calendar months of the range (all of a shorter range), whatever the scale.
Investor domicile = the fund's Domicile (JP domestic; OFFSHORE = LU, IE, KY a group of its own;
any other foreign); flows into country c = sum of Flow x weight(c) (allocation/100, or 1 for a
single-country fund in its country).
(a) JP retail sells: every Retail share class of a JP-domiciled JP single-country equity fund
    gets a steady planted outflow, JP_RETAIL_OUTFLOW = 8% a year of its AssetsStart on its first
    flow date in the window, as the same whole cents each flow date (ETF share classes: on their
    dealing days, at 1/0.6 the amount). Only the usual funds are used: a universe without such
    share classes (tiny, seed 7) has none, and the manifest says 0.
(b) Foreign equity money buys JP: the scenario adds round(n_funds / FUNDS_PER_LAUNCH) (at
    least one) JP single-country equity funds domiciled abroad (US, GB, CH, DE, ...; ids after
    the usual funds, drawn from [seed, 2, 1, j]), launched on the window's first flow date with
    seed capital of about a fifth of their year's inflow. Together they get a steady planted
    inflow of FOREIGN_JP_INFLOW = US$1,200 a flow day per usual fund (split by a Dirichlet draw
    from [seed, 2, 0]), on top of their own day-to-day flows. They exist only in the scenario,
    so ALL their flows are scenario money (the manifest records both totals).
(c) Non-US bond funds leave US bonds: cross-border bond funds domiciled outside the US that hold
    US have their US allocation scaled by factor(m), linear from 1 - 0.4/12 in the window's first
    month to US_BOND_DRIFT = 0.6 in its last; the freed weight goes to the fund's other holdings
    in proportion (in units of 0.0001, so each row keeps its total exactly). The drift is in
    allocations.csv and in the true weights behind these funds' flows and returns.
(d) With the vendor model, foreign money switches to hedged US bond exposure: the hedging
    plant's funds (hedging.py), ids after the vendor model's daily reporters without
    allocations, planted like (a) and (b).
(a) to (c) act on the usual funds only (not on the vendor model's reporters).
Planted flows are additive in dollars: a planted amount is whole cents added to the Flow of a row
whose own (scenario-free) flow is left as it was, so the difference scenario on - off of any
group's flows is exactly the planted total. The planted money is a stock of its own, carried in
the share class's assets and earning the fund's return and currency change: AssetsStart and
AssetsEnd differ from the scenario-free rows by the stock (the cumulated planted cents plus what
they earned; at the window's end about -8% of a JP retail class's assets), PortfolioChange +
ForexChange by the stock's return that day (up to 3 cents of rounding), and nothing else moves;
the share class's own flows stay computed on the scenario-free assets (a shortcut: the planted
stock does not itself attract flows). An outflow stops where the stock would pass minus half the
scenario-free AssetsEnd, so assets stay positive. (c) changes the drifted funds' window rows
entirely (other weights, other flows and returns). Nothing before the window changes; the market
files do not depend on the scenario (the mixing matrices use the funds' undrifted weights and
the launched funds are single-country). manifest.json "mosaic_scenario" records the window, the
groups (funds, share classes) and, from the cents actually added (the driver recomputes these
few funds' rows with the workers' code), the planted US$ totals by month, and the drift factors.
Sizes at seed 7 (scale defaults): 'small' (2,000 funds, window 2021) plants -US$733m on 28 JP
retail share classes of 17 funds and +US$626m into 5 launched funds (all their flows +US$601m),
and drifts 179 bond funds; 'tiny' (window 2020) plants no JP retail outflow (it has no such share
class), +US$25.0m into 1 launched fund (all its flows +US$24.2m) and drifts 9 bond funds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from flowmosaic import calendar as cal
from flowmosaic.synth.draws import _choice, _rng
from flowmosaic.synth.universe import SC_P

if TYPE_CHECKING:
    from flowmosaic.synth.plan import _Plan


MOSAIC_MONTHS = 12  # the window: the last 12 calendar months of the range
FLOW_DAYS_PER_YEAR = 260
JP_RETAIL_OUTFLOW = 0.08  # per year, fraction of a share class's assets at the window start
FOREIGN_JP_INFLOW = 1_200.0  # US$ per flow day per fund of the (base) universe, into new funds
FUNDS_PER_LAUNCH = 400  # one launched foreign Japan fund per 400 funds, at least one
US_BOND_DRIFT = 0.6  # the US weight's factor in the window's last month (linear from 1)
OFFSHORE = ("LU", "IE", "KY")  # investor-domicile group of its own: neither domestic nor foreign
LAUNCH_DOMICILES = {
    "US": 0.50,
    "GB": 0.15,
    "CH": 0.10,
    "DE": 0.10,
    "CA": 0.05,
    "AU": 0.05,
    "FR": 0.05,
}


@dataclass(frozen=True)
class _Mosaic:
    """The scenario's parameters, shared by every pass (see mosaic_plan)."""

    n_base: int  # funds 0..n_base-1 are the usual ones; then the launched funds
    ws: int  # first flow row of the window
    drift: np.ndarray  # (n_months,) factor on the US weight: 1 before the window
    launch_daily: np.ndarray  # (n_launch,) planted inflow of each launched fund, US$ a flow day
    # (n_hedge, 2) the hedging plant's planted flows, US$ a flow day: [unhedged USD class
    # (outflow, < 0), hedged class (inflow)] of each of its funds (hedging.py); none: (0, 2)
    hedge_daily: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    @property
    def n_launch(self) -> int:
        return len(self.launch_daily)


def n_launched(n_base: int) -> int:
    """The number of launched foreign Japan funds: one per FUNDS_PER_LAUNCH, at least one."""
    return max(1, int(round(n_base / FUNDS_PER_LAUNCH)))


def mosaic_window(fdates: list[dt.date]) -> int:
    """Index of the window's first flow date: the last MOSAIC_MONTHS calendar months (all of
    a shorter range)."""
    first = cal.add_months(cal.month_start(fdates[-1]), -(MOSAIC_MONTHS - 1))
    return next(i for i, d in enumerate(fdates) if d >= first)


def mosaic_plan(
    seed: int, n_base: int, fdates: list[dt.date], month_of_day: np.ndarray, n_months: int
) -> _Mosaic:
    """Window, US-weight drift per month and the launched funds' inflows (stream [seed, 2, 0])."""
    ws = mosaic_window(fdates)
    w0, w1 = int(month_of_day[ws]), int(month_of_day[-1])
    drift = np.ones(n_months)
    m = np.arange(w0, w1 + 1)
    drift[m] = 1.0 - (1.0 - US_BOND_DRIFT) * (m - w0 + 1) / (w1 - w0 + 1)
    n_launch = n_launched(n_base)
    shares = _rng(seed, 2, 0).dirichlet(np.full(n_launch, 2.0))
    return _Mosaic(
        n_base=n_base, ws=ws, drift=drift, launch_daily=FOREIGN_JP_INFLOW * n_base * shares
    )


def _launch_profile(plan: _Plan, m: _Mosaic, j: int):
    """Launched foreign-domiciled Japan equity fund j of the scenario m (stream
    [seed, 2, 1, j]): reports from the window's first flow date, starting from seed capital."""
    rng = _rng(plan.seed, 2, 1, j)
    u = rng.random(2)
    passive = bool(u[0] < 0.5)
    etf = bool(u[1] < (0.8 if passive else 0.05))
    domicile = _choice(rng, LAUNCH_DOMICILES)
    # seed capital: about a fifth of the year's planted inflow, so the fund's own day-to-day
    # flows stay in proportion to the planted ones at every scale
    size = float(0.2 * FLOW_DAYS_PER_YEAR * m.launch_daily[j] * np.exp(rng.normal(0.0, 0.3)))
    n_sc = int(rng.choice(6, p=SC_P)) + 1
    sc_inst = rng.random(n_sc) < 0.4
    sc_share = rng.dirichlet(np.full(n_sc, 0.8))
    prof = {
        "idx": m.n_base + j,
        "ac": "E",
        "xb": False,
        "passive": passive,
        "etf": etf,
        "focus": "JP",
        "domicile": domicile,
        "held": np.array([plan.countries.index("JP")]),
        "size": size,
        "n_sc": n_sc,
        "sc_inst": sc_inst,
        "sc_share": sc_share,
        "start_row": m.ws,
        "end_row": len(plan.flow_days) - 1,
        "pct": np.full((len(plan.months_end), 1), 100.0),
        "plant_from": m.ws,
        "plant_usd": m.launch_daily[j] * sc_share,
    }
    return rng, prof


def drift_us(pct: np.ndarray, us: int, factor: np.ndarray) -> np.ndarray:
    """Scale column `us` of a fund's monthly allocation percents (4 decimals) by factor[month]
    and spread the freed weight over the other columns in proportion, in units of 0.0001 so
    that every row keeps exactly its total (the remainder goes to the largest other holding)."""
    out = pct.copy()
    sel = factor < 1.0
    if not sel.any() or pct.shape[1] < 2:
        return out
    units = np.rint(pct[sel] * 1e4).astype(np.int64)
    others = np.flatnonzero(np.arange(pct.shape[1]) != us)
    old = units[:, us]
    new = np.rint(old * factor[sel]).astype(np.int64)
    freed = old - new
    o = units[:, others]
    add = freed[:, None] * o // o.sum(axis=1, keepdims=True)
    add[np.arange(len(o)), o.argmax(axis=1)] += freed - add.sum(axis=1)
    units[:, us] = new
    units[:, others] = o + add
    out[sel] = units / 1e4
    return out


def _apply_scenario(plan: _Plan, m: _Mosaic, prof: dict) -> None:
    """The scenario m's changes to a usual fund, made after all its draws (they stay the
    same)."""
    if (
        prof["ac"] == "E"
        and not prof["xb"]
        and prof["focus"] == "JP"
        and prof["domicile"] == "JP"
        and not prof["sc_inst"].all()
        and prof["end_row"] >= m.ws
    ):
        prof["plant_from"] = max(m.ws, prof["start_row"])
        prof["plant_rate"] = np.where(prof["sc_inst"], 0.0, -JP_RETAIL_OUTFLOW / FLOW_DAYS_PER_YEAR)
    us = plan.countries.index("US")
    if prof["ac"] == "B" and prof["xb"] and prof["domicile"] != "US" and us in prof["held"]:
        prof["pct"] = drift_us(prof["pct"], int(np.flatnonzero(prof["held"] == us)[0]), m.drift)


def _plant(
    amount: np.ndarray,
    growth: np.ndarray,
    fx: np.ndarray,
    start_c: np.ndarray,
    end_c: np.ndarray,
    flow_c: np.ndarray,
    fx_c: np.ndarray,
):
    """Add planted flows (amount: (n_sc, n) cents a day, whole cents added) on top of the
    scenario-free rows, which stay as they are: the planted money is a stock of its own that
    earns the fund's return and currency change (growth, fx) and is carried in the assets.

    An outflow never takes the stock below minus half the scenario-free AssetsEnd (a fund
    that shrinks anyway stops selling), so the assets stay positive.
    Returns (planted cents, AssetsStart, AssetsEnd, Flow, ForexChange), int64 cents.
    """
    n_sc, n = amount.shape
    planted = np.zeros((n_sc, n), dtype=np.int64)
    stock_c = np.zeros((n_sc, n), dtype=np.int64)
    stock = np.zeros(n_sc)  # cents, unrounded
    first = int(np.flatnonzero(amount.any(axis=0))[0]) if amount.any() else n
    for t in range(first, n):
        pre = stock * growth[t]
        want = amount[:, t]
        floor = np.minimum(0.0, -0.5 * end_c[:, t] - pre)
        add = np.rint(np.where(want < 0, np.maximum(want, floor), want)).astype(np.int64)
        stock = pre + add
        planted[:, t] = add
        stock_c[:, t] = np.rint(stock).astype(np.int64)
    before = np.zeros_like(stock_c)
    before[:, 1:] = stock_c[:, :-1]
    fx_on = fx_c + np.rint(before * fx / 100.0).astype(np.int64)
    return planted, start_c + before, end_c + stock_c, flow_c + planted, fx_on

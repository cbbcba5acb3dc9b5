"""The workers' plan: the calendar, the latent flow factors, the market and the country
tables every pass needs, shipped to the workers in the mapInPandas closures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np

from flowmosaic import calendar as cal
from flowmosaic.synth.hedging import hedge_plan
from flowmosaic.synth.reporters import _Roster
from flowmosaic.synth.scenario import _Mosaic, mosaic_plan
from flowmosaic.synth.universe import BOND_TILT, CAP, FOCUS


@dataclass
class _Plan:
    """Everything a worker needs: small arrays shipped in the mapInPandas closure."""

    seed: int
    countries: tuple[str, ...]
    flow_days: np.ndarray  # int32 unix days of the flow dates
    month_of_day: np.ndarray  # int32 month index (into months) of each flow date
    months_end: np.ndarray  # int32 unix day of each month end (months from first flow - 2)
    latent: np.ndarray  # (n_days, 52) f(c,t) percent, incl. the common factor
    # None in a plan for the fund-profile pass only (made without the market)
    returns: np.ndarray | None  # (n_days, 52) country returns on flow dates, percent
    usd: np.ndarray | None  # (n_days,) dollar factor, percent
    cap: np.ndarray  # (52,) cap shares
    bond_cap: np.ndarray  # (52,)
    focus_idx: dict  # focus -> int array of country columns
    mosaic: _Mosaic | None = None  # None: no scenario
    # (n_months, 52) common log-weight tilt of the allocation-change effect; None: none
    alloc_tilt: np.ndarray | None = None
    tail: tuple[str, ...] = ()  # destinations beyond the 52 (TAIL_ZIPF), in propensity order
    roster: _Roster | None = None  # the funds by id (reporters.py); None: the usual funds only
    # reporting periods (periodic.py): the week (index into week_end) of each flow date, each
    # week's end (unix day) and its number of flow dates on the calendar; the same count for
    # each of the plan's months
    week_of_day: np.ndarray | None = None
    week_end: np.ndarray | None = None
    week_flow_dates: np.ndarray | None = None
    month_flow_dates: np.ndarray | None = None


def _unix_day(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def _make_plan(
    seed: int,
    countries: tuple[str, ...],
    fdates: list[dt.date],
    latent: np.ndarray,
    market: dict | None = None,
    roster: _Roster | None = None,
    alloc_tilt: np.ndarray | None = None,
    tail: tuple[str, ...] = (),
) -> _Plan:
    """The worker plan; without `market` (returns, usd) it serves the fund-profile pass only.
    `roster`: the funds by id (reporters.make_roster); with roster.mosaic the plan carries the
    mosaic scenario (and its hedging plant when the roster has one); alloc_tilt: the
    allocation-change effect's log-weight tilt (alloc_shocks)."""
    first_m = cal.add_months(cal.month_start(fdates[0]), -2)
    base = first_m.year * 12 + first_m.month - 1
    month_of_day = np.array([d.year * 12 + d.month - 1 - base for d in fdates], dtype=np.int32)
    n_months = int(month_of_day[-1]) + 1
    months_end = np.array(
        [_unix_day(cal.month_end(cal.add_months(first_m, k))) for k in range(n_months)],
        dtype=np.int32,
    )
    cap = np.array([CAP[c] for c in countries], dtype=float)
    bond_cap = cap * np.array([BOND_TILT.get(c, 1.0) for c in countries])
    col = {c: i for i, c in enumerate(countries)}
    focus_idx = {}
    for name, members in FOCUS.items():
        if members is None:
            idx = np.arange(len(countries))
        elif members == "ex-US":
            idx = np.array([i for i, c in enumerate(countries) if c != "US"])
        else:
            idx = np.array(sorted(col[c] for c in members))
        focus_idx[name] = idx
    mosaic = None
    if roster is not None and roster.mosaic:
        mosaic = mosaic_plan(seed, roster.n_base, fdates, month_of_day, n_months)
        if roster.n_hedge:
            mosaic = replace(mosaic, hedge_daily=hedge_plan(seed, roster.n_base, roster.n_hedge))
    week_of = [cal.period_end(d, "weekly") for d in fdates]
    weeks = sorted(set(week_of))
    pos = {d: i for i, d in enumerate(weeks)}
    return _Plan(
        seed=seed,
        countries=countries,
        flow_days=np.array([_unix_day(d) for d in fdates], dtype=np.int32),
        month_of_day=month_of_day,
        months_end=months_end,
        latent=latent,
        returns=None if market is None else market["returns_flow"],
        usd=None if market is None else market["usd"],
        cap=cap,
        bond_cap=bond_cap,
        focus_idx=focus_idx,
        mosaic=mosaic,
        alloc_tilt=alloc_tilt,
        tail=tail,
        roster=roster,
        week_of_day=np.array([pos[d] for d in week_of], dtype=np.int32),
        week_end=np.array([_unix_day(d) for d in weeks], dtype=np.int32),
        week_flow_dates=np.array([_week_flow_dates(d) for d in weeks], dtype=np.int32),
        month_flow_dates=np.array(
            [
                len(cal.flow_dates(m, cal.month_end(m)))
                for m in (cal.add_months(first_m, k) for k in range(n_months))
            ],
            dtype=np.int32,
        ),
    )


def _week_flow_dates(end: dt.date) -> int:
    """The number of calendar flow dates of the week ending on `end` (7 days; the change-over
    week of 2001 runs from Saturday to Wednesday)."""
    days = (end - dt.timedelta(days=i) for i in range(14))
    return sum(cal.is_flow_date(d) and cal.period_end(d, "weekly") == end for d in days)


def _full_periods(
    plan: _Plan, start_row: int, end_row: int, freq: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The weeks or months of a fund reporting on flow rows start_row..end_row: (first row of
    each period, relative to start_row; its number of rows; whether the period is full, i.e. the
    fund reports on every flow date the calendar has in it; the period's index into
    plan.week_end or plan.months_end). Periods cut by the range's ends are never full."""
    if freq == "weekly":
        of_day, n_dates = plan.week_of_day, plan.week_flow_dates
    elif freq == "monthly":
        of_day, n_dates = plan.month_of_day, plan.month_flow_dates
    else:
        raise ValueError(f"freq must be weekly or monthly, not {freq!r}")
    if of_day is None or n_dates is None:
        raise ValueError("the plan has no reporting periods")
    pid = of_day[start_row : end_row + 1]
    starts = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]])
    lengths = np.diff(np.r_[starts, len(pid)])
    period = pid[starts]
    return starts, lengths, lengths == n_dates[period], period

"""The workers' plan: the calendar, the latent flow factors, the market and the country
tables every pass needs, shipped to the workers in the mapInPandas closures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from flowmosaic import calendar as cal
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


def _unix_day(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def _make_plan(
    seed: int,
    countries: tuple[str, ...],
    fdates: list[dt.date],
    latent: np.ndarray,
    market: dict | None = None,
    n_base: int | None = None,
    alloc_tilt: np.ndarray | None = None,
    tail: tuple[str, ...] = (),
) -> _Plan:
    """The worker plan; without `market` (returns, usd) it serves the fund-profile pass only.
    With `n_base` (the number of usual funds) it carries the mosaic scenario; alloc_tilt: the
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
        mosaic=None
        if n_base is None
        else mosaic_plan(seed, n_base, fdates, month_of_day, n_months),
        alloc_tilt=alloc_tilt,
        tail=tail,
    )

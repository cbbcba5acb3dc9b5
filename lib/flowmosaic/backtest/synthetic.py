"""Seeded synthetic inputs for tests and the benchmark (pandas + numpy, no Spark).

make_planted() builds daily country flow % on the flow calendar and a daily index level on all
weekdays whose returns are driven by the lagged compounded flow with a chosen strength:
the return on weekday t is noise + strength x z(t-1), where z is the cross-sectionally
standardised 20-row compounded flow of two flow dates earlier (the signal the backtest uses
with its defaults). Because compounded flow is persistent, the next 20 weekdays' return is
about 20 x strength x z(F): the planted effect at horizon 20.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from flowmosaic.calendar import flow_dates
from flowmosaic.config import load_countries


def country_codes(n: int) -> list[str]:
    order = list(load_countries().published_order)
    if n <= len(order):
        return order[:n]
    extra = [a + b for a in "QX" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    return order + [c for c in extra if c not in order][: n - len(order)]


def make_planted(
    n_countries: int = 30,
    years: int = 6,
    strength: float = 0.1,
    seed: int = 1,
    start: dt.date = dt.date(2010, 1, 4),
    flow_sd: float = 0.1,
    noise_sd: float = 1.0,
    missing: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(daily flow % on the flow calendar, daily index levels on all weekdays).

    strength: daily return (in %) per unit of standardised signal; 0 plants nothing.
    missing: share of flow cells set to missing at random.
    """
    rng = np.random.default_rng(seed)
    end = dt.date(start.year + years, start.month, start.day) - dt.timedelta(days=1)
    fdates = pd.DatetimeIndex(pd.to_datetime(flow_dates(start, end)), name="date")
    cols = country_codes(n_countries)
    T, C = len(fdates), n_countries
    # Persistent daily flows: a country-level mean plus AR(1) noise.
    level = rng.normal(0.0, flow_sd * 0.5, size=C)
    eps = rng.normal(0.0, flow_sd, size=(T, C))
    x = np.empty((T, C))
    x[0] = eps[0]
    for t in range(1, T):
        x[t] = 0.3 * x[t - 1] + eps[t]
    x += level
    if missing > 0:
        x[rng.random((T, C)) < missing] = np.nan
    flows = pd.DataFrame(x, index=fdates, columns=cols)

    # The signal the default backtest sees: 20-row compounded flow, two flow rows later.
    filled = np.nan_to_num(x, nan=0.0)
    logc = np.cumsum(np.log1p(filled / 100.0), axis=0)
    comp = np.full((T, C), np.nan)
    comp[19:] = 100.0 * np.expm1(logc[19:] - np.vstack([np.zeros((1, C)), logc[:-20]]))
    sig = np.full((T, C), np.nan)
    sig[2:] = comp[:-2]
    n = np.isfinite(sig).sum(axis=1, keepdims=True)
    s0 = np.nan_to_num(sig, nan=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = s0.sum(axis=1, keepdims=True) / n
        sd = np.sqrt(np.where(np.isfinite(sig), (s0 - mu) ** 2, 0.0).sum(axis=1, keepdims=True) / n)
        z = (sig - mu) / sd
    z = np.nan_to_num(z, nan=0.0)

    wdays = pd.bdate_range(fdates[0], fdates[-1] + pd.offsets.BDay(140), name="date")
    z_w = pd.DataFrame(z, index=fdates).reindex(wdays).ffill().fillna(0.0).to_numpy()
    drift = np.zeros_like(z_w)
    drift[1:] = strength * z_w[:-1]  # yesterday's signal drives today's return
    r = rng.normal(0.0, noise_sd, size=z_w.shape) + drift
    levels = 100.0 * np.cumprod(1.0 + r / 100.0, axis=0)
    return flows, pd.DataFrame(levels, index=wdays, columns=cols)

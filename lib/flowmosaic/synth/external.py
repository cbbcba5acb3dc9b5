"""The external series file (market/external_series.csv).

EXTERNAL SERIES (market/external_series.csv, long format, streams [seed, 3, k]), from the
universe's foreign-domiciled equity flows into JP (true weights) and the market:
- foreign_portfolio_equity_flows, JP, USD bn, monthly (month ends): those flows over the month
  divided by the universe's coverage (n_funds / COVERAGE_FUNDS), plus noise of 0.6 times the sd
  of the scenario-free monthly sums (investors outside the universe), so it carries the
  planted buying;
- equity_futures_net_speculative_positions, JP, contracts, weekly (Tuesdays): 10,000 + 20,000 x
  (trailing 20-flow-day foreign flows into JP / their scenario-free sd) + AR(1) noise;
- usdjpy_1m_25d_risk_reversal, JP, %, daily (flow dates): -0.7 + AR(1) + 0.06 x the trailing
  5-day JP return;
- official_holdings_us_treasuries_by_jp, US, USD bn, monthly: a random walk around 1,100,
  x (1 - 0.5 (1 - factor(m))) with (c)'s drift factor, so it falls 20% over the window.
With mosaic=False the file is still written, without the scenario's parts.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from flowmosaic import calendar as cal
from flowmosaic.synth.draws import _ar1, _rng
from flowmosaic.synth.market import LOOKBACK

EXTERNAL_COLUMNS = ["date", "series", "country", "value", "unit", "frequency"]


EXTERNAL_SERIES = [  # series, country, unit, frequency, description
    (
        "foreign_portfolio_equity_flows",
        "JP",
        "USD bn",
        "monthly",
        "balance-of-payments style net purchases of JP equities by non-residents: the universe's "
        "foreign-domiciled equity flows into JP over the month, scaled up by 1/coverage, plus "
        "noise (flows of investors outside the universe)",
    ),
    (
        "equity_futures_net_speculative_positions",
        "JP",
        "contracts",
        "weekly",
        "net speculative positioning in JP equity index futures on Tuesdays: follows the "
        "universe's trailing 20-flow-day foreign flows into JP, plus AR(1) noise",
    ),
    (
        "usdjpy_1m_25d_risk_reversal",
        "JP",
        "%",
        "daily",
        "USDJPY 1-month 25-delta risk reversal on flow dates: about -0.7, AR(1) noise, moving "
        "with the trailing 5-day JP return",
    ),
    (
        "official_holdings_us_treasuries_by_jp",
        "US",
        "USD bn",
        "monthly",
        "JP official holdings of US Treasuries at month end: a random walk around 1,100, "
        "scaled by 1 - 0.5 (1 - factor) with the scenario's US-weight drift factor",
    ),
]


COVERAGE_FUNDS = 200_000  # the universe is taken to carry n_funds / 200,000 of foreign flows


def external_series(
    seed: int,
    start: dt.date,
    end: dt.date,
    fdates: list[dt.date],
    foreign: np.ndarray,
    foreign_base: np.ndarray,
    jp_returns: np.ndarray,
    n_funds: int,
    us_drift: dict[str, float] | None = None,
) -> pd.DataFrame:
    """market/external_series.csv in long format (EXTERNAL_COLUMNS), from SeedSequence
    [seed, 3, k] streams. foreign / foreign_base: the universe's foreign-domiciled equity flows
    into JP a flow date (US$) with and without the scenario's launched funds (noise scales come
    from foreign_base, so they do not depend on the scenario); jp_returns: JP returns on flow
    dates (percent); us_drift: {'yyyy-mm': factor} for the window's months."""
    us_drift = us_drift or {}
    coverage = min(1.0, n_funds / COVERAGE_FUNDS)
    ym = np.array([d.strftime("%Y-%m") for d in fdates])
    months = sorted({(d.year, d.month) for d in fdates})
    month_ends = [cal.month_end(dt.date(y, mo, 1)) for y, mo in months]
    month_ends = [d for d in month_ends if d <= end]
    frames = []

    def add(dates, name, values, fmt):
        spec = next(x for x in EXTERNAL_SERIES if x[0] == name)
        frames.append(
            pd.DataFrame(
                {
                    "date": [d.isoformat() for d in dates],
                    "series": name,
                    "country": spec[1],
                    "value": [fmt % v for v in values],
                    "unit": spec[2],
                    "frequency": spec[3],
                }
            )
        )

    # Monthly foreign portfolio equity flows, US$ bn.
    scaled = pd.Series(foreign / coverage).groupby(ym).sum()
    scaled_base = pd.Series(foreign_base / coverage).groupby(ym).sum()
    keys = [d.strftime("%Y-%m") for d in month_ends]
    sd = float(scaled_base.std()) if len(scaled_base) > 1 else 0.0
    noise = _rng(seed, 3, 1).standard_normal(len(keys)) * 0.6 * (sd or 1e9)
    add(
        month_ends,
        "foreign_portfolio_equity_flows",
        (scaled.reindex(keys).fillna(0.0).to_numpy() + noise) / 1e9,
        "%.3f",
    )
    # Weekly net speculative futures positions, contracts.
    tuesdays = [
        d
        for d in (start + dt.timedelta(days=i) for i in range((end - start).days + 1))
        if d.weekday() == 1
    ]
    s20 = pd.Series(foreign).rolling(LOOKBACK, min_periods=1).sum().to_numpy()
    s20_base = pd.Series(foreign_base).rolling(LOOKBACK, min_periods=1).sum().to_numpy()
    scale = float(s20_base.std()) or 1.0
    last = np.searchsorted(np.array(fdates), np.array(tuesdays), side="right") - 1
    ar = _ar1(_rng(seed, 3, 2), max(len(tuesdays), 1), 1, 0.9, 1.0)[:, 0]
    keep = last >= 0
    z = s20[last[keep]] / scale
    add(
        [d for d, k in zip(tuesdays, keep) if k],
        "equity_futures_net_speculative_positions",
        np.rint(10_000 + 20_000 * z + 15_000 * ar[: len(tuesdays)][keep]),
        "%.0f",
    )
    # Daily USDJPY risk reversal, percent.
    r5 = pd.Series(jp_returns).rolling(5, min_periods=1).sum().to_numpy()
    rr = -0.7 + _ar1(_rng(seed, 3, 3), len(fdates), 1, 0.98, 0.35)[:, 0] + 0.06 * r5
    add(fdates, "usdjpy_1m_25d_risk_reversal", rr, "%.3f")
    # Monthly official holdings of US Treasuries by JP, US$ bn.
    walk = 1_100.0 * np.exp(np.cumsum(_rng(seed, 3, 4).normal(0.0, 0.012, len(month_ends))))
    f = np.array([us_drift.get(k, 1.0) for k in keys])
    add(month_ends, "official_holdings_us_treasuries_by_jp", walk * (1.0 - 0.5 * (1.0 - f)), "%.1f")
    return pd.concat(frames, ignore_index=True)[EXTERNAL_COLUMNS]

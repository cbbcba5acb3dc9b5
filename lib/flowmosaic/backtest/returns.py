"""Forward returns at trade dates (docs/methodology.md, "8. The backtest", steps 5-6).

The market series is put on the grid of all weekdays with gaps carried forward. A forward
return over h is measured from trade date F to the weekday h rows later:
- index mode: R = 100 x (I(F+h) / I(F) - 1); percent daily returns first become an index
  compounded from 100 over every weekday (holidays included), missing returns as 0%;
- spreads mode (yields): R = Y(F+h) - Y(F) in percentage points, no sign flip.
|R| < 1e-6 counts as missing (a flat series means no data). Returns outside an optional
membership window are missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flowmosaic.errors import InputError

ZERO_RETURN = 1e-6


def weekday_grid(index: pd.DatetimeIndex, until: pd.Timestamp | None = None) -> pd.DatetimeIndex:
    end = index.max() if until is None else max(index.max(), until)
    return pd.bdate_range(index.min(), end, name="date")


def to_level(market: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The market file on all weekdays, as a level (index or yield), gaps carried forward.

    kind: 'level' (an index level or a yield: carried forward) or 'pct' (percent daily returns,
    the return of date t being the move from the previous weekday to t). A percent file is
    compounded into an index on every weekday, 1 January and 25 December included: a return
    dated on any weekday counts (one dated on a weekend counts on the next weekday), and a
    weekday without one counts as 0%. A country's index starts at 100 on the weekday before
    its first return and is missing before it, as an index file would be; after its last
    return it stays flat, as an index file's last level is carried forward.
    """
    if len(market) == 0:
        raise InputError("the returns file has no rows")
    market = market.sort_index()
    if market.index.has_duplicates:
        dup = market.index[market.index.duplicated()][0]
        raise InputError(f"the returns file repeats the date {dup:%Y-%m-%d}")
    grid = weekday_grid(market.index)
    weekend = market.index[market.index.weekday >= 5]
    if kind == "pct":
        if len(weekend):
            # A weekend return still happened: book it on the next weekday.
            logs = np.log1p(market / 100.0)
            market = 100.0 * np.expm1(
                logs.groupby(market.index + pd.offsets.BDay(0)).sum(min_count=1)
            )
        r = market.reindex(grid).to_numpy(dtype=float)
        has = np.isfinite(r)
        level = 100.0 * np.cumprod(1.0 + np.where(has, r, 0.0) / 100.0, axis=0)
        # Before the weekday preceding a country's first return there is no index (a flat 100
        # there would give windows that straddle the start a partial return).
        first = np.where(has.any(axis=0), has.argmax(axis=0), len(grid) + 1)
        level[np.arange(len(grid))[:, None] < first - 1] = np.nan
        return pd.DataFrame(level, index=grid, columns=market.columns)
    if kind != "level":
        raise InputError(f"returns kind must be 'level' or 'pct', got {kind!r}")
    # Levels on a weekend (rare) carry into the following weekday via the forward fill.
    both = market.reindex(market.index.union(grid)).ffill()
    return both.reindex(grid)


def forward_returns(
    level: pd.DataFrame, trade_dates: pd.DatetimeIndex, horizon: int, spreads: bool = False
) -> pd.DataFrame:
    """Forward returns from each trade date over `horizon` weekday rows of `level`'s grid.

    Trade dates off the grid or whose end point is beyond it get missing returns.
    """
    a = level.to_numpy(dtype=float)
    pos = level.index.get_indexer(trade_dates)
    n = len(level)
    ok = (pos >= 0) & (pos + horizon < n)
    start = np.full((len(trade_dates), a.shape[1]), np.nan)
    end = np.full_like(start, np.nan)
    start[ok] = a[pos[ok]]
    end[ok] = a[pos[ok] + horizon]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = end - start if spreads else 100.0 * (end / start - 1.0)
    r[~np.isfinite(r)] = np.nan
    r[np.abs(r) < ZERO_RETURN] = np.nan
    return pd.DataFrame(r, index=trade_dates, columns=level.columns)


def membership_mask(
    membership: pd.DataFrame, dates: pd.DatetimeIndex, columns: pd.Index
) -> np.ndarray:
    """Boolean (dates x columns): True where the country is a member on that date.

    membership has columns country, from, to (Timestamps; to may be NaT = still a member).
    A country without any membership row is never a member.
    """
    mask = np.zeros((len(dates), len(columns)), dtype=bool)
    col_pos = {c: i for i, c in enumerate(columns)}
    d = dates.to_numpy()
    for country, start, stop in membership[["country", "from", "to"]].itertuples(index=False):
        j = col_pos.get(country)
        if j is None:
            continue
        inside = np.ones(len(d), dtype=bool)
        if pd.notna(start):
            inside &= d >= np.datetime64(start)
        if pd.notna(stop):
            inside &= d <= np.datetime64(stop)
        mask[:, j] |= inside
    return mask


def trade_date_returns(
    market: pd.DataFrame,
    trade_dates: pd.DatetimeIndex,
    horizons: tuple[int, ...],
    spreads: bool = False,
    kind: str = "level",
    membership: pd.DataFrame | None = None,
) -> dict[int, pd.DataFrame]:
    """{horizon: forward returns at the trade dates}, with the zero and membership rules."""
    level = to_level(market, "level" if spreads else kind)
    mask = None
    if membership is not None:
        mask = membership_mask(membership, trade_dates, level.columns)
    out = {}
    for h in horizons:
        r = forward_returns(level, trade_dates, h, spreads=spreads)
        if mask is not None:
            r = r.where(mask)
        out[h] = r
    return out

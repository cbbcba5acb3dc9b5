"""Other sources of the mosaic next to fund flows: balance-of-payments portfolio flows, official
holdings, futures positioning, FX option risk reversals, ... (pandas).

Input `external`: long rows date, series, country, value, unit, frequency (daily, weekly,
monthly, quarterly), already validated by the ingest side. Each series is brought to the
comparison frequency (W: weeks ending Friday, M: calendar months, labelled by their last day)
with one aggregation rule:
  'sum'   flows (amounts per period add up)
  'last'  levels (holdings, positioning, a risk reversal): the last value in the period
  'mean'  the period's average
  'change' a level's change: the period's last value minus the last value of the previous
          period with data (to compare positioning or holdings with flows)
The default rule is 'sum' when the word "flow" appears in the series name or its unit, else
'last'; a dict {series: rule} overrides it. Lag convention: lag k > 0 pairs the fund flow of
period t with the external value of period t + k (fund flows lead); k < 0: the external
series leads.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from flowmosaic.mosaic.analyses import period_end, require_columns

EXTERNAL_COLUMNS = ("date", "series", "country", "value", "unit", "frequency")
RULES = ("last", "sum", "mean", "change")
_GRID_FREQ = {"W": "W-FRI", "M": "ME"}


def default_rule(series: str, unit: str) -> str:
    """'sum' when "flow" appears in the series name or unit (case-insensitive), else 'last'."""
    return "sum" if "flow" in f"{series} {unit}".lower() else "last"


def comparison_freq(frequency: str) -> str:
    """The frequency to compare a series at: W for daily and weekly, M for monthly and
    quarterly series (comparing at a finer frequency than the data's only adds gaps)."""
    return "W" if str(frequency).lower() in ("daily", "weekly") else "M"


def _check_freq(freq: str) -> None:
    if freq not in _GRID_FREQ:
        raise ValueError(f"freq must be 'W' or 'M', not {freq!r}")


def aggregate_external(
    external: pd.DataFrame,
    freq: str = "W",
    rules: Mapping[str, str] | None = None,
    country: str | None = None,
) -> pd.DataFrame:
    """Each (series, country) at frequency freq with its rule.

    Returns date (period end), series, country, unit, frequency, rule, value; only periods
    with data (no filling).
    """
    _check_freq(freq)
    require_columns(external, EXTERNAL_COLUMNS, "external series")
    rules = dict(rules or {})
    bad = {s: r for s, r in rules.items() if r not in RULES}
    if bad:
        raise ValueError(f"aggregation rules must be one of {RULES}: {bad}")
    ext = external if country is None else external[external["country"] == country]
    ext = ext.assign(date=pd.to_datetime(ext["date"])).sort_values("date", kind="stable")
    cols = ["date", "series", "country", "unit", "frequency", "rule", "value"]
    parts = []
    for (series, ctry), sub in ext.groupby(["series", "country"], sort=True):
        unit = str(sub["unit"].iloc[0])
        rule = rules.get(series) or default_rule(series, unit)
        g = sub.assign(period=period_end(sub["date"], freq).to_numpy()).groupby("period")["value"]
        v = (
            g.last().diff().iloc[1:]
            if rule == "change"
            else {"last": g.last, "sum": g.sum, "mean": g.mean}[rule]()
        )
        parts.append(
            pd.DataFrame(
                {
                    "date": v.index,
                    "series": series,
                    "country": ctry,
                    "unit": unit,
                    "frequency": str(sub["frequency"].iloc[0]),
                    "rule": rule,
                    "value": v.to_numpy(dtype=float),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]


def flow_periods(flow: pd.Series, freq: str = "W") -> pd.Series:
    """A fund-flow series (any dates, e.g. daily US$) summed into periods (index: period end)."""
    _check_freq(freq)
    s = flow.dropna()
    out = s.groupby(period_end(s.index, freq).to_numpy()).sum()
    out.index = pd.DatetimeIndex(out.index, name="date")
    return out.rename("flow")


def _pairs(flow: pd.Series, ext: pd.DataFrame, freq: str):
    """(flow, value) on the complete period grid spanning both, per (series, country)."""
    f = flow_periods(flow, freq)
    for (series, ctry), sub in ext.groupby(["series", "country"], sort=True):
        v = sub.set_index("date")["value"]
        lo, hi = min(f.index.min(), v.index.min()), max(f.index.max(), v.index.max())
        grid = pd.date_range(lo, hi, freq=_GRID_FREQ[freq], name="date")
        yield series, ctry, sub.iloc[0], f.reindex(grid), v.reindex(grid)


def _z(s: pd.Series) -> pd.Series:
    sd = s.std(ddof=1)
    return (s - s.mean()) / sd if sd > 0 else s * np.nan


def align_external(
    flow: pd.Series,
    external: pd.DataFrame,
    freq: str = "W",
    *,
    rules: Mapping[str, str] | None = None,
    country: str | None = None,
) -> pd.DataFrame:
    """The fund-flow series next to each external series over their overlap (the periods
    where both have a value): date, series, country, unit, rule, flow, value, and both
    standardised over that overlap (flow_z, value_z: (x - mean) / sd, ddof 1)."""
    ext = aggregate_external(external, freq, rules, country)
    cols = ["date", "series", "country", "unit", "rule", "flow", "value", "flow_z", "value_z"]
    parts = []
    if len(flow.dropna()) == 0:
        return pd.DataFrame(columns=cols)
    for series, ctry, first, f, v in _pairs(flow, ext, freq):
        both = f.notna() & v.notna()
        f, v = f[both], v[both]
        parts.append(
            pd.DataFrame(
                {
                    "date": f.index,
                    "series": series,
                    "country": ctry,
                    "unit": first["unit"],
                    "rule": first["rule"],
                    "flow": f.to_numpy(),
                    "value": v.to_numpy(),
                    "flow_z": _z(f).to_numpy(),
                    "value_z": _z(v).to_numpy(),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]


def lead_lag(
    flow: pd.Series,
    external: pd.DataFrame,
    freq: str = "W",
    *,
    max_lag: int = 8,
    rules: Mapping[str, str] | None = None,
    country: str | None = None,
    min_obs: int = 8,
) -> pd.DataFrame:
    """Pearson correlation of the fund flow at t with each external series at t + k, for
    k = -max_lag..max_lag periods: series, country, lag, corr, n (pairs used). corr is NaN
    with fewer than min_obs pairs or a constant side."""
    ext = aggregate_external(external, freq, rules, country)
    rows = []
    if len(flow.dropna()):
        for series, ctry, _, f, v in _pairs(flow, ext, freq):
            for k in range(-max_lag, max_lag + 1):
                shifted = v.shift(-k)  # row t holds the external value of t + k
                both = f.notna() & shifted.notna()
                n = int(both.sum())
                c = np.nan
                if n >= max(min_obs, 2):
                    a, b = f[both], shifted[both]
                    if a.std() > 0 and b.std() > 0:
                        c = float(np.corrcoef(a, b)[0, 1])
                rows.append({"series": series, "country": ctry, "lag": k, "corr": c, "n": n})
    return pd.DataFrame(rows, columns=["series", "country", "lag", "corr", "n"])


def correlation_summary(
    flow: pd.Series,
    external: pd.DataFrame,
    freq: str = "W",
    *,
    max_lag: int = 8,
    rules: Mapping[str, str] | None = None,
    country: str | None = None,
    min_obs: int = 8,
) -> pd.DataFrame:
    """One row per external series: unit, rule, freq, the overlap at lag 0 (overlap_start,
    overlap_end, n periods) and its correlation (corr_lag0), and the best lag (largest
    |corr|; ties to the shortest lag) with its correlation and number of pairs."""
    cols = [
        "series",
        "country",
        "unit",
        "rule",
        "freq",
        "overlap_start",
        "overlap_end",
        "n",
        "corr_lag0",
        "best_lag",
        "best_corr",
        "best_n",
    ]
    aligned = align_external(flow, external, freq, rules=rules, country=country)
    ll = lead_lag(
        flow, external, freq, max_lag=max_lag, rules=rules, country=country, min_obs=min_obs
    )
    rows = []
    for (series, ctry), sub in aligned.groupby(["series", "country"], sort=True):
        lags = ll[(ll["series"] == series) & (ll["country"] == ctry)]
        zero = lags[lags["lag"] == 0].iloc[0]
        ok = lags[lags["corr"].notna()]
        if len(ok):
            order = ok.assign(a=-ok["corr"].abs(), k=ok["lag"].abs()).sort_values(
                ["a", "k", "lag"], kind="stable"
            )
            best = order.iloc[0]
            best_lag, best_corr, best_n = int(best["lag"]), float(best["corr"]), int(best["n"])
        else:
            best_lag, best_corr, best_n = None, np.nan, 0
        rows.append(
            {
                "series": series,
                "country": ctry,
                "unit": sub["unit"].iloc[0],
                "rule": sub["rule"].iloc[0],
                "freq": freq,
                "overlap_start": sub["date"].min(),
                "overlap_end": sub["date"].max(),
                "n": len(sub),
                "corr_lag0": zero["corr"],
                "best_lag": best_lag,
                "best_corr": best_corr,
                "best_n": best_n,
            }
        )
    return pd.DataFrame(rows, columns=cols)

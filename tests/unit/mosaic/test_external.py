"""External series next to fund flows: aggregation rules, alignment, lead/lag on constructed
series whose answer is known by construction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from flowmosaic.mosaic import external as ex

COLS = ["date", "series", "country", "value", "unit", "frequency"]


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLS)


def test_default_rule():
    assert ex.default_rule("bop_portfolio_flows", "USD bn") == "sum"
    assert ex.default_rule("etf creations", "USD flow") == "sum"
    assert ex.default_rule("official_holdings_jgb", "USD bn") == "last"
    assert ex.default_rule("cftc_net_position", "contracts") == "last"
    assert ex.default_rule("usdjpy_rr_25d_1m", "%") == "last"
    assert ex.comparison_freq("daily") == "W" and ex.comparison_freq("weekly") == "W"
    assert ex.comparison_freq("monthly") == "M" and ex.comparison_freq("quarterly") == "M"


def test_aggregate_weekly_last_sum_mean_and_country():
    rows = [
        ("2025-01-06", "rr", "JP", 1.0, "%", "daily"),  # Mon   -> week to Fri 10 Jan
        ("2025-01-08", "rr", "JP", 2.0, "%", "daily"),  # Wed
        ("2025-01-10", "rr", "JP", 3.0, "%", "daily"),  # Fri
        ("2025-01-13", "rr", "JP", 4.0, "%", "daily"),  # Mon   -> week to Fri 17 Jan
        ("2025-01-08", "rr", "KR", 9.0, "%", "daily"),
        ("2025-01-31", "bop_flows", "JP", 5.0, "USD bn", "monthly"),
    ]
    ext = frame(rows)
    a = ex.aggregate_external(ext, "W", country="JP").set_index(["series", "date"])
    # rr is a level: the last value of each week; bop_flows falls in the week ending Fri 31 Jan
    assert list(a.loc["rr"].value) == [3.0, 4.0]
    assert list(a.loc["rr"].index) == list(pd.to_datetime(["2025-01-10", "2025-01-17"]))
    assert a.loc["rr"].rule.iloc[0] == "last" and a.loc["bop_flows"].rule.iloc[0] == "sum"
    assert a.loc[("bop_flows", pd.Timestamp("2025-01-31")), "value"] == 5.0
    assert set(a.country) == {"JP"}
    s = ex.aggregate_external(ext, "W", rules={"rr": "sum"}, country="JP")
    assert list(s[s.series == "rr"].value) == [6.0, 4.0]  # 1 + 2 + 3, 4
    m = ex.aggregate_external(ext, "W", rules={"rr": "mean"}, country="JP")
    assert list(m[m.series == "rr"].value) == [2.0, 4.0]
    c = ex.aggregate_external(ext, "W", rules={"rr": "change"}, country="JP")
    # change of the weekly last values 3 -> 4, dated the second week; the first has no change
    assert list(c[c.series == "rr"].value) == [1.0]
    assert list(c[c.series == "rr"].date) == [pd.Timestamp("2025-01-17")]
    both = ex.aggregate_external(ext, "M")
    # monthly, both countries: KR's single value, JP's last of January (4)
    rr = both[both.series == "rr"].set_index("country").value
    assert rr["JP"] == 4.0 and rr["KR"] == 9.0
    with pytest.raises(ValueError, match="rules"):
        ex.aggregate_external(ext, "W", rules={"rr": "median"})


def test_align_monthly_sums_daily_fund_flows():
    flow = pd.Series(
        [1.0, 2.0, 4.0], index=pd.to_datetime(["2024-01-05", "2024-01-22", "2024-02-09"])
    )
    ext = frame(
        [
            ("2024-01-01", "bop_flows", "JP", 7.0, "USD bn", "monthly"),
            ("2024-02-01", "bop_flows", "JP", 8.0, "USD bn", "monthly"),
            ("2024-03-01", "bop_flows", "JP", 9.0, "USD bn", "monthly"),
        ]
    )
    al = ex.align_external(flow, ext, "M")
    # January: 1 + 2 = 3 next to 7; February: 4 next to 8; March has no fund flow
    assert list(al.date) == list(pd.to_datetime(["2024-01-31", "2024-02-29"]))
    assert list(al.flow) == [3.0, 4.0] and list(al.value) == [7.0, 8.0]
    # z over the overlap of two points: mean at the midpoint, sd (ddof 1) = half the gap x sqrt 2
    np.testing.assert_allclose(al.flow_z, [-1 / math.sqrt(2), 1 / math.sqrt(2)])
    np.testing.assert_allclose(al.value_z, [-1 / math.sqrt(2), 1 / math.sqrt(2)])


def weekly_flow(n=40, seed=0) -> pd.Series:
    fridays = pd.date_range("2022-01-07", periods=n, freq="W-FRI")
    return pd.Series(np.random.default_rng(seed).normal(size=n), index=fridays)


def shifted(flow: pd.Series, weeks: int, series: str = "positioning", sign: float = 1.0):
    """The fund flow itself, dated `weeks` weeks later (negative: earlier)."""
    dates = flow.index + pd.Timedelta(weeks=weeks)
    return frame(
        [(d, series, "JP", sign * v, "contracts", "weekly") for d, v in zip(dates, flow.to_numpy())]
    )


def test_lead_lag_recovers_a_known_shift():
    flow = weekly_flow()
    # external at t + 2 = fund flow at t: the fund flows lead by two weeks
    ll = ex.lead_lag(flow, shifted(flow, 2), "W", max_lag=4).set_index("lag")
    assert list(ll.index) == [-4, -3, -2, -1, 0, 1, 2, 3, 4]
    assert ll.loc[2, "corr"] == pytest.approx(1.0)
    assert ll.loc[2, "n"] == 40  # every week pairs with its copy
    assert ll.loc[0, "n"] == 38  # 40 weeks each, two weeks apart
    assert (ll.drop(index=2)["corr"].abs() < 0.9).all()

    s = ex.correlation_summary(flow, shifted(flow, 2), "W", max_lag=4).iloc[0]
    assert s.best_lag == 2 and s.best_corr == pytest.approx(1.0) and s.best_n == 40
    assert s.n == 38 and s.corr_lag0 == pytest.approx(ll.loc[0, "corr"])
    assert s.overlap_start == pd.Timestamp("2022-01-21") and s.rule == "last"

    # an external series leading by three weeks, with the opposite sign
    s = ex.correlation_summary(flow, shifted(flow, -3, sign=-1.0), "W", max_lag=4).iloc[0]
    assert s.best_lag == -3 and s.best_corr == pytest.approx(-1.0)


def test_lead_lag_needs_min_obs():
    flow = weekly_flow(6)
    ll = ex.lead_lag(flow, shifted(flow, 0), "W", max_lag=1, min_obs=6).set_index("lag")
    # lag 0 has 6 pairs, lags -1 and +1 only 5
    assert ll.loc[0, "corr"] == pytest.approx(1.0)
    assert ll.loc[[-1, 1], "corr"].isna().all() and list(ll.loc[[-1, 1], "n"]) == [5, 5]

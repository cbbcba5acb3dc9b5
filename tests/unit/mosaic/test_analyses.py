"""The mosaic analyses on a tiny hand-made investor_country_flows frame.

Flow dates (across New Year; 1 January is not a flow date):
  Tue 2024-12-31 | Thu 2025-01-02, Fri 2025-01-03 (same week, ending Fri 3 Jan) | Mon 2025-01-06
Domiciles: JP (domestic for destination JP), US (foreign), LU and KY (offshore).
Every expected number below is worked out by hand from the ROWS table.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from flowmosaic.errors import InputError
from flowmosaic.mosaic import analyses as an

COLS = [
    "universe",
    "flow_date",
    "investor_domicile",
    "investor_type",
    "country",
    "flow_usd",
    "assets_start_usd",
    "portfolio_change_usd",
    "fund_count",
]
R, I = "Retail", "Institutional"  # noqa: E741 -- one letter keeps the rows below aligned
ROWS = [
    # date        domicile type country flow  assets
    ("2024-12-31", "JP", R, "JP", -10, 1000),
    ("2024-12-31", "JP", I, "JP", 5, 500),
    ("2024-12-31", "US", R, "JP", 20, 2000),
    ("2024-12-31", "LU", I, "JP", -4, 400),
    ("2024-12-31", "JP", R, "US", 7, 700),
    ("2025-01-02", "JP", R, "JP", -20, 1000),
    ("2025-01-02", "US", I, "JP", 30, 3000),
    ("2025-01-03", "JP", R, "JP", -30, 900),
    ("2025-01-03", "LU", I, "JP", 8, 400),
    ("2025-01-06", "JP", R, "JP", -40, 800),
    ("2025-01-06", "US", R, "JP", 10, 2100),
    ("2025-01-06", "KY", I, "JP", 2, 200),
    ("2025-01-06", "JP", R, "US", -3, 800),
    ("2025-01-06", "US", I, "US", 50, 5000),
    ("2025-01-06", "LU", I, "US", -6, 600),
]
DATES = pd.to_datetime(["2024-12-31", "2025-01-02", "2025-01-03", "2025-01-06"])


def make_icf(scale: float = 1.0) -> pd.DataFrame:
    rows = [("U", d, dom, t, c, f * scale, a * scale, 0.0, 1) for d, dom, t, c, f, a in ROWS]
    rows.append(("V", "2024-12-31", "JP", R, "JP", 999.0, 999.0, 0.0, 1))  # another universe
    return pd.DataFrame(rows, columns=COLS)


def pick(t: pd.DataFrame, group: str, itype: str) -> pd.DataFrame:
    return t[(t.group == group) & (t.investor_type == itype)].set_index("date")


# --- groups -------------------------------------------------------------------------------------


def test_investor_groups_and_offshore_mapping():
    dom = pd.Series(["JP", "US", "LU", "KY", "GB"])
    assert list(an.investor_groups(dom, "JP")) == [
        "domestic",
        "foreign",
        "offshore",
        "offshore",
        "foreign",
    ]
    # LU funds investing in LU are still offshore: their investors do not live in the hub
    assert list(an.investor_groups(pd.Series(["LU"]), "LU")) == ["offshore"]
    # mapped offshore domiciles are relabelled first: LU -> JP is domestic, IE -> a region is
    # foreign, unmapped KY stays offshore
    got = an.investor_groups(
        pd.Series(["LU", "IE", "KY"]), "JP", offshore_map={"LU": "JP", "IE": "Europe"}
    )
    assert list(got) == ["domestic", "foreign", "offshore"]
    # a custom offshore set
    assert list(an.investor_groups(pd.Series(["LU", "KY"]), "JP", offshore=["KY"])) == [
        "foreign",
        "offshore",
    ]


def test_period_end_labels_friday_and_month_end():
    d = pd.to_datetime(["2024-12-31", "2025-01-03", "2025-01-04", "2025-01-06"])
    # Tue 31 Dec -> Fri 3 Jan; Fri -> itself; Sat 4 Jan -> Fri 10 Jan; Mon 6 Jan -> Fri 10 Jan
    assert list(an.period_end(d, "W")) == list(
        pd.to_datetime(["2025-01-03", "2025-01-03", "2025-01-10", "2025-01-10"])
    )
    assert list(an.period_end(d, "M")) == list(
        pd.to_datetime(["2024-12-31", "2025-01-31", "2025-01-31", "2025-01-31"])
    )


# --- a) domestic / foreign / offshore -----------------------------------------------------------


def test_daily_split_sums_pct_cumulative_and_ytd():
    t = an.domestic_foreign_flows(make_icf(), "JP", "U")
    assert list(t.columns) == an.FLOW_COLUMNS
    assert set(t.group) == {"domestic", "foreign", "offshore"}
    assert set(t.investor_type) == {R, I, "All"}
    # every (group, type) has all four flow dates of universe U (V's row is not counted)
    assert len(t) == 3 * 3 * 4

    dr = pick(t, "domestic", R)
    assert list(dr.index) == list(DATES)
    assert list(dr.flow_usd) == [-10, -20, -30, -40]
    assert list(dr.assets_start_usd) == [1000, 1000, 900, 800]
    np.testing.assert_allclose(dr.flow_pct, [-1.0, -2.0, -100 * 30 / 900, -5.0])
    assert list(dr.cum_flow_usd) == [-10, -30, -60, -100]
    assert list(dr.ytd_flow_usd) == [-10, -20, -50, -90]  # resets on 2 January

    di = pick(t, "domestic", I)  # one row, on 31 Dec; other days: flow 0, no assets
    assert list(di.flow_usd) == [5, 0, 0, 0]
    assert di.assets_start_usd.isna().tolist() == [False, True, True, True]
    assert di.flow_pct.isna().tolist() == [False, True, True, True]
    assert list(di.ytd_flow_usd) == [5, 0, 0, 0]

    fa = pick(t, "foreign", "All")  # US retail 20, US inst 30, nothing, US retail 10
    assert list(fa.flow_usd) == [20, 30, 0, 10]
    assert list(fa.cum_flow_usd) == [20, 50, 50, 60]

    oa = pick(t, "offshore", "All")  # LU -4, -, LU 8, KY 2
    assert list(oa.flow_usd) == [-4, 0, 8, 2]
    assert list(oa.assets_start_usd.fillna(-1)) == [400, -1, 400, 200]

    # the three groups add up to every row into JP: 31 Dec -10 + 5 + 20 - 4 = 11, ...
    total = t[t.investor_type == "All"].groupby("date").flow_usd.sum()
    assert list(total) == [11, 10, -22, -28]
    # and the types add up to All within each group
    by_type = t[t.investor_type != "All"].groupby(["group", "date"]).flow_usd.sum()
    alls = t[t.investor_type == "All"].set_index(["group", "date"]).flow_usd
    pd.testing.assert_series_equal(by_type.sort_index(), alls.sort_index(), check_names=False)


def test_weekly_and_monthly_aggregation():
    w = an.domestic_foreign_flows(make_icf(), "JP", "U", "W")
    assert sorted(set(w.date)) == list(pd.to_datetime(["2025-01-03", "2025-01-10"]))
    dr = pick(w, "domestic", R)
    # week to Fri 3 Jan: -10 - 20 - 30 = -60 on the holdings of Tue 31 Dec (1000) -> -6%;
    # YTD at the week's end counts only 2 and 3 January: -50; since the start: -60
    assert list(dr.flow_usd) == [-60, -40]
    assert list(dr.assets_start_usd) == [1000, 800]
    np.testing.assert_allclose(dr.flow_pct, [-6.0, -5.0])
    assert list(dr.ytd_flow_usd) == [-50, -90]
    assert list(dr.cum_flow_usd) == [-60, -100]
    fa = pick(w, "foreign", "All")
    # 20 + 30 on 2000 (31 Dec's holdings; 2 Jan's 3000 is not the first day) -> 2.5%
    assert list(fa.flow_usd) == [50, 10]
    np.testing.assert_allclose(fa.flow_pct, [2.5, 100 * 10 / 2100])
    di = pick(w, "domestic", I)
    # second week: no domestic institutional row at all -> flow 0, assets and % missing
    assert list(di.flow_usd) == [5, 0] and np.isnan(di.flow_pct.iloc[1])

    m = an.domestic_foreign_flows(make_icf(), "JP", "U", "M")
    dr = pick(m, "domestic", R)
    assert list(dr.index) == list(pd.to_datetime(["2024-12-31", "2025-01-31"]))
    # January: -20 - 30 - 40 = -90 on 2 January's 1000 -> -9%
    assert list(dr.flow_usd) == [-10, -90]
    np.testing.assert_allclose(dr.flow_pct, [-1.0, -9.0])
    assert list(dr.ytd_flow_usd) == [-10, -90]
    assert list(dr.cum_flow_usd) == [-10, -100]


def test_start_end_and_offshore_map():
    t = an.domestic_foreign_flows(make_icf(), "JP", "U", start="2025-01-01")
    dr = pick(t, "domestic", R)
    assert list(dr.cum_flow_usd) == [-20, -50, -90]  # cumulative from 2 January
    t = an.domestic_foreign_flows(
        make_icf(), "JP", "U", end="2025-01-03", offshore_map={"LU": "JP"}
    )
    # LU relabelled JP -> domestic: 31 Dec domestic institutional = 5 + (-4) = 1
    assert pick(t, "domestic", I).flow_usd.iloc[0] == 1
    # KY has no row before 6 January, so no offshore group in this window
    assert "offshore" not in set(t.group)


def test_unknown_universe_and_empty_country():
    with pytest.raises(InputError, match="universe 'X'"):
        an.domestic_foreign_flows(make_icf(), "JP", "X")
    assert an.domestic_foreign_flows(make_icf(), "BR", "U").empty


def test_format_usd_and_summary():
    assert an.format_usd(-23.06e9) == "-$23.1bn"
    assert an.format_usd(450.24e6) == "+$450.2m"
    assert an.format_usd(12345.4) == "+$12,345"
    assert an.format_usd(0.0) == "$0.0bn"
    assert an.format_usd(float("nan")) == "n/a"
    t = an.domestic_foreign_flows(make_icf(scale=1e9), "JP", "U")
    # domestic retail YTD: -20 - 30 - 40 = -90 (x $1bn)
    assert (
        an.flow_summary(t, "domestic", R)
        == "retail investors domiciled in JP: -$90.0bn YTD (to 2025-01-06)"
    )
    # foreign, all types, as of 3 January: YTD 30 + 0
    assert (
        an.flow_summary(t, "foreign", as_of="2025-01-03")
        == "all investors domiciled outside JP: +$30.0bn YTD (to 2025-01-03)"
    )
    # offshore since the start: -4 + 8 + 2 = 6
    assert (
        an.flow_summary(t, "offshore", I, measure="cum")
        == "institutional investors in offshore funds: +$6.0bn since 2024-12-31 (to 2025-01-06)"
    )


# --- b) matrix ----------------------------------------------------------------------------------


def test_domicile_matrix_flows_and_holdings():
    f = an.domicile_matrix(make_icf(), "U")
    # flows: JP row -> JP: -10+5-20-30-40 = -95, -> US: 7-3 = 4
    #        US row -> JP: 20+30+10 = 60, -> US: 50; offshore (LU, KY) -> JP: -4+8+2 = 6, US: -6
    # order by absolute total: US 110, JP 99, offshore 12; columns JP 161, US 60
    assert list(f.index) == ["US", "JP", "offshore"] and list(f.columns) == ["JP", "US"]
    assert f.loc["JP", "JP"] == -95 and f.loc["JP", "US"] == 4
    assert f.loc["US", "JP"] == 60 and f.loc["US", "US"] == 50
    assert f.loc["offshore", "JP"] == 6 and f.loc["offshore", "US"] == -6

    h = an.domicile_matrix(make_icf(), "U", value="holdings_usd")
    # holdings on the last date, 6 January
    assert h.loc["JP", "JP"] == 800 and h.loc["JP", "US"] == 800
    assert h.loc["US", "JP"] == 2100 and h.loc["US", "US"] == 5000
    assert h.loc["offshore", "JP"] == 200 and h.loc["offshore", "US"] == 600

    hm = an.domicile_matrix(make_icf(), "U", value="holdings_usd", holdings="mean")
    # mean over 4 dates: JP -> JP (1000 + 500 + 1000 + 900 + 800) / 4; JP -> US (700 + 800) / 4
    assert hm.loc["JP", "JP"] == pytest.approx(4200 / 4)
    assert hm.loc["JP", "US"] == pytest.approx(1500 / 4)

    r = an.domicile_matrix(make_icf(), "U", investor_type=R)
    # retail only: JP -> JP -100, JP -> US 4, US -> JP 30, US -> US nothing (0); no offshore
    assert list(r.index) == ["JP", "US"]
    assert r.loc["JP", "JP"] == -100 and r.loc["US", "JP"] == 30 and r.loc["US", "US"] == 0

    mapped = an.domicile_matrix(make_icf(), "U", offshore_map={"LU": "Europe"}, start="2025-01-03")
    # from 3 January: LU -> JP 8, LU -> US -6 under "Europe"; KY -> JP 2 stays offshore
    assert mapped.loc["Europe", "JP"] == 8 and mapped.loc["Europe", "US"] == -6
    assert mapped.loc["offshore", "JP"] == 2 and mapped.loc["offshore", "US"] == 0


# --- c) home bias -------------------------------------------------------------------------------


def test_home_bias_month_end():
    hb = an.home_bias(make_icf(), "U", "US").set_index(["month", "domicile"])
    dec, jan = pd.Timestamp("2024-12-31"), pd.Timestamp("2025-01-31")
    # JP funds on 31 Dec: JP 1000 + 500, US 700 -> total 2200, home 1500/2200
    r = hb.loc[(dec, "JP")]
    assert r.holdings_usd == 2200 and r.home_usd == 1500 and r.foreign_usd == 700
    assert r.home_share_pct == pytest.approx(100 * 1500 / 2200)
    assert r.foreign_share_pct == pytest.approx(100 * 700 / 2200)
    # all of JP's foreign portfolio is in the US: 100% of foreign, 700/2200 of the total
    assert r.destination_share_of_foreign_pct == pytest.approx(100.0)
    assert r.destination_share_of_total_pct == pytest.approx(100 * 700 / 2200)
    # JP funds on 6 January (the month's last flow date): JP 800, US 800
    r = hb.loc[(jan, "JP")]
    assert r.holdings_usd == 1600 and r.home_share_pct == pytest.approx(50.0)
    assert r.destination_share_of_total_pct == pytest.approx(50.0)
    # US funds in January: JP 2100, US 5000; the destination is their home -> NaN of foreign
    r = hb.loc[(jan, "US")]
    assert r.home_share_pct == pytest.approx(100 * 5000 / 7100)
    assert math.isnan(r.destination_share_of_foreign_pct)
    assert r.destination_share_of_total_pct == pytest.approx(100 * 5000 / 7100)
    # US funds in December hold only JP: home 0%
    assert hb.loc[(dec, "US")].home_share_pct == 0.0
    # offshore: no home; the share of the total is still given (LU in January: all in US)
    r = hb.loc[(jan, "LU")]
    assert bool(r.offshore) and math.isnan(r.home_share_pct) and math.isnan(r.foreign_share_pct)
    assert math.isnan(r.home_usd) and math.isnan(r.destination_share_of_foreign_pct)
    assert r.destination_share_of_total_pct == pytest.approx(100.0)
    assert hb.loc[(jan, "KY")].destination_share_of_total_pct == 0.0


def test_home_bias_mean_and_other_destination():
    hb = an.home_bias(make_icf(), "U", "JP", holdings="mean").set_index(["month", "domicile"])
    jan = pd.Timestamp("2025-01-31")
    # JP funds over January's three flow dates: JP (1000 + 900 + 800) / 3, US 800 / 3
    r = hb.loc[(jan, "JP")]
    assert r.holdings_usd == pytest.approx(3500 / 3)
    assert r.home_share_pct == pytest.approx(100 * 2700 / 3500)
    # US funds: JP (3000 + 2100) / 3 of a foreign portfolio of the same
    r = hb.loc[(jan, "US")]
    assert r.destination_usd == pytest.approx(5100 / 3)
    assert r.destination_share_of_foreign_pct == pytest.approx(100.0)
    assert r.destination_share_of_total_pct == pytest.approx(100 * 5100 / 10100)
    # no destination: no destination columns
    assert "destination_usd" not in an.home_bias(make_icf(), "U").columns


# --- d) persistence -----------------------------------------------------------------------------

FRIDAYS = pd.date_range("2021-12-10", periods=8, freq="W-FRI")  # 4 in 2021, 4 in 2022
X = pd.Series([2.0, 4, 6, -4, -2, -6, 0, 3], index=FRIDAYS)


def test_zscore_against_trailing_window():
    p = an.persistence(X, window=4, min_periods=3)
    assert list(p.columns) == an.PERSISTENCE_COLUMNS
    # weeks 0-2 have fewer than 3 earlier weeks
    assert p.zscore.iloc[:3].isna().all()
    # week 3: past 2, 4, 6 -> mean 4, sd 2 -> (-4 - 4) / 2
    # week 4: past 2, 4, 6, -4 -> mean 2, squares 0+4+16+36 = 56 over 3
    # week 5: past 4, 6, -4, -2 -> mean 1, squares 9+25+25+9 = 68 over 3
    # week 6: past 6, -4, -2, -6 -> mean -1.5, squares 56.25+6.25+.25+20.25 = 83 over 3
    # week 7: past -4, -2, -6, 0 -> mean -3, squares 1+1+9+9 = 20 over 3
    expected = [
        -4.0,
        -4 / math.sqrt(56 / 3),
        -7 / math.sqrt(68 / 3),
        1.5 / math.sqrt(83 / 3),
        6 / math.sqrt(20 / 3),
    ]
    np.testing.assert_allclose(p.zscore.iloc[3:], expected)
    np.testing.assert_allclose(p.trailing_mean.iloc[3:], [4, 2, 1, -1.5, -3])


def test_zscore_needs_spread():
    p = an.persistence(pd.Series([1.0, 1, 1, 1, 5]), window=3, min_periods=2)
    assert p.zscore.isna().all()  # the past is constant: no deviation to scale by


def test_streaks_and_runs():
    p = an.persistence(X, window=4, min_periods=3)
    assert list(p.streak) == [1, 2, 3, -1, -2, -3, 0, 1]
    assert list(an.streaks(pd.Series([-1.0, np.nan, -2, -3, 4]))) == [-1, 0, -1, -2, 1]
    runs = an.streak_runs(p)
    assert list(runs.direction) == ["buying", "selling", "buying"]
    assert list(runs.periods) == [3, 3, 1]
    assert list(runs.flow) == [12, -12, 3]
    assert runs.extreme_z.iloc[1] == pytest.approx(-4.0)  # the most negative z of the selling
    assert list(runs.ongoing) == [False, False, True]
    assert runs.start.iloc[1] == FRIDAYS[3] and runs.end.iloc[1] == FRIDAYS[5]


def test_persistence_by_year_and_summary():
    p = an.persistence(X, window=4, min_periods=3)
    y = an.persistence_by_year(p).set_index("year")
    # 2021: 2, 4, 6, -4 ; 2022: -2, -6, 0, 3
    assert y.loc[2021, "selling_periods"] == 1 and y.loc[2022, "selling_periods"] == 2
    assert y.loc[2021, "longest_buying_run"] == 3 and y.loc[2022, "longest_selling_run"] == 2
    assert y.loc[2021, "flow"] == 8 and y.loc[2022, "flow"] == -5
    assert y.loc[2022, "min_z"] == pytest.approx(-7 / math.sqrt(68 / 3))
    assert y.loc[2022, "max_z"] == pytest.approx(6 / math.sqrt(20 / 3))
    text = an.persistence_summary(p)
    assert text == (
        "week to 2022-01-28: +$3, z +2.3; 1st week of buying in a row (+$3 over "
        "the run); longest buying run before: 3 weeks to 2021-12-24 (+$12)"
    )
    # after the fifth selling week in a row, compared with the earlier 3-week selling run
    sell = pd.concat(
        [X, pd.Series([-1.0] * 5, index=pd.date_range("2022-02-04", periods=5, freq="W-FRI"))]
    )
    text = an.persistence_summary(an.persistence(sell, 4, 3))
    assert "5th week of selling in a row (-$5 over the run)" in text
    assert text.endswith("longest selling run before: 3 weeks to 2022-01-14 (-$12)")


def test_flow_persistence_per_group():
    w = an.domestic_foreign_flows(make_icf(), "JP", "U", "W")
    p = an.flow_persistence(w, window=4, min_periods=2)
    dr = p[(p.group == "domestic") & (p.investor_type == R)]
    assert list(dr.flow) == [-60, -40] and list(dr.streak) == [-1, -2]
    with pytest.raises(ValueError, match="weekly"):
        an.flow_persistence(an.domestic_foreign_flows(make_icf(), "JP", "U"))

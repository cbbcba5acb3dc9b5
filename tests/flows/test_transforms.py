"""The share class -> fund -> country chain on a hand-computed case (tiny frames, chispa).

Three funds with two share classes each, two countries, flow dates either side of the 23rd
and a month with a snapshot missing. Every expected number below is worked out by hand in the
comments.
"""
import datetime as dt

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F

from flowmosaic import calendar as cal
from flowmosaic import flows as fl
from flowmosaic.universes import Universe

D = dt.date
JAN, FEB = D(2022, 1, 1), D(2022, 2, 1)
EQ_XB = Universe("EqXB", asset_class=("E",), cross_border=True)
INST_XDOM = Universe("EqXB-inst-xdom", asset_class=("E",), cross_border=True,
                     investor_type=("Institutional",), ex_domestic=True)


@pytest.fixture(scope="module")
def inputs(spark):
    funds = spark.createDataFrame(
        [("F1", "E", True, "LU", "A", "MF"), ("F2", "E", True, "AU", "A", "MF"),
         ("F3", "E", True, "BR", "P", "ETF"), ("F4", "B", True, "LU", "A", "MF")],
        "fund_id string, asset_class string, cross_border boolean, domicile string, "
        "active_passive string, vehicle string")
    share_classes = spark.createDataFrame(
        [(f"S{i}{s}", f"F{i}", "Institutional" if s == "a" else "Retail")
         for i in (1, 2, 3, 4) for s in "ab"],
        "share_id string, fund_id string, investor_type string")
    rows = [
        # 22 March 2022 (uses January's snapshot)
        (D(2022, 3, 22), "S1a", "F1", 10.0, 1000.0, 5.0), (D(2022, 3, 22), "S1b", "F1", -4.0, 1000.0, 5.0),
        (D(2022, 3, 22), "S2a", "F2", 20.0, 500.0, 0.0), (D(2022, 3, 22), "S2b", "F2", 0.0, 500.0, 0.0),
        (D(2022, 3, 22), "S3a", "F3", -3.0, 300.0, 3.0), (D(2022, 3, 22), "S3b", "F3", 1.0, 100.0, 1.0),
        (D(2022, 3, 22), "S4a", "F4", 99.0, 900.0, 0.0),  # a bond fund: outside EqXB
        # 23 March 2022 (uses February's; F2 has no February snapshot)
        (D(2022, 3, 23), "S1a", "F1", 8.0, 1010.0, 0.0), (D(2022, 3, 23), "S1b", "F1", 2.0, 990.0, 0.0),
        (D(2022, 3, 23), "S2a", "F2", 5.0, 520.0, 0.0), (D(2022, 3, 23), "S2b", "F2", 5.0, 480.0, 0.0),
        (D(2022, 3, 23), "S3a", "F3", 1.0, 300.0, 0.0), (D(2022, 3, 23), "S3b", "F3", 3.0, 100.0, 0.0),
        # 25 April 2022: the 23rd was a Saturday, Monday uses March: no snapshot at all
        (D(2022, 4, 25), "S1a", "F1", 7.0, 1000.0, 0.0),
    ]
    flows = spark.createDataFrame(
        rows, "flow_date date, share_id string, fund_id string, flow double, "
              "assets_start double, portfolio_change double")
    allocations = spark.createDataFrame(
        [(JAN, "F1", "AU", 60.0), (JAN, "F1", "BR", 30.0), (FEB, "F1", "AU", 50.0),
         (FEB, "F1", "BR", 50.0), (JAN, "F2", "AU", 100.0), (JAN, "F3", "BR", 40.0),
         (FEB, "F3", "AU", 20.0), (FEB, "F3", "BR", 80.0), (JAN, "F3", "AU", 0.0),
         (JAN, "F4", "AU", 100.0), (FEB, "F4", "AU", 100.0)],
        "alloc_month date, fund_id string, country string, allocation_pct double")
    return flows, share_classes, funds, allocations


def _result(inputs, universes, max_age=0):
    flows, share_classes, funds, allocations = inputs
    out = fl.compute_country_flows(flows, share_classes, funds, allocations, universes, max_age)
    return out.select("universe", "flow_date", "country", "flow_usd", "assets_start_usd",
                      "flow_pct", "pseudo_return_pct", "fund_count")


def _expected(spark, rows):
    return spark.createDataFrame(
        rows, "universe string, flow_date date, country string, flow_usd double, "
              "assets_start_usd double, flow_pct double, pseudo_return_pct double, fund_count long")


def test_hand_computed_equity_universe(spark, inputs):
    # 22 Mar, January weights. Fund sums: F1 flow 6, assets 2000, pc 10; F2 20/1000/0; F3 -2/400/4.
    #   AU: F1 6*.6 + F2 20*1 = 23.6 over 2000*.6 + 1000 = 2200; pc 10*.6 = 6 (F3's AU weight is 0)
    #   BR: F1 6*.3 + F3 -2*.4 = 1.0 over 600 + 160 = 760; pc 3 + 1.6 = 4.6
    # 23 Mar, February weights; F2 has none and drops out. F1 10/2000/0; F3 4/400/0.
    #   AU: 10*.5 + 4*.2 = 5.8 over 1000 + 80 = 1080;  BR: 5 + 3.2 = 8.2 over 1000 + 320 = 1320
    # 25 Apr: March weights do not exist: no rows.
    expected = _expected(spark, [
        ("EqXB", D(2022, 3, 22), "AU", 23.6, 2200.0, 100 * 23.6 / 2200, 100 * 6 / 2200, 2),
        ("EqXB", D(2022, 3, 22), "BR", 1.0, 760.0, 100 * 1.0 / 760, 100 * 4.6 / 760, 2),
        ("EqXB", D(2022, 3, 23), "AU", 5.8, 1080.0, 100 * 5.8 / 1080, 0.0, 2),
        ("EqXB", D(2022, 3, 23), "BR", 8.2, 1320.0, 100 * 8.2 / 1320, 0.0, 2),
    ])
    assert_approx_df_equality(_result(inputs, [EQ_XB]), expected, 1e-12, ignore_row_order=True,
                              ignore_nullable=True)


def test_institutional_ex_domestic_universe(spark, inputs):
    # Institutional classes only; F2 (AU) does not count for AU, F3 (BR) not for BR.
    # 22 Mar: AU: F1 10*.6 = 6 over 1000*.6 = 600 -> 1%, pc 5*.6 = 3; BR: F1 10*.3 = 3 over 300, pc 1.5
    # 23 Mar: AU: F1 8*.5 + F3 1*.2 = 4.2 over 505 + 60 = 565; BR: F1 4 over 505
    expected = _expected(spark, [
        ("EqXB-inst-xdom", D(2022, 3, 22), "AU", 6.0, 600.0, 1.0, 0.5, 1),
        ("EqXB-inst-xdom", D(2022, 3, 22), "BR", 3.0, 300.0, 1.0, 0.5, 1),
        ("EqXB-inst-xdom", D(2022, 3, 23), "AU", 4.2, 565.0, 100 * 4.2 / 565, 0.0, 2),
        ("EqXB-inst-xdom", D(2022, 3, 23), "BR", 4.0, 505.0, 100 * 4.0 / 505, 0.0, 1),
    ])
    assert_approx_df_equality(_result(inputs, [INST_XDOM]), expected, 1e-12,
                              ignore_row_order=True, ignore_nullable=True)


def test_two_universes_in_one_pass_equal_separate_runs(inputs):
    both = _result(inputs, [EQ_XB, INST_XDOM])
    separate = _result(inputs, [EQ_XB]).unionByName(_result(inputs, [INST_XDOM]))
    assert_approx_df_equality(both, separate, 1e-12, ignore_row_order=True,
                              ignore_nullable=True)


def test_carry_forward_fills_a_missing_month(spark, inputs):
    # max age 1: on 23 Mar F2 uses January's snapshot (AU 100%): AU gains 10 flow, 1000 assets.
    out = _result(inputs, [EQ_XB], max_age=1).filter("flow_date = '2022-03-23' AND country = 'AU'")
    row = out.collect()[0]
    assert row.flow_usd == pytest.approx(15.8)
    assert row.assets_start_usd == pytest.approx(2080.0)
    assert row.fund_count == 3
    # and 25 Apr (March missing for all) now uses February's weights for F1: 7*.5 = 3.5 over 1000*.5 = 500
    apr = _result(inputs, [EQ_XB], max_age=1).filter("flow_date = '2022-04-25'")
    assert {r.country: r.flow_pct for r in apr.collect()} == pytest.approx({"AU": 0.7, "BR": 0.7})


def test_zero_assets_give_null_pct_not_an_error(spark):
    days = spark.createDataFrame(
        [("U", "F1", "LU", False, D(2022, 3, 23), FEB, 5.0, 0.0, 0.0)],
        "universe string, fund_id string, domicile string, ex_domestic boolean, flow_date date, "
        "alloc_month date, flow double, assets_start double, portfolio_change double")
    w = spark.createDataFrame([("F1", FEB, "AU", 0.5)],
                              "fund_id string, alloc_month date, country string, weight double")
    row = fl.country_flows(days, w).collect()[0]
    assert row.flow_pct is None and row.flow_usd == 2.5


def test_fund_days_sums_share_classes_per_investor_type(spark, inputs):
    flows, share_classes, _, _ = inputs
    out = fl.fund_days(flows.filter("fund_id = 'F1' AND flow_date = '2022-03-22'"), share_classes)
    expected = spark.createDataFrame(
        [("F1", D(2022, 3, 22), 6.0, 2000.0, 10.0, 10.0, 1000.0, 5.0, -4.0, 1000.0, 5.0, JAN)],
        "fund_id string, flow_date date, flow__all double, assets_start__all double, "
        "portfolio_change__all double, flow__institutional double, "
        "assets_start__institutional double, portfolio_change__institutional double, "
        "flow__retail double, assets_start__retail double, portfolio_change__retail double, "
        "alloc_month date")
    assert_df_equality(out, expected, ignore_nullable=True)


def test_alloc_month_column_agrees_with_calendar_every_day(spark):
    start, end = D(2019, 12, 1), D(2024, 3, 31)
    days = spark.sql(f"SELECT explode(sequence(DATE'{start}', DATE'{end}')) AS d")
    got = {r.d: r.m for r in days.select("d", fl.alloc_month_col(F.col("d")).alias("m")).collect()}
    assert len(got) == (end - start).days + 1
    wrong = [(d, m) for d, m in got.items() if m != cal.alloc_month(d)]
    assert wrong == []

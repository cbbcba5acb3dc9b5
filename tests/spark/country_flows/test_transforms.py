"""The share class -> fund -> country chain on a hand-computed case (tiny frames, chispa),
through both engines (the matrix product and the Spark joins): they must give the same rows.

Three funds with two share classes each, two countries, flow dates either side of the 23rd
and a month with a snapshot missing. Every expected number below is worked out by hand in the
comments. Share-class rows become fund_days with ingest's own aggregation.
"""

import datetime as dt

import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import functions as F

from flowmosaic.config import load_countries
from flowmosaic.country_flows import job, sources
from flowmosaic.ingest import fund_days as fd
from flowmosaic.universes import Universe

D = dt.date
JAN, FEB = D(2022, 1, 1), D(2022, 2, 1)
EQ_XB = Universe("EqXB", asset_class=("E",), cross_border=True)
INST_XDOM = Universe(
    "EqXB-inst-xdom",
    asset_class=("E",),
    cross_border=True,
    investor_type=("Institutional",),
    ex_domestic=True,
)
ENGINES = ("matrix", "join")
WINDOW = (D(2022, 3, 1), D(2022, 4, 29))  # the flow dates country_rows computes by default
COUNTRIES = load_countries().published_order


def silver(spark, funds, share_classes, rows, allocations):
    """In-memory silver frames (no Delta): funds (key, id, attributes), fund_days from the
    share-class rows, fund_allocations."""
    f = spark.createDataFrame(
        [
            (k, fid, ac, xb, dom, "A", "MF", focus)
            for k, (fid, ac, xb, dom, focus) in enumerate(funds)
        ],
        "fund_key int, fund_id string, asset_class string, cross_border boolean, "
        "domicile string, active_passive string, vehicle string, geographic_focus string",
    )
    key = {fid: k for k, (fid, *_rest) in enumerate(funds)}
    sc = spark.createDataFrame(
        [(i, sid, key[fid], it) for i, (sid, fid, it) in enumerate(share_classes)],
        "share_key int, share_id string, fund_key int, investor_type string",
    )
    skey = {sid: i for i, (sid, *_r) in enumerate(share_classes)}
    flows = spark.createDataFrame(
        [
            (d, skey[s], key[fid], flow, assets, pc, d.replace(day=1))
            for d, s, fid, flow, assets, pc in rows
        ],
        "flow_date date, share_key int, fund_key int, flow double, assets_start double, "
        "portfolio_change double, flow_month date",
    )
    allocs = spark.createDataFrame(
        [(m, key[fid], c, pct) for m, fid, c, pct in allocations],
        "alloc_month date, fund_key int, country string, allocation_pct double",
    )
    return sources.Silver(
        {"funds": f, "fund_days": fd.from_share_class_flows(flows, sc), "fund_allocations": allocs},
        {},
    )


@pytest.fixture(scope="module")
def inputs(spark):
    funds = [
        ("F1", "E", True, "LU", "Global"),
        ("F2", "E", True, "AU", "Global"),
        ("F3", "E", True, "BR", "Global"),
        ("F4", "B", True, "LU", "Global"),
    ]
    share_classes = [
        (f"S{i}{s}", f"F{i}", "Institutional" if s == "a" else "Retail")
        for i in (1, 2, 3, 4)
        for s in "ab"
    ]
    rows = [
        # 22 March 2022 (uses January's snapshot)
        (D(2022, 3, 22), "S1a", "F1", 10.0, 1000.0, 5.0),
        (D(2022, 3, 22), "S1b", "F1", -4.0, 1000.0, 5.0),
        (D(2022, 3, 22), "S2a", "F2", 20.0, 500.0, 0.0),
        (D(2022, 3, 22), "S2b", "F2", 0.0, 500.0, 0.0),
        (D(2022, 3, 22), "S3a", "F3", -3.0, 300.0, 3.0),
        (D(2022, 3, 22), "S3b", "F3", 1.0, 100.0, 1.0),
        (D(2022, 3, 22), "S4a", "F4", 99.0, 900.0, 0.0),  # a bond fund: outside EqXB
        # 23 March 2022 (uses February's; F2 has no February snapshot)
        (D(2022, 3, 23), "S1a", "F1", 8.0, 1010.0, 0.0),
        (D(2022, 3, 23), "S1b", "F1", 2.0, 990.0, 0.0),
        (D(2022, 3, 23), "S2a", "F2", 5.0, 520.0, 0.0),
        (D(2022, 3, 23), "S2b", "F2", 5.0, 480.0, 0.0),
        (D(2022, 3, 23), "S3a", "F3", 1.0, 300.0, 0.0),
        (D(2022, 3, 23), "S3b", "F3", 3.0, 100.0, 0.0),
        # 25 April 2022: the 23rd was a Saturday, Monday uses March: no snapshot at all
        (D(2022, 4, 25), "S1a", "F1", 7.0, 1000.0, 0.0),
    ]
    allocations = [
        (JAN, "F1", "AU", 60.0),
        (JAN, "F1", "BR", 30.0),
        (FEB, "F1", "AU", 50.0),
        (FEB, "F1", "BR", 50.0),
        (JAN, "F2", "AU", 100.0),
        (JAN, "F3", "BR", 40.0),
        (FEB, "F3", "AU", 20.0),
        (FEB, "F3", "BR", 80.0),
        (JAN, "F3", "AU", 0.0),
        (JAN, "F4", "AU", 100.0),
        (FEB, "F4", "AU", 100.0),
    ]
    return silver(spark, funds, share_classes, rows, allocations)


def country_rows(
    spark, s, universes, engine, max_age=0, lo=WINDOW[0], hi=WINDOW[1], grain="country"
):
    mem = sources.members(spark, s, universes, COUNTRIES)
    engine_rows = job.matrix_rows if engine == "matrix" else job.join_rows
    rows = engine_rows(spark, s, universes, mem, lo, hi, COUNTRIES, max_age, grain)
    return job.finish(rows, grain)


def _result(spark, s, universes, engine, max_age=0):
    return country_rows(spark, s, universes, engine, max_age).select(
        "universe",
        "flow_date",
        "country",
        "flow_usd",
        "assets_start_usd",
        "flow_pct",
        "pseudo_return_pct",
        "fund_count",
    )


def _expected(spark, rows):
    return spark.createDataFrame(
        rows,
        "universe string, flow_date date, country string, flow_usd double, "
        "assets_start_usd double, flow_pct double, pseudo_return_pct double, fund_count long",
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_hand_computed_equity_universe(spark, inputs, engine):
    # 22 Mar, January weights. Fund sums: F1 flow 6, assets 2000, pc 10; F2 20/1000/0; F3 -2/400/4.
    #   AU: F1 6*.6 + F2 20*1 = 23.6 over 2000*.6 + 1000 = 2200; pc 10*.6 = 6 (F3's AU weight is 0)
    #   BR: F1 6*.3 + F3 -2*.4 = 1.0 over 600 + 160 = 760; pc 3 + 1.6 = 4.6
    # 23 Mar, February weights; F2 has none and drops out. F1 10/2000/0; F3 4/400/0.
    #   AU: 10*.5 + 4*.2 = 5.8 over 1000 + 80 = 1080;  BR: 5 + 3.2 = 8.2 over 1000 + 320 = 1320
    # 25 Apr: March weights do not exist: no rows.
    expected = _expected(
        spark,
        [
            ("EqXB", D(2022, 3, 22), "AU", 23.6, 2200.0, 100 * 23.6 / 2200, 100 * 6 / 2200, 2),
            ("EqXB", D(2022, 3, 22), "BR", 1.0, 760.0, 100 * 1.0 / 760, 100 * 4.6 / 760, 2),
            ("EqXB", D(2022, 3, 23), "AU", 5.8, 1080.0, 100 * 5.8 / 1080, 0.0, 2),
            ("EqXB", D(2022, 3, 23), "BR", 8.2, 1320.0, 100 * 8.2 / 1320, 0.0, 2),
        ],
    )
    assert_approx_df_equality(
        _result(spark, inputs, [EQ_XB], engine),
        expected,
        1e-12,
        ignore_row_order=True,
        ignore_nullable=True,
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_institutional_ex_domestic_universe(spark, inputs, engine):
    # Institutional classes only; F2 (AU) does not count for AU, F3 (BR) not for BR.
    # 22 Mar: AU: F1 10*.6 = 6 over 1000*.6 = 600 -> 1%, pc 5*.6 = 3;
    #         BR: F1 10*.3 = 3 over 300, pc 1.5
    # 23 Mar: AU: F1 8*.5 + F3 1*.2 = 4.2 over 505 + 60 = 565; BR: F1 4 over 505
    expected = _expected(
        spark,
        [
            ("EqXB-inst-xdom", D(2022, 3, 22), "AU", 6.0, 600.0, 1.0, 0.5, 1),
            ("EqXB-inst-xdom", D(2022, 3, 22), "BR", 3.0, 300.0, 1.0, 0.5, 1),
            ("EqXB-inst-xdom", D(2022, 3, 23), "AU", 4.2, 565.0, 100 * 4.2 / 565, 0.0, 2),
            ("EqXB-inst-xdom", D(2022, 3, 23), "BR", 4.0, 505.0, 100 * 4.0 / 505, 0.0, 1),
        ],
    )
    assert_approx_df_equality(
        _result(spark, inputs, [INST_XDOM], engine),
        expected,
        1e-12,
        ignore_row_order=True,
        ignore_nullable=True,
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_two_universes_in_one_pass_equal_separate_runs(spark, inputs, engine):
    both = _result(spark, inputs, [EQ_XB, INST_XDOM], engine)
    separate = _result(spark, inputs, [EQ_XB], engine).unionByName(
        _result(spark, inputs, [INST_XDOM], engine)
    )
    assert_approx_df_equality(both, separate, 1e-12, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("engine", ENGINES)
def test_carry_forward_fills_a_missing_month(spark, inputs, engine):
    # max age 1: on 23 Mar F2 uses January's snapshot (AU 100%): AU gains 10 flow, 1000 assets.
    out = _result(spark, inputs, [EQ_XB], engine, max_age=1)
    row = out.filter("flow_date = '2022-03-23' AND country = 'AU'").collect()[0]
    assert row.flow_usd == pytest.approx(15.8)
    assert row.assets_start_usd == pytest.approx(2080.0)
    assert row.fund_count == 3
    # and 25 Apr (March missing for all) uses February's weights for F1: 7*.5 = 3.5 over 500
    apr = out.filter("flow_date = '2022-04-25'")
    assert {r.country: r.flow_pct for r in apr.collect()} == pytest.approx({"AU": 0.7, "BR": 0.7})


@pytest.mark.parametrize("engine", ENGINES)
def test_fund_without_a_share_class_of_the_type_does_not_count(spark, engine):
    # F1 has an institutional and a retail class, F5 only a retail one. In an institutional
    # universe F5 contributes nothing: no row of its own (a country only it holds has none),
    # and it is not in fund_count. 22 Mar, January weights: F1 AU 100%, F5 AU 50% + CA 50%.
    #   institutional: AU = F1's institutional class only: 10 over 1000, 1 fund; no CA row
    #   all types: AU = F1 (10 - 4) + F5 3 * .5 = 7.5 over 2000 + 400 * .5 = 2200, 2 funds;
    #              CA = F5 3 * .5 = 1.5 over 200, 1 fund
    s = silver(
        spark,
        [("F1", "E", True, "LU", "Global"), ("F5", "E", True, "IE", "Global")],
        [("S1a", "F1", "Institutional"), ("S1b", "F1", "Retail"), ("S5b", "F5", "Retail")],
        [
            (D(2022, 3, 22), "S1a", "F1", 10.0, 1000.0, 0.0),
            (D(2022, 3, 22), "S1b", "F1", -4.0, 1000.0, 0.0),
            (D(2022, 3, 22), "S5b", "F5", 3.0, 400.0, 0.0),
        ],
        [(JAN, "F1", "AU", 100.0), (JAN, "F5", "AU", 50.0), (JAN, "F5", "CA", 50.0)],
    )
    inst = Universe("Inst", asset_class=("E",), investor_type=("Institutional",))
    got = {
        (r.universe, r.country): (r.flow_usd, r.assets_start_usd, r.fund_count)
        for r in _result(spark, s, [inst, EQ_XB], engine).collect()
    }
    assert got == {
        ("Inst", "AU"): (10.0, 1000.0, 1),
        ("EqXB", "AU"): (7.5, 2200.0, 2),
        ("EqXB", "CA"): (1.5, 200.0, 1),
    }


def test_zero_assets_give_null_pct_not_an_error(spark):
    rows = spark.createDataFrame(
        [("U", D(2022, 3, 23), "AU", 2.5, 0.0, 0.0, 1)],
        "universe string, flow_date date, country string, "
        "flow_usd double, assets_start_usd double, "
        "portfolio_change_usd double, fund_count long",
    )
    row = job.finish(rows, "country").collect()[0]
    assert row.flow_pct is None and row.flow_usd == 2.5


def test_fund_days_sums_share_classes_per_investor_type(spark, inputs):
    out = inputs.frames["fund_days"].where("fund_key = 0 AND flow_date = '2022-03-22'")
    row = out.collect()[0].asDict()
    # F1 on 22 Mar: institutional S1a 10/1000/5, retail S1b -4/1000/5, no other type
    assert (row["flow_inst"], row["assets_start_inst"], row["portfolio_change_inst"]) == (
        10,
        1000,
        5,
    )
    assert (row["flow_retail"], row["assets_start_retail"], row["portfolio_change_retail"]) == (
        -4,
        1000,
        5,
    )
    assert row["flow_other"] is None and row["assets_start_other"] is None
    assert row["flow_month"] == D(2022, 3, 1)


@pytest.mark.parametrize("engine", ENGINES)
def test_investor_grain_sums_to_the_country_grain(spark, inputs, engine):
    universes = [EQ_XB, INST_XDOM]
    country = country_rows(spark, inputs, universes, engine)
    investor = country_rows(spark, inputs, universes, engine, grain="investor")
    summed = investor.groupBy("universe", "flow_date", "country").agg(
        *[F.sum(c).alias(c) for c in ("flow_usd", "assets_start_usd", "portfolio_change_usd")]
    )
    assert_approx_df_equality(
        summed,
        country.select(
            "universe",
            "flow_date",
            "country",
            "flow_usd",
            "assets_start_usd",
            "portfolio_change_usd",
        ),
        1e-12,
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_column_order=True,
    )
    # 22 Mar, EqXB, AU: LU institutional F1 10*.6 = 6, LU retail -4*.6 = -2.4, AU institutional
    # F2 20, AU retail 0 (F2's retail class reported a 0 flow: it counts, with its assets)
    got = {
        (r.investor_domicile, r.investor_type): (round(r.flow_usd, 9), r.fund_count)
        for r in investor.where(
            "universe = 'EqXB' AND flow_date = '2022-03-22' AND country = 'AU'"
        ).collect()
    }
    assert got == {
        ("LU", "Institutional"): (6.0, 1),
        ("LU", "Retail"): (-2.4, 1),
        ("AU", "Institutional"): (20.0, 1),
        ("AU", "Retail"): (0.0, 1),
    }


@pytest.mark.parametrize("engine", ENGINES)
def test_flow_pct_of_the_signals_worked_example(spark, engine):
    """docs/signals.md's worked example (funds A, B, C; X = JP, Y = US) gives flow % with the
    new weights, by hand: JP 100 x (4 x 0.5 + 6 x 0.25 - 2 x 0.1) / (100 x 0.5 + 200 x 0.25 +
    50 x 0.1) = 100 x 3.3 / 105; US 100 x (4 x 0.5 + 6 x 0.75 - 2 x 0.9) / (50 + 150 + 45) =
    100 x 4.7 / 245. The flow is on 2025-06-23, the day May's (the new) snapshot is public."""
    day, apr, may = D(2025, 6, 23), D(2025, 4, 1), D(2025, 5, 1)
    funds = [(f, "E", True, "LU", "G") for f in ("A", "B", "C")]
    share_classes = [(f"S{f}", f, "Retail") for f in ("A", "B", "C")]
    rows = [
        (day, f"S{f}", f, flow, start, 0.0)
        for f, flow, start in (("A", 4.0, 100.0), ("B", 6.0, 200.0), ("C", -2.0, 50.0))
    ]
    old = {("A", "JP"): 40, ("A", "US"): 60, ("B", "JP"): 30, ("B", "US"): 70, ("C", "US"): 100}
    new = {("A", "JP"): 50, ("A", "US"): 50, ("B", "JP"): 25, ("B", "US"): 75, ("C", "JP"): 10}
    new[("C", "US")] = 90
    allocations = [
        (m, f, c, float(p)) for m, snap in ((apr, old), (may, new)) for (f, c), p in snap.items()
    ]
    s = silver(spark, funds, share_classes, rows, allocations)
    got = {
        r["country"]: r["flow_pct"]
        for r in country_rows(spark, s, [EQ_XB], engine, lo=day, hi=day).collect()
    }
    assert got == {"JP": pytest.approx(100 * 3.3 / 105), "US": pytest.approx(100 * 4.7 / 245)}

"""The country-flows job on Delta: window rewrites, idempotence, history, alloc-month re-runs,
carry-forward, the gold table's file layout, the physical plans, and the two engines agreeing.

Silver is written directly as the tables the job reads (funds, fund_days, fund_allocations),
created from their definitions (tables.py) with storage.ensure.
"""

import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from flowmosaic import calendar as cal
from flowmosaic import storage
from flowmosaic.config import load_countries
from flowmosaic.country_flows import job, sources
from flowmosaic.tables import INVESTOR_TYPES, table
from flowmosaic.universes import select_universes

D = dt.date
START, END = D(2021, 11, 1), D(2022, 4, 29)
COUNTRIES = load_countries().published_order


def quiet(_msg):
    return None


# fund_key: (fund_id, asset_class, geographic_focus, cross_border, domicile, active_passive,
# vehicle), and the investor types of its share classes
FUNDS = {
    0: (("F1", "E", "Global", True, "LU", "A", "MF"), ("Institutional",)),
    1: (("F2", "E", "Global", True, "US", "P", "ETF"), ("Retail",)),
    # single-country CA fund without allocations: outside the cross-border universes
    2: (("F3", "E", "CA", False, "CA", "A", "MF"), ("Institutional", "Other")),
}
ALLOCS = (("F1", "AU", 60.0), ("F1", "BR", 30.0), ("F2", "AU", 50.0), ("F2", "CA", 45.0))


def fund_day_rows():
    """Every flow date of the window for every fund: per investor type of its share classes
    flow = (k % 7) - 3 + key + 1 (+ 0.5 per further type), assets 1000 x (key + 1)."""
    rows = []
    for k, d in enumerate(cal.flow_dates(START, END)):
        for key, (_attrs, types) in FUNDS.items():
            vals = {}
            for j, t in enumerate(types):
                flow = float((k % 7) - 3 + key + 1) + 0.5 * j
                vals[t] = (flow, 1000.0 * (key + 1) + 10 * j, 0.25 * ((k % 5) - 2))
            measures = []
            for t in INVESTOR_TYPES:
                measures += list(vals.get(t, (None, None, None)))
            rows.append((d, key, *measures, d.replace(day=1)))
    return rows


def write_silver(spark, settings):
    """Allocations for every month from September 2021, F2 missing January 2022."""
    key = {attrs[0]: k for k, (attrs, _t) in FUNDS.items()}
    months = [cal.add_months(D(2021, 9, 1), k) for k in range(7)]
    allocs = [
        (m, cal.month_end(m), key[f], c, pct)
        for m in months
        for f, c, pct in ALLOCS
        if not (f == "F2" and m == D(2022, 1, 1))
    ]
    data = {
        "funds": [(k, *attrs) for k, (attrs, _t) in FUNDS.items()],
        "fund_days": fund_day_rows(),
        "fund_allocations": allocs,
    }
    for name, rows in data.items():
        path = storage.ensure(spark, settings, name)
        df = spark.createDataFrame(rows, table(name).schema)
        storage.append(df, path, {"job": "test-fixture"})


@pytest.fixture(scope="module")
def wh(spark, make_settings, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("cfjob") / "wh")
    write_silver(spark, settings)
    return settings


@pytest.fixture(scope="module")
def universes_file(tmp_path_factory):
    """Universes beyond conf/universes.yaml: the single-country fund, an institutional
    ex-domestic one, and one that selects no fund at all."""
    p = tmp_path_factory.mktemp("conf") / "universes.yaml"
    p.write_text("""universes:
  FloPctCtry:
    asset_class: [E]
    cross_border: true
  Eq-all:
    asset_class: [E]
  Eq-inst-xdom:
    asset_class: [E]
    investor_type: [Institutional]
    ex_domestic: true
  Alt:
    asset_class: [A]
""")
    return str(p)


def _table(spark, settings, version=None, name="country_flows"):
    return storage.read_table(spark, settings, name, version)


def _rows(df):
    return sorted(tuple(r) for r in df.collect())


def _path(settings, name="country_flows"):
    return settings.table_path(name)


def test_full_run_then_same_window_twice_is_identical(spark, wh):
    first = job.run(spark, wh, "FloPctCtry,FloPctCtry-ETF", progress=quiet)
    assert (first.start, first.end) == (D(2021, 11, 1), D(2022, 4, 29))
    before = _rows(_table(spark, wh))
    # F1 counts every day; F2 is missing on the dates January's snapshot serves (Feb 23 - Mar 22)
    assert first.rows_written == len(before) > 0
    jan_days = [d for d in cal.flow_dates(START, END) if cal.alloc_month(d) == D(2022, 1, 1)]
    ca = _table(spark, wh).filter("universe = 'FloPctCtry' AND country = 'CA'")
    ca_dates = {r.flow_date for r in ca.collect()}
    assert ca_dates and not ca_dates & set(jan_days)
    # and every other flow date of the window has its CA row (from F2 alone)
    assert ca_dates == set(cal.flow_dates(START, END)) - set(jan_days)

    again = job.run(spark, wh, "FloPctCtry,FloPctCtry-ETF", progress=quiet)
    assert again.table_version > first.table_version
    assert _rows(_table(spark, wh)) == before


def test_window_run_leaves_rows_outside_untouched(spark, wh):
    job.run(spark, wh, "FloPctCtry", progress=quiet)
    v0 = storage.current_version(spark, _path(wh))
    lo, hi = D(2022, 2, 1), D(2022, 2, 28)
    run = job.run(spark, wh, "FloPctCtry", start=lo, end=hi, progress=quiet)
    assert (run.start, run.end) == (lo, hi)
    outside = "NOT (universe = 'FloPctCtry' AND flow_date BETWEEN '2022-02-01' AND '2022-02-28')"
    assert _rows(_table(spark, wh).filter(outside)) == _rows(_table(spark, wh, v0).filter(outside))
    assert _rows(_table(spark, wh)) == _rows(_table(spark, wh, v0))
    # history: one commit for the run, a replaceWhere of the window, with its metadata
    hist = storage.history(spark, _path(wh)).filter(F.col("version") > v0).collect()
    assert len(hist) == 1 and hist[0].version == run.table_version
    h = hist[0]
    meta = json.loads(h.userMetadata)
    assert meta["job"] == "country-flows" and meta["universes"] == ["FloPctCtry"]
    assert [D.fromisoformat(x) for x in meta["window"]] == [lo, hi]
    assert meta["engine"] == "matrix" and meta["allocation_max_age_months"] == 0
    assert set(meta["source_versions"]) == set(sources.SOURCES)
    assert (
        meta["source_versions"]
        == run.source_versions
        == {n: storage.current_version(spark, _path(wh, n)) for n in sources.SOURCES}
    )
    # February is a whole month (its first and last flow dates): replaced by partition, from
    # the log alone, no file read or rewritten (storage.date_window_predicate)
    predicate = h.operationParameters["predicate"]
    assert "flow_month >= DATE'2022-02-01'" in predicate
    assert "flow_month <= DATE'2022-02-01'" in predicate
    assert "flow_date" not in predicate and "FloPctCtry" in predicate
    assert run.rows_copied == 0
    # the commit's rows are the window's rows
    window_rows = _table(spark, wh).filter("NOT (" + outside + ")").count()
    # AU, BR and CA up to 22 February (December's snapshot), AU and BR after (January's)
    expected = sum(2 if cal.alloc_month(d) == D(2022, 1, 1) else 3 for d in cal.flow_dates(lo, hi))
    assert run.rows_written == window_rows == expected == 16 * 3 + 4 * 2
    assert (
        run.rows_written
        == storage.Written.from_commit(
            storage.commit_info(spark, _path(wh), run.table_version)
        ).written
    )


def test_alloc_month_rerun_covers_exactly_its_flow_dates(spark, wh):
    job.run(spark, wh, "FloPctCtry", progress=quiet)
    v0 = storage.current_version(spark, _path(wh))
    run = job.run(spark, wh, "FloPctCtry", alloc_month=D(2022, 1, 1), progress=quiet)
    assert (run.start, run.end) == (D(2022, 2, 23), D(2022, 3, 22))
    meta = json.loads(storage.commit_info(spark, _path(wh))["userMetadata"])
    assert meta["window"] == ["2022-02-23", "2022-03-22"]
    assert _rows(_table(spark, wh)) == _rows(_table(spark, wh, v0))
    jan_days = [d for d in cal.flow_dates(START, END) if cal.alloc_month(d) == D(2022, 1, 1)]
    assert run.rows_written == 2 * len(jan_days)  # AU and BR from F1, F2 missing
    assert job.window_for_alloc_month(D(2022, 1, 1), 2) == (D(2022, 2, 23), D(2022, 5, 22))
    run2 = job.run(
        spark, wh, "FloPctCtry", alloc_month=D(2022, 1, 1), max_age_months=2, progress=quiet
    )
    assert (run2.start, run2.end) == (D(2022, 2, 23), D(2022, 5, 22))


def test_carry_forward_fills_the_missing_month(spark, wh):
    """With a maximum age of 1 month F2 takes December's snapshot on the dates January's
    serves: CA gets rows there (F2 alone: 45% of its flow and assets), AU gains F2's 50%;
    every other date is as without carry-forward."""
    base = job.run(spark, wh, "FloPctCtry", progress=quiet)
    without = _table(spark, wh, base.table_version).where("universe = 'FloPctCtry'").toPandas()
    run = job.run(spark, wh, "FloPctCtry", max_age_months=1, progress=quiet)
    meta = json.loads(storage.commit_info(spark, _path(wh))["userMetadata"])
    assert meta["allocation_max_age_months"] == 1
    got = _table(spark, wh, run.table_version).where("universe = 'FloPctCtry'").toPandas()
    jan_days = {d for d in cal.flow_dates(START, END) if cal.alloc_month(d) == D(2022, 1, 1)}
    key = ["flow_date", "country"]
    in_jan = got.flow_date.isin(jan_days)
    other = got[~in_jan].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        other, without[~without.flow_date.isin(jan_days)].sort_values(key).reset_index(drop=True)
    )
    jan = got[in_jan].set_index(key).sort_index()
    assert set(jan.reset_index().country) == {"AU", "BR", "CA"}
    f2 = {r[0]: r for r in fund_day_rows() if r[1] == 1}
    for d in sorted(jan_days):
        flow2, assets2 = f2[d][5], f2[d][6]  # F2's retail flow and assets
        ca = jan.loc[(d, "CA")]
        assert ca.flow_usd == pytest.approx(0.45 * flow2, rel=1e-12, abs=1e-12)
        assert ca.assets_start_usd == pytest.approx(0.45 * assets2, rel=1e-12)
        assert ca.fund_count == 1
        au = jan.loc[(d, "AU")]
        before = without.set_index(key).loc[(d, "AU")]
        assert au.flow_usd == pytest.approx(before.flow_usd + 0.5 * flow2, rel=1e-12, abs=1e-12)
        assert au.assets_start_usd == pytest.approx(before.assets_start_usd + 0.5 * assets2)
        assert (before.fund_count, au.fund_count) == (1, 2)


def test_one_day_window_after_a_full_run_copies_no_rows_of_other_months(spark, wh):
    full = job.run(spark, wh, "FloPctCtry", progress=quiet)
    t = _table(spark, wh, full.table_version).where("universe = 'FloPctCtry'")
    feb = t.where("flow_date BETWEEN '2022-02-01' AND '2022-02-28'").count()
    day = t.where("flow_date = '2022-02-15'").count()
    assert feb > day > 0
    # the files of the table after the full run: each holds one (universe, month) group
    files = (
        _table(spark, wh, full.table_version)
        .select(
            F.input_file_name().alias("file"), "universe", F.trunc("flow_date", "MM").alias("month")
        )
        .distinct()
        .groupBy("file")
        .agg(F.count("*").alias("groups"))
        .collect()
    )
    assert files and max(r.groups for r in files) == 1, files

    run = job.run(spark, wh, "FloPctCtry", start=D(2022, 2, 15), end=D(2022, 2, 15), progress=quiet)
    # only February's file is rewritten: the rows copied are February's other days
    assert run.rows_written == day
    assert run.files_removed == 1
    assert run.rows_copied == feb - day
    info = storage.commit_info(spark, _path(wh), run.table_version)
    m = info["operationMetrics"]
    assert int(m["numCopiedRows"]) == feb - day
    assert int(m["numRemovedFiles"]) == 1
    assert int(m["numOutputRows"]) == feb
    assert _rows(_table(spark, wh)) == _rows(_table(spark, wh, full.table_version))


def test_unknown_universe_is_a_clear_error(spark, wh):
    from flowmosaic.errors import ConfigError

    with pytest.raises(ConfigError, match="NoSuchUniverse"):
        job.run(spark, wh, "NoSuchUniverse", progress=quiet)


def test_a_universe_without_funds_writes_no_rows_and_spoils_nothing(spark, wh):
    # FloPctCtry-B selects no fund here: the window's other universe is computed as alone
    alone = job.run(spark, wh, "FloPctCtry", progress=quiet)
    both = job.run(spark, wh, "FloPctCtry,FloPctCtry-B", progress=quiet)
    assert both.rows_written == alone.rows_written
    _assert_same(_table(spark, wh, alone.table_version), _table(spark, wh, both.table_version))


def _assert_same(a: DataFrame, b: DataFrame, rtol=1e-12):
    keys = [
        c
        for c in a.columns
        if c
        not in (
            "flow_usd",
            "assets_start_usd",
            "flow_pct",
            "portfolio_change_usd",
            "pseudo_return_pct",
        )
    ]
    pa_, pb = (x.toPandas().sort_values(keys).reset_index(drop=True) for x in (a, b))
    assert len(pa_) > 0
    pd.testing.assert_frame_equal(pa_, pb, check_exact=False, rtol=rtol, atol=0)


@pytest.mark.parametrize("grain, max_age", [("country", 0), ("country", 2), ("investor", 0)])
def test_matrix_and_join_engines_write_the_same_table(
    spark, make_settings, tmp_path, universes_file, grain, max_age
):
    settings = make_settings(tmp_path / "wh")
    write_silver(spark, settings)
    names = "FloPctCtry,Eq-all,Eq-inst-xdom,Alt"
    target = job.GRAINS[grain]
    out = {}
    for engine in job.ENGINES:
        r = job.run(
            spark,
            settings,
            names,
            engine=engine,
            grain=grain,
            max_age_months=max_age,
            universes_path=universes_file,
            progress=quiet,
        )
        assert r.engine == engine and r.table == target
        out[engine] = _table(spark, settings, r.table_version, target)
    _assert_same(out["matrix"], out["join"])
    got = out["matrix"]
    # every universe with funds is there; the single-country fund counts in CA (Eq-all), and
    # not in the ex-domestic universe, where it is domiciled in CA
    univ = {r.universe for r in got.select("universe").distinct().collect()}
    assert univ == {"FloPctCtry", "Eq-all", "Eq-inst-xdom"}

    def ca_dates(u):
        return {
            r.flow_date
            for r in got.where(f"universe = '{u}' AND country = 'CA'")
            .select("flow_date")
            .distinct()
            .collect()
        }

    # F3 (CA) every date; in FloPctCtry only F2's snapshots give CA: January's is missing
    # (filled from December's with carry-forward)
    assert ca_dates("Eq-all") == set(cal.flow_dates(START, END))
    jan_days = {d for d in cal.flow_dates(START, END) if cal.alloc_month(d) == D(2022, 1, 1)}
    assert ca_dates("FloPctCtry") == set(cal.flow_dates(START, END)) - (
        jan_days if max_age == 0 else set()
    )
    if grain == "investor":
        types = {
            r.investor_type
            for r in got.where("universe = 'Eq-inst-xdom'")
            .select("investor_type")
            .distinct()
            .collect()
        }
        assert types == {"Institutional"}
        assert got.where("universe = 'Eq-inst-xdom' AND country = 'CA'").count() == 0


def _final_plan(df: DataFrame) -> str:
    df.collect()  # run it, so the plan below is AQE's final one (runtime-dropped filters gone)
    plan = df._jdf.queryExecution().executedPlan().toString()
    assert "isFinalPlan=true" in plan
    return plan.split("== Initial Plan ==")[0]


def _window_pruned(plan: str) -> None:
    """The fund_days scan reads only the window's month partitions."""
    assert re.search(r"PartitionFilters: \[[^\]]*flow_month#\d+ >= 2022-02-01", plan), plan
    assert re.search(r"PartitionFilters: \[[^\]]*flow_month#\d+ <= 2022-02-01", plan), plan


def test_join_engine_plan_broadcast_joins_one_shuffle_pruned_reads(spark, wh):
    """The join engine's plan: every join is a broadcast hash join (members, weights), the
    only shuffle is the country aggregation, and the fund_days scan carries the
    month-partition filter of the window."""
    silver = sources.read_silver(spark, wh)
    universes = select_universes("FloPctCtry,FloPctCtry-B-xdom-inst")
    mem = sources.members(spark, silver, universes, COUNTRIES)
    df = job.join_rows(
        spark, silver, universes, mem, D(2022, 2, 1), D(2022, 2, 28), COUNTRIES, 0, "country"
    )
    plan = _final_plan(df)
    assert "SortMergeJoin" not in plan and "ShuffledHashJoin" not in plan
    assert plan.count("BroadcastHashJoin") >= 2  # members, weights
    shuffles = [line for line in plan.splitlines() if "Exchange hashpartitioning" in line]
    assert len(shuffles) == 1, plan
    assert "universe" in shuffles[0] and "country" in shuffles[0]
    _window_pruned(plan)


def test_matrix_engine_plan_weights_from_a_relation_pruned_reads(spark, wh):
    """The matrix engine's plan: the weights are a scan of fund_allocations (pruned to the
    window's snapshot months) co-grouped with the member funds' fund-days by allocation month,
    both sides shuffled by that month; the one join is the broadcast semi-join keeping the
    member funds; the kernel's rows are final (a flow date has one allocation month): no
    shuffle after the co-group. No weight is a literal of the
    plan or of the task function (test_small_universe.py runs the job with the driver's
    result size bounded below the weights' size)."""
    silver = sources.read_silver(spark, wh)
    universes = select_universes("FloPctCtry,FloPctCtry-B-xdom-inst")
    mem = sources.members(spark, silver, universes, COUNTRIES)
    df = job.matrix_rows(
        spark, silver, universes, mem, D(2022, 2, 1), D(2022, 2, 28), COUNTRIES, 0, "country"
    )
    plan = _final_plan(df)
    joins = [line for line in plan.splitlines() if "Join" in line]
    assert len(joins) == 1 and "BroadcastHashJoin" in joins[0] and "LeftSemi" in joins[0], plan
    assert "FlatMapCoGroupsInArrow" in plan, plan
    scans = [line for line in plan.splitlines() if "FileScan parquet" in line]
    alloc = [line for line in scans if "allocation_pct" in line]
    assert len(alloc) == 1, plan
    # February's flow dates use December's and January's snapshots
    assert re.search(r"PartitionFilters: \[[^\]]*alloc_month#\d+ >= 2021-12-01", alloc[0]), plan
    assert re.search(r"PartitionFilters: \[[^\]]*alloc_month#\d+ <= 2022-01-01", alloc[0]), plan
    shuffles = [line for line in plan.splitlines() if "Exchange hashpartitioning" in line]
    by_month = [line for line in shuffles if re.search(r"hashpartitioning\(m#\d+", line)]
    assert len(by_month) == 2, plan  # fund-days and weights, by allocation month
    assert len(shuffles) == 2, plan
    local = [line for line in plan.splitlines() if "LocalTableScan" in line]
    assert len(local) == 1 and "LocalTableScan [fund_key#" in local[0], plan  # member keys
    _window_pruned(plan)


def test_job_output_matches_a_direct_sum(spark, wh):
    """FloPctCtry on 2022-03-23 (February's snapshot, both funds): the rows by hand from the
    fixture's numbers."""
    r = job.run(spark, wh, "FloPctCtry", start=D(2022, 3, 23), end=D(2022, 3, 23), progress=quiet)
    got = {
        row.country: row
        for row in _table(spark, wh, r.table_version)
        .where("universe = 'FloPctCtry' AND flow_date = '2022-03-23'")
        .collect()
    }
    fd = {row[1]: row for row in fund_day_rows() if row[0] == D(2022, 3, 23)}
    f1 = (fd[0][2], fd[0][3], fd[0][4])  # institutional columns of F1
    f2 = (fd[1][5], fd[1][6], fd[1][7])  # retail columns of F2
    want = {
        "AU": [0.6 * a + 0.5 * b for a, b in zip(f1, f2)] + [2],
        "BR": [0.3 * a for a in f1] + [1],
        "CA": [0.45 * b for b in f2] + [1],
    }
    assert set(got) == set(want)
    for c, (flow, assets, pc, n) in want.items():
        row = got[c]
        assert (row.flow_usd, row.assets_start_usd, row.portfolio_change_usd) == pytest.approx(
            (flow, assets, pc), rel=1e-12, abs=1e-12
        )
        assert row.flow_pct == pytest.approx(100 * flow / assets, rel=1e-12)
        assert row.pseudo_return_pct == pytest.approx(100 * pc / assets, rel=1e-12, abs=1e-15)
        assert row.fund_count == n
    assert np.isfinite([got[c].flow_pct for c in got]).all()


def test_destinations_outside_the_52_are_computed(spark, make_settings, tmp_path, universes_file):
    """A fund allocating to Vietnam (outside the published 52) and a single-country fund
    focused on Nigeria: both countries get rows, by hand from the fixture's numbers, and no
    other country (no row without a fund)."""
    settings = make_settings(tmp_path / "wh")
    day = D(2022, 3, 23)  # February's snapshot
    fd = {row[1]: row for row in fund_day_rows() if row[0] == day}
    funds = [
        (0, "F1", "E", "Global", True, "LU", "A", "MF"),
        (1, "F2", "E", "NG", False, "NG", "A", "MF"),
    ]
    allocs = [
        (D(2022, 2, 1), D(2022, 2, 28), 0, "AU", 60.0),
        (D(2022, 2, 1), D(2022, 2, 28), 0, "VN", 40.0),
    ]
    days = [r for r in fund_day_rows() if r[0] == day and r[1] in (0, 1)]
    for name, rows in (("funds", funds), ("fund_days", days), ("fund_allocations", allocs)):
        path = storage.ensure(spark, settings, name)
        storage.append(spark.createDataFrame(rows, table(name).schema), path, {"job": "test"})
    r = job.run(
        spark, settings, "Eq-all", start=day, end=day, universes_path=universes_file, progress=quiet
    )
    got = {row.country: row for row in _table(spark, settings, r.table_version).collect()}
    f1 = fd[0][2]  # F1's institutional flow that day
    f2 = fd[1][5]  # F2's retail flow (its only share class type in fund_day_rows: key 1)
    assert set(got) == {"AU", "VN", "NG"}
    assert got["VN"].flow_usd == pytest.approx(0.4 * f1, rel=1e-12)
    assert got["AU"].flow_usd == pytest.approx(0.6 * f1, rel=1e-12)
    assert got["NG"].flow_usd == pytest.approx(f2, rel=1e-12)
    assert (got["VN"].fund_count, got["NG"].fund_count) == (1, 1)

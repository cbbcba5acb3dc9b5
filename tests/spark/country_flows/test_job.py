"""The country-flows job on Delta: window rewrites, idempotence, history, alloc-month re-runs."""
import datetime as dt
import json
import re

import pytest
from pyspark.sql import functions as F

from flowmosaic import calendar as cal
from flowmosaic import country_flows as job
from flowmosaic import schemas, storage
from flowmosaic.config import load_settings
from tests.conftest import ROOT

D = dt.date
START, END = D(2021, 11, 1), D(2022, 4, 29)


def _silver(spark, settings):
    """Two equity cross-border funds, one share class each, every flow date of the window;
    allocations for every month from September 2021, F2 missing January 2022."""
    dates = cal.flow_dates(START, END)
    flows = [(d, f"S{i}", f"F{i}", float((k % 7) - 3 + i), 1000.0 * i, 0.0, 0.0, 0.0, False,
              d.replace(day=1)) for k, d in enumerate(dates) for i in (1, 2)]
    months = [cal.add_months(D(2021, 9, 1), k) for k in range(7)]
    allocs = [(m, cal.month_end(m), f, c, pct) for m in months for f, c, pct in
              (("F1", "AU", 60.0), ("F1", "BR", 30.0), ("F2", "AU", 50.0), ("F2", "CA", 45.0))
              if not (f == "F2" and m == D(2022, 1, 1))]
    tables = {
        "share_class_flows": (flows, schemas.SHARE_CLASS_FLOWS, ("flow_month",)),
        "share_classes": ([("S1", "F1", "Institutional"), ("S2", "F2", "Retail")],
                          schemas.SHARE_CLASSES, ()),
        "funds": ([("F1", "E", "Global", True, "LU", "A", "MF"),
                   ("F2", "E", "Global", True, "US", "P", "ETF")], schemas.FUNDS, ()),
        "fund_allocations": (allocs, schemas.FUND_ALLOCATIONS, ("alloc_month",)),
    }
    for name, (rows, schema, parts) in tables.items():
        path = settings.table_path(name)
        storage.ensure_table(spark, path, schema, parts)
        storage.append(spark.createDataFrame(rows, schema), path, {"job": "test-fixture"})


@pytest.fixture(scope="module")
def wh(spark, tmp_path_factory):
    settings = load_settings(ROOT / "conf" / "local.yaml",
                             warehouse=str(tmp_path_factory.mktemp("cfjob")))
    _silver(spark, settings)
    return settings


def _table(spark, settings, version=None):
    return storage.read_table(spark, settings.table_path("country_flows"), version)


def _rows(df):
    return sorted(tuple(r) for r in df.collect())


def test_full_run_then_same_window_twice_is_identical(spark, wh):
    quiet = lambda _msg: None  # noqa: E731
    first = job.run(spark, wh, "FloPctCtry,FloPctCtry-ETF", progress=quiet)
    assert (first.start, first.end) == (D(2021, 11, 1), D(2022, 4, 29))
    before = _rows(_table(spark, wh))
    # F1 counts every day; F2 is missing on the dates January's snapshot serves (Feb 23 - Mar 22)
    assert first.rows_written == len(before) > 0
    jan_days = [d for d in cal.flow_dates(START, END) if cal.alloc_month(d) == D(2022, 1, 1)]
    ca = _table(spark, wh).filter("universe = 'FloPctCtry' AND country = 'CA'")
    ca_dates = {r.flow_date for r in ca.collect()}
    assert ca_dates and not ca_dates & set(jan_days)

    again = job.run(spark, wh, "FloPctCtry,FloPctCtry-ETF", progress=quiet)
    assert again.table_version > first.table_version
    assert _rows(_table(spark, wh)) == before


def test_window_run_leaves_rows_outside_untouched(spark, wh):
    quiet = lambda _msg: None  # noqa: E731
    job.run(spark, wh, "FloPctCtry", progress=quiet)
    v0 = storage.current_version(spark, wh.table_path("country_flows"))
    lo, hi = D(2022, 2, 1), D(2022, 2, 28)
    run = job.run(spark, wh, "FloPctCtry", start=lo, end=hi, progress=quiet)
    outside = "NOT (universe = 'FloPctCtry' AND flow_date BETWEEN '2022-02-01' AND '2022-02-28')"
    assert _rows(_table(spark, wh).filter(outside)) == _rows(_table(spark, wh, v0).filter(outside))
    assert _rows(_table(spark, wh)) == _rows(_table(spark, wh, v0))
    # history: one commit per batch, each a replaceWhere inside the window, with its metadata
    from delta.tables import DeltaTable
    hist = (DeltaTable.forPath(spark, wh.table_path("country_flows")).history()
            .filter(F.col("version") > v0).collect())
    assert len(hist) == len(run.batches) >= 1
    for h in hist:
        meta = json.loads(h.userMetadata)
        assert meta["job"] == "country-flows" and meta["universes"] == ["FloPctCtry"]
        w_lo, w_hi = (D.fromisoformat(x) for x in meta["window"])
        assert lo <= w_lo <= w_hi <= hi
        assert "2022-02" in h.operationParameters["predicate"]
        assert set(meta["source_versions"]) == set(job.SOURCES)


def test_alloc_month_rerun_covers_exactly_its_flow_dates(spark, wh):
    run = job.run(spark, wh, "FloPctCtry", alloc_month=D(2022, 1, 1), progress=lambda _m: None)
    assert (run.start, run.end) == (D(2022, 2, 23), D(2022, 3, 22))
    assert job.window_for_alloc_month(D(2022, 1, 1), 2) == (D(2022, 2, 23), D(2022, 5, 22))


def test_plan_batches_splits_at_month_boundaries():
    rows = {cal.add_months(D(2021, 9, 1), k): 10 for k in range(8)}
    one = job.plan_batches(D(2021, 11, 1), D(2022, 4, 29), rows, max_rows=1000)
    assert one == [(D(2021, 11, 1), D(2022, 4, 29))]
    many = job.plan_batches(D(2021, 11, 1), D(2022, 4, 29), rows, max_rows=20)
    # consecutive, covering, and each boundary falls between a 22nd and a 23rd
    assert many[0][0] == D(2021, 11, 1) and many[-1][1] == D(2022, 4, 29)
    for (_, a_hi), (b_lo, _) in zip(many, many[1:]):
        assert (a_hi.day, b_lo.day) == (22, 23) and b_lo - a_hi == dt.timedelta(days=1)
    assert len(many) == 4


def test_unknown_universe_is_a_clear_error(spark, wh):
    from flowmosaic.errors import ConfigError
    with pytest.raises(ConfigError, match="NoSuchUniverse"):
        job.run(spark, wh, "NoSuchUniverse", progress=lambda _m: None)


def test_physical_plan_one_shuffle_of_flows_broadcast_allocations_pruned_reads(spark, wh):
    """The plan the job runs: the share-class table is shuffled once (the fund-day
    aggregation), every join is a broadcast hash join (allocations, members, share classes), and
    the flow scan carries the month-partition filter of the window."""
    from flowmosaic.universes import select_universes
    src, _ = job.read_sources(spark, wh)
    universes = select_universes("FloPctCtry,FloPctCtry-B-xdom-inst")
    df = job.batch_frame(src, universes, D(2022, 2, 1), D(2022, 2, 28))
    df.collect()  # run it, so the plan below is AQE's final one (runtime-dropped filters gone)
    plan = df._jdf.queryExecution().executedPlan().toString()
    assert "isFinalPlan=true" in plan
    plan = plan.split("== Initial Plan ==")[0]
    # the dynamic-pruning subquery Spark plans on the allocation scan is dropped at run time
    assert "Subquery" not in plan
    assert "SortMergeJoin" not in plan and "ShuffledHashJoin" not in plan
    assert plan.count("BroadcastHashJoin") >= 4  # semi-join, share classes, members, weights
    # two hash exchanges: fund-day aggregation over share-class rows, then the country aggregation
    assert plan.count("Exchange hashpartitioning") == 2, plan
    agg_keys = [line for line in plan.splitlines() if "Exchange hashpartitioning" in line]
    assert any("fund_id" in k and "flow_date" in k for k in agg_keys)
    assert any("universe" in k and "country" in k for k in agg_keys)
    assert re.search(r"PartitionFilters: \[[^\]]*flow_month#\d+ >= 2022-02-01", plan)
    assert re.search(r"PartitionFilters: \[[^\]]*flow_month#\d+ <= 2022-02-01", plan)

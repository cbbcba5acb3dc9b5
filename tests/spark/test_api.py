"""The notebook API (flowmosaic/api.py): computations on the test session, then every read in a
fresh Python process that must not start a JVM, checked against what Spark reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import flowmosaic as fm
from flowmosaic import storage
from flowmosaic.backtest import api as bt_api
from flowmosaic.backtest import io as bio
from flowmosaic.backtest.engine import BacktestParams
from flowmosaic.errors import InputError
from flowmosaic.export.country_matrix import read_wide_csv
from tests.e2e.faults import copy_warehouse, prepared_universe

UNIVERSE = "FloPctCtry"


@pytest.fixture(scope="module")
def computed(spark, tmp_path_factory):
    """A copy of the session's fault universe (silver only), where the API computed country
    flows and investor flows for two universes."""
    uni = prepared_universe(spark, tmp_path_factory)
    wh = copy_warehouse(uni.base, tmp_path_factory.mktemp("api") / "wh")
    api = fm.open(wh, conf=uni.conf)
    assert not api.spark_started
    run = api.compute_country_flows([UNIVERSE, "FloPctCtry-B"])
    assert api.spark_started and api.spark is spark  # the one session of this process
    inv = api.compute_investor_flows(UNIVERSE, start="2020-02-01", end="2020-05-31")
    assert run.rows_written > 0 and inv.rows_written > 0
    return uni, wh, api


def test_reads_equal_spark_and_start_no_jvm(spark, computed, tmp_path):
    uni, wh, api = computed
    s = api.settings
    script = textwrap.dedent(f"""
        import json, os, sys
        import flowmosaic as fm
        from flowmosaic.errors import InputError
        wh = fm.open({str(wh)!r}, conf={str(uni.conf)!r})
        out = {{}}
        t = wh.tables().set_index("table")
        out["tables"] = {{k: [bool(t.loc[k, "exists"]), int(t.loc[k, "rows"])]
                         for k in ("country_flows", "investor_country_flows", "fund_days")}}
        h = wh.history("country_flows")
        out["history_jobs"] = h["job"].tolist()
        cf = wh.country_flows({UNIVERSE!r}, start="2020-03-01", end="2020-03-31")
        out["cf_rows"] = len(cf)
        out["cf_sum"] = float(cf["flow_usd"].sum())
        wide = wh.country_flows({UNIVERSE!r}, wide="flow_pct", countries="G10")
        out["wide_shape"] = list(wide.shape)
        out["wide_columns"] = list(wide.columns)
        icf = wh.investor_flows({UNIVERSE!r}, country="US")
        out["icf_rows"] = len(icf)
        m = wh.mosaic("US", {UNIVERSE!r}, freq="M")
        out["mosaic_groups"] = sorted(set(m["group"]))
        bt = wh.backtest({UNIVERSE!r}, {str(uni.raw / "market" / "returns_daily.csv")!r},
                         returns_kind="pct", horizons=(5, 10))
        out["bt"] = [bt.value(5, "AnnMn"), bt.value(10, "TStat")]
        out["bt_version"] = bt.source_version
        report = bt.report({str(tmp_path / "bt")!r})
        out["report"] = os.path.getsize(report)
        try:
            wh.country_flows("NoSuchUniverse")
        except InputError as exc:
            out["error"] = str(exc)
        from pyspark import SparkContext
        out["spark_context"] = SparkContext._active_spark_context is not None
        out["jvm_children"] = [p for p in os.listdir("/proc") if p.isdigit()
            and os.path.exists(f"/proc/{{p}}/stat")
            and open(f"/proc/{{p}}/stat").read().split(") ")[1].split()[1] == str(os.getpid())
            and "java" in open(f"/proc/{{p}}/cmdline").read()]
        print("RESULT " + json.dumps(out))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert got["spark_context"] is False and got["jvm_children"] == []

    def spark_rows(name):
        return storage.read(spark, s.table_path(name))

    cf = spark_rows("country_flows")
    assert got["tables"]["country_flows"] == [True, cf.count()]
    assert (
        got["tables"]["investor_country_flows"][1] == spark_rows("investor_country_flows").count()
    )
    assert got["tables"]["fund_days"][1] == spark_rows("fund_days").count()
    assert got["history_jobs"][0] == "country-flows"
    march = cf.where(f"universe = '{UNIVERSE}' AND flow_date BETWEEN '2020-03-01' AND '2020-03-31'")
    assert got["cf_rows"] == march.count() > 0
    assert got["cf_sum"] == pytest.approx(march.groupBy().sum("flow_usd").first()[0], rel=1e-12)
    g10 = ["AU", "CA", "CH", "DE", "GB", "JP", "NO", "NZ", "SE", "US"]
    assert set(got["wide_columns"]) <= set(g10) and got["wide_columns"]
    icf = spark_rows("investor_country_flows").where(f"universe = '{UNIVERSE}' AND country = 'US'")
    assert got["icf_rows"] == icf.count() > 0
    assert {"domestic", "foreign"} <= set(got["mosaic_groups"])
    assert got["report"] > 10_000
    assert "NoSuchUniverse" in got["error"] and UNIVERSE in got["error"]

    # the same backtest from Spark's read of the table (the CLI's path) gives the same figures
    flows, meta = bio.load_flows_from_table(spark, s, f"country_flows:{UNIVERSE}")
    market = read_wide_csv(uni.raw / "market" / "returns_daily.csv")
    want = bt_api.run(flows, market, BacktestParams(returns_kind="pct", horizons=(5, 10)))
    assert got["bt"] == pytest.approx(
        [want.value(5, "AnnMn", "TxB"), want.value(10, "TStat", "TxB")]
    )
    assert got["bt_version"] == meta["source_version"]


def test_errors_name_what_is_wrong(computed):
    _, _, api = computed
    with pytest.raises(InputError, match="needs a directory"):
        api.ingest()
    with pytest.raises(InputError, match="version 99 does not exist"):
        api.read("country_flows", version=99)
    with pytest.raises(InputError, match="no Delta table"):
        api.read("backtest_runs")
    with pytest.raises(InputError, match="to= must be one of"):
        api.read("funds", to="excel")
    polars = api.read("funds", to="polars")
    assert polars.height == len(api.read("funds"))

"""The one Spark test: load_flows_from_table on a tiny country_flows Delta table (latest and
pinned versions, unknown universe) and the CLI appending its run to backtest_runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowmosaic import storage
from flowmosaic.backtest import io as bio
from flowmosaic.backtest.synthetic import make_planted
from flowmosaic.cli import main
from flowmosaic.errors import InputError
from flowmosaic.tables import table

COUNTRY_FLOWS = table("country_flows").schema


def _rows(flows: pd.DataFrame, universe: str, scale: float = 1.0) -> list[tuple]:
    out = []
    for d, row in flows.iterrows():
        for c, v in row.items():
            v = None if np.isnan(v) else float(v) * scale
            out.append((universe, d.date(), c, v, 1e9, v, None, None, 3))
    return out


@pytest.mark.slow
def test_table_input_and_backtest_runs(spark, warehouse, repo, tmp_path, capsys):
    s = warehouse
    path = storage.ensure(spark, s, "country_flows")
    assert path == s.table_path("country_flows")
    flows, levels = make_planted(3, 1, strength=0.05, seed=9)
    flows = flows.iloc[:70][["CA", "AU", "BR"]]  # columns not in published order
    storage.append(
        spark.createDataFrame(_rows(flows, "U1") + _rows(flows, "U2", 2.0), COUNTRY_FLOWS),
        path,
        {"job": "test-fixture"},
    )
    v1 = storage.current_version(spark, path)
    storage.replace_where(
        spark.createDataFrame(_rows(flows, "U1", 3.0), COUNTRY_FLOWS),
        path,
        "universe = 'U1'",
        {"job": "test-fixture"},
    )
    v2 = storage.current_version(spark, path)
    assert v2 == v1 + 1

    wide, meta = bio.load_flows_from_table(spark, s, "country_flows:U1")
    assert meta["source_version"] == v2 and meta["universe"] == "U1"
    assert list(wide.columns) == ["AU", "BR", "CA"]  # published order
    assert wide.index.equals(flows.index)
    np.testing.assert_allclose(wide["AU"], 3.0 * flows["AU"])
    pinned, meta1 = bio.load_flows_from_table(spark, s, f"{path}:U1@{v1}")  # a path works too
    assert meta1["source_version"] == v1
    np.testing.assert_allclose(pinned["AU"], flows["AU"])
    with pytest.raises(InputError, match="universes present: U1, U2"):
        bio.load_flows_from_table(spark, s, "country_flows:NOPE")

    r = tmp_path / "levels.csv"
    lv = levels.copy()
    lv.index = lv.index.strftime("%Y%m%d")
    lv.to_csv(r, index_label="date")
    rc = main(
        [
            "backtest",
            "--conf",
            str(repo / "conf" / "local.yaml"),
            "--warehouse",
            s.warehouse,
            "--flows",
            "country_flows:U1",
            "--returns",
            str(r),
            "--bins",
            "3",
            "--horizons",
            "5,10",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert "recorded run" in capsys.readouterr().out
    runs = storage.read_table(spark, s, "backtest_runs").toPandas()
    assert len(runs) == 2 * 11 * 5  # horizons x statistics x (Q1..Q3, TxB, uRet)
    assert runs.run_id.nunique() == 1 and set(runs.source_version) == {v2}
    assert runs.source.iloc[0].endswith("gold/country_flows:U1")
    params = runs.parameters.iloc[0]
    assert '"bins": 3' in params and '"horizons": [5, 10]' in params
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    got = runs.set_index(["horizon", "statistic", "column"])["value"].sort_index()
    want = summary.set_index(["horizon", "statistic", "column"])["value"].sort_index()
    np.testing.assert_allclose(
        got.to_numpy(dtype=float), want.to_numpy(dtype=float), rtol=1e-9, equal_nan=True
    )


def _signal_rows(flows: pd.DataFrame, universe: str, seed: int) -> list[tuple]:
    """FloTrend-like rows: numerator = flow x q, denominator q (q > 0 drawn per row), so the
    pooled look-back is a q-weighted mean of the flows; value = numerator / denominator."""
    q = np.random.default_rng(seed).uniform(0.5, 2.0, flows.shape)
    out = []
    for i, (d, row) in enumerate(flows.iterrows()):
        for j, (c, v) in enumerate(row.items()):
            if not np.isnan(v):
                n, den = float(v * q[i, j]), float(q[i, j])
                out.append((universe, d.date(), c, "FloTrend", n / den, n, den))
    return out


@pytest.mark.slow
def test_backtest_of_a_signal_from_the_table_cli_and_api(spark, warehouse, repo, tmp_path, capsys):
    """`backtest --signal country_signals:U:FloTrend[@V]` reads the signal through Spark, pools
    it over the look-back and records the run; the notebook API reads the same rows through
    delta-rs and gets the same summary. The pooled values are checked against rolling sums
    computed here."""
    import flowmosaic as fm

    s = warehouse
    path = storage.ensure(spark, s, "country_signals")
    flows, levels = make_planted(4, 1, strength=0.05, seed=5)
    flows = flows.iloc[:90]
    month_ends = flows.groupby(flows.index.to_period("M")).tail(1)
    monthly = [(*r[:3], "AllocMo", *r[4:]) for r in _signal_rows(month_ends, "U1", 2)]
    storage.append(
        spark.createDataFrame(
            _signal_rows(flows, "U1", 1) + monthly, table("country_signals").schema
        ),
        path,
        {"job": "test-fixture"},
    )
    v1 = storage.current_version(spark, path)
    frames, meta = bio.load_signal_from_table(spark, s, f"country_signals:U1:FloTrend@{v1}")
    assert meta["source_version"] == v1 and meta["signal"] == "FloTrend"
    assert list(frames.values.columns) == ["AU", "BR", "CA", "CN"]
    rows = pd.DataFrame(
        _signal_rows(flows, "U1", 1),
        columns=[f.name for f in table("country_signals").schema.fields],
    )
    num = rows.pivot(index="date", columns="country", values="numerator")
    den = rows.pivot(index="date", columns="country", values="denominator")
    want = num.rolling(10).sum() / den.rolling(10).sum()  # no missing value in these rows
    r = tmp_path / "levels.csv"
    lv = levels.copy()
    lv.index = lv.index.strftime("%Y%m%d")
    lv.to_csv(r, index_label="date")
    argv = ["backtest", "--conf", str(repo / "conf" / "local.yaml"), "--warehouse", s.warehouse]
    common = ["--returns", str(r), "--bins", "2", "--horizons", "5,10", "--lookback", "10"]
    out = tmp_path / "cli"
    rc = main([*argv, "--signal", "country_signals:U1:FloTrend", *common, "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert f"version {v1}" in printed and "recorded run" in printed
    runs = storage.read_table(spark, s, "backtest_runs").toPandas()
    mine = runs[runs.source.str.endswith("gold/country_signals:U1:FloTrend")]
    assert mine.run_id.nunique() == 1 and '"pooled": true' in mine.parameters.iloc[0]

    api = fm.open(s.warehouse).backtest(
        "U1", str(r), signal="FloTrend", bins=2, horizons=(5, 10), lookback=10
    )
    np.testing.assert_allclose(
        api.result.compounded.to_numpy(),
        want.dropna(how="all").to_numpy(),
        rtol=1e-12,
    )
    cli_summary = pd.read_csv(out / "summary.csv")
    np.testing.assert_allclose(
        api.summary["value"].to_numpy(dtype=float),
        cli_summary["value"].to_numpy(dtype=float),
        rtol=1e-9,  # the CSV holds 10 significant digits
        equal_nan=True,
    )
    assert "FloTrend" in (out / "report.html").read_text()
    with pytest.raises(InputError, match="no rows of FloDiff for universe U1"):
        bio.load_signal_from_table(spark, s, "country_signals:U1:FloDiff")

    # compare-signals over the table: both signals (no country_flows here), the daily one
    # with the numbers of its own backtest above, the monthly one held (lookback 1)
    cmp = tmp_path / "cmp"
    options = argv[1:]  # --conf, --warehouse
    rc = main(
        [
            "compare-signals",
            *options,
            "--universe",
            "U1",
            "--no-flow-pct",
            *common,
            "--out",
            str(cmp),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    perf = pd.read_csv(cmp / "performance.csv").set_index(["signal", "horizon"])
    assert sorted(set(perf.index.get_level_values(0))) == ["AllocMo", "FloTrend"]
    assert perf.loc[("FloTrend", 10), "Sharpe"] == pytest.approx(api.value(10, "Sharpe"), rel=1e-9)
    assert "Signal comparison: U1" in (cmp / "compare.html").read_text()

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

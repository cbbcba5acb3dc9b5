"""`flowmosaic demo` on the tiny scale and a local warehouse: the orchestration `make demo`
runs (seven stages, two backtests, two mosaic pages, upkeep) finishes and leaves what it says.
Every stage is proven on its own elsewhere; this proves they run in this order on one warehouse
(the demo on object storage was dropped: test_object_storage.py runs every stage there)."""

from __future__ import annotations

from flowmosaic import storage
from flowmosaic.cli import main as cli_main
from tests.e2e.faults import frame, settings


def test_demo_on_the_tiny_scale_runs_every_stage(spark, tmp_path, capsys):
    wh, out = tmp_path / "wh", tmp_path / "out"
    argv = ["demo", "--scale", "tiny", "--data", str(tmp_path / "data"), "--out", str(out)]
    assert cli_main([*argv, "--warehouse", str(wh)]) == 0
    said = capsys.readouterr().out
    assert "== 7/7 table upkeep" in said and "demo finished" in said, said[-3000:]
    for page in ("g10-rates/report.html", "country-52/report.html"):
        assert (out / "backtests" / page).exists(), page
    for page in ("mosaic-JP.html", "mosaic-US.html"):
        assert (out / "mosaic" / page).exists(), page
    s = settings(wh)
    gold = frame(spark, s, "country_flows")
    assert {"FloPctCtry", "FloPctCtry-B", "E-ALL", "B-ALL"} <= set(gold["universe"])
    runs = storage.read(spark, s.table_path("backtest_runs"))
    assert runs.select("run_id").distinct().count() == 2  # the G10 and the 52-country runs
    # upkeep ran last: a checkpoint in the gold table's log
    assert any((wh / "gold" / "country_flows" / "_delta_log").glob("*.checkpoint.parquet"))

"""`flowmosaic demo` on the tiny scale and a local warehouse: the orchestration `make demo`
runs (nine stages: weekly and monthly country flows, signals, two backtests with their signal
comparisons, country groups, two mosaic pages, the coverage of the two standard universes,
upkeep) finishes and leaves what it says. Every stage is proven on its own elsewhere; this
proves they run in this order on one warehouse (the demo on object storage was dropped:
test_object_storage.py runs every stage there). The example notebook then runs on the demo's
warehouse."""

from __future__ import annotations

import pandas as pd

from flowmosaic import storage
from flowmosaic.cli import main as cli_main
from tests.conftest import REPO
from tests.e2e.faults import frame, settings


def test_demo_on_the_tiny_scale_runs_every_stage(spark, tmp_path, capsys, monkeypatch):
    wh, out = tmp_path / "wh", tmp_path / "out"
    argv = ["demo", "--scale", "tiny", "--data", str(tmp_path / "data"), "--out", str(out)]
    assert cli_main([*argv, "--warehouse", str(wh)]) == 0
    said = capsys.readouterr().out
    assert "== 9/9 table upkeep" in said and "demo finished" in said, said[-3000:]
    for page in ("g10-rates/report.html", "country-52/report.html"):
        assert (out / "backtests" / page).exists(), page
    # the signal comparisons: flow % first, then the signals the tiny data gives
    for name in ("g10-rates", "country-52"):
        perf = pd.read_csv(out / "compare" / name / "performance.csv")
        assert perf.signal.iloc[0] == "FlowPct" and perf.signal.nunique() > 5, name
        assert "Synthetic data" in (out / "compare" / name / "compare.html").read_text()
    for page in ("mosaic-JP.html", "mosaic-US.html"):
        assert (out / "mosaic" / page).exists(), page
    # the US bond page shows the hedge split (the planted switch to hedged classes)
    us = (out / "mosaic" / "mosaic-US.html").read_text()
    assert "Hedged and unhedged foreign flows" in us and "was not computed" not in us
    assert "carries a hedge flag" not in us and "carry no hedge" not in us
    for universe in ("FloPctCtry", "FloPctCtry-B"):
        assert "Synthetic data" in (out / "coverage" / f"coverage-{universe}.html").read_text()
        years = pd.read_csv(out / "coverage" / f"coverage-{universe}.csv").query("period == 'year'")
        assert len(years) > 0 and (years.daily_alloc_funds > 0).all(), universe
    s = settings(wh)
    gold = frame(spark, s, "country_flows")
    assert {"FloPctCtry", "FloPctCtry-B", "E-ALL", "B-ALL"} <= set(gold["universe"])
    # weekly and monthly country flows over every reporter, and the country groups' file
    for freq in ("weekly", "monthly"):
        periodic = frame(spark, s, f"{freq}_country_flows")
        assert set(periodic["universe"]) == {"FloPctCtry", "FloPctCtry-B"}, freq
    groups = pd.read_csv(out / "Strategies" / "daily" / "FloPctCtry-groups.csv")
    assert {"DM", "EM", "frontier", "Europe", "Asia Pacific"} <= set(groups.columns)
    runs = storage.read(spark, s.table_path("backtest_runs"))
    assert runs.select("run_id").distinct().count() == 2  # the G10 and the 52-country runs
    # upkeep ran last: a checkpoint in the gold table's log
    assert any((wh / "gold" / "country_flows" / "_delta_log").glob("*.checkpoint.parquet"))

    # the example notebook on this warehouse: every cell runs, reads only (no JVM in the kernel)
    run_notebook(tmp_path, wh, tmp_path / "data" / "raw-tiny-seed7", monkeypatch)


def run_notebook(tmp_path, wh, data, monkeypatch) -> None:
    """examples/flowmosaic-tour.ipynb executed in a fresh kernel (nbclient), pointed at the
    demo's warehouse and market files; a last cell added here checks that the kernel started
    no SparkContext."""
    import nbformat
    from nbclient import NotebookClient

    out = tmp_path / "notebook"
    nb = nbformat.read(REPO / "examples" / "flowmosaic-tour.ipynb", as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "from pyspark import SparkContext\n"
            "assert SparkContext._active_spark_context is None\n"
            "print('no JVM')"
        )
    )
    for key, value in {
        "FLOWMOSAIC_WAREHOUSE": wh,
        "FLOWMOSAIC_DEMO_DATA": data,
        "FLOWMOSAIC_NOTEBOOK_OUT": out,
    }.items():
        monkeypatch.setenv(key, str(value))
    NotebookClient(nb, timeout=300, kernel_name="python3").execute(cwd=str(tmp_path))
    texts = [
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    ]
    assert any("Backtest(" in t and "TxB" in t for t in texts), texts
    assert texts[-1].strip() == "no JVM"
    assert (out / "g10-rates" / "report.html").exists()
    assert (out / "jp-investor-groups.png").stat().st_size > 10_000

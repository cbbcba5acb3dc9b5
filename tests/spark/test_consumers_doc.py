"""docs/consumers.md: every `python` block runs, each on its own, in a separate Python process
(as a reader would run it) against a small warehouse that FLOWMOSAIC_WAREHOUSE points at:
country_flows for both standard universes with a window rewrite, and a backtest_runs row that
records the version before the rewrite."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import textwrap

import pytest

from flowmosaic import storage
from flowmosaic.tables import table
from tests.spark.sample_warehouse import flow_days

CF = table("country_flows")
BT = table("backtest_runs")
UNIVERSES = ("FloPctCtry", "FloPctCtry-B")
DAYS = flow_days(dt.date(2024, 1, 29), 30)

RUNNER = textwrap.dedent("""
    import re, sys, traceback
    text = open(sys.argv[1], encoding="utf-8").read()
    blocks = re.findall(r"^```python\\n(.*?)^```", text, re.S | re.M)
    print(f"{len(blocks)} python blocks", flush=True)
    failed = []
    for i, code in enumerate(blocks, 1):
        try:
            exec(compile(code, f"consumers.md block {i}", "exec"), {"__name__": "__main__"})
            print(f"== block {i} ok", flush=True)
        except BaseException:
            failed.append(i)
            print(f"== block {i} FAILED", flush=True)
            traceback.print_exc()
    sys.exit(1 if failed or not blocks else 0)
""")


def _blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


@pytest.fixture(scope="module")
def warehouse(spark, make_settings, tmp_path_factory):
    s = make_settings(tmp_path_factory.mktemp("consumers") / "wh")
    path = storage.ensure(spark, s, "country_flows")
    rows = [
        (u, d, c, (i - 10) * 1e6 * (k + 1), 1e9, (i - 10) / 1e3, 0.0, 0.0, 3)
        for k, u in enumerate(UNIVERSES)
        for i, d in enumerate(DAYS)
        for c in ("US", "JP", "DE", "GB")
    ]
    storage.append(spark.createDataFrame(rows, CF.schema), path)
    version = storage.current_version(spark, path)
    window = f"flow_date >= '{DAYS[-5]}'"
    redo = [r[:3] + (r[3] * 2,) + r[4:] for r in rows if r[1] >= DAYS[-5]]
    storage.replace_where(spark.createDataFrame(redo, CF.schema), path, window)
    bt = storage.ensure(spark, s, "backtest_runs")
    run = (
        "0123456789abcdef",
        dt.datetime(2026, 1, 5, 9, 30),
        f"{path}:FloPctCtry-B",
        version,
        "{}",
        5,
        "AnnMn",
        "TxB",
        0.12,
    )
    storage.append(spark.createDataFrame([run], BT.schema), bt)
    return s


def test_the_doc_has_the_promised_snippets(repo):
    text = (repo / "docs" / "consumers.md").read_text()
    blocks = _blocks(text)
    joined = "\n".join(blocks)
    assert len(blocks) >= 7
    for needle in (
        "to_pandas(",
        "pl.read_delta(",
        "pl.scan_delta(",
        "duckdb.sql(",
        "VERSION AS OF",
        "load_cdf(",
        '"readChangeFeed"',
    ):
        assert needle in joined, needle
    assert "extension" in text and "offline" in text  # DuckDB's delta extension note
    assert "FLOWMOSAIC_WAREHOUSE" in text and "flowmosaic maintain" in text


def test_every_python_block_runs(repo, warehouse, tmp_path):
    runner = tmp_path / "run_blocks.py"
    runner.write_text(RUNNER)
    env = {
        **os.environ,
        "FLOWMOSAIC_WAREHOUSE": warehouse.warehouse,
        "PYARROW_IGNORE_TIMEZONE": "1",
    }
    proc = subprocess.run(
        [sys.executable, str(runner), str(repo / "docs" / "consumers.md")],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = (
        proc.stdout
        + "\n"
        + "\n".join(line for line in proc.stderr.splitlines() if " WARN " not in line)
    )
    assert proc.returncode == 0, out[-6000:]
    n = len(_blocks((repo / "docs" / "consumers.md").read_text()))
    assert len(re.findall(r"^== block \d+ ok$", out, re.M)) == n, out[-3000:]
    # what the snippets printed is what the warehouse holds
    assert "run 0123456789abcdef read FloPctCtry-B at version 1: 120 rows" in out
    assert "delete" in out and "insert" in out  # the change feed of the rewrite

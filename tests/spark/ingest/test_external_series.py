"""`flowmosaic ingest-series`: user-supplied series of the mosaic, validated like every input:
bad rows quarantined with a reason, the counts reconcile, a batch replaces the series it holds."""

import datetime as dt
import json

from flowmosaic import storage
from flowmosaic.cli import main
from flowmosaic.ingest import ingest_paths
from tests.support.guards import LENIENT

D = dt.date
HEADER = "date,series,country,value,unit,frequency"
LINES = [
    ("2022-01-31,bop_equity_inflows,JP,12.5,USD bn,monthly", None),
    ("2022-02-28,bop_equity_inflows,JP,-3.25,USD bn,monthly", None),
    ("2022-01-07,futures_net_spec,JP,15000,contracts,weekly", None),
    ("20220114,futures_net_spec,jp,14000,contracts,Weekly", None),  # yyyymmdd, lower case
    ("2022-01-07,futures_net_spec,XX,1,contracts,weekly", "unknown_country"),
    ("2022-01-21,futures_net_spec,JP,lots,contracts,weekly", "unparseable_number"),
    ("2022-01-28,futures_net_spec,JP,,contracts,weekly", "missing_value"),
    ("2022-13-01,futures_net_spec,JP,1,contracts,weekly", "unparseable_date"),
    (",futures_net_spec,JP,1,contracts,weekly", "missing_key"),
    ("2022-02-04,futures_net_spec,JP,1,contracts,fortnightly", "unknown_frequency"),
    ("2022-03-31,rr_1m_25d,JP,-0.8,%,daily", "duplicate_key"),
    ("2022-03-31,rr_1m_25d,JP,-0.9,%,daily", "duplicate_key"),
]


def _file(path, lines):
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def test_bad_series_rows_are_quarantined_with_reasons(spark, warehouse, tmp_path):
    f = _file(tmp_path / "series.csv", [ln for ln, _ in LINES])
    rep = ingest_paths(spark, warehouse, external_series=str(f), guard_limits=LENIENT)
    s = rep.sources["external_series"]
    bad = [r for _, r in LINES if r]
    assert (s.read, s.accepted, s.quarantined) == (len(LINES), len(LINES) - len(bad), len(bad))
    assert s.reconciled and not rep.warnings
    q = storage.read_table(spark, warehouse, "quarantine").collect()
    assert sorted((r.source_table, r.reason) for r in q) == sorted(
        ("external_series", r) for r in bad
    )
    by_reason = {r.reason: json.loads(r.row_content) for r in q}
    assert by_reason["unparseable_number"]["value"] == "lots"
    rows = sorted(
        (r.date, r.series, r.country, r.value, r.frequency)
        for r in storage.read_table(spark, warehouse, "external_series").collect()
    )
    assert rows == [
        (D(2022, 1, 7), "futures_net_spec", "JP", 15000.0, "weekly"),
        (D(2022, 1, 14), "futures_net_spec", "JP", 14000.0, "weekly"),
        (D(2022, 1, 31), "bop_equity_inflows", "JP", 12.5, "monthly"),
        (D(2022, 2, 28), "bop_equity_inflows", "JP", -3.25, "monthly"),
    ]


def test_a_batch_replaces_only_the_series_it_holds(spark, warehouse, tmp_path, capsys):
    first = _file(tmp_path / "a.csv", [ln for ln, r in LINES if r is None])
    assert main(["ingest-series", str(first), "--warehouse", warehouse.warehouse]) == 0
    again = _file(tmp_path / "b.csv", ["2022-03-31,bop_equity_inflows,JP,7,USD bn,monthly"])
    # the series would go from 2 rows to 1: refused by the guard, unless forced
    assert main(["ingest-series", str(again), "--warehouse", warehouse.warehouse]) == 2
    assert "series bop_equity_inflows: 2 -> 1 rows" in capsys.readouterr().err
    args = ["ingest-series", str(again), "--warehouse", warehouse.warehouse, "--force-replace"]
    assert main(args) == 0
    assert "counts reconcile: yes" in capsys.readouterr().out
    got = {
        (r.series, r.date): r.value
        for r in storage.read_table(spark, warehouse, "external_series").collect()
    }
    # bop_equity_inflows now holds the one new row; futures_net_spec is untouched
    assert got == {
        ("bop_equity_inflows", D(2022, 3, 31)): 7.0,
        ("futures_net_spec", D(2022, 1, 7)): 15000.0,
        ("futures_net_spec", D(2022, 1, 14)): 14000.0,
    }

"""Ingest at its edges: what spreadsheet programs write (byte-order mark, CRLF), compressed
and header-only files, duplicates in a fund with more than 64 share classes, and share classes
that change investor type after their flows were ingested (fund_days follow)."""

import datetime as dt
import gzip

import pytest

from flowmosaic import storage
from flowmosaic.ingest import ingest_paths
from flowmosaic.ingest.guard import GuardError
from tests.support.guards import LENIENT

D = dt.date
FUNDS = "FundId,AssetClass,GeographicFocus,CrossBorder,Domicile,ActivePassive,Vehicle"
SC = "ShareId,FundId,InvestorType"
FLOWS = "ReportDate,ShareId,FundId,Flow,AssetsStart,AssetsEnd,PortfolioChange,ForexChange"


def _text(header: str, lines: list[str], newline: str = "\n", bom: bool = False) -> bytes:
    return (("\ufeff" if bom else "") + newline.join([header, *lines]) + newline).encode()


def _flows(rows):
    return [f"{d},{s},{f},{flow},{a},{a + flow},0,0" for d, s, f, flow, a in rows]


def _fund_days(spark, settings):
    return {
        (r.flow_date, r.fund_key): (
            r.flow_inst,
            r.assets_start_inst,
            r.flow_retail,
            r.assets_start_retail,
        )
        for r in storage.read_table(spark, settings, "fund_days").collect()
    }


def test_bom_crlf_gzip_yyyymmdd_and_header_only_files(spark, warehouse, tmp_path):
    d = tmp_path / "in"
    (d / "flows").mkdir(parents=True)
    (d / "funds.csv").write_bytes(_text(FUNDS, ["F1,E,Global,true,LU,A,MF"], "\r\n", bom=True))
    (d / "share_classes.csv").write_bytes(
        _text(SC, ["S1,F1,Institutional", "S2,F1,Retail"], "\r\n", bom=True)
    )
    (d / "flows" / "part-0.csv.gz").write_bytes(
        gzip.compress(
            _text(
                FLOWS,
                _flows(
                    [("20220103", "S1", "F1", 10.0, 100.0), ("2022-01-04", "S2", "F1", -2.0, 50.0)]
                ),
                "\r\n",
                bom=True,
            )
        )
    )
    (d / "flows" / "part-1.csv").write_bytes(_text(FLOWS, [], "\r\n", bom=True))  # header only
    (d / "allocations.csv").write_bytes(
        _text("ReportDate,FundId,AU,US", ["2021-11-30,F1,60,40\r"], "\r\n", bom=True)
    )
    rep = ingest_paths(spark, warehouse, directory=str(d))
    assert rep.reconciled and not rep.warnings and rep.quarantined == 0
    assert [(s, r.read, r.accepted) for s, r in rep.sources.items()] == [
        ("funds", 1, 1),
        ("share_classes", 2, 2),
        ("allocations", 2, 2),
        ("flows", 2, 2),
    ]
    funds = storage.read_table(spark, warehouse, "funds").first()
    assert (funds.fund_id, funds.vehicle) == ("F1", "MF")  # no BOM in the id, no CR in the value
    flows = sorted(
        (r.flow_date, r.flow)
        for r in storage.read_table(spark, warehouse, "share_class_flows").collect()
    )
    assert flows == [(D(2022, 1, 3), 10.0), (D(2022, 1, 4), -2.0)]
    alloc = sorted(
        (r.country, r.allocation_pct)
        for r in storage.read_table(spark, warehouse, "fund_allocations").collect()
    )
    assert alloc == [("AU", 60.0), ("US", 40.0)]


def test_duplicates_found_exactly_in_a_fund_with_70_share_classes(spark, warehouse, tmp_path):
    """Share class positions 0..69 within the fund span two blocks of 64: the one duplicated
    share class (position 66) is quarantined with its twin, every other row is accepted, and
    fund_days hold the accepted rows only."""
    d = tmp_path / "in"
    d.mkdir()
    ids = [f"S{i:03d}" for i in range(70)]
    (d / "funds.csv").write_bytes(_text(FUNDS, ["F1,E,Global,true,LU,A,MF"]))
    (d / "share_classes.csv").write_bytes(_text(SC, [f"{s},F1,Institutional" for s in ids]))
    rows = [("2022-01-03", s, "F1", 1.0, 100.0) for s in ids]
    rows += [("2022-01-03", "S066", "F1", 5.0, 100.0)]  # S066 twice
    rows += [("2022-01-04", s, "F1", 2.0, 100.0) for s in ids]  # a clean day
    (d / "flows.csv").write_bytes(_text(FLOWS, _flows(rows)))
    rep = ingest_paths(spark, warehouse, directory=str(d))
    flows = rep.sources["flows"]
    assert (flows.read, flows.accepted, flows.by_reason) == (141, 139, {"duplicate_key": 2})
    assert rep.reconciled and not rep.warnings
    # 3 Jan: 69 accepted rows of 1.0 each; 4 Jan: 70 rows of 2.0
    assert _fund_days(spark, warehouse) == {
        (D(2022, 1, 3), 0): (69.0, 6900.0, None, None),
        (D(2022, 1, 4), 0): (140.0, 7000.0, None, None),
    }


def test_share_class_changing_type_rebuilds_fund_days(spark, warehouse, tmp_path):
    first = tmp_path / "a"
    first.mkdir()
    (first / "funds.csv").write_bytes(_text(FUNDS, ["F1,E,Global,true,LU,A,MF"]))
    (first / "share_classes.csv").write_bytes(_text(SC, ["S1,F1,Institutional", "S2,F1,Retail"]))
    (first / "flows.csv").write_bytes(
        _text(
            FLOWS,
            _flows(
                [
                    ("2022-01-03", "S1", "F1", 10.0, 100.0),
                    ("2022-01-03", "S2", "F1", 1.0, 10.0),
                    ("2022-01-04", "S1", "F1", 20.0, 200.0),
                ]
            ),
        )
    )
    ingest_paths(spark, warehouse, directory=str(first))
    assert _fund_days(spark, warehouse) == {
        (D(2022, 1, 3), 0): (10.0, 100.0, 1.0, 10.0),
        (D(2022, 1, 4), 0): (20.0, 200.0, None, None),
    }
    # S1 is reclassified as retail: both its days move to the retail columns
    again = tmp_path / "b"
    again.mkdir()
    (again / "share_classes.csv").write_bytes(_text(SC, ["S1,F1,Retail"]))
    rep = ingest_paths(spark, warehouse, directory=str(again))
    assert rep.sources["share_classes"].written == 1
    assert _fund_days(spark, warehouse) == {
        (D(2022, 1, 3), 0): (None, None, 11.0, 110.0),
        (D(2022, 1, 4), 0): (None, None, 20.0, 200.0),
    }


@pytest.mark.parametrize("bad", ["2022-01-08", "not a date"])
def test_a_batch_without_a_valid_flow_date_replaces_nothing(spark, warehouse, tmp_path, bad):
    d = tmp_path / "in"
    d.mkdir()
    (d / "funds.csv").write_bytes(_text(FUNDS, ["F1,E,Global,true,LU,A,MF"]))
    (d / "share_classes.csv").write_bytes(_text(SC, ["S1,F1,Institutional"]))
    (d / "flows.csv").write_bytes(_text(FLOWS, _flows([(bad, "S1", "F1", 1.0, 10.0)])))
    # the guard refuses a batch that rejects every row; nothing is written
    with pytest.raises(GuardError, match="1 of 1 rows rejected"):
        ingest_paths(spark, warehouse, directory=str(d))
    assert not storage.exists(spark, warehouse.table_path("funds"))
    # let through, it replaces nothing: the row is quarantined, no window is replaced
    rep = ingest_paths(spark, warehouse, directory=str(d), guard_limits=LENIENT)
    flows = rep.sources["flows"]
    assert (flows.read, flows.accepted, flows.quarantined, flows.window) == (1, 0, 1, None)
    assert rep.reconciled
    assert not storage.exists(spark, warehouse.table_path("share_class_flows"))


def test_funds_committed_by_another_ingest_during_the_merge_are_kept(
    spark, warehouse, tmp_path, monkeypatch
):
    """Two ingests adding funds at once: B's whole ingest commits while A is merging its batch
    for the write (after A read the funds table, before A writes). A sees the table moved,
    merges again on what B left, and writes: all four funds are there, each with its own key,
    B's keys as B gave them. (A's first merge is its check step's, in memory.)"""
    from flowmosaic.ingest import dims

    (tmp_path / "a.csv").write_bytes(
        _text(FUNDS, ["F1,E,Global,true,LU,A,MF", "F2,B,Global,false,US,P,ETF"])
    )
    (tmp_path / "b.csv").write_bytes(
        _text(FUNDS, ["F3,E,Japan,false,JP,A,MF", "F4,E,Japan,false,JP,A,MF"])
    )
    real_merge, calls = dims.merge, []

    def merge_while_b_commits(*args, **kwargs):
        calls.append(len(calls))
        if len(calls) == 2:  # A's merge for the write: B's ingest lands meanwhile
            ingest_paths(spark, warehouse, funds=str(tmp_path / "b.csv"))
        return real_merge(*args, **kwargs)

    monkeypatch.setattr(dims, "merge", merge_while_b_commits)
    rep = ingest_paths(spark, warehouse, funds=str(tmp_path / "a.csv"))
    keys = {r.fund_id: r.fund_key for r in storage.read_table(spark, warehouse, "funds").collect()}
    assert keys == {"F3": 0, "F4": 1, "F1": 2, "F2": 3}
    # A's check, A's stale merge, B's check and write, A's again on B's table
    assert len(calls) == 5
    assert rep.sources["funds"].written == 2
    assert storage.current_version(spark, warehouse.table_path("funds")) == 2

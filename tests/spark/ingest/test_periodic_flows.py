"""Weekly and monthly flow files and the share classes' optional Currency and Hedged columns:
the date rules (a weekly row on a week's end, a monthly row on a month's end), the daily
checks applied to them, the guard, and a share-class delivery without the optional columns
keeping what an earlier one said."""

import datetime as dt

import pytest

from flowmosaic import storage
from flowmosaic.ingest import ingest_paths
from flowmosaic.ingest.guard import GuardError
from tests.support.guards import LENIENT

D = dt.date
FUNDS = "FundId,AssetClass,GeographicFocus,CrossBorder,Domicile,ActivePassive,Vehicle"
FLOWS = "ReportDate,ShareId,FundId,Flow,AssetsStart,AssetsEnd,PortfolioChange,ForexChange"


def _write(path, header, lines):
    path.write_text("\n".join([header, *lines]) + "\n")


def _row(d, s, f, flow, a, pc=0.0):
    return f"{d},{s},{f},{flow},{a},{a + flow + pc},{pc},0"


def _quarantine(spark, settings, table):
    q = storage.read_table(spark, settings, "quarantine").where(f"source_table = '{table}'")
    return sorted((r.reason, r.detail) for r in q.collect())


def test_weekly_monthly_rows_currency_and_hedge_flag(spark, warehouse, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    _write(d / "funds.csv", FUNDS, ["F1,B,US,false,JP,A,MF", "F2,E,Global,true,LU,A,MF"])
    _write(
        d / "share_classes.csv",
        "ShareId,FundId,InvestorType,Currency,Hedged",
        [
            "S1,F1,Institutional,jpy,true",  # lower case is accepted, stored upper case
            "S2,F1,Retail,USD,false",
            "S3,F2,Retail,EUR,",  # blank hedge flag: unknown
            "S4,F2,Retail,EUX,false",  # not ISO 4217
            "S5,F2,Retail,GBP,maybe",  # not a boolean
        ],
    )
    _write(
        d / "weekly_flows.csv",
        FLOWS,
        [
            _row("2024-01-03", "S1", "F1", 5.0, 100.0),  # Wednesday
            _row("2024-01-10", "S1", "F1", -1.0, 105.0, 2.0),
            _row("2024-01-10", "S2", "F1", 3.0, 50.0),
            _row("2024-01-11", "S2", "F1", 3.0, 50.0),  # a Thursday
            _row("2001-09-14", "S2", "F1", 1.0, 10.0),  # a Friday week of the old rule
            _row("2024-01-17", "S2", "F1", 1.0, 53.0),
            _row("2024-01-17", "S2", "F1", 1.0, 53.0),  # the key twice
        ],
    )
    _write(
        d / "monthly_flows.csv",
        FLOWS,
        [
            _row("2024-01-31", "S3", "F2", 7.0, 70.0),
            _row("2024-02-29", "S3", "F2", 8.0, 77.0),
            _row("2024-02-28", "S3", "F2", 8.0, 77.0),  # not the month's end in a leap year
            _row("2024-03-31", "SX", "F2", 1.0, 1.0),  # unknown share class
        ],
    )
    rep = ingest_paths(spark, warehouse, directory=str(d), guard_limits=LENIENT)
    assert rep.reconciled and not rep.warnings, rep.describe()
    assert (rep.sources["weekly_flows"].accepted, rep.sources["weekly_flows"].quarantined) == (4, 3)
    assert (rep.sources["monthly_flows"].accepted, rep.sources["monthly_flows"].quarantined) == (
        2,
        2,
    )
    sc = {
        r.share_id: (r.currency, r.hedged)
        for r in storage.read_table(spark, warehouse, "share_classes").collect()
    }
    assert sc == {"S1": ("JPY", True), "S2": ("USD", False), "S3": ("EUR", None)}
    assert _quarantine(spark, warehouse, "share_classes") == [
        ("unknown_currency", "Currency=EUX is not an ISO 4217 code"),
        ("unparseable_boolean", "Hedged=maybe"),
    ]
    weekly = sorted(
        (r.period_end, r.flow, r.period_year, r.identity_break)
        for r in storage.read_table(spark, warehouse, "share_class_flows_weekly").collect()
    )
    assert weekly == [
        (D(2001, 9, 14), 1.0, 2001, False),
        (D(2024, 1, 3), 5.0, 2024, False),
        (D(2024, 1, 10), -1.0, 2024, False),
        (D(2024, 1, 10), 3.0, 2024, False),
    ]
    reasons = _quarantine(spark, warehouse, "share_class_flows_weekly")
    assert [r for r, _ in reasons] == ["duplicate_key", "duplicate_key", "not_period_end"]
    assert "2024-01-11 Thursday" in reasons[2][1]
    monthly = sorted(
        (r.period_end, r.flow)
        for r in storage.read_table(spark, warehouse, "share_class_flows_monthly").collect()
    )
    assert monthly == [(D(2024, 1, 31), 7.0), (D(2024, 2, 29), 8.0)]
    assert [r for r, _ in _quarantine(spark, warehouse, "share_class_flows_monthly")] == [
        "not_period_end",
        "unknown_share_class",
    ]

    # a later delivery of share classes without Currency / Hedged keeps what was said
    again = tmp_path / "again"
    again.mkdir()
    _write(again / "share_classes.csv", "ShareId,FundId,InvestorType", ["S1,F1,Institutional"])
    ingest_paths(spark, warehouse, directory=str(again))
    sc = {
        r.share_id: (r.currency, r.hedged)
        for r in storage.read_table(spark, warehouse, "share_classes").collect()
    }
    assert sc["S1"] == ("JPY", True)

    # a re-delivery of January whose one row is rejected would empty the month: the guard
    # stops it (whatever the limits) and the table stays as it was
    jan = tmp_path / "jan.csv"
    _write(jan, FLOWS, [_row("2024-01-31", "SX", "F2", 1.0, 1.0)])
    path = warehouse.table_path("share_class_flows_monthly")
    v = storage.current_version(spark, path)
    with pytest.raises(GuardError, match="1 month ending.s. would lose all their rows .2024-01-31"):
        ingest_paths(spark, warehouse, monthly_flows=str(jan), guard_limits=LENIENT)
    assert storage.current_version(spark, path) == v

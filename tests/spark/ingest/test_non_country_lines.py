"""Allocation lines that are not countries (cash, other, unallocated, supranational) are kept in
silver fund_allocations_other as what they are, never in fund_allocations (so never in a
country); they count in the fund-month's sum; a label that is neither a country nor a known
spelling is still unknown_country; a re-delivered month replaces its lines in both tables."""

from flowmosaic import storage
from flowmosaic.ingest import ingest_paths
from tests.support.guards import LENIENT

FUNDS = "FundId,AssetClass,GeographicFocus,CrossBorder,Domicile,ActivePassive,Vehicle"


def _rows(spark, settings, name):
    if not storage.exists(spark, settings.table_path(name)):
        return []
    return storage.read_table(spark, settings, name).collect()


def test_cash_and_other_lines_are_kept_apart(spark, warehouse, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "funds.csv").write_text(f"{FUNDS}\nF1,E,Global,true,LU,A,MF\nF2,E,Global,true,IE,A,MF\n")
    (d / "allocations.csv").write_text(
        "ReportDate,FundId,US,VN,Cash,Other_Countries,XX,Not Allocated\n"
        "2024-01-31,F1,60,10,5,20,,3\n"
        "2024-01-31,F2,60,,45,,1,\n"  # 105 with the cash: above 100.5, every cell rejected
    )
    rep = ingest_paths(spark, warehouse, directory=str(d), guard_limits=LENIENT)
    assert rep.reconciled and not rep.warnings, rep.describe()
    alloc = sorted(
        (r.country, r.allocation_pct) for r in _rows(spark, warehouse, "fund_allocations")
    )
    assert alloc == [("US", 60.0), ("VN", 10.0)]
    other = sorted(
        (r.line_kind, r.label, r.allocation_pct)
        for r in _rows(spark, warehouse, "fund_allocations_other")
    )
    assert other == [
        ("cash", "Cash", 5.0),
        ("other", "Other_Countries", 20.0),
        ("unallocated", "Not Allocated", 3.0),
    ]
    q = storage.read_table(spark, warehouse, "quarantine").where(
        "source_table = 'fund_allocations'"
    )
    # F2's cells: XX is unknown_country (the first rule that holds), US and Cash break the sum
    # (60 + 45 + 1 = 106 > 100.5: the sum covers every parseable value, the cash line included)
    assert sorted(r.reason for r in q.collect()) == [
        "allocation_sum_above_100_5",
        "allocation_sum_above_100_5",
        "unknown_country",
    ]
    notes = " ".join(rep.sources["allocations"].notes)
    assert "XX" in notes and "Cash" not in notes  # only XX is named an unknown column

    # long layout: spellings in any case, n/a; an unknown label is unknown_country
    (d / "allocations.csv").write_text(
        "ReportDate,FundId,Country,Allocation\n"
        "2024-01-31,F1,us,70\n"
        "2024-01-31,F1,supranational,10\n"
        "2024-01-31,F1,n/a,2\n"
        "2024-01-31,F1,Atlantis,1\n"
    )
    ingest_paths(spark, warehouse, allocations=str(d / "allocations.csv"), guard_limits=LENIENT)
    alloc = sorted(
        (r.country, r.allocation_pct) for r in _rows(spark, warehouse, "fund_allocations")
    )
    assert alloc == [("US", 70.0)]  # January replaced: VN gone
    other = sorted(
        (r.line_kind, r.label) for r in _rows(spark, warehouse, "fund_allocations_other")
    )
    assert other == [("supranational", "supranational"), ("unallocated", "n/a")]
    q = storage.read_table(spark, warehouse, "quarantine").where(
        "source_table = 'fund_allocations'"
    )
    assert [(r.reason, r.detail) for r in q.collect()] == [
        ("unknown_country", "country Atlantis not among the known codes")
    ]

    # a month re-delivered without non-country lines removes the old ones
    (d / "allocations.csv").write_text("ReportDate,FundId,US\n2024-01-31,F1,80\n")
    ingest_paths(spark, warehouse, allocations=str(d / "allocations.csv"), guard_limits=LENIENT)
    assert _rows(spark, warehouse, "fund_allocations_other") == []

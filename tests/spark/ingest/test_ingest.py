"""`flowmosaic ingest`: raw vendor files -> silver Delta tables + quarantine.

One hand-written batch holds every kind of bad row; each input line carries the reason it must
get (None = accepted). The batch is ingested once into a module warehouse; the tests read that
warehouse (with Spark and with delta-rs), re-run the ingest, restate a window in a copy, and
ingest the same data as Parquet flows + long allocations into a second warehouse. Silver rows
carry integer keys; the tests map them back to the vendor ids through the dimension tables.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from flowmosaic import calendar as cal
from flowmosaic import ingest, storage
from flowmosaic.errors import InputError
from tests.support.guards import LENIENT

D = dt.date

FUNDS_HEADER = "FundId,AssetClass,GeographicFocus,CrossBorder,Domicile,ActivePassive,Vehicle"
FUNDS = [
    ("F1,E,Global,true,LU,A,MF", None),
    ("F2,B,Global,1,ie,P,ETF", None),
    ("F3,E,Asia,no,US,A,MF", None),
    (",E,Global,true,LU,A,MF", "missing_key"),
    ("F4,B,Global,maybe,LU,A,MF", "unparseable_boolean"),
    ("F5,E,Global,true,LU,A,MF", "duplicate_key"),
    ("F5,B,Global,false,LU,A,MF", "duplicate_key"),
]
SC_HEADER = "ShareId,FundId,InvestorType"
SHARE_CLASSES = [
    ("S1,F1,Institutional", None),
    ("S2,F1,Retail", None),
    ("S3,F2,Institutional", None),
    ("S4,F3,Retail", None),
    ("S5,F9,Retail", "unknown_fund"),  # F9 exists nowhere
    ("S6,,Retail", "missing_key"),
    ("S7,F2,Retail", "duplicate_key"),
    ("S7,F2,Institutional", "duplicate_key"),
    ("S8,F4,Retail", "unknown_fund"),  # F4 itself was quarantined
]
FLOWS_HEADER = "ReportDate,ShareId,FundId,Flow,AssetsStart,AssetsEnd,PortfolioChange,ForexChange"
FLOWS_PART0 = [
    ("2022-01-03,S1,F1,10,1000,1015,5,0", None),
    ("2022-01-03,S2,F1,-5,500,496,1,0", None),
    ("20220103,S3,F2,0,2000,2000,0,0", None),  # yyyymmdd is a date too
    ("2022-01-04,S1,F1,1,1015,1100,0,0", None),  # identity break: flagged, kept
    ("2022-01-04,S2,F1,abc,496,496,0,0", "unparseable_number"),
    ("2022-01-04,S3,F2,1,2000,2001,0,0", None),
    ("2022-01-4x,S4,F3,1,100,101,0,0", "unparseable_date"),
    ("2022-01-08,S4,F3,1,100,101,0,0", "not_flow_date"),  # Saturday
    ("2021-01-01,S4,F3,1,100,101,0,0", "not_flow_date"),  # 1 January on a Friday
    ("2022-01-05,S4,F3,1,-100,-99,0,0", "negative_assets_start"),
    ("2022-01-05,,F3,1,100,101,0,0", "missing_key"),
    ("2022-01-05,S1,F1,1,1100,1101,0,0", None),
    ("2022-01-05,S9,F9,1,100,101,0,0", "unknown_share_class"),
]
FLOWS_PART1 = [
    ("2022-01-06,S3,F2,1,2001,2002,0,0", "duplicate_key"),
    ("2022-01-06,S3,F2,2,2001,2003,0,0", "duplicate_key"),
    ("2022-01-06,S1,F2,1,1101,1102,0,0", "fund_mismatch"),  # S1 belongs to F1
    ("2022-01-06,S2,F1,,496,496,0,0", "missing_value"),
    ("2022-01-06,S4,F3,1,100,,0,0", None),  # identity not checkable
    ("2022-01-07,S4,F3,1,101,102,0,0", None),
    ("2022-01-07,S1,F1,2,1102,1105,0,-1", None),  # break; fine with ForexChange negated
    ("2022-01-07,S2,F1,1,NaN,497,0,0", "unparseable_number"),
    ("2022-01-07,S3,F2,1e3,2002,3002,0,0", None),
    ("2022-01-07,S7,F2,1,10,11,0,0", "unknown_share_class"),  # S7 was quarantined
]
# VN is a destination outside the 52 published countries: accepted like any other;
# XX is no ISO 3166-1 code: quarantined
ALLOC_HEADER = "ReportDate,FundId,AU,US,XX,JP,VN"
ALLOC_WIDE = [
    "2021-12-31,F1,60,30,,10,",
    "2021-12-31,F2,50,,5,,4",
    "2021-12-31,F3,0,,,,",
    "2021-12-31,F9,10,,,,",
    "2021-12-31,,10,,,,",
    "2021-13-45,F1,10,,,,",
    "2022-01-31,F1,abc,20,,,",
    "2022-01-31,F2,120,,,-1,",
    "2022-01-31,F3,70,40,,,",
    "2022-02-28,F1,50,,,,",
    "2022-02-15,F1,40,,,,",
]
# the records the wide file must quarantine: (ReportDate, FundId, column, value, reason)
ALLOC_WIDE_QUARANTINE = [
    ("2021-12-31", "F2", "XX", "5", "unknown_country"),
    ("2021-12-31", "F9", "AU", "10", "unknown_fund"),
    ("2021-12-31", None, "AU", "10", "missing_key"),
    ("2021-13-45", "F1", "AU", "10", "unparseable_date"),
    ("2022-01-31", "F1", "AU", "abc", "unparseable_number"),
    ("2022-01-31", "F2", "AU", "120", "allocation_out_of_range"),
    ("2022-01-31", "F2", "JP", "-1", "allocation_out_of_range"),
    ("2022-01-31", "F3", "AU", "70", "allocation_sum_above_100_5"),
    ("2022-01-31", "F3", "US", "40", "allocation_sum_above_100_5"),
    ("2022-02-28", "F1", "AU", "50", "duplicate_key"),
    ("2022-02-15", "F1", "AU", "40", "duplicate_key"),
]
ALLOC_STORED = [
    (D(2021, 12, 1), D(2021, 12, 31), "F1", "AU", 60.0),
    (D(2021, 12, 1), D(2021, 12, 31), "F1", "JP", 10.0),
    (D(2021, 12, 1), D(2021, 12, 31), "F1", "US", 30.0),
    (D(2021, 12, 1), D(2021, 12, 31), "F2", "AU", 50.0),
    (D(2021, 12, 1), D(2021, 12, 31), "F2", "VN", 4.0),
    (D(2022, 1, 1), D(2022, 1, 31), "F1", "US", 20.0),
]
LONG_HEADER = "ReportDate,FundId,Country,Allocation"
ALLOC_LONG = [
    ("2021-12-31,F1,AU,60", None),
    ("2021-12-31,F1,US,30", None),
    ("2021-12-31,F1,JP,10", None),
    ("2021-12-31,F2,AU,50", None),
    ("2021-12-31,F2,xx,5", "unknown_country"),
    ("2021-12-31,F2,vn,4", None),
    ("2021-12-31,F3,AU,0", None),  # accepted, zero: not stored
    ("2022-01-31,F1,US,20", None),
    ("2022-01-31,F1,AU,abc", "unparseable_number"),
    ("2022-01-31,F1,,5", "missing_key"),
    ("2022-01-31,F2,JP,", "missing_value"),
    ("2022-01-31,F3,AU,70", "allocation_sum_above_100_5"),  # 70 + 40 + 1 > 100.5
    ("2022-01-31,F3,US,40", "duplicate_key"),
    ("2022-01-31,F3,US,1", "duplicate_key"),
]
SILVER = ("share_class_flows", "share_classes", "funds", "fund_allocations")


SCF_COLUMNS = (
    "flow_date",
    "share_id",
    "fund_id",
    "flow",
    "assets_start",
    "assets_end",
    "portfolio_change",
    "forex_change",
    "identity_break",
    "flow_month",
)


def _write(path: Path, header: str, lines, newline: str = "\n", bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = newline.join([header, *[ln if isinstance(ln, str) else ln[0] for ln in lines]])
    path.write_bytes((("\ufeff" if bom else "") + text + newline).encode("utf-8"))
    return path


def _content(header: str, line: str) -> str:
    values = [v if v != "" else None for v in line.split(",")]
    return json.dumps(dict(zip(header.split(","), values)), separators=(",", ":"))


def _rows(df):
    return sorted((tuple(r) for r in df.collect()), key=repr)


def _by_id(spark, settings):
    """Silver tables with keys replaced by the vendor ids (through the dimensions)."""
    t = {n: storage.read_table(spark, settings, n) for n in SILVER}
    sc = t["share_classes"].select("share_key", "share_id")
    funds = t["funds"].select("fund_key", "fund_id")
    return {
        "funds": _rows(t["funds"].drop("fund_key")),
        "share_classes": _rows(t["share_classes"].select("share_id", "fund_id", "investor_type")),
        "share_class_flows": _rows(
            t["share_class_flows"]
            .join(sc, "share_key")
            .join(funds, "fund_key")
            .select(*SCF_COLUMNS)
        ),
        "fund_allocations": _rows(
            t["fund_allocations"]
            .join(funds, "fund_key")
            .select("alloc_month", "report_date", "fund_id", "country", "allocation_pct")
        ),
        "quarantine": _rows(
            storage.read_table(spark, settings, "quarantine").drop("run_id", "quarantined_at")
        ),
    }


def _identity_break(line: str) -> bool:
    _, _, _, flow, start, end, pc, fx = line.split(",")
    if "" in (end, pc, fx):
        return False
    diff = float(end) - (float(start) + float(flow) + float(pc) + float(fx))
    return abs(diff) > max(1.0, 1e-6 * abs(float(start)))


def _expected_flows(lines):
    out = []
    for line, reason in lines:
        if reason is not None:
            continue
        d, sid, fid, flow, start, end, pc, fx = line.split(",")
        day = cal.parse_date(d)
        num = [float(v) if v != "" else None for v in (flow, start, end, pc, fx)]
        out.append((day, sid, fid, *num, _identity_break(line), day.replace(day=1)))
    return sorted(out, key=repr)


def _fund_days_from_silver(spark, settings):
    """fund_days as they must be: the accepted share-class rows summed per fund, date and
    investor type (plain Python over the silver rows)."""
    sc = {
        r.share_key: (r.fund_key, r.investor_type)
        for r in storage.read_table(spark, settings, "share_classes").collect()
    }
    suffix = {"Institutional": "inst", "Retail": "retail"}
    out: dict = {}
    for r in storage.read_table(spark, settings, "share_class_flows").collect():
        fund, itype = sc[r.share_key]
        t = suffix.get(itype, "other")
        row = out.setdefault((r.flow_date, fund), {})
        for m in ("flow", "assets_start", "portfolio_change"):
            row[f"{m}_{t}"] = row.get(f"{m}_{t}", 0.0) + (getattr(r, m) or 0.0)
    return out


def _fund_days(spark, settings):
    rows = storage.read_table(spark, settings, "fund_days").collect()
    return {
        (r.flow_date, r.fund_key): {
            k: v
            for k, v in r.asDict().items()
            if k not in ("flow_date", "fund_key", "flow_month") and v is not None
        }
        for r in rows
    }


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("raw")
    _write(d / "funds.csv", FUNDS_HEADER, FUNDS)
    _write(d / "share_classes.csv", SC_HEADER, SHARE_CLASSES)
    _write(d / "flows" / "part-00000.csv", FLOWS_HEADER, FLOWS_PART0)
    _write(d / "flows" / "part-00001.csv", FLOWS_HEADER, FLOWS_PART1)
    (d / "flows" / "_SUCCESS").write_text("")
    _write(d / "allocations.csv", ALLOC_HEADER, ALLOC_WIDE)
    return d


@pytest.fixture(scope="module")
def wh(spark, raw_dir, make_settings, tmp_path_factory):
    """The batch ingested once into a fresh warehouse: (settings, report, snapshot)."""
    settings = make_settings(tmp_path_factory.mktemp("wh"))
    report = ingest.ingest_paths(spark, settings, directory=str(raw_dir), guard_limits=LENIENT)
    return settings, report, _by_id(spark, settings)


def test_every_bad_row_quarantined_with_its_reason(spark, wh, raw_dir):
    settings, report, snap = wh
    q = storage.read_table(spark, settings, "quarantine")
    got = sorted(
        (r.source_table, r.reason, r.row_content, r.source_file.rsplit("/", 1)[-1])
        for r in q.collect()
    )
    want = []
    for table, header, lines, fname in (
        ("funds", FUNDS_HEADER, FUNDS, "funds.csv"),
        ("share_classes", SC_HEADER, SHARE_CLASSES, "share_classes.csv"),
        ("share_class_flows", FLOWS_HEADER, FLOWS_PART0, "part-00000.csv"),
        ("share_class_flows", FLOWS_HEADER, FLOWS_PART1, "part-00001.csv"),
    ):
        want += [
            (table, reason, _content(header, line), fname)
            for line, reason in lines
            if reason is not None
        ]
    for d, fid, col, value, reason in ALLOC_WIDE_QUARANTINE:
        content = json.dumps({"ReportDate": d, "FundId": fid, col: value}, separators=(",", ":"))
        want.append(("fund_allocations", reason, content, "allocations.csv"))
    assert got == sorted(want)
    # every reason code of the issue occurs, and each row says where it came from
    assert {r[1] for r in got} >= {
        "unparseable_number",
        "unparseable_date",
        "missing_key",
        "duplicate_key",
        "negative_assets_start",
        "not_flow_date",
        "allocation_out_of_range",
        "allocation_sum_above_100_5",
        "unknown_country",
        "unknown_fund",
    }
    rows = q.collect()
    assert all(r.run_id == report.run_id and r.detail for r in rows)
    assert all(r.source_file.startswith("file:///") for r in rows)
    detail = {r.reason: r.detail for r in rows if r.source_table == "share_class_flows"}
    assert detail["unparseable_number"] in ("Flow=abc", "AssetsStart=NaN")
    assert detail["fund_mismatch"] == "FundId=F2 but share class S1 belongs to F1"


def test_counts_reconcile_and_are_printed(wh):
    settings, report, snap = wh
    n_flows = len(FLOWS_PART0) + len(FLOWS_PART1)
    bad_flows = sum(r is not None for _, r in FLOWS_PART0 + FLOWS_PART1)
    expect = {  # source: (read, accepted, quarantined, written)
        "funds": (7, 3, 4, 3),
        "share_classes": (9, 4, 5, 4),
        "flows": (n_flows, n_flows - bad_flows, bad_flows, n_flows - bad_flows),
        # 11 wide lines -> 18 records (one per non-blank non-zero cell; F3's all-zero line
        # is one empty record, accepted, nothing stored)
        "allocations": (18, 7, 11, 6),
    }
    for source, (read, acc, quar, written) in expect.items():
        s = report.sources[source]
        assert (s.read, s.accepted, s.quarantined, s.written) == (read, acc, quar, written), source
        assert s.reconciled and sum(s.by_reason.values()) == s.quarantined
    assert report.sources["allocations"].lines == len(ALLOC_WIDE)
    assert report.reconciled and not report.warnings
    assert report.quarantined == report.quarantine_written == len(snap["quarantine"])
    text = report.describe()
    assert "counts reconcile: yes" in text and text.count("ok: read = accepted + quarantined") == 4
    assert "allocation_sum_above_100_5" in text and "identity breaks" in text


def test_good_rows_land_in_silver_and_identity_breaks_are_flagged(wh):
    settings, report, snap = wh
    assert snap["share_class_flows"] == _expected_flows(FLOWS_PART0 + FLOWS_PART1)
    breaks = [r for r in snap["share_class_flows"] if r[8]]
    assert [(r[0], r[1]) for r in breaks] == [(D(2022, 1, 4), "S1"), (D(2022, 1, 7), "S1")]
    flows = report.sources["flows"]
    assert (
        flows.identity_breaks,
        flows.identity_unchecked,
        flows.identity_breaks_ok_if_forex_flipped,
    ) == (2, 1, 1)
    assert flows.window == (D(2022, 1, 3), D(2022, 1, 7))
    assert snap["fund_allocations"] == sorted(ALLOC_STORED, key=repr)
    assert snap["funds"] == sorted(
        [
            ("F1", "E", "Global", True, "LU", "A", "MF"),
            ("F2", "B", "Global", True, "IE", "P", "ETF"),
            ("F3", "E", "Asia", False, "US", "A", "MF"),
        ],
        key=repr,
    )
    assert snap["share_classes"] == sorted(
        [
            ("S1", "F1", "Institutional"),
            ("S2", "F1", "Retail"),
            ("S3", "F2", "Institutional"),
            ("S4", "F3", "Retail"),
        ],
        key=repr,
    )


def test_integer_keys_are_dense_and_follow_the_sorted_ids(spark, wh):
    settings, report, snap = wh
    funds = {r.fund_id: r.fund_key for r in storage.read_table(spark, settings, "funds").collect()}
    sc = {
        r.share_id: (r.share_key, r.fund_key)
        for r in storage.read_table(spark, settings, "share_classes").collect()
    }
    assert funds == {"F1": 0, "F2": 1, "F3": 2}
    assert sc == {"S1": (0, 0), "S2": (1, 0), "S3": (2, 1), "S4": (3, 2)}


def test_fund_days_are_the_accepted_rows_summed(spark, wh):
    settings, report, snap = wh
    # the duplicated key (S3 on 6 Jan) made its fund-day suspect: it is rebuilt from silver
    assert _fund_days(spark, settings) == _fund_days_from_silver(spark, settings)
    assert report.fund_days_written > 0


def test_tables_partitioned_constrained_and_annotated(spark, wh):
    settings, report, snap = wh
    path = settings.table_path("share_class_flows")
    detail = storage.table_detail(spark, path)
    assert list(detail["partitionColumns"]) == ["flow_month"]
    props = dict(detail["properties"])
    assert props["delta.constraints.assets_start_non_negative"] == "assets_start >= 0"
    assert props["delta.enableDeletionVectors"] == "false"
    meta = json.loads(storage.commit_info(spark, path)["userMetadata"])
    assert meta["job"] == "ingest" and meta["run_id"] == report.run_id
    assert meta["window"] == ["2022-01-03", "2022-01-07"]
    bad = spark.createDataFrame(
        [(D(2022, 1, 10), 0, 0, 1.0, -5.0, None, None, None, False, D(2022, 1, 1))],
        ingest.driver.table("share_class_flows").schema,
    )
    with pytest.raises(Exception, match="assets_start_non_negative"):
        bad.write.format("delta").mode("append").save(path)
    alloc = storage.table_detail(spark, settings.table_path("fund_allocations"))
    assert list(alloc["partitionColumns"]) == ["alloc_month"]


def test_delta_rs_reads_the_rows_spark_wrote(spark, wh):
    from deltalake import DeltaTable

    settings, report, snap = wh
    for table in (*SILVER, "fund_days", "quarantine"):
        arrow = DeltaTable(settings.table_path(table)).to_pyarrow_table()
        df = storage.read_table(spark, settings, table)
        assert arrow.column_names == df.columns, table
        assert arrow.num_rows == df.count() > 0, table


def test_rerun_leaves_tables_identical(spark, wh, raw_dir):
    settings, report, snap = wh
    days = _fund_days(spark, settings)
    again = ingest.ingest_paths(spark, settings, directory=str(raw_dir), guard_limits=LENIENT)
    assert _by_id(spark, settings) == snap
    assert _fund_days(spark, settings) == days
    assert {s: r.counts() for s, r in again.sources.items()} == {
        s: r.counts() for s, r in report.sources.items()
    }
    q = storage.read_table(spark, settings, "quarantine")
    assert {r.run_id for r in q.select("run_id").distinct().collect()} == {again.run_id}
    assert again.sources["funds"].written == 0  # nothing changed: no commit


def test_missing_column_names_file_and_column_and_changes_nothing(
    spark, wh, raw_dir, tmp_path, make_settings
):
    settings, report, snap = wh
    bad = tmp_path / "in"
    shutil.copytree(raw_dir, bad)
    header = FLOWS_HEADER.replace(",AssetsEnd", "")
    _write(
        bad / "flows" / "part-00001.csv",
        header,
        [",".join(v for i, v in enumerate(ln.split(",")) if i != 5) for ln, _ in FLOWS_PART1],
    )
    versions = {
        t: storage.current_version(spark, settings.table_path(t)) for t in (*SILVER, "quarantine")
    }
    with pytest.raises(InputError) as err:
        ingest.ingest_paths(spark, settings, directory=str(bad))
    assert "part-00001.csv" in str(err.value) and "AssetsEnd" in str(err.value)
    assert versions == {t: storage.current_version(spark, settings.table_path(t)) for t in versions}
    # a fresh warehouse: no table is even created
    empty = make_settings(tmp_path / "wh2")
    with pytest.raises(InputError, match="AssetsEnd"):
        ingest.ingest_paths(spark, empty, directory=str(bad))
    assert not (tmp_path / "wh2").exists()


def test_unreadable_or_absent_input_is_an_input_error(spark, warehouse, tmp_path):
    junk = tmp_path / "flows.parquet"
    junk.write_bytes(b"this is not parquet at all")
    with pytest.raises(InputError, match="flows.parquet"):
        ingest.ingest_paths(spark, warehouse, flows=str(junk))
    latin = tmp_path / "funds.csv"
    latin.write_bytes(FUNDS_HEADER.replace("Vehicle", "V\xe9hicule").encode("latin-1"))
    with pytest.raises(InputError, match="funds.csv"):
        ingest.ingest_paths(spark, warehouse, funds=str(latin))
    with pytest.raises(InputError, match="nowhere.csv"):
        ingest.ingest_paths(spark, warehouse, share_classes=str(tmp_path / "nowhere.csv"))
    with pytest.raises(InputError, match="nothing to ingest"):
        ingest.ingest_paths(spark, warehouse, directory=str(tmp_path / "flows.parquet"))
    assert not (tmp_path / "wh").exists()


RESTATED = [  # typed Parquet flows restating 2022-01-05..2022-01-06
    ("2022-01-05,S1,F1,5,1100,1105,0,0", None),  # changed
    ("2022-01-05,S2,F1,0,496,496,0,0", None),  # new
    ("2022-01-06,S3,F2,1,2001,2002,0,0", None),  # new (a duplicate the first time)
    ("2022-01-06,S4,F3,1,100,,0,0", None),  # NULL AssetsEnd: unchecked identity
    ("2022-01-05,S4,F3,1,-100,-99,0,0", "negative_assets_start"),
    ("2022-01-08,S4,F3,1,100,101,0,0", "not_flow_date"),
    ("2022-01-06,S2,F1,,496,496,0,0", "missing_value"),
    ("2022-01-06,S1,F1,1,1105,1106,0,0", "duplicate_key"),
    ("2022-01-06,S1,F1,2,1105,1107,0,0", "duplicate_key"),
    ("2022-01-06,S9,F1,1,1,2,0,0", "unknown_share_class"),
]


def _parquet_flows(lines):
    import pyarrow as pa

    cols = list(zip(*[ln.split(",") for ln in lines]))
    num = [pa.array([float(v) if v else None for v in c], pa.float64()) for c in cols[3:]]
    return pa.table(
        [
            pa.array([cal.parse_date(v) for v in cols[0]], pa.date32()),
            pa.array(cols[1]),
            pa.array(cols[2]),
            *num,
        ],
        names=FLOWS_HEADER.split(","),
    )


def test_restated_window_from_parquet_flows_and_long_allocations(
    spark, wh, tmp_path, make_settings
):
    """A copy of the warehouse gets typed Parquet flows restating two days, and long
    allocations restating both months with the same values as the wide file."""
    import pyarrow.parquet as pq

    settings, report, snap = wh
    copy = tmp_path / "wh"
    shutil.copytree(settings.warehouse, copy)
    s2 = make_settings(copy)
    flows = tmp_path / "restated_flows"
    flows.mkdir()
    pq.write_table(_parquet_flows([ln for ln, _ in RESTATED[:5]]), flows / "part-0.parquet")
    pq.write_table(_parquet_flows([ln for ln, _ in RESTATED[5:]]), flows / "part-1.parquet")
    (flows / "_SUCCESS").write_text("")
    alloc = _write(tmp_path / "alloc_long.csv", LONG_HEADER, ALLOC_LONG)
    rep = ingest.ingest_paths(
        spark, s2, flows=str(flows), allocations=str(alloc), guard_limits=LENIENT
    )
    assert rep.sources["flows"].fmt == "parquet" and rep.sources["allocations"].layout == "long"
    assert rep.sources["flows"].window == (D(2022, 1, 5), D(2022, 1, 6))
    assert rep.reconciled and not rep.warnings
    after = _by_id(spark, s2)
    # flows: the window's rows are exactly the restated ones, the rest is untouched
    inside = [r for r in snap["share_class_flows"] if D(2022, 1, 5) <= r[0] <= D(2022, 1, 6)]
    assert inside
    outside = [r for r in snap["share_class_flows"] if r not in inside]
    assert after["share_class_flows"] == sorted(outside + _expected_flows(RESTATED), key=repr)
    # fund_days follow: still the accepted rows summed, the window's fund-days replaced
    assert _fund_days(spark, s2) == _fund_days_from_silver(spark, s2)
    # long allocations: same silver rows as the wide file gave
    for t in ("funds", "share_classes", "fund_allocations"):
        assert after[t] == snap[t], t
    alloc_rep = rep.sources["allocations"]
    assert (alloc_rep.read, alloc_rep.accepted, alloc_rep.not_stored) == (14, 7, 1)
    # quarantine: the new files' rows joined the first batch's, which stay
    q = storage.read_table(spark, s2, "quarantine")
    new = sorted((r.source_table, r.reason) for r in q.where(q.run_id == rep.run_id).collect())
    assert new == sorted(
        [("share_class_flows", r) for _, r in RESTATED if r]
        + [("fund_allocations", r) for _, r in ALLOC_LONG if r]
    )
    assert q.count() == len(snap["quarantine"]) + len(new)
    row = q.where(q.reason == "negative_assets_start").where(q.run_id == rep.run_id).first()
    assert json.loads(row.row_content)["AssetsStart"] == -100.0  # typed Parquet value


def test_part_files_must_share_one_header(spark, raw_dir, tmp_path, warehouse):
    bad = tmp_path / "flows"
    shutil.copytree(raw_dir / "flows", bad)
    cols = FLOWS_HEADER.split(",")
    swapped = ",".join(cols[:3] + [cols[4], cols[3]] + cols[5:])  # AssetsStart before Flow
    _write(bad / "part-00001.csv", swapped, ["2022-01-06,S3,F2,2001,1,2002,0,0"])
    with pytest.raises(InputError, match="part-00001.csv: header differs"):
        ingest.ingest_paths(spark, warehouse, flows=str(bad))
    twice = _write(tmp_path / "alloc.csv", "ReportDate,FundId,AU,US,au", ["2022-01-31,F1,1,2,3"])
    with pytest.raises(InputError, match="country column.*AU"):
        ingest.ingest_paths(spark, warehouse, allocations=str(twice))
    assert not (tmp_path / "wh").exists()

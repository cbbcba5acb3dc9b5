"""Deliveries as they really arrive (docs/ingest.md, "3. Formats" and "15. The guard"): CSV
written by pandas, Python's csv module and a spreadsheet export, with a vendor's extra text
column quoted the RFC 4180 way; a download cut short inside its last line; compressed, zipped,
Parquet and mixed directories; and the re-deliveries that used to empty a table (every row
unparseable, half a month's allocations, a file delivered twice), which now stop before any
write with one line, every table at its version, unless --force-replace says otherwise.

One small synthetic universe (30 funds, January to March 2020) is generated and ingested once
per module; each test ingests its delivery into a copy of that warehouse."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from flowmosaic import storage, synth
from flowmosaic.cli import main as cli_main
from flowmosaic.errors import InputError
from flowmosaic.ingest import ingest_paths
from flowmosaic.ingest.guard import GuardError
from flowmosaic.maintain import maintain

TABLES = ("share_class_flows", "fund_days", "funds", "share_classes", "fund_allocations")
FLOWS_COLUMNS = [
    "ReportDate",
    "ShareId",
    "FundId",
    "Flow",
    "AssetsStart",
    "AssetsEnd",
    "PortfolioChange",
    "ForexChange",
]


@pytest.fixture(scope="module")
def clean(spark, make_settings, tmp_path_factory):
    """(raw directory, the flows as text, a warehouse holding the clean ingest)."""
    base = tmp_path_factory.mktemp("deliveries")
    raw = base / "raw"
    synth.generate(
        spark,
        raw,
        scale="tiny",
        seed=2,
        n_funds=30,
        start=dt.date(2020, 1, 1),
        end=dt.date(2020, 3, 31),
        partitions=1,
    )
    flows = pd.concat(
        [pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted(raw.glob("flows/*.csv"))]
    ).reset_index(drop=True)
    settings = make_settings(base / "wh")
    rep = ingest_paths(spark, settings, directory=str(raw))
    assert rep.quarantined == 0 and rep.sources["flows"].accepted == len(flows)
    return raw, flows, settings


def _copy(clean, make_settings, tmp_path):
    """A copy of the clean warehouse, for one test to write."""
    wh = tmp_path / "wh"
    shutil.copytree(clean[2].warehouse, wh)
    return make_settings(wh)


def _versions(spark, settings) -> dict[str, int]:
    return {t: storage.current_version(spark, settings.table_path(t)) for t in TABLES}


def _rows(spark, settings, name: str) -> int:
    return storage.read_table(spark, settings, name).count()


def _with_vendor_column(flows: pd.DataFrame) -> pd.DataFrame:
    """The flows with a text column a vendor added, holding commas, quotes and a line break."""
    names = [
        f'Fund "{fid}", Class {"I" if i % 2 else "R"}' + ("\nsecond line" if i % 50 == 0 else "")
        for i, fid in enumerate(flows["FundId"])
    ]
    out = flows.copy()
    out.insert(3, "ShareClassName", names)
    return out


def test_quoted_vendor_column_from_pandas_csv_module_and_a_spreadsheet(
    spark, clean, make_settings, tmp_path
):
    """The same flows with an extra quoted text column, as pandas writes it, as the csv module
    writes it by default (CRLF), and as a spreadsheet exports it (byte-order mark, CRLF, every
    field quoted): each re-delivery ingests every row, the extra column ignored and reported,
    and the table holds what the clean file gave."""
    raw, flows, _ = clean
    wide = _with_vendor_column(flows)
    assert wide["ShareClassName"].str.contains('"').all()

    def by_pandas(path: Path) -> None:
        wide.to_csv(path, index=False)

    def by_csv_module(path: Path) -> None:
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)  # defaults: QUOTE_MINIMAL, '"' doubled, \r\n
            w.writerow(wide.columns)
            w.writerows(wide.itertuples(index=False))

    def by_spreadsheet(path: Path) -> None:
        buf = io.StringIO()
        w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        w.writerow(wide.columns)
        w.writerows(wide.itertuples(index=False))
        path.write_bytes(("\ufeff" + buf.getvalue()).encode("utf-8"))

    for write in (by_pandas, by_csv_module, by_spreadsheet):
        s = _copy(clean, make_settings, tmp_path / write.__name__)
        before = storage.read_table(spark, s, "share_class_flows").toPandas()
        f = tmp_path / write.__name__ / "flows.csv"
        write(f)
        rep = ingest_paths(spark, s, flows=str(f))
        got = rep.sources["flows"]
        assert (got.read, got.accepted, got.quarantined) == (len(flows), len(flows), 0), (
            write.__name__,
            rep.describe(),
        )
        assert any("ignored column(s): ShareClassName" in n for n in got.notes), got.notes
        after = storage.read_table(spark, s, "share_class_flows").toPandas()
        key = ["flow_date", "share_key"]
        pd.testing.assert_frame_equal(
            before.sort_values(key).reset_index(drop=True),
            after.sort_values(key).reset_index(drop=True),
        )


def test_a_file_cut_short_inside_its_last_line(spark, clean, make_settings, tmp_path):
    """A download that stopped inside the last line: cut inside PortfolioChange (fields
    missing: malformed), and cut inside the last field (every field there, the last one
    short, no line break at the end: truncated). Every complete row is kept, the broken one
    quarantined with its own reason, the table otherwise as the clean file left it."""
    raw, flows, _ = clean
    text = flows.to_csv(index=False)
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    cut_in_pc = text[: len(text.rstrip("\n")) - len(last)] + last[: last.rfind(",") - 2]
    cut_in_last = text.rstrip("\n")[:-1]
    for name, body, reason in (
        ("portfolio_change", cut_in_pc, "malformed_line"),
        ("last_field", cut_in_last, "truncated_line"),
    ):
        s = _copy(clean, make_settings, tmp_path / name)
        f = tmp_path / name / "flows.csv"
        f.write_text(body)
        rep = ingest_paths(spark, s, flows=str(f))
        got = rep.sources["flows"]
        assert got.read == len(flows) and got.by_reason == {reason: 1}, rep.describe()
        assert got.accepted == len(flows) - 1
        q = storage.read_table(spark, s, "quarantine").where(f"reason = '{reason}'").collect()
        assert len(q) == 1 and q[0].source_file.endswith("flows.csv")
        assert _rows(spark, s, "share_class_flows") == len(flows) - 1


def test_every_row_unparseable_is_refused_with_nothing_written(
    spark, clean, make_settings, tmp_path
):
    """The re-delivery whose Flow column reads n/a on every row: refused in one line naming
    the file, the counts and the reason; exit 2 from the CLI; every table at its version."""
    raw, flows, _ = clean
    s = _copy(clean, make_settings, tmp_path)
    bad = flows.assign(Flow="n/a")
    f = tmp_path / "flows.csv"
    bad.to_csv(f, index=False)
    before = _versions(spark, s)
    with pytest.raises(GuardError) as exc:
        ingest_paths(spark, s, flows=str(f))
    msg = str(exc.value)
    assert "\n" not in msg and str(f) in msg
    assert f"{len(flows):,} of {len(flows):,} rows rejected" in msg
    assert "unparseable_number" in msg and "would lose all their rows" in msg
    assert _versions(spark, s) == before
    assert not storage.exists(spark, s.table_path("quarantine"))
    rc = cli_main(["ingest", "--flows", str(f), "--warehouse", s.warehouse])
    assert rc == 2 and _versions(spark, s) == before


def test_a_delivery_that_would_empty_dates_needs_force_and_reports_what_it_removed(
    spark, clean, make_settings, tmp_path
):
    """The window's first and last dates delivered, the dates between left out: the dates
    between would lose their rows. Refused; with force_replace the run replaces the window
    and its report says which dates lost how many rows."""
    raw, flows, _ = clean
    s = _copy(clean, make_settings, tmp_path)
    dates = sorted(flows["ReportDate"].unique())
    ends = flows[flows["ReportDate"].isin([dates[0], dates[-1]])]
    f = tmp_path / "flows.csv"
    ends.to_csv(f, index=False)
    before = _versions(spark, s)
    with pytest.raises(GuardError, match=f"{len(dates) - 2} flow date"):
        ingest_paths(spark, s, flows=str(f))
    assert _versions(spark, s) == before
    rep = ingest_paths(spark, s, flows=str(f), force_replace=True)
    assert _rows(spark, s, "share_class_flows") == len(ends)
    text = rep.describe()
    assert f"removed: flows: {len(dates) - 2} flow date(s) hold fewer rows" in text, text
    assert f"{len(flows) - len(ends):,} rows removed" in text


def test_half_a_month_of_allocations_is_refused(spark, clean, make_settings, tmp_path):
    """An allocations file holding half of one month's funds: the month would lose half its
    funds; refused, the table as it was; forced, the month is replaced and reported."""
    raw, _, _ = clean
    s = _copy(clean, make_settings, tmp_path)
    alloc = pd.read_csv(raw / "allocations.csv", dtype=str, keep_default_na=False)
    month = alloc["ReportDate"].max()
    rows = alloc[alloc["ReportDate"] == month]
    half = rows.iloc[: len(rows) // 2]
    f = tmp_path / "allocations.csv"
    half.to_csv(f, index=False)
    before = _versions(spark, s)
    with pytest.raises(GuardError, match=r"month\(s\) would lose more than 10 % of their funds"):
        ingest_paths(spark, s, allocations=str(f))
    assert _versions(spark, s) == before
    rep = ingest_paths(spark, s, allocations=str(f), force_replace=True)
    assert any(f"month {month[:7]}: {len(rows)} -> {len(half)} funds" in x for x in rep.removed)


def test_a_file_delivered_twice_is_refused_before_it_empties_the_window(
    spark, clean, make_settings, tmp_path
):
    """The same rows twice in one delivery (a file appended to itself): every key is a
    duplicate, so every row would be quarantined. The check pass sees it coming (more rows
    than distinct share classes per date), finds the duplicates exactly, and refuses."""
    raw, flows, _ = clean
    s = _copy(clean, make_settings, tmp_path)
    f = tmp_path / "flows.csv"
    pd.concat([flows, flows]).to_csv(f, index=False)
    before = _versions(spark, s)
    with pytest.raises(GuardError, match="duplicate_key") as exc:
        ingest_paths(spark, s, flows=str(f))
    assert f"{2 * len(flows):,} of {2 * len(flows):,} rows rejected" in str(exc.value)
    assert _versions(spark, s) == before


def test_dimension_files_never_delete_by_omission(spark, clean, make_settings, tmp_path):
    """A funds file and a share-classes file holding half of the ids: nothing is removed
    (the ids absent keep their rows and keys), and the guard has nothing to refuse."""
    raw, _, settings = clean
    s = _copy(clean, make_settings, tmp_path)
    before = {t: storage.read_table(spark, s, t).toPandas() for t in ("funds", "share_classes")}
    for name in ("funds", "share_classes"):
        full = pd.read_csv(raw / f"{name}.csv", dtype=str, keep_default_na=False)
        full.iloc[: len(full) // 2].to_csv(tmp_path / f"{name}.csv", index=False)
    rep = ingest_paths(
        spark,
        s,
        funds=str(tmp_path / "funds.csv"),
        share_classes=str(tmp_path / "share_classes.csv"),
    )
    assert rep.quarantined == 0 and not rep.removed
    for t, old in before.items():
        new = storage.read_table(spark, s, t).toPandas()
        assert len(new) == len(old), t
        pd.testing.assert_frame_equal(
            old.sort_values(old.columns[0]).reset_index(drop=True),
            new.sort_values(new.columns[0]).reset_index(drop=True),
        )


def test_compressed_zipped_parquet_and_mixed_deliveries(spark, clean, make_settings, tmp_path):
    """The flows as a .zip of two CSV files (a file given as the input), and as one directory
    mixing a CSV part, a gzip part, a Parquet part, a zip of two CSV files in a folder and a
    file of another format: each ingests every row as the clean file does; the mixed
    directory's report says what it read and what it refused. (One ingest per input: a .csv.gz
    or a Parquet file given alone takes the path the directory's parts take, file by file.)"""
    raw, flows, _ = clean
    half = len(flows) // 2
    parts = [flows.iloc[:half], flows.iloc[half:]]
    d = tmp_path / "in"
    d.mkdir()
    with zipfile.ZipFile(d / "flows.zip", "w") as z:
        for i, p in enumerate(parts):
            z.writestr(f"day-files/flows-{i}.csv", p.to_csv(index=False))
    mixed = d / "mixed"
    mixed.mkdir()
    q = [flows.iloc[i::5] for i in range(5)]
    q[0].to_csv(mixed / "a.csv", index=False)
    (mixed / "b.csv.gz").write_bytes(gzip.compress(q[1].to_csv(index=False).encode()))
    q[2].astype({c: float for c in FLOWS_COLUMNS[3:]}).to_parquet(mixed / "c.parquet")
    with zipfile.ZipFile(mixed / "d.zip", "w") as z:
        z.writestr("day-files/d.csv", q[3].to_csv(index=False))
        z.writestr("day-files/e.csv", q[4].to_csv(index=False))
        z.writestr("readme.txt", "not data")
    (mixed / "notes.xlsx").write_bytes(b"PK not a csv")
    want = storage.read_table(spark, clean[2], "share_class_flows").toPandas()
    key = ["flow_date", "share_key"]
    for name in ("flows.zip", "mixed"):
        s = _copy(clean, make_settings, tmp_path / name.replace(".", "_"))
        rep = ingest_paths(spark, s, flows=str(d / name))
        got = rep.sources["flows"]
        assert (got.read, got.accepted) == (len(flows), len(flows)), (name, rep.describe())
        after = storage.read_table(spark, s, "share_class_flows").toPandas()
        pd.testing.assert_frame_equal(
            want.sort_values(key).reset_index(drop=True),
            after.sort_values(key).reset_index(drop=True),
            check_exact=False,
            rtol=1e-12,
        )
        if name == "mixed":
            notes = " ".join(got.notes)
            assert "read csv 4 file(s), parquet 1 file(s), from 1 zip(s): d.zip" in notes, notes
            assert "refused 2 file(s)" in notes and "notes.xlsx" in notes
            assert "d.zip!/readme.txt" in notes
            # five files, each holding rows of every month: still one file per month
            # partition (files sized at write time), and upkeep finds nothing to compact
            for t in ("share_class_flows", "fund_days"):
                files = storage.files_per_partition(spark, s.table_path(t), ("flow_month",))
                assert len(files) == 3 and all(n == 1 for _, n in files), (t, files)
            upkeep = maintain(spark, s, tables=["share_class_flows", "fund_days"], progress=None)
            for t in upkeep.tables:
                assert t.optimize.endswith("skipped (every partition is one file)"), t.optimize
                assert t.files_before == t.files_after == 3, t
    # a zip member in the quarantine is named as zip!/member
    s = _copy(clean, make_settings, tmp_path / "zip-reject")
    z = tmp_path / "bad.zip"
    bad = flows.copy()
    bad.loc[0, "Flow"] = "abc"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("inner/flows.csv", bad.to_csv(index=False))
    ingest_paths(spark, s, flows=str(z))
    row = storage.read_table(spark, s, "quarantine").first()
    assert row.source_file.endswith("bad.zip!/inner/flows.csv"), row.source_file


def test_broken_files_stop_before_any_write_with_one_line(spark, clean, make_settings, tmp_path):
    """A gzip file cut short, a semicolon-separated file, a missing file and a header-only
    file: the first three stop the run with one line naming the file; the header-only file
    ingests nothing and changes nothing."""
    raw, flows, _ = clean
    s = _copy(clean, make_settings, tmp_path)
    before = _versions(spark, s)
    gz = gzip.compress(flows.to_csv(index=False).encode())
    (tmp_path / "cut.csv.gz").write_bytes(gz[: len(gz) // 2])
    flows.to_csv(tmp_path / "semi.csv", index=False, sep=";")
    (tmp_path / "header.csv").write_text(",".join(FLOWS_COLUMNS) + "\n")
    cases = {
        "cut.csv.gz": "damaged or cut short",
        "semi.csv": "looks semicolon-separated",
        "nowhere.csv": "no such file or directory",
    }
    for name, what in cases.items():
        with pytest.raises(InputError, match=what) as exc:
            ingest_paths(spark, s, funds=str(raw / "funds.csv"), flows=str(tmp_path / name))
        assert "\n" not in str(exc.value) and name in str(exc.value)
    assert _versions(spark, s) == before
    rep = ingest_paths(spark, s, flows=str(tmp_path / "header.csv"))
    assert rep.sources["flows"].read == 0 and _versions(spark, s) == before


def test_quarantine_command_shows_groups_and_writes_the_rows(
    spark, clean, make_settings, tmp_path, capsys
):
    """`flowmosaic quarantine` after a delivery with a malformed line and unparseable values:
    the latest run's rows by source, reason and file, the original line shown; --out writes
    every row; after the file is fixed and ingested again, its quarantine rows are gone."""
    raw, flows, _ = clean
    s = _copy(clean, make_settings, tmp_path)
    text = flows.to_csv(index=False).splitlines()
    text[1] = text[1] + ",extra"
    text[2] = text[2].replace(text[2].split(",")[3], "n/a", 1)
    f = tmp_path / "flows.csv"
    f.write_text("\n".join(text) + "\n")
    ingest_paths(spark, s, flows=str(f))
    capsys.readouterr()
    out_csv = tmp_path / "rejected.csv"
    rc = cli_main(["quarantine", "--warehouse", s.warehouse, "--out", str(out_csv)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "2 rejected row(s) in 2 group(s)" in out, out
    assert f"share_class_flows  malformed_line  file://{f}  1 row(s)" in out, out
    assert text[1] in out  # the malformed line as it was
    assert "9 field(s) where the header has 8" in out
    assert "Flow=n/a" in out
    rows = pd.read_csv(out_csv)
    assert sorted(rows["reason"]) == ["malformed_line", "unparseable_number"]
    # fixed and delivered again: the file's quarantine rows are replaced by none
    flows.to_csv(f, index=False)
    ingest_paths(spark, s, flows=str(f))
    assert storage.read_table(spark, s, "quarantine").count() == 0


def test_nightly_with_a_broken_day_leaves_yesterdays_tables_and_exits_2(
    spark, clean, make_settings, tmp_path
):
    """`flowmosaic nightly` on the last day's file re-delivered broken (every Flow n/a): the
    guard refuses it before anything is written, the command exits 2, and every table (the
    gold country_flows included) is at the version the day before left it."""
    from flowmosaic import country_flows

    raw, flows, _ = clean
    s = _copy(clean, make_settings, tmp_path)
    last = max(flows["ReportDate"])
    day = dt.date.fromisoformat(last)
    country_flows.run(spark, s, "FloPctCtry", start=day, end=day, progress=lambda _m: None)
    tables = (*TABLES, "country_flows")
    before = {t: storage.current_version(spark, s.table_path(t)) for t in tables}
    d = tmp_path / "incoming"
    d.mkdir()
    flows[flows["ReportDate"] == last].assign(Flow="n/a").to_csv(d / "flows.csv", index=False)
    rc = cli_main(
        [
            "nightly",
            "--date",
            last,
            "--input",
            str(d),
            "--universe",
            "FloPctCtry",
            "--warehouse",
            s.warehouse,
        ]
    )
    assert rc == 2
    assert {t: storage.current_version(spark, s.table_path(t)) for t in tables} == before

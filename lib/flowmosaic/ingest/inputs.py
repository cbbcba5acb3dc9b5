"""Locate the raw inputs, detect their format and layout, check every file's columns before
anything is written, and read them as raw columns (r__<Vendor>) plus _source_file.

CSV files may start with a UTF-8 byte-order mark (what spreadsheet programs write) and use
CRLF line ends; gzip/bzip2-compressed CSV (.csv.gz, .csv.bz2) and tab-separated files (.tsv)
are read too. A header-only file holds no rows.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from flowmosaic import storage
from flowmosaic.errors import InputError
from flowmosaic.ingest.parsing import r

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
BOM = "\ufeff"


@dataclass
class RawInput:
    source: str
    path: str  # as given
    uri: str  # canonical URI of the path (source_file prefix)
    is_dir: bool
    fmt: str  # csv | parquet
    files: list[str]  # canonical URIs of the data files
    columns: list[str]  # columns common to the files (first file's order), stripped
    required: tuple[str, ...]  # the vendor columns read
    layout: str = ""  # allocations: wide | long
    ignored_files: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    merge_schema: bool = False
    bytes: int = 0  # total size of the data files

    @property
    def scope(self) -> str:
        """SQL predicate on quarantine.source_file matching this input's files."""
        if self.is_dir:
            return f"startswith(source_file, {storage.sql_string(self.uri.rstrip('/') + '/')})"
        return f"source_file = {storage.sql_string(self.uri)}"


def _suffix_format(name: str) -> str | None:
    n = name.lower()
    if n.endswith(CSV_SUFFIXES):
        return "csv"
    if n.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def _short(exc: BaseException, limit: int = 600) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    keep = [ln for ln in lines if not ln.startswith("at ")][:6]
    return " | ".join(keep)[:limit]


def _open_text(local: str):
    if local.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(local, "rb"), encoding="utf-8", newline="")
    if local.lower().endswith(".bz2"):
        return io.TextIOWrapper(bz2.open(local, "rb"), encoding="utf-8", newline="")
    return open(local, encoding="utf-8", newline="")


def csv_header(source: str, uri: str, local: str) -> list[str]:
    """The header line's column names (a leading byte-order mark removed)."""
    try:
        with _open_text(local) as fh:
            sep = "\t" if local.lower().endswith(".tsv") else ","
            row = next(csv.reader(fh, delimiter=sep), None)
    except (OSError, UnicodeDecodeError, csv.Error, EOFError) as exc:
        raise InputError(f"{source}: {uri}: unreadable (want UTF-8 text): {exc}") from exc
    if not row:
        raise InputError(f"{source}: {uri}: no header line (empty file)")
    row[0] = row[0].removeprefix(BOM)
    return row


def _parquet_columns(source: str, uri: str, local: str) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(local).names)
    except Exception as exc:
        raise InputError(f"{source}: {uri}: unreadable Parquet file: {exc}") from exc


def require(source: str, where: str, columns: list[str], required: tuple[str, ...]) -> None:
    stripped = [c.strip() for c in columns]
    missing = [c for c in required if c not in stripped]
    if missing:
        raise InputError(
            f"{source}: {where}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(columns) or 'none'})"
        )
    dup = sorted({c for c in stripped if stripped.count(c) > 1})
    if dup:
        raise InputError(f"{source}: {where}: duplicate column(s) {', '.join(dup)}")


def probe(spark: SparkSession, source: str, path: str, required_for) -> RawInput:
    """Locate the input, detect its format, check every file's columns.

    required_for(columns) -> (required vendor columns, layout) decides, from a file's header,
    which columns the source needs (allocations: wide or long); a ValueError from it is a
    header the source cannot read."""

    def needs(where: str, cols: list[str]) -> tuple[tuple[str, ...], str]:
        try:
            return required_for(cols)
        except ValueError as exc:
            raise InputError(f"{source}: {where}: {exc}") from exc

    try:
        if not storage.path_exists(spark, path):
            raise InputError(f"{source}: {path}: no such file or directory")
        base, is_dir, entries = storage.list_files(spark, path)
    except InputError:
        raise
    except Exception as exc:  # errors of the file system
        raise InputError(f"{source}: {path}: cannot be read: {_short(exc)}") from exc
    typed = [(e, _suffix_format(e.name)) for e in entries]
    if not is_dir:
        fmt = typed[0][1]
        if fmt is None:
            raise InputError(f"{source}: {path}: unknown file format (want .csv or .parquet)")
        data, ignored = [typed[0][0]], []
    else:
        fmts = {f for _, f in typed if f}
        if not fmts:
            raise InputError(f"{source}: {path}: directory holds no .csv or .parquet file")
        if len(fmts) > 1:
            raise InputError(f"{source}: {path}: directory mixes CSV and Parquet files")
        fmt = fmts.pop()
        data = [e for e, f in typed if f == fmt]
        ignored = [e.uri for e, f in typed if f is None]
        if fmt == "csv":
            data = [e for e in data if e.size > 0] or data[:1]  # empty part files hold nothing
    columns: list[str] | None = None
    merge = False
    for e in data:
        if e.local is None:
            continue  # remote: checked on the Spark schema below (and by Spark per file)
        cols = (
            csv_header(source, e.uri, e.local)
            if fmt == "csv"
            else _parquet_columns(source, e.uri, e.local)
        )
        require(source, e.uri, cols, needs(e.uri, cols)[0])
        if columns is None:
            columns = cols
        elif [c.strip() for c in cols] != [c.strip() for c in columns]:
            if fmt == "csv":
                raise InputError(
                    f"{source}: {e.uri}: header differs from {data[0].uri}'s "
                    f"({', '.join(cols)} vs {', '.join(columns)})"
                )
            merge = True
    files = [e.uri for e in data]
    if columns is None:  # no local file: ask Spark for the schema
        try:
            if fmt == "csv":
                columns = spark.read.option("header", "true").csv(files).columns
                columns[0] = columns[0].removeprefix(BOM)
            else:
                columns = spark.read.option("mergeSchema", "true").parquet(*files).columns
                merge = True
        except Exception as exc:
            raise InputError(f"{source}: {path}: unreadable: {_short(exc)}") from exc
        require(source, path, columns, needs(path, columns)[0])
    required, layout = needs(path, columns)
    columns = [c.strip() for c in columns]
    ignored_cols = [] if layout == "wide" else [c for c in columns if c not in required]
    return RawInput(
        source,
        path,
        base,
        is_dir,
        fmt,
        files,
        columns,
        tuple(required),
        layout,
        ignored,
        ignored_cols,
        merge,
        sum(e.size for e in data),
    )


def read(spark: SparkSession, inp: RawInput, vendors: list[str] | None = None) -> DataFrame:
    """The input's columns as read (CSV: strings; Parquet: native types) as r__<Vendor>, plus
    _source_file (the canonical URI of the file each row came from). `vendors` narrows the
    columns (wide allocations: every column)."""
    if inp.fmt == "csv":
        # the probed names, positionally (the header line is skipped; every part file was
        # checked to carry the same header): a byte-order mark in it does no harm
        schema = T.StructType([T.StructField(c, T.StringType()) for c in inp.columns])
        reader = (
            spark.read.format("csv")
            .schema(schema)
            .options(header="true", enforceSchema="true", mode="PERMISSIVE", multiLine="false")
        )
        if any(f.lower().endswith(".tsv") for f in inp.files):
            reader = reader.option("sep", "\t")
        df = reader.load(inp.files)
    else:
        df = (
            spark.read.format("parquet")
            .option("mergeSchema", str(inp.merge_schema).lower())
            .load(inp.files)
        )
        df = df.toDF(*[c.strip() for c in df.columns])
    wanted = (
        vendors
        if vendors is not None
        else (df.columns if inp.layout == "wide" else list(inp.required))
    )
    cols = [F.col(f"`{c}`").alias(r(c)) for c in wanted]
    return df.select(
        *cols,
        F.regexp_replace(F.col("_metadata.file_path"), r"^file:/+", "file:///").alias(
            "_source_file"
        ),
    )


def resolve(
    directory: str | None,
    given: dict[str, str | None],
    spark: SparkSession,
    candidates: dict[str, tuple[str, ...]],
) -> dict[str, str]:
    """Paths per source: explicit ones win; a directory adds, for each source not given,
    the first of its candidate names (e.g. flows.csv, flows.parquet, flows/) it holds."""
    paths = {k: v for k, v in given.items() if v}
    if directory:
        if not storage.path_exists(spark, directory):
            raise InputError(f"input directory {directory}: not found")
        for name, cands in candidates.items():
            if name in paths:
                continue
            for cand in cands:
                p = f"{directory.rstrip('/')}/{cand}"
                if storage.path_exists(spark, p):
                    paths[name] = p
                    break
    if not paths:
        names = ", ".join(candidates)
        raise InputError(
            "nothing to ingest: give --input DIR or a file per source"
            + (f" ({directory} holds none of {names})" if directory else "")
        )
    return paths

"""Locate the raw inputs, detect their formats and layout, check every file's columns (and that
no local file was cut short) before anything is written, and read them as raw columns
(r__<Vendor>) plus _source_file, _malformed and _cut (docs/ingest.md, "3. Formats and
locating the files").

CSV is read as RFC 4180 writes it: fields may be quoted with '"', a quote inside a quoted field
is doubled, and a quoted field may hold the delimiter and line breaks. A UTF-8 byte-order mark
and CRLF line ends are accepted; .csv.gz / .csv.bz2 are decompressed, .tsv is tab-separated,
and a .zip holds such files (or Parquet files). A line whose number of fields differs from the
header's is kept aside as malformed (never read with blanks or dropped fields), and the last
line of a file that does not end with a line break is marked as cut short. A header-only file
holds no rows.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from flowmosaic import storage
from flowmosaic.errors import InputError
from flowmosaic.ingest import reasons
from flowmosaic.ingest.parsing import r
from flowmosaic.ingest.reasons import CUT_COL, MALFORMED_COL

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".tsv", ".tsv.gz", ".tsv.bz2")
PARQUET_SUFFIXES = (".parquet", ".pq")
ZIP_SUFFIXES = (".zip",)
BOM = "\ufeff"
CORRUPT = "_corrupt_record"
# A CSV file up to this size is parsed whole, so a quoted field may hold a line break: Spark
# reads a file this small as one split anyway. Bigger uncompressed files are split across
# tasks and parsed line by line (a quoted line break then makes two malformed lines).
WHOLE_FILE_BYTES = 128 * 1024 * 1024
TAIL_BYTES = 1 << 16


@dataclass
class RawInput:
    source: str
    path: str  # as given
    uri: str  # canonical URI of the path (source_file prefix)
    is_dir: bool
    fmt: str  # csv | parquet | csv+parquet
    files: list[str]  # canonical URIs of the data files (zip members: where they were unpacked)
    columns: list[str]  # columns common to the files (first file's order), stripped
    required: tuple[str, ...]  # the vendor columns read
    layout: str = ""  # allocations: wide | long
    ignored_files: list[str] = field(default_factory=list)  # refused: not a readable format
    ignored_columns: list[str] = field(default_factory=list)
    merge_schema: bool = False
    bytes: int = 0  # total size of the data files
    sizes: dict[str, int] = field(default_factory=dict)  # per data file
    # (prefix of unpacked files, what source_file shows instead: the zip's URI + "!/")
    aliases: list[tuple[str, str]] = field(default_factory=list)
    # files that do not end with a line break -> the fields of their last line
    cut: dict[str, list[str]] = field(default_factory=dict)
    staged: list[str] = field(default_factory=list)  # temporary directories (unpacked zips)
    zips: list[str] = field(default_factory=list)  # the zip files read
    csv_columns: list[str] = field(default_factory=list)  # the CSV files' header, stripped

    @property
    def scope(self) -> str:
        """SQL predicate on quarantine.source_file matching this input's files."""
        if self.is_dir:
            return f"startswith(source_file, {storage.sql_string(self.uri.rstrip('/') + '/')})"
        if self.uri.lower().endswith(ZIP_SUFFIXES):
            return f"startswith(source_file, {storage.sql_string(self.uri + '!/')})"
        return f"source_file = {storage.sql_string(self.uri)}"

    def shown(self, uri: str) -> str:
        """A data file's URI as source_file shows it (a zip member as zip!/member)."""
        for staged, alias in self.aliases:
            if uri.startswith(staged):
                return alias + uri[len(staged) :]
        return uri

    def describe_files(self) -> str:
        """What was read, for the report: counts by format, zips named."""
        n = {f: sum(_suffix_format(u) == f for u in self.files) for f in ("csv", "parquet")}
        parts = [f"{k} {v} file(s)" for k, v in n.items() if v]
        if self.zips:
            parts.append(f"from {len(self.zips)} zip(s): {', '.join(self.zips[:3])}")
        return ", ".join(parts)


def _suffix_format(name: str) -> str | None:
    n = name.lower()
    if n.endswith(CSV_SUFFIXES):
        return "csv"
    if n.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if n.endswith(ZIP_SUFFIXES):
        return "zip"
    return None


def _sep(name: str) -> str:
    return "\t" if ".tsv" in name.lower() else ","


def _short(exc: BaseException, limit: int = 600) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    keep = [ln for ln in lines if not ln.startswith("at ")][:6]
    return " | ".join(keep)[:limit]


def _open_binary(local: str):
    if local.lower().endswith(".gz"):
        return gzip.open(local, "rb")
    if local.lower().endswith(".bz2"):
        return bz2.open(local, "rb")
    return open(local, "rb")


def _open_text(local: str):
    # utf-8-sig: a byte-order mark goes before the csv module sees it (a quoted first field
    # would otherwise not start with its quote)
    return io.TextIOWrapper(_open_binary(local), encoding="utf-8-sig", newline="")


def csv_header(source: str, uri: str, local: str) -> list[str]:
    """The header line's column names (a leading byte-order mark removed)."""
    try:
        with _open_text(local) as fh:
            row = next(csv.reader(fh, delimiter=_sep(local)), None)
    except (OSError, UnicodeDecodeError, csv.Error, EOFError) as exc:
        raise InputError(f"{source}: {uri}: unreadable (want UTF-8 text): {exc}") from exc
    if not row:
        raise InputError(f"{source}: {uri}: no header line (empty file)")
    row[0] = row[0].removeprefix(BOM)
    return row


def _tail(source: str, uri: str, local: str) -> bytes:
    """The file's last bytes (decompressed). Reading a compressed file to its end also proves
    it is whole: a gzip or bzip2 stream cut short stops the run here, before any write."""
    try:
        if not local.lower().endswith((".gz", ".bz2")):
            with open(local, "rb") as fh:
                fh.seek(max(0, os.path.getsize(local) - TAIL_BYTES))
                return fh.read()
        tail = b""
        with _open_binary(local) as fh:
            while chunk := fh.read(1 << 20):
                tail = (tail + chunk)[-TAIL_BYTES:]
        return tail
    except (OSError, EOFError) as exc:
        raise InputError(
            f"{source}: {uri}: compressed file is damaged or cut short ({exc}): nothing written"
        ) from exc


def cut_last_line(source: str, uri: str, local: str, header: list[str]) -> list[str] | None:
    """The fields of the file's last line when the file does not end with a line break (a
    download that stopped inside it), else None. CSV writers end every line, the last one too."""
    tail = _tail(source, uri, local)
    if not tail or tail.endswith((b"\n", b"\r")):
        return None
    text = tail.decode("utf-8", errors="replace")
    last = text.splitlines()[-1] if text.splitlines() else ""
    if "\n" not in text and "\r" not in text and os.path.getsize(local) <= TAIL_BYTES:
        return None  # the whole file is one line: the header, without rows
    fields = next(csv.reader([last], delimiter=_sep(local)), [])
    return fields if fields != header else None


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
        hint = ""
        if len(columns) == 1:
            for sep, name in ((";", "semicolon"), ("|", "pipe"), ("\t", "tab")):
                if sep in columns[0]:
                    hint = (
                        f"; the header looks {name}-separated: CSV files are read "
                        "comma-separated (.tsv: tab-separated)"
                    )
                    break
        raise InputError(
            f"{source}: {where}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(columns) or 'none'}){hint}"
        )
    dup = sorted({c for c in stripped if stripped.count(c) > 1})
    if dup:
        raise InputError(f"{source}: {where}: duplicate column(s) {', '.join(dup)}")


def _unzip(
    spark: SparkSession, source: str, entry: storage.FileEntry
) -> tuple[list[storage.FileEntry], str, str]:
    """The data files of a local zip, unpacked into a temporary directory: (their entries,
    the directory, the prefix their URIs share)."""
    if entry.local is None:
        raise InputError(
            f"{source}: {entry.uri}: zip files are read from the local file system only "
            "(unpack it next to the other files, or give the files inside)"
        )
    tmp = tempfile.mkdtemp(prefix="flowmosaic-unzip-")
    try:
        with zipfile.ZipFile(entry.local) as zf:
            for info in zf.infolist():
                name = info.filename
                parts = [p for p in name.split("/") if p]
                hidden = any(p.startswith(("_", ".")) for p in parts) or name.startswith("__MACOSX")
                if info.is_dir() or hidden or ".." in parts:
                    continue
                target = os.path.join(tmp, *parts)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"{source}: {entry.uri}: unreadable zip file ({exc})") from exc
    _, _, entries = storage.list_files(spark, tmp)
    prefix = storage.canonical_uri("file://" + os.path.abspath(tmp)) + "/"
    return entries, tmp, prefix


def probe(spark: SparkSession, source: str, path: str, required_for) -> RawInput:
    """Locate the input, detect its formats, check every file's columns.

    required_for(columns) -> (required vendor columns, layout) decides, from a file's header,
    which columns the source needs (allocations: wide or long); a ValueError from it is a
    header the source cannot read. Zip files are unpacked into temporary directories (listed
    in RawInput.staged: the caller removes them, see cleanup())."""

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
    if not is_dir and _suffix_format(entries[0].name) is None:
        raise InputError(
            f"{source}: {path}: unknown file format (want .csv, .csv.gz, .tsv, .zip or .parquet)"
        )
    staged: list[str] = []
    aliases: list[tuple[str, str]] = []
    zips: list[str] = []
    try:
        data: list[storage.FileEntry] = []
        ignored: list[str] = []
        for e in entries:
            fmt = _suffix_format(e.name)
            if fmt == "zip":
                members, tmp, prefix = _unzip(spark, source, e)
                staged.append(tmp)
                aliases.append((prefix, e.uri + "!/"))
                zips.append(e.name)
                for m in members:
                    if _suffix_format(m.name) in ("csv", "parquet"):
                        data.append(m)
                    else:  # a zip inside a zip, or another format
                        ignored.append(e.uri + "!/" + m.uri[len(prefix) :])
            elif fmt is None:
                ignored.append(e.uri)
            else:
                data.append(e)
        if is_dir or zips:
            csvs = [e for e in data if _suffix_format(e.name) == "csv"]
            # empty part files hold nothing (but a lone empty file is an error below)
            data = [e for e in data if not (e in csvs and e.size == 0)] or data[:1]
        if not data:
            what = "zip" if zips and not is_dir else "directory"
            raise InputError(f"{source}: {path}: {what} holds no CSV or Parquet file")
        inp = _check_files(source, path, base, is_dir, data, needs, spark)
    except BaseException:
        cleanup(staged)
        raise
    inp.ignored_files = ignored
    inp.aliases, inp.staged, inp.zips = aliases, staged, zips
    return inp


def _check_files(source, path, base, is_dir, data, needs, spark) -> RawInput:
    """Every local file's header (CSV) or schema (Parquet) against the required columns, and
    each CSV file's end; the common columns."""
    fmts = sorted({_suffix_format(e.name) or "" for e in data})
    fmt = "+".join(fmts)
    columns: list[str] | None = None
    csv_header_seen: tuple[str, list[str]] | None = None
    cut: dict[str, list[str]] = {}
    merge = len(fmts) > 1
    for e in data:
        if e.local is None:
            continue  # remote: checked on the Spark schema below (and by Spark per file)
        is_csv = _suffix_format(e.name) == "csv"
        cols = (
            csv_header(source, e.uri, e.local)
            if is_csv
            else _parquet_columns(source, e.uri, e.local)
        )
        require(source, e.uri, cols, needs(e.uri, cols)[0])
        if is_csv:
            if csv_header_seen is None:
                csv_header_seen = (e.uri, cols)
            elif [c.strip() for c in cols] != [c.strip() for c in csv_header_seen[1]]:
                raise InputError(
                    f"{source}: {e.uri}: header differs from {csv_header_seen[0]}'s "
                    f"({', '.join(cols)} vs {', '.join(csv_header_seen[1])})"
                )
            last = cut_last_line(source, e.uri, e.local, cols)
            if last is not None:
                cut[e.uri] = last
        if columns is None:
            columns = cols
        elif [c.strip() for c in cols] != [c.strip() for c in columns]:
            merge = True
            columns = columns + [c for c in cols if c.strip() not in {x.strip() for x in columns}]
    if csv_header_seen is not None:  # CSV files are read by position under their header
        head = csv_header_seen[1]
        columns = head + [c for c in (columns or []) if c.strip() not in {x.strip() for x in head}]
    files = [e.uri for e in data]
    if columns is None:  # no local file: ask Spark for the schema
        try:
            if fmt == "csv":
                columns = spark.read.option("header", "true").csv(files).columns
                columns[0] = columns[0].removeprefix(BOM)
            elif fmt == "parquet":
                columns = spark.read.option("mergeSchema", "true").parquet(*files).columns
                merge = True
            else:
                raise InputError(
                    f"{source}: {path}: a remote directory must hold one format (CSV or Parquet)"
                )
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{source}: {path}: unreadable: {_short(exc)}") from exc
        require(source, path, columns, needs(path, columns)[0])
    required, layout = needs(path, columns)
    columns = [c.strip() for c in columns]
    ignored_cols = [] if layout == "wide" else [c for c in columns if c not in required]
    csv_columns = [c.strip() for c in csv_header_seen[1]] if csv_header_seen else columns
    inp = RawInput(
        source,
        path,
        base,
        is_dir,
        fmt,
        files,
        columns,
        tuple(required),
        layout,
        [],
        ignored_cols,
        merge,
        sum(e.size for e in data),
        {e.uri: e.size for e in data},
        cut=cut,
        csv_columns=csv_columns,
    )
    return inp


def cleanup(staged: list[str]) -> None:
    """Remove the temporary directories zip files were unpacked into."""
    for d in staged:
        shutil.rmtree(d, ignore_errors=True)


def _read_csv(spark: SparkSession, inp: RawInput, files: list[str], sep: str, whole: bool):
    # the probed names, positionally (the header line is skipped; every file was checked to
    # carry the same header): a byte-order mark in it does no harm. The extra column receives
    # a line whose field count differs from the header's.
    schema = T.StructType(
        [T.StructField(c, T.StringType()) for c in inp.csv_columns or inp.columns]
        + [T.StructField(CORRUPT, T.StringType())]
    )
    # Without this, the line-by-line parser only tokenises the columns a query uses and
    # cannot tell that a line has too few or too many fields.
    spark.conf.set("spark.sql.csv.parser.columnPruning.enabled", "false")
    return (
        spark.read.format("csv")
        .schema(schema)
        .options(
            header="true",
            enforceSchema="true",
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=CORRUPT,
            multiLine=str(whole).lower(),
            quote='"',
            escape='"',  # RFC 4180: a quote inside a quoted field is doubled
            sep=sep,
        )
        .load(files)
    )


def _as_text(df: DataFrame) -> DataFrame:
    """Parquet columns as the text a CSV file would hold (dates as yyyy-mm-dd), to be unioned
    with CSV files in one input."""
    cols = []
    for f in df.schema.fields:
        c = F.col(f"`{f.name}`")
        if isinstance(f.dataType, (T.DateType, T.TimestampType, T.TimestampNTZType)):
            c = F.date_format(c, "yyyy-MM-dd")
        cols.append(c.cast("string").alias(f.name))
    return df.select(*cols)


def _source_file(inp: RawInput) -> Column:
    """The canonical URI of the file a row came from; zip members as zip!/member."""
    c = F.regexp_replace(F.col("_metadata.file_path"), r"^file:/+", "file:///")
    for staged, alias in inp.aliases:
        c = F.regexp_replace(
            c, r"^\Q" + staged + r"\E", alias.replace("\\", "\\\\").replace("$", "\\$")
        )
    return c


def _cut_rows(inp: RawInput, wanted: list[str]) -> Column:
    """True on a cut-short last line: same file, same raw values in the columns read."""
    out = F.lit(False)
    for uri, fields in inp.cut.items():
        cond = F.col("_source_file") == F.lit(inp.shown(uri))
        for i, c in enumerate(inp.csv_columns or inp.columns):
            if c not in wanted:
                continue
            v = fields[i] if i < len(fields) else ""
            cond = cond & (F.coalesce(F.col(f"`{r(c)}`"), F.lit("")) == F.lit(v))
        out = out | cond
    return out


def read(spark: SparkSession, inp: RawInput, vendors: list[str] | None = None) -> DataFrame:
    """The input's columns as read (CSV: strings; Parquet: native types, text when the input
    mixes both) as r__<Vendor>, plus _source_file (the URI of the file each row came from),
    _malformed (a CSV line whose field count differs from the header's, as read; else NULL)
    and _cut (the last line of a file that does not end with a line break). `vendors` narrows
    the columns (wide allocations: every column)."""
    csv_files = [f for f in inp.files if _suffix_format(f) == "csv"]
    pq_files = [f for f in inp.files if _suffix_format(f) == "parquet"]
    frames = []
    groups: dict[tuple[str, bool], list[str]] = {}
    for f in csv_files:
        compressed = f.lower().endswith((".gz", ".bz2"))
        whole = compressed or inp.sizes.get(f, 0) <= WHOLE_FILE_BYTES
        groups.setdefault((_sep(f), whole), []).append(f)
    # _metadata belongs to each file scan: taken before the union
    for (sep, whole), files in groups.items():
        df = _read_csv(spark, inp, files, sep, whole)
        df = df.withColumns({MALFORMED_COL: F.col(CORRUPT), "_source_file": _source_file(inp)})
        frames.append(df.drop(CORRUPT))
    if pq_files:
        df = (
            spark.read.format("parquet")
            .option("mergeSchema", str(inp.merge_schema).lower())
            .load(pq_files)
        )
        df = df.toDF(*[c.strip() for c in df.columns])
        df = df.withColumn("_source_file", _source_file(inp))
        if csv_files:
            df = _as_text(df)
        frames.append(df.withColumn(MALFORMED_COL, F.lit(None).cast("string")))
    df = frames[0]
    for other in frames[1:]:
        df = df.unionByName(other, allowMissingColumns=True)
    wanted = (
        vendors
        if vendors is not None
        else (df.columns if inp.layout == "wide" else list(inp.required))
    )
    wanted = [c for c in wanted if c not in (MALFORMED_COL, "_source_file")]
    out = df.select(  # SQL text: one py4j call per column (a wide file has one per country)
        *[F.expr(f"{storage.sql_name(c)} AS {storage.sql_name(r(c))}") for c in wanted],
        "_source_file",
        F.col(MALFORMED_COL),
    )
    return out.withColumn(CUT_COL, _cut_rows(inp, wanted))


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


def line_rules(inp: RawInput) -> list[reasons.Rule]:
    """The line-level rules (malformed, cut short) every source checks first."""
    from_csv = [f for f in inp.files if _suffix_format(f) == "csv"]
    sep = "\t" if from_csv and all(_sep(f) == "\t" for f in from_csv) else ","
    return reasons.line_rules(len(inp.csv_columns or inp.columns), sep)


def row_content(content: Column) -> Column:
    """A rejected row as the quarantine shows it: the source's JSON of its values, or for a
    malformed line the line itself, as {"line": ...}."""
    line = F.to_json(F.struct(F.col(MALFORMED_COL).alias("line")))
    return F.when(F.col(MALFORMED_COL).isNotNull(), line).otherwise(content)

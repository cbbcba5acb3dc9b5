"""Column helpers that turn raw values (CSV text or Parquet types) into typed silver values.
No Python UDFs: everything is a Spark expression. Raw columns are named r__<Vendor>."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from flowmosaic.storage import sql_name

MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")


def r(vendor: str) -> str:
    """Name of the raw (as read) column of a vendor column inside the pipeline."""
    return f"r__{vendor}"


def rc(vendor: str) -> Column:
    return F.col(f"`{r(vendor)}`")


def dtype(df: DataFrame, vendor: str) -> T.DataType:
    return df.schema[r(vendor)].dataType


# --- the same rules as SQL text: one expression is one py4j call, where building a Column
# costs one per function and operand (a wide allocation file has a column per country)


def as_text_sql(name: str, t: T.DataType) -> str:
    """as_text of the column `name`, as SQL."""
    c = sql_name(name) if isinstance(t, T.StringType) else f"CAST({sql_name(name)} AS STRING)"
    return f"CASE WHEN trim({c}) != '' THEN trim({c}) END"


def as_text(c: Column, t: T.DataType) -> Column:
    """Trimmed text, NULL when blank."""
    s = F.trim(c if isinstance(t, T.StringType) else c.cast("string"))
    return F.when(s != F.lit(""), s)


def blank(c: Column, t: T.DataType) -> Column:
    return as_text(c, t).isNull()


def finite(x: Column) -> Column:
    """x when it is a finite number (x - x is 0 only then), else NULL."""
    return F.when(x - x == F.lit(0.0), x)


def as_double(c: Column, t: T.DataType) -> Column:
    """A finite double, NULL when blank or not a number (NaN and infinities included)."""
    if isinstance(t, T.NumericType):
        return finite(c.cast("double"))
    return finite(as_text(c, t).try_cast("double"))


def as_date(c: Column, t: T.DataType) -> Column:
    """A date from yyyy-mm-dd or yyyymmdd text (or a Parquet date/timestamp) within
    1900-2199, else NULL."""
    if isinstance(t, T.DateType):
        d = c
    elif isinstance(t, (T.TimestampType, T.TimestampNTZType)):
        d = F.to_date(c)
    else:
        s = as_text(c, t)
        d = F.coalesce(F.try_to_date(s, "yyyy-M-d"), F.try_to_date(s, "yyyyMMdd"))
    return F.when(d.between(F.lit(MIN_DATE), F.lit(MAX_DATE)), d)


def as_bool(c: Column, t: T.DataType) -> Column:
    if isinstance(t, T.BooleanType):
        return c
    s = F.lower(as_text(c, t))
    return F.when(s.isin(*TRUE_WORDS), F.lit(True)).when(s.isin(*FALSE_WORDS), F.lit(False))


def shown(c: Column) -> Column:
    """A raw value for a detail message."""
    return F.coalesce(c.cast("string"), F.lit("NULL"))


def row_json(vendors: list[str]) -> Column:
    """The row as read, as JSON with the vendor's column names (nulls kept)."""
    return F.to_json(F.struct(*[rc(v).alias(v) for v in vendors]), {"ignoreNullFields": "false"})


def blank_list(pairs: list[tuple[str, Column]]) -> Column:
    """'blank: A, B' naming the columns whose condition holds."""
    return F.concat(F.lit("blank: "), F.concat_ws(", ", *[F.when(c, F.lit(n)) for n, c in pairs]))

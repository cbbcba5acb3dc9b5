"""Plumbing the sources share: fund ids from mapInPandas batches, the money and id columns
as the files write them, part files concatenated into one file, sizes on disk.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd


def _ids(batches):
    for pdf in batches:
        for i in pdf["id"].to_numpy():
            yield int(i)


def _stack(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    return pd.DataFrame({c: np.concatenate([p[c] for p in parts]) for c in parts[0]})


def _money(name: str, fmt: str):
    """int64 cents -> US$: exact text with 2 decimals for CSV ('-1234.05'), a double for Parquet.

    (String arithmetic on the cents is about twice as fast in Spark as a decimal cast, and a
    double column would be written in scientific notation in CSV.)
    """
    from pyspark.sql import functions as F

    if fmt == "csv":
        return F.concat(
            F.when(F.col(name) < 0, F.lit("-")).otherwise(F.lit("")),
            F.expr(f"cast(div(abs({name}), 100) as string)"),
            F.lit("."),
            F.lpad(F.expr(f"cast(abs({name}) % 100 as string)"), 2, "0"),
        )
    return F.col(name) / F.lit(100.0)


def _fund_id(col: str = "fund"):
    from pyspark.sql import functions as F

    return F.concat(F.lit("F"), F.lpad(F.col(col).cast("string"), 6, "0"))


def _share_id(fund: str = "fund", sc: str = "sc"):
    from pyspark.sql import functions as F

    return F.concat(F.lit("S"), F.lpad((F.col(fund) * 10 + F.col(sc)).cast("string"), 7, "0"))


def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _concat_parts(parts_dir: Path, target: Path, header: str) -> None:
    """One file from Spark's header-less CSV part files, in partition (file name) order."""
    with open(target, "wb") as out:
        out.write(header.encode() + b"\n")
        for part in sorted(parts_dir.glob("part-*")):
            with open(part, "rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)
    shutil.rmtree(parts_dir)

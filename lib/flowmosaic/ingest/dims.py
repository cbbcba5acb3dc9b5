"""Dimension tables (funds, share classes): a batch merged into the table by vendor id, with
integer surrogate keys that never change once given (a new id gets the next free key, new ids
in sorted order). Dimensions are small (thousands to a few hundred thousand rows), so the
merge runs on the driver in pandas and the table is rewritten whole when anything changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Merged:
    table: pd.DataFrame  # the whole dimension after the merge, by key
    new: list[str] = field(default_factory=list)  # ids not in the table before
    updated: list[str] = field(default_factory=list)  # ids whose attributes changed
    # id -> the attributes of it that changed (for the updated ids)
    changes: dict[str, set[str]] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return len(self.new) + len(self.updated)


def _norm(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Comparable values: NaN/NA/None all become None."""
    out = df[cols].astype(object)
    return out.where(pd.notna(out), None)


def merge(
    existing: pd.DataFrame | None,
    batch: pd.DataFrame,
    id_col: str,
    key_col: str,
    columns: list[str],
) -> Merged:
    """existing: the table (key_col, id_col, attributes) or None; batch: unique ids with their
    attributes. Returns the merged table with columns `columns` (key first). An attribute the
    batch does not have (an optional column the delivery left out) keeps its stored value;
    new ids get NULL there."""
    attrs = [c for c in columns if c not in (id_col, key_col) and c in batch.columns]
    absent = [c for c in columns if c not in (id_col, key_col) and c not in batch.columns]
    if existing is None or existing.empty:
        existing = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    old = existing.set_index(id_col)
    b = batch.set_index(id_col)
    known = b.index.isin(old.index)
    new_ids = sorted(b.index[~known])
    updated: list[str] = []
    changes: dict[str, set[str]] = {}
    if known.any():
        ids = b.index[known]
        before = _norm(old.loc[ids].reset_index(), attrs).to_numpy()
        after = _norm(b.loc[ids].reset_index(), attrs).to_numpy()
        for i, x, y in zip(ids, before.tolist(), after.tolist()):
            cols = {a for a, u, v in zip(attrs, x, y) if u != v}
            if cols:
                changes[i] = cols
        updated = sorted(changes)
    start = int(existing[key_col].max()) + 1 if len(existing) else 0
    keys = dict(zip(new_ids, range(start, start + len(new_ids))))
    merged = old.copy()
    for c in attrs if updated else ():
        merged[c] = merged[c].astype(object)
        merged.loc[updated, c] = b.loc[updated, c].astype(object)
    if new_ids:
        add = b.loc[new_ids, attrs].copy()
        add[key_col] = [keys[i] for i in new_ids]
        for c in absent:
            add[c] = None
        merged = pd.concat([merged, add]) if len(merged) else add
    merged = merged.reset_index().rename(columns={"index": id_col})
    merged[key_col] = merged[key_col].astype(np.int32)
    merged = merged.sort_values(key_col, kind="stable").reset_index(drop=True)
    return Merged(merged[columns], new=new_ids, updated=updated, changes=changes)


def local_index(share_classes: pd.DataFrame) -> np.ndarray:
    """Each share class's position among its fund's share classes (0, 1, ... by share_key):
    the bit the fund-day pass uses to see a share class twice on one day."""
    order = share_classes.sort_values(["fund_key", "share_key"], kind="stable")
    idx = order.groupby("fund_key").cumcount()
    return idx.reindex(share_classes.index).to_numpy(dtype=np.int32)

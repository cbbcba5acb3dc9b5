"""Country sums as a matrix product per allocation month (docs/methodology.md, "5. Country
aggregation"; the faster of the two designs measured in docs/benchmarks.md).

For one universe and one allocation month m (the flow dates whose public snapshot is m):

    X (dates x funds)   a measure of the universe's fund-days (flow, assets at start, ...),
                        the selected investor types summed, 0 where the fund did not report
    P (dates x funds)   1 where a fund had a selected share class reporting that day
    W (funds x countries)  m's weights (allocation / 100; 1 in its country for a single-country
                        fund without snapshots), 0 in the fund's domicile for ex-domestic universes
    sums = X W,  fund_count = P (W > 0)

Pure numpy: no Spark here. month_function() runs it inside Spark tasks: the job co-groups the
window's fund-day rows and the weights relation by allocation month (applyInArrow), so each call
sees one month's fund-days and that month's weights, and nothing of either passes through the
driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa

from flowmosaic.calendar import RELEASE_DAY
from flowmosaic.tables import FUND_DAY_MEASURES, INVESTOR_TYPES, fund_day_column

COUNTRY_SCHEMA = (
    "universe string, flow_date date, country string, flow_usd double, "
    "assets_start_usd double, portfolio_change_usd double, fund_count long"
)
INVESTOR_SCHEMA = (
    "universe string, flow_date date, investor_domicile string, "
    "investor_type string, country string, flow_usd double, "
    "assets_start_usd double, portfolio_change_usd double, fund_count long"
)
OUT_MEASURES = ("flow_usd", "assets_start_usd", "portfolio_change_usd")


@dataclass
class UniversePlan:
    """A universe's funds (sorted keys) and what the kernel needs of each."""

    name: str
    fund_keys: np.ndarray  # int64, sorted
    domicile: np.ndarray  # object: ISO2 domicile (or '') per fund
    domicile_country: np.ndarray  # int64: index of the domicile in `countries`, -1 if none
    investor_types: tuple[str, ...]
    ex_domestic: bool


@dataclass
class Weights:
    """Sparse weights: (fund_key, country index, weight) triples: one month's, as its task
    received them, or the single-country funds' (every month; those travel with the task
    function)."""

    fund_keys: np.ndarray  # int32
    country: np.ndarray  # int16
    weight: np.ndarray  # float64

    @classmethod
    def empty(cls) -> Weights:
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int16), np.zeros(0, np.float64))

    def __len__(self) -> int:
        return len(self.fund_keys)


@dataclass
class Plan:
    countries: tuple[str, ...]
    universes: list[UniversePlan]
    months: dict[int, Weights]  # allocation month (days since epoch of its 1st)
    single: Weights = field(default_factory=Weights.empty)  # every month
    investor_grain: bool = False  # by investor domicile and type too


def alloc_month_days(days: np.ndarray) -> np.ndarray:
    """The 23rd rule on dates given as days since 1970-01-01: the first day (same unit) of
    the month whose snapshot is public on each date (calendar.alloc_month)."""
    d = days.astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    day = (d - month.astype("datetime64[D]")).astype(np.int64) + 1
    back = np.where(day >= RELEASE_DAY, 1, 2)
    return (month - back).astype("datetime64[D]").astype(np.int64)


def _dense_weights(
    u: UniversePlan, month: Weights, single: Weights, n_countries: int
) -> np.ndarray:
    """W for the universe's funds (rows in fund_keys order)."""
    w = np.zeros((len(u.fund_keys), n_countries))
    for part in (month, single):
        if not len(part):
            continue
        pos = np.searchsorted(u.fund_keys, part.fund_keys.astype(np.int64))
        ok = (pos < len(u.fund_keys)) & (
            u.fund_keys[np.minimum(pos, len(u.fund_keys) - 1)] == part.fund_keys
        )
        w[pos[ok], part.country[ok]] = part.weight[ok]
    if u.ex_domestic:  # a fund does not count toward its own domicile
        rows = np.flatnonzero(u.domicile_country >= 0)
        w[rows, u.domicile_country[rows]] = 0.0
    return w


def _selected(cols: dict[str, np.ndarray], types: tuple[str, ...], rows: np.ndarray):
    """(values per measure, present) of the selected investor types on `rows`."""
    present = np.zeros(len(rows), dtype=bool)
    values = {m: np.zeros(len(rows)) for m in FUND_DAY_MEASURES}
    for t in types:
        flow = cols[fund_day_column("flow", t)][rows]
        has = ~np.isnan(flow)
        present |= has
        for m in FUND_DAY_MEASURES:
            v = cols[fund_day_column(m, t)][rows]
            values[m] += np.where(has & ~np.isnan(v), v, 0.0)
    return values, present


def _products(
    date_idx: np.ndarray,
    fund_idx: np.ndarray,
    values: dict[str, np.ndarray],
    present: np.ndarray,
    w: np.ndarray,
    n_dates: int,
):
    """(sums per measure, counts): dates x countries. A fund-day is one row, so the
    (date, fund) cells are distinct; only the funds present in the rows take part."""
    funds, col = np.unique(fund_idx, return_inverse=True)
    wf = w[funds]
    out = {}
    for m, v in values.items():
        x = np.zeros((n_dates, len(funds)))
        x[date_idx, col] = np.where(present, v, 0.0)
        out[m] = x @ wf
    p = np.zeros((n_dates, len(funds)))
    p[date_idx, col] = present
    counts = np.rint(p @ (wf > 0).astype(float)).astype(np.int64)
    return out, counts


def compute(plan: Plan, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The kernel over a set of fund-day rows. cols: flow_date (days since epoch, int),
    fund_key, and the fund_days measure columns (NaN where NULL). Returns output columns
    (country grain, or investor grain when plan.investor_grain); dates as days since epoch."""
    out: dict[str, list] = {
        k: []
        for k in (
            "universe",
            "flow_date",
            "investor_domicile",
            "investor_type",
            "country",
            *OUT_MEASURES,
            "fund_count",
        )
    }
    nc = len(plan.countries)
    countries = np.array(plan.countries, dtype=object)
    if not len(cols["flow_date"]):
        return {k: np.array(v) for k, v in out.items()}
    amonth = alloc_month_days(cols["flow_date"])
    for month in np.unique(amonth):
        weights = plan.months.get(int(month), Weights.empty())
        in_month = np.flatnonzero(amonth == month)
        for u in plan.universes:
            if not len(u.fund_keys):  # a universe without funds (indexing would fail)
                continue
            pos = np.searchsorted(u.fund_keys, cols["fund_key"][in_month])
            pos_c = np.minimum(pos, max(len(u.fund_keys) - 1, 0))
            member = (len(u.fund_keys) > 0) & (u.fund_keys[pos_c] == cols["fund_key"][in_month])
            rows, fund_idx = in_month[member], pos_c[member]
            if not len(rows):
                continue
            w = _dense_weights(u, weights, plan.single, nc)
            dates, date_idx = np.unique(cols["flow_date"][rows], return_inverse=True)
            groups = (
                [(None, None, u.investor_types)]
                if not plan.investor_grain
                else [
                    (dom, t, (t,))
                    for dom in np.unique(u.domicile[fund_idx])
                    for t in u.investor_types
                ]
            )
            for dom, itype, types in groups:
                sel = np.ones(len(rows), bool) if dom is None else u.domicile[fund_idx] == dom
                values, present = _selected(cols, types, rows[sel])
                if not present.any():
                    continue
                sums, counts = _products(
                    date_idx[sel], fund_idx[sel], values, present, w, len(dates)
                )
                di, ci = np.nonzero(counts)
                k = len(di)
                out["universe"].append(np.full(k, u.name, dtype=object))
                out["flow_date"].append(dates[di])
                out["investor_domicile"].append(np.full(k, dom, dtype=object))
                out["investor_type"].append(np.full(k, itype, dtype=object))
                out["country"].append(countries[ci])
                out["flow_usd"].append(sums["flow"][di, ci])
                out["assets_start_usd"].append(sums["assets_start"][di, ci])
                out["portfolio_change_usd"].append(sums["portfolio_change"][di, ci])
                out["fund_count"].append(counts[di, ci])
    return {k: (np.concatenate(v) if v else np.array([])) for k, v in out.items()}


def _to_batch(res: dict[str, np.ndarray], investor_grain: bool) -> pa.RecordBatch:
    names = (
        ["universe", "flow_date"]
        + (["investor_domicile", "investor_type"] if investor_grain else [])
        + ["country", *OUT_MEASURES, "fund_count"]
    )
    arrays = {
        "universe": pa.array(
            res["universe"].astype(str) if len(res["universe"]) else [], pa.string()
        ),
        "flow_date": pa.array(
            res["flow_date"].astype("int32") if len(res["flow_date"]) else [], pa.int32()
        ).cast(pa.date32()),
        "investor_domicile": pa.array(list(res["investor_domicile"]), pa.string()),
        "investor_type": pa.array(list(res["investor_type"]), pa.string()),
        "country": pa.array(list(res["country"]), pa.string()),
        **{m: pa.array(res[m], pa.float64()) for m in OUT_MEASURES},
        "fund_count": pa.array(res["fund_count"], pa.int64()),
    }
    return pa.RecordBatch.from_arrays([arrays[n] for n in names], names=names)


def _columns(table: pa.Table) -> dict[str, np.ndarray]:
    """The kernel's input columns of fund-day rows (NaN where NULL)."""
    cols = {
        "flow_date": table.column("flow_date").cast(pa.int32()).to_numpy().astype(np.int64),
        "fund_key": table.column("fund_key").to_numpy().astype(np.int64),
    }
    for t in INVESTOR_TYPES:
        for m in FUND_DAY_MEASURES:
            c = fund_day_column(m, t)
            cols[c] = table.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
    return cols


def month_function(plan: Plan):
    """The cogroup function (applyInArrow): one allocation month's fund-day rows and that
    month's weights (columns m, fund_key, c, w), both from the plan's relations; the kernel
    runs once on them. `plan` carries no month's weights."""
    investor_grain = plan.investor_grain

    def run(key, days: pa.Table, weights: pa.Table) -> pa.Table:
        month = int(key[0].as_py())
        w = Weights(
            weights.column("fund_key").to_numpy().astype(np.int32),
            weights.column("c").to_numpy().astype(np.int16),
            weights.column("w").to_numpy().astype(np.float64),
        )
        res = compute(replace(plan, months={month: w}), _columns(days))
        return pa.Table.from_batches([_to_batch(res, investor_grain)])

    return run

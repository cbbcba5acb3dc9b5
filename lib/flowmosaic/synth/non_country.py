"""Allocation lines that are not countries: Cash, Other and, for bond funds, Supranational.

Vendors' allocation files carry such lines next to the countries, and ingest keeps them in
silver fund_allocations_other, never in a country (conf/destinations.yaml `non_country`,
docs/ingest.md section 8). With them on (`generate(..., non_country_lines=True)`, the default
with the vendor model), allocations.csv gains the columns NON_COUNTRY_COLUMNS after the
country columns (the 52, then the long tail's). Each cross-border fund draws, from a stream of
its own ([seed, 7, fund]), whether it carries each line and a level, and each month a value
around that level:

- Cash: held by CASH_P of the active funds and of the passive ones, a level uniform in
  CASH_LEVEL, at most LINE_MAX["Cash"] (5 %) a month;
- Other: held by OTHER_P (by asset class; passive funds less often), a level uniform in
  OTHER_LEVEL, at most 3 % a month;
- Supranational: bond funds only, SUPRA_P of them, a level uniform in SUPRA_LEVEL, at most 5 %.

The month's value is the level times a lognormal AR(1) factor (LINE_AR), capped. The lines are
taken out of the fund's uninvested rest: 100 minus what the row's country columns hold (the 52
and the long tail, in units of 0.0001 as written). Where the lines would not fit they are
scaled down together to fit; every value is rounded down to 4 decimals, and a value that
rounds to 0 is blank (as is a line the fund does not carry). So a row never sums above 100,
and the country columns, the flows and the market are byte for byte those of the same universe
without the lines: the draws come from the new stream only, and nothing else reads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from flowmosaic.synth.draws import _ar1, _rng

if TYPE_CHECKING:
    from flowmosaic.synth.plan import _Plan

# The columns (labels ingest reads as cash, other, supranational) and their kinds
NON_COUNTRY_COLUMNS = ("Cash", "Other", "Supranational")
NON_COUNTRY_KIND = {"Cash": "cash", "Other": "other", "Supranational": "supranational"}
STREAM = 7  # [seed, 7, fund]
# probability a fund carries the line: (active, passive)
CASH_P = (0.9, 0.6)
OTHER_P = {"E": (0.25, 0.08), "B": (0.35, 0.1), "M": (0.5, 0.15)}
SUPRA_P = 0.4  # bond funds, active or passive
# uniform range of a fund's level, percent: (active, passive) for cash
CASH_LEVEL = ((0.3, 3.0), (0.05, 1.0))
OTHER_LEVEL = (0.1, 1.5)
SUPRA_LEVEL = (0.5, 3.0)
LINE_MAX = {"Cash": 5.0, "Other": 3.0, "Supranational": 5.0}
# month-to-month variation: log-factor AR(1) (phi, stationary sd) per line
LINE_AR = {"Cash": (0.7, 0.4), "Other": (0.6, 0.5), "Supranational": (0.9, 0.2)}


def _line_path(plan: _Plan, prof: dict) -> np.ndarray:
    """(all plan months, 3) percent each line would take, 0 where the fund does not carry it,
    before fitting into the rest. The draws are the same whatever the fund's kind, so the
    stream is used the same way by every fund."""
    n_months = len(plan.months_end)
    rng = _rng(plan.seed, STREAM, prof["idx"])
    u = rng.random(6)
    passive = int(bool(prof["passive"]))
    ac = prof["ac"]
    carries = np.array(
        [
            u[0] < CASH_P[passive],
            u[1] < OTHER_P.get(ac, OTHER_P["E"])[passive],
            ac == "B" and u[2] < SUPRA_P,
        ]
    )
    lo, hi = CASH_LEVEL[passive]
    level = np.array(
        [
            lo + (hi - lo) * u[3],
            OTHER_LEVEL[0] + (OTHER_LEVEL[1] - OTHER_LEVEL[0]) * u[4],
            SUPRA_LEVEL[0] + (SUPRA_LEVEL[1] - SUPRA_LEVEL[0]) * u[5],
        ]
    )
    out = np.zeros((n_months, len(NON_COUNTRY_COLUMNS)))
    for j, col in enumerate(NON_COUNTRY_COLUMNS):
        phi, sd = LINE_AR[col]
        x = _ar1(rng, n_months, 1, phi, sd)[:, 0]
        out[:, j] = np.minimum(level[j] * np.exp(x - 0.5 * sd * sd), LINE_MAX[col])
    return out * carries[None, :]


def fit_lines(want: np.ndarray, held: np.ndarray) -> np.ndarray:
    """(months, lines) percent of the lines in a row whose country columns hold `held`
    (months, columns; NaN blank): `want` rounded down to 4 decimals, all of a month's lines
    scaled down together where they would pass 100 minus the row's countries (in units of
    0.0001, as the file writes them); NaN where 0."""
    countries = np.rint(np.nan_to_num(held) * 1e4).astype(np.int64).sum(axis=1)
    rest = np.maximum(1_000_000 - countries, 0)
    units = np.floor(want * 1e4).astype(np.int64)
    total = units.sum(axis=1)
    over = total > rest
    if over.any():
        scale = rest[over] / total[over]
        units[over] = np.floor(units[over] * scale[:, None]).astype(np.int64)
        # float rounding may leave one unit too many: take it from the largest line
        extra = np.maximum(units[over].sum(axis=1) - rest[over], 0)
        rows = np.flatnonzero(over)
        top = units[rows].argmax(axis=1)
        units[rows, top] -= extra
    return np.where(units > 0, units / 1e4, np.nan)


def non_country_pct(plan: _Plan, prof: dict, ms: np.ndarray, held: np.ndarray) -> np.ndarray:
    """(len(ms), 3) percent of a cross-border fund's non-country lines in the months `ms`
    (indexes into plan.months_end), out of the rest its country columns `held` leave;
    NaN: blank."""
    return fit_lines(_line_path(plan, prof)[ms], held)

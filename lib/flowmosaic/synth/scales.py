"""The scales `generate` knows (ScaleSpec, SCALES): fund count, date range, flow-file format,
planted effects, Spark partitions and the long tail's size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class ScaleSpec:
    n_funds: int
    start: dt.date
    end: dt.date
    fmt: str
    effect: float  # planted effect on equity returns (and yields, unless below)
    partitions: int
    bond_effect: float | None = None  # planted effect on yields; None: `effect`
    tail_countries: int = 0  # destinations beyond the 52 that funds may hold (tail.py)


SCALES: dict[str, ScaleSpec] = {
    "tiny": ScaleSpec(80, dt.date(2019, 1, 1), dt.date(2020, 12, 31), "csv", 1.0, 2),
    # The demo (seed 7), calibrated so its headline TxB Sharpe looks like published flow
    # strategies (tens, not hundreds). Measured on the raw files (country flow % with the 23rd
    # rule, market re-simulated per effect, backtest API defaults), TxB Sharpe at 5/10/20 days:
    #   52 countries, equity returns:  effect 0 -> 80/72/67, 0.02 -> 89/81/74, 0.05 -> 103/94/85,
    #                                   0.1 -> 125/116/104, 0.5 -> 305/286/238 (the old default)
    #   G10 rates, yield spreads:      effect 0 -> -6/1/18, 0.1 -> -52/-42/-20, 0.15 ->
    #                                   -73/-62/-43, 0.2 -> -95/-83/-62, 0.5 -> -226/-199/-165
    # Over 3 years chance alone moves these by about +-60 (sd over 40 other market-noise seeds
    # at the same flows); on average effect 0.1 gives about +50 / -54. Seed 7's equity noise
    # alone gives +80/72/67, so no single effect puts both runs in the tens: equity gets 0.02
    # (mostly luck at seed 7; about +10 on average), yields 0.15 (about -75 on average).
    # With these defaults `flowmosaic demo` shows TxB Sharpe 87/86/78 (t 1.5 at 5 days) for the
    # 52 countries and -75/-62/-43 (t -1.3) for G10 rates (the flows move a little with the
    # effect through the assets, hence 86 rather than 81 at 10 days).
    "small": ScaleSpec(
        2_000, dt.date(2019, 1, 1), dt.date(2021, 12, 31), "csv", 0.02, 4, bond_effect=0.15
    ),
    # 26,000 funds x ~2.7 share classes x 1,564 flow dates x ~0.9 (late starts, early stops)
    "medium": ScaleSpec(26_000, dt.date(2017, 1, 1), dt.date(2022, 12, 31), "parquet", 1.0, 52),
    # 40,000 funds over 10 years: ~2.6x medium's fund-days; allocations also over 140
    # destinations beyond the 52 (192 in all), held in a long tail
    "large": ScaleSpec(
        40_000,
        dt.date(2013, 1, 1),
        dt.date(2022, 12, 31),
        "parquet",
        1.0,
        128,
        tail_countries=140,
    ),
}

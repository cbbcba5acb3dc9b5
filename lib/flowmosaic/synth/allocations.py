"""The allocations file: fund-level monthly weights of the cross-border funds.

Allocations: percent with 4 decimals, fund-level, monthly; concentrated on the held countries,
drifting month to month (AR(1) log-weights), invested fraction 90-99.5 (sum below 100), blank where
the fund holds nothing. With tail_countries > 0 (the 'large' scale: 140) active cross-border funds
of a global, emerging, frontier or regional emerging focus (TAIL_RATE) also hold a few
destinations beyond the 52 (TAIL_ZIPF:
frontier markets likeliest, a long tail of rarely held ones), out of their uninvested rest, drawn
from streams [seed, 4, ...]: the 52 columns, the flows and the market are byte for byte those of
the same universe without the tail. With non_country lines on (the vendor model's default) the
columns NON_COUNTRY_COLUMNS (Cash, Other, Supranational) follow, drawn from streams [seed, 7,
fund] out of what the row's country columns leave (non_country.py): the country columns stay
byte for byte what they are. Months run from 2 months before the fund's first flow date (so the
23rd rule has a snapshot from day one) to the month of its last flow date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flowmosaic.synth.files import _ids
from flowmosaic.synth.funds import _alloc_month_range, _profile
from flowmosaic.synth.non_country import NON_COUNTRY_COLUMNS, non_country_pct
from flowmosaic.synth.plan import _Plan
from flowmosaic.synth.tail import _tail_holdings, tail_pct


def alloc_columns(plan: _Plan, non_country: bool) -> list[str]:
    """The value columns of allocations.csv: the 52, the long tail's, the non-country lines'."""
    return [*plan.countries, *plan.tail, *(NON_COUNTRY_COLUMNS if non_country else ())]


def _alloc_fn(plan: _Plan, non_country: bool = False, batch_rows: int = 20_000):
    nc = len(plan.countries)
    nd = nc + len(plan.tail)
    columns = alloc_columns(plan, non_country)

    def fn(batches):
        buf, size = [], 0
        for idx in _ids(batches):
            _, p = _profile(plan, idx)
            if not p["xb"]:
                continue
            first, last = _alloc_month_range(plan, p)
            ms = np.arange(first, last + 1)
            wide = np.full((len(ms), len(columns)), np.nan)
            wide[:, p["held"]] = p["pct"][ms]
            tail, split, share = _tail_holdings(plan, p)
            if len(tail):
                wide[:, nc + tail] = tail_pct(p["pct"][ms], split, share)
            if non_country:
                wide[:, nd:] = non_country_pct(plan, p, ms, wide[:, :nd])
            df = pd.DataFrame(wide, columns=columns)
            df.insert(0, "fund", np.int32(idx))
            df.insert(0, "day", plan.months_end[ms])
            buf.append(df)
            size += len(df)
            if size >= batch_rows:
                yield pd.concat(buf, ignore_index=True)
                buf, size = [], 0
        if buf:
            yield pd.concat(buf, ignore_index=True)

    return fn

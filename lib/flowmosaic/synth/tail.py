"""The long tail of destinations beyond the 52 (scales with tail_countries > 0, 'large')."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from flowmosaic.config import load_countries
from flowmosaic.synth.draws import _rng

if TYPE_CHECKING:
    from flowmosaic.synth.plan import _Plan


# Long tail of destinations beyond the 52 (scales with tail_countries > 0). Tail country k (in
# TAIL order: frontier markets first, then the other ISO codes, each group in a seeded order) is
# picked with propensity (k + 1) ** -TAIL_ZIPF. An active cross-border fund of a focus below
# holds Poisson(TAIL_RATE[focus]) of them; they take TAIL_SHARE of the fund's uninvested rest
# (100 minus its 52-country weights, 0.8-9.7 %), split by a Dirichlet draw, so the 52 weights,
# the flows and the market are exactly those of the same universe without the tail.
TAIL_ZIPF = 1.1
TAIL_RATE = {
    "Global": 2.0,
    "Global ex-US": 2.0,
    "Global Emerging Markets": 5.0,
    "Frontier Markets": 10.0,
    "EMEA": 3.0,
    "Latin America": 1.5,
    "Asia ex-Japan": 1.0,
    "Asia Pacific": 1.0,
}
TAIL_SHARE = (0.3, 0.8)  # uniform range of the fraction of the uninvested rest
# codes with no investable market (uninhabited or research stations): never a tail destination
NO_MARKET = {"AQ", "BV", "HM", "TF", "UM", "GS", "IO", "PN", "SJ", "CX", "CC", "NF", "TK"}


def tail_destinations(seed: int, n: int) -> tuple[str, ...]:
    """The first n destinations of the long tail (TAIL_ZIPF): codes of conf/destinations.yaml
    outside the 52 with a market, frontier markets first, each group in an order drawn from
    [seed, 4, 0]."""
    if n <= 0:
        return ()
    cs = load_countries()
    rest = [c for c in cs.destinations if c not in cs.published_order and c not in NO_MARKET]
    rng = _rng(seed, 4, 0)
    order: list[str] = []
    for frontier in (True, False):
        group = [c for c in rest if (cs.markets.get(c) == "frontier") == frontier]
        order += [group[i] for i in rng.permutation(len(group))]
    if n > len(order):
        raise ValueError(f"tail_countries {n}: only {len(order)} destinations outside the 52")
    return tuple(order[:n])


def _tail_holdings(plan: _Plan, prof: dict) -> tuple[np.ndarray, np.ndarray, float]:
    """The tail destinations a fund holds (indexes into plan.tail), how they split the tail's
    part, and that part's share of the fund's uninvested rest; stream [seed, 4, 1, fund]."""
    rate = TAIL_RATE.get(prof["focus"], 0.0) if prof["xb"] and not prof["passive"] else 0.0
    none = (np.zeros(0, dtype=int), np.zeros(0), 0.0)
    if not plan.tail or rate == 0.0:
        return none
    rng = _rng(plan.seed, 4, 1, prof["idx"])
    n = min(int(rng.poisson(rate)), len(plan.tail))
    if n == 0:
        return none
    p = (np.arange(len(plan.tail)) + 1.0) ** -TAIL_ZIPF
    held = np.sort(rng.choice(len(plan.tail), size=n, replace=False, p=p / p.sum()))
    return held, rng.dirichlet(np.ones(n)), float(rng.uniform(*TAIL_SHARE))


def tail_pct(pct: np.ndarray, split: np.ndarray, share: float) -> np.ndarray:
    """(months, tail held) percent of the tail destinations: `share` of each month's rest
    (100 minus the row's 52-country percent) split by `split`, 4 decimals rounded down (at
    least 0.0001), so a row never sums above 100."""
    rest = 100.0 - pct.sum(axis=1, keepdims=True)
    return np.maximum(np.floor(rest * share * split[None, :] * 1e4) / 1e4, 0.0001)

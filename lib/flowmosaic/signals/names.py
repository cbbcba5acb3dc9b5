"""The country signals by name and frequency (docs/signals.md). Plain Python, no Spark: the
backtest reads them to know how a signal is looked back."""

from __future__ import annotations

DAILY = ("FloTrend", "FloDiff", "FloDiff2", "ActWtTrend", "ActWtDiff", "ActWtDiff2")
MONTHLY = (
    "AllocMo",
    "AllocTrend",
    "AllocDiff",
    "AllocSkew",
    "Herfindahl",
    "HerfindahlEq",
    "FundCt",
)
SIGNALS = DAILY + MONTHLY
# value = 1 - numerator / denominator (a concentration's complement), not the ratio
COMPLEMENT = ("Herfindahl", "HerfindahlEq")
# value = numerator (a count: no denominator)
COUNTS = ("FundCt",)
RELEASE_DAY = 23  # a month's snapshot is public on the 23rd of the next month

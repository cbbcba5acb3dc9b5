"""The guard before every replacement (docs/ingest.md, "15. The guard before a replacement").

Ingest first checks every source of a run and only then writes any of them. Between the two,
what each batch would write is compared with what its table holds:

- a batch whose rejected share is above `max_rejected_pct` (default 1 % of its rows or
  records);
- a unit the batch replaces that would lose more than `max_drop_pct` (default 10 %) of what it
  holds: a flow date's share-class rows, an allocation month's funds, an external series'
  rows. A unit that holds rows and would hold none always counts, whatever the limit.

Either stops the run before anything is written, with one line naming the source, the file,
the counts and the most common reason (InputError: the CLI exits 2). With force (the CLI's
--force-replace) the run goes on, and the report lists what the replacement removed.
Dimension sources (funds, share classes) never remove rows (ids absent from a batch keep
theirs), so for them only the rejected share is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flowmosaic.config import IngestGuard
from flowmosaic.errors import InputError


class GuardError(InputError):
    """A batch the guard refused: nothing was written."""


@dataclass(frozen=True)
class Drop:
    """A replaced unit that would hold less than it does."""

    unit: str  # "flow date 2024-03-01", "month 2024-03", "series X"
    before: int
    after: int

    @property
    def pct(self) -> float:
        return 100.0 * (self.before - self.after) / self.before if self.before else 0.0

    def describe(self, measure: str) -> str:
        return f"{self.unit}: {self.before:,} -> {self.after:,} {measure}"


@dataclass
class Check:
    """What one source's batch would do, as the guard sees it."""

    source: str
    path: str  # the input as given
    unit: str  # rows | records
    read: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # rejected units by reason
    measure: str = "rows"  # what a drop counts: rows | funds
    drops: list[Drop] = field(default_factory=list)  # every unit that would shrink

    def rejected_pct(self) -> float:
        return 100.0 * self.rejected / self.read if self.read else 0.0

    def over(self, limits: IngestGuard) -> tuple[bool, list[Drop]]:
        """(rejected share above the limit, the drops beyond it)."""
        high = self.read > 0 and self.rejected_pct() > limits.max_rejected_pct
        big = [d for d in self.drops if d.after == 0 or d.pct > limits.max_drop_pct]
        return high, big

    def clause(self, limits: IngestGuard) -> str | None:
        """The part of the refusal line about this source; None when it passes."""
        high, big = self.over(limits)
        if not high and not big:
            return None
        parts = []
        if high:
            top = max(self.reasons.items(), key=lambda kv: kv[1]) if self.reasons else None
            parts.append(
                f"{self.rejected:,} of {self.read:,} {self.unit} rejected "
                f"({self.rejected_pct():.1f} %, limit {limits.max_rejected_pct:g} %"
                + (f"; most common: {top[0]} {top[1]:,}" if top else "")
                + ")"
            )
        if big:
            emptied = [d for d in big if d.after == 0]
            shrunk = [d for d in big if d.after > 0]
            if emptied:
                parts.append(
                    f"{len(emptied)} {_unit_kind(emptied)} would lose all their {self.measure} "
                    f"({_first(emptied)})"
                )
            if shrunk:
                worst = max(shrunk, key=lambda d: d.pct)
                parts.append(
                    f"{len(shrunk)} {_unit_kind(shrunk)} would lose more than "
                    f"{limits.max_drop_pct:g} % of their {self.measure} (worst "
                    f"{worst.describe(self.measure)})"
                )
        return f"{self.source}: {self.path}: " + "; ".join(parts)


def _unit_kind(drops: list[Drop]) -> str:
    kind = drops[0].unit.rsplit(" ", 1)[0]
    return f"{kind}(s)"


def _first(drops: list[Drop], n: int = 3) -> str:
    names = ", ".join(d.unit.rsplit(" ", 1)[-1] for d in drops[:n])
    return names + (f" and {len(drops) - n} more" if len(drops) > n else "")


def evaluate(checks: list[Check], limits: IngestGuard, force: bool) -> list[str]:
    """Raise GuardError (one line) when a check fails and force is off. Returns what the run
    will remove, one line per source, for the report (every shrinking unit, beyond the limits
    or not)."""
    clauses = [c for c in (chk.clause(limits) for chk in checks) if c]
    if clauses and not force:
        raise GuardError(
            " | ".join(clauses)
            + ": nothing was written (fix the files, or ingest --force-replace to replace anyway)"
        )
    removed = []
    for chk in checks:
        if chk.drops:
            lost = sum(d.before - d.after for d in chk.drops)
            removed.append(
                f"{chk.source}: {len(chk.drops)} {_unit_kind(chk.drops)} hold fewer "
                f"{chk.measure} than before ({lost:,} {chk.measure} removed; "
                + ", ".join(d.describe(chk.measure) for d in chk.drops[:3])
                + (" ..." if len(chk.drops) > 3 else "")
                + ")"
            )
    if clauses:
        removed.insert(0, "replaced anyway (force): " + " | ".join(clauses))
    return removed


def drops(before: dict, after: dict, label) -> list[Drop]:
    """Units (keys of `before`) whose count would fall: before[k] > after.get(k, 0). `label`
    names a unit from its key."""
    out = []
    for k in sorted(before):
        b, a = int(before[k]), int(after.get(k, 0))
        if b > 0 and a < b:
            out.append(Drop(label(k), b, a))
    return out

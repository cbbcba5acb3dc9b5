"""What an ingest run did, per source: read = accepted + quarantined (checked), counts by
reason, rows written and copied, the window, notes; describe() prints it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from flowmosaic.ingest.reasons import REASONS
from flowmosaic.ingest.sources import IdentityTolerance


@dataclass
class SourceReport:
    source: str
    table: str
    inputs: list[str]
    fmt: str
    files: int
    layout: str = ""
    read: int = 0  # units read (allocations: records; else rows)
    accepted: int = 0
    quarantined: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    not_stored: int = 0  # accepted but nothing to store (empty lines, zero values)
    written: int | None = None  # rows this run's commit added or changed
    copied: int = 0  # rows of rewritten files that were kept as they were
    lines: int | None = None  # wide allocations: input lines
    identity_breaks: int = 0
    identity_unchecked: int = 0
    identity_breaks_ok_if_forex_flipped: int = 0
    window: tuple[dt.date, dt.date] | None = None
    months: list[dt.date] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def reconciled(self) -> bool:
        return self.read == self.accepted + self.quarantined

    def counts(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "by_reason": dict(self.by_reason),
        }

    def set_reasons(self, counts: dict[str, int]) -> None:
        self.by_reason = {k: int(counts[k]) for k in REASONS if counts.get(k)}
        self.quarantined = sum(self.by_reason.values())


@dataclass
class IngestReport:
    run_id: str
    sources: dict[str, SourceReport]
    tolerance: IdentityTolerance
    tables: dict[str, int] = field(default_factory=dict)  # table -> version written
    quarantine_written: int | None = None
    fund_days_written: int | None = None
    warnings: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # what a guarded replacement removed
    spark_jobs: int | None = None
    seconds: float = 0.0

    @property
    def reconciled(self) -> bool:
        return all(s.reconciled for s in self.sources.values())

    @property
    def quarantined(self) -> int:
        return sum(s.quarantined for s in self.sources.values())

    def describe(self) -> str:
        out = [f"ingest run {self.run_id}"]
        head = (
            f"{'source':<16}{'table':<19}{'read':>11}{'accepted':>11}{'quarantined':>12}"
            f"{'written':>11}  check"
        )
        out += [head, "-" * len(head)]
        for s in self.sources.values():
            check = "ok" if s.reconciled else "MISMATCH"
            written = "-" if s.written is None else str(s.written)
            out.append(
                f"{s.source:<16}{s.table:<19}{s.read:>11}{s.accepted:>11}"
                f"{s.quarantined:>12}{written:>11}  {check}: read "
                f"{'=' if s.reconciled else '!='} accepted + quarantined"
            )
        out.append("")
        for s in self.sources.values():
            extra = [f"{s.fmt}, {s.files} file(s)"]
            if s.layout:
                extra.append(f"{s.layout} layout")
            if s.lines is not None:
                extra.append(f"{s.lines} input lines -> {s.read} records")
            if s.not_stored:
                extra.append(f"{s.not_stored} accepted with nothing to store")
            if s.window:
                extra.append(f"window {s.window[0]}..{s.window[1]}")
            if s.months:
                extra.append(f"months {s.months[0]:%Y-%m}..{s.months[-1]:%Y-%m} ({len(s.months)})")
            if s.copied:
                extra.append(f"{s.copied} rows of rewritten files copied")
            out.append(f"{s.source}: " + "; ".join(extra))
            for r in REASONS:
                if s.by_reason.get(r):
                    out.append(f"    {'quarantined ' + r:<40}{s.by_reason[r]:>10}")
            if s.source == "flows":
                out.append(
                    f"    {'identity breaks (accepted, flagged)':<40}"
                    f"{s.identity_breaks:>10}  [{self.tolerance.describe()}]"
                )
                out.append(
                    f"    {'identity not checkable (blank values)':<40}{s.identity_unchecked:>10}"
                )
                if s.identity_breaks_ok_if_forex_flipped:
                    out.append(
                        f"    {'breaks gone with ForexChange negated':<40}"
                        f"{s.identity_breaks_ok_if_forex_flipped:>10}  (sign convention?)"
                    )
            for n in s.notes:
                out.append(f"    note: {n}")
        if self.fund_days_written is not None:
            out.append(f"fund_days: {self.fund_days_written} fund-day rows written")
        q = self.quarantined
        qw = "-" if self.quarantine_written is None else str(self.quarantine_written)
        out.append(f"quarantine: {q} row(s) this run, {qw} written")
        if self.tables:
            out.append("tables: " + ", ".join(f"{t} v{v}" for t, v in self.tables.items()))
        for line in self.removed:
            out.append(f"removed: {line}")
        for w in self.warnings:
            out.append(f"warning: {w}")
        tail = f"counts reconcile: {'yes' if self.reconciled else 'NO'}"
        if self.spark_jobs is not None:
            tail += f"; {self.spark_jobs} Spark jobs"
        out.append(tail + (f"; {self.seconds:.1f}s" if self.seconds else ""))
        return "\n".join(out)

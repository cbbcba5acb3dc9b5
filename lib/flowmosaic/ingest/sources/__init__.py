"""One spec per raw source: which columns it needs, how its values are parsed, the row checks
in order (first failing rule gives the reason), its duplicate key, how a row is shown in the
quarantine, and how accepted rows are written. The driver (ingest/driver.py) runs them all
the same way; flows add the fund-day pass (ingest/flows.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame

from flowmosaic.ingest.inputs import RawInput
from flowmosaic.ingest.reasons import Rule


@dataclass(frozen=True)
class IdentityTolerance:
    """|AssetsEnd - (AssetsStart + Flow + PortfolioChange + forex_sign x ForexChange)| above
    max(abs_usd, rel x |AssetsStart|) is an identity break (flagged, not dropped)."""

    abs_usd: float = 1.0
    rel: float = 1e-6
    forex_sign: int = 1

    def describe(self) -> str:
        sign = "+" if self.forex_sign >= 0 else "-"
        return (
            f"|AssetsEnd - (AssetsStart + Flow + PortfolioChange {sign} ForexChange)| > "
            f"max({self.abs_usd:g}, {self.rel:g} x AssetsStart)"
        )


@dataclass(frozen=True)
class Context:
    """What the checks need besides the data."""

    known_countries: tuple[str, ...]
    tolerance: IdentityTolerance = IdentityTolerance()
    known_currencies: tuple[str, ...] = ()  # ISO 4217 codes a share class's Currency may be
    # allocation lines that are not countries: normalised label -> kind (config.line_label)
    non_country: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    name: str  # the source as the CLI and the report call it
    table: str  # the silver table it feeds
    candidates: tuple[str, ...]  # its file or directory names inside an --input DIR
    # header columns -> (vendor columns needed, layout); raises nothing (probe checks)
    required_for: Callable[[list[str]], tuple[tuple[str, ...], str]]
    # raw (r__ columns + _source_file) -> typed silver columns beside the raw ones
    parse: Callable[[DataFrame, RawInput, Context], DataFrame]
    # the checks in order, over parse's columns + _dup_n + the reference columns
    rules: Callable[[RawInput, Context], list[Rule]]
    dup_key: tuple[str, ...]  # silver columns whose repetition is a duplicate_key
    content: Callable[[RawInput], Column]  # the record as read, as JSON
    write_mode: str  # dimension | months | series | window | periods (see driver)


def fixed_columns(columns: tuple[str, ...]) -> Callable[[list[str]], tuple[tuple[str, ...], str]]:
    """required_for of a source with one fixed set of columns."""
    return lambda _cols: (columns, "")

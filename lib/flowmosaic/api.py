"""The Python API for notebooks and scripts: one object per warehouse.

    import flowmosaic as fm
    wh = fm.open("warehouse")                     # or fm.open(conf="my-settings.yaml")
    wh.tables()                                   # what the warehouse holds (no JVM)
    cf = wh.country_flows("FloPctCtry", start="2024-01-01")   # pandas, read by delta-rs
    wh.ingest("raw/")                             # computing starts one Spark session ...
    wh.compute_country_flows("FloPctCtry")        # ... and every later call reuses it
    bt = wh.backtest("FloPctCtry", returns="market/equity_index_levels.csv")
    bt.report("out/bt")                           # the HTML report and its CSVs

Reads (tables, history, read, country_flows, investor_flows, hedge_flows, signals,
quarantine, mosaic, hedge_split, coverage, backtest without `record=True`) go through
delta-rs (reader.py) and never start a JVM. Computations (ingest, compute_country_flows,
compute_investor_flows, compute_hedge_flows, compute_signals, compute_coverage, maintain,
backtest with `record=True`) start one Spark session on first need, local or on
the Spark Connect server the settings name (`remote:`, or `remote=` here), and reuse it;
`wh.close()` stops it. The CLI commands call the same functions (docs/api.md lists which).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession

from flowmosaic import country_flows as cf_job
from flowmosaic import maintain as maintain_mod
from flowmosaic import reader
from flowmosaic.backtest import api as bt_api
from flowmosaic.backtest import compare as compare_mod
from flowmosaic.backtest.engine import BacktestParams, BacktestResult
from flowmosaic.backtest.factor import parse_periods
from flowmosaic.backtest.signal import SignalFrames, signal_frames
from flowmosaic.config import Settings, load_countries, load_settings
from flowmosaic.country_flows import hedge as hedge_job
from flowmosaic.country_flows import periods
from flowmosaic.coverage import job as coverage_job
from flowmosaic.coverage import report as coverage_report
from flowmosaic.errors import InputError
from flowmosaic.export import groups as export_groups
from flowmosaic.export.country_matrix import read_wide_csv
from flowmosaic.ingest import ingest_paths
from flowmosaic.ingest.report import IngestReport
from flowmosaic.mosaic import analyses
from flowmosaic.signals import job as signals_job
from flowmosaic.spark.session import get_spark

Day = dt.date | str | None


def _day(value: Day) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return pd.Timestamp(value).date()
    except ValueError as exc:
        raise InputError(f"not a date: {value!r} (want yyyy-mm-dd)") from exc


def _quiet(_message: str) -> None:
    return None


@dataclass
class Backtest:
    """A backtest run: `.result` (the engine's frames: bins, forward returns, bin returns,
    summary), `.summary` (statistic x column per horizon, long form), `.table(h)` (one
    horizon, wide) and `.report(path)` (writes report.html and its CSVs)."""

    result: BacktestResult
    source: str
    source_version: int | None

    @property
    def summary(self) -> pd.DataFrame:
        return self.result.summary

    @property
    def factor(self):
        """Factor analytics: rank IC, quantile means, sub-periods (FactorResult)."""
        return self.result.extras["factor"]

    def table(self, horizon: int | None = None) -> pd.DataFrame:
        return self.result.summary_wide(horizon or self.result.horizons[0])

    def value(self, horizon: int, statistic: str, column: str = "TxB") -> float:
        return self.result.value(horizon, statistic, column)

    def report(self, out_dir: str | Path) -> Path:
        """Write report.html and the CSVs into out_dir; -> the report's path."""
        meta = self.result.extras.get("meta", {})
        paths = bt_api.write_outputs(self.result, self.factor, out_dir, meta)
        self.result.extras["paths"] = paths
        return paths["report.html"]

    def __repr__(self) -> str:
        h = self.result.horizons[0]
        return (
            f"Backtest({self.source} version {self.source_version}: TxB h={h} "
            f"AnnMn {self.value(h, 'AnnMn'):.4g}, Sharpe {self.value(h, 'Sharpe'):.3g}, "
            f"t-stat {self.value(h, 'TStat'):.3g})"
        )

    def _repr_html_(self) -> str:
        return f"<p><b>{self.__repr__()}</b></p>" + self.table().to_html(float_format="%.4g")


class Warehouse:
    """A flowmosaic warehouse (local directory or s3a:// prefix) and, once something needs
    computing, one Spark session. See the module docstring for what reads and what computes."""

    def __init__(self, settings: Settings, progress: Callable[[str], None] | None = None):
        self.settings = settings
        self.progress = progress or _quiet
        self._spark: SparkSession | None = None

    def __repr__(self) -> str:
        where = f", remote={self.settings.remote!r}" if self.settings.remote else ""
        started = "started" if self._spark is not None else "not started"
        return f"Warehouse({self.settings.warehouse!r}{where}; Spark {started})"

    # -- the session ---------------------------------------------------------------------

    @property
    def spark(self) -> SparkSession:
        """The Spark session, started on first use (local, or Connect with `remote`)."""
        if self._spark is None:
            self._spark = get_spark(self.settings, app_name="flowmosaic-api")
        return self._spark

    @property
    def spark_started(self) -> bool:
        return self._spark is not None

    def close(self) -> None:
        """Stop the session if this object started one (reads keep working)."""
        if self._spark is not None:
            self._spark.stop()
            self._spark = None

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reads (delta-rs, no JVM) ----------------------------------------------------------

    def tables(self) -> pd.DataFrame:
        """Every table: whether it exists, its version, rows and files (from the log), its
        last commit."""
        return reader.tables(self.settings)

    def history(self, table: str, limit: int | None = None) -> pd.DataFrame:
        """A table's commits, newest first, with the job and parameters each recorded."""
        return reader.history(self.settings, table, limit)

    def read(
        self,
        table: str,
        *,
        version: int | None = None,
        columns: Sequence[str] | None = None,
        filters: list[tuple[str, str, Any]] | None = None,
        to: str = "pandas",
    ):
        """Any table's rows: pandas (default), to="arrow" or to="polars"; filters are
        (column, op, value) triples, e.g. [("universe", "=", "FloPctCtry")]."""
        return reader.read(
            self.settings, table, version=version, columns=columns, filters=filters, to=to
        )

    def _gold(
        self,
        table: str,
        universe: str,
        start: Day,
        end: Day,
        version,
        extra,
        to,
        column="flow_date",
    ):
        window = reader.window_filters(_day(start), _day(end), column)
        filters = [("universe", "=", universe), *window]
        rows = self.read(table, version=version, filters=filters + list(extra), to=to)
        if len(rows) == 0:
            present = self.read(table, version=version, columns=["universe"])["universe"]
            if universe not in set(present):
                raise InputError(
                    f"{table}: universe {universe!r} has no rows; universes present: "
                    f"{', '.join(sorted(set(present))) or 'none'}"
                )
        return rows

    def country_flows(
        self,
        universe: str,
        start: Day = None,
        end: Day = None,
        *,
        countries: str | Sequence[str] | None = None,
        wide: str | None = None,
        frequency: str = "daily",
        version: int | None = None,
        to: str = "pandas",
    ):
        """gold country_flows of one universe, long (one row per flow date and country), or
        wide=COLUMN (e.g. "flow_pct"): flow dates x countries in published order. countries:
        a group ("G10", "DM") or codes. frequency="weekly" or "monthly": the periodic tables
        (weekly_country_flows / monthly_country_flows, dated at period_end) over every fund
        able to report at that grain."""
        codes = self._countries(countries)
        extra = [("country", "in", list(codes))] if codes else []
        name, column = _country_table(frequency)
        rows = self._gold(name, universe, start, end, version, extra, to, column)
        if wide is None:
            return rows
        if to != "pandas":
            raise InputError("wide= returns pandas; leave to= at its default")
        return self._wide(rows, wide, codes, column)

    def group_flows(
        self,
        universe: str,
        start: Day = None,
        end: Day = None,
        *,
        groups: str | None = None,
        frequency: str = "daily",
        version: int | None = None,
    ) -> pd.DataFrame:
        """Country groups' flows of one universe (long: date, group, flow_usd,
        assets_start_usd, flow_pct, countries): a group's flow % is 100 x the sum of its
        members' flow_usd / the sum of their assets_start_usd. groups: 'regions', 'markets',
        names such as "G10,EM", or None (every group of conf/countries.yaml)."""
        chosen = export_groups.resolve_groups(groups)
        _, column = _country_table(frequency)
        rows = self.country_flows(universe, start, end, frequency=frequency, version=version)
        return export_groups.group_flows(rows, chosen, column)

    def investor_flows(
        self,
        universe: str,
        start: Day = None,
        end: Day = None,
        *,
        country: str | None = None,
        version: int | None = None,
        to: str = "pandas",
    ):
        """gold investor_country_flows (the mosaic: by investor domicile and type) of one
        universe, optionally one destination country."""
        extra = [("country", "=", country.upper())] if country else []
        return self._gold("investor_country_flows", universe, start, end, version, extra, to)

    def hedge_flows(
        self,
        universe: str,
        start: Day = None,
        end: Day = None,
        *,
        country: str | None = None,
        version: int | None = None,
        to: str = "pandas",
    ):
        """gold investor_hedge_flows (by investor domicile and the share classes' hedge
        status: hedged, unhedged, unknown) of one universe, optionally one destination."""
        extra = [("country", "=", country.upper())] if country else []
        return self._gold("investor_hedge_flows", universe, start, end, version, extra, to)

    def signals(
        self,
        universe: str,
        start: Day = None,
        end: Day = None,
        *,
        signal: str | None = None,
        wide: bool = False,
        version: int | None = None,
        to: str = "pandas",
    ):
        """gold country_signals of one universe (docs/signals.md): long, one row per (date,
        country, signal) with value, numerator and denominator; dated when each signal is
        known. wide=True (with one signal=NAME): dates x countries of its values."""
        extra = [("signal", "=", signal)] if signal else []
        rows = self._gold("country_signals", universe, start, end, version, extra, to, "date")
        if not wide:
            return rows
        if to != "pandas" or not signal:
            raise InputError("wide=True needs one signal= and returns pandas")
        return rows.pivot_table(index="date", columns="country", values="value", dropna=False)

    def quarantine(self, source_table: str | None = None) -> pd.DataFrame:
        """Rejected input rows with their reasons (optionally of one silver table)."""
        filters = [("source_table", "=", source_table)] if source_table else None
        return self.read("quarantine", filters=filters)

    def mosaic(
        self,
        country: str,
        universe: str,
        start: Day = None,
        end: Day = None,
        *,
        freq: str = "W",
        offshore: Sequence[str] = analyses.OFFSHORE_DOMICILES,
    ) -> pd.DataFrame:
        """Flows into `country` by investor group (domestic, foreign, offshore) and type, per
        day (D), week (W, default) or month (M): docs/mosaic.md explains every column."""
        icf = self.investor_flows(universe, start, end)
        icf["flow_date"] = pd.to_datetime(icf["flow_date"])
        return analyses.domestic_foreign_flows(
            icf, country.upper(), universe, freq, offshore=tuple(offshore)
        )

    def hedge_split(
        self,
        country: str,
        universe: str,
        start: Day = None,
        end: Day = None,
        *,
        freq: str = "D",
        group: str = "foreign",
        offshore: Sequence[str] = analyses.OFFSHORE_DOMICILES,
    ) -> pd.DataFrame:
        """One investor group's (default: foreign) flows into `country` through hedged,
        unhedged and unknown share classes, the currency flow they imply and the hedge ratio
        of its holdings, per day (D, default), week or month (docs/mosaic.md)."""
        ihf = self.hedge_flows(universe, start, end)
        return analyses.hedge_split(
            ihf, country.upper(), universe, freq, group=group, offshore=tuple(offshore)
        )

    def home_bias(self, universe: str, start: Day = None, end: Day = None) -> pd.DataFrame:
        """Monthly home bias of each fund domicile (docs/mosaic.md)."""
        icf = self.investor_flows(universe, start, end)
        icf["flow_date"] = pd.to_datetime(icf["flow_date"])
        return analyses.home_bias(icf, universe)

    def coverage(
        self,
        universe: str,
        *,
        period: str | None = None,
        version: int | None = None,
        to: str = "pandas",
    ):
        """gold coverage of one universe (docs/coverage.md): per year and month, the funds and
        month-end assets of all funds, of the universe's funds, of its daily reporters and of
        those with allocations; period="year" or "month" keeps one kind. pandas rows come
        years first, then months, in date order."""
        if period not in (None, "year", "month"):
            raise InputError(f"period must be 'year' or 'month', not {period!r}")
        extra = [("period", "=", period)] if period else []
        rows = self._gold("coverage", universe, None, None, version, extra, to, "period_start")
        if to != "pandas":
            return rows
        order = rows.sort_values(["period", "period_start"], ascending=[False, True])
        return order.reset_index(drop=True)

    # -- computations (one Spark session) -------------------------------------------------

    def ingest(
        self,
        input: str | Path | None = None,
        *,
        flows: str | Path | None = None,
        funds: str | Path | None = None,
        share_classes: str | Path | None = None,
        allocations: str | Path | None = None,
        weekly_flows: str | Path | None = None,
        monthly_flows: str | Path | None = None,
        force_replace: bool = False,
    ) -> IngestReport:
        """Raw files -> silver tables, as `flowmosaic ingest` (docs/ingest.md): a directory
        (`input`) or files per source; returns the report (counts, quarantine, notes)."""

        def text(path: str | Path | None) -> str | None:
            return None if path is None else str(path)

        given = (input, flows, funds, share_classes, allocations, weekly_flows, monthly_flows)
        if all(v is None for v in given):
            raise InputError("ingest needs a directory (input=) or at least one file")
        return ingest_paths(
            self.spark,
            self.settings,
            directory=text(input),
            flows=text(flows),
            share_classes=text(share_classes),
            funds=text(funds),
            allocations=text(allocations),
            weekly_flows=text(weekly_flows),
            monthly_flows=text(monthly_flows),
            force_replace=force_replace,
            progress=self.progress,
        )

    def compute_country_flows(
        self, universe: str | Sequence[str], start: Day = None, end: Day = None, **options: Any
    ) -> cf_job.CountryFlowsRun:
        """silver -> gold country_flows over a window, as `flowmosaic country-flows`;
        options: alloc_month (recompute what that month's snapshot serves), max_age_months
        (carry-forward), engine ("matrix" or "join"), universes_path (a universes YAML);
        frequency="weekly" or "monthly" computes weekly_country_flows / monthly_country_flows
        instead (periods ending in the window; universes_path is the one option they take)."""
        frequency = options.pop("frequency", "daily")
        if frequency != "daily":
            if set(options) - {"universes_path"}:
                raise InputError(
                    f"{frequency} country flows take no {', '.join(sorted(options))} option"
                )
            names = universe if isinstance(universe, str) else ",".join(universe)
            return periods.run(
                self.spark,
                self.settings,
                names,
                frequency,
                _day(start),
                _day(end),
                options.get("universes_path"),
                progress=self.progress,
            )
        return self._compute("country", universe, start, end, **options)

    def compute_investor_flows(
        self, universe: str | Sequence[str], start: Day = None, end: Day = None, **options: Any
    ) -> cf_job.CountryFlowsRun:
        """silver -> gold investor_country_flows, as `flowmosaic mosaic-flows --no-hedge`
        (compute_hedge_flows writes the hedge split); the options of compute_country_flows."""
        return self._compute("investor", universe, start, end, **options)

    def compute_hedge_flows(
        self,
        universe: str | Sequence[str],
        start: Day = None,
        end: Day = None,
        *,
        alloc_month: Day = None,
        max_age_months: int = 0,
        universes_path: str | None = None,
    ) -> cf_job.CountryFlowsRun:
        """silver share_class_flows + share_classes -> gold investor_hedge_flows over a
        window, as the second step of `flowmosaic mosaic-flows` (the first is
        compute_investor_flows); Spark joins only, so no engine option."""
        return hedge_job.run(
            self.spark,
            self.settings,
            **_window(universe, start, end, alloc_month),
            max_age_months=max_age_months,
            universes_path=universes_path,
            progress=self.progress,
        )

    def _compute(
        self,
        grain: str,
        universe: str | Sequence[str],
        start: Day,
        end: Day,
        *,
        alloc_month: Day = None,
        max_age_months: int = 0,
        engine: str = "matrix",
        universes_path: str | None = None,
    ) -> cf_job.CountryFlowsRun:
        return cf_job.run(
            self.spark,
            self.settings,
            **_window(universe, start, end, alloc_month),
            max_age_months=max_age_months,
            universes_path=universes_path,
            engine=engine,
            grain=grain,
            progress=self.progress,
        )

    def compute_signals(
        self,
        universe: str | Sequence[str],
        start: Day = None,
        end: Day = None,
        *,
        signals: str | Sequence[str] | None = None,
        universes_path: str | None = None,
    ) -> signals_job.SignalsRun:
        """silver -> gold country_signals over a window, as `flowmosaic signals`; signals:
        names (default: every signal of docs/signals.md)."""
        names = universe if isinstance(universe, str) else ",".join(universe)
        return signals_job.run(
            self.spark,
            self.settings,
            names,
            start=_day(start),
            end=_day(end),
            signals=signals,
            universes_path=universes_path,
            progress=self.progress,
        )

    def compute_coverage(
        self,
        universe: str | Sequence[str],
        *,
        out: str | Path | None = None,
        synthetic: bool = False,
        universes_path: str | None = None,
    ) -> coverage_job.CoverageRun:
        """silver -> gold coverage of the universes, as `flowmosaic coverage`: the run, with
        the rows written (`.rows`, `.of(universe)`); out= also writes coverage-<U>.csv and
        coverage-<U>.html per universe into that directory."""
        names = universe if isinstance(universe, str) else ",".join(universe)
        run = coverage_job.run(
            self.spark, self.settings, names, universes_path=universes_path, progress=self.progress
        )
        if out is not None:
            coverage_report.write_run(run, out, {"synthetic": synthetic, **run.meta(self.settings)})
        return run

    def maintain(self, tables: Sequence[str] | None = None) -> maintain_mod.MaintainReport:
        """Compact and clean the tables, keeping every version a backtest pinned, as
        `flowmosaic maintain` (docs/consumers.md, section 7)."""
        return maintain_mod.maintain(
            self.spark, self.settings, tables=list(tables) if tables else None, progress=None
        )

    def backtest(
        self,
        universe: str,
        returns: str | Path | pd.DataFrame,
        *,
        countries: str | Sequence[str] | None = None,
        version: int | None = None,
        spreads: bool = False,
        periods: str | None = None,
        record: bool = False,
        signal: str | None = None,
        **params: Any,
    ) -> Backtest:
        """The quintile backtest of a universe's daily flow % (docs/methodology.md, section
        8) against a market file (path, or a frame: dates x ISO2 columns); params are
        BacktestParams fields (lookback, lag, delay, bins, trade_day, horizons, ...).
        signal=NAME backtests that country signal of gold country_signals instead
        (docs/signals.md): a daily one pooled over the look-back (pooled=False: its values
        summed), a monthly one's latest value. version: of the table read.
        record=True also appends the run to gold backtest_runs (starts Spark)."""
        codes = self._countries(countries)
        table = "country_signals" if signal else "country_flows"
        frames = None
        if signal:
            rows = self.signals(universe, signal=signal, version=version)
            frames = SignalFrames.from_rows(rows, signal, codes)
            flows = None
        else:
            flows = self.country_flows(universe, countries=codes, version=version, wide="flow_pct")
        used = (
            version if version is not None else reader.delta_table(self.settings, table).version()
        )
        market = returns if isinstance(returns, pd.DataFrame) else read_wide_csv(returns)
        pooled = params.pop("pooled", True)
        p = BacktestParams.coerce({**params, "spreads": spreads}).for_signal(signal, pooled)
        source = f"{self.settings.table_path(table)}:{universe}" + (f":{signal}" if signal else "")
        meta = {"source": source, "source_version": used, "countries": countries or "all"}
        result = bt_api.run(
            flows,
            market,
            p,
            None,
            meta,
            periods=parse_periods(periods) or None,
            signal_input=frames,
        )
        if record:
            bt_api.record_run(self.spark, self.settings, result)
        return Backtest(result, source, used)

    def compare_signals(
        self,
        universe: str,
        returns: str | Path | pd.DataFrame,
        *,
        signals: str | Sequence[str] | None = None,
        flow_pct: bool = True,
        countries: str | Sequence[str] | None = None,
        spreads: bool = False,
        periods: str | None = None,
        pooled: bool = True,
        out: str | Path | None = None,
        synthetic: bool = False,
        **params: Any,
    ) -> compare_mod.Comparison:
        """Flow % and the universe's country signals (default: every signal gold
        country_signals holds for it) through the same backtest, as `flowmosaic
        compare-signals`: a Comparison with .performance, .ic, .turnover, .correlation,
        .years and .results (one backtest per signal); out= also writes compare.html and its
        CSVs. params: BacktestParams fields, as for backtest()."""
        codes = self._countries(countries)
        wanted = [signals] if isinstance(signals, str) else list(signals or [])
        rows = self.signals(universe)
        if codes:
            rows = rows[rows["country"].isin(codes)]
        frames = signal_frames(rows, wanted or None, codes, f"country_signals ({universe})")
        flows = self.country_flows(universe, countries=codes, wide="flow_pct") if flow_pct else None
        market = returns if isinstance(returns, pd.DataFrame) else read_wide_csv(returns)
        p = BacktestParams.coerce({**params, "spreads": spreads})
        comp = compare_mod.run_all(
            flows, frames, market, p, periods=parse_periods(periods) or None, pooled=pooled
        )
        if out is not None:
            meta = {"universe": universe, "warehouse": self.settings.warehouse}
            compare_mod.write(comp, out, {**meta, "synthetic": synthetic})
        return comp

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _countries(spec: str | Sequence[str] | None) -> tuple[str, ...] | None:
        if spec is None:
            return None
        text = spec if isinstance(spec, str) else ",".join(spec)
        return load_countries().resolve(text)

    @staticmethod
    def _wide(
        rows: pd.DataFrame, value: str, codes: tuple[str, ...] | None, index: str = "flow_date"
    ) -> pd.DataFrame:
        if value not in rows.columns:
            raise InputError(f"wide={value!r} is not a column of country_flows")
        wide = rows.pivot(index=index, columns="country", values=value)
        order = list(codes or load_countries().published_order)
        cols = [c for c in order if c in wide.columns] + sorted(
            c for c in wide.columns if c not in order
        )
        wide = wide.reindex(columns=cols if codes is None else list(codes))
        wide = wide.dropna(axis=1, how="all") if codes else wide
        wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index), name="date")
        wide.columns.name = None
        return wide.sort_index().astype(float)


def _window(universe: str | Sequence[str], start: Day, end: Day, alloc_month: Day) -> dict:
    """The universes and window arguments of the country-flows jobs."""
    month = _day(alloc_month)
    return {
        "universe_names": universe if isinstance(universe, str) else ",".join(universe),
        "start": _day(start),
        "end": _day(end),
        "alloc_month": month.replace(day=1) if month else None,
    }


def _country_table(frequency: str) -> tuple[str, str]:
    """The country-flows table of a frequency and its date column."""
    if frequency == "daily":
        return "country_flows", "flow_date"
    if frequency in ("weekly", "monthly"):
        return f"{frequency}_country_flows", "period_end"
    raise InputError(f"frequency must be daily, weekly or monthly, not {frequency!r}")


def open(
    warehouse: str | Path | None = None,
    *,
    conf: str | Path | None = None,
    remote: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Warehouse:
    """A warehouse: `warehouse` (a directory or s3a:// URI) over the settings file `conf`
    (default conf/local.yaml or $FLOWMOSAIC_CONF); `remote` (sc://host:port) runs the
    computations on a Spark Connect server. progress: a function given each progress line
    of long computations (default: silent)."""
    settings = load_settings(conf, warehouse=str(warehouse) if warehouse else None, remote=remote)
    return Warehouse(settings, progress)

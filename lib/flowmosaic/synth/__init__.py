"""Synthetic fund universe, generated in parallel by Spark and deterministic per seed.

`generate(spark, out, scale=..., seed=..., fmt=..., effect=..., mosaic=True, vendor_model=True)`
writes, under `out`:

    funds.csv                FundId,AssetClass,GeographicFocus,CrossBorder,Domicile,
                             ActivePassive,Vehicle
    share_classes.csv        ShareId,FundId,InvestorType,Currency,Hedged (the last two: the
                             vendor model's; ISO 4217 code, true/false)
    flows/                   part files written by Spark (CSV with header, or Parquet), the
                             daily reporters: ReportDate,ShareId,FundId,Flow,AssetsStart,
                             AssetsEnd,PortfolioChange,ForexChange
    weekly_flows.<csv|parquet>   the vendor model's: one file, the flows' columns, the
                             weekly-only reporters' full weeks, dated on Wednesdays
    monthly_flows.<csv|parquet>  the vendor model's: one file, the flows' columns, every fund's
                             full calendar months, dated at month ends
    allocations.csv          wide: ReportDate (month end),FundId,<52 ISO2 columns, published order>
                             [,<the long tail's ISO2 columns (TAIL_ZIPF), at 'large'>]
                             [,Cash,Other,Supranational: lines that are not countries, out of
                             the row's uninvested rest (the vendor model's; non_country.py)]
    market/returns_daily.csv date (yyyymmdd), 52 ISO2 columns: daily total return in percent,
                             all weekdays
    market/yields_10y.csv    date (yyyymmdd), G10 columns: 10-year yield level in percent,
                             all weekdays
    market/external_series.csv  long: date (yyyy-mm-dd),series,country,value,unit,frequency
    manifest.json            scale, seed, effect, mosaic, date range, counts, paths, sizes, seconds,
                             the mosaic scenario's window, groups and planted US$ totals, the
                             external series list, the reporter mix by year

Determinism: every fund draws from its own numpy
Generator(PCG64(SeedSequence([seed, 1, fund_index]))), in a fixed order (attributes, share
classes, allocation path, then flows), inside mapInPandas over
spark.range(n_funds, numPartitions=k). The market (latent flow factors, returns, yields) comes from
SeedSequence([seed, 0, k]) streams on the driver and is shipped in the closure. spark.range splits
the ids into contiguous ranges and each task writes its funds in id order, so the part files, read
in name order, hold byte-identical rows whatever k is (and allocations.csv is one such
concatenation). The mosaic scenario draws only from new streams ([seed, 2, ...]) and the external
series from [seed, 3, k], and changes funds only after their draws: with mosaic=False every file
but manifest.json and external_series.csv is byte for byte what the generator wrote before the
scenario existed, and with it on, everything outside the scenario's groups stays the same.
The vendor model (reporters.py, currencies.py, periodic.py, hedging.py) adds funds with ids
after those and draws only from new streams: with vendor_model=False every file but
manifest.json is what the generator wrote before it existed, and with it on, those files'
rows come first and unchanged (the daily flows' part files are the same files, the new daily
reporters' in parts of their own after them; the market and the external series do not see the
new funds). With it come the allocation lines that are not countries (non_country.py; their own
switch non_country_lines, on by default with the vendor model): columns after the country
columns, drawn from a new stream out of each row's uninvested rest, so each line of
allocations.csv is the line without them followed by the three values.

Modules, one per generated source after the shared pieces (each module's docstring is the spec
of what it makes):

    scales.py           ScaleSpec, SCALES
    universe.py         static tables: market caps, bond tilts, regions, foci, fund mixes
    draws.py            the random streams and the draws every source shares
    market.py           latent flow factors, the planted effects, returns and yields
    scenario.py         the mosaic scenario: window, launched funds, US-weight drift, planting
    hedging.py          the scenario's hedging plant: foreign money into hedged US bond classes
    reporters.py        the vendor's reporter mix: the roster of funds by id, sizes, the mix
    plan.py             the workers' plan (calendar, reporting periods, factors, market, ...)
    tail.py             the long tail of destinations beyond the 52
    non_country.py      allocation lines that are not countries (Cash, Other, Supranational)
    currencies.py       share classes' Currency and Hedged
    funds.py            fund profiles; funds.csv and share_classes.csv
    allocations.py      allocations.csv
    flows.py            flows/ (daily)
    periodic.py         weekly_flows and monthly_flows
    scenario_totals.py  the driver's recount of the scenario's groups, the flows into JP and
                        the hedging plant's flows into US bonds
    external.py         market/external_series.csv
    files.py            ids, money columns and part files as the files write them
    generate.py         generate(): the orchestration and manifest.json

Random streams (SeedSequence keys after the seed): [0, k] the market, [1, fund] a usual fund,
[2, ...] the mosaic scenario ([2, 2, j] and [2, 3] its hedging plant), [3, k] the external
series, [4, ...] the long tail, [5, fund] share-class currencies, [6, group, j] the vendor
model's new reporters, [7, fund] the allocation lines that are not countries.
"""

from flowmosaic.synth.currencies import CURRENCY, HEDGE_P
from flowmosaic.synth.draws import _ar1, _rng
from flowmosaic.synth.external import EXTERNAL_COLUMNS, EXTERNAL_SERIES, external_series
from flowmosaic.synth.flows import FLOW_COLUMNS
from flowmosaic.synth.funds import FUND_COLUMNS, SHARE_CLASS_COLUMNS
from flowmosaic.synth.generate import GenerateSummary, generate
from flowmosaic.synth.hedging import HEDGE_DOMICILES, HEDGED_US_INFLOW, UNHEDGED_US_OUTFLOW
from flowmosaic.synth.market import (
    ALLOC_TILT_SD,
    BURN_IN,
    EFFECT_LAG,
    K_ALLOC,
    K_RET,
    K_YLD,
    LOOKBACK,
    alloc_shocks,
    alloc_tilt,
    compounded,
    flow_signal,
    mixing_matrix,
    simulate_latent,
    simulate_market,
    zscore_rows,
)
from flowmosaic.synth.non_country import (
    LINE_MAX,
    NON_COUNTRY_COLUMNS,
    NON_COUNTRY_KIND,
    fit_lines,
)
from flowmosaic.synth.reporters import VENDOR_FI_2019
from flowmosaic.synth.scales import SCALES, ScaleSpec
from flowmosaic.synth.scenario import (
    FLOW_DAYS_PER_YEAR,
    FOREIGN_JP_INFLOW,
    FUNDS_PER_LAUNCH,
    JP_RETAIL_OUTFLOW,
    MOSAIC_MONTHS,
    OFFSHORE,
    US_BOND_DRIFT,
    drift_us,
    mosaic_window,
)
from flowmosaic.synth.tail import NO_MARKET, TAIL_RATE, TAIL_ZIPF, tail_destinations, tail_pct
from flowmosaic.synth.universe import FOCUS

__all__ = [
    "ALLOC_TILT_SD",
    "CURRENCY",
    "HEDGED_US_INFLOW",
    "HEDGE_DOMICILES",
    "HEDGE_P",
    "UNHEDGED_US_OUTFLOW",
    "VENDOR_FI_2019",
    "BURN_IN",
    "EFFECT_LAG",
    "EXTERNAL_COLUMNS",
    "EXTERNAL_SERIES",
    "FLOW_COLUMNS",
    "FLOW_DAYS_PER_YEAR",
    "FOCUS",
    "FOREIGN_JP_INFLOW",
    "FUNDS_PER_LAUNCH",
    "FUND_COLUMNS",
    "JP_RETAIL_OUTFLOW",
    "K_ALLOC",
    "K_RET",
    "K_YLD",
    "LINE_MAX",
    "LOOKBACK",
    "MOSAIC_MONTHS",
    "NON_COUNTRY_COLUMNS",
    "NON_COUNTRY_KIND",
    "NO_MARKET",
    "OFFSHORE",
    "SCALES",
    "SHARE_CLASS_COLUMNS",
    "TAIL_RATE",
    "TAIL_ZIPF",
    "US_BOND_DRIFT",
    "GenerateSummary",
    "ScaleSpec",
    "_ar1",
    "_rng",
    "alloc_shocks",
    "alloc_tilt",
    "compounded",
    "drift_us",
    "external_series",
    "fit_lines",
    "flow_signal",
    "generate",
    "mixing_matrix",
    "mosaic_window",
    "simulate_latent",
    "simulate_market",
    "tail_destinations",
    "tail_pct",
    "zscore_rows",
]

"""Synthetic fund universe, generated in parallel by Spark and deterministic per seed.

`generate(spark, out, scale=..., seed=..., fmt=..., effect=..., mosaic=True)` writes, under `out`:

    funds.csv                FundId,AssetClass,GeographicFocus,CrossBorder,Domicile,
                             ActivePassive,Vehicle
    share_classes.csv        ShareId,FundId,InvestorType
    flows/                   part files written by Spark (CSV with header, or Parquet):
                             ReportDate,ShareId,FundId,Flow,AssetsStart,AssetsEnd,
                             PortfolioChange,ForexChange
    allocations.csv          wide: ReportDate (month end),FundId,<52 ISO2 columns, published order>
                             [,<the long tail's ISO2 columns (TAIL_ZIPF), at 'large'>]
    market/returns_daily.csv date (yyyymmdd), 52 ISO2 columns: daily total return in percent,
                             all weekdays
    market/yields_10y.csv    date (yyyymmdd), G10 columns: 10-year yield level in percent,
                             all weekdays
    market/external_series.csv  long: date (yyyy-mm-dd),series,country,value,unit,frequency
    manifest.json            scale, seed, effect, mosaic, date range, counts, paths, sizes, seconds,
                             the mosaic scenario's window, groups and planted US$ totals, the
                             external series list

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

Funds and share classes
- AssetClass E/B/M (about 60/30/10%). CrossBorder about 50% of equity, 65% of bond, 60% of
  multi-asset funds. Cross-border funds have a regional GeographicFocus ('Global', 'Developed
  Markets', 'Global Emerging Markets', 'Asia ex-Japan', 'Europe', 'Latin America', ...), hold a
  handful to a few dozen of the focus's countries and are mostly domiciled in LU/IE.
- Single-country funds (CrossBorder false) have GeographicFocus = an ISO2 code, invest 100% in that
  country for their flows and returns, and have NO allocation rows (choice: the vendor's
  allocation file covers cross-border funds only).
- Fund size log-normal, clipped to [1e6, 1e11] US$; 1-6 share classes (mean about 2.7), split by a
  Dirichlet draw; about 15% of funds start reporting late and about 8% stop early.

Flows (money in US$, computed in integer cents so the identity is exact)
- Latent country flow factor, percent a day, on the flow calendar:
  f(c,t) = g(t) + u(c,t), u an AR(1) per country (phi 0.97, stationary sd 0.05-0.10),
  g a common AR(1) (phi 0.95, sd 0.03).
- Share class j of fund i, in percent:
  rate(j,t) = sum_c w(i,c,m(t)) f(c,t) + a(i,t) + e(i,t) + e(j,t),
  w the fund's true (current-month) allocation fractions, a a persistent fund AR(1), e fat-tailed
  noise; ETF share classes trade on about 60% of days only.
  Flow = AssetsStart x rate / 100; ForexChange = AssetsStart x fxb(i) x usd(t) / 100 (fxb 0 for US
  funds, small otherwise); PortfolioChange = AssetsStart x (beta_ac sum_c w r(c,t) + tracking) / 100
  with r the market returns below (beta 1 for E, 0.15 for B, 0.55 for M), absorbing the cent
  rounding so that AssetsEnd = AssetsStart + Flow + PortfolioChange + ForexChange exactly in cents,
  and AssetsStart(t) = AssetsEnd(t-1) per share class.

Allocations: percent with 4 decimals, fund-level, monthly; concentrated on the held countries,
drifting month to month (AR(1) log-weights), invested fraction 90-99.5 (sum below 100), blank where
the fund holds nothing. With tail_countries > 0 (the 'large' scale: 140) active cross-border funds
of a global, emerging, frontier or regional emerging focus (TAIL_RATE) also hold a few
destinations beyond the 52 (TAIL_ZIPF:
frontier markets likeliest, a long tail of rarely held ones), out of their uninvested rest, drawn
from streams [seed, 4, ...]: the 52 columns, the flows and the market are byte for byte those of
the same universe without the tail. Months run from 2 months before the fund's first flow date
(so the 23rd rule has a snapshot from day one) to the month of its last flow date.

PLANTED EFFECT (strength `effect` on returns and `bond_effect` on yields, by default the same;
0 = none): forward returns follow LAGGED country flow %.
Country flow % as the pipeline measures it mixes the latent factors of co-held countries (a
Latin America fund's flow lands on BR, MX, CL, ... alike), so the effect is planted on the latent
factors seen through the cross-border funds' allocations, which is what a flow-% signal can detect:
    M_U(c,c') = sum_i A_i w(i,c) w(i,c') / sum_i A_i w(i,c)   over the cross-border funds i of
                asset class U (E for returns, B for yields); A_i = the fund's starting size,
                w = its mean allocation fractions; a country no such fund holds gets M(c,.) = e_c
    x_U(c,t) = sum_c' M_U(c,c') f(c',t)                       (expected country flow %, a day)
    C_U(c,t) = 100 x (prod_{k=t-19..t} (1 + x_U(c,k)/100) - 1) (20-row compounded, flow rows,
                                                               60-row burn-in before the start)
    s_U(c,t) = (C_U(c,t) - mean_c C_U) / sd_c C_U             (z-score across the 52 countries
                                                               for E, across the G10 for B)
On the flow date at row t:
    country return (percent)        += effect x K_RET x s_E(c, t-3)     K_RET = 0.10
    10-year yield change (bp)       -= bond_effect x K_YLD x s_B(c, t-3)  K_YLD = 0.45
The weekly backtest with delay 2 holds a Friday's bins from the next day, whose return loads on s at
row (Friday - 2): exactly the information the backtest used, so high-inflow countries outperform
and their yields fall over the following weeks (s is persistent). At effect 1 on the 'small' scale
(3 years, FloPctCtry / FloPctCtry-B universes, 23rd rule, 5 bins) the measured 20-day flow signal
correlates about 0.75-0.8 with s_E and the 20-weekday TxB is several % per period (t well above 3
for equity returns, about -3 to -5 for G10 yields); at effect 0 it is noise. The demo's 'small'
scale is calibrated far below that (effect 0.02, bond_effect 0.15: TxB Sharpe in the tens, like
published flow strategies; measurements next to SCALES). Jan 1 and Dec 25
(weekdays that are not flow dates) have return 0 and no yield change. All noise is drawn
independently of `effect`, so runs with different effects differ only by these terms (and,
through the assets' returns, AssetsEnd/PortfolioChange and, slightly, the Flow amounts; the
flow rates, hence the country flow %, hardly move).

PLANTED ALLOCATION-CHANGE EFFECT (strength `alloc_effect`, 0 = none, the default): countries
whose weights rise across funds outperform while that rise is public. Per allocation month m a
common shock a(m,c) ~ N(0, 1) per country (its own random stream) moves every cross-border
fund's log-weights: log w(i,c,m) += ALLOC_TILT_SD x sum_{k<=m} a(k,c) (ALLOC_TILT_SD = 0.3,
before the fund's weights are normalised), so snapshot m raises the weights of the countries
with a(m,c) > 0 against snapshot m-1 in every fund that holds them. On a flow date whose public
snapshot is m (the 23rd rule: from the 23rd of m+1 to the 22nd of m+2):
    country return (percent)        += alloc_effect x K_ALLOC x z_c(a(m,c))   K_ALLOC = 0.10
with z_c the z-score across the 52 countries. AllocMo and AllocTrend of month m, known on the
23rd of m+1, carry a(m,c); concentration signals (HerfindahlEq: a common multiplicative tilt
leaves each fund's shares of the country's holders alike) and flow % do not. With
alloc_effect 0 nothing is drawn into the files: every file is what the generator writes without
the option.

MOSAIC SCENARIO (mosaic=True, the default): a planted story over the WINDOW = the last
MOSAIC_MONTHS = 12 calendar months of the range (all of a shorter range), whatever the scale.
Investor domicile = the fund's Domicile (JP domestic; OFFSHORE = LU, IE, KY a group of its own;
any other foreign); flows into country c = sum of Flow x weight(c) (allocation/100, or 1 for a
single-country fund in its country).
(a) JP retail sells: every Retail share class of a JP-domiciled JP single-country equity fund
    gets a steady planted outflow, JP_RETAIL_OUTFLOW = 8% a year of its AssetsStart on its first
    flow date in the window, as the same whole cents each flow date (ETF share classes: on their
    dealing days, at 1/0.6 the amount). Only the usual funds are used: a universe without such
    share classes (tiny, seed 7) has none, and the manifest says 0.
(b) Foreign equity money buys JP: the scenario adds round(n_funds / FUNDS_PER_LAUNCH) (at
    least one) JP single-country equity funds domiciled abroad (US, GB, CH, DE, ...; ids after
    the usual funds, drawn from [seed, 2, 1, j]), launched on the window's first flow date with
    seed capital of about a fifth of their year's inflow. Together they get a steady planted
    inflow of FOREIGN_JP_INFLOW = US$1,200 a flow day per usual fund (split by a Dirichlet draw
    from [seed, 2, 0]), on top of their own day-to-day flows. They exist only in the scenario,
    so ALL their flows are scenario money (the manifest records both totals).
(c) Non-US bond funds leave US bonds: cross-border bond funds domiciled outside the US that hold
    US have their US allocation scaled by factor(m), linear from 1 - 0.4/12 in the window's first
    month to US_BOND_DRIFT = 0.6 in its last; the freed weight goes to the fund's other holdings
    in proportion (in units of 0.0001, so each row keeps its total exactly). The drift is in
    allocations.csv and in the true weights behind these funds' flows and returns.
Planted flows are additive in dollars: a planted amount is whole cents added to the Flow of a row
whose own (scenario-free) flow is left as it was, so the difference scenario on - off of any
group's flows is exactly the planted total. The planted money is a stock of its own, carried in
the share class's assets and earning the fund's return and currency change: AssetsStart and
AssetsEnd differ from the scenario-free rows by the stock (the cumulated planted cents plus what
they earned; at the window's end about -8% of a JP retail class's assets), PortfolioChange +
ForexChange by the stock's return that day (up to 3 cents of rounding), and nothing else moves;
the share class's own flows stay computed on the scenario-free assets (a shortcut: the planted
stock does not itself attract flows). An outflow stops where the stock would pass minus half the
scenario-free AssetsEnd, so assets stay positive. (c) changes the drifted funds' window rows
entirely (other weights, other flows and returns). Nothing before the window changes; the market
files do not depend on the scenario (the mixing matrices use the funds' undrifted weights and
the launched funds are single-country). manifest.json "mosaic_scenario" records the window, the
groups (funds, share classes) and, from the cents actually added (the driver recomputes these
few funds' rows with the workers' code), the planted US$ totals by month, and the drift factors.
Sizes at seed 7 (scale defaults): 'small' (2,000 funds, window 2021) plants -US$733m on 28 JP
retail share classes of 17 funds and +US$626m into 5 launched funds (all their flows +US$601m),
and drifts 179 bond funds; 'tiny' (window 2020) plants no JP retail outflow (it has no such share
class), +US$25.0m into 1 launched fund (all its flows +US$24.2m) and drifts 9 bond funds.

EXTERNAL SERIES (market/external_series.csv, long format, streams [seed, 3, k]), from the
universe's foreign-domiciled equity flows into JP (true weights) and the market:
- foreign_portfolio_equity_flows, JP, USD bn, monthly (month ends): those flows over the month
  divided by the universe's coverage (n_funds / COVERAGE_FUNDS), plus noise of 0.6 times the sd
  of the scenario-free monthly sums (investors outside the universe), so it carries the
  planted buying;
- equity_futures_net_speculative_positions, JP, contracts, weekly (Tuesdays): 10,000 + 20,000 x
  (trailing 20-flow-day foreign flows into JP / their scenario-free sd) + AR(1) noise;
- usdjpy_1m_25d_risk_reversal, JP, %, daily (flow dates): -0.7 + AR(1) + 0.06 x the trailing
  5-day JP return;
- official_holdings_us_treasuries_by_jp, US, USD bn, monthly: a random walk around 1,100,
  x (1 - 0.5 (1 - factor(m))) with (c)'s drift factor, so it falls 20% over the window.
With mosaic=False the file is still written, without the scenario's parts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flowmosaic import calendar as cal
from flowmosaic.config import load_countries

K_RET = 0.10  # percent of daily return per unit cross-sectional z-score of lagged 20d flow
K_YLD = 0.45  # basis points of daily yield change per unit z-score (opposite sign)
EFFECT_LAG = 3  # flow-calendar rows between the flow signal and the return it moves
ALLOC_TILT_SD = 0.3  # sd of a month's common log-weight shock per country (alloc_effect > 0)
K_ALLOC = 0.10  # percent of daily return per unit z-score of the public month's weight shock
BURN_IN = 60  # latent flow rows simulated before the first flow date
LOOKBACK = 20

FLOW_COLUMNS = [
    "ReportDate",
    "ShareId",
    "FundId",
    "Flow",
    "AssetsStart",
    "AssetsEnd",
    "PortfolioChange",
    "ForexChange",
]
FUND_COLUMNS = [
    "FundId",
    "AssetClass",
    "GeographicFocus",
    "CrossBorder",
    "Domicile",
    "ActivePassive",
    "Vehicle",
]
SHARE_CLASS_COLUMNS = ["ShareId", "FundId", "InvestorType"]


@dataclass(frozen=True)
class ScaleSpec:
    n_funds: int
    start: dt.date
    end: dt.date
    fmt: str
    effect: float  # planted effect on equity returns (and yields, unless below)
    partitions: int
    bond_effect: float | None = None  # planted effect on yields; None: `effect`
    tail_countries: int = 0  # destinations beyond the 52 that funds may hold (TAIL below)


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

# --------------------------------------------------------------------------------------------
# Static universe description: rough market-cap shares (percent of world equity) and regions.
CAP = {
    "US": 58,
    "JP": 6,
    "GB": 4,
    "CN": 3.5,
    "FR": 3,
    "CA": 3,
    "CH": 2.6,
    "DE": 2.3,
    "AU": 2,
    "IN": 1.5,
    "TW": 1.6,
    "KR": 1.3,
    "NL": 1.2,
    "SE": 0.9,
    "HK": 0.9,
    "DK": 0.8,
    "IT": 0.7,
    "ES": 0.7,
    "BR": 0.6,
    "SA": 0.5,
    "SG": 0.4,
    "ZA": 0.4,
    "RU": 0.3,
    "FI": 0.3,
    "BE": 0.3,
    "MX": 0.3,
    "IE": 0.3,
    "IL": 0.25,
    "NO": 0.25,
    "TH": 0.25,
    "ID": 0.25,
    "MY": 0.2,
    "AE": 0.15,
    "QA": 0.1,
    "KW": 0.1,
    "PL": 0.1,
    "CL": 0.07,
    "NZ": 0.07,
    "AT": 0.07,
    "PH": 0.07,
    "TR": 0.07,
    "PT": 0.05,
    "GR": 0.05,
    "HU": 0.03,
    "PE": 0.03,
    "CZ": 0.02,
    "CO": 0.02,
    "EG": 0.02,
    "AR": 0.02,
    "PK": 0.01,
    "MA": 0.01,
    "JO": 0.005,
}
BOND_TILT = {
    "JP": 2.5,
    "DE": 2.5,
    "FR": 2.0,
    "IT": 3.0,
    "ES": 2.5,
    "BE": 2.0,
    "AT": 2.0,
    "CN": 1.5,
    "GB": 1.3,
    "MX": 3.0,
    "BR": 2.0,
    "ID": 3.0,
    "ZA": 2.5,
    "TR": 3.0,
    "PL": 3.0,
    "CO": 4.0,
    "PE": 4.0,
    "CL": 3.0,
    "HU": 3.0,
    "CZ": 3.0,
    "EG": 4.0,
    "MY": 2.0,
    "PH": 3.0,
    "TH": 2.0,
    "US": 0.7,
}
REGION = {
    **dict.fromkeys(["US", "CA"], 0),
    **dict.fromkeys(
        ["GB", "FR", "DE", "CH", "NL", "SE", "DK", "IT", "ES", "FI", "BE", "IE", "NO", "AT", "PT"],
        1,
    ),
    **dict.fromkeys(["JP", "AU", "NZ", "HK", "SG"], 2),
    **dict.fromkeys(["CN", "IN", "TW", "KR", "TH", "ID", "MY", "PH", "PK"], 3),
    **dict.fromkeys(["BR", "MX", "CL", "PE", "CO", "AR"], 4),
    **dict.fromkeys(
        ["SA", "ZA", "RU", "IL", "AE", "QA", "KW", "PL", "TR", "GR", "HU", "CZ", "EG", "MA", "JO"],
        5,
    ),
}
EM = set(REGION) - {
    "US",
    "CA",
    "GB",
    "FR",
    "DE",
    "CH",
    "NL",
    "SE",
    "DK",
    "IT",
    "ES",
    "FI",
    "BE",
    "IE",
    "NO",
    "AT",
    "PT",
    "JP",
    "AU",
    "NZ",
    "HK",
    "SG",
    "IL",
}
FOCUS = {
    "Global": None,  # all 52
    "Developed Markets": [
        "AU",
        "CA",
        "JP",
        "NZ",
        "NO",
        "SE",
        "CH",
        "GB",
        "AT",
        "BE",
        "DK",
        "FI",
        "FR",
        "DE",
        "IE",
        "IT",
        "NL",
        "PT",
        "ES",
        "HK",
        "US",
        "SG",
        "IL",
    ],
    "Global ex-US": "ex-US",
    "Global Emerging Markets": [
        "BR",
        "CN",
        "ID",
        "IN",
        "KR",
        "MX",
        "MY",
        "PH",
        "RU",
        "TH",
        "TR",
        "TW",
        "ZA",
        "CL",
        "CO",
        "CZ",
        "EG",
        "HU",
        "PE",
        "PL",
        "GR",
        "AE",
        "QA",
        "SA",
        "KW",
    ],
    "Asia ex-Japan": ["CN", "HK", "IN", "ID", "KR", "MY", "PH", "SG", "TH", "TW"],
    "Asia Pacific": ["AU", "NZ", "JP", "HK", "SG", "CN", "KR", "TW", "IN"],
    "Europe": [
        "GB",
        "FR",
        "DE",
        "CH",
        "NL",
        "SE",
        "DK",
        "ES",
        "IT",
        "FI",
        "BE",
        "NO",
        "IE",
        "AT",
        "PT",
    ],
    "Latin America": ["BR", "MX", "CL", "CO", "PE", "AR"],
    "EMEA": [
        "PL",
        "CZ",
        "HU",
        "TR",
        "RU",
        "GR",
        "ZA",
        "EG",
        "MA",
        "AE",
        "QA",
        "SA",
        "KW",
        "JO",
        "IL",
    ],
    "North America": ["US", "CA"],
    "Nordic": ["SE", "DK", "NO", "FI"],
    "Frontier Markets": ["AR", "EG", "JO", "KW", "MA", "PK"],
}
FOCUS_MIX = {  # per asset class: focus -> probability (cross-border funds)
    "E": {
        "Global": 0.22,
        "Developed Markets": 0.08,
        "Global ex-US": 0.08,
        "Global Emerging Markets": 0.15,
        "Asia ex-Japan": 0.10,
        "Europe": 0.14,
        "Asia Pacific": 0.05,
        "Latin America": 0.05,
        "EMEA": 0.04,
        "North America": 0.03,
        "Nordic": 0.03,
        "Frontier Markets": 0.03,
    },
    "B": {
        "Global": 0.35,
        "Developed Markets": 0.15,
        "Global Emerging Markets": 0.20,
        "Europe": 0.15,
        "Asia ex-Japan": 0.07,
        "Latin America": 0.04,
        "North America": 0.04,
    },
    "M": {
        "Global": 0.50,
        "Developed Markets": 0.20,
        "Europe": 0.15,
        "Global Emerging Markets": 0.10,
        "Asia Pacific": 0.05,
    },
}
CROSS_BORDER_P = {"E": 0.5, "B": 0.65, "M": 0.6}
XB_DOMICILES = {
    "LU": 0.35,
    "IE": 0.25,
    "US": 0.20,
    "GB": 0.05,
    "JP": 0.03,
    "DE": 0.03,
    "FR": 0.03,
    "CA": 0.02,
    "AU": 0.02,
    "CH": 0.02,
}
BETA_AC = {"E": 1.0, "B": 0.15, "M": 0.55}
SC_P = np.array([0.30, 0.22, 0.18, 0.13, 0.10, 0.07])  # 1..6 share classes, mean ~2.72
Y0 = {
    "AU": 2.3,
    "CA": 1.9,
    "CH": 0.5,
    "DE": 0.6,
    "GB": 1.3,
    "JP": 0.2,
    "NO": 1.8,
    "NZ": 2.6,
    "SE": 0.8,
    "US": 2.5,
}

# The mosaic scenario (module docstring, MOSAIC SCENARIO).
MOSAIC_MONTHS = 12  # the window: the last 12 calendar months of the range
FLOW_DAYS_PER_YEAR = 260
JP_RETAIL_OUTFLOW = 0.08  # per year, fraction of a share class's assets at the window start
FOREIGN_JP_INFLOW = 1_200.0  # US$ per flow day per fund of the (base) universe, into new funds
FUNDS_PER_LAUNCH = 400  # one launched foreign Japan fund per 400 funds, at least one
US_BOND_DRIFT = 0.6  # the US weight's factor in the window's last month (linear from 1)
OFFSHORE = ("LU", "IE", "KY")  # investor-domicile group of its own: neither domestic nor foreign
LAUNCH_DOMICILES = {
    "US": 0.50,
    "GB": 0.15,
    "CH": 0.10,
    "DE": 0.10,
    "CA": 0.05,
    "AU": 0.05,
    "FR": 0.05,
}


# --------------------------------------------------------------------------------------------
@dataclass
class GenerateSummary:
    out: str
    scale: str
    seed: int
    effect: float
    bond_effect: float
    fmt: str
    start: str
    end: str
    n_flow_dates: int
    n_weekdays: int
    n_funds: int
    n_cross_border: int
    n_share_classes: int
    flow_rows: int
    allocation_rows: int
    partitions: int
    mosaic: bool = True
    alloc_effect: float = 0.0  # the planted allocation-change effect
    n_scenario_funds: int = 0  # funds the mosaic scenario adds (included in n_funds)
    # destinations in the allocation file (held by at least one cross-border fund), and the
    # long tail's among them
    n_destinations: int = 0
    n_tail_destinations: int = 0
    paths: dict[str, str] = field(default_factory=dict)
    bytes_on_disk: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def describe(self) -> str:
        mb = {k: v / 1e6 for k, v in self.bytes_on_disk.items()}
        lines = [
            f"synthetic universe '{self.scale}' (seed {self.seed}, effect {self.effect}"
            + (f", bond effect {self.bond_effect}" if self.bond_effect != self.effect else "")
            + (f", allocation-change effect {self.alloc_effect}" if self.alloc_effect else "")
            + f") -> {self.out}",
            f"  dates       {self.start} .. {self.end}: {self.n_flow_dates:,} flow dates, "
            f"{self.n_weekdays:,} market weekdays",
            f"  funds       {self.n_funds:,} ({self.n_cross_border:,} cross-border), "
            f"{self.n_share_classes:,} share classes",
            "  scenario    "
            + (
                f"mosaic (last {MOSAIC_MONTHS} months; {self.n_scenario_funds} launched funds)"
                if self.mosaic
                else "none"
            ),
            f"  flows       {self.flow_rows:,} rows ({self.fmt}, {self.partitions} partitions), "
            f"{mb.get('flows', 0):,.1f} MB",
            f"  allocations {self.allocation_rows:,} fund-months over {self.n_destinations} "
            f"destinations ({self.n_tail_destinations} beyond the 52), "
            f"{mb.get('allocations', 0):,.1f} MB",
            f"  market      {mb.get('returns', 0) + mb.get('yields', 0):,.1f} MB, external "
            f"series {mb.get('external_series', 0):,.2f} MB; total "
            f"{sum(mb.values()):,.1f} MB",
            f"  generated in {self.seconds:.1f} s ("
            + ", ".join(f"{k} {v:.1f}" for k, v in self.stage_seconds.items())
            + ")",
        ]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
@dataclass
class _Plan:
    """Everything a worker needs: small arrays shipped in the mapInPandas closure."""

    seed: int
    countries: tuple[str, ...]
    flow_days: np.ndarray  # int32 unix days of the flow dates
    month_of_day: np.ndarray  # int32 month index (into months) of each flow date
    months_end: np.ndarray  # int32 unix day of each month end (months from first flow - 2)
    latent: np.ndarray  # (n_days, 52) f(c,t) percent, incl. the common factor
    # None in a plan for the fund-profile pass only (made without the market)
    returns: np.ndarray | None  # (n_days, 52) country returns on flow dates, percent
    usd: np.ndarray | None  # (n_days,) dollar factor, percent
    cap: np.ndarray  # (52,) cap shares
    bond_cap: np.ndarray  # (52,)
    focus_idx: dict  # focus -> int array of country columns
    mosaic: _Mosaic | None = None  # None: no scenario
    # (n_months, 52) common log-weight tilt of the allocation-change effect; None: none
    alloc_tilt: np.ndarray | None = None
    tail: tuple[str, ...] = ()  # destinations beyond the 52 (TAIL_ZIPF), in propensity order


@dataclass(frozen=True)
class _Mosaic:
    """The scenario's parameters, shared by every pass (see mosaic_plan)."""

    n_base: int  # funds 0..n_base-1 are the usual ones; then the launched funds
    ws: int  # first flow row of the window
    drift: np.ndarray  # (n_months,) factor on the US weight: 1 before the window
    launch_daily: np.ndarray  # (n_launch,) planted inflow of each launched fund, US$ a flow day

    @property
    def n_launch(self) -> int:
        return len(self.launch_daily)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *key])))


def _unix_day(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def _tnoise(rng: np.random.Generator, size, df: float = 4.0) -> np.ndarray:
    """Student-t draws scaled to unit variance (fat tails)."""
    return rng.standard_t(df, size) / np.sqrt(df / (df - 2.0))


def _ar1(rng: np.random.Generator, n: int, k: int, phi: float, sd) -> np.ndarray:
    """(n, k) AR(1) paths with stationary sd `sd` (scalar or (k,)), started stationary.

    Blocked recursion: within blocks of 64 rows a lower-triangular matrix of phi powers, then the
    carry from block to block (the same numbers every run).
    """
    sd = np.broadcast_to(np.asarray(sd, dtype=float), (k,))
    eps = rng.standard_normal((n, k)) * sd * np.sqrt(1 - phi * phi)
    eps[0] = rng.standard_normal(k) * sd
    block = 64
    lags = np.arange(block)
    tri = np.tril(phi ** np.maximum(lags[:, None] - lags[None, :], 0))
    decay = phi ** (lags + 1.0)  # weight of the previous block's last value
    x = np.empty((n, k))
    carry = np.zeros(k)
    for b0 in range(0, n, block):
        e = eps[b0 : b0 + block]
        m = len(e)
        x[b0 : b0 + m] = tri[:m, :m] @ e + decay[:m, None] * carry
        carry = x[b0 + m - 1]
    return x


def compounded(f: np.ndarray, lookback: int = LOOKBACK) -> np.ndarray:
    """Rolling `lookback`-row compounded percent; rows before a full window use what exists."""
    lg = np.log1p(f / 100.0)
    cs = np.cumsum(lg, axis=0)
    out = cs.copy()
    out[lookback:] = cs[lookback:] - cs[:-lookback]
    return 100.0 * np.expm1(out)


def zscore_rows(x: np.ndarray) -> np.ndarray:
    mu = x.mean(axis=1, keepdims=True)
    sd = x.std(axis=1, keepdims=True)
    return (x - mu) / np.where(sd > 0, sd, 1.0)


def simulate_latent(seed: int, n_flow_dates: int, n_countries: int) -> np.ndarray:
    """Latent daily country flow factors f(c,t), percent, (BURN_IN + n) x n_countries.

    f = common AR(1) (phi 0.95, sd 0.03) + country AR(1) (phi 0.97, sd 0.05-0.10).
    """
    r = _rng(seed, 0, 1)
    nb = n_flow_dates + BURN_IN
    sd_c = 0.05 + 0.05 * r.random(n_countries)
    return _ar1(r, nb, n_countries, 0.97, sd_c) + _ar1(r, nb, 1, 0.95, 0.03)


def mixing_matrix(weights: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """M(c,c') = sum_i A_i w_ic w_ic' / sum_i A_i w_ic over funds i (rows: weights, fractions).

    Row c says where the flows of the funds holding c come from: country c's flow % measured on
    these funds is sum_c' M(c,c') f(c'). A country no fund holds gets the identity row.
    """
    aw = weights * sizes[:, None]
    num = aw.T @ weights
    den = aw.sum(axis=0)
    m = np.eye(weights.shape[1])
    held = den > 0
    m[held] = num[held] / den[held, None]
    return m


def flow_signal(
    latent: np.ndarray, mix: np.ndarray | None = None, cols: list[int] | None = None
) -> np.ndarray:
    """s: cross-sectional z-score (over `cols`, default all) of the 20-row compounded f M'."""
    g = latent if mix is None else latent @ mix.T
    c = compounded(g)
    if cols is not None:
        c = c[:, cols]
    return zscore_rows(c)


def alloc_shocks(seed: int, n_months: int, n_countries: int) -> np.ndarray:
    """a(m, c) of the allocation-change effect: a common N(0, 1) shock per allocation month
    (from 2 months before the first flow date, as the plan's months) and country."""
    return _rng(seed, 0, 8).standard_normal((n_months, n_countries))


def _month_index(fdates: list[dt.date], month: dt.date) -> int:
    """Months from 2 months before the first flow date (the plan's months) to `month`."""
    first = cal.add_months(cal.month_start(fdates[0]), -2)
    return (month.year - first.year) * 12 + month.month - first.month


def _n_months(fdates: list[dt.date]) -> int:
    """The plan's months: from 2 months before the first flow date to the last's month."""
    return _month_index(fdates, cal.month_start(fdates[-1])) + 1


def alloc_tilt(seed: int, fdates: list[dt.date], n_countries: int) -> np.ndarray:
    """(n_months, n_countries) log-weight tilt of the allocation-change effect over the
    plan's months: ALLOC_TILT_SD x the running sum of the monthly shocks."""
    shocks = alloc_shocks(seed, _n_months(fdates), n_countries)
    return ALLOC_TILT_SD * np.cumsum(shocks, axis=0)


def simulate_market(
    seed: int,
    countries: tuple[str, ...],
    g10: tuple[str, ...],
    start: dt.date,
    end: dt.date,
    effect: float,
    mix_equity: np.ndarray | None = None,
    mix_bond: np.ndarray | None = None,
    bond_effect: float | None = None,
    alloc_effect: float = 0.0,
) -> dict:
    """Driver-side market: latent flow factors, the signals, weekday returns and yields.

    mix_equity / mix_bond: mixing matrices (see mixing_matrix) of the cross-border equity and bond
    funds; None = identity (the raw latent factor). bond_effect: the yields' planted effect
    (None: `effect`); alloc_effect: the allocation-change effect's strength on returns.
    Returns a dict of arrays and date lists.
    """
    bond_effect = effect if bond_effect is None else bond_effect
    fdates = cal.flow_dates(start, end)
    wdays = [
        d
        for d in (start + dt.timedelta(days=i) for i in range((end - start).days + 1))
        if d.weekday() < 5
    ]
    n, nc = len(fdates), len(countries)
    nb = n + BURN_IN
    latent = simulate_latent(seed, n, nc)
    gi = [countries.index(c) for c in g10]
    # s(c, t-3) at flow row t, for t = 0..n-1 (burn-in rows provide the first lags).
    s_eq = flow_signal(latent, mix_equity)[BURN_IN - EFFECT_LAG : nb - EFFECT_LAG]
    s_bd = flow_signal(latent, mix_bond, gi)[BURN_IN - EFFECT_LAG : nb - EFFECT_LAG]
    latent = latent[BURN_IN:]
    # Country returns on flow rows, percent.
    r = _rng(seed, 0, 2)
    logvol = _ar1(r, n, 1, 0.98, 0.25)[:, 0]
    vol = np.exp(logvol - 0.5 * 0.25**2)
    region = np.array([REGION[c] for c in countries])
    is_em = np.array([c in EM for c in countries])
    beta = np.where(is_em, 1.1, 1.0) + r.normal(0, 0.15, nc)
    mkt = 0.8 * _tnoise(r, n) * vol
    reg = 0.5 * _tnoise(r, (n, 6)) * vol[:, None]
    idio = np.where(is_em, 1.1, 0.7) * _tnoise(r, (n, nc)) * vol[:, None]
    ret = 0.025 + beta * mkt[:, None] + reg[:, region] + idio + effect * K_RET * s_eq
    if alloc_effect:  # the shock of the month public on each flow date
        public = [_month_index(fdates, cal.alloc_month(d)) for d in fdates]
        shocks = zscore_rows(alloc_shocks(seed, _n_months(fdates), nc))
        ret = ret + alloc_effect * K_ALLOC * shocks[public]
    usd = 0.35 * r.standard_normal(n) * vol
    # Yields: daily change in bp with a weak pull to the starting level, on flow rows.
    r = _rng(seed, 0, 3)
    ybeta = 1.0 + r.normal(0, 0.2, len(g10))
    dy = 3.5 * ybeta * r.standard_normal(n)[:, None] + 2.5 * r.standard_normal((n, len(g10)))
    dy = dy * vol[:, None] - bond_effect * K_YLD * s_bd
    y0 = np.array([Y0.get(c, 2.0) for c in g10])
    ylev = np.empty((n, len(g10)))
    prev = y0
    for t in range(n):
        prev = prev + dy[t] / 100.0 - 0.002 * (prev - y0)
        ylev[t] = prev
    # Onto all weekdays: 0 return / unchanged yield on weekdays that are not flow dates.
    pos = {d: i for i, d in enumerate(fdates)}
    ret_w = np.zeros((len(wdays), nc))
    y_w = np.empty((len(wdays), len(g10)))
    last = y0
    for i, d in enumerate(wdays):
        j = pos.get(d)
        if j is not None:
            ret_w[i] = ret[j]
            last = ylev[j]
        y_w[i] = last
    return {
        "flow_dates": fdates,
        "weekdays": wdays,
        "latent": latent,
        "s_equity": s_eq,
        "s_bond": s_bd,
        "returns_flow": ret,
        "returns": ret_w,
        "yields_flow": ylev,
        "yields": y_w,
        "usd": usd,
    }


def mosaic_window(fdates: list[dt.date]) -> int:
    """Index of the window's first flow date: the last MOSAIC_MONTHS calendar months (all of
    a shorter range)."""
    first = cal.add_months(cal.month_start(fdates[-1]), -(MOSAIC_MONTHS - 1))
    return next(i for i, d in enumerate(fdates) if d >= first)


def mosaic_plan(
    seed: int, n_base: int, fdates: list[dt.date], month_of_day: np.ndarray, n_months: int
) -> _Mosaic:
    """Window, US-weight drift per month and the launched funds' inflows (stream [seed, 2, 0])."""
    ws = mosaic_window(fdates)
    w0, w1 = int(month_of_day[ws]), int(month_of_day[-1])
    drift = np.ones(n_months)
    m = np.arange(w0, w1 + 1)
    drift[m] = 1.0 - (1.0 - US_BOND_DRIFT) * (m - w0 + 1) / (w1 - w0 + 1)
    n_launch = max(1, int(round(n_base / FUNDS_PER_LAUNCH)))
    shares = _rng(seed, 2, 0).dirichlet(np.full(n_launch, 2.0))
    return _Mosaic(
        n_base=n_base, ws=ws, drift=drift, launch_daily=FOREIGN_JP_INFLOW * n_base * shares
    )


def _make_plan(
    seed: int,
    countries: tuple[str, ...],
    fdates: list[dt.date],
    latent: np.ndarray,
    market: dict | None = None,
    n_base: int | None = None,
    alloc_tilt: np.ndarray | None = None,
    tail: tuple[str, ...] = (),
) -> _Plan:
    """The worker plan; without `market` (returns, usd) it serves the fund-profile pass only.
    With `n_base` (the number of usual funds) it carries the mosaic scenario; alloc_tilt: the
    allocation-change effect's log-weight tilt (alloc_shocks)."""
    first_m = cal.add_months(cal.month_start(fdates[0]), -2)
    base = first_m.year * 12 + first_m.month - 1
    month_of_day = np.array([d.year * 12 + d.month - 1 - base for d in fdates], dtype=np.int32)
    n_months = int(month_of_day[-1]) + 1
    months_end = np.array(
        [_unix_day(cal.month_end(cal.add_months(first_m, k))) for k in range(n_months)],
        dtype=np.int32,
    )
    cap = np.array([CAP[c] for c in countries], dtype=float)
    bond_cap = cap * np.array([BOND_TILT.get(c, 1.0) for c in countries])
    col = {c: i for i, c in enumerate(countries)}
    focus_idx = {}
    for name, members in FOCUS.items():
        if members is None:
            idx = np.arange(len(countries))
        elif members == "ex-US":
            idx = np.array([i for i, c in enumerate(countries) if c != "US"])
        else:
            idx = np.array(sorted(col[c] for c in members))
        focus_idx[name] = idx
    return _Plan(
        seed=seed,
        countries=countries,
        flow_days=np.array([_unix_day(d) for d in fdates], dtype=np.int32),
        month_of_day=month_of_day,
        months_end=months_end,
        latent=latent,
        returns=None if market is None else market["returns_flow"],
        usd=None if market is None else market["usd"],
        cap=cap,
        bond_cap=bond_cap,
        focus_idx=focus_idx,
        mosaic=None
        if n_base is None
        else mosaic_plan(seed, n_base, fdates, month_of_day, n_months),
        alloc_tilt=alloc_tilt,
        tail=tail,
    )


# --------------------------------------------------------------------------------------------
def _choice(rng: np.random.Generator, probs: dict) -> str:
    keys = list(probs)
    p = np.array([probs[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _fund_profile(plan: _Plan, idx: int):
    """A fund's attributes, share classes and monthly allocation path; returns (rng, profile).

    The draws happen in a fixed order, so the flows drawn afterwards from the same generator are
    the same in every pass.
    """
    rng = _rng(plan.seed, 1, idx)
    nc = len(plan.countries)
    n_days = len(plan.flow_days)
    n_months = len(plan.months_end)
    u = rng.random(8)
    ac = "E" if u[0] < 0.6 else ("B" if u[0] < 0.9 else "M")
    xb = bool(u[1] < CROSS_BORDER_P[ac])
    passive = bool(u[2] < (0.25 if ac == "E" else 0.15 if ac == "B" else 0.05))
    etf = bool(u[3] < (0.8 if passive else 0.05))
    cap = plan.cap if ac == "E" else plan.bond_cap
    if xb:
        focus = _choice(rng, FOCUS_MIX[ac])
        domicile = _choice(rng, XB_DOMICILES)
        members = plan.focus_idx[focus]
        m = len(members)
        k = m if passive else max(min(3, m), int(round(m * (0.35 + 0.65 * u[4]))))
        # Largest countries are most likely held: Gumbel top-k on log(cap^0.7).
        score = 0.7 * np.log(cap[members]) + rng.gumbel(size=m)
        held = np.sort(members[np.argsort(-score)[:k]])
    else:
        p = cap**0.5
        c = int(rng.choice(nc, p=p / p.sum()))
        focus = plan.countries[c]
        domicile = focus if u[4] < 0.8 else ("LU" if u[5] < 0.5 else "IE")
        held = np.array([c])
    # Size and share classes.
    size = float(np.clip(np.exp(rng.normal(19.1 + (1.0 if passive else 0.0), 1.7)), 1e6, 1e11))
    n_sc = int(rng.choice(6, p=SC_P)) + 1
    sc_inst = rng.random(n_sc) < 0.4
    sc_share = rng.dirichlet(np.full(n_sc, 0.8))
    # Reporting window on the flow calendar.
    start_row, end_row = 0, n_days - 1
    if u[6] < 0.15 and n_days > 40:
        start_row = int(rng.integers(1, max(2, int(0.9 * n_days) - 20)))
    if u[7] < 0.08 and n_days - start_row > 40:
        end_row = int(rng.integers(start_row + 20, n_days - 1))
    # Monthly allocation path (percent, 4 decimals), drawn over all months.
    h = len(held)
    if xb:
        base = np.log(cap[held] ** 0.6)
        tilt = rng.normal(0, 0.05 if passive else 0.4, h)
        dev = _ar1(rng, n_months, h, 0.9, 0.05 if passive else 0.2)
        lw = base + tilt + dev
        if plan.alloc_tilt is not None:
            lw = lw + plan.alloc_tilt[:, held]
        w = np.exp(lw - lw.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        inv = 0.9475 + 0.045 * np.tanh(_ar1(rng, n_months, 1, 0.8, 0.8))  # 90.3 .. 99.2
        pct = np.round(np.maximum(w * inv * 100.0, 0.01), 4)
    else:
        pct = np.full((n_months, 1), 100.0)
    prof = {
        "idx": idx,
        "ac": ac,
        "xb": xb,
        "passive": passive,
        "etf": etf,
        "focus": focus,
        "domicile": domicile,
        "held": held,
        "size": size,
        "n_sc": n_sc,
        "sc_inst": sc_inst,
        "sc_share": sc_share,
        "start_row": start_row,
        "end_row": end_row,
        "pct": pct,
    }
    return rng, prof


def _launch_profile(plan: _Plan, m: _Mosaic, j: int):
    """Launched foreign-domiciled Japan equity fund j of the scenario m (stream
    [seed, 2, 1, j]): reports from the window's first flow date, starting from seed capital."""
    rng = _rng(plan.seed, 2, 1, j)
    u = rng.random(2)
    passive = bool(u[0] < 0.5)
    etf = bool(u[1] < (0.8 if passive else 0.05))
    domicile = _choice(rng, LAUNCH_DOMICILES)
    # seed capital: about a fifth of the year's planted inflow, so the fund's own day-to-day
    # flows stay in proportion to the planted ones at every scale
    size = float(0.2 * FLOW_DAYS_PER_YEAR * m.launch_daily[j] * np.exp(rng.normal(0.0, 0.3)))
    n_sc = int(rng.choice(6, p=SC_P)) + 1
    sc_inst = rng.random(n_sc) < 0.4
    sc_share = rng.dirichlet(np.full(n_sc, 0.8))
    prof = {
        "idx": m.n_base + j,
        "ac": "E",
        "xb": False,
        "passive": passive,
        "etf": etf,
        "focus": "JP",
        "domicile": domicile,
        "held": np.array([plan.countries.index("JP")]),
        "size": size,
        "n_sc": n_sc,
        "sc_inst": sc_inst,
        "sc_share": sc_share,
        "start_row": m.ws,
        "end_row": len(plan.flow_days) - 1,
        "pct": np.full((len(plan.months_end), 1), 100.0),
        "plant_from": m.ws,
        "plant_usd": m.launch_daily[j] * sc_share,
    }
    return rng, prof


def drift_us(pct: np.ndarray, us: int, factor: np.ndarray) -> np.ndarray:
    """Scale column `us` of a fund's monthly allocation percents (4 decimals) by factor[month]
    and spread the freed weight over the other columns in proportion, in units of 0.0001 so
    that every row keeps exactly its total (the remainder goes to the largest other holding)."""
    out = pct.copy()
    sel = factor < 1.0
    if not sel.any() or pct.shape[1] < 2:
        return out
    units = np.rint(pct[sel] * 1e4).astype(np.int64)
    others = np.flatnonzero(np.arange(pct.shape[1]) != us)
    old = units[:, us]
    new = np.rint(old * factor[sel]).astype(np.int64)
    freed = old - new
    o = units[:, others]
    add = freed[:, None] * o // o.sum(axis=1, keepdims=True)
    add[np.arange(len(o)), o.argmax(axis=1)] += freed - add.sum(axis=1)
    units[:, us] = new
    units[:, others] = o + add
    out[sel] = units / 1e4
    return out


def _apply_scenario(plan: _Plan, m: _Mosaic, prof: dict) -> None:
    """The scenario m's changes to a usual fund, made after all its draws (they stay the
    same)."""
    if (
        prof["ac"] == "E"
        and not prof["xb"]
        and prof["focus"] == "JP"
        and prof["domicile"] == "JP"
        and not prof["sc_inst"].all()
        and prof["end_row"] >= m.ws
    ):
        prof["plant_from"] = max(m.ws, prof["start_row"])
        prof["plant_rate"] = np.where(prof["sc_inst"], 0.0, -JP_RETAIL_OUTFLOW / FLOW_DAYS_PER_YEAR)
    us = plan.countries.index("US")
    if prof["ac"] == "B" and prof["xb"] and prof["domicile"] != "US" and us in prof["held"]:
        prof["pct"] = drift_us(prof["pct"], int(np.flatnonzero(prof["held"] == us)[0]), m.drift)


def _profile(plan: _Plan, idx: int, scenario: bool = True):
    """(rng, profile) of fund idx: a usual fund, with the scenario's changes when the plan has
    one (unless scenario=False), or one of the scenario's launched funds."""
    m = plan.mosaic
    if m is not None and idx >= m.n_base:
        return _launch_profile(plan, m, idx - m.n_base)
    rng, prof = _fund_profile(plan, idx)
    if m is not None and scenario:
        _apply_scenario(plan, m, prof)
    return rng, prof


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


def _alloc_month_range(plan: _Plan, prof: dict) -> tuple[int, int]:
    """First and last month index (inclusive) of a fund's allocation rows."""
    first = int(plan.month_of_day[prof["start_row"]]) - 2
    last = int(plan.month_of_day[prof["end_row"]])
    return first, last


def _fund_flows(plan: _Plan, rng: np.random.Generator, prof: dict) -> dict[str, np.ndarray]:
    """Daily share-class rows of one fund (columns of FLOWS_SCHEMA), money as int64 cents."""
    if plan.returns is None or plan.usd is None:
        raise ValueError("flows need a plan made with the market (returns, usd)")
    rows = np.arange(prof["start_row"], prof["end_row"] + 1)
    n = len(rows)
    held = prof["held"]
    w = prof["pct"][plan.month_of_day[rows]] / 100.0  # (n, h)
    flow_sys = (w * plan.latent[rows][:, held]).sum(axis=1)  # percent
    ret_sys = BETA_AC[prof["ac"]] * (w * plan.returns[rows][:, held]).sum(axis=1)
    noise_sd = float(np.clip(0.2 * (1e9 / prof["size"]) ** 0.15, 0.05, 1.0))
    fund_ar = _ar1(rng, n, 1, 0.95, 0.02)[:, 0]
    fund_e = noise_sd * _tnoise(rng, n, 3.0)
    te_sd = (0.02 if prof["passive"] else 0.25) * BETA_AC[prof["ac"]] + 0.01
    ret = ret_sys + te_sd * rng.standard_normal(n)
    us_w = float(w[0][held == plan.countries.index("US")].sum()) if "US" in plan.countries else 0.0
    fxb = 0.0 if prof["domicile"] == "US" else (1.0 - us_w) * 0.3 * rng.random()
    fx = fxb * plan.usd[rows]
    n_sc = prof["n_sc"]
    sc_e = rng.standard_normal((n_sc, n)) * np.where(prof["sc_inst"], 0.12, 0.05)[:, None]
    rate = flow_sys + fund_ar + fund_e + sc_e  # (n_sc, n) percent
    active = None
    if prof["etf"]:
        active = rng.random((n_sc, n)) < 0.6
        rate = np.where(active, rate / 0.6, 0.0)
    rate = np.clip(rate, -30.0, 50.0)
    growth = np.maximum(1.0 + (rate + ret + fx) / 100.0, 0.5)
    s0 = prof["size"] * prof["sc_share"]
    end_f = s0[:, None] * np.cumprod(growth, axis=1)
    end_c = np.rint(end_f * 100.0).astype(np.int64)
    start_c = np.empty_like(end_c)
    start_c[:, 0] = np.rint(s0 * 100.0).astype(np.int64)
    start_c[:, 1:] = end_c[:, :-1]
    flow_c = np.rint(start_c * rate / 100.0).astype(np.int64)
    fx_c = np.rint(start_c * fx / 100.0).astype(np.int64)
    planted = None
    if "plant_from" in prof:
        t0 = prof["plant_from"] - prof["start_row"]
        if "plant_rate" in prof:  # a fraction of the assets at the window start, a day
            daily = prof["plant_rate"] * start_c[:, t0]
        else:
            daily = prof["plant_usd"] * 100.0
        amount = np.zeros((n_sc, n))
        amount[:, t0:] = daily[:, None]
        if active is not None:  # ETF share classes deal on their active days only
            amount = np.where(active, amount / 0.6, 0.0)
        planted, start_c, end_c, flow_c, fx_c = _plant(
            amount, 1.0 + (ret + fx) / 100.0, fx, start_c, end_c, flow_c, fx_c
        )
    pc_c = end_c - start_c - flow_c - fx_c
    out = {
        "day": np.tile(plan.flow_days[rows], n_sc),
        "fund": np.full(n * n_sc, prof["idx"], dtype=np.int32),
        "sc": np.repeat(np.arange(1, n_sc + 1, dtype=np.int32), n),
        "flow": flow_c.ravel(),
        "assets_start": start_c.ravel(),
        "assets_end": end_c.ravel(),
        "portfolio_change": pc_c.ravel(),
        "forex_change": fx_c.ravel(),
    }
    if planted is not None:
        out["planted"] = planted.ravel()
    return out


def _plant(
    amount: np.ndarray,
    growth: np.ndarray,
    fx: np.ndarray,
    start_c: np.ndarray,
    end_c: np.ndarray,
    flow_c: np.ndarray,
    fx_c: np.ndarray,
):
    """Add planted flows (amount: (n_sc, n) cents a day, whole cents added) on top of the
    scenario-free rows, which stay as they are: the planted money is a stock of its own that
    earns the fund's return and currency change (growth, fx) and is carried in the assets.

    An outflow never takes the stock below minus half the scenario-free AssetsEnd (a fund
    that shrinks anyway stops selling), so the assets stay positive.
    Returns (planted cents, AssetsStart, AssetsEnd, Flow, ForexChange), int64 cents.
    """
    n_sc, n = amount.shape
    planted = np.zeros((n_sc, n), dtype=np.int64)
    stock_c = np.zeros((n_sc, n), dtype=np.int64)
    stock = np.zeros(n_sc)  # cents, unrounded
    first = int(np.flatnonzero(amount.any(axis=0))[0]) if amount.any() else n
    for t in range(first, n):
        pre = stock * growth[t]
        want = amount[:, t]
        floor = np.minimum(0.0, -0.5 * end_c[:, t] - pre)
        add = np.rint(np.where(want < 0, np.maximum(want, floor), want)).astype(np.int64)
        stock = pre + add
        planted[:, t] = add
        stock_c[:, t] = np.rint(stock).astype(np.int64)
    before = np.zeros_like(stock_c)
    before[:, 1:] = stock_c[:, :-1]
    fx_on = fx_c + np.rint(before * fx / 100.0).astype(np.int64)
    return planted, start_c + before, end_c + stock_c, flow_c + planted, fx_on


FLOWS_SCHEMA = (
    "day int, fund int, sc int, flow long, assets_start long, assets_end long, "
    "portfolio_change long, forex_change long"
)


def _funds_schema(n_countries: int) -> str:
    return (
        "fund int, ac string, focus string, xb boolean, domicile string, ap string, "
        "vehicle string, n_sc int, inst string, size double, flow_rows long, alloc_rows long, "
        "tail string, " + ", ".join(f"w{i} double" for i in range(n_countries))
    )


def _ids(batches):
    for pdf in batches:
        for i in pdf["id"].to_numpy():
            yield int(i)


def _stack(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    return pd.DataFrame({c: np.concatenate([p[c] for p in parts]) for c in parts[0]})


def _flows_fn(plan: _Plan, batch_rows: int = 200_000):
    def fn(batches):
        buf, size = [], 0
        for idx in _ids(batches):
            rng, prof = _profile(plan, idx)
            part = _fund_flows(plan, rng, prof)
            part.pop("planted", None)
            buf.append(part)
            size += len(part["day"])
            if size >= batch_rows:
                yield _stack(buf)
                buf, size = [], 0
        if buf:
            yield _stack(buf)

    return fn


def _funds_fn(plan: _Plan):
    """One row per fund: attributes, share-class flags, counts and mean allocation fractions
    (without the scenario's drift: the market's mixing matrices do not depend on the scenario)."""
    nc = len(plan.countries)

    def fn(batches):
        recs = []
        for idx in _ids(batches):
            _, p = _profile(plan, idx, scenario=False)
            first, last = _alloc_month_range(plan, p)
            w = np.zeros(nc)
            w[p["held"]] = p["pct"][max(first, 0) : last + 1].mean(axis=0) / 100.0
            recs.append(
                (
                    idx,
                    p["ac"],
                    p["focus"],
                    p["xb"],
                    p["domicile"],
                    "P" if p["passive"] else "A",
                    "ETF" if p["etf"] else "MF",
                    p["n_sc"],
                    "".join("I" if x else "R" for x in p["sc_inst"]),
                    p["size"],
                    (p["end_row"] - p["start_row"] + 1) * p["n_sc"],
                    last - first + 1 if p["xb"] else 0,
                    ",".join(plan.tail[i] for i in _tail_holdings(plan, p)[0]),
                    *w,
                )
            )
        cols = [
            "fund",
            "ac",
            "focus",
            "xb",
            "domicile",
            "ap",
            "vehicle",
            "n_sc",
            "inst",
            "size",
            "flow_rows",
            "alloc_rows",
            "tail",
            *[f"w{i}" for i in range(nc)],
        ]
        yield pd.DataFrame.from_records(recs, columns=cols)

    return fn


def _alloc_fn(plan: _Plan, batch_rows: int = 20_000):
    nc = len(plan.countries)
    columns = [*plan.countries, *plan.tail]

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


# --------------------------------------------------------------------------------------------
def _scenario_pass(plan: _Plan, fs: pd.DataFrame, fdates: list[dt.date]) -> tuple[dict, dict]:
    """On the driver, the flows of the few funds the manifest and the external series need,
    recomputed with the workers' code and streams (so the same cents): the scenario's groups
    (a) and (b) and every foreign-domiciled equity fund holding JP.

    Returns ({"foreign": US$ a flow date into JP, "foreign_base": the same without the launched
    funds}, the manifest's "mosaic_scenario" groups (empty without a scenario)).
    """
    n, m = len(fdates), plan.mosaic
    jp = plan.countries.index("JP")
    foreign = np.zeros(n)
    foreign_base = np.zeros(n)
    months = np.array([d.strftime("%Y-%m") for d in fdates])
    groups: dict = {}
    retail: dict[str, Any] = {
        "funds": [],
        "share_classes": [],
        "cents": np.zeros(n, dtype=np.int64),
    }
    launched: dict[str, Any] = {
        "funds": {},
        "flow_cents": np.zeros(n, dtype=np.int64),
        "planted_cents": np.zeros(n, dtype=np.int64),
        "seed_cents": 0,
    }
    dom = fs["domicile"]
    is_jp_eq = (fs["ac"] == "E") & (fs[f"w{jp}"] > 0)
    pick = is_jp_eq & ~dom.isin(list(OFFSHORE) + ["JP"])  # foreign, into JP
    pick |= is_jp_eq & ~fs["xb"] & (dom == "JP") & fs["inst"].str.contains("R")  # group (a)
    for idx in fs.loc[pick, "fund"].to_numpy():
        rng, prof = _profile(plan, int(idx))
        out = _fund_flows(plan, rng, prof)
        rows = np.arange(prof["start_row"], prof["end_row"] + 1)
        k = prof["n_sc"]
        flow = out["flow"].reshape(k, len(rows))
        w_jp = prof["pct"][plan.month_of_day[rows], int(np.flatnonzero(prof["held"] == jp)[0])]
        fid = f"F{int(idx):06d}"
        if prof["domicile"] not in OFFSHORE and prof["domicile"] != "JP":
            into = flow.sum(axis=0) * w_jp / 100.0 / 100.0  # cents x percent -> US$
            foreign[rows] += into
            if m is None or idx < m.n_base:
                foreign_base[rows] += into
        if "planted" not in out:
            continue
        planted = out["planted"].reshape(k, len(rows))
        if prof["domicile"] == "JP":
            retail["funds"].append(fid)
            retail["share_classes"] += [
                f"S{int(idx) * 10 + j + 1:07d}" for j in range(k) if not prof["sc_inst"][j]
            ]
            retail["cents"][rows] += planted.sum(axis=0)
        else:
            launched["funds"][fid] = prof["domicile"]
            launched["flow_cents"][rows] += flow.sum(axis=0)
            launched["planted_cents"][rows] += planted.sum(axis=0)
            launched["seed_cents"] += int(out["assets_start"].reshape(k, -1)[:, 0].sum())
    if m is None:
        return {"foreign": foreign, "foreign_base": foreign_base}, groups

    def usd(cents: np.ndarray) -> dict:
        by_month = pd.Series(cents[m.ws :]).groupby(months[m.ws :]).sum()
        return {
            "usd": int(cents.sum()) / 100,
            "cents": int(cents.sum()),
            "usd_by_month": {k: int(v) / 100 for k, v in by_month.items()},
        }

    groups["jp_retail_outflow"] = {
        "definition": "Retail share classes of JP-domiciled JP single-country equity funds "
        "(CrossBorder false, GeographicFocus JP, AssetClass E): a steady planted "
        "outflow of JP_RETAIL_OUTFLOW a year of each share class's AssetsStart on "
        "the window's first flow date (or its first row in the window), in whole "
        "cents a flow day (ETF share classes: on their dealing days, /0.6)",
        "rate_per_year": JP_RETAIL_OUTFLOW,
        "n_funds": len(retail["funds"]),
        "funds": retail["funds"],
        "share_classes": retail["share_classes"],
        "planted_flow": usd(retail["cents"]),
    }
    groups["foreign_into_jp"] = {
        "definition": "Equity money from foreign-domiciled investors into JP: foreign-domiciled "
        "(not JP, not offshore) JP single-country equity funds launched on the "
        "window's first flow date, which exist only in the scenario. "
        "planted_inflow = the steady planted US$ a flow day (FOREIGN_JP_INFLOW x "
        "the base fund count, split over the funds); all_flows = every flow of "
        "these funds (planted + their own day-to-day flows), i.e. what the "
        "scenario adds to foreign flows into JP",
        "usd_per_flow_day_per_base_fund": FOREIGN_JP_INFLOW,
        "n_funds": len(launched["funds"]),
        "funds": launched["funds"],
        "seed_capital_usd": launched["seed_cents"] / 100,
        "planted_inflow": usd(launched["planted_cents"]),
        "all_flows": usd(launched["flow_cents"]),
    }
    us = plan.countries.index("US")
    n_drift = 0
    w0 = int(plan.month_of_day[m.ws])
    cand = (fs["ac"] == "B") & fs["xb"] & (dom != "US") & (fs[f"w{us}"] > 0)
    for idx in fs.loc[cand & (fs["fund"] < m.n_base), "fund"].to_numpy():
        n_drift += _alloc_month_range(plan, _profile(plan, int(idx), scenario=False)[1])[1] >= w0
    first_month = cal.add_months(cal.month_start(fdates[0]), -2)
    groups["us_bond_weight_drift"] = {
        "definition": "Cross-border bond funds domiciled outside the US that hold US: the US "
        "allocation (allocations.csv, and the true weights behind their flows and "
        "returns) is scaled by factor(month), linear to US_BOND_DRIFT in the "
        "window's last month; the freed weight goes to the fund's other holdings "
        "in proportion, so each row's total is unchanged",
        "final_factor": US_BOND_DRIFT,
        "n_funds": int(n_drift),
        "factor_by_month": {
            cal.add_months(first_month, i).strftime("%Y-%m"): float(f)
            for i, f in enumerate(m.drift)
            if f < 1.0
        },
    }
    return {"foreign": foreign, "foreign_base": foreign_base}, groups


EXTERNAL_COLUMNS = ["date", "series", "country", "value", "unit", "frequency"]
EXTERNAL_SERIES = [  # series, country, unit, frequency, description
    (
        "foreign_portfolio_equity_flows",
        "JP",
        "USD bn",
        "monthly",
        "balance-of-payments style net purchases of JP equities by non-residents: the universe's "
        "foreign-domiciled equity flows into JP over the month, scaled up by 1/coverage, plus "
        "noise (flows of investors outside the universe)",
    ),
    (
        "equity_futures_net_speculative_positions",
        "JP",
        "contracts",
        "weekly",
        "net speculative positioning in JP equity index futures on Tuesdays: follows the "
        "universe's trailing 20-flow-day foreign flows into JP, plus AR(1) noise",
    ),
    (
        "usdjpy_1m_25d_risk_reversal",
        "JP",
        "%",
        "daily",
        "USDJPY 1-month 25-delta risk reversal on flow dates: about -0.7, AR(1) noise, moving "
        "with the trailing 5-day JP return",
    ),
    (
        "official_holdings_us_treasuries_by_jp",
        "US",
        "USD bn",
        "monthly",
        "JP official holdings of US Treasuries at month end: a random walk around 1,100, "
        "scaled by 1 - 0.5 (1 - factor) with the scenario's US-weight drift factor",
    ),
]
COVERAGE_FUNDS = 200_000  # the universe is taken to carry n_funds / 200,000 of foreign flows


def external_series(
    seed: int,
    start: dt.date,
    end: dt.date,
    fdates: list[dt.date],
    foreign: np.ndarray,
    foreign_base: np.ndarray,
    jp_returns: np.ndarray,
    n_funds: int,
    us_drift: dict[str, float] | None = None,
) -> pd.DataFrame:
    """market/external_series.csv in long format (EXTERNAL_COLUMNS), from SeedSequence
    [seed, 3, k] streams. foreign / foreign_base: the universe's foreign-domiciled equity flows
    into JP a flow date (US$) with and without the scenario's launched funds (noise scales come
    from foreign_base, so they do not depend on the scenario); jp_returns: JP returns on flow
    dates (percent); us_drift: {'yyyy-mm': factor} for the window's months."""
    us_drift = us_drift or {}
    coverage = min(1.0, n_funds / COVERAGE_FUNDS)
    ym = np.array([d.strftime("%Y-%m") for d in fdates])
    months = sorted({(d.year, d.month) for d in fdates})
    month_ends = [cal.month_end(dt.date(y, mo, 1)) for y, mo in months]
    month_ends = [d for d in month_ends if d <= end]
    frames = []

    def add(dates, name, values, fmt):
        spec = next(x for x in EXTERNAL_SERIES if x[0] == name)
        frames.append(
            pd.DataFrame(
                {
                    "date": [d.isoformat() for d in dates],
                    "series": name,
                    "country": spec[1],
                    "value": [fmt % v for v in values],
                    "unit": spec[2],
                    "frequency": spec[3],
                }
            )
        )

    # Monthly foreign portfolio equity flows, US$ bn.
    scaled = pd.Series(foreign / coverage).groupby(ym).sum()
    scaled_base = pd.Series(foreign_base / coverage).groupby(ym).sum()
    keys = [d.strftime("%Y-%m") for d in month_ends]
    sd = float(scaled_base.std()) if len(scaled_base) > 1 else 0.0
    noise = _rng(seed, 3, 1).standard_normal(len(keys)) * 0.6 * (sd or 1e9)
    add(
        month_ends,
        "foreign_portfolio_equity_flows",
        (scaled.reindex(keys).fillna(0.0).to_numpy() + noise) / 1e9,
        "%.3f",
    )
    # Weekly net speculative futures positions, contracts.
    tuesdays = [
        d
        for d in (start + dt.timedelta(days=i) for i in range((end - start).days + 1))
        if d.weekday() == 1
    ]
    s20 = pd.Series(foreign).rolling(LOOKBACK, min_periods=1).sum().to_numpy()
    s20_base = pd.Series(foreign_base).rolling(LOOKBACK, min_periods=1).sum().to_numpy()
    scale = float(s20_base.std()) or 1.0
    last = np.searchsorted(np.array(fdates), np.array(tuesdays), side="right") - 1
    ar = _ar1(_rng(seed, 3, 2), max(len(tuesdays), 1), 1, 0.9, 1.0)[:, 0]
    keep = last >= 0
    z = s20[last[keep]] / scale
    add(
        [d for d, k in zip(tuesdays, keep) if k],
        "equity_futures_net_speculative_positions",
        np.rint(10_000 + 20_000 * z + 15_000 * ar[: len(tuesdays)][keep]),
        "%.0f",
    )
    # Daily USDJPY risk reversal, percent.
    r5 = pd.Series(jp_returns).rolling(5, min_periods=1).sum().to_numpy()
    rr = -0.7 + _ar1(_rng(seed, 3, 3), len(fdates), 1, 0.98, 0.35)[:, 0] + 0.06 * r5
    add(fdates, "usdjpy_1m_25d_risk_reversal", rr, "%.3f")
    # Monthly official holdings of US Treasuries by JP, US$ bn.
    walk = 1_100.0 * np.exp(np.cumsum(_rng(seed, 3, 4).normal(0.0, 0.012, len(month_ends))))
    f = np.array([us_drift.get(k, 1.0) for k in keys])
    add(month_ends, "official_holdings_us_treasuries_by_jp", walk * (1.0 - 0.5 * (1.0 - f)), "%.1f")
    return pd.concat(frames, ignore_index=True)[EXTERNAL_COLUMNS]


# --------------------------------------------------------------------------------------------
def _money(name: str, fmt: str):
    """int64 cents -> US$: exact text with 2 decimals for CSV ('-1234.05'), a double for Parquet.

    (String arithmetic on the cents is about twice as fast in Spark as a decimal cast, and a
    double column would be written in scientific notation in CSV.)
    """
    from pyspark.sql import functions as F

    if fmt == "csv":
        return F.concat(
            F.when(F.col(name) < 0, F.lit("-")).otherwise(F.lit("")),
            F.expr(f"cast(div(abs({name}), 100) as string)"),
            F.lit("."),
            F.lpad(F.expr(f"cast(abs({name}) % 100 as string)"), 2, "0"),
        )
    return F.col(name) / F.lit(100.0)


def _fund_id(col: str = "fund"):
    from pyspark.sql import functions as F

    return F.concat(F.lit("F"), F.lpad(F.col(col).cast("string"), 6, "0"))


def _share_id(fund: str = "fund", sc: str = "sc"):
    from pyspark.sql import functions as F

    return F.concat(F.lit("S"), F.lpad((F.col(fund) * 10 + F.col(sc)).cast("string"), 7, "0"))


def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _concat_parts(parts_dir: Path, target: Path, header: str) -> None:
    """One file from Spark's header-less CSV part files, in partition (file name) order."""
    with open(target, "wb") as out:
        out.write(header.encode() + b"\n")
        for part in sorted(parts_dir.glob("part-*")):
            with open(part, "rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)
    shutil.rmtree(parts_dir)


def _scenario_manifest(plan: _Plan, fdates: list[dt.date], groups: dict) -> dict:
    m = plan.mosaic
    if m is None:
        return {"enabled": False}
    return {
        "enabled": True,
        "window": {
            "start": fdates[m.ws].isoformat(),
            "end": fdates[-1].isoformat(),
            "flow_dates": len(fdates) - m.ws,
            "months": MOSAIC_MONTHS,
        },
        "investor_domicile": f"the fund's Domicile: JP domestic, offshore ({', '.join(OFFSHORE)}) "
        "a group of its own, any other foreign",
        "flows_into_country": "sum of Flow x weight(c): allocation/100, or 1 for a "
        "single-country fund in its country",
        "n_base_funds": m.n_base,
        "n_launched_funds": m.n_launch,
        "groups": groups,
    }


def generate(
    spark,
    out: str | os.PathLike,
    scale: str = "tiny",
    seed: int = 7,
    fmt: str | None = None,
    effect: float | None = None,
    *,
    n_funds: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    partitions: int | None = None,
    bond_effect: float | None = None,
    mosaic: bool = True,
    alloc_effect: float = 0.0,
    tail_countries: int | None = None,
) -> GenerateSummary:
    """Write a synthetic universe under `out` (layout in the module docstring).

    fmt ('csv' | 'parquet') and effect default to the scale's; n_funds, start, end and partitions
    override the scale (tests use tiny custom universes). bond_effect is the yields' planted
    effect: by default the scale's when effect is the scale's too, else `effect`, so an explicit
    effect sets both (as before bond_effect existed). mosaic=False leaves out the mosaic
    scenario: every file but manifest.json and market/external_series.csv is then byte for byte
    what the generator wrote before the scenario existed. alloc_effect: the planted
    allocation-change effect (module docstring; 0: none). tail_countries: destinations beyond
    the 52 that funds may hold (TAIL_ZIPF; default the scale's, 0 below 'large').
    """
    t0 = time.time()
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}")
    spec = SCALES[scale]
    fmt = fmt or spec.fmt
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    if bond_effect is None:
        bond_effect = spec.bond_effect if effect is None else effect
    bond_effect = float(spec.effect if bond_effect is None else bond_effect)
    effect = spec.effect if effect is None else float(effect)
    n_funds = spec.n_funds if n_funds is None else int(n_funds)
    start = start or spec.start
    end = end or spec.end
    k = int(partitions or spec.partitions)
    n_tail = spec.tail_countries if tail_countries is None else int(tail_countries)
    if not cal.flow_dates(start, end):
        raise ValueError(f"no flow dates between {start} and {end}")

    countries = load_countries()
    order = countries.published_order
    g10 = countries.groups["G10"]
    outp = Path(out).resolve()
    outp.mkdir(parents=True, exist_ok=True)
    (outp / "market").mkdir(exist_ok=True)
    paths = {
        "funds": outp / "funds.csv",
        "share_classes": outp / "share_classes.csv",
        "flows": outp / "flows",
        "allocations": outp / "allocations.csv",
        "returns": outp / "market" / "returns_daily.csv",
        "yields": outp / "market" / "yields_10y.csv",
        "external_series": outp / "market" / "external_series.csv",
        "manifest": outp / "manifest.json",
    }

    stages: dict[str, float] = {}
    lap = [time.time()]

    def stage(name: str) -> None:
        now = time.time()
        stages[name] = round(now - lap[0], 2)
        lap[0] = now

    fdates = cal.flow_dates(start, end)
    latent = simulate_latent(seed, len(fdates), len(order))[BURN_IN:]
    n_base = n_funds if mosaic else None
    tilt = alloc_tilt(seed, fdates, len(order)) if alloc_effect else None
    tail = tail_destinations(seed, n_tail)
    base_plan = _make_plan(seed, order, fdates, latent, n_base=n_base, alloc_tilt=tilt, tail=tail)
    n_extra = base_plan.mosaic.n_launch if base_plan.mosaic is not None else 0
    ids = spark.range(0, n_funds + n_extra, 1, k)

    # Funds and share classes: generated by Spark, small enough to write with pandas.
    fs = ids.mapInPandas(_funds_fn(base_plan), _funds_schema(len(order))).toPandas()
    fs = fs.sort_values("fund", kind="stable").reset_index(drop=True)
    fs["FundId"] = fs["fund"].map("F{:06d}".format)
    funds = pd.DataFrame(
        {
            "FundId": fs["FundId"],
            "AssetClass": fs["ac"],
            "GeographicFocus": fs["focus"],
            "CrossBorder": np.where(fs["xb"], "true", "false"),
            "Domicile": fs["domicile"],
            "ActivePassive": fs["ap"],
            "Vehicle": fs["vehicle"],
        }
    )
    funds.to_csv(paths["funds"], index=False)
    sc_fund = np.repeat(fs["fund"].to_numpy(), fs["n_sc"].to_numpy())
    sc_num = np.concatenate([np.arange(1, m + 1) for m in fs["n_sc"]])
    sc_inst = np.array(list("".join(fs["inst"])))
    sc = pd.DataFrame(
        {
            "ShareId": pd.Series(sc_fund * 10 + sc_num).map("S{:07d}".format),
            "FundId": pd.Series(sc_fund).map("F{:06d}".format),
            "InvestorType": np.where(sc_inst == "I", "Institutional", "Retail"),
        }
    )
    sc.to_csv(paths["share_classes"], index=False)
    flow_rows = int(fs["flow_rows"].sum())
    alloc_rows = int(fs["alloc_rows"].sum())
    xb_w = fs.loc[fs["xb"], [f"w{i}" for i in range(len(order))]].to_numpy()
    tail_held = set(",".join(fs["tail"]).split(",")) - {""}
    stage("funds")

    # Market: the planted effect follows the flows the cross-border funds would show.
    w = fs[[f"w{i}" for i in range(len(order))]].to_numpy()
    size = fs["size"].to_numpy()
    mixes = {}
    for ac in ("E", "B"):
        sel = ((fs["ac"] == ac) & fs["xb"]).to_numpy()
        mixes[ac] = mixing_matrix(w[sel], size[sel])
    market = simulate_market(
        seed, order, g10, start, end, effect, mixes["E"], mixes["B"], bond_effect, alloc_effect
    )
    plan = _make_plan(
        seed, order, fdates, latent, market, n_base=n_base, alloc_tilt=tilt, tail=tail
    )
    wd = [cal.to_yyyymmdd(d) for d in market["weekdays"]]
    ret = pd.DataFrame(np.round(market["returns"], 6), columns=list(order))
    ret.insert(0, "date", wd)
    ret.to_csv(paths["returns"], index=False, float_format="%.6f")
    yl = pd.DataFrame(np.round(market["yields"], 4), columns=list(g10))
    yl.insert(0, "date", wd)
    yl.to_csv(paths["yields"], index=False, float_format="%.4f")
    stage("market")

    # The scenario's totals and the external series need a few funds' flows: on the driver.
    jp_flows, groups = _scenario_pass(plan, fs, fdates)
    drift = groups.get("us_bond_weight_drift", {}).get("factor_by_month")
    ext = external_series(
        seed,
        start,
        end,
        fdates,
        jp_flows["foreign"],
        jp_flows["foreign_base"],
        market["returns_flow"][:, order.index("JP")],
        n_funds,
        drift,
    )
    ext.to_csv(paths["external_series"], index=False)
    stage("scenario")

    from pyspark.sql import functions as F

    # Allocations: Spark writes header-less parts, concatenated in order into one CSV.
    alloc_cols = ["ReportDate", "FundId", *order, *tail]
    adf = ids.mapInPandas(
        _alloc_fn(plan), "day int, fund int, " + ", ".join(f"{c} double" for c in alloc_cols[2:])
    )
    adf = adf.select(
        F.expr("date_from_unix_date(day)").alias("ReportDate"),
        _fund_id().alias("FundId"),
        *[F.col(c).cast("decimal(8,4)").alias(c) for c in alloc_cols[2:]],
    )
    tmp = outp / "_allocations_parts"
    adf.write.mode("overwrite").option("header", "false").csv(str(tmp))
    _concat_parts(tmp, paths["allocations"], ",".join(alloc_cols))
    stage("allocations")

    # Flows: the big one, streamed per fund group inside each task.
    fdf = ids.mapInPandas(_flows_fn(plan), FLOWS_SCHEMA)
    fdf = fdf.select(
        F.expr("date_from_unix_date(day)").alias("ReportDate"),
        _share_id().alias("ShareId"),
        _fund_id().alias("FundId"),
        _money("flow", fmt).alias("Flow"),
        _money("assets_start", fmt).alias("AssetsStart"),
        _money("assets_end", fmt).alias("AssetsEnd"),
        _money("portfolio_change", fmt).alias("PortfolioChange"),
        _money("forex_change", fmt).alias("ForexChange"),
    )
    writer = fdf.write.mode("overwrite")
    if fmt == "csv":
        writer.option("header", "true").csv(str(paths["flows"]))
    else:
        writer.parquet(str(paths["flows"]))
    stage("flows")

    fd = fdates
    summary = GenerateSummary(
        out=str(outp),
        scale=scale,
        seed=seed,
        effect=effect,
        bond_effect=bond_effect,
        fmt=fmt,
        start=fd[0].isoformat(),
        end=fd[-1].isoformat(),
        n_flow_dates=len(fd),
        n_weekdays=len(market["weekdays"]),
        n_funds=len(fs),
        mosaic=mosaic,
        alloc_effect=float(alloc_effect),
        n_scenario_funds=n_extra,
        n_destinations=int((xb_w > 0).any(axis=0).sum()) + len(tail_held),
        n_tail_destinations=len(tail_held),
        n_cross_border=int(fs["xb"].sum()),
        n_share_classes=len(sc),
        flow_rows=flow_rows,
        allocation_rows=alloc_rows,
        partitions=k,
        paths={name: str(p) for name, p in paths.items()},
        bytes_on_disk={name: _du(p) for name, p in paths.items() if name != "manifest"},
        stage_seconds=stages,
    )
    summary.seconds = round(time.time() - t0, 2)
    manifest = asdict(summary)
    manifest.update(
        {
            "generator": "flowmosaic.synth",
            "planted_effect": {
                "definition": "return(c,t) += effect*K_RET*s_E(c,t-3); dyield_bp(c,t) -= "
                "bond_effect*K_YLD*s_B(c,t-3); s_U = cross-sectional z-score of the "
                "20-row compounded latent flow factors mixed by the cross-border funds' "
                "AUM-weighted allocations of asset class U (see flowmosaic.synth)",
                "K_RET_pct_per_day": K_RET,
                "K_YLD_bp_per_day": K_YLD,
                "lag_rows": EFFECT_LAG,
            },
            "single_country_funds": "no allocation rows; 100% in their GeographicFocus country",
            "mosaic_scenario": _scenario_manifest(plan, fdates, groups),
            "external_series": {
                "path": "market/external_series.csv",
                "columns": EXTERNAL_COLUMNS,
                "coverage": min(1.0, n_funds / COVERAGE_FUNDS),
                "series": [
                    {
                        "series": a,
                        "country": b,
                        "unit": c,
                        "frequency": d,
                        "description": e,
                        "rows": int((ext["series"] == a).sum()),
                    }
                    for a, b, c, d, e in EXTERNAL_SERIES
                ],
            },
            "columns": {
                "flows": FLOW_COLUMNS,
                "funds": FUND_COLUMNS,
                "share_classes": SHARE_CLASS_COLUMNS,
                "allocations": alloc_cols,
            },
        }
    )
    paths["manifest"].write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return summary

"""Driver-side market: latent country flow factors, the planted effects, returns and yields.

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
published flow strategies; measurements next to SCALES in scales.py). Jan 1 and Dec 25
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
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from flowmosaic import calendar as cal
from flowmosaic.synth.draws import _ar1, _rng, _tnoise
from flowmosaic.synth.universe import EM, REGION

K_RET = 0.10  # percent of daily return per unit cross-sectional z-score of lagged 20d flow
K_YLD = 0.45  # basis points of daily yield change per unit z-score (opposite sign)
EFFECT_LAG = 3  # flow-calendar rows between the flow signal and the return it moves
ALLOC_TILT_SD = 0.3  # sd of a month's common log-weight shock per country (alloc_effect > 0)
K_ALLOC = 0.10  # percent of daily return per unit z-score of the public month's weight shock
BURN_IN = 60  # latent flow rows simulated before the first flow date
LOOKBACK = 20


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

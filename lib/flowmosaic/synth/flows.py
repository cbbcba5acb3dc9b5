"""The daily flows file: share-class rows of every fund on every flow date it reports.

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
"""

from __future__ import annotations

import numpy as np

from flowmosaic.synth.draws import _ar1, _tnoise
from flowmosaic.synth.files import _ids, _stack
from flowmosaic.synth.funds import _profile
from flowmosaic.synth.plan import _Plan
from flowmosaic.synth.scenario import _plant
from flowmosaic.synth.universe import BETA_AC

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


FLOWS_SCHEMA = (
    "day int, fund int, sc int, flow long, assets_start long, assets_end long, "
    "portfolio_change long, forex_change long"
)


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

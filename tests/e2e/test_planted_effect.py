"""The backtest finds a planted effect through the whole pipeline, and finds none when there is
none: tiny synthetic universe (seed 3, effect 2) -> ingest -> country flows -> backtest against
its own returns, and the same country flows against the returns of the universe generated with
effect 0 (the generator draws every noise term independently of the effect, so those returns
are the same market without the planted term; the flows of the two universes differ only
through the assets' returns, which hardly move the flow %)."""

import pytest

from flowmosaic import synth
from flowmosaic.backtest import api as bt
from flowmosaic.backtest.io import read_market_file
from flowmosaic.country_flows import run as country_flows_run
from flowmosaic.export.strategy_files import country_matrix
from flowmosaic.ingest import ingest_paths

pytestmark = pytest.mark.slow
HORIZON = 20  # the effect loads on the 20-row compounded flow, lagged: tested at 20 weekdays


def _txb_tstat(flows, raw) -> float:
    returns = read_market_file(raw / "market" / "returns_daily.csv")
    result = bt.run(flows, returns, {"returns_kind": "pct", "horizons": (5, HORIZON)})
    return result.value(HORIZON, "TStat", "TxB")


def test_planted_effect_is_found_and_absent_effect_is_not(spark, make_settings, tmp_path):
    # effect 2: at 1 the tiny universe (2 years, 80 funds) sits right at t = 3 for this seed
    raw = {effect: tmp_path / f"raw-effect{effect}" for effect in (2.0, 0.0)}
    for effect, out in raw.items():
        synth.generate(spark, out, scale="tiny", seed=3, effect=effect)
    settings = make_settings(tmp_path / "wh")
    ingest_paths(spark, settings, directory=str(raw[2.0]))
    country_flows_run(spark, settings, "FloPctCtry", progress=lambda _m: None)
    flows, _ = country_matrix(spark, settings, "FloPctCtry")
    with_effect = _txb_tstat(flows, raw[2.0])
    without = _txb_tstat(flows, raw[0.0])
    print(
        f"TxB t-stat at {HORIZON} weekdays: effect 2 -> {with_effect:.2f}, "
        f"effect 0 -> {without:.2f}"
    )
    assert with_effect > 3, with_effect
    assert without < 3, without

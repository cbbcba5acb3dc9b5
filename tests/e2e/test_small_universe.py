"""End to end on the small synthetic universe: generate -> ingest -> country-flows, checked
against an independent pandas implementation over the silver tables (read with deltalake, not
Spark, and not calling any flowmosaic transform)."""
import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable

from flowmosaic import country_flows, ingest, storage, synth
from flowmosaic.config import load_settings
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
UNIVERSES = ["FloPctCtry", "FloPctCtry-B", "FloPctCtry-B-xdom-inst"]


@pytest.fixture(scope="module")
def small(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("small")
    settings = load_settings(ROOT / "conf" / "local.yaml", warehouse=str(base / "wh"))
    synth.generate(spark, base / "raw", scale="small", seed=11)
    ingest.ingest_paths(spark, settings, directory=str(base / "raw"))
    country_flows.run(spark, settings, UNIVERSES, progress=lambda _m: None)
    return settings


def _delta(settings, name, columns=None):
    return DeltaTable(settings.table_path(name)).to_pandas(columns=columns)


def reference(settings) -> pd.DataFrame:
    """Methodology sections 3-4 written out in pandas, universe filters by hand."""
    flows = _delta(settings, "share_class_flows",
                   ["flow_date", "share_id", "fund_id", "flow", "assets_start", "portfolio_change"])
    sc = _delta(settings, "share_classes", ["share_id", "investor_type"])
    funds = _delta(settings, "funds", ["fund_id", "asset_class", "cross_border", "domicile"])
    alloc = _delta(settings, "fund_allocations", ["alloc_month", "fund_id", "country", "allocation_pct"])
    alloc = alloc[alloc.allocation_pct > 0].copy()
    alloc["month"] = pd.PeriodIndex(pd.to_datetime(alloc.alloc_month), freq="M")
    flows = flows.merge(sc, on="share_id", how="left")
    flows["flow_date"] = pd.to_datetime(flows.flow_date)
    specs = {
        "FloPctCtry": dict(asset="E", inst_only=False, xdom=False),
        "FloPctCtry-B": dict(asset="B", inst_only=False, xdom=False),
        "FloPctCtry-B-xdom-inst": dict(asset="B", inst_only=True, xdom=True),
    }
    out = []
    for name, s in specs.items():
        members = funds[(funds.asset_class == s["asset"]) & funds.cross_border.astype(bool)]
        f = flows[flows.fund_id.isin(members.fund_id)]
        if s["inst_only"]:
            f = f[f.investor_type == "Institutional"]
        day = f.groupby(["fund_id", "flow_date"], as_index=False)[
            ["flow", "assets_start", "portfolio_change"]].sum()
        back = np.where(day.flow_date.dt.day >= 23, 1, 2)
        day["month"] = pd.PeriodIndex(day.flow_date, freq="M") - back
        j = day.merge(alloc, on=["fund_id", "month"]).merge(members[["fund_id", "domicile"]], on="fund_id")
        if s["xdom"]:
            j = j[j.country != j.domicile]
        w = j.allocation_pct / 100
        j = j.assign(fw=j.flow * w, aw=j.assets_start * w)
        g = j.groupby(["flow_date", "country"], as_index=False)[["fw", "aw"]].sum()
        g["flow_pct"] = 100 * g.fw / g.aw
        g["universe"] = name
        out.append(g[["universe", "flow_date", "country", "flow_pct"]])
    return pd.concat(out, ignore_index=True)


def test_engine_matches_independent_pandas(small):
    ref = reference(small)
    got = _delta(small, "country_flows", ["universe", "flow_date", "country", "flow_pct"])
    got = got[got.universe.isin(UNIVERSES)].copy()
    got["flow_date"] = pd.to_datetime(got.flow_date)
    m = ref.merge(got, on=["universe", "flow_date", "country"], how="outer",
                  suffixes=("_ref", "_got"), indicator=True)
    assert (m._merge == "both").all(), m[m._merge != "both"].head()
    assert len(m) > 50_000 and set(m.universe) == set(UNIVERSES)
    rel = (m.flow_pct_got - m.flow_pct_ref).abs() / m.flow_pct_ref.abs().clip(lower=1e-12)
    assert rel.max() <= 1e-9, m.loc[rel.idxmax()]

"""End to end on a synthetic universe (the small scale cut down to 250 funds over one year):
generate -> ingest -> country-flows, checked against an independent pandas implementation of
docs/methodology.md sections 3-6.

The reference reads the silver inputs with deltalake (not Spark): share_class_flows,
share_classes, funds and fund_allocations. It does not read fund_days (the engine's input,
maintained by ingest) and calls no flowmosaic code: the investor-type selection, the fund-day
sums, the 23rd rule, single-country funds, ex-domestic and the universe filters are written
out below by hand. Every (universe, date, country) row must agree, with the tolerance rule of
tests/support/tolerance.py (scaled by the absolute terms summed), and fund_count exactly.
"""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml
from deltalake import DeltaTable

from flowmosaic import synth
from flowmosaic.config import load_countries
from flowmosaic.country_flows import run as country_flows_run
from flowmosaic.ingest import ingest_paths
from tests.support import tolerance as tol

pytestmark = pytest.mark.slow
ALL_TYPES = {"Institutional", "Retail", "Other"}
# The universes, filters written out by hand (conf/universes.yaml declares the first three;
# the fourth is added for this test: institutional share classes of every equity fund,
# single-country funds included).
SPECS = {
    "FloPctCtry": dict(asset="E", cross_border=True, types=ALL_TYPES, xdom=False),
    "FloPctCtry-B": dict(asset="B", cross_border=True, types=ALL_TYPES, xdom=False),
    "FloPctCtry-B-xdom-inst": dict(
        asset="B", cross_border=True, types={"Institutional"}, xdom=True
    ),
    "Eq-inst": dict(asset="E", cross_border=None, types={"Institutional"}, xdom=False),
}
UNIVERSES = list(SPECS)
EXTRA_UNIVERSE = {
    "Eq-inst": {
        "description": "institutional share classes of equity funds",
        "asset_class": ["E"],
        "investor_type": ["Institutional"],
    }
}
SUMS = {
    "flow_usd": "flow",
    "assets_start_usd": "assets_start",
    "portfolio_change_usd": "portfolio_change",
}


@pytest.fixture(scope="module")
def small(spark, make_settings, repo, tmp_path_factory):
    base = tmp_path_factory.mktemp("small")
    settings = make_settings(base / "wh")
    declared = yaml.safe_load((repo / "conf" / "universes.yaml").read_text())
    declared["universes"].update(EXTRA_UNIVERSE)
    universes_path = base / "universes.yaml"
    universes_path.write_text(yaml.safe_dump(declared, sort_keys=False))
    # the small scale's universe cut down to 250 funds over 2020: every rule still has cases
    # (retail-only and single-country funds, both 23rd-rule switches of every month)
    synth.generate(
        spark,
        base / "raw",
        scale="small",
        seed=11,
        n_funds=250,
        start=dt.date(2020, 1, 1),
        end=dt.date(2020, 12, 31),
    )
    ingest_paths(spark, settings, directory=str(base / "raw"))
    country_flows_run(
        spark, settings, UNIVERSES, universes_path=str(universes_path), progress=lambda _m: None
    )
    return settings


def _delta(settings, name, columns):
    return DeltaTable(settings.table_path(name)).to_pandas(columns=columns)


def _silver(settings):
    countries = set(load_countries().published_order)
    flows = _delta(
        settings,
        "share_class_flows",
        ["flow_date", "share_key", "fund_key", "flow", "assets_start", "portfolio_change"],
    )
    sc = _delta(settings, "share_classes", ["share_key", "fund_key", "investor_type"])
    funds = _delta(
        settings,
        "funds",
        ["fund_key", "asset_class", "cross_border", "domicile", "geographic_focus"],
    )
    alloc = _delta(
        settings, "fund_allocations", ["alloc_month", "fund_key", "country", "allocation_pct"]
    )
    # investor types: exactly Institutional or Retail, anything else (blank too) is Other
    it = sc.investor_type.where(sc.investor_type.isin(["Institutional", "Retail"]), "Other")
    sc = sc.assign(itype=it)
    flows = flows.merge(
        sc[["share_key", "itype"]], on="share_key", how="left", validate="many_to_one"
    )
    assert flows.itype.notna().all()
    flows["flow_date"] = pd.to_datetime(flows.flow_date)
    xb = funds.cross_border.astype("boolean")
    funds = funds.assign(
        xb_true=xb.fillna(False).astype(bool),
        xb_false=(~xb).fillna(False).astype(bool),
        focus=funds.geographic_focus.fillna("").str.upper(),
    )
    # single-country funds: not cross-border, focus one of the 52, no allocation row ever
    single = funds[
        funds.xb_false & funds.focus.isin(countries) & ~funds.fund_key.isin(alloc.fund_key)
    ]
    alloc = alloc[(alloc.allocation_pct > 0) & alloc.country.isin(countries)].copy()
    alloc["month"] = pd.PeriodIndex(pd.to_datetime(alloc.alloc_month), freq="M")
    alloc["w"] = alloc.allocation_pct / 100.0
    return flows, sc, funds, single, alloc


def _members(funds, spec):
    keep = funds.asset_class == spec["asset"]
    if spec["cross_border"] is True:
        keep &= funds.xb_true
    elif spec["cross_border"] is False:
        keep &= funds.xb_false
    return funds[keep]


def _universe(flows, funds, single, alloc, spec, types) -> pd.DataFrame:
    members = _members(funds, spec)
    f = flows[flows.fund_key.isin(members.fund_key) & flows.itype.isin(types)]
    # fund-days: the selected share classes summed (a blank portfolio change counts 0)
    day = f.groupby(["fund_key", "flow_date"], as_index=False)[
        ["flow", "assets_start", "portfolio_change"]
    ].sum()
    # the 23rd rule: from the 23rd the previous month's snapshot, before it two months back
    back = np.where(day.flow_date.dt.day >= 23, 1, 2)
    day["month"] = pd.PeriodIndex(day.flow_date, freq="M") - back
    snap = day.merge(alloc[["fund_key", "month", "country", "w"]], on=["fund_key", "month"])
    one = (
        day.merge(single[["fund_key", "focus"]], on="fund_key")
        .rename(columns={"focus": "country"})
        .assign(w=1.0)
    )
    j = pd.concat([snap, one], ignore_index=True).merge(
        members[["fund_key", "domicile"]], on="fund_key"
    )
    if spec["xdom"]:
        j = j[j.country != j.domicile]
    j = j[j.w > 0]
    terms = {}
    for m in ("flow", "assets_start", "portfolio_change"):
        terms[f"{m}_w"] = j[m] * j.w
        terms[f"{m}_abs"] = (j[m] * j.w).abs()
    j = j.assign(**terms)
    g = j.groupby(["flow_date", "country"], as_index=False).agg(
        **{c: (c, "sum") for c in terms}, fund_count=("fund_key", "nunique")
    )
    return g


def reference(settings) -> tuple[pd.DataFrame, dict]:
    flows, sc, funds, single, alloc = _silver(settings)
    out = []
    for name, spec in SPECS.items():
        g = _universe(flows, funds, single, alloc, spec, spec["types"])
        out.append(g.assign(universe=name))
    # Eq-inst with every investor type: what the retail-only funds would add
    facts = {"eq_all_types": _universe(flows, funds, single, alloc, SPECS["Eq-inst"], ALL_TYPES)}
    types = sc.groupby("fund_key").itype.agg(set)
    retail_only = set(types[types.map(lambda s: s == {"Retail"})].index)
    facts["retail_only_in_eq"] = retail_only & set(_members(funds, SPECS["Eq-inst"]).fund_key)
    facts["single"] = set(single.fund_key)
    return pd.concat(out, ignore_index=True), facts


@pytest.fixture(scope="module")
def compared(small):
    ref, facts = reference(small)
    got = _delta(
        small,
        "country_flows",
        [
            "universe",
            "flow_date",
            "country",
            "flow_usd",
            "assets_start_usd",
            "flow_pct",
            "portfolio_change_usd",
            "pseudo_return_pct",
            "fund_count",
        ],
    )
    got = got[got.universe.isin(UNIVERSES)].copy()
    got["flow_date"] = pd.to_datetime(got.flow_date)
    m = ref.merge(
        got,
        on=["universe", "flow_date", "country"],
        how="outer",
        suffixes=("_ref", ""),
        indicator=True,
    )
    return m, facts


def test_same_rows(compared):
    m, _ = compared
    missing = m[m._merge != "both"]
    assert missing.empty, missing[["universe", "flow_date", "country", "_merge"]].head(10)
    assert len(m) > 20_000 and set(m.universe) == set(UNIVERSES)
    assert (m.fund_count == m.fund_count_ref).all(), m[m.fund_count != m.fund_count_ref].head()


@pytest.mark.parametrize("column", list(SUMS))
def test_sums_within_the_terms_tolerance(compared, column):
    m, _ = compared
    base = SUMS[column]
    tol.assert_within(m, column, f"{base}_w", tol.sum_tolerance(m[f"{base}_abs"]), what=column)


@pytest.mark.parametrize(
    "column, numerator", [("flow_pct", "flow"), ("pseudo_return_pct", "portfolio_change")]
)
def test_percentages_within_the_terms_tolerance(compared, column, numerator):
    m, _ = compared
    a = m.assets_start_w
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.where(a != 0, 100.0 * m[f"{numerator}_w"] / a, np.nan)
    m = m.assign(_want=want)
    tol.assert_within(m, column, "_want", tol.pct_tolerance(m[f"{numerator}_abs"], a), what=column)


def test_retail_only_funds_do_not_count_in_an_institutional_universe(compared):
    """Eq-inst selects institutional share classes: an equity fund whose share classes are
    all retail contributes nothing (its flows are in no row, it is in no fund_count). The
    check above is not vacuous: such funds exist and, with every type, would add to the sums
    and fund counts; and single-country funds take part."""
    m, facts = compared
    assert facts["retail_only_in_eq"], "the synthetic universe has no retail-only equity fund"
    eq = m[m.universe == "Eq-inst"].set_index(["flow_date", "country"])
    every = facts["eq_all_types"].set_index(["flow_date", "country"])
    # every engine row's count is at most the all-types count, and below it somewhere
    both = eq.join(every[["fund_count"]], rsuffix="_every", how="left")
    assert (both.fund_count <= both.fund_count_every).all()
    assert (both.fund_count < both.fund_count_every).any()
    assert (both.flow_w != both.join(every[["flow_w"]], rsuffix="_every").flow_w_every).any()
    assert facts["single"], "the synthetic universe has no single-country fund"


def test_lines_that_are_not_countries_are_kept_apart(small):
    """The generator's allocation lines that are not countries (Cash, Other, Supranational)
    reach silver fund_allocations_other, never fund_allocations (so never a country of the
    reference above), and none is quarantined as unknown_country."""
    other = _delta(small, "fund_allocations_other", ["line_kind", "label", "allocation_pct"])
    assert set(other.label) == set(synth.NON_COUNTRY_COLUMNS)
    assert set(other.line_kind) == {synth.NON_COUNTRY_KIND[c] for c in other.label}
    assert (other.allocation_pct > 0).all()
    alloc = _delta(small, "fund_allocations", ["country"])
    assert alloc.country.isin(load_countries().destinations).all()
    path = small.table_path("quarantine")
    if DeltaTable.is_deltatable(path):
        q = DeltaTable(path).to_pandas(columns=["reason"])
        assert not (q.reason == "unknown_country").any()


def test_the_driver_holds_no_weights(spark, small):
    """country-flows and mosaic-flows over the whole year with the driver's result size
    bounded (spark.driver.maxResultSize, the limit every job's task results are checked
    against) far below the window's weights: bringing the weights to the driver fails under
    that limit, and both jobs pass under it. country_flows is what the unbounded run wrote."""
    from flowmosaic.country_flows import sources

    silver = sources.read_silver(spark, small)
    lo, hi = dt.date(2020, 1, 1), dt.date(2020, 12, 31)
    countries = load_countries().published_order
    weights = sources.month_weight_rows(silver, sources.alloc_months(lo, hi), countries)
    n_weights = weights.count()
    limit_bytes = 64 * 1024
    assert n_weights * 16 > 4 * limit_bytes  # fund key, country, weight: >= 16 bytes each
    before = spark.read.format("delta").load(small.table_path("country_flows"))
    before = before.toPandas()
    conf = spark.sparkContext._jsc.sc().conf()  # the scheduler's own SparkConf
    old = conf.get("spark.driver.maxResultSize", "1g")
    conf.set("spark.driver.maxResultSize", f"{limit_bytes // 1024}k")
    try:
        with pytest.raises(Exception, match="maxResultSize"):
            weights.toArrow()
        for grain in ("country", "investor"):
            country_flows_run(
                spark,
                small,
                ["FloPctCtry", "FloPctCtry-B"],
                grain=grain,
                progress=lambda _m: None,
            )
    finally:
        conf.set("spark.driver.maxResultSize", old)
    after = spark.read.format("delta").load(small.table_path("country_flows")).toPandas()
    key = ["universe", "flow_date", "country"]
    pd.testing.assert_frame_equal(
        before.sort_values(key).reset_index(drop=True),
        after.sort_values(key).reset_index(drop=True),
        check_exact=False,
        rtol=1e-12,
    )
    icf = spark.read.format("delta").load(small.table_path("investor_country_flows"))
    assert icf.count() > 0

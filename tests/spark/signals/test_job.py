"""The signals job on Delta: the worked example of docs/signals.md written as silver tables
(funds A, B, C; X = JP, Y = US), computed into gold country_signals for a universe and read
back (also through the API); a one-signal run replaces only its rows. Universes with
investor-type filters and ex-domestic are compared with an independent implementation in
tests/spark/mosaic/test_investor_reference.py."""

import datetime as dt

import pytest
from pyspark.sql import functions as F

from flowmosaic import calendar as cal
from flowmosaic import storage
from flowmosaic.errors import InputError
from flowmosaic.signals import job
from flowmosaic.tables import table
from tests.spark.signals.test_transforms import (
    APR,
    DAILY,
    DAY,
    FLOW,
    FOCUS,
    FUNDS,
    MAY,
    MONTHLY,
    NEW,
    OLD,
    E,
    S,
)

ISO = {"X": "JP", "Y": "US"}
TYPES = {"A": "Institutional", "B": "Retail", "C": None}  # C's type counts as Other


@pytest.fixture(scope="module")
def universes(tmp_path_factory):
    p = tmp_path_factory.mktemp("signals-conf") / "universes.yaml"
    p.write_text("""universes:
  Eq-all:
    asset_class: [E]
""")
    return str(p)


@pytest.fixture(scope="module")
def wh(spark, make_settings, tmp_path_factory):
    s = make_settings(tmp_path_factory.mktemp("signals") / "wh")
    flows = []
    for f, k in FUNDS.items():
        for d, flow, start, end in (
            (dt.date(2025, 5, 1), 0.0, S[f], S[f]),
            (dt.date(2025, 5, 30), 0.0, E[f], E[f]),
            (DAY, FLOW[f], E[f], E[f] + FLOW[f]),
        ):
            flows.append((d, k, k, flow, start, end, 0.0, 0.0, False, d.replace(day=1)))
    allocs = [
        (m, cal.month_end(m), FUNDS[f], ISO[c], float(p))
        for m, snap in ((APR, OLD), (MAY, NEW))
        for (f, c), p in snap.items()
    ]
    data = {
        "funds": [(k, f"F-{f}", "E", FOCUS[f], True, "LU", "A", "MF") for f, k in FUNDS.items()],
        "share_classes": [
            (k, f"S-{f}", k, f"F-{f}", TYPES[f], None, None) for f, k in FUNDS.items()
        ],
        "share_class_flows": flows,
        "fund_allocations": allocs,
    }
    for name, rows in data.items():
        path = storage.ensure(spark, s, name)
        storage.append(spark.createDataFrame(rows, table(name).schema), path, {"job": "fixture"})
    return s


@pytest.fixture(scope="module")
def computed(spark, wh, universes):
    """One run of the signals job over the day (the module's tests read it)."""
    return {
        "Eq-all": job.run(spark, wh, "Eq-all", DAY, DAY, universes_path=universes, progress=str)
    }


def gold(spark, s, universe: str) -> dict[tuple[str, str], float | None]:
    rows = storage.read(spark, s.table_path("country_signals")).where(
        (F.col("universe") == universe) & (F.col("date") == DAY)
    )
    return {(r["signal"], r["country"]): r["value"] for r in rows.collect()}


def test_every_signal_of_the_worked_example_lands_in_gold(spark, wh, computed):
    run = computed["Eq-all"]
    got = gold(spark, wh, "Eq-all")
    expected = {(sig, ISO[c]): v for (sig, c), v in {**DAILY, **MONTHLY}.items()}
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key
    # no other date: the May monthly signals are dated the day May's snapshot is public
    dates = storage.read(spark, wh.table_path("country_signals")).select("date").distinct()
    assert [r[0] for r in dates.collect()] == [DAY]
    assert run.rows_written == len(got) and set(run.signals) == set(job.T.SIGNALS)
    assert run.source_versions.keys() == set(job.SILVER)


def test_one_signal_rerun_replaces_only_its_rows(spark, wh, universes, computed):
    """FloDiff again over the same window: one commit, its two rows rewritten with the same
    values, every other signal's row kept."""
    path = wh.table_path("country_signals")
    before = storage.read(spark, path).toPandas().sort_values(["universe", "signal", "country"])
    v = storage.current_version(spark, path)
    again = job.run(
        spark, wh, "Eq-all", DAY, DAY, signals="FloDiff", universes_path=universes, progress=str
    )
    assert again.rows_written == 2 and storage.current_version(spark, path) == v + 1
    after = storage.read(spark, path).toPandas().sort_values(["universe", "signal", "country"])
    assert before.reset_index(drop=True).equals(after.reset_index(drop=True))


def test_an_unknown_signal_is_refused_with_the_names_that_exist():
    with pytest.raises(InputError, match=r"unknown signal\(s\) \['FloWhat'\].*AllocMo"):
        job.pick_signals("FloTrend,FloWhat")


def test_the_api_reads_a_signal_long_and_wide(wh, computed):
    """fm.open(...).signals reads the gold table through delta-rs: the long rows of one
    signal, and dates x countries of its values."""
    import flowmosaic as fm

    w = fm.open(wh.warehouse)
    long = w.signals("Eq-all", signal="FloDiff")
    assert set(long.country) == {"JP", "US"} and set(long.signal) == {"FloDiff"}
    wide = w.signals("Eq-all", DAY, DAY, signal="AllocDiff", wide=True)
    assert list(wide.columns) == ["JP", "US"] and len(wide) == 1
    assert wide["JP"].iloc[0] == pytest.approx(-180 / 600)
    with pytest.raises(InputError, match="universe 'Nope' has no rows"):
        w.signals("Nope")

"""Strategy files: the reader on the published file, the writer round trip, export from Delta
(flowmosaic.export.strategy_files)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from flowmosaic import storage
from flowmosaic.config import load_countries
from flowmosaic.errors import InputError
from flowmosaic.export import strategy_files as sf
from flowmosaic.tables import table


@pytest.fixture(scope="module")
def published(golden):
    return golden / "dm_rates_2022_02" / "daily_flow_pct.csv"


def test_reader_parses_the_published_file(published):
    m = sf.read_strategy_file(published)
    assert list(m.columns) == list(load_countries().groups["G10"])
    assert [d.strftime("%Y%m%d") for d in m.index] == [
        "20220201",
        "20220202",
        "20220203",
        "20220204",
        "20220207",
        "20220208",
    ][: len(m)]
    # values straight from the published printout
    assert m.loc["2022-02-01", "AU"] == -0.0950507
    assert m.loc["2022-02-04", "CH"] == -0.3684561


def test_writer_round_trips_with_blanks(tmp_path):
    rng = np.random.default_rng(3)
    idx = pd.to_datetime(["2022-02-01", "2022-02-02", "2022-02-03"])
    m = pd.DataFrame(
        rng.normal(size=(3, 52)) / 7, index=idx, columns=list(load_countries().published_order)
    )
    m.iloc[1, 5] = np.nan
    path = sf.write_strategy_file(m, tmp_path / "x.csv")
    text = path.read_text().splitlines()
    assert text[0].split(",")[:3] == ["date", "AU", "BR"]
    assert text[2].split(",")[6] == ""  # the blank stays blank
    back = sf.read_strategy_file(path)
    pd.testing.assert_frame_equal(back, m, check_names=False, check_freq=False)


def test_reader_names_the_bad_line(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("date,AU\n20220201,0.1\n02/02/2022,0.2\n")
    with pytest.raises(InputError, match=r"line 3"):
        sf.read_strategy_file(p)


def test_export_from_delta_round_trips(spark, warehouse, tmp_path):
    settings = warehouse
    schema = table("country_flows").schema
    path = storage.ensure(spark, settings, "country_flows")
    d1, d2 = dt.date(2022, 2, 1), dt.date(2022, 2, 2)
    rows = [
        ("U", d1, "AU", 1.0, 3.0, 100 / 3, 0.0, 0.0, 1),
        ("U", d1, "US", -2.0, 7.0, -200 / 7, 0.0, 0.0, 2),
        ("U", d2, "US", 1.0, 9.0, 100 / 9, 0.0, 0.0, 1),
        ("V", d2, "AU", 1.0, 1.0, 100.0, 0.0, 0.0, 1),
    ]
    storage.append(spark.createDataFrame(rows, schema), path, {"job": "test-fixture"})
    v1 = storage.current_version(spark, path)

    out, n, version = sf.export_universe(spark, settings, "U", tmp_path / "out")
    assert out == tmp_path / "out" / "Strategies" / "daily" / "U-daily.csv" and n == 2
    assert out == sf.strategy_path(tmp_path / "out", "U") and version == v1
    back = sf.read_strategy_file(out)
    assert list(back.columns) == list(load_countries().published_order)
    assert back.loc["2022-02-01", "US"] == -200 / 7 and back.loc["2022-02-02", "US"] == 100 / 9
    assert np.isnan(back.loc["2022-02-02", "AU"]) and back["BR"].isna().all()
    # the file holds exactly the table's matrix
    matrix, mv = sf.country_matrix(spark, settings, "U")
    assert mv == v1
    pd.testing.assert_frame_equal(back, matrix, check_names=False, check_freq=False)

    g10, _, _ = sf.export_universe(spark, settings, "U", tmp_path / "out", countries="G10")
    assert g10 == sf.strategy_path(tmp_path / "out", "U-G10")
    assert list(sf.read_strategy_file(g10).columns) == list(load_countries().groups["G10"])
    with pytest.raises(InputError, match="present: U, V"):
        sf.export_universe(spark, settings, "W", tmp_path / "out")

    # a later version changes US on 2 Feb; the pinned version still exports the first
    storage.replace_where(
        spark.createDataFrame([("U", d2, "US", 2.0, 8.0, 25.0, 0.0, 0.0, 1)], schema),
        path,
        "universe = 'U' AND flow_date = DATE'2022-02-02'",
    )
    now, _, v2 = sf.export_universe(spark, settings, "U", tmp_path / "now")
    then, _, vp = sf.export_universe(spark, settings, "U", tmp_path / "then", version=v1)
    assert (v2, vp) == (v1 + 1, v1)
    assert sf.read_strategy_file(now).loc["2022-02-02", "US"] == 25.0
    assert sf.read_strategy_file(then).loc["2022-02-02", "US"] == 100 / 9
    with pytest.raises(InputError, match="does not exist"):
        sf.export_universe(spark, settings, "U", tmp_path / "x", version=v2 + 5)


def test_export_without_a_table_is_a_clear_error(spark, warehouse, tmp_path):
    with pytest.raises(InputError, match="no Delta table"):
        sf.export_universe(spark, warehouse, "U", tmp_path / "out")

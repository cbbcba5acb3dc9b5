"""Strategy files: the reader on the published file, the writer round trip, export from Delta."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from flowmosaic import export, schemas, storage
from flowmosaic.config import load_countries, load_settings
from flowmosaic.errors import InputError
from tests.conftest import DATA, ROOT

GOLDEN = DATA / "golden" / "dm_rates_2022_02" / "daily_flow_pct.csv"


def test_reader_parses_the_published_file():
    m = export.read_strategy_file(GOLDEN)
    assert list(m.columns) == list(load_countries().groups["G10"])
    assert [d.strftime("%Y%m%d") for d in m.index] == [
        "20220201", "20220202", "20220203", "20220204", "20220207", "20220208"][: len(m)]
    # values straight from the published printout
    assert m.loc["2022-02-01", "AU"] == -0.0950507
    assert m.loc["2022-02-04", "CH"] == -0.3684561


def test_writer_round_trips_with_blanks(tmp_path):
    rng = np.random.default_rng(3)
    idx = pd.to_datetime(["2022-02-01", "2022-02-02", "2022-02-03"])
    m = pd.DataFrame(rng.normal(size=(3, 52)) / 7, index=idx,
                     columns=list(load_countries().published_order))
    m.iloc[1, 5] = np.nan
    path = export.write_strategy_file(m, tmp_path / "x.csv")
    text = path.read_text().splitlines()
    assert text[0].split(",")[:3] == ["date", "AU", "BR"]
    assert text[2].split(",")[6] == ""  # the blank stays blank
    back = export.read_strategy_file(path)
    pd.testing.assert_frame_equal(back, m, check_names=False, check_freq=False)


def test_reader_names_the_bad_line(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("date,AU\n20220201,0.1\n02/02/2022,0.2\n")
    with pytest.raises(InputError, match=r"line 3"):
        export.read_strategy_file(p)


def test_export_from_delta_round_trips(spark, tmp_path):
    settings = load_settings(ROOT / "conf" / "local.yaml", warehouse=str(tmp_path / "wh"))
    path = settings.table_path("country_flows")
    storage.ensure_table(spark, path, schemas.COUNTRY_FLOWS, ("universe",))
    d1, d2 = dt.date(2022, 2, 1), dt.date(2022, 2, 2)
    rows = [("U", d1, "AU", 1.0, 3.0, 100 / 3, 0.0, 0.0, 1), ("U", d1, "US", -2.0, 7.0, -200 / 7, 0.0, 0.0, 2),
            ("U", d2, "US", 1.0, 9.0, 100 / 9, 0.0, 0.0, 1), ("V", d2, "AU", 1.0, 1.0, 100.0, 0.0, 0.0, 1)]
    storage.append(spark.createDataFrame(rows, schemas.COUNTRY_FLOWS), path)
    out, n, version = export.export(spark, settings, "U", tmp_path / "out")
    assert out == tmp_path / "out" / "Strategies" / "daily" / "U-daily.csv" and n == 2
    back = export.read_strategy_file(out)
    assert list(back.columns) == list(load_countries().published_order)
    assert back.loc["2022-02-01", "US"] == -200 / 7 and back.loc["2022-02-02", "US"] == 100 / 9
    assert np.isnan(back.loc["2022-02-02", "AU"]) and back["BR"].isna().all()
    g10, _, _ = export.export(spark, settings, "U", tmp_path / "out", countries="G10")
    assert list(export.read_strategy_file(g10).columns) == list(load_countries().groups["G10"])
    with pytest.raises(InputError, match="present: U, V"):
        export.export(spark, settings, "W", tmp_path / "out")

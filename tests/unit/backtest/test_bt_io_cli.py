"""File inputs, the CLI on CSV files (no Spark) and the report's self-containment."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from flowmosaic.backtest import io as bio
from flowmosaic.backtest.synthetic import make_planted
from flowmosaic.cli import main
from flowmosaic.errors import InputError


def _write(tmp_path, strength=0.05):
    flows, levels = make_planted(8, 2, strength=strength, seed=4)
    f, r = tmp_path / "flows.csv", tmp_path / "levels.csv"
    out = flows.copy()
    out.index = out.index.strftime("%Y%m%d")
    out.iloc[5, 2] = None  # a blank cell
    out.to_csv(f, index_label="date", float_format="%.7f")
    lv = levels.copy()
    lv.index = lv.index.strftime("%Y%m%d")
    lv.to_csv(r, index_label="date", float_format="%.6f")
    return f, r, flows


def test_read_strategy_file(tmp_path):
    f, _, flows = _write(tmp_path)
    got = bio.read_strategy_file(f)
    assert list(got.columns) == list(flows.columns)
    assert got.index.equals(flows.index) and got.isna().sum().sum() == 1
    assert got.iloc[0, 0] == pytest.approx(flows.iloc[0, 0], abs=1e-7)


@pytest.mark.parametrize(
    "text, message",
    [
        ("date,AU,CA\n20220201,0.1,0.2\n2022020x,0.1,0.2\n", r"line 3: '2022020x'.*not a date"),
        ("date,AU,CA\n20220201,0.1,abc\n", r"line 2, column CA: 'abc' is not a number"),
        ("date,AU,Canada\n20220201,0.1,0.2\n", r"\['CANADA'\] are not ISO2"),
        ("date,AU,CA\n20220201,0.1,0.2\n20220201,0.1,0.2\n", r"20220201 appears more than once"),
        ("date\n20220201\n", r"needs a date column and at least one country"),
    ],
)
def test_read_errors_say_what_and_where(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=message):
        bio.read_strategy_file(p)


def test_membership_file(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("country,from,to\nau,20100101,20121231\nCA,2011-01-01,\n")
    m = bio.read_membership(p)
    assert m["country"].tolist() == ["AU", "CA"] and pd.isna(m["to"].iloc[1])
    p.write_text("country,start\nAU,20100101\n")
    with pytest.raises(InputError, match=r"lacks column\(s\) \['from', 'to'\]"):
        bio.read_membership(p)


def test_flow_specs():
    assert bio.parse_flow_spec("country_flows:FloPctCtry-B@3") == bio.FlowSpec(
        "country_flows", "FloPctCtry-B", 3
    )
    assert bio.parse_flow_spec("s3://b/gold/cf:U") == bio.FlowSpec("s3://b/gold/cf", "U", None)
    assert bio.is_table_spec("country_flows:U") and not bio.is_table_spec("x/flows.csv")
    with pytest.raises(InputError, match="must be a number"):
        bio.parse_flow_spec("country_flows:U@latest")


def test_cli_on_files_writes_everything(tmp_path, capsys):
    f, r, _ = _write(tmp_path)
    out = tmp_path / "out"
    rc = main(
        [
            "backtest",
            "--flows",
            str(f),
            "--returns",
            str(r),
            "--horizons",
            "5,10,20",
            "--countries",
            "AU,BR,CA,CN,ID,IN",
            "--periods",
            "2010-2010,2011-2011",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert f"report: {out / 'report.html'}" in text
    for name in (
        "bins.csv",
        "returns.csv",
        "summary.csv",
        "calendar_years.csv",
        "ic.csv",
        "report.html",
    ):
        assert (out / name).stat().st_size > 0, name
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == ["horizon", "statistic", "column", "value"]
    assert sorted(summary.horizon.unique()) == [5, 10, 20]
    assert "TStat" in set(summary.statistic)
    rets = pd.read_csv(out / "returns.csv", dtype={"date": str})
    assert list(rets.columns) == ["date", "Q1", "Q2", "Q3", "Q4", "Q5", "TxB", "uRet"]
    assert re.fullmatch(r"\d{8}", rets.date.iloc[0])
    bins = pd.read_csv(out / "bins.csv")
    assert list(bins.columns) == ["date", "AU", "BR", "CA", "CN", "ID", "IN"]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched
    assert "2010-2010" in html and "2011-2011" in html and str(f.resolve()) in html


def test_cli_reports_a_calendar_gap(tmp_path, capsys):
    f, r, _ = _write(tmp_path)
    lines = f.read_text().splitlines()
    gap_date = lines[40].split(",")[0]
    f.write_text("\n".join(lines[:40] + lines[41:]) + "\n")
    rc = main(["backtest", "--flows", str(f), "--returns", str(r), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    want = f"{gap_date[:4]}-{gap_date[4:6]}-{gap_date[6:]}"
    assert f"flow date {want} is missing" in err

"""The report's header: synthetic data is marked."""

from flowmosaic.backtest import api
from flowmosaic.backtest.synthetic import make_planted


def test_report_marks_synthetic_data(tmp_path):
    """A report of a run on synthetic data says so at the top; other reports do not."""
    flows, levels = make_planted(n_countries=12, years=2, strength=0.1, seed=3)
    marked = api.run(flows, levels, {"horizons": (5,)}, tmp_path / "a", {"synthetic": True})
    plain = api.run(flows, levels, {"horizons": (5,)}, tmp_path / "b", {})
    assert "Synthetic data" in marked.extras["paths"]["report.html"].read_text()
    assert "Synthetic data" not in plain.extras["paths"]["report.html"].read_text()

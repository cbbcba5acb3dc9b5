"""Coverage: how many funds, and how much of their assets, a universe's daily country flows
cover, per year and month (docs/coverage.md). job.py computes gold `coverage` in Spark;
report.py writes a universe's CSV and HTML page from its rows."""

from flowmosaic.coverage.job import CoverageRun, run

__all__ = ["CoverageRun", "run"]

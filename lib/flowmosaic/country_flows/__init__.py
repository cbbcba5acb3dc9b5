"""Country flows: fund-days -> daily country sums per declared universe, point in time
(docs/methodology.md). sources.py reads silver, matrix.py and transforms.py are the two
engines, job.py runs a window and writes gold."""

from flowmosaic.country_flows.job import CountryFlowsRun, run

__all__ = ["CountryFlowsRun", "run"]

"""`flowmosaic ingest`: raw vendor files (CSV or Parquet) -> validated silver Delta tables,
every rejected row in the quarantine with a reason (docs/ingest.md).

    report = ingest_paths(spark, settings, directory="data/raw")
    print(report.describe())
"""

from flowmosaic.ingest.driver import ingest_paths
from flowmosaic.ingest.reasons import REASONS
from flowmosaic.ingest.report import IngestReport, SourceReport
from flowmosaic.ingest.sources import IdentityTolerance

__all__ = ["REASONS", "IdentityTolerance", "IngestReport", "SourceReport", "ingest_paths"]

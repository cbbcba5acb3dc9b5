"""flowmosaic: capital-flow analytics on fund data (Spark + Delta Lake)."""

__version__ = "0.1.0"

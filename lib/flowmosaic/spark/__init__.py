"""Spark at the edge: the session factory (local, spark-submit, Spark Connect) and the
calendar rules of calendar.py written as Spark Columns."""

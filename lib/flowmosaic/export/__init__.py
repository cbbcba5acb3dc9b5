"""Strategy files and the daily country matrix: gold country_flows in the vendor's wide
layout (one row per flow date, one column per country)."""

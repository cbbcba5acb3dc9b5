"""The mosaic: who moves money into a country, from where, and how persistently (pandas only).

analyses: domestic / foreign / offshore flows, the domicile x destination matrix, home bias,
persistence (z-scores and streaks). external: other sources of the mosaic (balance of payments,
official holdings, positioning, FX options) aligned with fund flows. page: one self-contained
HTML page per destination country. Definitions: docs/mosaic.md.
"""

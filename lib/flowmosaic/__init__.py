"""flowmosaic: capital-flow analytics on fund data (Spark + Delta Lake).

    import flowmosaic as fm
    wh = fm.open("warehouse")

`fm.open` and `fm.Warehouse` are the notebook API (flowmosaic/api.py, docs/api.md).
"""

__version__ = "0.1.0"
__all__ = ["Warehouse", "open"]


def __getattr__(name: str):
    # The API loads on first use: `import flowmosaic` stays cheap for the Python workers
    # that only unpickle a task function of flowmosaic.country_flows.matrix.
    if name in __all__:
        from flowmosaic import api

        return getattr(api, name)
    raise AttributeError(f"module 'flowmosaic' has no attribute {name!r}")

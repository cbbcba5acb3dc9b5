"""The cluster path, proven: ingest and country-flows submitted with spark-submit to a real
standalone master + worker on 127.0.0.1 give the same tables as local mode."""
import datetime as dt

import pandas as pd
import pytest

from flowmosaic import country_flows, ingest, storage, synth
from flowmosaic.config import load_settings
from tests.conftest import ROOT
from tests.e2e.standalone import build_py_files, master_state, standalone_cluster, submit

pytestmark = pytest.mark.slow
UNIVERSES = "FloPctCtry,FloPctCtry-B"
TABLES = ("share_class_flows", "share_classes", "funds", "fund_allocations", "quarantine",
          "country_flows")
# columns that legitimately differ between two runs
VOLATILE = {"run_id", "quarantined_at"}


def _frame(spark, path) -> pd.DataFrame:
    df = storage.read_table(spark, path)
    cols = sorted(c for c in df.columns if c not in VOLATILE)
    pdf = df.select(*cols).toPandas()
    return pdf.sort_values(cols).reset_index(drop=True)


def test_spark_submit_on_standalone_cluster_equals_local(spark, tmp_path):
    raw = tmp_path / "raw"
    # a cut-down tiny universe: the point is the submit path, not the volume
    synth.generate(spark, raw, scale="tiny", seed=5, n_funds=40,
                   start=dt.date(2020, 1, 1), end=dt.date(2020, 9, 30))
    local = load_settings(ROOT / "conf" / "local.yaml", warehouse=str(tmp_path / "wh-local"))
    ingest.ingest_paths(spark, local, directory=str(raw))
    country_flows.run(spark, local, UNIVERSES, progress=lambda _m: None)

    remote_wh = tmp_path / "wh-cluster"
    py_files = build_py_files(ROOT, tmp_path / "flowmosaic.zip")
    with standalone_cluster(tmp_path / "cluster") as (master, ui):
        for script, args in (("ingest.py", ["--input", str(raw)]),
                             ("country_flows.py", ["--universe", UNIVERSES])):
            log = tmp_path / f"{script}.log"
            done = submit(ROOT, master, script, [*args, "--warehouse", str(remote_wh)],
                          py_files, log)
            assert done.returncode == 0, log.read_text()[-4000:]
        apps = master_state(ui).get("completedapps", [])
    # both submissions ran as applications of this master, on its worker
    assert len(apps) == 2, apps

    remote = load_settings(ROOT / "conf" / "local.yaml", warehouse=str(remote_wh))
    for name in TABLES:
        a, b = _frame(spark, local.table_path(name)), _frame(spark, remote.table_path(name))
        assert name == "quarantine" or len(a) > 0
        # sums of doubles may differ in the last bits with another partitioning
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, obj=name)

"""Which sessions get the forkless local file system (flowmosaic.spark.localfs): the conf a
local session and a local Connect server are given, and what is left alone."""

from __future__ import annotations

import os

import yaml

from flowmosaic.config import load_settings
from flowmosaic.spark import connect_server, localfs


def test_a_local_session_gets_the_classes_and_the_jar(tmp_path):
    conf = localfs.session_conf({"spark.driver.extraClassPath": "/opt/mine.jar"})
    assert conf[localfs.FS_KEY] == localfs.FILE_SYSTEM
    assert conf[localfs.AFS_KEY] == localfs.ABSTRACT_FILE_SYSTEM
    jar = localfs.jar_path()
    assert jar.exists() and jar.stat().st_size > 1000
    # the user's class path kept, the jar after it
    assert conf[localfs.CLASSPATH_KEY] == f"/opt/mine.jar{os.pathsep}{jar}"


def test_a_file_system_named_in_the_settings_wins():
    given = {"spark.hadoop.fs.file.impl": "org.apache.hadoop.fs.LocalFileSystem"}
    assert localfs.session_conf(given) == given


def test_the_connect_server_gets_them_on_a_local_master_only(repo, tmp_path):
    settings = load_settings(repo / "conf" / "local.yaml", warehouse=str(tmp_path))
    local = connect_server.server_conf(settings, 15002)
    assert local[localfs.FS_KEY] == localfs.FILE_SYSTEM
    assert str(localfs.jar_path()) in local[localfs.CLASSPATH_KEY]
    conf = yaml.safe_load((repo / "conf" / "local.yaml").read_text())
    conf["spark"]["master"] = "spark://127.0.0.1:7077"
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(conf))
    cluster = load_settings(tmp_path / "cluster.yaml", warehouse=str(tmp_path))
    remote = connect_server.server_conf(cluster, 15002)
    assert localfs.FS_KEY not in remote and localfs.CLASSPATH_KEY not in remote

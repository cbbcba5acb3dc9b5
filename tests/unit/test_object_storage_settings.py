"""Object storage without Spark: warehouse URIs and table paths, the `object_storage:` section,
the fs.s3a.* conf a local session gets, and which jars the recorded lists keep."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flowmosaic.config import join_path, load_settings
from flowmosaic.errors import ConfigError
from flowmosaic.spark import jars
from flowmosaic.spark.session import needs_s3, s3a_conf


def settings_file(tmp_path: Path, **data) -> Path:
    p = tmp_path / "settings.yaml"
    p.write_text(yaml.safe_dump({"warehouse": str(tmp_path / "wh"), **data}))
    return p


@pytest.mark.parametrize(
    "warehouse, expected",
    [
        ("s3a://bucket/wh", "s3a://bucket/wh/gold/country_flows"),
        ("s3a://bucket/wh/", "s3a://bucket/wh/gold/country_flows"),
        ("s3a://bucket//a//wh//", "s3a://bucket/a/wh/gold/country_flows"),
        ("s3a://bucket", "s3a://bucket/gold/country_flows"),
        ("s3a://bucket/", "s3a://bucket/gold/country_flows"),
        ("hdfs:///data/fm", "hdfs:///data/fm/gold/country_flows"),
        ("file:///tmp/wh", "file:///tmp/wh/gold/country_flows"),
    ],
)
def test_table_paths_under_uri_warehouses(tmp_path, warehouse, expected):
    s = load_settings(settings_file(tmp_path), warehouse=warehouse)
    assert s.table_path("country_flows") == expected


def test_join_path():
    assert join_path("s3a://b/p", "/catalog/") == "s3a://b/p/catalog"
    assert join_path("file:///", "x") == "file:///x"
    assert join_path("/tmp/wh", "silver/funds") == "/tmp/wh/silver/funds"


def test_warehouse_uri_without_bucket_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="names no bucket"):
        load_settings(settings_file(tmp_path), warehouse="s3a:///prefix")


def test_object_storage_section(tmp_path):
    s = load_settings(
        settings_file(
            tmp_path,
            object_storage={
                "endpoint": "http://127.0.0.1:9000",
                "region": "eu-west-1",
                "access_key": "k",
                "secret_key": "s",
            },
        )
    )
    o = s.object_storage
    assert (o.endpoint, o.region, o.access_key, o.secret_key, o.configured) == (
        "http://127.0.0.1:9000",
        "eu-west-1",
        "k",
        "s",
        True,
    )
    assert not load_settings(settings_file(tmp_path)).object_storage.configured


def test_printed_settings_hold_no_planted_secret(tmp_path):
    """Credentials planted in every place a settings file can hold one (the object_storage
    keys, a secret Spark conf value, a Connect token in the address) never show in the
    settings as printed, nor in the error about a bad address; the values themselves are
    kept for use."""
    planted = ["AKIAPLANTED0001", "planted-secret-7f3a", "planted-conf-91c2", "planted-token-e4d0"]
    s = load_settings(
        settings_file(
            tmp_path,
            object_storage={"access_key": planted[0], "secret_key": planted[1]},
            spark={"conf": {"spark.hadoop.fs.s3a.secret.key": planted[2], "spark.x": "y"}},
            remote=f"sc://127.0.0.1:15002/;token={planted[3]}",
        )
    )
    shown = f"{s!r} {s} {s.object_storage!r}"
    assert not [p for p in planted if p in shown], shown
    assert "spark.x': 'y'" in shown and "127.0.0.1:15002" in shown  # the rest is still shown
    assert (s.object_storage.access_key, s.object_storage.secret_key) == tuple(planted[:2])
    assert s.spark_conf["spark.hadoop.fs.s3a.secret.key"] == planted[2] and planted[3] in s.remote
    bad = settings_file(tmp_path, remote=f"http://h:1/;token={planted[3]}")
    with pytest.raises(ConfigError) as err:
        load_settings(bad)
    assert planted[3] not in str(err.value) and "http://h:1/" in str(err.value)


@pytest.mark.parametrize(
    "section, message",
    [
        ({"endpoint": "127.0.0.1:9000"}, "endpoint must be http"),
        ({"bucket": "x"}, "unknown key"),
        ({"access_key": "k"}, "both access_key and secret_key"),
        ({"path_style_access": "yes"}, "true or false"),
        ("http://x", "must be a mapping"),
    ],
)
def test_object_storage_errors_name_the_key(tmp_path, section, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(settings_file(tmp_path, object_storage=section))


def test_s3a_conf_from_section_env_and_defaults(tmp_path):
    s = load_settings(
        settings_file(tmp_path, object_storage={"endpoint": "http://h:9000"}),
        warehouse="s3a://b/wh",
    )
    conf = s3a_conf(s, env={})
    assert conf == {
        "spark.hadoop.fs.s3a.endpoint": "http://h:9000",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
    }
    # the environment fills what the section leaves out; keys stay with S3A's default chain
    env = {
        "AWS_ENDPOINT_URL": "https://minio:9000",
        "AWS_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
    }
    bare = load_settings(settings_file(tmp_path), warehouse="s3a://b/wh")
    conf = s3a_conf(bare, env=env)
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "https://minio:9000"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "true"
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == "eu-central-1"
    assert not any("key" in k or "provider" in k for k in conf)
    # AWS itself: no endpoint, virtual-host addressing
    assert s3a_conf(bare, env={}) == {"spark.hadoop.fs.s3a.path.style.access": "false"}
    # static keys from the section
    keyed = load_settings(
        settings_file(
            tmp_path,
            object_storage={"access_key": "k", "secret_key": "s", "path_style_access": True},
        )
    )
    conf = s3a_conf(keyed, env={})
    assert conf["spark.hadoop.fs.s3a.access.key"] == "k"
    assert conf["spark.hadoop.fs.s3a.aws.credentials.provider"].endswith(
        "SimpleAWSCredentialsProvider"
    )
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"


def test_needs_s3(tmp_path):
    local = load_settings(settings_file(tmp_path))
    assert not needs_s3(local, {"spark.sql.shuffle.partitions": "2"})
    assert needs_s3(local, {"spark.hadoop.fs.s3a.endpoint": "http://h"})
    assert needs_s3(local, {"spark.sql.warehouse.dir": "s3a://b/c"})
    assert needs_s3(load_settings(settings_file(tmp_path), warehouse="s3a://b/wh"), {})
    assert needs_s3(load_settings(settings_file(tmp_path, object_storage={})), {})


def test_recorded_lists_drop_what_pyspark_ships():
    delta = [
        "/i/jars/io.delta_delta-spark_4.2_2.13-4.4.0.jar",
        "/i/jars/org.apache.hadoop_hadoop-client-api-3.4.2.jar",
        "/i/jars/org.apache.hadoop_hadoop-client-runtime-3.4.2.jar",
        "/i/jars/org.apache.parquet_parquet-hadoop-1.16.0.jar",
        "/i/jars/commons-logging_commons-logging-1.3.0.jar",
        "/i/jars/io.delta_delta-storage-4.4.0.jar",
    ]
    assert jars.not_shipped(delta) == [delta[0], delta[-1]]
    cached = [
        "/c/org.apache.hadoop/hadoop-aws/jars/hadoop-aws-3.5.0.jar",
        "/c/io.netty/netty-buffer/jars/netty-buffer-4.1.126.Final.jar",
        "/c/org.apache.httpcomponents/httpclient/jars/httpclient-4.5.13.jar",
        "/c/software.amazon.awssdk/s3/jars/s3-2.35.4.jar",
    ]
    assert jars.not_shipped(cached, ivy=False) == [cached[0], cached[-1]]
    assert jars.s3_package() == f"org.apache.hadoop:hadoop-aws:{jars.hadoop_version()}"
    assert jars.uses_s3("s3a://b/x") and not jars.uses_s3("/tmp/s3a", "s3://b")


def test_delta_fetch_reports_each_download_and_records_what_pyspark_lacks(tmp_path, monkeypatch):
    """Ivy's run replaced by one that 'downloads' into a cache under tmp_path: the jars there
    before are not reported, each new one is, once; the list keeps Delta's own jars only."""
    monkeypatch.setenv("FLOWMOSAIC_IVY_HOME", str(tmp_path / "ivy"))
    cache = tmp_path / "ivy" / "cache"

    def jar(org: str, name: str, rev: str) -> Path:
        path = cache / org / name / "jars" / f"{name}-{rev}.jar"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 2_000_000)
        return path

    old = jar("io.delta", "delta-storage", "4.4.0")  # in the cache already

    def fake_resolve(work, deps, excludes):
        assert deps == [("io.delta", "delta-spark_4.2_2.13", "4.4.0")] and not excludes
        new = [
            jar("io.delta", "delta-spark_4.2_2.13", "4.4.0"),
            jar("org.apache.parquet", "parquet-hadoop", "1.16.0"),  # pyspark ships Parquet
        ]
        return [str(p) for p in (*new, old)]

    monkeypatch.setattr(jars, "_resolve", fake_resolve)
    said: list[str] = []
    listing = tmp_path / "list.txt"
    kept = jars.fetch_delta_jars("io.delta:delta-spark_4.2_2.13:4.4.0", listing, say=said.append)
    downloads = [m for m in said if m.startswith("  downloaded")]
    assert downloads == [
        "  downloaded io.delta:delta-spark_4.2_2.13-4.4.0.jar (2.0 MB)",
        "  downloaded org.apache.parquet:parquet-hadoop-1.16.0.jar (2.0 MB)",
    ], said
    assert [Path(j).name for j in kept] == [
        "delta-spark_4.2_2.13-4.4.0.jar",
        "delta-storage-4.4.0.jar",
    ]
    assert jars.read_list(listing) == kept

    monkeypatch.setattr(jars, "_resolve", lambda *a: [str(old)])  # no Delta jar: refused
    with pytest.raises(ConfigError, match="no delta-spark_4.2_2.13 jar"):
        jars.fetch_delta_jars("io.delta:delta-spark_4.2_2.13:4.4.0", tmp_path / "l2.txt")

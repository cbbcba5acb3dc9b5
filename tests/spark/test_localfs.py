"""The local file system of local sessions (flowmosaic.spark.localfs): Hadoop's own, except
that setting a permission and reading a link status start no process. Proven on the session:
the classes in use, the same results as Hadoop's classes for permissions and link status
(regular file, symbolic link, dangling link, missing path), and no process started for file
creation and renames where Hadoop's own classes start one per call (the kernel's last
allocated pid, /proc/loadavg, counts processes and threads started in between)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from flowmosaic.spark import localfs


def last_pid() -> int:
    return int(Path("/proc/loadavg").read_text().split()[-1])


@pytest.fixture(scope="module")
def jvm(spark):
    return spark._jvm


@pytest.fixture(scope="module")
def hconf(spark):
    return spark._jsc.hadoopConfiguration()


def hadoop_fs(jvm, hconf, impl: str):
    """A new, uncached FileSystem for file:/// with fs.file.impl = impl."""
    conf = jvm.org.apache.hadoop.conf.Configuration(hconf)
    conf.set("fs.file.impl", impl)
    uri = jvm.java.net.URI("file:///")
    return jvm.org.apache.hadoop.fs.FileSystem.newInstance(uri, conf)


def test_local_sessions_use_the_forkless_classes(spark, jvm, hconf):
    fs = jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI("file:///"), hconf)
    assert fs.getClass().getName() == localfs.FILE_SYSTEM
    assert fs.getRaw().getClass().getName() == "io.flowmosaic.localfs.ForklessRawLocalFileSystem"
    fc = jvm.org.apache.hadoop.fs.FileContext.getLocalFSFileContext(hconf)
    assert fc.getDefaultFileSystem().getClass().getName() == localfs.ABSTRACT_FILE_SYSTEM


def test_permissions_and_link_status_as_hadoop_gives_them(jvm, hconf, tmp_path):
    ours = hadoop_fs(jvm, hconf, localfs.FILE_SYSTEM).getRaw()
    theirs = hadoop_fs(jvm, hconf, "org.apache.hadoop.fs.LocalFileSystem").getRaw()
    assert theirs.getClass().getName() == "org.apache.hadoop.fs.RawLocalFileSystem"
    perm = jvm.org.apache.hadoop.fs.permission.FsPermission
    for mode in (0o640, 0o755, 0o600, 0o444):
        for name, fs in (("ours", ours), ("theirs", theirs)):
            f = tmp_path / f"{name}-{mode:o}"
            f.write_text("x")
            fs.setPermission(jvm.org.apache.hadoop.fs.Path(str(f)), perm(mode))
        assert stat.S_IMODE((tmp_path / f"ours-{mode:o}").stat().st_mode) == mode
        assert stat.S_IMODE((tmp_path / f"theirs-{mode:o}").stat().st_mode) == mode

    target = tmp_path / "target.txt"
    target.write_text("abc")
    os.symlink(target, tmp_path / "link")
    os.symlink(tmp_path / "gone", tmp_path / "dangling")

    def status(fs, path: str):
        try:
            s = fs.getFileLinkStatus(jvm.org.apache.hadoop.fs.Path(path))
        except Exception as exc:  # noqa: BLE001 - compared below
            return ("error", type(exc).__name__, "FileNotFound" in str(exc))
        return (s.isSymlink(), str(s.getSymlink()) if s.isSymlink() else None, s.getLen())

    # plain paths and file: URIs (what Delta passes), each kind of entry
    for name in ("target.txt", "link", "dangling", "missing"):
        for path in (str(tmp_path / name), f"file:{tmp_path / name}"):
            assert status(ours, path) == status(theirs, path), path
    assert status(ours, str(tmp_path / "link"))[:2] == (True, f"file:{target}")


def test_creating_and_renaming_files_starts_no_process(jvm, hconf, tmp_path):
    """20 files created (each with its .crc) and renamed: Hadoop's own classes start a process
    for each permission and link status; ours start none."""
    path = jvm.org.apache.hadoop.fs.Path

    def pids_used(impl: str, where: Path) -> int:
        fs = hadoop_fs(jvm, hconf, impl)
        where.mkdir()
        before = last_pid()
        for i in range(20):
            src, dst = path(str(where / f"f{i}.tmp")), path(str(where / f"f{i}.json"))
            out = fs.create(src, False)
            out.write(b"{}")
            out.close()
            fs.rename(src, dst)
        used = last_pid() - before
        fs.close()
        return used

    assert pids_used("org.apache.hadoop.fs.LocalFileSystem", tmp_path / "theirs") >= 40
    assert pids_used(localfs.FILE_SYSTEM, tmp_path / "ours") < 5

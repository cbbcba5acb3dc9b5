"""The JVM jars a local session adds to the ones pyspark ships: Delta's, and Hadoop's S3
connector for s3a:// paths. Both are resolved once from Maven Central (`make jars` =
`python -m flowmosaic.spark.session --fetch-jars`) and recorded as lists of jar files beside
the interpreter's environment; sessions then start from the lists, with no resolution.
Resolution runs pyspark's own Ivy standalone against Maven Central alone (spark-submit's
--packages would also try the local Maven and Ivy repositories and spark-packages, one failure
line per artifact and repository where those are unreachable), quietly: one line per jar it
downloads.

A recorded list keeps only the artifacts pyspark does not already ship (artifact names
compared without versions against pyspark's jars directory): Delta's resolution also brings
hadoop-client-api/-runtime 3.4, Parquet 1.16, Jackson, log4j ... which, next to pyspark's own
newer ones, would be a second Hadoop client and a second Parquet on the class path.

The S3 jars are org.apache.hadoop:hadoop-aws at the Hadoop version pyspark bundles (read from
its hadoop-client-api jar) with its small dependencies (the analytics accelerator,
wildfly-openssl), but NOT the AWS SDK v2 `bundle` it declares (one shaded jar of ~690 MB):
instead the SDK modules S3A uses (s3, s3-transfer-manager, sts, the Apache and Netty HTTP
clients, and what they pull in: auth, regions, sdk-core ...), at the bundle's version. They
come to about 13 MB after the filter above (Netty, httpclient, commons-codec and slf4j are
pyspark's). Ivy (pyspark's own ivy jar, run standalone) resolves them into Spark's Ivy cache
(~/.ivy2.5.2/cache) in two steps: hadoop-aws without the bundle first, which tells the SDK
version (the bundle's revision in hadoop-aws's descriptor), then the SDK modules at it.
A local session adds them (spark.jars) only when the warehouse or a conf value uses s3a://; see
session.get_spark.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from flowmosaic.errors import ConfigError

# Maven coordinates of the S3A connector; spark-submit users pass these (README).
HADOOP_AWS = ("org.apache.hadoop", "hadoop-aws")
AWS_SDK_GROUP = "software.amazon.awssdk"
AWS_SDK_BUNDLE = "bundle"
# The SDK modules S3A's classes use (the rest follows as their dependencies): the sync and
# async S3 clients, the transfer manager, STS for assumed roles and delegation tokens, and
# the two HTTP clients it configures (Apache for sync, Netty for async).
AWS_SDK_MODULES = ("s3", "s3-transfer-manager", "sts", "apache-client", "netty-nio-client")
MAVEN_CENTRAL = "https://repo1.maven.org/maven2/"
S3_SCHEMES = ("s3a://",)
# artifacts whose classes pyspark ships under another artifact's name
SHIPPED_AS = {"commons-logging": "jcl-over-slf4j"}


def pyspark_jars_dir() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent / "jars"


def hadoop_version() -> str:
    """The Hadoop version of the client pyspark bundles (hadoop-client-api-X.jar)."""
    for jar in sorted(pyspark_jars_dir().glob("hadoop-client-api-*.jar")):
        return jar.name.removeprefix("hadoop-client-api-").removesuffix(".jar")
    raise RuntimeError(f"no hadoop-client-api jar in {pyspark_jars_dir()}")


def s3_package() -> str:
    """hadoop-aws at pyspark's Hadoop version, as a Maven coordinate (spark-submit
    --packages; its AWS SDK bundle follows as a dependency there)."""
    return f"{':'.join(HADOOP_AWS)}:{hadoop_version()}"


def artifact(jar: str | Path, ivy: bool = False) -> str:
    """The artifact name of a jar file, without group and version: Ivy's retrieved
    `org.apache.hadoop_hadoop-client-api-3.4.2.jar` (ivy=True: named [organisation]_[artifact]-
    [revision]), Ivy's cached `hadoop-client-api-3.4.2.jar` and pyspark's
    `hadoop-client-api-3.5.0.jar` all give hadoop-client-api. The version starts at the first
    '-' followed by a digit."""
    name = Path(jar).name.removesuffix(".jar")
    if ivy:
        name = name.split("_", 1)[-1]
    m = re.search(r"-\d", name)
    return name[: m.start()] if m else name


def shipped_artifacts() -> set[str]:
    """The artifacts of pyspark's own jars (on every local session's class path)."""
    return {artifact(j) for j in pyspark_jars_dir().glob("*.jar")}


def not_shipped(jars: list[str], ivy: bool = True) -> list[str]:
    """The jars without those whose artifact pyspark already ships (in any version). ivy:
    the names are Ivy's retrieved [organisation]_[artifact]-[revision].jar (spark.jars after a
    --packages resolution); False for plain [artifact]-[revision].jar (Ivy's cache)."""
    shipped = shipped_artifacts()
    out = []
    for j in jars:
        a = artifact(j, ivy=ivy)
        if a not in shipped and SHIPPED_AS.get(a) not in shipped:
            out.append(j)
    return out


def list_dir() -> Path:
    # beside the interpreter's environment, so each virtualenv keeps its own
    return Path(sys.prefix) / "flowmosaic-delta-jars"


def s3_list_file() -> Path:
    return list_dir() / f"{s3_package().replace(':', '_')}.txt"


def read_list(listing: Path) -> list[str]:
    """A recorded jar list, if it and every jar in it still exist; else []."""
    if not listing.exists():
        return []
    jars = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    return jars if jars and all(Path(j).exists() for j in jars) else []


def write_list(listing: Path, jars: list[str]) -> None:
    listing.parent.mkdir(parents=True, exist_ok=True)
    part = listing.with_name(f"{listing.name}.{os.getpid()}")
    part.write_text("".join(f"{j}\n" for j in jars))
    os.replace(part, listing)  # atomic: a concurrent session reads the old list or the new


def cached_s3_jars() -> list[str]:
    """hadoop-aws and the SDK modules as recorded by fetch_s3_jars ([] before)."""
    return read_list(s3_list_file())


def uses_s3(*values: object) -> bool:
    """True when any value (a path, a conf key or value) names an s3a:// location or s3a
    conf."""
    for v in values:
        s = str(v)
        if s.startswith(S3_SCHEMES) or s.startswith(("spark.hadoop.fs.s3a.", "fs.s3a.")):
            return True
    return False


# --- resolution: pyspark's Ivy, standalone ------------------------------------------------------


def ivy_home() -> Path:
    """Spark's Ivy home (spark.jars.ivy's default), where Delta's jars are cached too."""
    return Path(os.environ.get("FLOWMOSAIC_IVY_HOME") or Path.home() / ".ivy2.5.2")


def jdk_tool(name: str) -> str | None:
    """A JDK program (java, javac, jar): $JAVA_HOME/bin/NAME, else NAME on the PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / name).exists():
        return str(Path(home) / "bin" / name)
    return shutil.which(name)


def _java() -> str:
    found = jdk_tool("java")
    if not found:
        raise ConfigError(
            "no java to resolve the S3 jars with: set JAVA_HOME (scripts/java_home.sh finds one)"
        )
    return found


def _ivy_jar() -> Path:
    for jar in sorted(pyspark_jars_dir().glob("ivy-*.jar")):
        return jar
    raise ConfigError(f"no ivy jar in {pyspark_jars_dir()}")


def _ivy_settings(cache: Path) -> str:
    # one resolver, named like Spark's, so the cache entries of both agree
    return f"""<ivysettings>
  <settings defaultResolver="central"/>
  <caches defaultCacheDir="{cache}"/>
  <resolvers>
    <ibiblio name="central" m2compatible="true" root="{MAVEN_CENTRAL}"/>
  </resolvers>
</ivysettings>
"""


def _ivy_module(deps: list[tuple[str, str, str]], excludes: list[tuple[str, str]]) -> str:
    lines = [
        f'    <dependency org="{o}" name="{n}" rev="{r}" conf="default->default"/>'
        for o, n, r in deps
    ]
    lines += [f'    <exclude org="{o}" module="{m}"/>' for o, m in excludes]
    return (
        '<ivy-module version="2.0">\n  <info organisation="flowmosaic" module="s3-jars"/>\n'
        "  <dependencies>\n" + "\n".join(lines) + "\n  </dependencies>\n</ivy-module>\n"
    )


def _resolve(
    work: Path, deps: list[tuple[str, str, str]], excludes: list[tuple[str, str]]
) -> list[str]:
    """Jar files of deps and their dependencies (Ivy's default conf) in Ivy's cache."""
    cache = ivy_home() / "cache"
    (work / "ivysettings.xml").write_text(_ivy_settings(cache))
    (work / "ivy.xml").write_text(_ivy_module(deps, excludes))
    out = work / "classpath.txt"
    out.unlink(missing_ok=True)
    cmd = [
        _java(),
        "-jar",
        str(_ivy_jar()),
        "-settings",
        str(work / "ivysettings.xml"),
        "-ivy",
        str(work / "ivy.xml"),
        "-confs",
        "default",
        "-cachepath",
        str(out),
        "-warn",
    ]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0 or not out.exists():
        detail = " ".join((done.stdout + done.stderr).split())[-600:]
        raise ConfigError(
            f"could not resolve {', '.join(':'.join(d) for d in deps)} from "
            f"{MAVEN_CENTRAL}: {detail}"
        )
    return [p for p in out.read_text().strip().split(os.pathsep) if p.endswith(".jar")]


def _cached_jars() -> set[Path]:
    """Every jar file in Ivy's cache (to tell what a resolution downloaded): ORG/NAME/jars/ and,
    for Maven's bundle packaging, ORG/NAME/bundles/."""
    root = ivy_home() / "cache"
    return set(root.glob("*/*/*/*.jar")) if root.is_dir() else set()


def _report_downloads(before: set[Path], say: Callable[[str], None] | None) -> None:
    """One line per jar file a resolution downloaded (Ivy itself runs quietly)."""
    if not say:
        return
    for jar in sorted(_cached_jars() - before):
        org = jar.parents[2].name
        say(f"  downloaded {org}:{jar.name} ({jar.stat().st_size / 1e6:.1f} MB)")


def fetch_delta_jars(
    package: str, listing: Path, say: Callable[[str], None] | None = None
) -> list[str]:
    """Resolve Delta's package (group:artifact:version) and its runtime dependencies from
    Maven Central, record the list (without what pyspark ships) in `listing` and return it."""
    org, name, rev = package.split(":")
    if say:
        say(f"resolving {package} from {MAVEN_CENTRAL} into {ivy_home() / 'cache'} ...")
    before = _cached_jars()
    with tempfile.TemporaryDirectory(prefix="flowmosaic-ivy-") as tmp:
        jars = _resolve(Path(tmp), [(org, name, rev)], [])
    _report_downloads(before, say)
    kept = not_shipped(jars, ivy=False)
    if not any(Path(j).name.startswith(f"{name}-") for j in kept):
        raise ConfigError(f"resolving {package} gave no {name} jar: {', '.join(jars)[:600]}")
    write_list(listing, kept)
    if say:
        say(f"Delta ready: {len(kept)} jars recorded in {listing}")
    return kept


def sdk_version(hadoop: str) -> str:
    """The AWS SDK version hadoop-aws declares (its `bundle` dependency's revision), read
    from the descriptor Ivy cached for hadoop-aws."""
    desc = ivy_home() / "cache" / HADOOP_AWS[0] / HADOOP_AWS[1] / f"ivy-{hadoop}.xml"
    root = ET.parse(desc).getroot()
    for dep in root.iter("dependency"):
        if dep.get("org") == AWS_SDK_GROUP and dep.get("name") == AWS_SDK_BUNDLE:
            return dep.get("rev") or ""
    raise ConfigError(f"{desc}: hadoop-aws {hadoop} declares no {AWS_SDK_GROUP}:bundle")


def fetch_s3_jars(say: Callable[[str], None] | None = None) -> list[str]:
    """Resolve hadoop-aws (pyspark's Hadoop version) and the AWS SDK modules S3A needs, record
    the list (without what pyspark ships) and return it."""
    hadoop = hadoop_version()
    if say:
        say(
            f"s3a:// needs Hadoop's S3 connector: resolving {s3_package()} and the AWS SDK v2 "
            f"modules it uses (about 13 MB, once) into {ivy_home() / 'cache'} ..."
        )
    no_bundle = [(AWS_SDK_GROUP, AWS_SDK_BUNDLE)]
    before = _cached_jars()
    with tempfile.TemporaryDirectory(prefix="flowmosaic-ivy-") as tmp:
        work = Path(tmp)
        _resolve(work, [(*HADOOP_AWS, hadoop)], no_bundle)
        sdk = sdk_version(hadoop)
        jars = _resolve(
            work,
            [(*HADOOP_AWS, hadoop), *[(AWS_SDK_GROUP, m, sdk) for m in AWS_SDK_MODULES]],
            no_bundle,
        )
    _report_downloads(before, say)
    kept = not_shipped(jars, ivy=False)
    write_list(s3_list_file(), kept)
    if say:
        size = sum(Path(j).stat().st_size for j in kept) / 1e6
        say(
            f"S3 connector ready: hadoop-aws {hadoop} + AWS SDK {sdk}, {len(kept)} jars "
            f"({size:.1f} MB) recorded in {s3_list_file()}"
        )
    return kept


def s3_jars(say: Callable[[str], None] | None = None) -> list[str]:
    """The recorded S3 jars, resolved now (with a progress line) if they are not yet; a
    failure (e.g. offline) is one ConfigError saying what to run."""
    jars = cached_s3_jars()
    if jars:
        return jars
    try:
        return fetch_s3_jars(say)
    except (ConfigError, OSError, subprocess.SubprocessError, ET.ParseError) as exc:
        raise ConfigError(
            f"s3a:// paths need Hadoop's S3 connector, which is not fetched yet "
            f"and could not be now ({exc}); run `make jars` (python -m "
            f"flowmosaic.spark.session --fetch-s3-jars) where Maven Central is "
            f"reachable"
        ) from exc

# Every target bootstraps what it needs: a virtual environment with pinned packages, a Java 17/21,
# and Delta's and the S3 connector's JVM jars (fetched once by Ivy from Maven Central into
# ~/.ivy2.5.2).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
JAVA_HOME := $(shell scripts/java_home.sh)
export JAVA_HOME
export PYSPARK_PYTHON := $(abspath $(BIN)/python)
SCALE ?= small
PYTEST_ARGS ?=
BENCH_ARGS ?=
TEST_WORKERS ?= 2

LINT_PATHS := lib tests bench jobs

.PHONY: demo test test-fast lint bench bootstrap jars clean

demo: bootstrap jars
	$(BIN)/flowmosaic demo

# The whole suite in TEST_WORKERS processes (pytest-xdist), each module's tests in one of them.
test: bootstrap lint jars
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

# The inner loop: tests/unit and the Spark transform tests (one local session, no Delta tables,
# no e2e); CI runs everything through `make test`.
test-fast: bootstrap jars
	$(BIN)/pytest -m "not spark or transform" $(PYTEST_ARGS)

# Static checks (configured in pyproject.toml): ruff's lint rules, mypy over lib/flowmosaic,
# then ruff's formatting check.
lint: bootstrap
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/ruff format --check $(LINT_PATHS)

bench: bootstrap jars
	$(BIN)/python bench/run_bench.py --scale $(SCALE) $(BENCH_ARGS)

bootstrap: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# Starting one session makes Ivy resolve delta-spark and its dependencies into the local cache;
# then pyspark's Ivy resolves Hadoop's S3 connector for s3a:// warehouses (hadoop-aws and the
# AWS SDK modules it uses, ~13 MB; see lib/flowmosaic/spark/jars.py and docs/object-storage.md).
jars: $(VENV)/.jars $(VENV)/.s3-jars

# (again when the local file system's Java sources change: the JVM's class-data-sharing
# archive is recorded with their jar on the class path)
$(VENV)/.jars: $(VENV)/.installed $(wildcard lib/flowmosaic/spark/java/io/flowmosaic/localfs/*.java)
	$(BIN)/python -m flowmosaic.spark.session --fetch-jars
	touch $@

$(VENV)/.s3-jars: $(VENV)/.installed
	$(BIN)/python -m flowmosaic.spark.session --fetch-s3-jars
	touch $@

clean:
	rm -rf $(VENV) warehouse data out .pytest_cache .mypy_cache .ruff_cache

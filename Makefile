# Every target sets itself up: a fresh machine needs nothing but Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME := $(CURDIR)/.prefect

.PHONY: help install java chromium test demo audit serve bench clean

# A target's prerequisites are made side by side: on a fresh machine make test's venv (uv) and
# chromium (apt-get) download at the same time. Each recipe still runs its lines in order.
MAKEFLAGS += --jobs=3 --output-sync=target

help:  ## list the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "riskstrat needs Python 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	# uv installs the pinned set in about 30 s where pip takes over two minutes (make test's budget is 10).
	# --compile-bytecode: uv writes no .pyc files by default, and where PYTHONDONTWRITEBYTECODE is set
	# (as on this machine) Python never does either, so every process compiled the packages it
	# imported: 16 s instead of 7 to import great_expectations, prefect, pandas, scikit-learn,
	# LightGBM and DuckDB, in every test worker, API server, command and Spark worker.
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev,spark]'
	touch $@

install: $(BIN)/.installed  ## create .venv and install riskstrat with pinned dependencies

# The Spark parity tests need a Java runtime (pyspark 4.3 runs on Java 17).
java:
	@command -v java >/dev/null 2>&1 || { echo "make: no java on PATH: the Spark tests need Java 17 (e.g. apt-get install -y openjdk-17-jre-headless)"; exit 1; }

# The web worklist's browser tests drive Debian's chromium through Playwright (Playwright's own
# browser download cannot be had everywhere). Installed when missing; without root or sudo the
# browser tests skip, and the test summary says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO=sudo; else \
	    echo "make: no chromium on PATH and no root to install it: the browser tests will skip (apt-get install -y chromium)"; exit 0; fi; \
	  echo "make: installing Debian's chromium for the browser tests"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# Two test workers share two cores: OpenMP threads that spin while they wait (LightGBM's default)
# starve the other worker, and the suite took 9.5 minutes instead of 6.
# -rs: a skipped test says why in the summary.
# --no-loadscope-reorder: pytest-xdist 3.6+ hands out files with the most tests first, which put
# the longest files (LONGEST_FILES in tests/conftest.py) last: one worker ran the 2-minute wheel
# test alone at the end while the other sat idle for 80 s.
test: install java chromium  ## run the test suite (what CI runs)
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -q -rs -n 2 --dist loadfile --no-loadscope-reorder

demo: install  ## make a small synthetic plan in ./demo and run the pipeline on it
	rm -rf $(DEMO)
	$(BIN)/riskstrat synth --workspace $(DEMO) --members 6000 --months 30 --end 2025-11 --seed 7 --defects 0.002
	$(BIN)/riskstrat ingest --workspace $(DEMO)
	$(BIN)/riskstrat train --workspace $(DEMO) --as-of 2025-10
	$(BIN)/riskstrat score --workspace $(DEMO) --as-of 2025-10
	$(BIN)/riskstrat monthly --workspace $(DEMO) --month 2025-11

audit: install  ## run the audit notebook on WORKSPACE (default ./demo) for LIST and MONTH (riskstrat audit)
	$(BIN)/riskstrat audit --workspace $(or $(WORKSPACE),$(DEMO)) $(if $(LIST),--list $(LIST)) $(if $(MONTH),--month $(MONTH))

serve: install  ## serve the flows for ./demo (monthly on its schedule); start `prefect server start` first
	$(BIN)/python -m riskstrat.flows.serve --workspace $(DEMO)

bench: install  ## speed and memory benchmarks at state scale; writes bench/RESULTS.md
	$(BIN)/python bench/run.py

clean:  ## remove the venv, the demo workspace and caches
	rm -rf $(VENV) $(DEMO) .prefect .pytest_cache bench/work

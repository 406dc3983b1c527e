# Two commands on a fresh machine:  make demo  (install + run the demo beamtime)
#                                   make test  (install + run the tests)
VENV  := .venv
PY    := $(VENV)/bin/python
SMK   := $(VENV)/bin/snakemake
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint install system-deps clean

install: $(STAMP)

# torch==2.13.0 first: that pin is a CPU wheel here, an unpinned torch pulls CUDA builds
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -e '.[workflow,test]'
	touch $(STAMP)

# Debian packages the tests use: chromium (report check); SLURM is installed by tests/slurm_cluster.sh
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

demo: $(STAMP)
	$(SMK) --profile profiles/local
	@echo "demo done: open results/report.html; numbers in results/summary.csv"

test: $(STAMP) system-deps
	$(PY) -m pytest -q --timeout=1200

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests workflow benchmarks
	$(SMK) --lint

clean:
	rm -rf results resources logs .snakemake

# Two commands on a fresh machine:  make demo  (install + run the demo beamtime)
#                                   make test  (install + run the tests)
# Versions come from requirements/lock.txt (pip constraints): an upstream release never
# changes a fresh clone. `make lock` regenerates the lock; `make upgrade-check` shows what an
# upgrade of the lock would break, without touching this checkout.
VENV  := .venv
PY    := $(VENV)/bin/python
SMK   := $(VENV)/bin/snakemake
STAMP := $(VENV)/.installed-stamp
LOCK  := requirements/lock.txt

.PHONY: demo test lint install system-deps lock upgrade-check env-pins clean

install: $(STAMP)

# torch==2.13.0 first: that pin is a CPU wheel here, an unpinned torch pulls CUDA builds
$(STAMP): pyproject.toml $(LOCK)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -c $(LOCK) -e '.[workflow,test]'
	touch $(STAMP)

# Debian packages the tests use: chromium (report check); SLURM is installed by tests/slurm_cluster.sh
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

demo: $(STAMP)
	$(SMK) --profile profiles/local
	@echo "demo done: open results/report.html; numbers in results/summary.csv"

test: $(STAMP) system-deps
	$(PY) -m pytest -q --timeout=1200 --durations=15

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests workflow benchmarks
	$(VENV)/bin/snakefmt --check workflow
	$(SMK) --lint

# Resolve the newest versions allowed by pyproject.toml in a throw-away venv and write the lock
# (and the pinned package lists of workflow/envs/*.yaml).
lock:
	rm -rf .tmp/lockenv && python3 -m venv .tmp/lockenv
	.tmp/lockenv/bin/pip install --quiet torch==2.13.0
	.tmp/lockenv/bin/pip install --quiet '.[workflow,test]'
	{ echo "# Exact versions make install uses (pip constraints). Regenerate with: make lock"; \
	  echo "# torch is installed first from its CPU wheel (torch==2.13.0), see Makefile."; \
	  .tmp/lockenv/bin/pip freeze --exclude-editable | grep -iv '^tomosnake' \
	    | sed 's/^torch==\([0-9.]*\)+cpu/torch==\1/' | sort -f; } > $(LOCK)
	.tmp/lockenv/bin/python -m tomosnake.envpins $(LOCK) workflow/envs

# The pip-installable part of each stage environment, pinned to the lock's versions.
env-pins:
	$(PY) -m tomosnake.envpins $(LOCK) workflow/envs

# A scheduled check: what would an upgrade of the lock break? Clones this checkout, relocks
# with the newest releases, prints the version changes and runs the tests there.
upgrade-check:
	rm -rf .tmp/upgrade && git clone -q . .tmp/upgrade
	cd .tmp/upgrade && $(MAKE) lock && git --no-pager diff --stat -- $(LOCK) \
	  && git --no-pager diff -U0 -- $(LOCK) | grep '^[-+][A-Za-z]' ; $(MAKE) test

clean:
	rm -rf results resources logs .snakemake .tomosnake

# Developer shortcuts. The venv comes from .ci/setup.sh (or: python -m venv .venv).

PYTHON ?= .venv/bin/python

.PHONY: bench bench-quick

# Every figure of benchmarks/README.md in one run; prints the table.
# Pass options with ARGS, e.g. make bench ARGS="--json benchmarks/results/run.json".
bench:
	$(PYTHON) -m benchmarks.run $(ARGS)

# The same with tiny sizes: checks that the benchmark works, not the speed.
bench-quick:
	$(PYTHON) -m benchmarks.run --quick $(ARGS)

# The two commands a newcomer runs: `make demo` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(abspath ../shared/data/lobster)
export RLEXEC_DATA_DIR := $(DATA_DIR)

.PHONY: demo test test-deploy bench model redis chaos clean fuzz validate-sim

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# One stamp per extras set, so `make test` does not reinstall on every run; the compiled
# parts (setup.py: the receive loops, the policy kernel, the hot path's modules that mypyc
# compiles, rlexec/native.py) are rebuilt when their source changes.
NATIVE := $(shell sed -n 's/^    "\(rlexec\.[a-z_.]*\)",$$/\1/p' rlexec/native.py | tr . / | sed 's/$$/.py/')
COMPILED := setup.py rlexec/native.py rlexec/gateway/receive_loops.c rlexec/models/policy_kernel.c $(NATIVE)
$(VENV)/.installed-runtime: pyproject.toml $(COMPILED) | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

# Tests need the train extra (torch is pinned to the CPU build cached on this machine),
# QuickFIX for the interoperability tests (built from source once, then from pip's cache) and
# Ray for the scale-out tests (a real two-node cluster on loopback).
$(VENV)/.installed-dev: pyproject.toml $(COMPILED) | $(BIN)/python
	@bash scripts/ensure-compiler.sh $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,train,interop,scale]'
	@touch $@ $(VENV)/.installed-runtime

# The venue on loopback at 20x real time, the live service on the venue's clock, an RL and a
# TWAP parent (buy 30,000 AAPL over 10 minutes): about a minute, no servers needed.
demo: $(VENV)/.installed-runtime
	$(BIN)/rlexec demo --data $(DATA_DIR)/AAPL_2012-06-21_34200000_57600000_message_1.csv.gz

# The suite runs on the modules mypyc compiled (rlexec/native.py); their own tests run again on
# their Python source (RLEXEC_PURE_PYTHON=1), which is what runs where nothing was compiled.
PURE_PYTHON_TESTS := tests/test_native.py tests/test_market_book.py tests/test_market_features.py \
	tests/test_risk_checks.py tests/test_risk_replace.py tests/test_risk_properties.py \
	tests/test_risk_state.py tests/test_risk_days.py tests/test_risk_untyped_input.py \
	tests/test_service_oms.py \
	tests/test_service_oms_properties.py tests/test_service_gate.py tests/test_service_parity.py \
	tests/test_service_market.py tests/test_gateway_session.py tests/test_parent_pause_horizon.py

test: $(VENV)/.installed-dev redis
	@bash scripts/ensure-promtool.sh
	$(BIN)/ruff check rlexec bench tests deploy setup.py
	$(BIN)/ruff format --check rlexec bench tests deploy setup.py
	$(BIN)/mypy
	$(BIN)/pytest -q
	RLEXEC_PURE_PYTHON=1 $(BIN)/pytest -q -p no:cacheprovider $(PURE_PYTHON_TESTS)

# Build the images and run the docker-compose stack for real: a parent fills through the API,
# Prometheus scrapes every target, every dashboard and alert query has data, the kill switch
# cancels, a SIGKILLed service recovers from Redis. Sets up Docker itself (scripts/deploy-test.sh).
test-deploy: $(VENV)/.installed-dev
	PYTHON=$(abspath $(BIN)/python) bash scripts/deploy-test.sh

# Longer fuzzing than the bounded run inside `make test` (tests/fuzz): each atheris harness for
# FUZZ_SECONDS, then the hypothesis venue fuzzer with FUZZ_EXAMPLES examples. Crashing inputs
# land in tests/fuzz/corpus/<harness>/crashes/, replayed by tests/fuzz/test_corpus.py.
FUZZ_SECONDS ?= 120
FUZZ_EXAMPLES ?= 500
fuzz: $(VENV)/.installed-dev redis
	@set -e; for h in codec session; do \
	  work=$$(mktemp -d); echo "== fuzz_$$h for $(FUZZ_SECONDS) s" >&2; \
	  $(BIN)/python tests/fuzz/fuzz_$$h.py $$work tests/fuzz/corpus/$$h/seeds \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -artifact_prefix=tests/fuzz/corpus/$$h/crashes/new- -print_final_stats=1; \
	  rm -rf $$work; done
	RLEXEC_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider tests/fuzz/test_venue_mutations.py

bench: $(VENV)/.installed-dev
	@for b in bench/*.py; do echo "== $$b" >&2; $(BIN)/python $$b || exit 1; done

# The replay's fill model against hftbacktest on the sample days (100 windows per file, ~20 s):
# writes build/validate-sim/crosscheck.{json,md}; fails when a fill rate is outside the tolerance.
validate-sim: $(VENV)/.installed-dev
	$(BIN)/python -m rlexec.simulator.crosscheck --out build/validate-sim

# Train, export and evaluate the shipped policy end to end, exactly as the committed evaluation
# plan says (rlexec/models/artifacts/evaluation_plan.json); it prints how long it took.
model: $(VENV)/.installed-dev
	$(BIN)/python -m rlexec.models.ship

# kill -9 the live service many times while it works parents; it must lose no order.
chaos: $(VENV)/.installed-dev redis
	CHAOS_KILLS=$${CHAOS_KILLS:-50} $(BIN)/pytest -q -s tests/test_service_chaos.py

# Tests of the Redis store talk to a real server: start one if none answers.
redis:
	@bash scripts/ensure-redis.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build rlexec/gateway/*.so rlexec/models/*.so

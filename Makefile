# tradebridge: every task a developer or CI runs. `make` alone lists them.
# Everything installs what it needs into ./.venv and ./target; nothing is expected to be pre-installed
# beyond Python 3.11+, a Rust toolchain and a C compiler.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)
# Rust binaries the Python tests and the demo start (conformance testee, bus peer, engine, health server).
export TRADEBRIDGE_BIN_DIR ?= $(abspath target/release)
# libzmq, once built, is kept here for builds whose other dependencies differ (third_party/zmq-sys).
export TRADEBRIDGE_LIBZMQ_CACHE ?= $(abspath target/libzmq)
CARGO_FLAGS := --release --workspace --exclude tradebridge-py
# The extension module's Cargo profile. `dist` (whole-program LTO, one codegen unit) is what the benches
# measure, the demo runs and the wheels ship. The tests build it with `release` instead: same code and
# behaviour, and it shares its compiled dependencies with the workspace's release build, which a cold CI
# machine would otherwise compile twice.
NATIVE_PROFILE ?= dist
PYTEST_FLAGS ?= -q
# Every Python tree ruff checks (the demo distribution included once it exists).
PY_TREES := $(wildcard sdk mocks demo tests conformance benches examples)

.PHONY: help
help: ## List the tasks
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.deps: pyproject.toml mocks/pyproject.toml demo/pyproject.toml | sodium
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "maturin>=1.7,<2"
	$(VENV)/bin/maturin develop --profile $(NATIVE_PROFILE) -E test -q
	$(PY) -m pip install -q --no-deps -e mocks -e demo
	touch $@

.PHONY: dev
dev: $(VENV)/.deps ## Create or refresh .venv: SDK in develop mode (native module rebuilt), mocks, test tools
	$(VENV)/bin/maturin develop --profile $(NATIVE_PROFILE) --skip-install -q
	$(PY) -c "import tradebridge._native, tradebridge_mocks"

.PHONY: sodium
# libzmq is built with CURVE (bus security), linked against the system's static libsodium
# (third_party/zmq-sys): installed with apt when missing and we are root (CI is).
sodium:
	@[ -e /usr/include/sodium.h ] || [ -n "$${SODIUM_LIB_DIR:-}" ] || { [ "$$(id -u)" != 0 ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsodium-dev >/dev/null; }; }

.PHONY: build
build: sodium ## Build the Rust workspace (libraries, binaries and examples, release)
	cargo build $(CARGO_FLAGS) --bins --examples

# OS tools some proofs use: strace shows that a refused broker URL opens no socket. Installed with apt when
# missing and we are root (CI is); elsewhere those few tests say why they skip.
.PHONY: tools
tools:
	@command -v strace >/dev/null || { [ "$$(id -u)" != 0 ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null; }; }

.PHONY: test
test: dev tools build test-rust test-python conformance ## Everything CI runs: Rust tests, pytest tests/, pytest conformance/
test ci lint: NATIVE_PROFILE = release

.PHONY: test-rust
test-rust: ## Rust unit and integration tests
	cargo test $(CARGO_FLAGS)

.PHONY: test-python
test-python: ## Python unit and integration tests (tests/)
	$(PY) -m pytest tests $(PYTEST_FLAGS)

.PHONY: conformance
conformance: ## Cross-language conformance (conformance/): vectors, sockets, HTTP, latency budgets
	$(PY) -m pytest conformance $(PYTEST_FLAGS)

.PHONY: ci
ci: lint test ## What CI runs (.ci/run): the whole gate, lint first, then every test

.PHONY: lint
lint: dev ## ruff, mypy (strict), mypy.stubtest over the native stub, cargo fmt --check, clippy -D warnings
	$(PY) -m ruff check $(PY_TREES)
	$(PY) -m ruff format --check $(PY_TREES)
	$(PY) -m mypy
	$(PY) -m mypy --strict examples
	$(PY) -m mypy.stubtest tradebridge._native --allowlist .ci/stubtest-allowlist.txt
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --release -- -D warnings

.PHONY: stress
stress: dev build ## The long proofs in full: every repeated, randomised-timing run (make test runs a few)
	$(PY) -m pytest tests conformance $(PYTEST_FLAGS) -m stress

# `make soak` length in seconds; `make test` runs the same flow for 60 s (tests/soak, growth from 20 s).
SOAK_SECONDS ?= 600

.PHONY: soak
soak: dev build ## The demo flow at 1,000 bars/s x 20 symbols for SOAK_SECONDS (600): RSS, fds, p99 per second; fails on growth or drift
	$(PY) -m tests.soak.runner --seconds $(SOAK_SECONDS)

# `make fuzz` knobs: inputs and seconds per Rust target, and Hypothesis examples per Python fuzz test.
FUZZ_RUNS ?= 10000000
FUZZ_TIME ?= 3600
FUZZ_EXAMPLES ?= 20000
FUZZ_TARGETS ?=

.PHONY: fuzz
fuzz: dev ## Fuzz the decoders: cargo-fuzz (nightly) FUZZ_RUNS inputs per Rust target, Hypothesis for Python
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	$(PY) fuzz/run.py --runs $(FUZZ_RUNS) --max-time $(FUZZ_TIME) $(FUZZ_TARGETS)
	TRADEBRIDGE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/fuzz $(PYTEST_FLAGS) \
		--hypothesis-show-statistics -o timeout=0

.PHONY: fmt
fmt: ## Format Python and Rust in place
	$(PY) -m ruff format $(PY_TREES)
	$(PY) -m ruff check --fix $(PY_TREES)
	cargo fmt --all

.PHONY: bench
bench: dev build ## Benchmarks: ours and the baselines side by side, ratios printed (pytest-benchmark, criterion)
	$(PY) -m pytest benches -q --benchmark-only --benchmark-columns=median,ops,rounds -s
	cargo bench --workspace --exclude tradebridge-py
	$(PY) -m benches.table --criterion target/criterion --write  # reports/bench/latest.json: the run's table

# `make profile` rounds of 20,000 messages per candidate.
PROFILE_ROUNDS ?= 15

.PHONY: profile
profile: dev build ## Where publish and receive spend their CPU, ours beside the hand-written loops (perf, ns/msg by cost centre)
	@command -v perf >/dev/null || { [ "$$(id -u)" != 0 ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null; }; }
	$(PY) -m benches.profile.bus --rounds $(PROFILE_ROUNDS)

.PHONY: demo-install-check
demo-install-check: dev build ## SDK, mocks and demo wheels in a fresh venv outside the checkout run the demo (slow)
	$(PY) -m pytest demo/tests $(PYTEST_FLAGS) -s

.PHONY: kit-install-check
kit-install-check: dev build ## The SDK wheel in a fresh venv outside the checkout: `conformance codec` on Node and broken testees, `conformance health` with and without the kit extra (slow)
	TRADEBRIDGE_KIT_INSTALL_CHECK=1 $(PY) -m pytest tests/conformance_kit/install $(PYTEST_FLAGS) -s

.PHONY: demo
demo: dev build ## Run the guide's complete trading flow locally (mock broker and market data, no credentials)
	$(VENV)/bin/tradebridge demo $(DEMO_ARGS)

.PHONY: clean
clean: ## Remove build products and the virtualenv
	cargo clean
	rm -rf $(VENV) .pytest_cache .benchmarks .mypy_cache .ruff_cache reports

# Clustron: the one entry point. `make test` is exactly what CI runs.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo

.PHONY: test check-toolchain fmt fmt-check lint test-rust examples demo bench bench-core build clean

## test: everything CI checks: formatting, lints, unit/conformance/model/concurrency tests, doc tests, examples
test: check-toolchain fmt-check lint test-rust examples

check-toolchain:
	@command -v $(CARGO) >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace

## examples: every example runs and must succeed
examples:
	$(CARGO) run -q -p clustron-examples --bin quickstart
	$(CARGO) run -q -p clustron-examples --bin leader-election

## demo: the quickstart on the embedded (in-process) default
demo:
	$(CARGO) run -q -p clustron-examples --bin quickstart

## bench-core: in-process micro-benchmarks (criterion) and memory per key, next to a RwLock<HashMap> baseline
bench-core:
	$(CARGO) bench -p clustron --bench memory
	$(CARGO) bench -p clustron --bench store

bench: bench-core

build:
	$(CARGO) build --workspace --release

clean:
	$(CARGO) clean

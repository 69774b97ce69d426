# Clustron: the one entry point. `make test` is exactly what CI runs.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo

.PHONY: test check-toolchain fmt fmt-check lint test-rust examples demo bench bench-core bench-c build clean \
	c-lib header test-c examples-c install-c test-install-c ensure-c-tools

## test: everything CI checks: formatting, lints, Rust tests (unit, conformance, model, concurrency,
## C-ABI conformance, header drift, doc tests), C tests under valgrind, C and Rust examples, pkg-config install
test: check-toolchain fmt-check lint test-rust examples test-c examples-c test-install-c

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

## bench-c: a get through the C ABI next to the same get through the Rust API
bench-c:
	$(CARGO) bench -p clustron-ffi --bench get

bench: bench-core bench-c

# ---- C ---------------------------------------------------------------------------------
# Cargo's output directory (honours CARGO_TARGET_DIR, as CI may set it).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
C_BUILD := $(TARGET_DIR)/c
C_FLAGS := -std=c11 -Wall -Wextra -Werror -pedantic -g -Iinclude
CXX_CHECK := g++ -x c++ -std=c++17 -fsyntax-only -Wall -Wextra -Werror -Iinclude
C_LIBS := -lpthread -ldl -lm -lrt -lutil
VALGRIND := valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
PREFIX ?= /usr/local
PROFILE ?= release

ensure-c-tools:
	@for tool in gcc g++ valgrind pkg-config; do \
	  command -v $$tool >/dev/null || { echo "installing $$tool"; apt-get update -qq && apt-get install -y -qq gcc g++ valgrind pkg-config >/dev/null; break; }; \
	done

## c-lib: build libclustron.so / libclustron.a (debug)
c-lib:
	$(CARGO) build -p clustron-ffi

## header: regenerate include/clustron.h from ffi/src (commit the result)
header:
	CLUSTRON_UPDATE_HEADER=1 $(CARGO) test -p clustron-ffi --test header

## test-c: the C tests, compiled as C11 (-Werror) and checked as C++, run under valgrind (no leaks, no errors)
test-c: ensure-c-tools c-lib
	@mkdir -p $(C_BUILD)
	@for t in tests/c/*.c; do \
	  name=$$(basename $$t .c); \
	  gcc $(C_FLAGS) -Itests/c $$t $(TARGET_DIR)/debug/libclustron.a $(C_LIBS) -o $(C_BUILD)/$$name; \
	  $(CXX_CHECK) -Itests/c $$t; \
	  $(VALGRIND) $(C_BUILD)/$$name; \
	done

## examples-c: build and run every C example (the quickstart under valgrind)
examples-c: ensure-c-tools c-lib
	@mkdir -p $(C_BUILD)
	@for e in examples/c/*.c; do \
	  name=$$(basename $$e .c); \
	  gcc $(C_FLAGS) $$e $(TARGET_DIR)/debug/libclustron.a $(C_LIBS) -o $(C_BUILD)/$$name; \
	  $(CXX_CHECK) $$e; \
	done
	$(VALGRIND) $(C_BUILD)/quickstart
	$(C_BUILD)/job_runner
	$(C_BUILD)/config_reload

## install-c: install libclustron, clustron.h and clustron.pc into PREFIX (default /usr/local)
install-c:
	$(CARGO) build -p clustron-ffi $(if $(filter release,$(PROFILE)),--release,)
	install -d $(PREFIX)/lib/pkgconfig $(PREFIX)/include
	install -m 644 $(TARGET_DIR)/$(PROFILE)/libclustron.a $(PREFIX)/lib/
	install -m 755 $(TARGET_DIR)/$(PROFILE)/libclustron.so $(PREFIX)/lib/
	install -m 644 include/clustron.h $(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' ffi/clustron.pc.in > $(PREFIX)/lib/pkgconfig/clustron.pc

## test-install-c: install into a scratch prefix and build the quickstart with pkg-config, as a user would
test-install-c: ensure-c-tools
	rm -rf $(TARGET_DIR)/c-prefix
	$(MAKE) --no-print-directory install-c PREFIX=$(TARGET_DIR)/c-prefix PROFILE=debug
	cc examples/c/quickstart.c $$(PKG_CONFIG_PATH=$(TARGET_DIR)/c-prefix/lib/pkgconfig pkg-config --cflags --libs clustron) \
	  -Wl,-rpath,$(TARGET_DIR)/c-prefix/lib -o $(C_BUILD)/quickstart-installed
	$(C_BUILD)/quickstart-installed > /dev/null

build:
	$(CARGO) build --workspace --release

clean:
	$(CARGO) clean

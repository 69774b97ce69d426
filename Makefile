# Clustron: the one entry point. `make test` is exactly what CI runs.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo

.PHONY: test check-toolchain fmt fmt-check lint test-rust test-cluster test-bindings-cluster examples-cluster cli examples demo bench bench-core bench-c bench-auth bench-compare bench-failover bench-durable bench-scale ensure-compare-tools test-bench-report jepsen simulate soak ensure-cargo-fuzz fuzz-short fuzz fuzz-seeds build clean \
	c-lib header test-c examples-c install-c install-c-files uninstall-c test-install-c ensure-c-tools \
	python-venv python-install python-dev test-python examples-python bench-python \
	node-deps node-build test-node examples-node bench-node \
	dist dist-cli dist-c dist-python dist-node test-dist set-version docs ensure-mdbook

## test: everything CI checks: formatting, lints, Rust tests (unit, conformance, model, concurrency,
## C-ABI conformance, header drift, doc tests), C tests under valgrind, C and Rust examples, a staged install-c
## used through pkg-config and CMake, the Python package (the dist wheel pip-installed, pytest, stub check, mypy,
## examples), the Node package (build, generated-file drift, node --test, tsc on typed usage, examples), every
## artifact of `make dist` installed and used without cargo (test-dist), the cluster tests and the CLI
## (test-cluster), the bindings and examples against a cluster, the bench-compare report.
## The fuzz targets' corpora (fuzz/seeds) and crash regressions are replayed by test-rust through the
## same entry points; the coverage-guided runs themselves are `make fuzz-short` and `make fuzz`.
TEST_STEPS := check-toolchain fmt-check lint test-rust test-cluster examples test-c examples-c test-install-c \
	test-python test-node docs test-dist test-bindings-cluster examples-cluster test-bench-report
# Each step runs in its own make, timed; what an earlier step built (the pip-installed package,
# the Node addon) is reused by the later ones (`make -o`) instead of being rebuilt. The time of
# every step is printed at the end, also when one fails (CI's budget is 30 minutes).
test:
	@mkdir -p $(TARGET_DIR); : > $(TARGET_DIR)/test-steps.txt; status=0; reuse=""; begin=$$(date +%s); \
	for step in $(TEST_STEPS); do \
	  start=$$(date +%s); \
	  $(MAKE) --no-print-directory $$step $$reuse || status=$$?; \
	  printf '  %-22s %5d s%s\n' $$step $$(( $$(date +%s) - start )) "$$([ $$status -eq 0 ] || echo '  FAILED')" \
	    >> $(TARGET_DIR)/test-steps.txt; \
	  [ $$status -eq 0 ] || break; \
	  case $$step in test-python) reuse="$$reuse -o python-install -o dist-python";; test-node) reuse="$$reuse -o node-build";; esac; \
	done; \
	echo "== make test: time per step (total $$(( $$(date +%s) - begin )) s)"; cat $(TARGET_DIR)/test-steps.txt; \
	exit $$status

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
	$(CARGO) clippy -p clustron --features fuzzing --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace --exclude clustron-cli
	$(CARGO) test -p clustron --features node,fuzzing --lib
	$(CARGO) test -p clustron-ffi --test fuzz_replay

## test-cluster: real node processes on 127.0.0.1 (release build): the conformance vectors on a
## 3-node cluster, failover, durability, partitions, membership, bad input on the wire, the command
## line (client commands on an in-process store and a cluster, exit codes), the metrics endpoint
## and `clustron top`, the bench modes
## The jepsen workloads in here replay one fixed fault schedule (JEPSEN_SEED, default
## JEPSEN_CI_SEED): the same commit gets the same schedule. `make jepsen` draws new seeds.
## (Seed 20261201 found a stale read from a restarted leader, fixed since: docs/RELIABILITY.md.)
JEPSEN_CI_SEED ?= 1
test-cluster:
	JEPSEN_SEED=$${JEPSEN_SEED:-$(JEPSEN_CI_SEED)} $(CARGO) test $(RELEASE) -p clustron-cli

## jepsen: the long fault-injection runs (JEPSEN_SECONDS each, default 300; JEPSEN_SEED to replay);
## histories in target/jepsen/. `make test` runs the same workloads for 15-20 s.
JEPSEN_SECONDS ?= 300
jepsen:
	JEPSEN_SECONDS=$(JEPSEN_SECONDS) $(CARGO) test $(RELEASE) -p clustron-cli --test jepsen -- --nocapture --test-threads 1

## simulate: the deterministic simulation of a store's Raft group (core/src/cluster/sim): SEEDS
## seeds from FIRST, on every core, release build; each seed is 30 simulated seconds of clients
## and faults. A failing seed replays exactly: `make simulate SEEDS=1 FIRST=<seed>`. `make test`
## runs seeds 1-3, the replay check and the planted bugs (in test-rust, debug build).
SEEDS ?= 1000
FIRST ?= 1
simulate:
	SIMULATE_SEEDS=$(SEEDS) SIMULATE_FIRST=$(FIRST) $(CARGO) test $(RELEASE) -p clustron --features node --lib \
	  cluster::sim::tests::simulated_groups -- --nocapture

## soak: 3 durable nodes for SOAK_MINUTES (default 30) under mixed load (the stress profile, a
## watch, lease cycles) with a kill -9 every 3 minutes; RSS, open files and threads sampled every
## 10 s, and the never-killed node's must stay flat after the warm-up (bench/soak.py; report in
## bench/results/soak-<date>.md).
SOAK_MINUTES ?= 30
soak: cli
	python3 bench/soak.py --binary $(RELEASE_DIR)/clustron --minutes $(SOAK_MINUTES)

# ---- Fuzzing (cargo-fuzz, libFuzzer; stable Rust, so without a sanitizer) ------------------
FUZZ_TARGETS := wire log snapshot config c_abi
FUZZ_RUNS ?= 200000
FUZZ_SEED ?= 1
FUZZ_SECONDS ?= 600
FUZZ = CARGO_TARGET_DIR=$(TARGET_DIR)/fuzz $(CARGO) fuzz

ensure-cargo-fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked

# Every target, after replaying the inputs that once crashed it (fuzz/regressions/<target>/),
# into a new corpus under target/ seeded with the committed one (fuzz/seeds/<target>, read
# only), with the libFuzzer options $(1).
define fuzz_targets
	$(FUZZ) build --fuzz-dir fuzz -s none
	@for target in $(FUZZ_TARGETS); do \
	  if [ -d fuzz/regressions/$$target ]; then \
	    echo "== $$target: regressions"; $(FUZZ) run --fuzz-dir fuzz -s none $$target fuzz/regressions/$$target/* 2>&1 | grep -E '^Executed|panicked|ERROR'; \
	  fi; \
	  echo "== $$target: $(1)"; \
	  corpus=$(TARGET_DIR)/fuzz-corpus/$$target; rm -rf $$corpus; mkdir -p $$corpus; \
	  status=0; \
	  $(FUZZ) run --fuzz-dir fuzz -s none $$target $$corpus fuzz/seeds/$$target -- $(1) -rss_limit_mb=2048 \
	    -print_final_stats=1 > $(TARGET_DIR)/fuzz-$$target.log 2>&1 || status=$$?; \
	  grep -E '^(Done|stat::number_of_executed_units|==[0-9]+== ERROR|SUMMARY)|panicked' $(TARGET_DIR)/fuzz-$$target.log || true; \
	  test $$status -eq 0 || { echo "fuzz target $$target failed: see fuzz/artifacts/$$target and $(TARGET_DIR)/fuzz-$$target.log"; exit 1; }; \
	done
endef

## fuzz-short: FUZZ_RUNS inputs per target from the fixed FUZZ_SEED (the same commit runs the same
## inputs); what fuzzing finds that crashes goes into fuzz/regressions/<target>/
fuzz-short: ensure-cargo-fuzz
	$(call fuzz_targets,-runs=$(FUZZ_RUNS) -seed=$(FUZZ_SEED))

## fuzz: random, time-bounded fuzzing (FUZZ_SECONDS per target, default 600, a new seed each run)
fuzz: ensure-cargo-fuzz
	$(call fuzz_targets,-max_total_time=$(FUZZ_SECONDS))

## fuzz-seeds: after `make fuzz` or `fuzz-short`, merge what the run found into the committed
## corpus fuzz/seeds/<target>, minimized (libFuzzer's merge keeps the inputs that add coverage),
## after adding the wire protocol's golden samples (fuzz/wire_seeds.py); `make test` replays
## that corpus, so commit the result
fuzz-seeds: ensure-cargo-fuzz
	python3 fuzz/wire_seeds.py
	@for target in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/seeds/$$target; cp -n $(TARGET_DIR)/fuzz-corpus/$$target/* fuzz/seeds/$$target/ 2>/dev/null || true; \
	  $(FUZZ) cmin --fuzz-dir fuzz -s none $$target fuzz/seeds/$$target 2>&1 | grep -E 'MERGE-OUTER: [0-9]+ new files' || true; \
	  echo "== $$target: $$(ls fuzz/seeds/$$target | wc -l) inputs"; \
	done

## cli: the release `clustron` binary (node daemon, operator commands, bench)
cli:
	$(CARGO) build $(RELEASE) -p clustron-cli

# A local cluster around one command: 3 in-memory nodes on free 127.0.0.1 ports, killed after it.
CLUSTRON_BIN = $(RELEASE_DIR)/clustron
WITH_CLUSTER = tests/cluster/with-cluster.sh $(CLUSTRON_BIN) 3
# Five nodes, each store on three of them (the default replication factor): a client meets
# nodes that hold no replica of its store and is redirected.
TEST_CLUSTER = tests/cluster/with-cluster.sh $(CLUSTRON_BIN) 5 base --clock manual --allow-create-stores --
## A 3-node cluster with access control on: the first node writes the admin token, the others
## join with it (the bindings' access control tests).
AUTH_TOKEN = $(TARGET_DIR)/auth-cluster.token
AUTH_CLUSTER = tests/cluster/with-cluster.sh $(CLUSTRON_BIN) 3 orders --auth --admin-token-file $(AUTH_TOKEN) --token-file $(AUTH_TOKEN) --

## test-bindings-cluster: the conformance vectors through the C ABI, Python and Node against a
## 5-node cluster whose stores have 3 replicas (CLUSTRON_NODES points each runner at it); then
## the C, Python and Node access control tests on a 3-node cluster with --auth
test-bindings-cluster: cli python-install node-build ensure-c-tools c-lib
	$(TEST_CLUSTER) $(CARGO) test -q -p clustron-ffi --test conformance --test admin
	$(TEST_CLUSTER) $(VPY) -m pytest -q $(PY_DIR)/tests/test_conformance.py $(PY_DIR)/tests/test_where.py $(PY_DIR)/tests/test_admin.py $(PY_DIR)/tests/test_search.py::test_aio_search $(PY_DIR)/tests/test_search.py::test_live_query_sync_and_aio \
	  $(PY_DIR)/tests/test_backup.py::test_round_trip_sync_and_aio
	$(TEST_CLUSTER) sh -c 'cd $(NODE_DIR) && node --test test/conformance.test.js test/where.test.js test/admin.test.js test/search.test.js test/backup.test.js'
	@mkdir -p $(C_BUILD)
	gcc $(C_FLAGS) -Itests/c tests/c/cluster/test_auth.c $(TARGET_DIR)/debug/libclustron.a $(C_LIBS) -o $(C_BUILD)/test_auth
	$(CXX_CHECK) -Itests/c tests/c/cluster/test_auth.c
	rm -f $(AUTH_TOKEN)
	$(AUTH_CLUSTER) sh -c 'export CLUSTRON_AUTH_NODES=$$CLUSTRON_NODES CLUSTRON_ADMIN_TOKEN_FILE=$(AUTH_TOKEN); \
	  $(VALGRIND) $(C_BUILD)/test_auth && \
	  $(VPY) -m pytest -q $(PY_DIR)/tests/test_auth.py && cd $(NODE_DIR) && node --test test/auth.test.js'

## examples-cluster: the quickstarts and the priority queues (Rust, C, Python, Node) and the Rust
## leader election on a 3-node cluster, exactly as README "Running a cluster" shows
examples-cluster: cli examples-c python-install node-build
	$(CARGO) build -q -p clustron-examples
	$(WITH_CLUSTER) quickstart --allow-create-stores -- sh -c '\
	  $(TARGET_DIR)/debug/quickstart clustron://$$CLUSTRON_NODES/quickstart >/dev/null && \
	  $(TARGET_DIR)/debug/leader-election clustron://$$CLUSTRON_NODES/leader-election >/dev/null && \
	  $(C_BUILD)/quickstart clustron://$$CLUSTRON_NODES/c-quickstart >/dev/null && \
	  $(VPY) examples/python/quickstart.py clustron://$$CLUSTRON_NODES/py-quickstart >/dev/null && \
	  node examples/node/quickstart.mjs clustron://$$CLUSTRON_NODES/node-quickstart >/dev/null && \
	  $(TARGET_DIR)/debug/priority-queue clustron://$$CLUSTRON_NODES/priority-queue >/dev/null && \
	  $(C_BUILD)/priority_queue clustron://$$CLUSTRON_NODES/c-priority-queue >/dev/null && \
	  $(VPY) examples/python/priority_queue.py clustron://$$CLUSTRON_NODES/py-priority-queue >/dev/null && \
	  node examples/node/priority_queue.mjs clustron://$$CLUSTRON_NODES/node-priority-queue >/dev/null && \
	  echo "the quickstarts, the leader election and the priority queues ran on the cluster"'

## examples: every example runs and must succeed
examples:
	$(CARGO) run -q -p clustron-examples --bin quickstart
	$(CARGO) run -q -p clustron-examples --bin leader-election
	$(CARGO) run -q -p clustron-examples --bin priority-queue

## demo: the quickstart on the embedded (in-process) default
demo:
	$(CARGO) run -q -p clustron-examples --bin quickstart

## bench-core: in-process micro-benchmarks (criterion) and memory per key, next to a RwLock<HashMap> baseline
bench-core:
	$(CARGO) bench -p clustron --bench memory
	$(CARGO) bench -p clustron --bench store
	$(CARGO) bench -p clustron --bench expiry
	$(CARGO) bench -p clustron --bench search
	python3 bench/search_sqlite.py

## bench-c: a get through the C ABI next to the same get through the Rust API
bench-c:
	$(CARGO) bench -p clustron-ffi --bench get

## bench-auth: puts and gets at 64 clients on a 1-node cluster without and with access control,
## interleaved (ROUNDS=3, OPS="put get"); results in bench/results/2026-12-03-auth.md
bench-auth: cli
	ROUNDS=$${ROUNDS:-3} OPS="$${OPS:-put get}" bench/auth_cost.sh $(CLUSTRON_BIN)

bench: bench-core bench-c bench-python bench-node

## bench-compare: Clustron (in-process, 1 node, 3 nodes) next to a 3-node etcd and Redis on this
## machine through the same harness; installs etcd, Redis and protoc from Debian if missing;
## writes bench/results/<date>.md, .svg and .json. BENCH_COMPARE_ARGS="--duration 10" to change.
BENCH_COMPARE_ARGS ?=
bench-compare: ensure-compare-tools
	$(CARGO) build $(RELEASE) -p clustron-cli --features compare
	python3 bench/compare.py --binary $(CLUSTRON_BIN) $(BENCH_COMPARE_ARGS)

## bench-failover: how long writes stop when the leader is killed (SIGKILL), Clustron next to
## etcd, both with default settings, one writing client, a fresh 3-node cluster per round
## (10 each); installs etcd and builds the tool first; writes bench/results/failover-<date>.md
## and .json. BENCH_FAILOVER_ARGS="--rounds 3" to change.
BENCH_FAILOVER_ARGS ?=
bench-failover: ensure-compare-tools
	$(CARGO) build $(RELEASE) -p clustron-cli --features compare
	python3 bench/failover.py --binary $(CLUSTRON_BIN) $(BENCH_FAILOVER_ARGS)

## bench-durable: one client on 3 durable nodes (put, lock cycle), Clustron next to etcd, 5
## fresh clusters each (medians of p50, p99 and rate), next to this machine's floor (one
## fdatasync + two loopback round trips); writes bench/results/durable-<date>.md and .json.
BENCH_DURABLE_ARGS ?=
bench-durable: ensure-compare-tools
	$(CARGO) build $(RELEASE) -p clustron-cli --features compare
	python3 bench/durable_floor.py --binary $(CLUSTRON_BIN) $(BENCH_DURABLE_ARGS)

## bench-scale: does adding nodes add capacity? Each node in its own cgroup v1 CPU quota
## (0.25 core), the load generator outside: RF 1 at 1 vs 4 nodes, RF 3 at 3 vs 6 nodes, and
## 1,000 stores on 3 nodes (creation time, idle CPU, memory per replica, 100 writers), re-replication
## after a kill, and leaders spreading again after a restart. Needs
## root. Writes bench/results/scale-<date>.md and .json. BENCH_SCALE_ARGS="--scenarios rf1".
BENCH_SCALE_ARGS ?=
bench-scale: cli
	python3 bench/scale.py --binary $(CLUSTRON_BIN) $(BENCH_SCALE_ARGS)

## test-bench-report: the report side of bench-compare (tables, goal ratios, SVG) on made-up results
test-bench-report:
	python3 -m unittest bench/test_compare.py

ensure-compare-tools:
	@missing=""; \
	command -v etcd >/dev/null || missing="$$missing etcd-server"; \
	command -v etcdctl >/dev/null || missing="$$missing etcd-client"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v protoc >/dev/null || missing="$$missing protobuf-compiler"; \
	if [ -n "$$missing" ]; then echo "installing$$missing"; apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; fi

# ---- C ---------------------------------------------------------------------------------
# Cargo's output directory (honours CARGO_TARGET_DIR, as CI may set it).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
# Release builds name the host's target triple, because napi's build of the Node addon always
# does and cargo keeps what it builds for a named target apart from what it builds without
# one: only if every release build names it do the CLI, the Python module and the Node addon
# share one set of release artifacts (target/<host>/release). Without it every dependency was
# compiled twice in release, about 4 minutes of a fresh CI run. (For the same reason the Node
# build strips its addon with `strip` afterwards instead of napi's `--strip`, which sets
# RUSTFLAGS: cargo keeps builds with other RUSTFLAGS apart too.)
HOST := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
RELEASE := --release --target $(HOST)
RELEASE_DIR = $(TARGET_DIR)/$(HOST)/release
C_BUILD := $(TARGET_DIR)/c
C_FLAGS := -std=c11 -Wall -Wextra -Werror -pedantic -g -Iinclude
CXX_CHECK := g++ -x c++ -std=c++17 -fsyntax-only -Wall -Wextra -Werror -Iinclude
C_LIBS := -lpthread -ldl -lm -lrt -lutil
VALGRIND := valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
PREFIX ?= /usr/local
PROFILE ?= release
PROFILE_DIR = $(if $(filter release,$(PROFILE)),$(RELEASE_DIR),$(TARGET_DIR)/$(PROFILE))

ensure-c-tools:
	@for tool in gcc g++ valgrind pkg-config cmake; do \
	  command -v $$tool >/dev/null || { echo "installing $$tool"; apt-get update -qq && apt-get install -y -qq gcc g++ valgrind pkg-config cmake >/dev/null; break; }; \
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
	$(VALGRIND) $(C_BUILD)/priority_queue >/dev/null
	$(C_BUILD)/config_reload

## install-c: install libclustron (libclustron.so.VERSION with its SONAME and .so symlinks, .a),
## clustron.h, clustron.pc and the CMake package (find_package(clustron)) into PREFIX (default
## /usr/local); LIBDIR and INCLUDEDIR override their parts, DESTDIR stages the whole tree.
## uninstall-c removes exactly those files (the same variables).
install-c:
	$(CARGO) build -p clustron-ffi $(if $(filter release,$(PROFILE)),$(RELEASE),)
	$(MAKE) --no-print-directory install-c-files C_LIB_DIR=$(PROFILE_DIR)

LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
VERSION_MAJOR = $(word 1,$(subst ., ,$(VERSION)))
C_LIB_DIR ?= $(PROFILE_DIR)
MULTIARCH_LIB = lib/$(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
# Installs the built libraries of C_LIB_DIR, as they are (install-c) or stripped (dist-c).
install-c-files:
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(LIBDIR)/cmake/clustron $(DESTDIR)$(INCLUDEDIR)
	install -m 644 $(C_LIB_DIR)/libclustron.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(C_LIB_DIR)/libclustron.so $(DESTDIR)$(LIBDIR)/libclustron.so.$(VERSION)
	ln -sfn libclustron.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libclustron.so.$(VERSION_MAJOR)
	ln -sfn libclustron.so.$(VERSION_MAJOR) $(DESTDIR)$(LIBDIR)/libclustron.so
	install -m 644 include/clustron.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@VERSION@|$(VERSION)|' \
	  -e "s|@INCLUDEDIR_FROM_PC@|$$(realpath -m -s --relative-to=$(LIBDIR)/pkgconfig $(INCLUDEDIR))|" \
	  ffi/clustron.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/clustron.pc
	for f in clustron-config clustron-config-version; do \
	  sed -e 's|@VERSION@|$(VERSION)|' -e 's|@VERSION_MAJOR@|$(VERSION_MAJOR)|' \
	    -e "s|@INCLUDEDIR_FROM_CMAKE@|$$(realpath -m -s --relative-to=$(LIBDIR)/cmake/clustron $(INCLUDEDIR))|" \
	    ffi/cmake/$$f.cmake.in > $(DESTDIR)$(LIBDIR)/cmake/clustron/$$f.cmake; \
	done

uninstall-c:
	rm -f $(addprefix $(DESTDIR)$(LIBDIR)/,libclustron.a libclustron.so libclustron.so.$(VERSION_MAJOR) \
	  libclustron.so.$(VERSION) pkgconfig/clustron.pc cmake/clustron/clustron-config.cmake \
	  cmake/clustron/clustron-config-version.cmake) $(DESTDIR)$(INCLUDEDIR)/clustron.h
	-rmdir $(DESTDIR)$(LIBDIR)/cmake/clustron 2>/dev/null

## test-install-c: install into a staged tree (DESTDIR, a multiarch LIBDIR as Debian has), build the quickstart
## with pkg-config (shared and static) and with CMake, run them, uninstall, and check that
## nothing is left but empty directories
test-install-c: ensure-c-tools
	rm -rf $(TARGET_DIR)/c-install
	$(MAKE) --no-print-directory install-c DESTDIR=$(TARGET_DIR)/c-install PREFIX=/opt/clustron LIBDIR=/opt/clustron/$(MULTIARCH_LIB) PROFILE=debug
	tests/c/installed.sh $(TARGET_DIR)/c-install/opt/clustron $(MULTIARCH_LIB) $(TARGET_DIR)/c-install-build
	$(MAKE) --no-print-directory uninstall-c DESTDIR=$(TARGET_DIR)/c-install PREFIX=/opt/clustron LIBDIR=/opt/clustron/$(MULTIARCH_LIB)
	@left=$$(find $(TARGET_DIR)/c-install -not -type d); [ -z "$$left" ] || { echo "uninstall-c left: $$left"; exit 1; }

# ---- Python ----------------------------------------------------------------------------
PYTHON ?= python3
PY_DIR := bindings/python
VENV := $(PY_DIR)/.venv
VPY := $(VENV)/bin/python
PY_ENV := CARGO_TARGET_DIR=$(TARGET_DIR) CARGO_BUILD_TARGET=$(HOST)

## python-venv: bindings/python/.venv with the build and test tools (created once)
python-venv: $(VENV)/.tools

$(VENV)/.tools: $(PY_DIR)/requirements-dev.txt
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || \
	  { echo "installing python3-venv"; apt-get update -qq && apt-get install -y -qq python3-venv python3-pip >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r $(PY_DIR)/requirements-dev.txt
	touch $@

## python-install: the wheel of `make dist-python` pip-installed into the venv, as a user would
## (the tests run against the artifact that ships)
python-install: dist-python
	$(VPY) -m pip install -q --force-reinstall --no-deps $(DIST)/clustron-$(VERSION)-cp310-abi3-*.whl

## python-dev: an editable debug build of the package for quick iteration (maturin develop)
python-dev: python-venv
	cd $(PY_DIR) && $(PY_ENV) VIRTUAL_ENV=$(CURDIR)/$(VENV) .venv/bin/maturin develop -q

## test-python: pytest (conformance vectors, API, asyncio, threads, bad input, Ctrl+C), the stubs
## against the native module, mypy --strict, and every Python example, on the pip-installed package
test-python: python-install
	cd $(PY_DIR) && .venv/bin/python -m pytest -q -p no:cacheprovider --timeout=120 tests
	cd $(PY_DIR) && .venv/bin/python -m mypy.stubtest clustron._native
	$(VPY) -m mypy --strict --no-incremental $(PY_DIR)/python/clustron examples/python $(PY_DIR)/bench $(PY_DIR)/tools
	$(MAKE) --no-print-directory examples-python

## examples-python: every Python example runs and must succeed
examples-python:
	@for e in examples/python/*.py; do echo "== $$e"; timeout 120 $(VPY) $$e >/dev/null; done

## bench-python: get and put from one Python thread, next to cachetools.TTLCache and a dict
bench-python: python-install
	$(VPY) $(PY_DIR)/bench/bench_ops.py

# ---- Node ------------------------------------------------------------------------------
NODE_DIR := bindings/node
NODE_GEN := $(TARGET_DIR)/node-generated
NODE_ENV := CARGO_TARGET_DIR=$(TARGET_DIR)

## node-deps: the build and test tools of bindings/node (npm ci, from package-lock.json)
node-deps: $(NODE_DIR)/node_modules/.package-lock.json

$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are required (Node 18+)"; exit 1; }
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error

## node-build: `npm run build` (release addon, regenerated index.js / index.d.ts, dist/ from ts/);
## fails if the committed generated files are out of date
node-build: node-deps
	@mkdir -p $(NODE_GEN)
	cp $(NODE_DIR)/index.js $(NODE_DIR)/index.d.ts $(NODE_GEN)/
	cd $(NODE_DIR) && $(NODE_ENV) npm run --silent build
	@cmp -s $(NODE_DIR)/index.js $(NODE_GEN)/index.js && cmp -s $(NODE_DIR)/index.d.ts $(NODE_GEN)/index.d.ts || \
	  { echo "bindings/node/index.js or index.d.ts changed when rebuilt: commit the regenerated files"; exit 1; }

## test-node: node --test (conformance vectors, API, concurrency, bad input), tsc on typed usage, examples
## (the packed npm packages are installed and used by test-dist)
test-node: node-build
	cd $(NODE_DIR) && node --test --test-concurrency=1 --test-timeout=120000 test/
	cd $(NODE_DIR) && npx tsc -p test/tsconfig.json --noEmit
	$(MAKE) --no-print-directory examples-node

## examples-node: every Node example runs and must succeed
examples-node: node-build
	cd examples/node && npm install --no-audit --no-fund --loglevel=error
	@for e in examples/node/*.mjs; do echo "== $$e"; timeout 120 node $$e >/dev/null; done

## bench-node: get and put from Node (sequential and 64 in flight), next to node-cache and lru-cache
bench-node: node-build
	cd $(NODE_DIR) && node bench/bench-ops.js

# ---- Distribution ----------------------------------------------------------------------
## dist: every installable artifact under dist/, each with the one version of Cargo.toml's
## [workspace.package] (`make set-version V=X.Y.Z` changes it everywhere):
##   clustron-VERSION-HOST.tar.gz          the clustron binary (stripped), man pages, shell
##                                         completions, a systemd unit and an example configuration
##   clustron-c-VERSION-HOST.tar.gz        libclustron.so.VERSION (SONAME libclustron.so.MAJOR) and
##                                         symlinks, libclustron.a, clustron.h, pkg-config, CMake package
##   *-debug.tar.gz                        the debug symbols of both (found through .gnu_debuglink)
##   clustron-VERSION-cp310-abi3-manylinux2014_x86_64.whl and clustron-VERSION.tar.gz (Python)
##   clustron-VERSION.tgz and clustron-linux-x64-gnu-VERSION.tgz (npm: the package and its addon)
##   SHA256SUMS
## `make test-dist` installs and uses them with cargo and rustc off PATH.
DIST := $(CURDIR)/dist
DIST_STAGE := $(TARGET_DIR)/dist-stage
# Archives are reproducible: files dated by the last commit, sorted, owned by root, gzip
# without a timestamp.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
TAR := tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$(SOURCE_DATE_EPOCH)
# $(call split_debug,FILE,DIR): FILE's debug information moves to DIR/<name>.debug and FILE is
# stripped, keeping a .gnu_debuglink to it (gdb and perf find it there or in /usr/lib/debug).
split_debug = objcopy --only-keep-debug $(1) $(2)/$(notdir $(1)).debug && strip --strip-unneeded $(1) && \
	objcopy --add-gnu-debuglink=$(2)/$(notdir $(1)).debug $(1)

dist: dist-cli dist-c dist-python dist-node
	cd $(DIST) && rm -f SHA256SUMS && sha256sum -- * > SHA256SUMS

## dist-cli: the binary tarball, laid out as a prefix: `tar -xzf ... --strip-components=1 -C /usr/local`
dist-cli: cli
	@mkdir -p $(DIST); rm -rf $(DIST_STAGE)/cli
	@name=clustron-$(VERSION)-$(HOST); stage=$(DIST_STAGE)/cli/$$name; debug=$(DIST_STAGE)/cli/$$name-debug; \
	set -x; \
	install -d $$stage/bin $$stage/share/man/man1 $$stage/share/bash-completion/completions \
	  $$stage/share/zsh/site-functions $$stage/share/fish/vendor_completions.d $$stage/lib/systemd/system \
	  $$stage/share/clustron $$stage/share/doc/clustron $$debug; \
	install -m 755 $(CLUSTRON_BIN) $$stage/bin/clustron; \
	$(call split_debug,$$stage/bin/clustron,$$debug); \
	$$stage/bin/clustron man --out $$stage/share/man/man1; gzip -9n $$stage/share/man/man1/*.1; \
	$$stage/bin/clustron completions bash > $$stage/share/bash-completion/completions/clustron; \
	$$stage/bin/clustron completions zsh > $$stage/share/zsh/site-functions/_clustron; \
	$$stage/bin/clustron completions fish > $$stage/share/fish/vendor_completions.d/clustron.fish; \
	install -m 644 deploy/clustron.service $$stage/lib/systemd/system/; \
	install -m 644 deploy/clustron.env deploy/grafana/clustron.json deploy/prometheus/alerts.yml $$stage/share/clustron/; \
	install -m 644 README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE deploy/INSTALL.md $$stage/share/doc/clustron/; \
	$(TAR) -C $(DIST_STAGE)/cli -cf - $$name | gzip -9n > $(DIST)/$$name.tar.gz; \
	$(TAR) -C $(DIST_STAGE)/cli -cf - $$name-debug | gzip -9n > $(DIST)/$$name-debug.tar.gz

## dist-c: the C tarball, laid out as a prefix (lib/, include/, share/)
dist-c: ensure-c-tools
	$(CARGO) build $(RELEASE) -p clustron-ffi
	@mkdir -p $(DIST); rm -rf $(DIST_STAGE)/c
	@name=clustron-c-$(VERSION)-$(HOST); stage=$(DIST_STAGE)/c/$$name; debug=$(DIST_STAGE)/c/$$name-debug; \
	set -x; mkdir -p $$debug; \
	$(MAKE) --no-print-directory install-c-files DESTDIR=$$stage PREFIX=/ LIBDIR=/lib INCLUDEDIR=/include C_LIB_DIR=$(RELEASE_DIR) >/dev/null; \
	$(call split_debug,$$stage/lib/libclustron.so.$(VERSION),$$debug); \
	strip --strip-debug $$stage/lib/libclustron.a; \
	install -d $$stage/share/doc/clustron-c/examples; \
	install -m 644 README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE $$stage/share/doc/clustron-c/; \
	install -m 644 examples/c/*.c $$stage/share/doc/clustron-c/examples/; \
	$(TAR) -C $(DIST_STAGE)/c -cf - $$name | gzip -9n > $(DIST)/$$name.tar.gz; \
	$(TAR) -C $(DIST_STAGE)/c -cf - $$name-debug | gzip -9n > $(DIST)/$$name-debug.tar.gz

## dist-python: a manylinux2014 abi3 wheel (linked by zig against glibc 2.17, so it installs
## on any x86-64 Linux with glibc 2.17 or newer; auditwheel checks the tag) and the sdist.
## zig builds in its own target directory (target/zig): a build linked differently has other
## fingerprints, and sharing the release directory made the CLI and the Node addon rebuild
## every dependency after it (2-3 minutes of every make test).
dist-python: python-venv
	@mkdir -p $(DIST); rm -f $(DIST)/clustron-*.whl $(DIST)/clustron-$(VERSION).tar.gz
	cd $(PY_DIR) && PATH=$(CURDIR)/$(VENV)/bin:$$PATH CARGO_TARGET_DIR=$(TARGET_DIR)/zig CARGO_BUILD_TARGET=$(HOST) \
	  .venv/bin/maturin build -q --release --zig --compatibility manylinux2014 --out $(DIST)
	cd $(PY_DIR) && .venv/bin/maturin sdist --out $(DIST) >/dev/null
	$(VENV)/bin/auditwheel show $(DIST)/clustron-$(VERSION)-*.whl | tr '\n' ' ' | grep -c 'manylinux_2_17_x86_64' >/dev/null || \
	  { $(VENV)/bin/auditwheel show $(DIST)/clustron-$(VERSION)-*.whl; echo "the wheel is not manylinux2014"; exit 1; }

## dist-node: the npm package (without the addon: its optionalDependencies name the platform
## package) and the platform package with the addon, as napi-rs lays them out
dist-node: node-build
	@mkdir -p $(DIST); rm -rf $(DIST_STAGE)/node; mkdir -p $(DIST_STAGE)/node/clustron $(DIST_STAGE)/node/platform
	@for file in $(NODE_DIR)/package.json $(NODE_DIR)/npm/linux-x64-gnu/package.json; do \
	  [ "$$(node -p "require('./$$file').version")" = "$(VERSION)" ] || \
	    { echo "$$file is not at version $(VERSION) (Cargo.toml): make set-version V=$(VERSION)"; exit 1; }; \
	done
	cp -r $(NODE_DIR)/dist $(NODE_DIR)/index.js $(NODE_DIR)/index.d.ts $(NODE_DIR)/clustron.mjs $(NODE_DIR)/README.md \
	  LICENSE-MIT LICENSE-APACHE $(DIST_STAGE)/node/clustron/
	node -e "const p = require('./$(NODE_DIR)/package.json'); \
	  p.files = p.files.filter((f) => f !== '*.node'); delete p.scripts; delete p.devDependencies; \
	  p.optionalDependencies = { 'clustron-linux-x64-gnu': p.version }; \
	  require('fs').writeFileSync('$(DIST_STAGE)/node/clustron/package.json', JSON.stringify(p, null, 2) + '\n')"
	cp $(NODE_DIR)/npm/linux-x64-gnu/package.json $(NODE_DIR)/npm/linux-x64-gnu/README.md $(NODE_DIR)/clustron.linux-x64-gnu.node \
	  LICENSE-MIT LICENSE-APACHE $(DIST_STAGE)/node/platform/
	cd $(DIST_STAGE)/node/clustron && npm pack --silent --pack-destination $(DIST) >/dev/null
	cd $(DIST_STAGE)/node/platform && npm pack --silent --pack-destination $(DIST) >/dev/null

## test-dist: every artifact of dist/ installed and used as a user would, in scratch directories,
## with cargo and rustc off PATH (tests/dist/run.sh); then the sdist builds a wheel (with cargo)
test-dist: dist
	$(PY_ENV) tests/dist/run.sh $(DIST) $(VERSION) $(HOST) $(VENV)

## set-version: V=X.Y.Z becomes the version of every artifact (Cargo.toml, package.json, the
## platform package, clustron.h's macros); then commit it with a CHANGELOG section
set-version:
	@[ -n "$(V)" ] || { echo "usage: make set-version V=X.Y.Z"; exit 1; }
	sed -i '/^\[workspace.package\]/,/^\[/ s/^version = ".*"/version = "$(V)"/' Cargo.toml
	cd $(NODE_DIR) && npm version --no-git-tag-version --allow-same-version $(V) >/dev/null
	cd $(NODE_DIR)/npm/linux-x64-gnu && npm version --no-git-tag-version --allow-same-version $(V) >/dev/null
	$(CARGO) update --workspace -q
	$(MAKE) --no-print-directory header

build:
	$(CARGO) build --workspace $(RELEASE)

## docs: the documentation site (mdBook, docs/SUMMARY.md) in target/book, with the API references
## generated from the code (rustdoc, pydoc of the installed package, the published .d.ts, the C
## header) under api/; fails on an mdBook warning, a rustdoc warning, a broken link or anchor
## between pages, or docs/reference/errors.md out of step with the error code table.
## (docs/reference/cli.md is checked by cli/tests/commands.rs against the binary's help.)
MDBOOK_VERSION := 0.4.52
MDBOOK := $(TARGET_DIR)/tools/bin/mdbook
BOOK := $(TARGET_DIR)/book
docs: ensure-mdbook python-install node-build
	python3 tests/docs/check.py errors
	rm -rf $(BOOK)
	$(MDBOOK) build docs 2>&1 | tee $(TARGET_DIR)/mdbook.log
	@! grep -E "\[(WARN|ERROR)\]|WARN |ERROR " $(TARGET_DIR)/mdbook.log
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps -p clustron --features node
	mkdir -p $(BOOK)/api/python $(BOOK)/api/node $(BOOK)/api/c
	cp -r $(TARGET_DIR)/doc $(BOOK)/api/rust
	cd $(BOOK)/api/python && $(CURDIR)/$(VPY) -m pydoc -w clustron clustron.aio >/dev/null
	cp $(NODE_DIR)/dist/*.d.ts $(BOOK)/api/node/ && rm $(BOOK)/api/node/native.d.ts
	cp include/clustron.h $(BOOK)/api/c/
	python3 tests/docs/check.py links $(BOOK)

## ensure-mdbook: mdBook $(MDBOOK_VERSION) under target/tools (built once from crates.io, ~80 s)
ensure-mdbook:
	@[ "$$($(MDBOOK) --version 2>/dev/null)" = "mdbook v$(MDBOOK_VERSION)" ] || \
	  $(CARGO) install mdbook --version $(MDBOOK_VERSION) --locked --no-default-features --features search --root $(TARGET_DIR)/tools

clean:
	$(CARGO) clean
	rm -rf $(DIST)

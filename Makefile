# swift-miniss — every daily command. `make help` lists them.
SHELL := /bin/bash
SWIFT ?= swift
# Sanitizer builds keep their own build folders so they never invalidate the normal one.
ASAN_DIR := .build-asan
TSAN_DIR := .build-tsan
FORMAT_PATHS := Sources Tests Package.swift

.PHONY: help deps build test run demo fmt fmt-fix lint quick check asan tsan full bench bench-http clients stress stress-smoke mutants sim sim-smoke replay ci clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## Install missing Debian packages (liburing-dev, libunwind-dev, pkg-config)
	@scripts/install-deps.sh

build: deps ## Debug build of everything
	$(SWIFT) build

test: deps ## Run the test suite
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-xctest

HOST ?= 127.0.0.1
PORT ?= 8080
run: deps ## Build and start the HTTP echo server on $(HOST):$(PORT) (Ctrl-C stops it)
	$(SWIFT) build -c release --product http-echo
	@echo "starting http-echo on http://$(HOST):$(PORT)/ (try: curl http://$(HOST):$(PORT)/ ; Ctrl-C stops it)"
	.build/release/http-echo --host $(HOST) --port $(PORT)

demo: deps ## Build and run the runtime demo (spawn, timers, shards)
	$(SWIFT) build --product miniss-demo
	.build/debug/miniss-demo

fmt: ## Check formatting (swift-format)
	$(SWIFT) format lint --strict --recursive $(FORMAT_PATHS)

fmt-fix: ## Reformat in place
	$(SWIFT) format --in-place --recursive $(FORMAT_PATHS)

lint: fmt ## Formatting plus a warnings-as-errors build
	$(SWIFT) build --build-tests -Xswiftc -warnings-as-errors

quick: deps fmt ## Format check and build
	$(SWIFT) build --build-tests

check: quick ## quick + tests
	$(SWIFT) test --skip-build --disable-xctest

asan: deps ## The whole test suite under AddressSanitizer + LeakSanitizer
	ASAN_OPTIONS=detect_leaks=1:suppressions=$(CURDIR)/Sanitizers/asan.supp \
	LSAN_OPTIONS=suppressions=$(CURDIR)/Sanitizers/lsan.supp:print_suppressions=0 \
	$(SWIFT) test --disable-xctest --sanitize=address --scratch-path $(ASAN_DIR)

# MINISS_TSAN swaps Miniss's lock for a pthread mutex TSan can see (Diagnostics/Lock.swift).
tsan: deps ## The whole test suite under ThreadSanitizer
	TSAN_OPTIONS=halt_on_error=1:suppressions=$(CURDIR)/Sanitizers/tsan.supp \
	$(SWIFT) test --disable-xctest --sanitize=thread --scratch-path $(TSAN_DIR) -Xswiftc -DMINISS_TSAN

full: check asan tsan ## check + asan + tsan

bench: deps ## Release benchmarks: spawn and timer figures, written to docs/benchmarks/
	$(SWIFT) build -c release --product miniss-bench
	.build/release/miniss-bench --json docs/benchmarks/runtime.json --markdown docs/benchmarks/runtime.md

bench-http: deps ## HTTP benchmark: our echo server (io_uring, epoll, 2 shards) vs SwiftNIO, with wrk
	scripts/bench_http.sh

clients: deps ## Real clients (curl, ab, h2load, wrk) against http-echo (io_uring, epoll) at 1, 64, 1000 connections
	$(SWIFT) build -c release --product http-echo
	scripts/client_check.sh --start ".build/release/http-echo --port 18080 --backend uring" --port 18080
	scripts/client_check.sh --start ".build/release/http-echo --port 18081 --backend epoll" --port 18081

DURATION ?= 30s
stress: deps ## Long randomized runs (release): checkers, ring stress, echo load; DURATION=10m for the nightly job
	$(SWIFT) build -c release --product miniss-check
	.build/release/miniss-check stress --duration $(DURATION) --failures stress-failures

stress-smoke: deps ## A 20-second stress run on the debug build (part of make ci)
	$(SWIFT) build --product miniss-check
	.build/debug/miniss-check stress --duration 20s --failures stress-failures

mutants: deps ## The checkers' mutation self-test: every planted bug must be caught (debug build)
	$(SWIFT) build --product miniss-check
	.build/debug/miniss-check mutants

SEEDS ?= 0..999
STRATEGY ?= random
sim: deps ## Simulator sweep (release): every shipped scenario over SEEDS (0..999), STRATEGY=random|pct|pct:D
	$(SWIFT) build -c release --product miniss-sim
	.build/release/miniss-sim run --scenario all --seeds $(SEEDS) --strategy $(STRATEGY)

FAULTS ?=
replay: deps ## Replay one simulator seed with its full trace: make replay SEED=n SCENARIO=name [STRATEGY=...] [FAULTS=none|swarm]
	@if [ -z "$(SEED)" ] || [ -z "$(SCENARIO)" ]; then \
		echo "usage: make replay SEED=<n> SCENARIO=<name> [STRATEGY=random|pct|pct:D] [FAULTS=none|swarm] (a failure prints this line)" >&2; \
		if [ -x .build/release/miniss-sim ]; then .build/release/miniss-sim list >&2; \
		else echo "scenarios: make sim builds miniss-sim; then .build/release/miniss-sim list" >&2; fi; \
		exit 2; fi
	$(SWIFT) build -c release --product miniss-sim
	.build/release/miniss-sim replay --scenario $(SCENARIO) --seed $(SEED) --strategy $(STRATEGY) $(if $(FAULTS),--faults $(FAULTS))

sim-smoke: deps ## 300 seeds of every simulator scenario, determinism checked in one process and across two (debug build; part of make ci)
	$(SWIFT) build --product miniss-sim
	.build/debug/miniss-sim run --scenario all --seeds 0..299 --strategy random --check-determinism --hashes .build/sim-hashes-1.txt
	.build/debug/miniss-sim run --scenario all --seeds 0..299 --strategy random --hashes .build/sim-hashes-2.txt
	diff .build/sim-hashes-1.txt .build/sim-hashes-2.txt && echo "sim-smoke: two processes took the same schedules"
	.build/debug/miniss-sim run --scenario all --seeds 0..299 --strategy pct

ci: test mutants stress-smoke sim-smoke asan tsan ## What CI runs (.ci/run)

clean: ## Remove build folders
	rm -rf .build $(ASAN_DIR) $(TSAN_DIR)

# Sightline: `make run` to start it, `make test` to run every test.

CARGO ?= cargo
ARGS ?=

.PHONY: run build test peers check clean e2e bench bench-collect bench-storage bench-ui bench-query bench-ingest bench-scrape fuzz

## run: build (release) and start Sightline on its embedded default config; UI on http://127.0.0.1:9900
run:
	$(CARGO) run --release -- $(ARGS)

## build: release binary at target/release/sightline
build:
	$(CARGO) build --release

## test: install the test peers if missing, then run every test
test: peers
	$(CARGO) test --all-targets --no-fail-fast

## peers: install the Debian packages tests compare against (node_exporter, promtool, ...)
peers:
	@scripts/install-peers.sh

## check: formatting and lints
check:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

## e2e: open every page in headless Chromium (installed if missing); screenshots in target/e2e/
e2e:
	@scripts/e2e.sh

## bench-ui: server render time of the Host dashboard (6 h, 20 000 stored series); median of N runs
bench-ui:
	@scripts/bench-ui.sh

## bench: every benchmark below, one after the other (each prints its figures)
bench: bench-collect bench-storage bench-ui bench-query bench-ingest bench-scrape

## bench-collect: CPU time of one host collection and of one probe round
bench-collect:
	$(CARGO) run --quiet --release --bin bench_collect

## bench-storage: bytes/sample, ingest CPU, RSS per series, restart time, side by side with Prometheus and VictoriaMetrics
bench-storage:
	@scripts/bench-storage.sh

## bench-ingest: remote-write samples/s and CPU per sample, side by side with Prometheus and VictoriaMetrics
bench-ingest:
	@scripts/bench-ingest.sh

## bench-query: median latency of dashboard-like range queries, side by side with Prometheus and VictoriaMetrics, answers checked
bench-query:
	@scripts/bench-query.sh

## fuzz: run each cargo-fuzz target (exposition parser, PromQL, config loader, remote-write decoder) for FUZZ_SECONDS (default 60); not part of `make test`
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= exposition promql config remote_write
# Stable toolchain: cargo-fuzz needs RUSTC_BOOTSTRAP=1. No sanitizer by default (safe Rust: the fuzzer hunts
# panics); `make fuzz FUZZ_FLAGS=` builds with AddressSanitizer where its runtime is installed.
FUZZ_FLAGS ?= --sanitizer none
FUZZ_TARGET_DIR ?= $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR)/fuzz,fuzz/target)
fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install --locked cargo-fuzz
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s (crashes go to fuzz/artifacts/$$t/)"; \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $(FUZZ_FLAGS) --target-dir $(FUZZ_TARGET_DIR) $$t fuzz/corpus/$$t fuzz/seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 || exit 1; \
	done

## bench-scrape: live scrape CPU and memory, side by side with Prometheus on the same targets
bench-scrape:
	@scripts/bench-scrape.sh

# HallWatch entry points. Every target prints what it does.
#   make run    install what is missing, build, start the demo server (simulated camera included)
#   make test   install what the tests need, run them, print a summary
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
CONFIG ?= config/hallwatch.toml
ORT_DYLIB_PATH ?= $(CURDIR)/.deps/onnxruntime/libonnxruntime.so.1.32.0
export ORT_DYLIB_PATH

.PHONY: help setup build run test bench clippy clean-data

help:
	@echo "HallWatch make targets:"
	@echo "  make setup       install missing Debian packages, ONNX Runtime, the model and the demo clip (scripts/setup.sh)"
	@echo "  make build       cargo build --release"
	@echo "  make run         setup + build, then hallwatch serve --config $(CONFIG)"
	@echo "  make test        setup for tests, then cargo test --release and a summary"
	@echo "  make bench       setup with the 1080p bench clip, then every benchmark (benches/*.rs; figures in README)"
	@echo "  make clippy      cargo clippy --all-targets -- -D warnings"
	@echo "  make clean-data  delete recordings (var/recordings)"

setup:
	@echo "==> make setup: installing what is missing (scripts/setup.sh)"
	bash scripts/setup.sh

build:
	@echo "==> make build: compiling hallwatch (cargo build --release)"
	$(CARGO) build --release

run:
	@$(MAKE) --no-print-directory setup
	@$(MAKE) --no-print-directory build
	@echo "==> make run: starting ./target/release/hallwatch serve --config $(CONFIG)"
	@echo "    With no real cameras, this config has the server start the simulated RTSP camera itself"
	@echo "    (var/media/vtest.mp4, served over real RTSP on 127.0.0.1). Stop with Ctrl-C."
	@echo "    ORT_DYLIB_PATH=$(ORT_DYLIB_PATH)"
	@echo "    Demo logins (created once if missing): supervisor giamsat / giamsat-demo-2026,"
	@echo "    auditor thanhtra / thanhtra-demo-2026. Public wait display: http://127.0.0.1:8080/display"
	@./target/release/hallwatch user list --config $(CONFIG) | grep -q '^giamsat' || \
		echo giamsat-demo-2026 | ./target/release/hallwatch user add giamsat --role supervisor --config $(CONFIG)
	@./target/release/hallwatch user list --config $(CONFIG) | grep -q '^thanhtra' || \
		echo thanhtra-demo-2026 | ./target/release/hallwatch user add thanhtra --role auditor --config $(CONFIG)
	./target/release/hallwatch serve --config $(CONFIG)

test:
	@echo "==> make test: installing what the tests need (scripts/setup.sh test)"
	bash scripts/setup.sh test
	@echo "==> make test: running the tests (scripts/test.sh: cargo test --release)"
	bash scripts/test.sh

bench:
	@echo "==> make bench: installing what the benchmark needs (scripts/setup.sh bench)"
	bash scripts/setup.sh bench
	@echo "==> make bench: HallWatch vs ffmpeg recording 8 then 32 simulated 1080p streams, 60 s each, 3 runs; playback time to first byte; analysis path vs bare inference; ingestion API vs direct store; KPI queries over a simulated year; web pages in Chromium"
	$(CARGO) bench --bench record -- --streams 8,32 --seconds 60 --runs 3
	$(CARGO) bench --bench playback -- --clip var/media/bench1080p.mp4
	$(CARGO) bench --bench analysis
	$(CARGO) bench --bench ingest -- --events 20000 --connections 8 --rounds 3
	$(CARGO) bench --bench kpi
	bash scripts/setup.sh test
	$(CARGO) bench --bench web -- --updates 10000

clippy:
	@echo "==> make clippy: cargo clippy --all-targets -- -D warnings"
	$(CARGO) clippy --all-targets -- -D warnings

clean-data:
	@echo "==> make clean-data: deleting var/recordings"
	rm -rf var/recordings

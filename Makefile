# Chat server and terminal client. `make run-server` and `make test` are all a
# new machine needs; every target builds what it uses.

CARGO ?= cargo
HOST ?= 127.0.0.1
PORT ?= 5555
DATA_DIR ?= ./data
PREFIX ?= $(HOME)/.cargo
# Where cargo puts what it builds (CARGO_TARGET_DIR if set, as cargo does).
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)

.PHONY: all build release run-server run-client test unit-test large-test scripts-test lint fmt install clean certs

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release --bins

## Start the server on $(HOST):$(PORT) with data under $(DATA_DIR).
run-server: release
	./target/release/chat-server --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

## Start a client: make run-client NAME=alice
run-client: release
	./target/release/chat-client --name $(or $(NAME),$(USER)) --host $(HOST) --port $(PORT)

## Everything CI checks: formatting, lints, unit + integration tests (the
## cluster's start their own redis-server), the
## 1 GiB transfer (release build, flat server memory), script scenarios (the
## demo on one server and on a cluster of three nodes), the
## Python bot of docs/PROTOCOL.md and the browser client in headless chromium
## (with 200 MiB each way between a page and a terminal).
test: lint unit-test large-test scripts-test

unit-test:
	$(CARGO) test --all-targets

## A 1 GiB relayed transfer generated on the fly: SHA-256 matches and the
## server's RSS stays flat (optimised, or it takes minutes).
large-test:
	$(CARGO) test --release --test transfer_large -- --include-ignored --nocapture --test-threads=1

## The browser test runs the release binaries: its 200 MiB transfers take
## about 15 s optimised, more in a debug build.
scripts-test: build release
	./scripts/demo.sh
	DEMO_NODES=3 ./scripts/demo.sh
	./scripts/example-bot-test.sh
	CHAT_SERVER=$(TARGET_DIR)/release/chat-server CHAT_CLIENT=$(TARGET_DIR)/release/chat-client \
	  ./scripts/browser-test.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Install chat-server and chat-client into $(PREFIX)/bin.
install:
	$(CARGO) install --path . --root $(PREFIX) --locked

clean:
	$(CARGO) clean

## A self-signed development certificate for localhost (and 127.0.0.1) in
## ./certs/: chat-server --tls-cert certs/cert.pem --tls-key certs/key.pem,
## chat-client --tls --ca certs/cert.pem. Not for production: use a
## certificate your clients' systems trust.
certs:
	mkdir -p certs
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
	  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	  -addext "basicConstraints=critical,CA:FALSE" \
	  -keyout certs/key.pem -out certs/cert.pem
	chmod 600 certs/key.pem
	@echo "wrote certs/cert.pem and certs/key.pem (valid 365 days)"

.PHONY: bench bench-quick bench-cluster

## Benchmarks: fan-out vs Redis, idle connections, transfers, latency under
## transfer, a bystander beside hostile loads, history, the cluster's Redis
## backplane (under ~12 min); writes bench/RESULTS.md.
bench:
	BENCH_COMMAND="make bench" ./scripts/bench.sh

## A short benchmark run (under ~1 min); writes target/bench/RESULTS-quick.md.
bench-quick:
	BENCH_COMMAND="make bench-quick" ./scripts/bench.sh --quick

## The cluster section alone: one plain server, one --cluster node, two nodes
## (a few minutes); writes target/bench/RESULTS-cluster.md.
bench-cluster:
	BENCH_COMMAND="make bench-cluster" ./scripts/bench.sh cluster

# ackmsg — the one place the project's commands live. See README.md.
GO        ?= go
PKGS      ?= ./...
BIN       ?= bin
# make test runs the race detector; integration tests build real binaries and run real processes.
TESTFLAGS ?= -race -count=1 -timeout 15m
FUZZTIME  ?= 30s
DURATION  ?= 2m
# make chaos runs the bridge part on a RabbitMQ cluster of this many nodes (1: one node).
BRIDGE_NODES ?= 3
# staticcheck is pinned so a new release cannot turn CI red on its own.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := $(shell go env GOPATH)/bin/staticcheck
# make test runs go test through gotestsum (pinned, installed like staticcheck): the same go test,
# and at the end every skipped test with its reason and a count, so a suite that could not run is
# never a quiet "ok".
GOTESTSUM_VERSION ?= v1.13.0
GOTESTSUM := $(shell go env GOPATH)/bin/gotestsum

CMDS := $(notdir $(wildcard cmd/*))

.PHONY: all build test lint bench bench-quick bench-doc bench-go fuzz deps deps-build demo chaos clean install

all: build

## deps: install what the build and every test suite need (libzmq, PostgreSQL, RabbitMQ, python3,
## openssl, curl, iproute2) with apt-get when missing: scripts/deps.sh, the same list .ci/run uses.
deps:
	@bash scripts/deps.sh

# deps-build: only libzmq and pkg-config, for the targets that compile and run commands.
deps-build:
	@bash scripts/deps.sh --build

## build: compile every command into ./bin.
build: deps-build
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

## install: go install every command.
install: deps-build
	$(GO) install ./cmd/...

## test: the whole suite (unit, vectors, integration with real processes), race detector on. It ends
## with the skipped tests, each with its reason, and "DONE N tests, M skipped".
test: deps
	$(GO) vet $(PKGS)
	@$(GOTESTSUM) --version 2>/dev/null | grep -q '$(GOTESTSUM_VERSION:v%=%)' || \
		$(GO) install gotest.tools/gotestsum@$(GOTESTSUM_VERSION)
	$(GOTESTSUM) --format pkgname-and-test-fails --format-icons text --format-hide-empty-pkg -- \
		$(TESTFLAGS) $(PKGS)

## lint: gofmt, go vet, staticcheck.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@$(STATICCHECK) -version 2>/dev/null | grep -q '($(STATICCHECK_VERSION:v%=%))' || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(STATICCHECK) $(PKGS)
	cd tools/bench && $(GO) vet ./...

## bench: ackmsg next to its floors (raw ZeroMQ, crypto), measured in one run (tools/bench, its own
## module): prints the table and writes $(BIN)/bench-results.json. A few minutes.
BENCH = cd tools/bench && $(GO) run . -root $(CURDIR)
bench: deps
	@mkdir -p $(BIN)
	$(BENCH) -out $(CURDIR)/$(BIN)/bench-results.json

## bench-quick: the same, few samples (under a minute): a smoke run.
bench-quick: deps
	@mkdir -p $(BIN)
	$(BENCH) -quick -out $(CURDIR)/$(BIN)/bench-results.json

## bench-doc: a full run that rewrites BENCHMARKS.md, docs/bench-results.json, docs/latency.svg and
## the cost curves' charts (docs/curve-*.svg).
bench-doc: deps
	@mkdir -p docs
	$(BENCH) -out $(CURDIR)/docs/bench-results.json -md $(CURDIR)/BENCHMARKS.md \
		-chart $(CURDIR)/docs/latency.svg -curves $(CURDIR)/docs -notes $(CURDIR)/tools/bench/notes.md

## bench-go: the Go benchmarks of every package (go test -bench).
bench-go: deps
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## fuzz: run every fuzz target for FUZZTIME each.
fuzz: deps-build
	@for pkg in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

## chaos: the reliability proof for DURATION (default 2m): faults on a schedule while acked
## publishes run, then the ledger check; prints the summary table (also in chaos-report.md). The
## bridge part runs on a BRIDGE_NODES-node RabbitMQ cluster (default 3) whose nodes are killed -9.
chaos: deps
	ACKMSG_CHAOS_DURATION=$(DURATION) ACKMSG_CHAOS_REPORT=$(CURDIR)/chaos-report.md ACKMSG_CHAOS_BRIDGE_NODES=$(BRIDGE_NODES) \
		$(GO) test -count=1 -run '^TestChaos' -v -timeout 24h ./integration/ | grep -v '^=== '
	@echo; cat chaos-report.md

## demo: a local bus (relay + two acking consumers) on built-in defaults; see scripts/demo.sh.
demo: build
	@bash scripts/demo.sh

clean:
	rm -rf $(BIN)

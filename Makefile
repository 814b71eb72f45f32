# ackmsg — the one place the project's commands live. See README.md.
GO        ?= go
PKGS      ?= ./...
BIN       ?= bin
# make test runs the race detector; integration tests build real binaries and run real processes.
TESTFLAGS ?= -race -count=1 -timeout 8m
FUZZTIME  ?= 30s
DURATION  ?= 2m
# staticcheck is pinned so a new release cannot turn CI red on its own.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := $(shell go env GOPATH)/bin/staticcheck

CMDS := $(notdir $(wildcard cmd/*))

.PHONY: all build test lint bench bench-quick bench-doc bench-go fuzz deps demo chaos clean install

all: build

## deps: install libzmq (Debian/Ubuntu) when pkg-config cannot find it.
deps:
	@if pkg-config --exists libzmq 2>/dev/null; then \
		echo "libzmq $$(pkg-config --modversion libzmq) found"; \
	else \
		echo "installing libzmq3-dev and pkg-config with apt-get"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libzmq3-dev pkg-config; \
	fi

## build: compile every command into ./bin.
build: deps
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

## install: go install every command.
install: deps
	$(GO) install ./cmd/...

## test: the whole suite (unit, vectors, integration with real processes), race detector on.
test: deps
	$(GO) vet $(PKGS)
	$(GO) test $(TESTFLAGS) $(PKGS)

## lint: gofmt, go vet, staticcheck.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@$(STATICCHECK) -version 2>/dev/null | grep -q '($(STATICCHECK_VERSION:v%=%))' || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(STATICCHECK) $(PKGS)

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

## bench-doc: a full run that rewrites BENCHMARKS.md, docs/bench-results.json and docs/latency.svg.
bench-doc: deps
	@mkdir -p docs
	$(BENCH) -out $(CURDIR)/docs/bench-results.json -md $(CURDIR)/BENCHMARKS.md \
		-chart $(CURDIR)/docs/latency.svg -notes $(CURDIR)/tools/bench/notes.md

## bench-go: the Go benchmarks of every package (go test -bench).
bench-go: deps
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## fuzz: run every fuzz target for FUZZTIME each.
fuzz: deps
	@for pkg in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

## chaos: the reliability proof for DURATION (default 2m): faults on a schedule while acked
## publishes run, then the ledger check; prints the summary table (also in chaos-report.md).
chaos: deps
	ACKMSG_CHAOS_DURATION=$(DURATION) ACKMSG_CHAOS_REPORT=$(CURDIR)/chaos-report.md \
		$(GO) test -count=1 -run '^TestChaos' -v -timeout 24h ./integration/ | grep -v '^=== '
	@echo; cat chaos-report.md

## demo: a local bus (relay + two acking consumers) on built-in defaults; see scripts/demo.sh.
demo: build
	@bash scripts/demo.sh

clean:
	rm -rf $(BIN)

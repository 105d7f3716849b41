# Nodewright. `make test` sets up what it needs, then runs every test.
GO        ?= go
BIN       := $(CURDIR)/bin
FUZZTIME  ?= 5s
STATICCHECK_VERSION := v0.8.2

.PHONY: all build test unit fuzz bench verify demo deps clean

all: build

## build: the nodewright binary in bin/
build:
	$(GO) build -o $(BIN)/nodewright ./cmd/nodewright

## deps: the programs tests drive for real (git, gpg, ssh-keygen)
deps:
	@hack/deps.sh

## test: a short run of every fuzz target, then every test
test: deps fuzz unit

unit:
	$(GO) test -count=1 ./...

fuzz:
	@FUZZTIME=$(FUZZTIME) hack/fuzz-smoke.sh

## bench: speed and memory targets, with comparison runs against the git CLI
bench: deps
	$(GO) test -run='^$$' -bench=. -benchtime=1x -timeout=60m ./...

## verify: formatting, vet, staticcheck, tidy modules
verify:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@test -x $(BIN)/staticcheck-$(STATICCHECK_VERSION) || GOBIN=$(BIN)/.staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@test -x $(BIN)/staticcheck-$(STATICCHECK_VERSION) || mv $(BIN)/.staticcheck/staticcheck $(BIN)/staticcheck-$(STATICCHECK_VERSION)
	$(BIN)/staticcheck-$(STATICCHECK_VERSION) ./...
	$(GO) mod tidy -diff

## demo: build the binary and run the demo on embedded defaults
demo: deps build
	$(BIN)/nodewright demo

clean:
	rm -rf $(BIN)

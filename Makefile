# Nodewright. `make test` sets up what it needs, then runs every test.
GO        ?= go
BIN       := $(CURDIR)/bin
FUZZTIME  ?= 2000x
FUZZLONG  ?= 200000x
# golangci-lint runs go vet's and staticcheck's checks too (v2.15.0 bundles
# staticcheck v0.8.2); its linters and their settings are in .golangci.yml.
GOLANGCI_LINT_VERSION := v2.15.0
CONTROLLER_TOOLS_VERSION := v0.23.0

.PHONY: all build test unit fuzz fuzz-long bench verify generate demo deps controlplane kernel kernel-test clean

all: build

## build: the nodewright binary in bin/
build:
	$(GO) build -o $(BIN)/nodewright ./cmd/nodewright

## deps: the programs tests drive for real (git, gpg, ssh-keygen, chromium, losetup)
deps:
	@hack/deps.sh

## controlplane: kube-apiserver and etcd for the envtest integration tests, built
## from the Go module proxy into bin/k8s (first run only)
controlplane:
	@hack/controlplane.sh

## kernel: qemu, a static busybox (apt-get) and Debian's cloud kernel with the
## tls, bonding and veth modules for the kernel tests, into bin/kernel (first run only)
kernel:
	@hack/kernel.sh >/dev/null

## test: a short run of every fuzz target, then every test, the kernel tests last
test: deps controlplane fuzz unit kernel-test

# Test binaries are linked anew on every run, and writing their DWARF is
# most of the link time: make test links them without it (-ldflags=-w).
# Panics and failures still print function names, files and lines.
TEST_GOFLAGS := $(strip $(GOFLAGS) -ldflags=-w)

# The slowest packages go first, so that they do not start last and hold
# the run up while the CPUs idle: go test starts packages in list order
# (./... after them adds each of the others once).
#
# Most packages spend their time waiting on an API server or a git
# server, not on the CPUs: building and running four at a time (UNIT_P)
# instead of go test's one per CPU took a warm run on 2 cores from 4m05s
# to 3m04s.
UNIT_P ?= 4
SLOW_PACKAGES := ./test/e2e ./cmd/nodewright ./reconciler/bondflip ./reconciler/vmmigration ./reconciler/replication ./fleet/statusbranch ./reconciler/webhookcert

unit:
	GOFLAGS="$(TEST_GOFLAGS)" KUBEBUILDER_ASSETS=$(BIN)/k8s $(GO) test -count=1 -p=$(UNIT_P) $(SLOW_PACKAGES) ./...

fuzz:
	@GOFLAGS="$(TEST_GOFLAGS)" FUZZTIME=$(FUZZTIME) hack/fuzz-smoke.sh

## kernel-test: the agent's kernel tests (build tag kerneltest) as root in
## Debian's kernel under qemu (TCG, one boot); KERNEL_TESTFLAGS adds go test
## flags, e.g. make kernel-test KERNEL_TESTFLAGS=-run=TestKernelRig
kernel-test: deps kernel
	@hack/kernel-test.sh ./agent/linux/... ./agent/ $(KERNEL_TESTFLAGS)

## fuzz-long: every fuzz target for FUZZLONG executions (the commit-graph
## property test among them), for a longer hunt than make test's smoke run
fuzz-long: deps
	@FUZZTIME=$(FUZZLONG) hack/fuzz-smoke.sh

## bench: speed and memory targets, with comparison runs against the git CLI,
## then the agent's on the kernel-test VM (a flip's outage, a missed
## deadline's revert)
bench: deps controlplane kernel
	KUBEBUILDER_ASSETS=$(BIN)/k8s $(GO) test -run='^$$' -bench=. -benchtime=1x -timeout=60m ./...
	@hack/kernel-test.sh ./agent/ -run='^$$' -bench=Kernel -benchtime=3x

## generate: CRDs (config/crd/bases) and deepcopy functions with controller-gen
generate:
	@cg=$$(hack/tool.sh controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen $(CONTROLLER_TOOLS_VERSION)) && \
	  $$cg object:headerFile=hack/boilerplate.go.txt paths=./schema/... && \
	  $$cg crd paths=./schema/... output:crd:artifacts:config=config/crd/bases

## verify: formatting, golangci-lint (vet, staticcheck and the checks in
## .golangci.yml), generated files and modules up to date
verify: generate
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$$(hack/tool.sh golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint $(GOLANGCI_LINT_VERSION)) run ./...
	@test -z "$$(git status --porcelain -- config/crd/bases ':(glob)**/zz_generated.*')" || { echo "generated files differ from the tree: run make generate and commit"; git status --porcelain -- config/crd/bases ':(glob)**/zz_generated.*'; exit 1; }
	$(GO) mod tidy -diff

## demo: build the binary and run the demo on embedded defaults
demo: deps controlplane build
	KUBEBUILDER_ASSETS=$(BIN)/k8s $(BIN)/nodewright demo

clean:
	rm -rf $(BIN)

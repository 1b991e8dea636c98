# meshjoin — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/meshjoin
include hack/versions.sh
export ENVOY_VERSION KUBE_VERSION ENVOY_IMAGE ISTIO_VERSION

.DEFAULT_GOAL := help

help: ## List the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

demo: ## Start the local test mesh and open the TUI against it (no cluster needed); leaving stops the mesh
	bash hack/demo.sh

try: ## Join services of the local test mesh (no cluster needed): curl them by name from another terminal
	bash hack/try.sh

deps: ## Install Envoy, kube-apiserver, istiod, etcd, Docker, tmux and the local Envoy image (idempotent)
	bash hack/deps.sh

build: ## Build bin/meshjoin
	$(GO) build -o $(BIN) ./cmd/meshjoin

test: ## Run every test with the race detector, real components included (fails, never skips, without `make deps`); -p 1: packages share Docker and /etc/hosts
	$(GO) test -race -p 1 -count=1 -timeout 50m ./...

testbed: ## Run the local test mesh in the foreground and print its kubeconfig (Ctrl-C stops it)
	$(GO) run ./testbed/cmd/meshjoin-testbed -write-kubeconfig testbed.kubeconfig

bench: ## Issue 13's figures from one run, each beside its goal: data path (vegeta), join, add a service, memory at 10,000 services (about 10 min; docs/benchmarks.md)
	@set -o pipefail; out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT; \
	$(GO) test -run '^$$' -bench 'AddService/published' -benchtime 5x -timeout 10m ./session/ | tee "$$out/addservice.txt"; rc=$$?; \
	$(GO) test -run '^$$' -bench ScaleMemory -benchtime 3x -timeout 20m ./cmd/meshjoin/ | tee "$$out/scalememory.txt" || rc=1; \
	MESHJOIN_BENCH_ADDSERVICE="$$out/addservice.txt" MESHJOIN_BENCH_SCALEMEMORY="$$out/scalememory.txt" \
	$(GO) test -run '^$$' -bench Figures -benchtime 1x -timeout 20m ./bench/ && exit $$rc

bench-all: ## Every package's benchmarks, each printing its own figures (slow: testbed starts, 10,000-service scale)
	$(GO) test -run '^$$' -bench . -benchtime 3x ./testbed/ ./envoy/... ./mesh/... ./certs/... ./hosts/... ./session/ ./tui/

soak: ## 10 minutes of requests through a session with a 30 s certificate: failed requests, memory, files, threads (not CI)
	$(GO) test -tags soak ./cmd/meshjoin -run '^TestSoak$$' -v -timeout 20m

fuzz: ## Fuzz the hosts-block parser for 60s per target, then 100000 random session sequences over hosts files
	$(GO) test ./hosts -run '^$$' -fuzz FuzzParseBlock -fuzztime 60s
	$(GO) test ./hosts -run '^$$' -fuzz FuzzApplyRoundTrip -fuzztime 60s
	$(GO) test ./hosts -run '^TestHostsFileSequences$$' -hosts.sequences 100000 -timeout 60m

# Linters, at pinned versions: go install fetches them once through the module proxy.
STATICCHECK_VERSION := v0.8.2
DEADCODE_VERSION := v0.52.0
TOOLS := $(shell $(GO) env GOPATH)/bin

lint-tools: ## Install staticcheck and deadcode at their pinned versions (lint does it first)
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(GO) install golang.org/x/tools/cmd/deadcode@$(DEADCODE_VERSION)

# deadcode lists functions no main package reaches: code only tests call is dead too. The
# testbed and ide/idetest are test support (only tests and meshjoin-testbed use them): left out.
lint: lint-tools cross ## gofmt, go vet, staticcheck (its default checks) and deadcode, all clean; darwin and windows cross-builds first
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...
	@dead="$$($(TOOLS)/deadcode ./... | grep -Ev '^(testbed|ide/idetest)/')"; test -z "$$dead" || { echo "$$dead"; echo "dead code: delete it (tests alone do not keep code alive)"; exit 1; }

cross: ## Build, vet and compile the platform packages' tests for darwin and windows (amd64, arm64)
	bash hack/cross.sh

release: ## Archives for linux, darwin, windows × amd64, arm64 in dist/: version stamped, man pages, completions, SHA-256 checksums
	bash hack/release.sh

verify: lint test ## What CI runs after `make deps`

.PHONY: help demo try deps build test testbed bench bench-all fuzz soak lint lint-tools cross release verify

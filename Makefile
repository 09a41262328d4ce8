# Warden — developer targets. `make test` is the one command that runs the whole suite.
GO ?= go
PKGS ?= ./...
# Tool versions come through the Go module proxy; `go run pkg@version` builds each once per
# machine (cached in GOCACHE) and needs no network at run time.
GOLANGCI_LINT ?= $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
GOVULNCHECK ?= $(GO) run golang.org/x/vuln/cmd/govulncheck@v1.9.0

.PHONY: demo build test test-deps test-race fuzz bench lint tidy-check vuln

demo:            ## run the demo: server + simulated upstream model + synthetic attack traffic
	$(GO) run ./cmd/warden demo

build:
	CGO_ENABLED=0 $(GO) build -o warden ./cmd/warden

test-deps:
	./scripts/test-deps.sh

test: test-deps tidy-check lint  ## the whole test suite (installs npm packages and Alertmanager first)
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 30m $(PKGS)

tidy-check:      ## go.mod/go.sum must be tidy: prints the diff and fails otherwise
	$(GO) mod tidy -diff

lint:            ## golangci-lint with .golangci.yml (errorlint, sloglint, revive basics, gosec HTTP/file checks)
	$(GOLANGCI_LINT) run $(PKGS)

vuln:            ## known vulnerabilities in dependencies; needs https://vuln.go.dev (not in `test`)
	$(GOVULNCHECK) $(PKGS)

test-race: test-deps
	$(GO) test -race -count=1 -timeout 60m $(PKGS)

fuzz:            ## a short smoke run of every fuzz target
	./scripts/fuzz.sh 10s

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s $(PKGS)

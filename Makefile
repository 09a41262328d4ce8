# Warden — developer targets. `make test` is the one command that runs the whole suite.
GO ?= go
PKGS ?= ./...

.PHONY: demo build test test-deps test-race fuzz bench

demo:            ## run the demo: server + simulated upstream model + synthetic attack traffic
	$(GO) run ./cmd/warden demo

build:
	CGO_ENABLED=0 $(GO) build -o warden ./cmd/warden

test-deps:
	./scripts/test-deps.sh

test: test-deps  ## the whole test suite (installs npm packages and Alertmanager first)
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 30m $(PKGS)

test-race: test-deps
	$(GO) test -race -count=1 -timeout 60m $(PKGS)

fuzz:            ## a short smoke run of every fuzz target
	./scripts/fuzz.sh 10s

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s $(PKGS)

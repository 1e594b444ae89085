# Beacon: `make dev` runs the dev agent, `make test` runs every test.
SHELL := /bin/bash
export GOTOOLCHAIN := local
export PATH := $(CURDIR)/.tools/bin:$(PATH)

BINARIES := ./cmd/beacon \
	./services/catalog/cmd/beacon-catalog \
	./services/health/cmd/beacon-health \
	./services/dnsgw/cmd/beacon-dnsgw \
	./services/httpgw/cmd/beacon-httpgw \
	./services/proxy/cmd/beacon-proxy

.PHONY: all build static dev test gen lint tools clean bench

all: build

## build: every binary into bin/
build:
	@mkdir -p bin
	go build -o bin/ $(wildcard $(BINARIES))

## static: static (CGO_ENABLED=0) binaries into bin/static, for images
static:
	@mkdir -p bin/static
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/static/ $(wildcard $(BINARIES))

## dev: run `beacon agent -dev` (HTTP 8500, gRPC 8502, DNS 8600)
dev: build
	./bin/beacon agent -dev $(ARGS)

## test: every test of every module, with the race detector, plus lint
test:
	./scripts/test.sh

## gen: regenerate protobuf code with the pinned generators
gen:
	./scripts/gen.sh

tools:
	./scripts/tools.sh

clean:
	rm -rf bin

## bench: every figure beside its floor/peer, written to bench/RESULTS.md
bench:
	./bench/run.sh

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

.PHONY: all build static dev test gen lint tools clean bench chaos fuzz
.PHONY: images up down

all: build

## build: every binary into bin/
build:
	@mkdir -p bin
	go build -o bin/ $(wildcard $(BINARIES))

## static: static (CGO_ENABLED=0) binaries into bin/static, for images
static:
	@mkdir -p bin/static
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/static/ $(wildcard $(BINARIES))

## images: one FROM-scratch image per binary (beacon-catalog:dev, …) from bin/static
images: static
	./deploy/images.sh

## up: build binaries and images, start deploy/docker-compose.yml, wait until all healthy
up: images
	./deploy/compose.sh up

## down: stop the compose deployment and remove its volumes
down:
	./deploy/compose.sh down

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

## chaos: the chaos suite (tests/chaos) with a longer fault phase, e.g. make chaos DURATION=10m
DURATION ?= 10m
chaos:
	cd tests && BEACON_CHAOS_DURATION=$(DURATION) go test -race -count=1 -v -timeout 0 ./chaos/

## fuzz: every go test -fuzz target for FUZZTIME each (default 30s), one at a time
FUZZTIME ?= 30s
FUZZ_TARGETS := \
	services/dnsgw:./answer:FuzzHandle \
	services/httpgw:./api:FuzzWriteEndpoints \
	services/httpgw:./api:FuzzDecodeRegister \
	services/httpgw:./api:FuzzReadOptions \
	services/httpgw:./api:FuzzFilter \
	services/health:./config:FuzzParseFile \
	services/catalog:./grpcapi:FuzzKVKey \
	services/catalog:./fsm:FuzzApply \
	services/catalog:./state:FuzzRestore
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		IFS=: read -r mod pkg name <<< "$$t"; \
		echo "== $$name ($$mod/$$pkg) for $(FUZZTIME)"; \
		(cd $$mod && go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg); \
	done

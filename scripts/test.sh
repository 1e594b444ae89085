#!/usr/bin/env bash
# Runs every check and every test of every module in the workspace, with the
# race detector. This is what CI runs (.ci/run) and what `make test` runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export GOTOOLCHAIN=local
export PATH="$root/.tools/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

step "installing pinned tools"
./scripts/tools.sh all

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' | grep -v '\.pb\.go$') 2>&1 || true)
if [[ -n "$unformatted" ]]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "generated protobuf code is current"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp -r proto "$tmp/proto"
(cd "$tmp/proto" && buf lint && find . -name '*.pb.go' -delete && buf generate)
if ! diff -r -q proto "$tmp/proto" -x go.mod -x go.sum >/dev/null; then
	diff -r proto "$tmp/proto" -x go.mod -x go.sum | head -40
	echo "generated code is stale: run make gen"; exit 1
fi

# Modules that hold packages (a module may still be empty while its
# service is being built).
modules=()
for m in $(go list -m -f '{{.Dir}}'); do
	if [[ -n "$(cd "$m" && go list ./... 2>/dev/null)" ]]; then modules+=("$m"); fi
done
step "go vet"
for m in "${modules[@]}"; do (cd "$m" && go vet ./...); done

step "build every binary"
make -s build

# The suites that run whole clusters under faults (tests/chaos,
# tests/hostile, tests/compose) each want the machine to themselves: they
# run after everything else, one at a time, so that their timing bounds
# (a new leader within 10 s, no request hangs) measure Beacon, not the
# other packages' tests competing for two cores.
heavy=(./tests/chaos ./tests/hostile ./tests/compose)
step "go test -race (every module, except the cluster suites)"
pkgs=()
for m in "${modules[@]}"; do
	for p in $(cd "$m" && go list -f '{{.Dir}}' ./...); do
		skip=0
		for h in "${heavy[@]}"; do [[ $p == "$root/${h#./}" ]] && skip=1; done
		((skip)) || pkgs+=("$p")
	done
done
go test -race -count=1 -timeout 30m "${pkgs[@]}"

for h in "${heavy[@]}"; do
	step "go test -race $h (alone)"
	(cd "$root/tests" && go test -race -count=1 -timeout 30m -p 1 "./${h#./tests/}/...")
done

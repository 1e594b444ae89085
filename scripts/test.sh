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

step "go test -race (every module)"
pkgs=()
for m in "${modules[@]}"; do pkgs+=("$m/..."); done
go test -race -count=1 -timeout 30m "${pkgs[@]}"

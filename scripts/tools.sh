#!/usr/bin/env bash
# Installs the pinned developer tools Beacon's build and tests need into .tools/bin.
# Idempotent: a tool already at its pinned version is left alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.tools/bin"
mkdir -p "$bin"
export GOBIN="$bin" GOTOOLCHAIN=local

install() { # name version package
	local name=$1 version=$2 pkg=$3 stamp="$bin/.$1.version"
	if [[ -x "$bin/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
		return 0
	fi
	echo "tools: installing $name $version" >&2
	go install "$pkg@$version"
	echo "$version" >"$stamp"
}

want=${1:-all}
case "$want" in
all | gen)
	install protoc-gen-go v1.36.12 google.golang.org/protobuf/cmd/protoc-gen-go
	install protoc-gen-go-grpc v1.6.2 google.golang.org/grpc/cmd/protoc-gen-go-grpc
	install buf v1.75.0 github.com/bufbuild/buf/cmd/buf
	;;&
all | test)
	install grpcurl v1.9.4 github.com/fullstorydev/grpcurl/cmd/grpcurl
	;;
esac

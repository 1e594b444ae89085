#!/usr/bin/env bash
# Builds one FROM-scratch image per Beacon binary from bin/static (run
# `make static` first): beacon-catalog:$TAG, beacon-health:$TAG, … and
# beacon-cli:$TAG for the `beacon` binary (demo services and the CLI).
# Each build context is a two-file tar (the binary and the Dockerfile), so
# no image build uploads the other binaries.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tag=${BEACON_TAG:-dev}
export DOCKER_BUILDKIT=0 # no buildx on the engine this targets; the legacy builder does FROM scratch fine
for bin in beacon beacon-catalog beacon-health beacon-dnsgw beacon-httpgw beacon-proxy; do
	if [[ ! -x "$root/bin/static/$bin" ]]; then
		echo "images.sh: $root/bin/static/$bin is missing: run make static" >&2
		exit 1
	fi
	image=$bin
	[[ $bin == beacon ]] && image=beacon-cli
	if ! out=$(tar -c -C "$root/bin/static" "$bin" -C "$root/deploy" Dockerfile |
		docker build -q --build-arg BIN="$bin" -t "$image:$tag" - 2>&1); then
		echo "$out" >&2
		echo "images.sh: building $image:$tag failed" >&2
		exit 1
	fi
	printf '%-16s %s\n' "$image:$tag" "$(docker image inspect -f '{{.Size}}' "$image:$tag" | awk '{printf "%.1f MB", $1/1e6}')"
done

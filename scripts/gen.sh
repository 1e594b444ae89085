#!/usr/bin/env bash
# Regenerates the protobuf Go code under proto/ with pinned buf and plugins.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/tools.sh" gen
export PATH="$root/.tools/bin:$PATH"
cd "$root/proto"
buf lint
find . -name '*.pb.go' -delete
buf generate

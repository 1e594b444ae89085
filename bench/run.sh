#!/usr/bin/env bash
# `make bench`: measures Beacon's hot paths beside their floors and peers in
# one run on this machine, RUNS times each, and writes bench/RESULTS.md.
# Figures are ratios within a run: the machine is shared and noisy.
# Benchmarks never fail the build; a missing peer is reported, not fatal.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export GOTOOLCHAIN=local
RUNS=${RUNS:-3}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$root/bench/out/$stamp"
mkdir -p "$out"
results="$out/results.jsonl"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

log() { printf '[bench] %s\n' "$*" >&2; }

make -s build || exit 1
go build -o bin/loadgen ./bench/loadgen && go build -o bin/bench-report ./bench/report || exit 1
if ! command -v etcd >/dev/null; then
	log "installing etcd-server (Debian) as the KV peer"
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null) || log "etcd-server could not be installed: etcd rows will be missing"
fi

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; pids=(); }
measure() { # name target addrs clients total
	bin/loadgen -name "$1" -target "$2" -addr "$3" -clients "$4" -conns 4 -total "$5" >>"$results" 2>>"$out/loadgen.err" || log "$1 failed (see $out/loadgen.err)"
}

# beacon_cluster N: starts N durable catalog replicas; sets $addrs.
beacon_cluster() {
	local n=$1 i
	local -a sp gp
	for ((i = 0; i < n; i++)); do sp[i]=$(port); gp[i]=$(port); done
	addrs=""
	for ((i = 0; i < n; i++)); do
		local joins=()
		for ((j = 0; j < n; j++)); do [[ $j != "$i" ]] && joins+=(-retry-join "127.0.0.1:${sp[j]}"); done
		bin/beacon-catalog -node "b$i" -data-dir "$work/beacon-$n-$i-$RANDOM" -bind "127.0.0.1:${sp[i]}" \
			-grpc-addr "127.0.0.1:${gp[i]}" -bootstrap-expect "$n" "${joins[@]}" -log-level warn 2>>"$out/beacon.log" &
		pids+=($!)
		addrs+="${addrs:+,}127.0.0.1:${gp[i]}"
	done
	bin/loadgen -op wait -addr "$addrs" || log "beacon cluster of $n has no leader"
}

# etcd_cluster N: starts N etcd members; sets $addrs.
etcd_cluster() {
	local n=$1 i cluster=""
	local -a cp pp
	for ((i = 0; i < n; i++)); do cp[i]=$(port); pp[i]=$(port); cluster+="${cluster:+,}e$i=http://127.0.0.1:${pp[i]}"; done
	addrs=""
	for ((i = 0; i < n; i++)); do
		etcd --name "e$i" --data-dir "$work/etcd-$n-$i-$RANDOM" --listen-client-urls "http://127.0.0.1:${cp[i]}" \
			--advertise-client-urls "http://127.0.0.1:${cp[i]}" --listen-peer-urls "http://127.0.0.1:${pp[i]}" \
			--initial-advertise-peer-urls "http://127.0.0.1:${pp[i]}" --initial-cluster "$cluster" \
			--initial-cluster-state new --log-level error >>"$out/etcd.log" 2>&1 &
		pids+=($!)
		addrs+="${addrs:+,}127.0.0.1:${cp[i]}"
	done
	sleep 2
}

for ((run = 1; run <= RUNS; run++)); do
	log "run $run/$RUNS: dev agent start-to-leader"
	bin/loadgen -name "startup/agent-dev" -target agent -op startup -bin bin/beacon >>"$results" 2>>"$out/loadgen.err"
	for n in 1 3; do
		for side in etcd beacon; do
			if [[ $side == etcd ]]; then
				command -v etcd >/dev/null || continue
				etcd_cluster "$n"
			else
				beacon_cluster "$n"
			fi
			log "run $run/$RUNS: $side, $n replica(s)"
			measure "kv-put-c1-n$n/$side" "$side" "$addrs" 1 2000
			measure "kv-put-c64-n$n/$side" "$side" "$addrs" 64 20000
			stop_all
		done
	done
done

table=$(bin/bench-report -in "$results")
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
machine="$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr), $(go version | cut -d' ' -f3)"
echo "$table"
{
	echo "# Benchmark results"
	echo
	echo "Latest run: $stamp, commit $commit, $machine, $RUNS runs per figure."
	echo "Regenerate with \`make bench\` (\`RUNS=5 make bench\` for more). Every ratio compares"
	echo "two measurements of the same run with the same load generator (bench/loadgen)."
	echo
	echo "$table"
	echo
	echo "## History"
	echo
	echo "### $stamp ($commit)"
	echo
	echo "$table"
	if [[ -f bench/RESULTS.md ]]; then
		awk '/^## History/{h=1;next} h' bench/RESULTS.md | sed '1{/^$/d}'
	fi
} >"$out/RESULTS.md"
cp "$out/RESULTS.md" bench/RESULTS.md
log "wrote bench/RESULTS.md"

#!/usr/bin/env bash
# `make bench`: measures Beacon's hot paths beside their floors and peers in
# one run on this machine, RUNS times each, and writes bench/RESULTS.md.
# Figures are ratios within a run: the machine is shared and noisy.
# Benchmarks never fail the build; a missing peer is reported, not fatal.
#
# Each run:
#   1. start-up: `beacon agent -dev` to a leader.
#   2. read path, on one catalog replica loaded through gRPC to 1k, 10k and
#      50k instances (10 per service, `web` among them): beacon-dnsgw vs the
#      miekg/dns floor (bench/dnsfloor) vs Knot for A and SRV (dnsperf);
#      beacon-httpgw vs the net/http floor (bench/httpfloor) for
#      GET /v1/health/service/web?passing (wrk); 10k blocking queries woken
#      by one change (loadgen -op fanout); catalog RSS and snapshot at each size.
#   3. KV writes: Beacon gRPC and HTTP (through beacon-httpgw) vs etcd, on 1
#      and 3 replicas.
#
# Environment: RUNS (3), PROFILE=1 (CPU and heap profiles of every Beacon
# process under bench/out/<stamp>/profiles), DNS_SECONDS and HTTP_SECONDS
# (10), WAITERS (10000).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export GOTOOLCHAIN=local
RUNS=${RUNS:-3}
PROFILE=${PROFILE:-0}
DNS_SECONDS=${DNS_SECONDS:-10}
HTTP_SECONDS=${HTTP_SECONDS:-10}
WAITERS=${WAITERS:-10000}
began=$SECONDS
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$root/bench/out/$stamp"
mkdir -p "$out"
results="$out/results.jsonl"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Only the binaries measured, so that work in progress elsewhere in the
# tree (a service that does not build yet) cannot stop the benchmarks.
mkdir -p bin
go build -o bin/ ./cmd/beacon ./services/catalog/cmd/beacon-catalog ./services/httpgw/cmd/beacon-httpgw \
	./services/dnsgw/cmd/beacon-dnsgw || exit 1
go build -o bin/loadgen ./bench/loadgen && go build -o bin/bench-report ./bench/report &&
	go build -o bin/dnsfloor ./bench/dnsfloor && go build -o bin/httpfloor ./bench/httpfloor || exit 1

# Peers and load generators from Debian, installed once if missing. A
# package that cannot be installed leaves its rows marked missing.
declare -A pkg_of=([etcd]=etcd-server [dnsperf]=dnsperf [wrk]=wrk [knotd]=knot)
updated=0
for cmd in etcd dnsperf wrk knotd; do
	command -v "$cmd" >/dev/null && continue
	if ((!updated)); then
		log "apt-get update (to install what is missing)"
		apt-get update -qq >/dev/null 2>&1 || log "apt-get update failed"
		updated=1
	fi
	log "installing ${pkg_of[$cmd]} (Debian)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkg_of[$cmd]}" >/dev/null 2>&1 ||
		log "${pkg_of[$cmd]} could not be installed: its rows will be missing"
done
have() { command -v "$1" >/dev/null; }

# Blocking-query fan-out holds one connection per waiter on both ends.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
fdmax=$(ulimit -n)
[[ $fdmax == unlimited ]] && fdmax=1048576
waiters=$WAITERS
if ((fdmax < WAITERS + 1000)); then
	waiters=$((fdmax - 1000))
	log "open-file limit $fdmax: fan-out with $waiters waiters, not $WAITERS"
fi
if [[ $PROFILE == 1 ]]; then
	mkdir -p "$out/profiles"
	log "PROFILE=1: BEACON_CPUPROFILE/BEACON_MEMPROFILE of every Beacon process go to $out/profiles"
fi

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }

# start LABEL LOG CMD...: runs CMD in the background, with profile files
# named after LABEL when PROFILE=1; sets $last.
start() {
	local label=$1 logf=$2
	shift 2
	if [[ $PROFILE == 1 ]]; then
		BEACON_CPUPROFILE="$out/profiles/$label.cpu.pprof" BEACON_MEMPROFILE="$out/profiles/$label.mem.pprof" "$@" 2>>"$logf" &
	else
		"$@" 2>>"$logf" &
	fi
	last=$!
	pids+=("$last")
}
stop() { # PID: stop one process and wait for it (profiles are written on exit)
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	local p keep=()
	for p in "${pids[@]}"; do [[ $p != "$1" ]] && keep+=("$p"); done
	pids=("${keep[@]}")
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; pids=(); }

# lg NAME ARGS...: one loadgen measurement, appended to the results.
lg() {
	local name=$1
	shift
	bin/loadgen -name "$name" -run "$run" "$@" >>"$results" 2>>"$out/loadgen.err" || log "$name failed (see $out/loadgen.err)"
}
missing() { # NAME KIND REASON
	printf '{"name":"%s","kind":"%s","run":%d,"missing":"%s"}\n' "$1" "$2" "$run" "$3" >>"$results"
}
measure() { # name target addrs clients total
	lg "$1" -target "$2" -addr "$3" -clients "$4" -conns 4 -total "$5"
}
wait_http() { # URL: until it answers 200, at most 15 s
	local i
	for ((i = 0; i < 150; i++)); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
	log "$1 did not answer"
	return 1
}

# beacon_cluster N LABEL: starts N durable catalog replicas; sets $addrs.
beacon_cluster() {
	local n=$1 label=$2 i j
	local -a sp gp
	for ((i = 0; i < n; i++)); do sp[i]=$(port); gp[i]=$(port); done
	addrs=""
	for ((i = 0; i < n; i++)); do
		local joins=()
		for ((j = 0; j < n; j++)); do [[ $j != "$i" ]] && joins+=(-retry-join "127.0.0.1:${sp[j]}"); done
		start "$label-b$i" "$out/beacon.log" bin/beacon-catalog -node "b$i" -data-dir "$work/beacon-$label-$i" -bind "127.0.0.1:${sp[i]}" \
			-grpc-addr "127.0.0.1:${gp[i]}" -bootstrap-expect "$n" "${joins[@]}" -log-level warn
		addrs+="${addrs:+,}127.0.0.1:${gp[i]}"
	done
	bin/loadgen -op wait -addr "$addrs" 2>>"$out/loadgen.err" || log "beacon cluster of $n has no leader"
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

# knot_start PORT: Knot DNS serving the floor's records from a static zone.
knot_start() {
	local d="$work/knot-$run"
	mkdir -p "$d"
	cat >"$d/consul.zone" <<-'EOF'
		$ORIGIN consul.
		$TTL 0
		@	SOA	ns.consul. hostmaster.consul. 1 3600 600 86400 0
		@	NS	ns.consul.
		ns	A	127.0.0.1
		web.service	A	10.0.0.1
		web.service	SRV	1 1 8080 node-0000.node.dc1
		node-0000.node.dc1	A	10.0.0.1
	EOF
	cat >"$d/knot.conf" <<-EOF
		server:
		    rundir: "$d"
		    listen: 127.0.0.1@$1
		log:
		  - target: stderr
		    any: warning
		database:
		    storage: "$d"
		zone:
		  - domain: consul.
		    file: "$d/consul.zone"
		    journal-content: none
		    zonefile-sync: -1
	EOF
	knotd -c "$d/knot.conf" 2>>"$out/knot.log" &
	pids+=($!)
}

# dns NAME TARGET ADDR QTYPE INSTANCES: one dnsperf measurement.
dns() {
	if ! have dnsperf; then missing "$1" dns "dnsperf could not be installed"; return; fi
	lg "$1" -op dnsperf -target "$2" -addr "$3" -qtype "$4" -clients 4 -seconds "$DNS_SECONDS" -instances "$5"
}

# read_path: one catalog replica grown to 1k, 10k and 50k instances, with
# every read-side measurement at the sizes where it belongs.
read_path() {
	local sp gp hp dp mp fp kp hfp cat gw dgw floor_ok=0 knot_ok=0 from=0 n sz
	sp=$(port) gp=$(port) hp=$(port) fp=$(port) kp=$(port) hfp=$(port)
	start "run$run-catalog-read" "$out/beacon.log" bin/beacon-catalog -node r0 -data-dir "$work/read-$run" \
		-bind "127.0.0.1:$sp" -grpc-addr "127.0.0.1:$gp" -bootstrap-expect 1 -log-level warn
	cat=$last
	if ! bin/loadgen -op wait -addr "127.0.0.1:$gp" 2>>"$out/loadgen.err"; then
		log "read-path catalog has no leader: read rows missing in run $run"
		stop_all
		return
	fi
	start "run$run-httpgw-read" "$out/httpgw.log" bin/beacon-httpgw -http-addr "127.0.0.1:$hp" -catalog "127.0.0.1:$gp" -node gw -log-level warn
	gw=$last
	wait_http "http://127.0.0.1:$hp/v1/status/leader"
	start "run$run-dnsfloor" "$out/dnsfloor.log" bin/dnsfloor -addr "127.0.0.1:$fp"
	bin/loadgen -op waitdns -addr "127.0.0.1:$fp" -timeout 10s 2>>"$out/loadgen.err" && floor_ok=1
	if have knotd; then
		knot_start "$kp"
		bin/loadgen -op waitdns -addr "127.0.0.1:$kp" -timeout 10s 2>>"$out/loadgen.err" && knot_ok=1
	fi

	for sz in 1000:1k 10000:10k 50000:50k; do
		n=${sz%%:*} sz=${sz#*:}
		# Bulk registration runs without the DNS gateway: its follower
		# re-reads the whole catalog after every commit, which would more
		# than halve the load rate and make the run longer, not the figure better.
		log "run $run/$RUNS: catalog to $n instances"
		lg "load-$sz" -op load -target catalog -addr "127.0.0.1:$gp" -from "$from" -to "$n" -clients 64 -conns 4
		from=$n
		dp=$(port) mp=$(port)
		start "run$run-dnsgw-$sz" "$out/dnsgw.log" bin/beacon-dnsgw -dns-addr "127.0.0.1:$dp" -catalog "127.0.0.1:$gp" \
			-metrics-addr "127.0.0.1:$mp" -log-level warn
		dgw=$last
		bin/loadgen -op waitview -url "http://127.0.0.1:$mp/metrics" -instances "$n" -timeout 120s 2>>"$out/loadgen.err" &&
			bin/loadgen -op waitdns -addr "127.0.0.1:$dp" -timeout 10s 2>>"$out/loadgen.err" ||
			log "dnsgw at $n instances not ready; measuring anyway"
		lg "rss-$sz/catalog" -op rss -target catalog -pid "$cat" -instances "$n"
		lg "rss-$sz/dnsgw" -op rss -target dnsgw -pid "$dgw" -instances "$n"
		lg "snapshot-$sz" -op snapshot -target httpgw -url "http://127.0.0.1:$hp/v1/snapshot" -instances "$n"
		if [[ $sz != 10k ]]; then
			log "run $run/$RUNS: DNS A at $n instances"
			dns "dns-A-$sz/dnsgw" dnsgw "127.0.0.1:$dp" A "$n"
			stop "$dgw"
			continue
		fi
		log "run $run/$RUNS: DNS A and SRV, floor / dnsgw / knot"
		for qt in A SRV; do
			if ((floor_ok)); then dns "dns-$qt/floor" floor "127.0.0.1:$fp" "$qt" 0; else missing "dns-$qt/floor" dns "dnsfloor did not start"; fi
			dns "dns-$qt/dnsgw" dnsgw "127.0.0.1:$dp" "$qt" "$n"
			if ((knot_ok)); then
				dns "dns-$qt/knot" knot "127.0.0.1:$kp" "$qt" 0
			elif have knotd; then
				missing "dns-$qt/knot" dns "knotd did not start (see knot.log)"
			else
				missing "dns-$qt/knot" dns "knot could not be installed"
			fi
		done
		stop "$dgw"

		log "run $run/$RUNS: HTTP health read, httpgw / floor"
		local url="/v1/health/service/web?passing"
		if ! have wrk; then
			missing "http-health/httpgw" http "wrk could not be installed"
			missing "http-health/floor" http "wrk could not be installed"
		elif bin/loadgen -op fetch -url "http://127.0.0.1:$hp$url" -out "$work/body-$run" -header-out "$work/headers-$run" 2>>"$out/loadgen.err"; then
			start "run$run-httpfloor" "$out/httpfloor.log" bin/httpfloor -addr "127.0.0.1:$hfp" -body "$work/body-$run" -headers "$work/headers-$run"
			local hf=$last
			wait_http "http://127.0.0.1:$hfp$url"
			lg "http-health/httpgw" -op wrk -target httpgw -url "http://127.0.0.1:$hp$url" -threads 2 -clients 64 -seconds "$HTTP_SECONDS" -instances "$n"
			lg "http-health/floor" -op wrk -target floor -url "http://127.0.0.1:$hfp$url" -threads 2 -clients 64 -seconds "$HTTP_SECONDS"
			stop "$hf"
		else
			missing "http-health/httpgw" http "could not fetch the body from httpgw"
		fi

		log "run $run/$RUNS: blocking-query fan-out, $waiters waiters"
		lg "fanout-10k/httpgw" -op fanout -target httpgw -url "http://127.0.0.1:$hp" -addr "127.0.0.1:$gp" \
			-waiters "$waiters" -transports 8 -pid "$gw" -catalog-pid "$cat" -instances "$n" -timeout 60s
	done
	stop_all
}

# kv_path: KV puts on 1 and 3 replicas, Beacon (gRPC and HTTP) and etcd.
kv_path() {
	local n side hp
	for n in 1 3; do
		for side in etcd beacon; do
			if [[ $side == etcd ]]; then
				if ! have etcd; then
					missing "kv-put-c1-n$n/etcd" rate "etcd-server could not be installed"
					missing "kv-put-c64-n$n/etcd" rate "etcd-server could not be installed"
					continue
				fi
				etcd_cluster "$n"
			else
				beacon_cluster "$n" "run$run-kv-n$n"
			fi
			log "run $run/$RUNS: KV puts, $side, $n replica(s)"
			measure "kv-put-c1-n$n/$side" "$side" "$addrs" 1 2000
			measure "kv-put-c64-n$n/$side" "$side" "$addrs" 64 20000
			if [[ $side == beacon ]]; then
				hp=$(port)
				start "run$run-httpgw-kv-n$n" "$out/httpgw.log" bin/beacon-httpgw -http-addr "127.0.0.1:$hp" -catalog "$addrs" -node gw -log-level warn
				wait_http "http://127.0.0.1:$hp/v1/status/leader"
				lg "kv-http-put-c64-n$n/httpgw" -op put -target http-put -addr "127.0.0.1:$hp" -clients 64 -total 20000
			fi
			stop_all
		done
	done
}

for ((run = 1; run <= RUNS; run++)); do
	log "run $run/$RUNS: dev agent start-to-leader"
	if [[ $PROFILE == 1 ]]; then
		BEACON_CPUPROFILE="$out/profiles/run$run-agent-dev.cpu.pprof" BEACON_MEMPROFILE="$out/profiles/run$run-agent-dev.mem.pprof" \
			lg "startup/agent-dev" -target agent -op startup -bin bin/beacon
	else
		lg "startup/agent-dev" -target agent -op startup -bin bin/beacon
	fi
	read_path
	kv_path
done
took=$((SECONDS - began))
log "measured in $((took / 60)) min $((took % 60)) s"

table=$(bin/bench-report -in "$results" -heading '##')
htable=$(bin/bench-report -in "$results" -heading '####')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -q . && echo ", uncommitted changes" || true)
machine="$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr), $(go version | cut -d' ' -f3)"
versions="dnsperf $(dnsperf -h 2>&1 | awk '/^Version/{print $2}' || true), wrk $(wrk -v 2>&1 | awk 'NR==1{print $2}' || true), Knot $(knotd -V 2>/dev/null | awk '{print $NF}' || true), etcd $(etcd --version 2>/dev/null | awk '/etcd Version/{print $3}' || true)"
profiled=""
if [[ $PROFILE == 1 ]]; then
	# Which binaries honour BEACON_CPUPROFILE/BEACON_MEMPROFILE: those whose
	# files exist. (The agent is killed with SIGKILL, so it never could.)
	wrote=() ignored=()
	for k in "beacon-catalog:*-catalog-read.*.pprof *-kv-n?-b?.*.pprof" "beacon-httpgw:*-httpgw-*.pprof" \
		"beacon-dnsgw:*-dnsgw-*.pprof" "beacon agent -dev:*-agent-dev.*.pprof"; do
		found=0
		for g in ${k#*:}; do compgen -G "$out/profiles/$g" >/dev/null && found=1; done
		if ((found)); then wrote+=("${k%%:*}"); else ignored+=("${k%%:*}"); fi
	done
	profiled=" **Profiled run** (PROFILE=1): Beacon processes profiled while measured, so their figures may be a few per cent low. Profiles in \`bench/out/$stamp/profiles\`, written by: $(IFS=,; echo "${wrote[*]:-none}"); not (yet) honouring the variables: $(IFS=,; echo "${ignored[*]:-none}")."
	log "profiles written by: ${wrote[*]:-none}; ignored by: ${ignored[*]:-none}"
fi
echo "$table"
{
	echo "# Benchmark results"
	echo
	echo "Latest run: $stamp, commit $commit$dirty, $machine, $RUNS runs per figure, \`make bench\` took $((took / 60)) min $((took % 60)) s."
	echo "Tools: $versions.$profiled"
	echo "Regenerate with \`make bench\` (\`RUNS=5 make bench\` for more, \`make bench PROFILE=1\` for profiles)."
	echo "How to read these numbers: bench/README.md. Every ratio compares two measurements of the same run"
	echo "with the same load generator."
	echo
	echo "$table"
	echo "## History"
	echo
	echo "### $stamp ($commit$dirty)"
	echo
	echo "$htable"
	if [[ -f bench/RESULTS.md ]]; then
		awk '/^## History/{h=1;next} h' bench/RESULTS.md | sed '1{/^$/d}'
	fi
} >"$out/RESULTS.md"
cp "$out/RESULTS.md" bench/RESULTS.md
log "wrote bench/RESULTS.md"

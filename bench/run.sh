#!/usr/bin/env bash
# `make bench`: measures Beacon's hot paths beside their floors and peers in
# one run on this machine and writes bench/RESULTS.md. Every figure is the
# median of RUNS measurements with min and max, and every ratio pairs two
# measurements of the same repetition, taken back to back, because the
# machine is shared and noisy. Benchmarks never fail the build: a peer that
# cannot be installed or a Beacon part that does not work yet is reported as
# a missing row with the reason, and the script exits 0 once it has built.
#
# Sections (SECTIONS, in this order by default):
#   startup  `beacon agent -dev` to a leader, then its idle RSS.
#   scale    one catalog replica grown to each of SIZES instances (10 per
#            service, `web` among them): catalog and dnsgw RSS, snapshot
#            save (GET /v1/snapshot) and restore (PUT into a second replica),
#            DNS A q/s on beacon-dnsgw and HTTP req/s on beacon-httpgw. At
#            COMPARE_AT instances also: beacon-dnsgw vs the miekg/dns floor
#            (bench/dnsfloor) vs Knot for A and SRV (dnsperf, q/s and p50/p99);
#            beacon-httpgw vs the net/http floor (bench/httpfloor) serving the
#            same bytes for GET /v1/health/service/web?passing (wrk); and
#            WAITERS blocking queries woken by one change, asking for plain
#            JSON and then for gzip (as Consul's Go client does).
#   kv       PUT /v1/kv through beacon-httpgw at 1, 16 and 64 clients
#            driven by wrk (and by a Go net/http client, as consul/api, at 1
#            and 64; Beacon's gRPC put at 1 and 64) vs etcd's put with its own
#            client at the same concurrency, on 1 and 3 replicas/members; reads at 16
#            clients: Beacon default vs etcd serializable, Beacon ?consistent
#            vs etcd linearizable.
#   checks   CHECKS (5000) HTTP checks every 10 s on one beacon-health agent
#            (bench/checkload): catalog writes/s and the agent's CPU while
#            nothing changes and while 1% flap, beside a bare net/http
#            poller of the same URLs, over CHECKS_WINDOW (30s) each.
#   deploy   the compose deployment (when Docker is there): cold start to
#            all healthy, leader failover, image sizes, from one run of
#            tests/compose's TestLeaderStopped (its TestMain builds the
#            images and starts deploy/docker-compose.yml).
#   proxy    bench/tcpfloor through: nothing (direct loopback), two plain
#            Go TCP relays (tcpfloor -relay: the hop cost of any Go
#            process, without TLS), Beacon's two
#            sidecars (beacon-proxy, mutual TLS between them), two HAProxy
#            sidecars with mutual TLS: BULK_MIB MiB over one connection,
#            64-byte round trips (p50/p99; the paths take turns of 250
#            round trips), new connections/s.
#
# Environment: RUNS (3), PROFILE=1 (CPU and heap profiles of every Beacon
# process under bench/out/<stamp>/profiles), DNS_SECONDS (5), HTTP_SECONDS
# (5), KV_SECONDS (3), WAITERS (10000), SIZES ("1000 10000 50000"),
# COMPARE_AT (10000), BULK_MIB (1024), CHECKS (5000), CHECKS_WINDOW (30s),
# SECTIONS ("startup scale kv checks proxy deploy"),
# QUICK=1 (a short development run: 1 repetition, small sizes, 1 s
# measurements; it does not touch bench/RESULTS.md).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export GOTOOLCHAIN=local
if [[ ${QUICK:-0} == 1 ]]; then
	: "${RUNS:=1}" "${DNS_SECONDS:=1}" "${HTTP_SECONDS:=1}" "${KV_SECONDS:=1}" "${WAITERS:=1000}"
	: "${SIZES:=1000 3000}" "${COMPARE_AT:=3000}" "${BULK_MIB:=128}" "${CHECKS:=1000}" "${CHECKS_WINDOW:=10s}"
fi
RUNS=${RUNS:-3}
PROFILE=${PROFILE:-0}
DNS_SECONDS=${DNS_SECONDS:-5}
HTTP_SECONDS=${HTTP_SECONDS:-5}
KV_SECONDS=${KV_SECONDS:-3}
WAITERS=${WAITERS:-10000}
SIZES=${SIZES:-1000 10000 50000}
COMPARE_AT=${COMPARE_AT:-10000}
BULK_MIB=${BULK_MIB:-1024}
CHECKS=${CHECKS:-5000}
CHECKS_WINDOW=${CHECKS_WINDOW:-30s}
SECTIONS=${SECTIONS:-startup scale kv checks proxy deploy}
began=$SECONDS
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$root/bench/out/$stamp"
mkdir -p "$out"
results="$out/results.jsonl"
work=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
log "writing to $out (RUNS=$RUNS, SIZES=$SIZES, sections: $SECTIONS)"

# Only the binaries measured, so that work in progress elsewhere in the
# tree (a service that does not build yet) cannot stop the benchmarks.
mkdir -p bin
go build -o bin/ ./cmd/beacon ./services/catalog/cmd/beacon-catalog ./services/httpgw/cmd/beacon-httpgw \
	./services/dnsgw/cmd/beacon-dnsgw ./services/health/cmd/beacon-health || exit 1
for t in loadgen report:bench-report dnsfloor httpfloor tcpfloor checkload; do
	go build -o "bin/${t#*:}" "./bench/${t%%:*}" || exit 1
done
# The proxy is optional: its rows say why when it does not build.
proxy_build_err=""
if ! go build -o bin/ ./services/proxy/cmd/beacon-proxy >"$out/proxy-build.log" 2>&1; then
	proxy_build_err="beacon-proxy does not build: $(grep -m1 -v '^#' "$out/proxy-build.log" | cut -c1-120)"
fi

# Peers and load generators from Debian (bookworm: dnsperf 2.10, wrk 4.1,
# HAProxy 2.6, Knot 3.2, etcd 3.4), installed once if missing. Installing
# must not start their system services (a stray etcd on :2379, knotd on
# :53): a policy-rc.d that denies every start is put in place for the
# install when there is none. A package that cannot be installed leaves its
# rows marked missing.
declare -A pkg_of=([etcd]=etcd-server [dnsperf]=dnsperf [wrk]=wrk [knotd]=knot [haproxy]=haproxy)
need=()
for cmd in etcd dnsperf wrk knotd haproxy; do command -v "$cmd" >/dev/null || need+=("${pkg_of[$cmd]}"); done
if ((${#need[@]})); then
	sudo=""
	((EUID)) && sudo="sudo -n"
	log "installing from Debian: ${need[*]}"
	rcd=""
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		rcd=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$rcd" >/dev/null && $sudo chmod 755 "$rcd"
	fi
	$sudo apt-get update -qq >/dev/null 2>&1 || log "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >"$out/apt.log" 2>&1 ||
		log "apt-get install failed (see $out/apt.log): the rows of what is missing will say so"
	[[ -n $rcd ]] && $sudo rm -f "$rcd"
fi
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
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(loadavg)

# port: the next of a pool of distinct ports, free for TCP and UDP when the
# run began (bench/loadgen -op ports holds them all while it picks, so none
# repeats: a port picked, released and picked again would put two servers
# on one address). The index lives in a file because $(port) is a subshell.
mapfile -t port_pool < <(bin/loadgen -op ports -total 600)
echo 0 >"$work/port.idx"
port() {
	local i
	i=$(<"$work/port.idx")
	echo $((i + 1)) >"$work/port.idx"
	echo "${port_pool[i]:?bench: the port pool ran out}"
}

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
stop_all() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	pids=()
}

# lg NAME ARGS...: one loadgen measurement of repetition $run, appended to
# the results.
lg() {
	local name=$1
	shift
	bin/loadgen -name "$name" -run "$run" "$@" >>"$results" 2>>"$out/loadgen.err" || log "$name failed (see $out/loadgen.err)"
}
missing() { # NAME KIND REASON
	local reason=${3//\"/\'}
	printf '{"name":"%s","kind":"%s","run":%d,"missing":"%s"}\n' "$1" "$2" "$run" "$reason" >>"$results"
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
	sleep 1 # the first (warm-up) put of each measurement waits up to 10 s for a leader
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

# dns NAME TARGET ADDR QTYPE INSTANCES: one dnsperf measurement (q/s at
# saturation, then p50/p99 at 5,000 q/s offered).
dns() {
	if ! have dnsperf; then missing "$1" dns "dnsperf could not be installed"; return; fi
	lg "$1" -op dnsperf -target "$2" -addr "$3" -qtype "$4" -clients 4 -seconds "$DNS_SECONDS" -instances "$5"
}

# wrk_get NAME TARGET URL SECONDS INSTANCES: one wrk measurement.
wrk_get() {
	if ! have wrk; then missing "$1" http "wrk could not be installed"; return; fi
	lg "$1" -op wrk -target "$2" -url "$3" -threads 2 -clients 64 -seconds "$4" -instances "$5"
}

# scale: one catalog replica grown to each of SIZES, with every read-side
# measurement at the sizes where it belongs.
scale() {
	local sp gp hp dp mp fp kp hfp rsp rgp rhp cat dgw floor_ok=0 knot_ok=0 from=0 n sz qt
	local url="/v1/health/service/web?passing"
	sp=$(port) gp=$(port) hp=$(port) fp=$(port) kp=$(port) hfp=$(port) rsp=$(port) rgp=$(port) rhp=$(port)
	run=0
	start "catalog-read" "$out/beacon.log" bin/beacon-catalog -node r0 -data-dir "$work/read" \
		-bind "127.0.0.1:$sp" -grpc-addr "127.0.0.1:$gp" -bootstrap-expect 1 -log-level warn
	cat=$last
	# A second replica that only takes restores.
	start "catalog-restore" "$out/beacon.log" bin/beacon-catalog -node s0 -data-dir "$work/restore" \
		-bind "127.0.0.1:$rsp" -grpc-addr "127.0.0.1:$rgp" -bootstrap-expect 1 -log-level warn
	if ! bin/loadgen -op wait -addr "127.0.0.1:$gp" 2>>"$out/loadgen.err"; then
		log "read-path catalog has no leader: scale rows missing"
		stop_all
		return
	fi
	start "httpgw-read" "$out/httpgw.log" bin/beacon-httpgw -http-addr "127.0.0.1:$hp" -catalog "127.0.0.1:$gp" -node gw -log-level warn
	start "httpgw-restore" "$out/httpgw.log" bin/beacon-httpgw -http-addr "127.0.0.1:$rhp" -catalog "127.0.0.1:$rgp" -node gw2 -log-level warn
	wait_http "http://127.0.0.1:$hp/v1/status/leader"
	wait_http "http://127.0.0.1:$rhp/v1/status/leader"
	start "dnsfloor" "$out/dnsfloor.log" bin/dnsfloor -addr "127.0.0.1:$fp"
	bin/loadgen -op waitdns -addr "127.0.0.1:$fp" -timeout 10s 2>>"$out/loadgen.err" && floor_ok=1
	if have knotd; then
		knot_start "$kp"
		bin/loadgen -op waitdns -addr "127.0.0.1:$kp" -timeout 10s 2>>"$out/loadgen.err" && knot_ok=1
	fi

	for n in $SIZES; do
		sz=$(human "$n")
		# Bulk registration runs without the DNS gateway: its follower
		# re-reads the whole catalog after every commit, which would more
		# than halve the load rate and make the run longer, not the figure better.
		log "scale: catalog to $n instances"
		run=1 lg "load-$sz" -op load -target catalog -addr "127.0.0.1:$gp" -from "$from" -to "$n" -clients 64 -conns 4
		from=$n
		dp=$(port) mp=$(port)
		start "dnsgw-$sz" "$out/dnsgw.log" bin/beacon-dnsgw -dns-addr "127.0.0.1:$dp" -catalog "127.0.0.1:$gp" \
			-metrics-addr "127.0.0.1:$mp" -log-level warn
		dgw=$last
		bin/loadgen -op waitview -url "http://127.0.0.1:$mp/metrics" -instances "$n" -timeout 120s 2>>"$out/loadgen.err" &&
			bin/loadgen -op waitdns -addr "127.0.0.1:$dp" -timeout 10s 2>>"$out/loadgen.err" ||
			log "dnsgw at $n instances not ready; measuring anyway"
		local compare=0 hf=""
		if [[ $n == "$COMPARE_AT" ]]; then
			compare=1
			if have wrk && bin/loadgen -op fetch -url "http://127.0.0.1:$hp$url" -out "$work/body" -header-out "$work/headers" 2>>"$out/loadgen.err"; then
				start "httpfloor" "$out/httpfloor.log" bin/httpfloor -addr "127.0.0.1:$hfp" -body "$work/body" -headers "$work/headers"
				hf=$last
				wait_http "http://127.0.0.1:$hfp$url" || hf=""
			fi
		fi
		for ((run = 1; run <= RUNS; run++)); do
			log "scale: $n instances, repetition $run/$RUNS"
			lg "rss-$sz/catalog" -op rss -target catalog -pid "$cat" -instances "$n"
			lg "rss-$sz/dnsgw" -op rss -target dnsgw -pid "$dgw" -instances "$n"
			lg "snapshot-$sz" -op snapshot -target httpgw -url "http://127.0.0.1:$hp/v1/snapshot" -out "$work/snap-$sz" -instances "$n"
			if [[ -s $work/snap-$sz ]]; then
				lg "restore-$sz" -op restore -target httpgw -url "http://127.0.0.1:$rhp/v1/snapshot" -in "$work/snap-$sz" -instances "$n"
			else
				missing "restore-$sz" restore "no snapshot was saved"
			fi
			if ((!compare)); then
				dns "dns-A-$sz/dnsgw" dnsgw "127.0.0.1:$dp" A "$n"
				wrk_get "http-health-$sz/httpgw" httpgw "http://127.0.0.1:$hp$url" "$HTTP_SECONDS" "$n"
				continue
			fi
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
			wrk_get "http-health/httpgw" httpgw "http://127.0.0.1:$hp$url" "$HTTP_SECONDS" "$n"
			if [[ -n $hf ]]; then
				wrk_get "http-health/floor" floor "http://127.0.0.1:$hfp$url" "$HTTP_SECONDS" 0
			else
				missing "http-health/floor" http "the floor did not start (wrk missing or no body fetched from httpgw)"
			fi
		done
		[[ -n $hf ]] && stop "$hf"
		stop "$dgw"
		((compare)) || continue
		# The fan-outs run once the DNS gateway has stopped: it follows the
		# whole catalog, and at 10k instances each change costs it and the
		# catalog about 200 ms of CPU, spent just as the waiters wake. That
		# is the DNS gateway's cost (README), not the HTTP gateway's.
		for ((run = 1; run <= RUNS; run++)); do
			log "scale: blocking-query fan-out, $waiters waiters, repetition $run/$RUNS"
			fanout "fanout-10k/httpgw" "$gp" "$cat" "$n"
			# The same with waiters that ask for gzip, as Consul's Go client
			# (and so consul-template, Prometheus, traefik) always does.
			fanout "fanout-10k-gzip/httpgw" "$gp" "$cat" "$n" -gzip
		done
	done
	stop_all
}

# fanout NAME CATALOG_GRPC_PORT CATALOG_PID INSTANCES [ARGS...]: one
# blocking-query fan-out on a gateway started for it alone. Its memory
# before the waiters is then that of an idle gateway: a gateway that has
# served other load keeps that load's freed heap, which new waiters reuse
# without growing the RSS, and the figure per waiter would read low.
fanout() {
	local name=$1 gp=$2 cat=$3 n=$4 fp
	shift 4
	fp=$(port)
	start "httpgw-fanout" "$out/httpgw.log" bin/beacon-httpgw -http-addr "127.0.0.1:$fp" -catalog "127.0.0.1:$gp" -node gw-fanout -log-level warn
	local gw=$last
	if wait_http "http://127.0.0.1:$fp/v1/status/leader"; then
		lg "$name" -op fanout -target httpgw -url "http://127.0.0.1:$fp" -addr "127.0.0.1:$gp" \
			-waiters "$waiters" -pid "$gw" -catalog-pid "$cat" -instances "$n" -timeout 60s "$@"
	else
		missing "$name" fanout "the fan-out gateway did not start"
	fi
	stop "$gw"
}

# human 10000 -> 10k
human() { if (($1 % 1000 == 0)); then echo "$(($1 / 1000))k"; else echo "$1"; fi; }

# kv_section: KV writes and reads on 1 and 3 replicas, etcd then Beacon in
# each repetition, each at the same concurrency with its own client.
kv_section() {
	local n side c hp
	local big=10000000
	for ((run = 1; run <= RUNS; run++)); do
		for n in 1 3; do
			if have etcd; then
				etcd_cluster "$n"
				log "kv: etcd, $n member(s), repetition $run/$RUNS"
				for c in 1 16 64; do
					lg "kv-put-c$c-n$n/etcd" -op put -target etcd -addr "$addrs" -clients "$c" -conns 4 -total $big -seconds "$KV_SECONDS"
				done
				lg "kv-get-lin-c16-n$n/etcd" -op get -mode linearizable -target etcd -addr "$addrs" -clients 16 -conns 4 -total $big -seconds "$KV_SECONDS"
				lg "kv-get-ser-c16-n$n/etcd" -op get -mode serializable -target etcd -addr "$addrs" -clients 16 -conns 4 -total $big -seconds "$KV_SECONDS"
				stop_all
			else
				for c in 1 16 64; do missing "kv-put-c$c-n$n/etcd" rate "etcd-server could not be installed"; done
			fi
			beacon_cluster "$n" "run$run-kv-n$n"
			log "kv: beacon, $n replica(s), repetition $run/$RUNS"
			for c in 1 64; do
				lg "kv-put-c$c-n$n/beacon" -op put -target beacon -addr "$addrs" -clients "$c" -conns 4 -total $big -seconds "$KV_SECONDS"
			done
			hp=$(port)
			start "run$run-httpgw-kv-n$n" "$out/httpgw.log" bin/beacon-httpgw -http-addr "127.0.0.1:$hp" -catalog "$addrs" -node gw -log-level warn
			wait_http "http://127.0.0.1:$hp/v1/status/leader"
			for c in 1 16 64; do
				if have wrk; then
					lg "kv-http-put-c$c-n$n/httpgw" -op put -target wrk-put -addr "127.0.0.1:$hp" -clients "$c" -seconds "$KV_SECONDS"
				else
					missing "kv-http-put-c$c-n$n/httpgw" rate "wrk could not be installed"
				fi
			done
			for c in 1 64; do
				lg "kv-http-put-go-c$c-n$n/httpgw" -op put -target http-put -addr "127.0.0.1:$hp" -clients "$c" -total $big -seconds "$KV_SECONDS"
			done
			lg "kv-http-get-default-c16-n$n/httpgw" -op get -mode default -target http-get -addr "127.0.0.1:$hp" -clients 16 -total $big -seconds "$KV_SECONDS"
			lg "kv-http-get-consistent-c16-n$n/httpgw" -op get -mode consistent -target http-get -addr "127.0.0.1:$hp" -clients 16 -total $big -seconds "$KV_SECONDS"
			stop_all
		done
	done
}

# haproxy_pair SERVER_PORT: two HAProxy 2.6 sidecars, one thread each, mode
# tcp: A (plain in, TLS out with its client certificate) and B (TLS in,
# client certificate required, plain to the server); sets $hap_addr.
haproxy_pair() {
	local d="$work/haproxy" pa pb side
	pa=$(port) pb=$(port)
	mkdir -p "$d"
	bin/tcpfloor -certs "$d" || return 1
	for side in a b; do
		{
			printf 'global\n    nbthread 1\n    maxconn 4096\n' # maxconn: HAProxy raises its fd limit to 2x+; keep under the hard limit
			printf 'defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n'
			if [[ $side == a ]]; then
				printf 'listen a\n    bind 127.0.0.1:%s\n    server b 127.0.0.1:%s ssl crt %s/a.pem ca-file %s/ca.pem verify required\n' "$pa" "$pb" "$d" "$d"
			else
				printf 'listen b\n    bind 127.0.0.1:%s ssl crt %s/b.pem ca-file %s/ca.pem verify required\n    server s 127.0.0.1:%s\n' "$pb" "$d" "$d" "$1"
			fi
		} >"$d/$side.cfg"
		haproxy -db -f "$d/$side.cfg" >>"$out/haproxy.log" 2>&1 &
		pids+=($!)
		hap_pids+=($!)
	done
	hap_addr="127.0.0.1:$pa"
	# Up to 10 s for both to listen: on a loaded machine one took over a
	# second once, and the whole HAProxy column went missing.
	local i
	for ((i = 0; i < 20; i++)); do
		bin/loadgen -op conns -addr "$hap_addr" -total 1 -timeout 10s >/dev/null 2>>"$out/loadgen.err" && return 0
		sleep 0.5
	done
	log "the HAProxy pair carried no echo in 10 s; haproxy processes: $(ps -o pid=,stat=,args= -p "${hap_pids[*]// /,}" 2>&1 | tr '\n' ';')"
	return 1
}

# beacon_sidecars SERVER_PORT: the dev agent with two services registered,
# bench-echo (the tcpfloor server, with a sidecar) and bench-client (whose
# sidecar has bench-echo as an upstream), and the two sidecars:
# `beacon-proxy -sidecar-for bench-echo` and `beacon-proxy -service
# bench-client -upstream bench-echo:PORT`, both pointed at the agent's and
# the catalog's gRPC ports. Sets $bp_addr, or $bp_err with
# the reason the path does not work.
beacon_sidecars() {
	local hp gp dp ap ep up i
	hp=$(port) gp=$(port) dp=$(port) ap=$(port) ep=$(port) up=$(port)
	bp_addr="" bp_err=""
	if [[ -n $proxy_build_err ]]; then bp_err=$proxy_build_err; return 1; fi
	start "proxy-agent-dev" "$out/proxy.log" bin/beacon agent -dev -node bench -http-port "$hp" -grpc-port "$gp" -dns-port "$dp" -agent-port "$ap" -log-level warn
	if ! wait_http "http://127.0.0.1:$hp/v1/status/leader"; then bp_err="the dev agent did not answer"; return 1; fi
	local reg='{"ID":"bench-echo","Name":"bench-echo","Address":"127.0.0.1","Port":%s,"Connect":{"SidecarService":{"Port":%s}}}'
	# shellcheck disable=SC2059
	if ! curl -sf -X PUT --data "$(printf "$reg" "$1" "$ep")" "http://127.0.0.1:$hp/v1/agent/service/register" >>"$out/proxy.log" 2>&1 ||
		! curl -sf -X PUT --data '{"ID":"bench-client","Name":"bench-client","Port":1}' "http://127.0.0.1:$hp/v1/agent/service/register" >>"$out/proxy.log" 2>&1; then
		bp_err="registering the services through /v1/agent/service/register failed"
		return 1
	fi
	curl -sf -X PUT --data '{"Action":"allow"}' \
		"http://127.0.0.1:$hp/v1/connect/intentions/exact?source=bench-client&destination=bench-echo" >>"$out/proxy.log" 2>&1 || true
	start "proxy-server-sidecar" "$out/proxy.log" bin/beacon-proxy -sidecar-for bench-echo -agent-addr "127.0.0.1:$ap" -catalog "127.0.0.1:$gp" -log-level warn
	bp_pids+=("$last")
	start "proxy-client-sidecar" "$out/proxy.log" bin/beacon-proxy -service bench-client -upstream "bench-echo:$up" -agent-addr "127.0.0.1:$ap" -catalog "127.0.0.1:$gp" -log-level warn
	bp_pids+=("$last")
	for ((i = 0; i < 40; i++)); do
		if bin/loadgen -op conns -addr "127.0.0.1:$up" -total 1 >/dev/null 2>>"$out/proxy.log"; then
			bp_addr="127.0.0.1:$up"
			return 0
		fi
		sleep 0.5
	done
	bp_err="the two-sidecar path carried no echo within 20 s (see proxy.log)"
	return 1
}

# proxy_section: the three TCP paths, each repetition measuring them back to back.
proxy_section() {
	local sp path addr err m pp hap_addr="" bp_addr="" bp_err="" hap_err="" hap_pids=() bp_pids=() relay_pids=()
	sp=$(port)
	run=0
	bin/tcpfloor -addr "127.0.0.1:$sp" 2>>"$out/tcpfloor.log" &
	pids+=($!)
	sleep 0.2
	if ! have haproxy; then
		hap_err="haproxy could not be installed"
	elif ! haproxy_pair "$sp"; then
		hap_err="the HAProxy pair did not carry an echo (see haproxy.log)"
	fi
	beacon_sidecars "$sp" || log "proxy: Beacon path not measured: $bp_err"
	# Two plain Go relays chained (tcpfloor -relay): what two hops through
	# any Go process cost here, without TLS, the reference for the RTT.
	local r1 r2
	r1=$(port) r2=$(port)
	bin/tcpfloor -addr "127.0.0.1:$r1" -relay "127.0.0.1:$sp" 2>>"$out/tcpfloor.log" &
	pids+=($!) relay_pids+=($!)
	bin/tcpfloor -addr "127.0.0.1:$r2" -relay "127.0.0.1:$r1" 2>>"$out/tcpfloor.log" &
	pids+=($!) relay_pids+=($!)
	sleep 0.2
	local rtt_paths rtt_addrs
	for ((run = 1; run <= RUNS; run++)); do
		log "proxy: repetition $run/$RUNS"
		rtt_paths="" rtt_addrs=""
		for path in direct gorelay2 beacon-mtls2 haproxy-mtls2; do
			# pp: the path's two proxies, whose CPU the bulk transfer reports.
			case $path in
			direct) addr="127.0.0.1:$sp" err="" pp="" ;;
			gorelay2) addr="127.0.0.1:$r2" err="" pp="${relay_pids[*]}" ;;
			beacon-mtls2) addr=$bp_addr err=$bp_err pp="${bp_pids[*]}" ;;
			haproxy-mtls2) addr=$hap_addr err=$hap_err pp="${hap_pids[*]}" ;;
			esac
			if [[ -n $err ]]; then
				for m in bulk rtt conns; do missing "tcp-$m/$path" tcp "$err"; done
				continue
			fi
			lg "tcp-bulk/$path" -op bulk -target "$path" -addr "$addr" -total $((BULK_MIB << 20)) -pids "${pp// /,}"
			lg "tcp-conns/$path" -op conns -target "$path" -addr "$addr" -total 1000
			rtt_paths+="${rtt_paths:+,}$path" rtt_addrs+="${rtt_addrs:+,}$addr"
		done
		# The paths' round trips take turns (250 through one, then the
		# next), so that the machine's drift falls on all of them alike.
		lg tcp-rtt -op rtt -target "$rtt_paths" -addr "$rtt_addrs" -total 10000 -size 64
	done
	stop_all
}

# checks_section: what CHECKS health checks on one agent cost (bench/checkload
# starts its own catalog, agent, checked server and floor poller each run).
checks_section() {
	local prof=()
	for ((run = 1; run <= RUNS; run++)); do
		log "checks: $CHECKS HTTP checks every 10 s, steady then 1% flapping, $CHECKS_WINDOW each, repetition $run/$RUNS"
		[[ $PROFILE == 1 ]] && prof=(-profile-dir "$out/profiles/run$run-checks")
		bin/checkload -bin bin -checks "$CHECKS" -interval 10s -window "$CHECKS_WINDOW" -flap 0.01 -run "$run" "${prof[@]}" \
			>>"$results" 2>>"$out/checkload.log" || log "checkload failed (see $out/checkload.log)"
	done
}

# deploy_section: one run of the compose tests' failover test, which
# reports its figures through BEACON_BENCH_OUT.
deploy_section() {
	run=1
	if ! docker info >/dev/null 2>&1; then
		missing deploy-up deploy "no Docker engine"
		return
	fi
	log "deploy: compose cluster cold start and leader failover (tests/compose)"
	(cd tests && BEACON_BENCH_OUT="$results" BEACON_BENCH_RUN=1 go test -count=1 -timeout 15m -run '^TestLeaderStopped$' ./compose/) \
		>>"$out/deploy.log" 2>&1 || log "deploy: the compose test failed (see $out/deploy.log)"
}

startup_section() {
	for ((run = 1; run <= RUNS; run++)); do
		log "startup: dev agent start-to-leader, repetition $run/$RUNS"
		if [[ $PROFILE == 1 ]]; then
			BEACON_CPUPROFILE="$out/profiles/run$run-agent-dev.cpu.pprof" BEACON_MEMPROFILE="$out/profiles/run$run-agent-dev.mem.pprof" \
				lg "startup/agent-dev" -target agent -op startup -bin bin/beacon
		else
			lg "startup/agent-dev" -target agent -op startup -bin bin/beacon
		fi
	done
}

run=0
for s in $SECTIONS; do
	case $s in
	startup) startup_section ;;
	scale) scale ;;
	kv) kv_section ;;
	checks) checks_section ;;
	deploy) deploy_section ;;
	proxy) proxy_section ;;
	*) log "unknown section $s" ;;
	esac
done
took=$((SECONDS - began))
load_end=$(loadavg)
log "measured in $((took / 60)) min $((took % 60)) s"

table=$(bin/bench-report -in "$results" -heading '###')
htable=$(bin/bench-report -in "$results" -heading '####' -brief)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -q . && echo ", uncommitted changes" || true)
machine="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr), $(go version | cut -d' ' -f3)"
versions="dnsperf $(dnsperf -h 2>&1 | awk '/^Version/{print $2}' || true), wrk $(wrk -v 2>&1 | awk 'NR==1{print $2}' || true), Knot $(knotd -V 2>/dev/null | awk '{print $NF}' || true), etcd $(etcd --version 2>/dev/null | awk '/etcd Version/{print $3}' || true), HAProxy $(haproxy -v 2>/dev/null | awk 'NR==1{print $3}' || true)"
loaded="Load average (1/5/15 min) at the start: $load_start; at the end: $load_end, on $(nproc) cores."
profiled=""
if [[ $PROFILE == 1 ]]; then
	# Which binaries honour BEACON_CPUPROFILE/BEACON_MEMPROFILE: those whose
	# files exist. (The agent is killed with SIGKILL, so it never could.)
	wrote=() ignored=()
	for k in "beacon-catalog:catalog-*.pprof *-kv-n?-b?.*.pprof" "beacon-httpgw:httpgw-*.pprof *-httpgw-kv-*.pprof" \
		"beacon-dnsgw:dnsgw-*.pprof" "beacon agent -dev:*agent-dev.*.pprof" "beacon-proxy:proxy-*-sidecar.*.pprof" "beacon-health:run*-checks/*.pprof"; do
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
	echo "Latest run: $stamp, commit $commit$dirty, $machine, $RUNS repetitions per figure, \`make bench\` took $((took / 60)) min $((took % 60)) s."
	echo "$loaded The machine is shared: other jobs may have been running; read the ratios, not the absolute figures."
	echo "Tools: $versions.$profiled"
	echo "Regenerate with \`make bench\` (\`RUNS=5 make bench\` for more, \`make bench PROFILE=1\` for profiles)."
	echo "How to read these numbers: [bench/README.md](README.md). Every ratio pairs two measurements of the same"
	echo "repetition, taken back to back with the same load generator."
	echo
	echo "## Latest run"
	echo
	echo "$table"
	echo "## History"
	echo
	echo "### $stamp ($commit$dirty, $RUNS repetitions, load average $load_start → $load_end)"
	echo
	echo "$htable"
	echo
	if [[ -f bench/RESULTS.md ]]; then
		awk '/^## History/{h=1;next} h' bench/RESULTS.md | sed '1{/^$/d}'
	fi
} >"$out/RESULTS.md"
if [[ ${QUICK:-0} == 1 ]]; then
	log "QUICK=1: results in $out/RESULTS.md; bench/RESULTS.md untouched"
else
	cp "$out/RESULTS.md" bench/RESULTS.md
	log "wrote bench/RESULTS.md"
fi
exit 0

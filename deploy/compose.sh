#!/usr/bin/env bash
# Runs the deployment's compose file with whichever Compose is installed
# (`docker compose` v2, else `docker-compose` v1), so `make up` and
# `make down` work with both.
#
#   deploy/compose.sh up     start the stack and wait until every container is healthy
#   deploy/compose.sh down   stop it and remove its containers, network and volumes
#   deploy/compose.sh ARGS   any other compose command (ps, logs -f, port httpgw 8500, …)
#
# BEACON_PROJECT names the compose project (default "beacon");
# BEACON_UP_TIMEOUT bounds the wait for healthy (seconds, default 180).
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
project=${BEACON_PROJECT:-beacon}

if docker compose version >/dev/null 2>&1; then
	compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
	compose=(docker-compose)
else
	echo "compose.sh: neither 'docker compose' nor 'docker-compose' is installed" >&2
	exit 1
fi
compose+=(--project-name "$project" --file "$dir/docker-compose.yml")

# wait_healthy polls every container of the project until all are healthy.
wait_healthy() {
	local deadline=$((SECONDS + ${BEACON_UP_TIMEOUT:-180})) ids states bad
	while :; do
		ids=$("${compose[@]}" ps -q)
		states=$(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}no-healthcheck{{end}}' $ids)
		bad=$(grep -v ' running healthy$' <<<"$states" || true)
		if [[ -z $bad ]]; then
			echo "all $(wc -l <<<"$states") containers healthy after ${SECONDS}s"
			return 0
		fi
		if ((SECONDS >= deadline)); then
			echo "compose.sh: not healthy after ${BEACON_UP_TIMEOUT:-180}s:" >&2
			echo "$bad" >&2
			return 1
		fi
		sleep 2
	done
}

case ${1:-} in
up)
	shift
	"${compose[@]}" up -d "$@"
	wait_healthy
	;;
down)
	shift
	"${compose[@]}" down -v --remove-orphans "$@"
	;;
*)
	"${compose[@]}" "$@"
	;;
esac

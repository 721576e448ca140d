#!/usr/bin/env bash
# `make demo`: a local moto server, a seeded Cloud Map service with five EC2 instances, the worker
# running against it; one instance is terminated and the worker removes its registration, live.
# Everything listens on 127.0.0.1 and stops when this script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
BIN="${CARGO_TARGET_DIR:-target}/debug/cloud-unmap"
work=$(mktemp -d)
worker=""
cleanup() {
  [ -n "$worker" ] && kill -TERM "$worker" 2>/dev/null && wait "$worker" 2>/dev/null || true
  exec 3>&- 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting moto on a free loopback port"
# moto stops when fd 3 (its stdin) closes, i.e. when this script exits.
exec 3> >("$PY" scripts/moto_server.py > "$work/port")
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port"); endpoint="http://127.0.0.1:$port"
echo "moto at $endpoint"
export AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true

say "seeding a namespace, a service and 5 registered EC2 instances"
"$PY" scripts/fixture.py seed --endpoint "$endpoint" --instances 5 > "$work/state.json"
service=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["service"])' "$work/state.json")
victim=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["instances"][0]["id"])' "$work/state.json")
echo "service $service:"; "$PY" scripts/fixture.py registered --endpoint "$endpoint" --service "$service" | sed 's/^/  /'

http_port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
say "running cloud-unmap (reconcile every 3 s, HTTP on 127.0.0.1:$http_port)"
"$BIN" --service-id "$service" --service-region us-east-1 --instances-region us-east-1 \
  --frequency 3 --prometheus-host 127.0.0.1 --prometheus-port "$http_port" --log-format text &
worker=$!
for _ in $(seq 1 100); do curl -fs "127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
echo "/readyz: $(curl -s "127.0.0.1:$http_port/readyz")"

say "terminating $victim in EC2 (its registration stays behind in Cloud Map)"
"$PY" scripts/fixture.py terminate --endpoint "$endpoint" --ids "$victim"
start=$(date +%s.%N)
for _ in $(seq 1 200); do
  "$PY" scripts/fixture.py registered --endpoint "$endpoint" --service "$service" | grep -q "$victim" || break
  sleep 0.2
done
if "$PY" scripts/fixture.py registered --endpoint "$endpoint" --service "$service" | grep -q "$victim"; then
  echo "FAILED: $victim is still registered"; exit 1
fi
echo "removed after $("$PY" -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$start" "$(date +%s.%N)") s"

say "registrations now"
"$PY" scripts/fixture.py registered --endpoint "$endpoint" --service "$service" | sed 's/^/  /'

say "metrics"
curl -s "127.0.0.1:$http_port/metrics" | grep -E '^(aws_cloud_unmap|cloud_unmap_(deregistrations|reconciles|registered))'

say "stopping the worker with SIGTERM"
kill -TERM "$worker"; wait "$worker" && echo "exit code 0"; worker=""

#!/usr/bin/env bash
# `make demo`: a local moto server, a seeded Cloud Map service with five EC2 instances, an SQS queue
# fed by the EventBridge rules of event-rules.json, a preflight `check`, and the worker running against it. One instance is
# terminated: its event reaches the queue and the worker removes the registration within
# milliseconds. A second one is terminated with its event lost: the periodic reconcile (every 5 s
# here) removes it. Then the metrics.
# Everything listens on 127.0.0.1 and stops when this script ends.
# Runs from any checkout and any directory, by `make demo` or by hand (`scripts/demo.sh`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || { echo "demo: $PY is missing: run \`make venv\` (or \`make demo\`) first" >&2; exit 1; }
command -v curl >/dev/null || { echo "demo: curl is needed" >&2; exit 1; }
# The Makefile's target directory (shared by every clone, so the AWS SDK is built once), and this
# checkout's binary in it: another clone may have built its own there since.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloud-unmap/target}"
cargo build --quiet --bin cloud-unmap
BIN="$CARGO_TARGET_DIR/debug/cloud-unmap"
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

say "creating the event queue (+ dead-letter queue) and the EventBridge rules of event-rules.json"
queue=$("$PY" scripts/fixture.py queue --endpoint "$endpoint")
echo "$queue"
lost=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["instances"][1]["id"])' "$work/state.json")

say "preflight: cloud-unmap check with the worker's flags (changes nothing)"
"$BIN" check --service-id "$service" --service-region us-east-1 --instances-region us-east-1 \
  --queue-url "$queue" 2>/dev/null || { echo "FAILED: check exit $?"; exit 1; }

http_port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
say "running cloud-unmap (events from the queue; reconcile every 5 s; HTTP on 127.0.0.1:$http_port)"
"$BIN" --service-id "$service" --service-region us-east-1 --instances-region us-east-1 \
  --queue-url "$queue" --frequency 5 --prometheus-host 127.0.0.1 --prometheus-port "$http_port" --log-format text &
worker=$!
for _ in $(seq 1 100); do curl -fs "127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
echo "/readyz: $(curl -s "127.0.0.1:$http_port/readyz")"

wait_gone() {  # $1 = instance id; prints how long it took
  local start; start=$(date +%s.%N)
  for _ in $(seq 1 300); do
    "$PY" scripts/fixture.py registered --endpoint "$endpoint" --service "$service" | grep -q "$1" || break
    sleep 0.05
  done
  if "$PY" scripts/fixture.py registered --endpoint "$endpoint" --service "$service" | grep -q "$1"; then
    echo "FAILED: $1 is still registered"; exit 1
  fi
  echo "$1 gone from Cloud Map after $("$PY" -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$start" "$(date +%s.%N)") s"
}

say "terminating $victim; EventBridge forwards its state-change event to the queue"
"$PY" scripts/fixture.py terminate --endpoint "$endpoint" --ids "$victim"
"$PY" scripts/fixture.py event --endpoint "$endpoint" --ids "$victim"
wait_gone "$victim"
ms=$(curl -s "127.0.0.1:$http_port/metrics" | awk '/^cloud_unmap_event_latency_seconds_sum\{from="receipt"\}/ {printf "%.0f", $2 * 1000}')
echo "(this script polls Cloud Map from Python, which is slow; cloud-unmap itself took ${ms} ms from receiving the event to the confirmed deregistration)"

say "terminating $lost with its event lost: the periodic reconcile is the backstop"
"$PY" scripts/fixture.py terminate --endpoint "$endpoint" --ids "$lost"
wait_gone "$lost"

say "registrations now"
"$PY" scripts/fixture.py registered --endpoint "$endpoint" --service "$service" | sed 's/^/  /'

say "metrics"
curl -s "127.0.0.1:$http_port/metrics" | grep -E '^(aws_cloud_unmap|cloud_unmap_(deregistrations|reconciles_total|registered|events_total|messages_total|event_latency_seconds_(sum|count)))'

say "stopping the worker with SIGTERM"
kill -TERM "$worker"; wait "$worker" && echo "exit code 0"; worker=""

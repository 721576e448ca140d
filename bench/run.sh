#!/usr/bin/env bash
# Runs the benchmarks: bench/run.sh [reconcile ...]. Installs aws-cloud-unmap 2.0.0 into
# bench/.venv-seed (gitignored), builds cloud-unmap in release mode, writes bench/out/<name>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloud-unmap/target}"
[ -x .venv/bin/python ] || make venv
if [ ! -x bench/.venv-seed/bin/aws-cloud-unmap ]; then
  python3 -m venv bench/.venv-seed
  bench/.venv-seed/bin/pip install --quiet --disable-pip-version-check aws-cloud-unmap==2.0.0
fi
cargo build --release --quiet
for name in "${@:-reconcile}"; do
  echo "== bench $name" >&2
  .venv/bin/python -m "bench.$name"
done

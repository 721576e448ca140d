#!/usr/bin/env bash
# Proves the Dockerfile's cross toolchain resolves: on a Debian bookworm amd64 host (the Dockerfile's build
# base is bookworm), simulates installing the packages the build stage installs to build linux/arm64 from
# linux/amd64. Changes nothing (apt-get --simulate); refreshes apt's lists first when they are empty and
# it may. On other hosts it says what it cannot check and exits 0.
set -euo pipefail
packages=$(sed -n 's/.*arm64) triple=aarch64-unknown-linux-gnu; cross="\([^"]*\)".*/\1/p' Dockerfile)
[ -n "$packages" ] || { echo "cross-toolchain: no arm64 packages found in the Dockerfile" >&2; exit 1; }
. /etc/os-release 2>/dev/null || true
if [ "${VERSION_CODENAME:-}" != bookworm ] || [ "$(dpkg --print-architecture 2>/dev/null)" != amd64 ]; then
  echo "cross-toolchain: not checked here (needs a Debian bookworm amd64 host; this is ${PRETTY_NAME:-unknown})"
  exit 0
fi
# shellcheck disable=SC2086
if ! apt-cache policy $packages | grep -q 'Candidate: [0-9]'; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq; else echo "cross-toolchain: apt lists are empty; run apt-get update" >&2; exit 1; fi
fi
# shellcheck disable=SC2086
plan=$(apt-get install --simulate --no-install-recommends $packages)
for p in $packages; do
  grep -q "^Conf $p " <<<"$plan" || { echo "cross-toolchain: $p does not resolve" >&2; exit 1; }
done
echo "cross-toolchain: $(grep -c '^Conf ' <<<"$plan") packages resolve for the arm64 build stage ($packages)"

#!/usr/bin/env bash
# Installs the Debian packages amsiwatch needs to build, test and benchmark.
# Does nothing when they are all present. Run as root (or with sudo available).
# With --bench, also the optional packages of the benchmarks (gnuplot-nox: bench/run_soak.sh's plot).
set -euo pipefail

# syslog-ng-core brings loggen, the syslog load generator the tests and benchmarks use; openssl
# the command the TLS tests make their certificates with; prometheus the server and promtool the
# metrics tests scrape and check with; systemd brings systemd-analyze for the unit file's test.
PKGS=(
  build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev
  libuv1-dev zlib1g-dev libdeflate-dev libexpat1-dev libjansson-dev liblz4-dev lz4
  libsodium-dev libssl-dev libcurl4-openssl-dev libyaml-dev libcriterion-dev libmicrohttpd-dev
  libsystemd-dev
  python3 bsdutils syslog-ng-core openssl prometheus systemd
)
if [ "${1:-}" = "--bench" ]; then PKGS+=(gnuplot-nox); fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js (for the Lumberjack client in the integration tests) may come from
# another repository that bundles npm; install Debian's only when there is none.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs npm); fi

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Installs what mds needs (Debian/Ubuntu packages) and builds it into build/.
# As root, missing packages are installed with apt-get; otherwise the exact
# command to run is printed.
# Usage: scripts/setup.sh [--tools | --packages-only] [extra cmake args...]
#   --tools          build only libmds and the five tools (what scripts/demo.sh
#                    runs), not the test suite and benchmarks (scripts/test.sh
#                    builds those)
#   --packages-only  install (or name) the missing packages and build nothing
# MDS_SETUP_BENCH=1 adds what the benchmark scripts use, MDS_SETUP_FUZZ=1 clang
# and its libFuzzer/sanitizer runtimes (scripts/test-sanitize.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake g++ make pkg-config libcli11-dev nlohmann-json3-dev libfmt-dev libzstd-dev zstd libgtest-dev
          libopenblas-dev python3)
# Tools only the benchmark scripts use.
if [[ "${MDS_SETUP_BENCH:-0}" == 1 ]]; then packages+=(sentencepiece); fi
# The sanitizer build and the fuzzers (Debian's clang; libclang-rt-dev holds
# libFuzzer and the ASan/UBSan runtimes).
if [[ "${MDS_SETUP_FUZZ:-0}" == 1 ]]; then packages+=(clang libclang-rt-dev); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]]; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if [[ "${1:-}" == --packages-only ]]; then exit 0; fi

targets=()
if [[ "${1:-}" == --tools ]]; then
  shift
  targets=(--target mds-tokenize mds-inspect mds-train mds-sample mds-eval)
  echo "setup: building libmds and the five tools only (scripts/test.sh builds the test suite)" >&2
  # A first build on a machine without a usable GPU skips the CUDA kernels,
  # which it could not run (half the build time on 2 cores); scripts/test.sh
  # turns them back on (MDS_CUDA=AUTO) where nvcc exists.
  if [[ ! -f build/CMakeCache.txt ]] && ! nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: no usable GPU: building the CPU backend only" >&2
    set -- -DMDS_CUDA=OFF "$@"
  fi
else
  set -- -DMDS_CUDA=AUTO "$@"
fi
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >&2
cmake --build build -j"$jobs" "${targets[@]}" >&2

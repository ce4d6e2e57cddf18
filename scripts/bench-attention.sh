#!/usr/bin/env bash
# CPU sliding-window attention benchmark: forward + backward time at
# L = 1k, 4k, 16k (B = 1, 12 heads x 64, window 256 per side, 2 global tokens)
# to show linear growth. Usage: scripts/bench-attention.sh [BUILD_DIR] [THREADS]
# Needs a built libmds (cmake --build BUILD_DIR --target mds). Prints JSON lines.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
threads="${2:-$(nproc)}"
[ -f "$build/libmds.so" ] || { echo "bench-attention: $build/libmds.so not found; build the 'mds' target first" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
blas_flag=""
if grep -q MDS_HAVE_BLAS "$build/CMakeFiles/mds.dir/flags.make" 2>/dev/null; then blas_flag="-DMDS_HAVE_BLAS=1"; fi
g++ -std=c++17 -O3 -march=x86-64-v2 $blas_flag -DMDS_VERSION='"bench"' -I"$root/lib" -I"$root" \
  "$root/scripts/bench_attention.cpp" -L"$build" -lmds -Wl,-rpath,"$build" -o "$tmp/bench_attention"
"$tmp/bench_attention" "$threads" 256 1024 4096 16384

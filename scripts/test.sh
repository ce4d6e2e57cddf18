#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (CTest:
# GoogleTest units, CLI golden tests; GPU tests skip where no GPU exists).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh "$@"
jobs=$(nproc 2>/dev/null || echo 2)
ctest --test-dir build --output-on-failure -j"$jobs"

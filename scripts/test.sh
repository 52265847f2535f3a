#!/usr/bin/env bash
# Runs every gigadream test:
#   - a Release build in build/ runs everything (unit, CLI, MPI);
#   - a Debug build with AddressSanitizer + UBSan in build-asan/ runs the unit tests;
#   - a clang build in build-clang/ proves the second compiler takes it, warnings as errors.
# Installs missing Debian packages first (scripts/setup.sh --deps-only --no-bench --no-bench).
# Extra arguments go to ctest (e.g. -R engine).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --deps-only --no-bench
jobs=$(nproc)

echo "== Release build (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs" >/dev/null
(cd build && ctest --output-on-failure --no-tests=error "$@")

echo "== AddressSanitizer + UBSan build (build-asan/): unit tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGD_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs" >/dev/null
(cd build-asan && ctest --output-on-failure --no-tests=error -L unit -LE slow "$@")
echo "== clang build (build-clang/): the same warnings as errors"
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-clang -j "$jobs" >/dev/null
echo "== all tests passed"

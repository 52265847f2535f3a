#!/usr/bin/env bash
# Fuzzes one model reader with libFuzzer (AddressSanitizer + UBSan) for a time:
#   scripts/fuzz.sh NAME SECONDS      NAME: onnx, graphdef or tflite
# Builds build-fuzz/ with clang and -DGD_FUZZ=ON (tests/fuzz/fuzz_import.c),
# seeds the corpus build-fuzz/corpus/NAME with real models (the test fixtures'
# small.onnx and inception5h_kind.pb from build/test-tmp/onnx, the shared
# .tflite models), then runs for SECONDS on one core.  Crashes are written to
# build-fuzz/crash-NAME-*; the exit status is libFuzzer's (0: none found).
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-}
secs=${2:-}
case "$name" in onnx | graphdef | tflite) ;; *)
  echo "usage: scripts/fuzz.sh onnx|graphdef|tflite SECONDS" >&2
  exit 1
  ;;
esac
[[ "$secs" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a whole number" >&2; exit 1; }
command -v clang > /dev/null || { echo "fuzz.sh: needs clang (scripts/setup.sh installs it)" >&2; exit 1; }

CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGD_FUZZ=ON > /dev/null
nice -n 10 cmake --build build-fuzz -j2 --target "fuzz_$name" > /dev/null

corpus="build-fuzz/corpus/$name"
mkdir -p "$corpus"
fixtures=build/test-tmp/onnx
mirror=${GIGADREAM_MODEL_MIRROR:-../shared/models}
case "$name" in
  onnx) seeds=("$fixtures"/small.onnx "$fixtures"/bad_*.onnx "$fixtures"/conf/test_lrn.onnx) ;;
  graphdef) seeds=("$fixtures"/inception5h_kind.pb) ;;
  tflite) seeds=("$mirror"/*.tflite) ;;
esac
n=0
for s in "${seeds[@]}"; do
  [ -f "$s" ] && cp "$s" "$corpus/" && n=$((n + 1))
done
[ "$n" -gt 0 ] || echo "fuzz.sh: no seed models found (run ctest -R onnx_fixtures first); starting empty" >&2
echo "fuzz.sh: fuzzing $name for $secs s from $n seeds"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  "build-fuzz/fuzz_$name" -max_total_time="$secs" -rss_limit_mb=4096 -max_len=4000000 \
  -artifact_prefix="build-fuzz/crash-$name-" -print_final_stats=1 "$corpus"

#!/usr/bin/env bash
# Benchmarks the engine: forward + backward-data of one tile, as one dream
# iteration does per tile.  Builds Release into build-rel/ (or BUILD_DIR), then
# runs tests/bench/bench_engine and prints its figures (not pass/fail).
#
# usage: scripts/bench-engine.sh [MODEL.h5 | --synthetic] [--layer NAME] [--tile N]
#                                [--iters N] [--warmup N] [--precision f32|bf16|both]
#   MODEL.h5     default models/mobilenet_v1_1.0_224_quant_embedding_extractor.h5
#                (scripts/fetch-models.sh makes it)
#   --synthetic  MobileNet V1 with random weights instead of a model file
#   --layer      default Conv2d_9_pointwise; --tile default 512; --iters default 10
#   --precision  the engine's arithmetic (default f32); both: f32, then bf16, then the
#                bf16 speed-up (best and mean forward+backward)
# Environment: OMP_NUM_THREADS (default 2), BUILD_DIR (default build-rel).
set -euo pipefail
cd "$(dirname "$0")/.."

model=models/mobilenet_v1_1.0_224_quant_embedding_extractor.h5
synthetic=0
precision=f32
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    --synthetic) synthetic=1 ;;
    --precision)
      [ $# -ge 2 ] || { echo "bench-engine: $1 needs a value" >&2; exit 1; }
      case "$2" in f32|fp32|bf16|both) precision=$2 ;; *) echo "bench-engine: --precision must be f32, bf16 or both" >&2; exit 1 ;; esac
      shift ;;
    --layer|--tile|--iters|--warmup)
      [ $# -ge 2 ] || { echo "bench-engine: $1 needs a value" >&2; exit 1; }
      args+=("$1" "$2"); shift ;;
    -*) echo "bench-engine: unknown option '$1' (try --help)" >&2; exit 1 ;;
    *) model=$1 ;;
  esac
  shift
done

if [ "$synthetic" -eq 0 ] && [ ! -f "$model" ]; then
  echo "bench-engine: $model does not exist: make it with scripts/fetch-models.sh" \
       "(or run with --synthetic for random weights)" >&2
  exit 1
fi

build=${BUILD_DIR:-build-rel}
echo "bench-engine: building Release into $build/" >&2
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target bench_engine >/dev/null

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
what=("$model")
[ "$synthetic" -eq 1 ] && what=(--synthetic)
if [ "$precision" != both ]; then
  exec "$build/tests/bench_engine" "${what[@]}" "${args[@]}" --precision "$precision"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for p in f32 bf16; do
  "$build/tests/bench_engine" "${what[@]}" "${args[@]}" --precision "$p" | tee "$out/$p"
  echo
done
# "forward+back    71.32 ms (best 70.48)" -> "71.32 70.48"
fb() { sed -n 's/^forward+back *\([0-9.]*\) ms (best \([0-9.]*\)).*/\1 \2/p' "$1"; }
read -r m32 b32 < <(fb "$out/f32")
read -r m16 b16 < <(fb "$out/bf16")
awk -v m32="$m32" -v b32="$b32" -v m16="$m16" -v b16="$b16" 'BEGIN {
  printf "bf16 speed-up   %.2fx best (%.2f -> %.2f ms), %.2fx mean (%.2f -> %.2f ms)\n", b32 / b16, b32, b16, m32 / m16, m32, m16 }'

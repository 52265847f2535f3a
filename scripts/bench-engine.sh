#!/usr/bin/env bash
# Benchmarks the engine: forward + backward-data of one tile, as one dream
# iteration does per tile.  Builds Release into build-rel/ (or BUILD_DIR), then
# runs tests/bench/bench_engine and prints its figures (not pass/fail).
#
# usage: scripts/bench-engine.sh [MODEL.h5 | --synthetic] [--layer NAME] [--tile N]
#                                [--iters N] [--warmup N]
#   MODEL.h5     default models/mobilenet_v1_1.0_224_quant_embedding_extractor.h5
#                (scripts/fetch-models.sh makes it)
#   --synthetic  MobileNet V1 with random weights instead of a model file
#   --layer      default Conv2d_9_pointwise; --tile default 512; --iters default 10
# Environment: OMP_NUM_THREADS (default 2), BUILD_DIR (default build-rel).
set -euo pipefail
cd "$(dirname "$0")/.."

model=models/mobilenet_v1_1.0_224_quant_embedding_extractor.h5
synthetic=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    --synthetic) synthetic=1 ;;
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
if [ "$synthetic" -eq 1 ]; then
  exec "$build/tests/bench_engine" --synthetic "${args[@]}"
fi
exec "$build/tests/bench_engine" "$model" "${args[@]}"

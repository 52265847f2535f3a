#!/usr/bin/env bash
# Benchmarks the streamed output (issue 4): writes a synthetic image as a
# tiled TIFF with its pyramid on N ranks, every rank compressing a share of
# the tiles (gd_output), then the former way for comparison (rank 0 gathers
# the rows and compresses alone), and prints each rank's band, resident
# memory before writing, peak after, the difference (what writing cost it at
# most) and the wall time.  The two files must be byte-identical (checked).
# Figures, not pass/fail.
#
# usage: scripts/bench-output.sh [W H] [--ranks N] [--bits 8|16] [--compression NAME]
#   W H          default 8000 8000 (20000 10000 needs about 1.3 GB per rank on 2 ranks)
#   --ranks      default 2
# Environment: OMP_NUM_THREADS (default 1: N ranks x 1 thread), BUILD_DIR (default
# build-rel), TMPDIR (where the files go, default /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."

ranks=2
args=() size=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    --ranks|--bits|--compression)
      [ $# -ge 2 ] || { echo "bench-output: $1 needs a value" >&2; exit 1; }
      if [ "$1" = --ranks ]; then ranks=$2; else args+=("$1" "$2"); fi
      shift ;;
    -*) echo "bench-output: unknown option '$1' (try --help)" >&2; exit 1 ;;
    *) size+=("$1") ;;
  esac
  shift
done
w=${size[0]:-8000} h=${size[1]:-8000}

build=${BUILD_DIR:-build-rel}
echo "bench-output: building Release into $build/" >&2
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target bench_output >/dev/null

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-output.XXXXXX")
trap 'rm -rf "$dir"' EXIT

for mode in distributed gathered; do
  flag=()
  [ "$mode" = gathered ] && flag=(--gather)
  mpirun --oversubscribe -n "$ranks" "$build/tests/bench_output" "$w" "$h" "$dir/$mode.tif" \
    "${args[@]}" "${flag[@]}"
done
cmp "$dir/distributed.tif" "$dir/gathered.tif" && echo "files identical ($(stat -c %s "$dir/distributed.tif") bytes)"
tiffinfo "$dir/distributed.tif" 2>/dev/null | grep -E "^  Image Width" | sed 's/^ */level: /'

#!/usr/bin/env bash
# Benchmarks checkpoints: writes a large octave collectively on N ranks
# (default 12500 x 8000 = 100 megapixels, 1.2 GB of float RGB), then finds,
# validates and reads it back.  Builds Release into build-rel/ (or BUILD_DIR),
# runs tests/bench/bench_checkpoint under mpirun and prints its figures (not
# pass/fail): checkpoint size, write time (collective HDF5 write, fsync,
# rename, retention), validation and read times, peak memory per rank; and,
# for scale, how long dd takes to write (and fsync) as many bytes there.
#
# Then, unless --no-render, one real render of that size (1 octave x 1
# iteration at Conv2d_9_pointwise, checkpointed after its iteration) on the
# same ranks, whose log gives the iteration's time and the checkpoint's write
# time side by side, and their ratio (issue 5: at most 15%).
#
# usage: scripts/bench-checkpoint.sh [-n RANKS] [--size W H] [--repeats N] [--dir DIR] [--no-render]
#   -n         ranks (default 2)
#   --size     octave size (default 12500 8000)
#   --repeats  writes to time (default 3; min, median and max are printed)
#   --dir      folder for the checkpoints (default a fresh one in $BUILD_DIR;
#              removed after); put it on the file system that matters
# Environment: BUILD_DIR (default build-rel).
set -euo pipefail
cd "$(dirname "$0")/.."

ranks=2 w=12500 h=8000 repeats=3 dir= render=1
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -n) [ $# -ge 2 ] || { echo "bench-checkpoint: -n needs a value" >&2; exit 1; }
        ranks=$2; shift ;;
    --size) [ $# -ge 3 ] || { echo "bench-checkpoint: --size needs W H" >&2; exit 1; }
            w=$2 h=$3; shift 2 ;;
    --repeats) [ $# -ge 2 ] || { echo "bench-checkpoint: --repeats needs a value" >&2; exit 1; }
               repeats=$2; shift ;;
    --dir) [ $# -ge 2 ] || { echo "bench-checkpoint: --dir needs a value" >&2; exit 1; }
           dir=$2; shift ;;
    --no-render) render=0 ;;
    *) echo "bench-checkpoint: unknown argument '$1' (try --help)" >&2; exit 1 ;;
  esac
  shift
done

build=${BUILD_DIR:-build-rel}
echo "bench-checkpoint: building Release into $build/" >&2
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target bench_checkpoint gigadream >/dev/null

made=0
if [ -z "$dir" ]; then
  dir=$(mktemp -d "$(cd "$build" && pwd)/bench-checkpoint.XXXXXX")
  made=1
fi
trap '[ "$made" -eq 1 ] && rm -rf "$dir"' EXIT
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
echo "bench-checkpoint: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
mpirun --oversubscribe -n "$ranks" "$build/tests/bench_checkpoint" "$dir" "$w" "$h" "$repeats"
mb=$(( (w * h * 12 + 1048575) / 1048576 ))
start=$(date +%s.%N)
dd if=/dev/zero of="$dir/dd.bin" bs=1M count="$mb" conv=fsync status=none
echo "  dd of the same $mb MB with fsync, for scale: $(echo "$(date +%s.%N) - $start" | bc | xargs printf '%.2f') s"
rm -f "$dir/dd.bin"

[ "$render" -eq 1 ] || exit 0
model=models/mobilenet_v1_1.0_224_quant_embedding_extractor.h5
[ -f "$model" ] || { echo "bench-checkpoint: $model is missing (scripts/fetch-models.sh)" >&2; exit 1; }
images=${GIGADREAM_IMAGE_DIR:-$PWD/../shared/images}
cat >"$dir/job.ini" <<EOT
[input]
image = $images/cat.png
width = $w
height = $h
[model]
file = $PWD/$model
layer = Conv2d_9_pointwise
[dream]
octaves = 1
iterations = 1
[output]
file = $dir/out.tif
pyramid = false
[checkpoint]
dir = $dir/render-ckpt
every_iterations = 1
EOT
echo "render: ${w}x${h}, 1 octave x 1 iteration at Conv2d_9_pointwise on $ranks ranks, checkpointed after it"
OMP_NUM_THREADS=1 mpirun --oversubscribe -n "$ranks" --bind-to core "$build/gigadream" render \
  "$dir/job.ini" 2>"$dir/render.log" >/dev/null || { tail -3 "$dir/render.log" >&2; exit 1; }
it=$(sed -n 's/.*iteration 1\/1: .*//p' "$dir/render.log" >/dev/null; sed -n 's/.*dreamed .* in \([0-9.]*\) s:.*/\1/p' "$dir/render.log")
ck=$(sed -n 's/.*checkpoint .*(dream done; .*) in \([0-9.]*\) s.*/\1/p' "$dir/render.log")
echo "  iteration: $it s"
echo "  checkpoint write: $ck s"
awk -v c="$ck" -v i="$it" 'BEGIN { printf "  checkpoint / iteration: %.1f%% (target <= 15%%)\n", 100 * c / i }'

#!/usr/bin/env bash
# Benchmarks checkpoints: writes a large octave collectively on N ranks
# (default 12500 x 8000 = 100 megapixels, 1.2 GB of float RGB), then finds,
# validates and reads it back.  Builds Release into build-rel/ (or BUILD_DIR),
# runs tests/bench/bench_checkpoint under mpirun and prints its figures (not
# pass/fail): checkpoint size, write time (collective HDF5 write, fsync,
# rename, retention), validation and read times, peak memory per rank; and,
# for scale, how long dd takes to write (and fsync) as many bytes there.
#
# usage: scripts/bench-checkpoint.sh [-n RANKS] [--size W H] [--repeats N] [--dir DIR]
#   -n         ranks (default 2)
#   --size     octave size (default 12500 8000)
#   --repeats  writes to time (default 3; min, median and max are printed)
#   --dir      folder for the checkpoints (default a fresh one in $BUILD_DIR;
#              removed after); put it on the file system that matters
# Environment: BUILD_DIR (default build-rel).
set -euo pipefail
cd "$(dirname "$0")/.."

ranks=2 w=12500 h=8000 repeats=3 dir=
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -n) [ $# -ge 2 ] || { echo "bench-checkpoint: -n needs a value" >&2; exit 1; }
        ranks=$2; shift ;;
    --size) [ $# -ge 3 ] || { echo "bench-checkpoint: --size needs W H" >&2; exit 1; }
            w=$2 h=$3; shift 2 ;;
    --repeats) [ $# -ge 2 ] || { echo "bench-checkpoint: --repeats needs a value" >&2; exit 1; }
               repeats=$2; shift ;;
    --dir) [ $# -ge 2 ] || { echo "bench-checkpoint: --dir needs a value" >&2; exit 1; }
           dir=$2; shift ;;
    *) echo "bench-checkpoint: unknown argument '$1' (try --help)" >&2; exit 1 ;;
  esac
  shift
done

build=${BUILD_DIR:-build-rel}
echo "bench-checkpoint: building Release into $build/" >&2
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target bench_checkpoint >/dev/null

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

#!/usr/bin/env bash
# The 1-gigapixel print of issue 17 on one machine: prints figures, asserts
# only that the render succeeds and that the output is what a print shop
# expects (tiffinfo: BigTIFF, tiled, pyramid levels).
#
#   40000 x 25000 pixels from a shared photo, the default model
#   (MobileNet V1), layer Conv2d_9_pointwise, 2 octaves x 2 iterations,
#   16-bit deflate, pyramid, checkpoints at octave ends, mpirun -n 2,
#   everything else the job's defaults (tiles auto, reflecting border,
#   [engine] memory auto: the render goes out of core by itself).
#
# Prints: wall time, MPix-iter/s, peak RSS of each rank and of both
# together, scratch and checkpoint bytes, the output's size and layout.
#
# usage: scripts/bench-gigapixel.sh [WIDTH HEIGHT]   (default 40000 25000)
# Environment: BENCH_DIR (default /tmp/gigadream-gp: job, log, checkpoints,
# scratch and the output, about 60 GB at the peak), GIGADREAM_IMAGE_DIR
# (default ../shared/images), MODELS (default models/), RANKS (default 2),
# MEMORY (default auto: [engine] memory per rank).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
images=${GIGADREAM_IMAGE_DIR:-$root/../shared/images}
models=${MODELS:-$root/models}
dir=${BENCH_DIR:-/tmp/gigadream-gp}
w=${1:-40000} h=${2:-25000} ranks=${RANKS:-2} memory=${MEMORY:-auto}
model="$models/mobilenet_v1_1.0_224_quant_embedding_extractor.h5"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
[ -f "$model" ] || { echo "bench-gigapixel: $model is missing: run scripts/fetch-models.sh" >&2; exit 1; }
G=${GIGADREAM:-$root/build/gigadream}
if [ -z "${GIGADREAM:-}" ]; then
  echo "bench-gigapixel: building Release into build/" >&2
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j "$(nproc)" >/dev/null
fi
rm -rf "$dir"
mkdir -p "$dir/ckpt"
cat >"$dir/gp.ini" <<EOT
[input]
image = $images/parrot.jpg
width = $w
height = $h
[model]
file = $model
layer = Conv2d_9_pointwise
[dream]
octaves = 2
iterations = 2
[output]
file = $dir/gp.tif
bits = 16
compression = deflate
pyramid = true
overwrite = true
[checkpoint]
dir = $dir/ckpt
keep = 1
[engine]
memory = $memory
EOT
echo "bench-gigapixel: ${w}x${h}, $ranks ranks, $(lscpu | sed -n 's/^Model name: *//p'), $(grep -q avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB"
# Disk use of the bench folder, sampled every 5 s (scratch files are unlinked:
# df sees them, du does not).
df_used() { df -B1 --output=used "$dir" | tail -1; }
base=$(df_used)
( peak=0; while :; do u=$(( $(df_used) - base )); [ $u -gt $peak ] && peak=$u; echo $peak >"$dir/disk.peak"; sleep 5; done ) &
sampler=$!
trap 'kill $sampler 2>/dev/null || true' EXIT
start=$(date +%s.%N)
/usr/bin/env OMP_NUM_THREADS=1 mpirun --oversubscribe -n "$ranks" --bind-to core \
  /usr/bin/time -f "rank-peak-rss-kb %M" "$G" render "$dir/gp.ini" >"$dir/gp.out" 2>"$dir/gp.log" ||
  { echo "bench-gigapixel: the render failed:" >&2; tail -5 "$dir/gp.log" >&2; exit 1; }
end=$(date +%s.%N)
kill $sampler 2>/dev/null || true
awk -v a="$start" -v b="$end" 'BEGIN { printf "wall time: %.1f s\n", b - a }'
grep -E "out of core|dreamed|network sees|checkpoint .* in|scratch files|wrote" "$dir/gp.log" | sed 's/^\[[^]]*\] //'
grep -h "rank-peak-rss-kb" "$dir/gp.log" | awk '{ s += $2; printf "peak RSS of a rank: %.2f GB\n", $2 / 1048576 } END { printf "peak RSS of all ranks together: %.2f GB (target <= 16)\n", s / 1048576 }'
echo "checkpoint bytes: $(du -sb "$dir/ckpt" | cut -f1) ($(du -sh "$dir/ckpt" | cut -f1))"
echo "disk used at the peak (scratch, checkpoints, output): $(awk '{ printf "%.1f GB", $1 / 1073741824 }' "$dir/disk.peak")"
echo "output: $(du -h "$dir/gp.tif" | cut -f1)"
head -c 4 "$dir/gp.tif" | od -An -tx1 | grep -q "2b 00" && echo "BigTIFF: yes" || { echo "BigTIFF: no" >&2; exit 1; }
tiffinfo "$dir/gp.tif" 2>/dev/null | grep -E "Image Width|Tile Width|Bits/Sample|Compression" | sort | uniq -c
levels=$(tiffinfo "$dir/gp.tif" 2>/dev/null | grep -c "Image Width")
tiled=$(tiffinfo "$dir/gp.tif" 2>/dev/null | grep -c "Tile Width")
echo "levels: $levels, tiled: $tiled"
[ "$levels" -gt 1 ] && [ "$tiled" -eq "$levels" ] || { echo "bench-gigapixel: expected a tiled pyramid" >&2; exit 1; }

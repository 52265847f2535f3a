#!/usr/bin/env bash
# Scaling benchmarks of issue 4: prints figures, asserts nothing.
#
#   memory      an 8192x8192 job (1 octave, 1 iteration, cheap layer) on 1 rank
#               and on 2 ranks: peak RSS of each rank, bytes per pixel it owns,
#               and the ratio of the 2-rank peak to the 1-rank peak
#   efficiency  a 4096x4096 job: throughput (megapixel-iterations per second)
#               of 2 ranks x 1 thread against 1 rank x 2 threads
#   big         a 20000x10000 (200 MP) job, 2 octaves x 1 iteration, cheap layer,
#               on 2 ranks: wall time, peak RSS per rank, output size and layout
#   inputs      the measured inputs of the README's scaling model: a 6144x6144
#               job at the defaults (tiles auto, reflect, Conv2d_9_pointwise),
#               1 octave x 2 iterations, 2 ranks x 1 thread, a checkpoint each
#               iteration: throughput per core, halo bytes per iteration and
#               rank boundary, checkpoint bandwidth, memory per pixel
#
# usage: scripts/bench-scale.sh [memory] [efficiency] [big] [inputs]   (default: all four)
# Environment: GIGADREAM_IMAGE_DIR (default ../shared/images), BENCH_DIR
# (default /tmp/gigadream-bench: jobs, logs and outputs; the 200 MP output
# is about 1 GB), MODELS (default models/).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
images=${GIGADREAM_IMAGE_DIR:-$root/../shared/images}
models=${MODELS:-$root/models}
dir=${BENCH_DIR:-/tmp/gigadream-bench}
model="$models/mobilenet_v1_1.0_224_quant_embedding_extractor.h5"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(memory efficiency big inputs)

[ -f "$model" ] || { echo "bench-scale: $model is missing: run scripts/fetch-models.sh" >&2; exit 1; }
mkdir -p "$dir"
echo "bench-scale: building Release into build/" >&2
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
G=$root/build/gigadream

job() { # name width height octaves iterations layer [extra ini lines]
  local name=$1 w=$2 h=$3 oct=$4 it=$5 layer=$6
  cat >"$dir/$name.ini" <<EOT
[input]
image = $images/cat.png
width = $w
height = $h
[model]
file = $model
layer = $layer
[dream]
octaves = $oct
iterations = $it
[output]
file = $dir/$name.tif
overwrite = true
${7:-}
EOT
}

run() { # log ranks threads job
  local log=$1 n=$2 t=$3 j=$4
  # One core per single-threaded rank; a multi-threaded rank gets all its cores
  # (--bind-to core would put all its threads on one).
  local bind=core
  [ "$t" -gt 1 ] && bind=none
  /usr/bin/env OMP_NUM_THREADS="$t" mpirun --oversubscribe -n "$n" --bind-to "$bind" \
    "$G" render "$dir/$j.ini" 2>"$dir/$log.log" >/dev/null ||
    { echo "bench-scale: $j on $n ranks failed:" >&2; tail -3 "$dir/$log.log" >&2; exit 1; }
}

peak() { # log -> "rank bytes bytes-per-pixel" lines
  sed -n 's/.*peak memory of rank \([0-9]*\): \(.*\) (\([0-9.]*\) bytes per pixel of its \([0-9.]*\) MPix band)/\1 \2 \3 \4/p' "$dir/$1.log"
}

to_mb() { awk '{ v = $1; u = $2; m = (u == "GB") ? 1024 : (u == "KB") ? 1 / 1024 : (u == "MB") ? 1 : 1 / 1048576; printf "%.1f\n", v * m }'; }

for part in "${parts[@]}"; do
  case "$part" in
  memory)
    echo "== memory: 8192x8192, 1 octave x 1 iteration, Conv2d_1_pointwise"
    job mem 8192 8192 1 1 Conv2d_1_pointwise "pyramid = false"
    run mem1 1 2 mem
    run mem2 2 1 mem
    p1=$(peak mem1 | awk '{print $2, $3}' | to_mb)
    printf '%-8s %-6s %12s %14s %12s\n' ranks rank "peak MB" "bytes/pixel" "band MPix"
    peak mem1 | while read -r k v u b m; do printf '%-8s %-6s %12s %14s %12s\n' 1 "$k" "$(echo "$v $u" | to_mb)" "$b" "$m"; done
    max2=0
    while read -r k v u b m; do
      mb=$(echo "$v $u" | to_mb)
      printf '%-8s %-6s %12s %14s %12s\n' 2 "$k" "$mb" "$b" "$m"
      limit=$(awk -v m="$m" 'BEGIN { printf "%.1f", (36 * m * 1e6 + 1.5 * 1073741824) / 1048576 }')
      echo "         rank $k budget (36 bytes x owned pixels + 1.5 GB): $limit MB"
      max2=$(awk -v a="$max2" -v b="$mb" 'BEGIN { print (b > a) ? b : a }')
    done < <(peak mem2)
    awk -v a="$max2" -v b="$p1" 'BEGIN { printf "2-rank peak / 1-rank peak: %.3f (target <= 0.6)\n", a / b }'
    ;;
  efficiency)
    echo "== efficiency: 4096x4096, 1 octave x 2 iterations, Conv2d_9_pointwise"
    job eff 4096 4096 1 2 Conv2d_9_pointwise "pyramid = false"
    run eff1 1 2 eff
    run eff2 2 1 eff
    r1=$(sed -n 's/.*: \([0-9.]*\) MPix-iter\/s.*/\1/p' "$dir/eff1.log")
    r2=$(sed -n 's/.*: \([0-9.]*\) MPix-iter\/s.*/\1/p' "$dir/eff2.log")
    echo "1 rank x 2 threads: $r1 MPix-iter/s"
    echo "2 ranks x 1 thread: $r2 MPix-iter/s"
    awk -v a="$r2" -v b="$r1" 'BEGIN { printf "efficiency (2x1 / 1x2): %.1f%% (target >= 90%%)\n", 100 * a / b }'
    ;;
  big)
    echo "== big: 20000x10000 (200 MP), 2 octaves x 1 iteration, Conv2d_1_pointwise, 2 ranks"
    job big 20000 10000 2 1 Conv2d_1_pointwise "bigtiff = true"
    start=$(date +%s.%N)
    run big2 2 1 big
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "wall time: %.1f s\n", b - a }'
    grep -E "dreamed|wrote" "$dir/big2.log" | sed 's/^\[[^]]*\] //'
    peak big2 | while read -r k v u b m; do echo "rank $k peak RSS: $v $u ($b bytes per pixel of its $m MPix band)"; done
    echo "output: $(du -h "$dir/big.tif" | cut -f1)"
    tiffinfo "$dir/big.tif" 2>/dev/null | grep -E "Image Width|Tile Width|Subfile Type" | sort | uniq -c
    head -c 4 "$dir/big.tif" | od -An -tx1 | grep -q "2b 00" && echo "BigTIFF: yes" || echo "BigTIFF: no"
    ;;
  inputs)
    echo "== inputs of the scaling model: 6144x6144, defaults, Conv2d_9_pointwise, 1 octave x 2 iterations, 2 ranks x 1 thread"
    echo "   ($(lscpu | sed -n 's/^Model name: *//p'), $(grep -q avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2))"
    rm -rf "$dir/inputs-ckpt"
    job inputs 6144 6144 1 2 Conv2d_9_pointwise "pyramid = false
[checkpoint]
dir = $dir/inputs-ckpt
every_iterations = 1
keep = 1"
    run inputs 2 1 inputs
    rate=$(sed -n 's/.*: \([0-9.]*\) MPix-iter\/s.*/\1/p' "$dir/inputs.log")
    seen=$(sed -n 's/.*the network saw \([0-9.]*\)x.*/\1/p' "$dir/inputs.log")
    echo "throughput: $rate MPix-iter/s on 2 cores = $(awk -v r="$rate" 'BEGIN { printf "%.2f", r / 2 }') MPix-iter/s per core (network sees ${seen}x the pixels)"
    # Per rank boundary and iteration, measured: the most bytes any rank sent
    # to the others (image rows its neighbour's tiles read, gradient rows of
    # its tiles that land in the neighbour's band), from the render's log; the
    # bound beside it: 2 x (tile + 2 overlap) rows x width x 12 bytes.
    size=$(sed -n 's/.*tiles auto: \([0-9]*\).*/\1/p' "$dir/inputs.log" | head -1)
    halo=$(sed -n 's/.*halo exchange: at most \(.*\) sent by a rank over \([0-9]*\) iterations (\(.*\) per iteration).*/\3/p' "$dir/inputs.log")
    awk -v w=6144 -v s="${size:-1024}" -v m="$halo" 'BEGIN { rows = s + 64; printf "halo per rank boundary and iteration: %s measured (most any rank sent), at most %.1f MB by the bound 2 x %d rows x %d px x 12 B; %.0f bytes per image column by the bound\n", m, 2 * rows * w * 12 / 1048576, rows, w, 2 * rows * 12 }'
    ck=$(sed -n 's/.*checkpoint .*(dream done; .*) in \([0-9.]*\) s.*/\1/p' "$dir/inputs.log" | tail -1)
    bytes=$(du -sb "$dir/inputs-ckpt" | cut -f1)
    awk -v b="$bytes" -v t="$ck" 'BEGIN { printf "checkpoint: %.2f GB in %s s = %.2f GB/s (2 ranks, local disk)\n", b / 1e9, t, b / 1e9 / t }'
    peak inputs | while read -r k v u b m; do echo "memory: rank $k peak $v $u = $b bytes per pixel of its $m MPix band (in core)"; done
    ;;
  *) echo "bench-scale: unknown part '$part' (memory, efficiency, big, inputs)" >&2; exit 1 ;;
  esac
done

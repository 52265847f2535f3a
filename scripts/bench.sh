#!/usr/bin/env bash
# The benchmark of issue 6: gigadream against a plain PyTorch CPU deep dream
# and against the machine's sgemm peak, on one job.  Prints figures, asserts
# nothing.
#
# usage: scripts/bench.sh [--repeat N] [--no-check] [--no-bf16] [--isa avx2] [--set section.key=value]...
#        scripts/bench.sh --tiles [--sizes "S..."] [--overlaps "O..."] [--repeat N] [--set ...]
#
#   (default)  builds Release into build/, makes the job's model (fetch-models.sh),
#              measures the sgemm peak (tests/bench/sgemm_peak.c: OpenBLAS, 2048^3
#              and 4096^3), runs `gigadream render` (1 rank) and the PyTorch peer
#              (scripts/peer_torch_dream.py) on the job N times each (default 3,
#              alternating, each after waiting for an idle machine), and prints
#              one table: MPix-iter/s (best, median), GFLOP/s counted from the
#              graph on the image's pixels, % of the sgemm peak, ratio to
#              PyTorch, peak RSS, halo overhead (pixels the network saw / image
#              pixels); then the peer's sanity checks against gigadream (PSNR).
#              When the job runs in fp32 and the CPU has AVX-512 BF16, gigadream also
#              runs the job with --set engine.precision=bf16 (alternating with the
#              others): a "gigadream bf16" row with its speed-up over fp32.
#   --tiles    sweeps [tiles] size x overlap (gigadream only; default sizes
#              "256 384 512 640 768 1024", overlaps "16 32 64"): MPix-iter/s and
#              halo overhead per setting (runs round-robin over the settings, N
#              each), and the fastest within the 1.3x bound, over all settings and
#              at each overlap.
#   --set      passed to both gigadream and the peer (e.g. --set tiles.border=wrap); the
#              peer ignores [engine] keys (it always runs fp32)
#   --no-check skips the sanity checks (about 40 s)
#   --no-bf16  no bf16 row
#   --isa avx2 caps all three programs to AVX2+FMA on an AVX-512 CPU, to measure what
#              an AVX2-only node (e.g. AMD Zen 3) gets: ONEDNN_MAX_CPU_ISA=AVX2 for
#              gigadream (its own kernels follow oneDNN's ISA) and for PyTorch's oneDNN,
#              ATEN_CPU_CAPABILITY=avx2 for PyTorch's own kernels, OPENBLAS_CORETYPE=Haswell
#              for the sgemm peak; no bf16 row
# Environment: JOB (default jobs/bench-2048.ini), THREADS (default 2),
#   BENCH_DIR (default /tmp/gigadream-bench: logs, outputs), BENCH_IDLE_WAIT
#   (seconds to wait for an idle machine before each run, default 300),
#   PYTHON (default /usr/bin/python3: Debian's, where python3-torch lives).
# Needs what scripts/setup.sh installs (python3-torch, python3-h5py,
# python3-numpy, python3-pil, libopenblas-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
job=${JOB:-jobs/bench-2048.ini}
threads=${THREADS:-2}
dir=${BENCH_DIR:-/tmp/gigadream-bench}
idle_wait=${BENCH_IDLE_WAIT:-300}
py=${PYTHON:-/usr/bin/python3}
G=$root/build/gigadream
peer=$root/scripts/peer_torch_dream.py

mode=bench repeat="" check=1 bf16=1 isa="" sizes="256 384 512 640 768 1024" overlaps="16 32 64"
sets=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    --tiles) mode=tiles ;;
    --no-check) check=0 ;;
    --no-bf16) bf16=0 ;;
    --repeat|--sizes|--overlaps|--set|--isa)
      [ $# -ge 2 ] || { echo "bench: $1 needs a value" >&2; exit 1; }
      case "$1" in
        --repeat) repeat=$2 ;;
        --sizes) sizes=$2 ;;
        --overlaps) overlaps=$2 ;;
        --set) sets+=(--set "$2") ;;
        --isa) isa=$2 ;;
      esac
      shift ;;
    *) echo "bench: unknown argument '$1' (try --help)" >&2; exit 1 ;;
  esac
  shift
done
[ -n "$repeat" ] || { [ "$mode" = tiles ] && repeat=1 || repeat=3; }
[ "$repeat" -ge 1 ] 2>/dev/null || { echo "bench: --repeat must be >= 1" >&2; exit 1; }
[ -f "$job" ] || { echo "bench: no job file $job" >&2; exit 1; }
case "$isa" in
  "") ;;
  avx2)
    grep -qw avx2 /proc/cpuinfo || { echo "bench: --isa avx2 on a CPU without AVX2" >&2; exit 1; }
    export ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2
    bf16=0 ;;
  *) echo "bench: --isa takes only 'avx2'" >&2; exit 1 ;;
esac

say() { echo "bench: $*" >&2; }

# ---- The job's keys (the file, then --set overrides), as gigadream reads them ----

ini_get() { # file section key -> value, exit 1 when absent
  awk -v s="$2" -v k="$3" '
    /^[ \t]*[#;]/ { next }
    /^[ \t]*\[/ { sec = $0; gsub(/[][ \t\r]/, "", sec); next }
    sec == s && index($0, "=") {
      key = substr($0, 1, index($0, "=") - 1); gsub(/[ \t]/, "", key)
      if (key != k) next
      v = substr($0, index($0, "=") + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+;.*$/, "", v); sub(/[ \t\r]+$/, "", v)
      val = v; found = 1
    }
    END { if (found) print val; else exit 1 }' "$1"
}

job_value() { # section key default
  local v i
  v=$(ini_get "$job" "$1" "$2") || v=$3
  for ((i = 1; i < ${#sets[@]}; i += 2)); do
    case "${sets[i]}" in "$1.$2="*) v=${sets[i]#*=} ;; esac
  done
  echo "$v"
}

# ---- An idle machine, and who else used it during a run ----

busy_jiffies() { # CPU time the whole machine spent not idle (user nice system irq softirq steal)
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

wait_idle() { # waits until the machine is idle (< 10% busy over 3 s) or BENCH_IDLE_WAIT passes
  local start=$SECONDS a b pct
  while :; do
    a=$(busy_jiffies); sleep 3; b=$(busy_jiffies)
    pct=$(awk -v d=$((b - a)) -v hz="$(getconf CLK_TCK)" -v n="$(nproc)" 'BEGIN { printf "%d", 100 * d / hz / 3 / n }')
    [ "$pct" -lt 10 ] && return 0
    if [ $((SECONDS - start)) -ge "$idle_wait" ]; then
      say "the machine is still ${pct}% busy after ${idle_wait} s: measuring anyway (see 'others' in the table)"
      return 0
    fi
    sleep 3
  done
}

cpu_of_times() { # FILE written by bash's times builtin -> CPU seconds of the shell's finished children
  awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); t += p[1] * 60 + p[2] } printf "%.2f\n", t }' "$1"
}

# run_measured LOG CMD...: runs CMD (stdout+stderr to LOG) on an idle machine;
# appends to LOG a line "bench-run: wall=S others=P" (P: % of the machine's CPU
# used by other processes during the run).  A run that others disturbed (P > 10)
# is run again, at most twice.
run_measured() {
  local log=$1; shift
  local attempt j0 c0 t0 j1 c1 t1 rc others
  for attempt in 1 2 3; do
    wait_idle
    rc=0
    # times must run in this shell, not in a $(...) subshell, which has no children yet.
    j0=$(busy_jiffies); times >"$dir/times0"; t0=$(date +%s.%N)
    "$@" >"$log" 2>&1 || rc=$?
    t1=$(date +%s.%N); times >"$dir/times1"; j1=$(busy_jiffies)
    if [ $rc -ne 0 ]; then
      say "failed (exit $rc): $*"
      tail -5 "$log" >&2
      exit 1
    fi
    c0=$(cpu_of_times "$dir/times0"); c1=$(cpu_of_times "$dir/times1")
    others=$(awk -v j=$((j1 - j0)) -v hz="$(getconf CLK_TCK)" -v n="$(nproc)" -v c0="$c0" -v c1="$c1" \
      -v t0="$t0" -v t1="$t1" 'BEGIN { o = (j / hz - (c1 - c0)) / ((t1 - t0) * n) * 100; printf "%.1f", (o < 0 ? 0 : o) }')
    echo "bench-run: wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') others=$others" >>"$log"
    awk -v o="$others" 'BEGIN { exit !(o > 10) }' || return 0
    if [ $attempt -lt 3 ]; then
      say "other processes took ${others}% of the machine during that run: running it again"
    else
      say "other processes took ${others}% of the machine during that run too: keeping it"
    fi
  done
  return 0
}

field() { # LOG KEY: the value of KEY=value in a peer-result/peer-compare/bench-run line
  sed -n "s/.*[ :]$2=\([^ ]*\).*/\1/p" "$1" | tail -1
}

to_mb() { awk '{ v = $1; u = $2; m = (u == "GB") ? 1024 : (u == "KB") ? 1 / 1024 : (u == "MB") ? 1 : 1 / 1048576; printf "%.0f\n", v * m }'; }

gd_log() { # LOG -> "rate seconds mpix halo rss_mb gain"
  local rate secs mpix halo rss gain
  rate=$(sed -n 's/.*: \([0-9.]*\) MPix-iter\/s.*/\1/p' "$1")
  secs=$(sed -n 's/.*MPix-iterations in \([0-9.]*\) s.*/\1/p' "$1")
  mpix=$(sed -n 's/.*dreamed \([0-9.]*\) MPix-iterations.*/\1/p' "$1")
  halo=$(sed -n 's/.*the network saw \([0-9.]*\)x the \(image.s \)\{0,1\}pixels.*/\1/p' "$1")
  rss=$(sed -n 's/.*peak memory of rank 0: \([0-9.]*\) \([KMG]*B\).*/\1 \2/p' "$1" | to_mb)
  gain=$(sed -n 's/.*objective on the output: [0-9.e+-]* (\([0-9.]*\)x.*/\1/p' "$1")
  echo "$rate $secs $mpix $halo $rss $gain"
}

stats() { # numbers on stdin -> "best median" (best = largest)
  sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s %s\n", v[NR], m }'
}

# ---- Build, model, environment ----

mkdir -p "$dir" "$root/out"
for m in torch h5py numpy PIL; do
  "$py" -c "import $m" 2>/dev/null || { say "$py cannot import $m: run scripts/setup.sh (it installs python3-torch, python3-h5py, python3-numpy, python3-pil)"; exit 1; }
done
say "building Release into build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
model_file=$(job_value model file "")
case "$model_file" in /*) ;; *) model_file=$(dirname "$job")/$model_file ;; esac
scripts/fetch-models.sh "$(basename "$model_file" .h5)" >&2
[ -f "$model_file" ] || { say "the job's model $model_file is missing"; exit 1; }

export OMP_NUM_THREADS=$threads OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
size=$(job_value tiles size 512)
overlap=$(job_value tiles overlap 64)
border=$(job_value tiles border reflect)
read -r job_gflop _ kflop_px < <("$py" "$peer" "$job" "${sets[@]}" --flops |
  sed -n 's/peer-flops: gflop=\([^ ]*\) mpix_iter=\([^ ]*\) kflop_per_pixel=\([^ ]*\)/\1 \2 \3/p')
desc="$(job_value input width 0)x$(job_value input height 0), $(job_value model layer ""), $(job_value dream octaves 4) octave(s) x $(job_value dream iterations 10) iteration(s)"
load0=$(cut -d' ' -f1-3 /proc/loadavg)

gd_render() { # LOG [--set ...]: one gigadream render of the job, 1 rank
  local log=$1; shift
  run_measured "$log" "$G" render "$job" "${sets[@]}" --set "output.file=$dir/out.tif" "$@"
}

# ---- --tiles: the tile size and overlap sweep ----

if [ "$mode" = tiles ]; then
  settings=()
  for s in $sizes; do
    for o in $overlaps; do
      [ $((2 * o)) -le "$s" ] && settings+=("$s $o")
    done
  done
  # Round-robin: repeat r of every setting runs before repeat r+1 of any, so a
  # machine whose speed drifts over minutes favours no setting.
  rm -f "$dir"/sweep-rates-*
  for ((r = 1; r <= repeat; r++)); do
    for so in "${settings[@]}"; do
      read -r s o <<<"$so"
      say "sweep $r/$repeat: size $s, overlap $o"
      gd_render "$dir/sweep-$s-$o-$r.log" --set "tiles.size=$s" --set "tiles.overlap=$o"
      read -r rate _ _ halo _ _ < <(gd_log "$dir/sweep-$s-$o-$r.log")
      echo "$rate $halo $(field "$dir/sweep-$s-$o-$r.log" others)" >>"$dir/sweep-rates-$s-$o"
    done
  done
  echo "gigadream tile sweep: $job ($desc), border $border, $threads threads, 1 rank, $repeat run(s) each, round-robin"
  printf '%6s %8s %13s %13s %10s %8s %8s\n' size overlap "best MPix-i/s" "median" "halo" "<=1.3x" "others%"
  : >"$dir/sweep"
  for so in "${settings[@]}"; do
    read -r s o <<<"$so"
    f=$dir/sweep-rates-$s-$o
    read -r best med < <(cut -d' ' -f1 "$f" | stats)
    halo=$(cut -d' ' -f2 "$f" | tail -1)
    others=$(awk '$3 > m { m = $3 } END { printf "%.1f", m }' "$f")
    ok=$(awk -v h="$halo" 'BEGIN { print (h <= 1.3) ? "yes" : "no" }')
    printf '%6s %8s %13s %13s %9sx %8s %8s\n' "$s" "$o" "$best" "$med" "$halo" "$ok" "$others"
    echo "$s $o $best $halo $ok $med" >>"$dir/sweep"
  done
  # The verdicts: over all settings, and per overlap (the overlap is also a
  # quality setting: tests/unit/test_render_seams.c needs 32 for seamless tiles).
  verdict() { # awk filter, label
    awk "$1"' && $5 == "yes" && $3 > b { b = $3; s = $1; o = $2; h = $4; m = $6 }
         END { if (b) printf "fastest within the 1.3x halo bound%s: size %s, overlap %s: best %s, median %s MPix-iter/s (halo %sx)\n", "'"$2"'", s, o, b, m, h;
               else print "no setting'"$2"' is within the 1.3x halo bound" }' "$dir/sweep"
  }
  verdict 1 ""
  for o in $overlaps; do verdict "\$2 == $o" " at overlap $o"; done
  echo "load average before: $load0; the job's own setting: size $size, overlap $overlap"
  exit 0
fi

# ---- The sgemm peak ----

peak=""
if [ -x build/tests/sgemm_peak ]; then
  say "sgemm peak (OpenBLAS, $threads threads)"
  wait_idle
  # OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, set on some machines to work around old
  # OpenBLAS bugs, would force slower kernels: the peak is measured without them
  # (the line printed names the kernels OpenBLAS chose).
  coretype=()
  [ "$isa" = avx2 ] && coretype=(OPENBLAS_CORETYPE=Haswell)
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$threads" "${coretype[@]}" \
    build/tests/sgemm_peak 2048 4096 --reps 20 >"$dir/sgemm.log"
  peak=$(sed -n 's/sgemm N=2048 .* best \([0-9.]*\) GFLOP.*/\1/p' "$dir/sgemm.log")
else
  say "build/tests/sgemm_peak was not built (OpenBLAS not found: scripts/setup.sh installs libopenblas-dev)"
fi

# ---- The runs: gigadream and the peer, alternating ----

# The bf16 row: the same job with [engine] precision = bf16, when the job is fp32 and the
# CPU has AVX-512 BF16 (gigadream refuses bf16 otherwise, and says why).
precision=$(job_value engine precision fp32)
if [ "$bf16" -eq 1 ] && [ "$precision" != fp32 ]; then
  bf16=0
elif [ "$bf16" -eq 1 ] && ! grep -qw avx512_bf16 /proc/cpuinfo; then
  say "no bf16 row: this CPU has no AVX-512 BF16"
  bf16=0
fi

: >"$dir/gd" && : >"$dir/gd16" && : >"$dir/torch"
for ((r = 1; r <= repeat; r++)); do
  say "run $r/$repeat: gigadream"
  gd_render "$dir/gd-$r.log"
  echo "$(gd_log "$dir/gd-$r.log") $(field "$dir/gd-$r.log" others)" >>"$dir/gd"
  if [ "$bf16" -eq 1 ]; then
    say "run $r/$repeat: gigadream bf16"
    gd_render "$dir/gd16-$r.log" --set engine.precision=bf16
    echo "$(gd_log "$dir/gd16-$r.log") $(field "$dir/gd16-$r.log" others)" >>"$dir/gd16"
  fi
  say "run $r/$repeat: PyTorch peer"
  run_measured "$dir/torch-$r.log" "$py" "$peer" "$job" "${sets[@]}" --threads "$threads"
  l=$dir/torch-$r.log
  echo "$(field "$l" mpix_iter_s) $(field "$l" seconds) $(field "$l" mpix_iter) 1.00 $(field "$l" peak_rss_mb) $(field "$l" gain) $(field "$l" others)" >>"$dir/torch"
done

# ---- The table ----

read -r gd_best gd_med < <(cut -d' ' -f1 "$dir/gd" | stats)
read -r pt_best pt_med < <(cut -d' ' -f1 "$dir/torch" | stats)
others=$(cat "$dir/gd" "$dir/gd16" "$dir/torch" | awk '$7 > m { m = $7 } END { printf "%.1f", m }')
row() { # name file best median note
  local rss halo
  rss=$(awk -v b="$3" '$1 == b { print $5; exit }' "$2")
  halo=$(awk -v b="$3" '$1 == b { print $4; exit }' "$2")
  awk -v n="$1" -v b="$3" -v m="$4" -v k="$kflop_px" -v p="$peak" -v t="$pt_best" -v tm="$pt_med" \
    -v rss="$rss" -v h="$halo" -v note="$5" 'BEGIN {
      g = b * k; gm = m * k # MPix/s x kFLOP/pixel = GFLOP/s
      pk = p != "" ? sprintf("%.1f%%", 100 * g / p) : "n/a"
      printf "%-15s %7.3f %7.3f  %7.1f %7.1f  %7s  %6.2fx %6.2fx  %6.0f MB  %5.2fx%s\n", n, b, m, g, gm, pk, b / t, m / tm, rss, h, note }'
}
echo
echo "== issue 6 benchmark: $job ($desc), tiles $size (+$overlap overlap, border $border)"
echo "   gigadream $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src include 2>/dev/null || echo ' + changes in src/ or include/'); $(lscpu | sed -n 's/^Model name: *//p')"
if [ -n "$isa" ]; then
  echo "   ISA capped to $isa (ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2, OPENBLAS_CORETYPE=Haswell) on a CPU with: $(grep -o -w -E 'avx512f|avx512_bf16|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
else
  echo "   ISA: $(grep -o -w -E 'avx512f|avx512_bf16|avx2|asimd' /proc/cpuinfo | sort -u | tr '\n' ' ')"
fi
echo "   $threads threads, 1 rank; $repeat run(s) each, alternating; graph cost $kflop_px kFLOP/pixel/iteration (forward + backward-data), $job_gflop GFLOP for the job"
if [ -n "$peak" ]; then
  sed 's/^/   /' "$dir/sgemm.log"
else
  echo "   sgemm peak: not measured (no OpenBLAS)"
fi
echo
printf '%-15s %15s  %15s  %7s  %14s  %9s  %6s\n' "" "MPix-iter/s" "GFLOP/s" "% sgemm" "vs PyTorch" "peak RSS" "halo"
printf '%-15s %7s %7s  %7s %7s  %7s  %7s %6s\n' "" best median best median "(best)" best median
row "gigadream $precision" "$dir/gd" "$gd_best" "$gd_med" ""
if [ "$bf16" -eq 1 ]; then
  read -r b16_best b16_med < <(cut -d' ' -f1 "$dir/gd16" | stats)
  row "gigadream bf16" "$dir/gd16" "$b16_best" "$b16_med" \
    "$(awk -v b="$b16_best" -v m="$b16_med" -v fb="$gd_best" -v fm="$gd_med" \
      'BEGIN { printf " (%.2fx fp32; median %.2fx)", b / fb, m / fm }')"
fi
row "PyTorch $("$py" -c 'import torch; print(torch.__version__.split("+")[0][:4])')" "$dir/torch" "$pt_best" "$pt_med" " (notebook tiles, no context)"
echo
echo "GFLOP/s: the graph's FLOPs on the image's pixels (not the tile extents) over the dream's time;"
echo "% sgemm: of the 2048^3 sgemm best (fp32, also for the bf16 row); halo: pixels the network saw /"
echo "image pixels (gigadream's log)."
echo "load average before: $load0; other processes used at most ${others}% of the machine during a run"
gain16=""
[ "$bf16" -eq 1 ] && gain16=", gigadream bf16 $(awk -v b="$b16_best" '$1 == b { print $6; exit }' "$dir/gd16")x"
echo "objective gain after the job (each program's own measure): gigadream $(awk -v b="$gd_best" '$1 == b { print $6; exit }' "$dir/gd")x$gain16, PyTorch $(awk -v b="$pt_best" '$1 == b { print $6; exit }' "$dir/torch")x"

# ---- Sanity checks of the peer, against gigadream ----

[ "$check" -eq 1 ] || exit 0
say "sanity checks"
checked() { # LOG CMD...: runs CMD, output to LOG; a failure stops the script with LOG's end
  local log=$1; shift
  "$@" >"$log" 2>&1 || { say "failed: $*"; tail -5 "$log" >&2; exit 1; }
}
echo
echo "peer sanity checks (PSNR of the peer's float result against gigadream's, peak 255):"
exact="--set input.width=768 --set input.height=0 --set tiles.size=0 --set tiles.overlap=0 --set dream.iterations=1"
for oct in 1 3; do
  rm -rf "$dir/ck-exact$oct"
  # shellcheck disable=SC2086
  checked "$dir/exact$oct-gd.log" "$G" render "$job" "${sets[@]}" $exact --set dream.octaves=$oct \
    --set "checkpoint.dir=$dir/ck-exact$oct" --set "output.file=$dir/exact$oct.tif"
  ck=("$dir/ck-exact$oct"/*.h5) # the last: the dream done
  l=$dir/exact$oct-torch.log
  # shellcheck disable=SC2086
  checked "$l" "$py" "$peer" "$job" "${sets[@]}" $exact --set dream.octaves=$oct --threads "$threads" --quiet \
    --compare "${ck[-1]}"
  echo "  no tiles, 768x512, $oct octave(s) x 1 iteration: PSNR $(field "$l" psnr_result) dB" \
    "(the dream moved the seed by $(field "$l" psnr_result_seed) dB); update correlation $(field "$l" update_correlation)"
done
rm -rf "$dir/ck-1"
checked "$dir/it1-gd.log" "$G" render "$job" "${sets[@]}" --set dream.iterations=1 --set "checkpoint.dir=$dir/ck-1" \
  --set "output.file=$dir/it1.tif"
seed=$(job_value dream seed 0)
checked "$dir/it1-torch2.log" "$py" "$peer" "$job" "${sets[@]}" --set dream.iterations=1 --set "dream.seed=$((seed + 1))" \
  --threads "$threads" --quiet --save "$dir/it1-other-shift.npy"
ck=("$dir/ck-1"/*.h5)
l=$dir/it1-torch.log
checked "$l" "$py" "$peer" "$job" "${sets[@]}" --set dream.iterations=1 --threads "$threads" --quiet \
  --compare "${ck[-1]}" --compare "$dir/it1-other-shift.npy"
c1=$(grep "ck-1" "$l") c2=$(grep "other-shift" "$l")
echo "  the job, 1 iteration: PSNR $(echo "$c1" | sed -n 's/.*psnr_result=\([^ ]*\).*/\1/p') dB against gigadream," \
  "$(echo "$c2" | sed -n 's/.*psnr_result=\([^ ]*\).*/\1/p') dB against the peer with another random shift" \
  "(update correlation $(echo "$c1" | sed -n 's/.*update_correlation=\([^ ]*\).*/\1/p') and $(echo "$c2" | sed -n 's/.*update_correlation=\([^ ]*\).*/\1/p'));" \
  "the update moved the seed by $(field "$l" psnr_result_seed) dB"
echo "  layer activation gain after 1 iteration (both measured by the peer): PyTorch $(field "$l" gain)x," \
  "gigadream $(echo "$c1" | sed -n 's/.*gain_file=\([^ ]*\).*/\1/p')x"

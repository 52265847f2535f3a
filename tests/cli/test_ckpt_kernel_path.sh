#!/usr/bin/env bash
# Issue 18, one path per job.  A checkpoint records the kernel path it was
# written on (oneDNN's ISA / own kernels' table or onednn / precision); a
# resume on another path is refused (exit 1, one line naming both paths)
# unless --allow-other-cpu, which resumes with a warning.  The other path is
# forced with ONEDNN_MAX_CPU_ISA (AVX2; SSE41 where AVX2 is already the
# CPU's best).  And ranks on different ISAs run the lowest: two ranks, one
# capped at that ISA, give the bytes of two ranks both capped at it.
# gd-test: needs-models
# gd-test: ranks
# gd-test: timeout 600
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1
cat >job.ini <<EOT
[input]
image = $IMG/cat.png
width = 320
[model]
file = $V1
layer = Conv2d_5_pointwise
[dream]
octaves = 1
iterations = 3
seed = 5
[tiles]
size = 160
[output]
file = out.tif
overwrite = true
[checkpoint]
dir = ckpt
every_iterations = 1
keep = 5
EOT

path_of() { sed -n 's/^\(\[[^]]*\] \)\{0,1\}kernel path \([^ ]*\).*/\2/p' "$1" | head -1; }

# This CPU's own path, then a run on a lower one, writing the checkpoints.
render_ok native.log job.ini --set checkpoint.dir=ckpt-native --set output.file=native.tif
native=$(path_of native.log)
[ -n "$native" ] || fail "the log names no kernel path: $(head -5 native.log)"
cap=AVX2
[ "${native%%/*}" != avx2 ] || cap=SSE41
ONEDNN_MAX_CPU_ISA=$cap render_ok low.log job.ini
low=$(path_of low.log)
[ -n "$low" ] && [ "$low" != "$native" ] ||
  fail "ONEDNN_MAX_CPU_ISA=$cap did not change the kernel path ($native -> '$low')"
echo "paths: this CPU $native, capped at $cap $low"
ck=$(ls ckpt/*.h5 | sort | head -1) # after iteration 1 of 3
"$GIGADREAM" info "$ck" | grep -q "kernels *$low\$" || fail "info does not show kernels $low"

# Resumed on the CPU's own path: refused, one line naming both paths.
expect_fail 1 "written on kernel path $low, this run's is $native.*--allow-other-cpu" \
  "$GIGADREAM" render job.ini --resume "$ck" --quiet
[ ! -e out.tif.tmp ] || fail "a refused resume left a partial output"
# The folder's newest checkpoint is refused the same way (no --resume).
expect_fail 1 "written on kernel path $low, this run's is $native" \
  "$GIGADREAM" render job.ini --quiet

# With --allow-other-cpu: resumed, with a warning that the bytes will differ.
rm -f out.tif
render_ok allow.log job.ini --resume "$ck" --allow-other-cpu
grep -q "warning: .* kernel path $low, this run's is $native (--allow-other-cpu): the output's bytes will differ" allow.log ||
  fail "no warning on --allow-other-cpu: $(head -3 allow.log)"
grep -q "resumed from $ck" allow.log || fail "--allow-other-cpu did not resume"
[ -s out.tif ] || fail "--allow-other-cpu wrote no output"

# On the path it was written on, the same checkpoint resumes silently into
# the uninterrupted capped run's bytes.
cp out.tif other.tif
ONEDNN_MAX_CPU_ISA=$cap render_ok ref.log job.ini --set checkpoint.dir=ckpt-ref --set output.file=ref.tif
ONEDNN_MAX_CPU_ISA=$cap render_ok same.log job.ini --resume "$ck"
! grep -q warning same.log || fail "a resume on the same path warned: $(grep warning same.log)"
cmp -s out.tif ref.tif || fail "resumed on its own path: bytes differ from the uninterrupted run"

# Two ranks, only rank 1 capped: both run the capped path, and the bytes are
# those of two ranks both capped.
mpirun --oversubscribe -n 2 -x ONEDNN_MAX_CPU_ISA=$cap "$GIGADREAM" render job.ini --restart \
  --set checkpoint.dir=ckpt-2a --set output.file=both.tif >both.log 2>&1 ||
  fail "2 capped ranks failed: $(tail -3 both.log)"
mpirun --oversubscribe -n 1 "$GIGADREAM" render job.ini --restart --set checkpoint.dir=ckpt-2b \
  --set output.file=mixed.tif : -n 1 -x ONEDNN_MAX_CPU_ISA=$cap "$GIGADREAM" render job.ini \
  --restart --set checkpoint.dir=ckpt-2b --set output.file=mixed.tif >mixed.log 2>&1 ||
  fail "mixed ranks failed: $(tail -3 mixed.log)"
grep -q "kernel path $low (lowered to the ranks' common ISA)" mixed.log ||
  fail "rank 0 did not lower its path to $low: $(grep 'kernel path' mixed.log)"
cmp -s mixed.tif both.tif || fail "mixed ranks: bytes differ from two ranks both capped at $cap"
echo "ok: refused ($low vs $native), --allow-other-cpu resumed, mixed ranks ran $low"

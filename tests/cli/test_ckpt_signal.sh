#!/usr/bin/env bash
# Issue 5, acceptance 2: SIGTERM mid-iteration writes a checkpoint within 30 s
# and exits 3; the resumed run matches an uninterrupted one byte for byte.
# Also SIGUSR1 through mpirun (what the Slurm batch script forwards), and a
# stop without a [checkpoint] dir (exit 2, nothing saved, no output).
# gd-test: needs-models
# gd-test: timeout 600
# gd-test: ranks
source "$(dirname "$0")/lib.sh"
# (set -e is inherited by the background subshells below: they record the
# exit code with "|| rc=$?" so that exit 3 does not end them early.)
export OMP_NUM_THREADS=1
cat >job.ini <<EOT
[input]
image = $GIGADREAM_IMAGE_DIR/grace_hopper.png
width = 900
[model]
file = $GD_TEST_MODELS/mobilenet_v1_1.0_224_quant_embedding_extractor.h5
layer = Conv2d_7_pointwise
[dream]
octaves = 2
iterations = 12
[tiles]
size = 256
overlap = 32
[output]
file = out.tif
[checkpoint]
dir = ckpt
every_iterations = 100
EOT
"$GIGADREAM" render job.ini --quiet --set output.file=ref.tif --set checkpoint.dir=ckpt-ref ||
  fail "the uninterrupted render failed"

started() { for _ in $(seq 1 300); do grep -q "iteration 3/" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# SIGTERM to a single process, mid-iteration.
rc=0
(rc=0; "$GIGADREAM" render job.ini 2>run1.txt || rc=$?; echo "$rc" >rc1.txt) &
started run1.txt || fail "the render did not start: $(cat run1.txt)"
t0=$(date +%s.%N)
pkill -TERM -f "$GIGADREAM render job.ini" || fail "no process to signal"
wait
t1=$(date +%s.%N)
[ "$(cat rc1.txt)" = 3 ] || fail "SIGTERM: exit $(cat rc1.txt), expected 3: $(tail -2 run1.txt)"
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
echo "SIGTERM to exit 3: $secs s"
awk -v s="$secs" 'BEGIN { exit !(s < 30) }' || fail "stopping took $secs s"
grep -q "checkpoint .*(stop signal; octave" run1.txt || fail "no stop checkpoint logged"
[ "$(tail -1 run1.txt | grep -c '^gigadream: stopped by SIGTERM: checkpoint .* written')" = 1 ] ||
  fail "last line: $(tail -1 run1.txt)"
[ ! -e out.tif ] || fail "a stopped render wrote its output"
"$GIGADREAM" render job.ini 2>run2.txt || fail "resume failed: $(tail -2 run2.txt)"
grep -q "resumed from .*ckpt-" run2.txt || fail "the second run did not resume"
cmp -s out.tif ref.tif || fail "SIGTERM + resume: output differs from the uninterrupted run"

# SIGUSR1 to mpirun, which forwards it to the ranks.
rm -rf ckpt out.tif
(rc=0; mpirun --oversubscribe -n 2 "$GIGADREAM" render job.ini 2>run3.txt || rc=$?; echo "$rc" >rc3.txt) &
sub=$!
started run3.txt || fail "the 2-rank render did not start"
# Only this test's mpirun (the subshell's child): others may run beside it.
pkill -USR1 -x -P "$sub" mpirun || fail "no mpirun to signal"
wait
[ "$(cat rc3.txt)" = 3 ] || fail "SIGUSR1 through mpirun: exit $(cat rc3.txt): $(tail -2 run3.txt)"
mpirun --oversubscribe -n 2 "$GIGADREAM" render job.ini --quiet || fail "2-rank resume failed"
cmp -s out.tif ref.tif || fail "SIGUSR1 + resume on 2 ranks: output differs"

# No [checkpoint] dir: a stop is a failure that says nothing was saved.
rm -f out.tif
sed '/^\[checkpoint\]/,$d' job.ini >nockpt.ini
(rc=0; "$GIGADREAM" render nockpt.ini 2>run4.txt || rc=$?; echo "$rc" >rc4.txt) &
started run4.txt || fail "the render without checkpoints did not start: $(cat run4.txt)"
pkill -TERM -f "$GIGADREAM render nockpt.ini" || true
wait
[ "$(cat rc4.txt)" = 2 ] || fail "stop without a checkpoint dir: exit $(cat rc4.txt)"
grep -q "nothing was saved" run4.txt || fail "$(tail -1 run4.txt)"
[ ! -e out.tif ] || fail "output written"
echo ok

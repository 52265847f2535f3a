#!/usr/bin/env bash
# Issue 4, acceptance 5 and "ranks that fail": a failure on one rank stops
# the whole job with that rank's message printed once (exit 2); a rank killed
# with SIGKILL ends the job within 60 s with a non-zero exit; neither leaves a
# file (or a temporary) at the output path.  A launcher whose processes cannot
# see each other (no working PMI) is refused.
# gd-test: needs-models
# gd-test: timeout 600
# gd-test: ranks
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1
cat >job.ini <<EOT
[input]
image = $GIGADREAM_IMAGE_DIR/cat.png
[model]
file = $GD_TEST_MODELS/mobilenet_v1_1.0_224_quant_embedding_extractor.h5
layer = Conv2d_5_pointwise
[dream]
octaves = 1
iterations = 2
[output]
file = out.tif
EOT

no_output() {
  [ ! -e out.tif ] || fail "$1: out.tif exists"
  ! ls out.tif.* >/dev/null 2>&1 || fail "$1: a temporary was left: $(ls out.tif.*)"
}

# 1. Rank 1 runs out of memory (an address-space limit on it alone).
big=(--set input.width=6000 --set input.height=4000 --quiet)
rc=0
mpirun --oversubscribe -n 1 "$GIGADREAM" render job.ini "${big[@]}" : \
  -n 1 bash -c "ulimit -v 800000; exec '$GIGADREAM' render job.ini ${big[*]}" \
  >out.txt 2>err.txt || rc=$?
[ "$rc" -eq 2 ] || fail "out of memory on rank 1: exit $rc, expected 2: $(cat err.txt)"
[ "$(grep -c '^gigadream:' err.txt)" -eq 1 ] || fail "the error was not printed once: $(cat err.txt)"
grep -q '^gigadream: rank 1: .*out of memory allocating' err.txt || fail "message: $(grep gigadream: err.txt)"
no_output "out of memory"

# 2. One rank killed with SIGKILL mid-render.
rm -f rc.txt
# (set -e is inherited: keep the subshell alive past mpirun's failure.)
(rc=0; mpirun --oversubscribe -n 2 "$GIGADREAM" render job.ini --set dream.iterations=200 \
   >kill.out 2>kill.err || rc=$?; echo "$rc" >rc.txt) &
for _ in $(seq 1 60); do grep -q "iteration 1/" kill.err 2>/dev/null && break; sleep 1; done
grep -q "iteration 1/" kill.err || fail "the render did not start: $(cat kill.err)"
victim=$(pgrep -f "$GIGADREAM render job.ini --set dream.iterations=200" | while read -r p; do
  [ "$(ps -o comm= -p "$p")" = gigadream ] && echo "$p"; done | tail -1)
[ -n "$victim" ] || fail "no rank process found"
echo "killing rank process $victim: $(ps -o pid=,comm=,args= -p "$victim")"
t0=$(date +%s)
kill -9 "$victim"
while [ ! -s rc.txt ] && [ $(($(date +%s) - t0)) -lt 60 ]; do sleep 1; done
[ -s rc.txt ] || { pkill -9 -f "$GIGADREAM render job.ini" || true; fail "the job still ran 60 s after a rank was killed"; }
echo "job ended $(($(date +%s) - t0)) s after the kill, exit $(cat rc.txt)"
[ "$(cat rc.txt)" -ne 0 ] || fail "a killed rank gave exit 0"
wait
no_output "killed rank"

# 3. Launchers that say there are more processes than MPI sees.
expect_fail 1 "launcher started 2 processes \(OMPI_COMM_WORLD_SIZE\) but MPI sees 1" \
  env OMPI_COMM_WORLD_SIZE=2 "$GIGADREAM" render job.ini
expect_fail 1 "launcher started 4 processes \(SLURM_STEP_NUM_TASKS\) but MPI sees 1" \
  env SLURM_STEP_ID=0 SLURM_STEP_NUM_TASKS=4 "$GIGADREAM" render job.ini
no_output "PMI mismatch"
echo ok

#!/usr/bin/env bash
# Issue 5, acceptance 1: exact restart.  A render killed with SIGKILL at five
# moments (at random delays after checkpoint milestones, one of them while a
# checkpoint is being written) and
# resumed each time finishes with the same output bytes as an uninterrupted
# run (same ranks and threads).  Started on 3 ranks, killed, resumed on 1:
# the same bytes again (one OpenMP thread per rank).
# gd-test: needs-models
# gd-test: timeout 900
# gd-test: ranks
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1
cat >job.ini <<EOT
[input]
image = $GIGADREAM_IMAGE_DIR/cat.png
width = 1400
[model]
file = $GD_TEST_MODELS/mobilenet_v1_1.0_224_quant_embedding_extractor.h5
layer = Conv2d_5_pointwise
[dream]
octaves = 2
iterations = 12
seed = 3
[tiles]
size = 256
overlap = 32
[output]
file = out.tif
overwrite = true
[checkpoint]
dir = ckpt
every_iterations = 1
keep = 2
EOT

render() { # ranks [args...]: one run, its exit code in $rc
  local n=$1; shift
  rc=0
  mpirun --oversubscribe -n "$n" "$GIGADREAM" render job.ini "$@" >>log.txt 2>&1 || rc=$?
}
kill_all() { pkill -9 -f "$GIGADREAM render job.ini" || true; }

# The reference: uninterrupted, in its own checkpoint folder.
render 2 --set output.file=ref.tif --set checkpoint.dir=ckpt-ref
[ "$rc" -eq 0 ] || fail "the uninterrupted render failed: $(tail -3 log.txt)"

# Five kills.  Checkpoint names carry a counter that grows across runs
# (ckpt-CCCCCC-...): kill k waits for the counter to pass a milestone, then
# for a random moment up to 0.4 s; kill 3 instead waits for a checkpoint's
# .tmp to appear and kills while it is being written.
newest() { ls ckpt 2>/dev/null | sed -n 's/^ckpt-0*\([0-9][0-9]*\)-.*\.h5$/\1/p' | sort -n | tail -1; }
kills=0 during_write=0
for target in 3 7 0 15 19; do
  (render 2 --quiet) &
  bg=$!
  if [ "$target" -eq 0 ]; then
    for _ in $(seq 1 6000); do ls ckpt/*.tmp >/dev/null 2>&1 && break; sleep 0.002; done
    ls ckpt/*.tmp >/dev/null 2>&1 && during_write=1
  else
    for _ in $(seq 1 1200); do [ "$(newest)" -ge "$target" ] 2>/dev/null && break; sleep 0.05; done
    sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", 0.4 * rand() }')"
  fi
  kill_all
  wait "$bg" 2>/dev/null || true
  [ ! -e out.tif ] || fail "the render finished before kill $((kills + 1))"
  kills=$((kills + 1))
  echo "kill $kills: checkpoints now: $(ls ckpt | tr '\n' ' ')"
done
[ "$during_write" -eq 1 ] || fail "never caught a checkpoint being written"
render 2
[ "$rc" -eq 0 ] || fail "the last resume failed: $(tail -3 log.txt)"
grep -q "resumed from .*/ckpt/ckpt-" log.txt || fail "no run said it resumed"
cmp -s out.tif ref.tif || fail "killed and resumed 5 times: output differs from the uninterrupted run"
! ls ckpt/*.tmp >/dev/null 2>&1 || fail "a .tmp checkpoint was left behind"

# Started on 3 ranks, killed, resumed on 1.
rm -rf ckpt out.tif
(render 3 --quiet) &
bg=$!
for _ in $(seq 1 600); do [ "$(ls ckpt 2>/dev/null | grep -c '\.h5$')" -ge 2 ] && break; sleep 0.05; done
kill_all
wait "$bg" 2>/dev/null || true
[ ! -e out.tif ] || fail "the 3-rank run finished before it could be killed"
render 1
[ "$rc" -eq 0 ] || fail "resuming on 1 rank failed: $(tail -3 log.txt)"
grep -q "written by 3 ranks" log.txt || fail "the 1-rank run did not resume from the 3-rank checkpoint"
cmp -s out.tif ref.tif || fail "resumed on 1 rank after 3: output differs"
echo ok

#!/usr/bin/env bash
# Issue 5: on a real local Slurm cluster (scripts/slurm-local.sh), a render
# submitted with `sbatch --ntasks=2 scripts/gigadream.sbatch JOB.ini` completes
# and writes the same pixels as the same job run directly under mpirun -n 2; a
# job with bad input fails with exit code 1 and is not requeued.
# gd-test: needs-models
# gd-test: label slurm
# gd-test: timeout 300
# gd-test: ranks
source "$(dirname "$0")/lib.sh"
source "$GD_SOURCE_DIR/tests/cli/slurm_lib.sh"

tiny_job "$T/job.ini" "$T/slurm.tif"
mpirun -n 2 "$GIGADREAM" render "$T/job.ini" --quiet --set output.file="$T/direct.tif" ||
  fail "the direct run (mpirun -n 2) failed"

slurm_start

id=$(slurm_submit --ntasks=2 --output="$T/job-%j.out" "$SCRIPTS/gigadream.sbatch" "$T/job.ini")
echo "submitted job $id"
slurm_wait "$id" 120 "$T/job-$id.out"
log="$T/job-$id.out"
cat "$log"
slurm_expect_state "$id" COMPLETED 0:0 "$log"
[ "$(slurm_field "$id" Restarts)" = 0 ] || fail "job $id was restarted"
grep -q "2 rank(s)" "$log" || fail "the batch script did not start 2 ranks"
grep -q "2 ranks x 1 thread" "$log" || fail "gigadream did not run as 2 ranks x 1 thread"
grep -q "done (exit 0)" "$log" || fail "the batch script did not log 'done (exit 0)'"
[ -s "$T/slurm.tif" ] || fail "job $id wrote no $T/slurm.tif"
[ "$(image_size "$T/slurm.tif")" = 160x107 ] || fail "slurm.tif is $(image_size "$T/slurm.tif"), expected 160x107"
a=$(image_pixels "$T/direct.tif")
b=$(image_pixels "$T/slurm.tif")
echo "direct: $a; under Slurm: $b"
[ "$a" = "$b" ] || fail "the Slurm job's pixels ($b) differ from the direct run's ($a)"

# Bad input: exit 1 passes through (FAILED, 1:0) and is not retried.
printf '[input]\nimage = %s\n' "$T/missing.png" >"$T/bad.ini"
id=$(slurm_submit --ntasks=2 --output="$T/job-%j.out" "$SCRIPTS/gigadream.sbatch" "$T/bad.ini")
slurm_wait "$id" 60 "$T/job-$id.out"
cat "$T/job-$id.out"
slurm_expect_state "$id" FAILED 1:0 "$T/job-$id.out"
[ "$(slurm_field "$id" Restarts)" = 0 ] || fail "the bad job $id was requeued"
grep -q "bad input (exit 1): not retried" "$T/job-$id.out" || fail "no 'not retried' line for the bad job"
echo "ok"

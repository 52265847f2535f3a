#!/usr/bin/env bash
# Issue 5, acceptance 4: on the local Slurm cluster, a job submitted with
# scripts/gigadream.sbatch and requeued after its first checkpoint is requeued,
# resumes (its log says from which checkpoint) and ends with the pixels of the
# uninterrupted run.  Twice:
#   A. `scontrol requeue JOB` (what an admin or preemption does): Slurm sends
#      SIGTERM to the job, gigadream checkpoints and exits 3, Slurm requeues it;
#   B. `scancel --batch --signal=USR1 JOB` (what --signal=B:USR1@120 does before
#      the time limit): the batch script forwards it, gigadream checkpoints and
#      exits 3, and the script requeues the job itself.
# The gigadream contract assumed: [checkpoint] dir + every_iterations = 1 write a
# checkpoint file into dir after each iteration (NAME.tmp while writing);
# SIGTERM or SIGUSR1 -> checkpoint, exit 3; a restart logs a line with
# "resumed from" and the checkpoint's path; same pixels as without the stop.
# gd-test: needs-models
# gd-test: label slurm
# gd-test: timeout 600
# gd-test: ranks
source "$(dirname "$0")/lib.sh"
source "$GD_SOURCE_DIR/tests/cli/slurm_lib.sh"

# Long enough (a few seconds on 2 ranks) to be stopped after its first checkpoint.
job_keys=(input.width=400 dream.octaves=2 dream.iterations=20 tiles.size=128 tiles.overlap=16
  checkpoint.every_iterations=1)
tiny_job "$T/ref.ini" "$T/ref.tif" "${job_keys[@]}" checkpoint.dir="$T/ckpt-ref"
tiny_job "$T/a.ini" "$T/a.tif" "${job_keys[@]}" checkpoint.dir="$T/ckpt-a"
tiny_job "$T/b.ini" "$T/b.tif" "${job_keys[@]}" checkpoint.dir="$T/ckpt-b"

t0=$SECONDS
mpirun -n 2 "$GIGADREAM" render "$T/ref.ini" >"$T/ref.log" 2>&1 ||
  fail "the uninterrupted run (mpirun -n 2) failed: $(tail -n 5 "$T/ref.log")"
echo "uninterrupted run: $((SECONDS - t0)) s"
ref=$(image_pixels "$T/ref.tif")

slurm_start

# first_checkpoint ID DIR LOG: waits until DIR holds a finished checkpoint
# (a file not named *.tmp) while job ID runs.
first_checkpoint() {
  local id=$1 dir=$2 log=$3 t0=$SECONDS f state
  while :; do
    f=$(find "$dir" -maxdepth 1 -type f ! -name '*.tmp' 2>/dev/null | head -n1 || true)
    [ -n "$f" ] && { echo "first checkpoint: $f after $((SECONDS - t0)) s"; return 0; }
    state=$(slurm_field "$id" JobState)
    case "$state" in
      PENDING | CONFIGURING | RUNNING) ;;
      *)
        [ -f "$log" ] && cat "$log" >&2
        fail "job $id ended ($state) before a checkpoint appeared in $dir: does gigadream write [checkpoint] every_iterations = 1 checkpoints?" ;;
    esac
    [ $((SECONDS - t0)) -lt 120 ] || fail "no checkpoint in $dir after 120 s"
    sleep 0.1
  done
}

# check_resumed ID LOG DIR OUTPUT: one restart, resumed from a checkpoint of
# DIR, completed, and the uninterrupted run's pixels.
check_resumed() {
  local id=$1 log=$2 dir=$3 out=$4 restarts line got
  slurm_expect_state "$id" COMPLETED 0:0 "$log"
  restarts=$(slurm_field "$id" Restarts)
  [ "$restarts" = 1 ] || fail "job $id restarted $restarts times, expected 1 (finished before the stop took effect?)"
  grep -q "restart 1 (SLURM_RESTART_COUNT=1" "$log" || fail "$log does not log its restart 1"
  line=$(grep -m1 "resumed from" "$log") || fail "$log has no 'resumed from' line: gigadream did not resume"
  [[ "$line" == *"$(basename "$dir")/"* ]] || fail "'$line' names no checkpoint of $dir"
  echo "$line"
  grep -q "done (exit 0)" "$log" || fail "$log does not end with 'done (exit 0)'"
  got=$(image_pixels "$out")
  [ "$got" = "$ref" ] || fail "$out after the restart has pixels $got, the uninterrupted run $ref"
}

# A. scontrol requeue: Slurm's SIGTERM, Slurm's requeue.
t0=$SECONDS
id=$(slurm_submit --ntasks=2 --output="$T/a-%j.out" "$SCRIPTS/gigadream.sbatch" "$T/a.ini")
log="$T/a-$id.out"
first_checkpoint "$id" "$T/ckpt-a" "$log"
scontrol requeue "$id" || fail "scontrol requeue $id failed"
slurm_wait "$id" 240 "$log"
cat "$log"
grep -q "got SIGTERM" "$log" || fail "the batch script of job $id got no SIGTERM from the requeue"
grep -q "stopped after writing a checkpoint (exit 3); Slurm ended this run" "$log" ||
  fail "gigadream did not exit 3 after SIGTERM (checkpoint written) in job $id"
if grep -q "requeued (restart" "$log"; then fail "job $id requeued itself on top of Slurm's requeue"; fi
check_resumed "$id" "$log" "$T/ckpt-a" "$T/a.tif"
echo "A (scontrol requeue): $((SECONDS - t0)) s"

# B. USR1 to the batch shell (the time-limit warning): the script requeues.
t0=$SECONDS
id=$(slurm_submit --ntasks=2 --output="$T/b-%j.out" "$SCRIPTS/gigadream.sbatch" "$T/b.ini")
log="$T/b-$id.out"
first_checkpoint "$id" "$T/ckpt-b" "$log"
scancel --batch --signal=USR1 "$id" || fail "scancel --batch --signal=USR1 $id failed"
slurm_wait "$id" 240 "$log"
cat "$log"
grep -q "got SIGUSR1" "$log" || fail "the batch script of job $id got no SIGUSR1"
grep -q "stopped after writing a checkpoint (exit 3): requeued (restart 1 of at most 10)" "$log" ||
  fail "job $id did not requeue itself after gigadream's exit 3"
check_resumed "$id" "$log" "$T/ckpt-b" "$T/b.tif"
echo "B (USR1, self-requeue): $((SECONDS - t0)) s"
echo "ok"

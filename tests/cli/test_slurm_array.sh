#!/usr/bin/env bash
# Issue 5, acceptance 4 (second half): scripts/submit-batch.sh turns a folder
# of 3 job files into one sbatch --array; on the local Slurm cluster all 3
# tasks complete, each renders its own job file (per the manifest), and each
# writes its own log and output.
# gd-test: needs-models
# gd-test: label slurm
# gd-test: timeout 300
# gd-test: ranks
source "$(dirname "$0")/lib.sh"
source "$GD_SOURCE_DIR/tests/cli/slurm_lib.sh"

mkdir -p "$T/jobs"
# Three different jobs (seeds), named so that sorting matters: b < c < d.
tiny_job "$T/jobs/c.ini" "$T/out-c.tif" dream.seed=3
tiny_job "$T/jobs/b.ini" "$T/out-b.tif" dream.seed=2
tiny_job "$T/jobs/d.ini" "$T/out-d.tif" dream.seed=4
echo "not a job" >"$T/jobs/notes.txt"

slurm_start

id=$("$SCRIPTS/submit-batch.sh" "$T/jobs" --ntasks=1 -- --set dream.iterations=1) ||
  fail "submit-batch.sh failed"
[[ "$id" =~ ^[0-9]+$ ]] || fail "submit-batch.sh printed '$id', expected the array job id"
echo "array job $id"
manifest="$T/jobs/logs/manifest-$id.txt"
[ -r "$manifest" ] || fail "no manifest $manifest"
[ "$(cat "$manifest")" = "$(printf '%s\n' "$T/jobs/b.ini" "$T/jobs/c.ini" "$T/jobs/d.ini")" ] ||
  fail "manifest lists: $(cat "$manifest")"

slurm_wait "$id" 180
[ "$(slurm_states "$id" | wc -l)" -eq 3 ] || fail "array $id has $(slurm_states "$id" | wc -l) tasks, expected 3"
i=0
for name in b c d; do
  log="$T/jobs/logs/gigadream-${id}_$i.out"
  [ -f "$log" ] || fail "task $i wrote no log $log"
  cat "$log"
  slurm_expect_state "${id}_$i" COMPLETED 0:0 "$log"
  grep -q "array ${id}_$i" "$log" || fail "task $i's log does not name array task ${id}_$i"
  grep -q "render $T/jobs/$name.ini --set dream.iterations=1" "$log" ||
    fail "task $i did not render $name.ini with the extra render option"
  grep -q "done (exit 0)" "$log" || fail "task $i did not finish with exit 0"
  [ "$(image_size "$T/out-$name.tif")" = 160x107 ] || fail "task $i wrote no 160x107 $T/out-$name.tif"
  i=$((i + 1))
done
# Different seeds, different pictures: each task rendered its own job.
[ "$(image_pixels "$T/out-b.tif")" != "$(image_pixels "$T/out-c.tif")" ] ||
  fail "out-b.tif and out-c.tif have the same pixels: did two tasks render the same job?"
echo "ok"

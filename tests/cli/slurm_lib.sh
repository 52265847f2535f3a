# shellcheck shell=bash
# Helpers for the Slurm tests (sourced after lib.sh): a real local Slurm
# cluster (scripts/slurm-local.sh) that each test starts fresh and always stops,
# even when it fails.  Nothing is skipped: when Slurm cannot run here, the test
# fails and says why.

SCRIPTS="$GD_SOURCE_DIR/scripts"
# set -e ends a test silently: say which command did it.
set -E
trap 'echo "error: \"$BASH_COMMAND\" failed with status $? (line $LINENO)" >&2' ERR

# One cluster for the tests, apart from a developer's default one
# (/tmp/gigadream-slurm, ports 6817-6818).  Short path: munge's socket lives in it.
export GIGADREAM_SLURM_DIR=${GD_SLURM_TEST_DIR:-/tmp/gigadream-slurm-ctest}
export GIGADREAM_SLURM_PORT=${GD_SLURM_TEST_PORT:-6837}
export SLURM_CONF="$GIGADREAM_SLURM_DIR/slurm.conf"
# Same threads per rank everywhere: byte-identical output needs it.
export OMP_NUM_THREADS=1
unset SLURM_JOB_ID SLURM_JOBID SLURM_NTASKS SLURM_ARRAY_JOB_ID SLURM_ARRAY_TASK_ID SLURM_RESTART_COUNT

# slurm_start: takes the machine-wide test lock (Slurm tests of several
# checkouts or a parallel ctest wait for each other), starts the cluster with
# no old jobs, and arranges for it to be stopped when the test exits.
slurm_start() {
  [ "$(id -u)" -eq 0 ] || fail "the Slurm tests need root: the local cluster runs its daemons and jobs as root"
  local b
  for b in sbatch scontrol squeue scancel slurmctld slurmd munged flock; do
    command -v "$b" >/dev/null ||
      fail "'$b' is missing: the Slurm tests need Debian's slurmctld, slurmd, slurm-client and munge (scripts/setup.sh --deps-only installs them)"
  done
  exec 9>"/tmp/gigadream-slurm-ctest.lock"
  flock -w 600 9 || fail "another Slurm test held /tmp/gigadream-slurm-ctest.lock for 10 minutes"
  trap 'slurm_on_exit $?' EXIT
  "$SCRIPTS/slurm-local.sh" start --fresh ||
    fail "the local Slurm cluster did not start (messages above): Slurm cannot run on this machine as set up"
}

slurm_on_exit() {
  local rc=$1 f
  if [ "$rc" -ne 0 ]; then
    echo "---- the test failed: Slurm's view of its jobs" >&2
    scontrol show job 2>&1 | grep -E 'JobId=|JobState=|Restarts=|StdOut=' >&2 || true
    for f in "$GIGADREAM_SLURM_DIR/log/slurmctld.log" "$GIGADREAM_SLURM_DIR/log/slurmd.log"; do
      [ -s "$f" ] && { echo "---- last lines of $f" >&2; tail -n 20 "$f" >&2; }
    done
  fi
  "$SCRIPTS/slurm-local.sh" stop >&2 || true
  exit "$rc"
}

# slurm_submit SBATCH-ARGS...: sbatch, prints the job id.
slurm_submit() {
  local out
  out=$(sbatch --parsable "$@" 2>&1) || fail "sbatch $* failed: $out"
  echo "${out%%;*}"
}

# slurm_states ID: the JobState of the job, or of each task of an array, one a line.
slurm_states() {
  { scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; } || true
}

# slurm_field ID KEY: KEY's value in scontrol show job ID (first record).
slurm_field() {
  { scontrol show job -o "$1" 2>/dev/null | head -n1 | grep -o " $2=[^ ]*" | head -n1 | cut -d= -f2-; } || true
}

# slurm_wait ID SECONDS [LOG]: waits until the job (every task of an array)
# has ended; fails after SECONDS with the queue and LOG's tail.
slurm_wait() {
  local id=$1 limit=$2 log=${3:-} t0=$SECONDS states s done_
  while :; do
    states=$(slurm_states "$id")
    [ -n "$states" ] || fail "Slurm does not know job $id"
    done_=1
    for s in $states; do
      case "$s" in
        COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | PREEMPTED | BOOT_FAIL | DEADLINE | OUT_OF_MEMORY) ;;
        *) done_=0 ;;
      esac
    done
    [ "$done_" -eq 1 ] && return 0
    if [ $((SECONDS - t0)) -ge "$limit" ]; then
      squeue >&2 || true
      [ -n "$log" ] && [ -f "$log" ] && tail -n 20 "$log" >&2
      fail "job $id still not finished after ${limit}s (states: $(tr "\n" " " <<<"$states"))"
    fi
    sleep 0.5
  done
}

# slurm_expect_state ID STATE EXITCODE LOG: the job ended in STATE with EXITCODE (e.g. 0:0).
slurm_expect_state() {
  local id=$1 state=$2 code=$3 log=$4 got_state got_code
  got_state=$(slurm_field "$id" JobState)
  got_code=$(slurm_field "$id" ExitCode)
  if [ "$got_state" != "$state" ] || [ "$got_code" != "$code" ]; then
    [ -f "$log" ] && { echo "---- $log" >&2; cat "$log" >&2; }
    fail "job $id ended $got_state with exit code $got_code, expected $state with $code"
  fi
}

# tiny_job FILE OUTPUT [SECTION.KEY=VALUE...]: a small render job with absolute
# paths (cat.png at 160x107, 1 octave, 2 iterations); the pairs add or replace keys.
tiny_job() {
  local file=$1 out=$2
  shift 2
  printf '%s\n' "input.image=$GIGADREAM_IMAGE_DIR/cat.png" "input.width=160" \
    "model.file=$GD_TEST_MODELS/mobilenet_v1_1.0_224_quant_embedding_extractor.h5" \
    "model.layer=Conv2d_3_pointwise" "dream.octaves=1" "dream.iterations=2" \
    "tiles.size=64" "tiles.overlap=16" "output.file=$out" "output.overwrite=true" "$@" |
    awk '{
      i = index($0, "="); sk = substr($0, 1, i - 1); v = substr($0, i + 1)
      j = index(sk, "."); sec = substr(sk, 1, j - 1); key = substr(sk, j + 1)
      if (!(sec in seen)) { seen[sec] = 1; secs[++ns] = sec }
      if (!((sec, key) in val)) { keys[sec] = keys[sec] " " key }
      val[sec, key] = v
    }
    END {
      for (s = 1; s <= ns; s++) {
        printf "%s[%s]\n", (s > 1 ? "\n" : ""), secs[s]
        n = split(keys[secs[s]], k, " ")
        for (x = 1; x <= n; x++) printf "%s = %s\n", k[x], val[secs[s], k[x]]
      }
    }' >"$file"
}

# image_pixels FILE: what identifies FILE's pixels: gigadream info's
# "pixels: fnv1a64 HEX" when this build prints it, else the whole file's
# SHA-256 (stricter: equal files have equal pixels).
image_pixels() {
  local info sum
  info=$("$GIGADREAM" info "$1" 2>&1) || fail "gigadream info $1 failed: $info"
  sum=$(sed -n 's/^pixels: fnv1a64 \([0-9a-f]\{16\}\)$/fnv1a64 \1/p' <<<"$info")
  [ -n "$sum" ] || sum="sha256 $(sha256sum "$1" | cut -d' ' -f1)"
  echo "$sum"
}

# image_size FILE: WxH as gigadream info prints it.
image_size() {
  { "$GIGADREAM" info "$1" 2>&1 | grep -o 'image [0-9]*x[0-9]*' | head -n1 | cut -d' ' -f2; } || true
}

#!/usr/bin/env bash
# Submits a folder of gigadream job files as one Slurm job array:
#
#   scripts/submit-batch.sh DIR [sbatch options...] [-- gigadream render options...]
#   e.g. scripts/submit-batch.sh jobs/ --ntasks=4 --time=2:00:00 -- --set dream.iterations=5
#
# DIR/*.ini (sorted by name) become array tasks 0..N-1 of scripts/gigadream.sbatch;
# each task reads its job file from a manifest written before submission (one
# absolute path per line, line i+1 = task i), so no task globs the folder.
# Logs and manifest go to $GIGADREAM_LOG_DIR (default DIR/logs):
# gigadream-ARRAYID_TASK.out, manifest-ARRAYID.txt.  GIGADREAM_ARRAY_LIMIT=K
# runs at most K tasks at once.  Every task checkpoints and requeues itself like
# a single gigadream.sbatch job.  Prints the array job id on stdout.
set -euo pipefail

die() { echo "submit-batch: error: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: scripts/submit-batch.sh DIR [sbatch options...] [-- gigadream render options...]"
case "$1" in -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

dir=$1
shift
[ -d "$dir" ] || die "'$dir' is not a folder"
dir=$(cd "$dir" && pwd -P)
sbatch_script="$(cd "$(dirname "$0")" && pwd -P)/gigadream.sbatch"
[ -r "$sbatch_script" ] || die "cannot find $sbatch_script"

sbatch_opts=()
render_opts=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then
    shift
    render_opts=("$@")
    break
  fi
  case "$1" in
    -a | --array | --array=*) die "the array is this script's to set (GIGADREAM_ARRAY_LIMIT=K limits how many tasks run at once)" ;;
  esac
  sbatch_opts+=("$1")
  shift
done

jobs=()
while IFS= read -r -d '' f; do
  jobs+=("$f")
done < <(find "$dir" -maxdepth 1 -name '*.ini' \( -type f -o -type l \) -print0 | LC_ALL=C sort -z)
n=${#jobs[@]}
[ "$n" -gt 0 ] || die "no job files (*.ini) in $dir"

logdir=${GIGADREAM_LOG_DIR:-$dir/logs}
mkdir -p "$logdir"
logdir=$(cd "$logdir" && pwd -P)
manifest=$(mktemp "$logdir/manifest-XXXXXX")
printf '%s\n' "${jobs[@]}" >"$manifest"

array="0-$((n - 1))"
[ -n "${GIGADREAM_ARRAY_LIMIT:-}" ] && array="$array%$GIGADREAM_ARRAY_LIMIT"
out=$(sbatch --parsable --array="$array" --job-name=gigadream \
  --output="$logdir/gigadream-%A_%a.out" "${sbatch_opts[@]}" \
  "$sbatch_script" --manifest "$manifest" "${render_opts[@]}") ||
  { rm -f "$manifest"; die "sbatch failed"; }
id=${out%%;*}
# Tasks may already be reading it: leave it in place, name it by the array id.
ln -sfn "$(basename "$manifest")" "$logdir/manifest-$id.txt"
{
  echo "submit-batch: array job $id: $n job(s) from $dir"
  i=0
  for f in "${jobs[@]}"; do
    echo "  ${id}_$i  $f"
    i=$((i + 1))
  done
  echo "submit-batch: logs $logdir/gigadream-${id}_TASK.out, manifest $logdir/manifest-$id.txt"
} >&2
echo "$id"

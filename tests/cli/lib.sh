# Helpers for the CLI tests (sourced).  Each test runs in a fresh folder under
# $GD_TEST_TMP and fails with a message naming the check.
set -euo pipefail
: "${GIGADREAM:?run the tests through ctest}"
T="$GD_TEST_TMP/$(basename "$0" .sh)"
rm -rf "$T"
mkdir -p "$T"
cd "$T"

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_fail CODE PATTERN CMD...: CMD exits with CODE, prints exactly one
# line on stderr, and that line matches the extended regex PATTERN.
expect_fail() {
  local code=$1 pattern=$2; shift 2
  local rc=0
  "$@" >out.txt 2>err.txt || rc=$?
  [ "$rc" -eq "$code" ] || fail "'$*' exited $rc, expected $code; stderr: $(cat err.txt)"
  [ "$(wc -l <err.txt)" -eq 1 ] || fail "'$*' printed $(wc -l <err.txt) error lines: $(cat err.txt)"
  grep -Eq -- "$pattern" err.txt || fail "'$*' said '$(cat err.txt)', expected /$pattern/"
}

# in_range VALUE LO HI: LO <= VALUE <= HI (floats)
in_range() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }

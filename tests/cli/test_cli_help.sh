#!/usr/bin/env bash
# Issue 20: every subcommand answers --help (exit 0, its usage on stdout,
# nothing on stderr), and --version names the oneDNN, Open MPI and HDF5
# libraries the binary runs with, checked against what those libraries'
# own tools and the package database report on this machine.
source "$(dirname "$0")/lib.sh"

"$GIGADREAM" --help >help.txt 2>err.txt || fail "gigadream --help exited $?"
[ ! -s err.txt ] || fail "gigadream --help wrote to stderr: $(cat err.txt)"
# The commands are the lines "  NAME ARGS" of the overall usage.
mapfile -t cmds < <(sed -n 's/^  \([a-z][a-z]*\) .*/\1/p' help.txt)
[ ${#cmds[@]} -ge 5 ] || fail "gigadream --help lists ${#cmds[@]} commands: ${cmds[*]}"
for c in "${cmds[@]}"; do
  for flag in --help -h; do
    rc=0
    "$GIGADREAM" "$c" $flag >out.txt 2>err.txt || rc=$?
    [ "$rc" -eq 0 ] || fail "gigadream $c $flag exited $rc: $(cat err.txt)"
    [ ! -s err.txt ] || fail "gigadream $c $flag wrote to stderr: $(cat err.txt)"
    head -n 1 out.txt | grep -q "^usage: gigadream $c " || fail "gigadream $c $flag printed: $(head -n 1 out.txt)"
  done
  # --help after other arguments still answers with help, not an error.
  "$GIGADREAM" "$c" some-file --help >out.txt 2>err.txt || fail "gigadream $c some-file --help exited $?"
  grep -q "^usage: gigadream $c " out.txt || fail "gigadream $c some-file --help printed no usage"
done
echo "help: ${cmds[*]}"

"$GIGADREAM" --version >version.txt 2>err.txt || fail "gigadream --version exited $?"
cat version.txt
grep -Eq '^gigadream [0-9]+\.[0-9]+\.[0-9]+$' version.txt || fail "no 'gigadream X.Y.Z' line"
# Each library's version as something other than gigadream reports it.
hdf5=$(h5dump --version | sed -n 's/.*Version \([0-9.]*\).*/\1/p')
ompi=$(mpirun --version | sed -n 's/^mpirun (Open MPI) \([0-9.]*\).*/\1/p')
# oneDNN has no tool of its own: ask dpkg which package holds the libdnnl the binary loads.
dnnl_lib=$(readlink -f "$(ldd "$GIGADREAM" | awk '/libdnnl/ { print $3 }')")
dnnl_pkg=$(dpkg -S "*/$(basename "$dnnl_lib")" | head -n 1 | cut -d: -f1)
dnnl=$(dpkg-query -W -f='${Version}' "$dnnl_pkg" | sed 's/-.*//')
[ -n "$hdf5" ] && [ -n "$ompi" ] && [ -n "$dnnl" ] || fail "could not read the libraries' versions (hdf5 '$hdf5', ompi '$ompi', dnnl '$dnnl')"
grep -q "HDF5 $hdf5\b" version.txt || fail "--version does not say HDF5 $hdf5"
grep -q "Open MPI v$ompi\b" version.txt || fail "--version does not say Open MPI v$ompi"
grep -q "oneDNN $dnnl\b" version.txt || fail "--version does not say oneDNN $dnnl"
echo "ok: oneDNN $dnnl, Open MPI $ompi, HDF5 $hdf5"

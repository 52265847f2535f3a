#!/usr/bin/env bash
# Issue 20: cmake --install puts the program under bin/ and the Slurm
# scripts, the jobs and the catalog under share/gigadream/ (GNUInstallDirs),
# and the installed program runs from there: --version, --help.
source "$(dirname "$0")/lib.sh"
build=$(dirname "$GIGADREAM")
prefix="$T/prefix"
cmake --install "$build" --prefix "$prefix" >install.txt 2>&1 || fail "cmake --install failed: $(tail -n 3 install.txt)"

bindir=$(sed -n 's/^CMAKE_INSTALL_BINDIR:[A-Z]*=//p' "$build/CMakeCache.txt")
datadir=$(sed -n 's/^CMAKE_INSTALL_DATADIR:[A-Z]*=//p' "$build/CMakeCache.txt")
# GNUInstallDirs leaves DATADIR empty in the cache, meaning DATAROOTDIR.
[ -n "$datadir" ] || datadir=$(sed -n 's/^CMAKE_INSTALL_DATAROOTDIR:[A-Z]*=//p' "$build/CMakeCache.txt")
[ -n "$bindir" ] && [ -n "$datadir" ] || fail "GNUInstallDirs' variables are not in the build's cache"
gd="$prefix/$bindir/gigadream"
share="$prefix/$datadir/gigadream"
[ -x "$gd" ] || fail "no installed program at $gd"
for f in scripts/gigadream.sbatch scripts/submit-batch.sh scripts/fetch-models.sh models/catalog.ini; do
  [ -f "$share/$f" ] || fail "$share/$f was not installed"
  cmp -s "$share/$f" "$GD_SOURCE_DIR/$f" || fail "$share/$f differs from the source's"
done
for f in "$GD_SOURCE_DIR"/jobs/*.ini; do
  cmp -s "$f" "$share/jobs/$(basename "$f")" || fail "jobs/$(basename "$f") was not installed"
done
for f in gigadream.sbatch submit-batch.sh fetch-models.sh; do
  [ -x "$share/scripts/$f" ] || fail "$share/scripts/$f is not executable"
done

# The installed binary runs on its own, outside the build tree.
(cd / && env -u GIGADREAM "$gd" --version) >version.txt 2>&1 || fail "installed gigadream --version failed: $(cat version.txt)"
cat version.txt
grep -q "^gigadream [0-9]" version.txt || fail "installed gigadream --version printed: $(cat version.txt)"
grep -q "oneDNN .*Open MPI .*HDF5 " version.txt || fail "installed --version lacks the libraries"
"$gd" render --help | grep -q "^usage: gigadream render" || fail "installed gigadream render --help"
# The installed fetcher reads the installed catalog: its --help runs, and it
# knows the catalog's models by name (an unknown one is refused naming them).
rc=0
env -u GIGADREAM bash "$share/scripts/fetch-models.sh" no-such-model >out.txt 2>err.txt || rc=$?
[ "$rc" -eq 1 ] && grep -q "no model 'no-such-model' in $share/models/catalog.ini (known: mobilenet_v1" err.txt ||
  fail "installed fetch-models.sh does not read the installed catalog: $(cat err.txt)"

# OpenSeadragon goes with it when the source tree has it (scripts/setup.sh).
if [ -f "$GD_SOURCE_DIR/scripts/viewer/node_modules/openseadragon/build/openseadragon/openseadragon.min.js" ]; then
  [ -f "$share/openseadragon/openseadragon.min.js" ] && [ -n "$(ls "$share/openseadragon/images")" ] ||
    fail "OpenSeadragon was not installed into $share/openseadragon"
fi
echo "ok: installed into $prefix"

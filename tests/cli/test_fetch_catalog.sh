#!/usr/bin/env bash
# Issue 20: the catalog's files come from the local mirror, else from their
# url (checked by size and sha256); a clone without ../shared is told, per
# file, what could not be had and why, and the script fails (exit 1) only
# after getting every file it could.  URLs here are file:// URLs so the test
# runs the download path without depending on the network.
source "$(dirname "$0")/lib.sh"
fetch="$GD_SOURCE_DIR/scripts/fetch-models.sh"
photo="$GIGADREAM_IMAGE_DIR/cat.png"
sha=$(sha256sum "$photo" | cut -d' ' -f1)
size=$(wc -c <"$photo")

cat >catalog.ini <<INI
[seed.png]
kind = image
url = file://$photo
sha256 = $sha
size = $size

[nowhere.png]
kind = image
url =
sha256 = $sha

[gone.png]
kind = image
url = file://$T/no-such-file.png
sha256 = $sha

[liar.png]
kind = image
url = file://$photo
sha256 = 0000000000000000000000000000000000000000000000000000000000000000
INI

run() {
  GIGADREAM_CATALOG=catalog.ini GIGADREAM_IMAGE_MIRROR="$T/no-mirror" GIGADREAM_MODEL_MIRROR="$T/no-mirror" \
    GIGADREAM_MODEL_CACHE="$T/cache" GIGADREAM_IMAGE_OUT="$T/images" bash "$fetch" "$@"
}

rc=0
run >out.txt 2>err.txt || rc=$?
cat err.txt
[ "$rc" -eq 1 ] || fail "fetch-models.sh exited $rc with three files missing, expected 1"
# The one good file arrived, byte for byte, although the others failed.
cmp -s "$photo" images/seed.png || fail "seed.png was not downloaded into images/"
[ ! -e images/nowhere.png ] && [ ! -e images/gone.png ] && [ ! -e images/liar.png ] ||
  fail "a file that could not be had was put in images/"
grep -q "^  nowhere.png: not in $T/no-mirror and the catalog gives no url$" err.txt ||
  fail "the summary does not say nowhere.png has no url"
grep -q "^  gone.png: not in $T/no-mirror, and downloading file://$T/no-such-file.png failed$" err.txt ||
  fail "the summary does not say gone.png could not be downloaded"
grep -q "^  liar.png: .*SHA-256 MISMATCH" err.txt || fail "the summary does not name liar.png's checksum mismatch"
grep -q "could not get 3 file(s)" err.txt || fail "the summary does not count 3 files"
# A file failing its checksum is deleted from the cache, so a rerun fetches it again.
[ ! -e cache/liar.png ] || fail "the mismatching download was kept in the cache"

# With a mirror holding the files, the same catalog's mirror copies are used.
mkdir -p mirror
cp "$photo" mirror/nowhere.png
GIGADREAM_CATALOG=catalog.ini GIGADREAM_IMAGE_MIRROR="$T/mirror" GIGADREAM_MODEL_CACHE="$T/cache" \
  GIGADREAM_IMAGE_OUT="$T/images" bash "$fetch" --images nowhere.png seed.png >out.txt 2>err.txt ||
  fail "fetch-models.sh with a mirror failed: $(cat err.txt)"
cmp -s "$photo" images/nowhere.png || fail "nowhere.png was not taken from the mirror"

# The project's own catalog lists every test photo (the fetch_images fixture checks them).
for f in cat.png cat.tif grace_hopper.png parrot.jpg; do
  grep -q "^\[$f\]$" "$GD_SOURCE_DIR/models/catalog.ini" || fail "models/catalog.ini lacks $f"
done
echo "ok"

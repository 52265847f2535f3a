#!/usr/bin/env bash
# Issue 4, streamed output: `gigadream render` on 1, 2 and 3 ranks writes
# byte-identical tiled TIFFs with their pyramid (every rank compresses a share
# of the tiles, rank 0 appends them), for 8-bit deflate, 16-bit zstd and JPEG.
# One thread per rank: the dream's own sums are fixed per thread count.
# gd-test: needs-models
# gd-test: label mpi
# gd-test: timeout 600
# gd-test: ranks
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1

cat >job.ini <<EOF
[input]
image = $GIGADREAM_IMAGE_DIR/cat.png
width = 900
height = 700

[model]
file = $GD_TEST_MODELS/mobilenet_v1_1.0_224_quant_embedding_extractor.h5
layer = Conv2d_3_pointwise

[dream]
octaves = 2
iterations = 2
seed = 7

[tiles]
size = 128
overlap = 16

[engine]
threads = 1

[output]
file = out.tif
pyramid = true
overwrite = true
EOF

render() {
  local n=$1 out=$2; shift 2
  mpirun --oversubscribe -n "$n" "$GIGADREAM" render job.ini --set "output.file=$out" "$@" \
    >"$out.log" 2>&1 || fail "render on $n ranks failed: $(tail -3 "$out.log")"
  [ -s "$out" ] || fail "render on $n ranks wrote no $out"
}

check() {
  local name=$1; shift
  for n in 1 2 3; do
    render "$n" "${name}_n$n.tif" "$@"
  done
  local ref
  ref=$(md5sum <"${name}_n1.tif")
  for n in 2 3; do
    [ "$(md5sum <"${name}_n$n.tif")" = "$ref" ] ||
      fail "$name: the file from $n ranks differs from the one from 1 rank ($(cmp "${name}_n1.tif" "${name}_n$n.tif" | head -1))"
  done
  # A tiled TIFF with its reduced levels: 900x700 -> 450x350 -> 225x175.
  tiffinfo "${name}_n3.tif" >info.txt 2>&1 || fail "$name: tiffinfo cannot read the file"
  [ "$(grep -c 'Tile Width: 256 Tile Length: 256' info.txt)" -eq 3 ] ||
    fail "$name: expected 3 tiled directories, tiffinfo says: $(grep -E 'Image Width|Tile' info.txt)"
  [ "$(grep -c 'reduced-resolution image' info.txt)" -eq 2 ] || fail "$name: expected 2 reduced levels"
  grep -q 'Image Width: 225 Image Length: 175' info.txt || fail "$name: no 225x175 level"
  # No temporary left next to the outputs.
  ! ls ./*.tmp.* >/dev/null 2>&1 || fail "$name: temporaries left: $(ls ./*.tmp.*)"
  echo "$name: identical on 1, 2, 3 ranks ($(stat -c %s "${name}_n1.tif") bytes)"
}

check deflate8
check zstd16 --set output.compression=zstd --set output.bits=16
check jpeg --set output.compression=jpeg

# A failing output is reported once, for every rank, with no file touched: an
# existing output without overwrite is refused before any dreaming.
echo taken >taken.tif
rc=0
mpirun --oversubscribe -n 2 "$GIGADREAM" render job.ini --set output.file=taken.tif \
  --set output.overwrite=false >out.txt 2>err.txt || rc=$?
[ "$rc" -eq 1 ] || fail "an existing output: exit $rc, expected 1: $(cat err.txt)"
[ "$(grep -c '^gigadream' err.txt)" -eq 1 ] || fail "expected one error line: $(cat err.txt)"
grep -q 'taken.tif.*exists' err.txt || fail "the error does not name the file: $(cat err.txt)"
[ "$(cat taken.tif)" = taken ] || fail "an existing output was replaced"

#!/usr/bin/env bash
# Issue 3, acceptance 3: the same job gives the same pixels, run after run;
# the dream seed changes them; output-only keys (compression, format) do not.
# A small job that still runs the whole machinery: jittered tiles (128 + 32
# overlap, so several tiles per iteration), 2 octaves x 2 iterations.
# gd-test: needs-models
# gd-test: timeout 300
source "$(dirname "$0")/lib.sh"
# On a shared machine, OpenMP threads that spin at barriers while another
# process holds a core make a render 5-10x slower; sleeping threads do not
# (the arithmetic, hence every pixel, is the same).
export OMP_WAIT_POLICY=passive

cat >det.ini <<EOF
[input]
image = $IMG/cat.png

[model]
file = $V1
layer = Conv2d_5_pointwise

[dream]
mode = deepdream
octaves = 2
iterations = 2

[tiles]
size = 128
overlap = 32

[output]
file = a.tif
EOF

render_ok a.log det.ini
# The job did tile and jitter: both octaves ran, each iteration on several tiles.
grep -q "2 octaves (365x243, 512x341), 2 iterations each" a.log || fail "unexpected plan: $(cat a.log)"
tiles=$(sed -n 's/.*iteration [0-9]\/2: \([0-9]*\) tiles.*/\1/p' a.log)
[ "$(wc -l <<<"$tiles")" -eq 4 ] || fail "expected 4 iteration lines, got: $tiles"
for n in $tiles; do [ "$n" -gt 1 ] || fail "an iteration ran on $n tile(s), expected several"; done
sum_a=$(pixel_sum a.tif)
echo "a.tif: $sum_a"
[ "$sum_a" != "$(pixel_sum "$IMG/cat.png")" ] || fail "the output has the seed's pixels: nothing dreamed"

# Twice: the same pixels, and here even the same file.
render_ok b.log det.ini --set output.file=b.tif
[ "$(pixel_sum b.tif)" = "$sum_a" ] || fail "a second run gave other pixels: $(pixel_sum b.tif) != $sum_a"
cmp -s a.tif b.tif || fail "a second run wrote a different file with the same pixels"

# Another dream seed moves the jitter: other pixels.
render_ok seed.log det.ini --set output.file=seed.tif --set dream.seed=7
sum_seed=$(pixel_sum seed.tif)
[ "$sum_seed" != "$sum_a" ] || fail "dream.seed=7 gave the same pixels as seed 0"

# Compression changes the file, not the pixels.
render_ok zstd.log det.ini --set output.file=zstd.tif --set output.compression=zstd
tiffinfo zstd.tif 2>/dev/null | grep -q "Compression Scheme: ZSTD" || fail "zstd.tif is not zstd-compressed"
tiffinfo a.tif 2>/dev/null | grep -q "Compression Scheme: AdobeDeflate" || fail "a.tif is not deflate"
! cmp -s a.tif zstd.tif || fail "compression = zstd wrote the same bytes as deflate"
[ "$(pixel_sum zstd.tif)" = "$sum_a" ] || fail "compression = zstd changed the pixels"

# So does the format: a PNG of the same job holds the same pixels, and an
# independent PNG decoder agrees with gigadream info's checksum.
render_ok png.log det.ini --set output.file=a.png
[ "$(pixel_sum a.png)" = "$sum_a" ] || fail "the PNG output has other pixels than the TIFF"
[ "$(png_fnv a.png)" = "$sum_a" ] || fail "python's PNG checksum $(png_fnv a.png) != $sum_a"
echo ok

#!/usr/bin/env bash
# The pixel checksum the render tests compare outputs by ("gigadream info"'s
# "pixels: fnv1a64 HEX", gd_image_checksum in imageio.h): its value against
# independent computations, its independence from the container, and that it
# sums a 200-megapixel BigTIFF band by band in modest memory.
# gd-test: timeout 120
source "$(dirname "$0")/lib.sh"

# The same pixels as PNG and as a deflate TIFF in strips; and python's PNG decoder agrees.
sum=$(pixel_sum "$IMG/cat.png")
[ "$(pixel_sum "$IMG/cat.tif")" = "$sum" ] || fail "cat.png and cat.tif (same pixels) differ"
[ "$(png_fnv "$IMG/cat.png")" = "$sum" ] || fail "python's checksum of cat.png is not $sum"
[ "$(pixel_sum "$IMG/grace_hopper.png")" != "$sum" ] || fail "two photos, one checksum"
"$GIGADREAM" info "$IMG/cat.png" | grep -Eq "^pixels: fnv1a64 [0-9a-f]{16}$" || fail "no checksum line"

# A small tiled BigTIFF with partial edge tiles, against the FNV-1a of its known pixels.
bigtiff_constant small.tif 300 200 10 200 30
"$GIGADREAM" info small.tif | grep -q "^small.tif: TIFF image 300x200, 3 channels, 8 bits, tiled, BigTIFF" ||
  fail "small.tif: $("$GIGADREAM" info small.tif)"
[ "$(pixel_sum small.tif)" = "$(fnv_constant 300 200 10 200 30)" ] || fail "small.tif: wrong checksum"
bigtiff_constant other.tif 300 200 10 200 31
[ "$(pixel_sum other.tif)" != "$(pixel_sum small.tif)" ] || fail "one sample changed, same checksum"

# 200 megapixels (600 MB of samples, 2.4 GB as floats): read band by band.
bigtiff_constant huge.tif 20000 10000 1 2 3
/usr/bin/time -f %M -o rss.txt "$GIGADREAM" info huge.tif >huge.txt || fail "info huge.tif failed"
grep -q "^huge.tif: TIFF image 20000x10000, 3 channels, 8 bits, tiled, BigTIFF" huge.txt ||
  fail "huge.tif: $(cat huge.txt)"
grep -Eq "^pixels: fnv1a64 [0-9a-f]{16}$" huge.txt || fail "huge.tif: no checksum: $(cat huge.txt)"
rss_kb=$(tail -n 1 rss.txt)
echo "huge.tif: peak memory ${rss_kb} kB"
[ "$rss_kb" -lt 262144 ] || fail "summing huge.tif took ${rss_kb} kB (bands should need ~70 MB)"

# Unreadable files fail as the reader does: exit 1, one line naming the file.
head -c 1000 "$IMG/cat.png" >cut.png
expect_fail 1 "^gigadream: cut\.png: " "$GIGADREAM" info cut.png
[ ! -s out.txt ] || fail "info printed a description of an unreadable image: $(cat out.txt)"
echo ok

#!/usr/bin/env bash
# Issue 20: gigadream zoom turns a rendered TIFF into a Deep Zoom viewer
# (tiles from the TIFF's own pyramid, OpenSeadragon from npm, no server);
# headless Chromium opens its index.html from file://, and its screenshot
# matches the render's preview.
# gd-test: needs-models
# gd-test: timeout 300
source "$(dirname "$0")/lib.sh"
export OMP_WAIT_POLICY=passive
command -v chromium >/dev/null || { echo "SKIP: chromium is not installed (scripts/setup.sh installs it)"; exit 77; }

cat >job.ini <<EOF
[input]
image = $IMG/cat.png
width = 1200
height = 800

[model]
file = $V1
layer = Conv2d_3_pointwise

[dream]
mode = naive
octaves = 1
iterations = 2

[output]
file = dream.tif
EOF
render_ok render.log job.ini
[ -f dream.preview.png ] || fail "the render wrote no preview"

"$GIGADREAM" zoom dream.tif view >zoom.txt 2>zoom.err || fail "gigadream zoom failed: $(cat zoom.err)"
cat zoom.txt
# 1200 x 800: Deep Zoom levels 0..11 (2^11 >= 1200), the 4 largest cut from
# the TIFF's directories (1200, 600, 300, 150 wide), the rest made from 150;
# tiles: 5 x 4 + 3 x 2 + 2 x 1 + 1 + 8 x 1 = 37.
grep -q "^dream.tif: 1200x800, 12 Deep Zoom levels (4 from the TIFF's pyramid), 37 tiles" zoom.txt ||
  fail "zoom reported: $(cat zoom.txt)"
grep -q 'TileSize="256"' view/image.dzi && grep -q '<Size Width="1200" Height="800"/>' view/image.dzi ||
  fail "image.dzi: $(cat view/image.dzi)"
[ -f view/openseadragon/openseadragon.min.js ] || fail "OpenSeadragon was not copied into the viewer"
# Tiles: level 11 is 5 x 4 tiles, the last one 1200 - 1024 = 176 by 800 - 768 = 32 pixels;
# level 0 is 1 x 1.
[ "$(ls view/image_files/11 | wc -l)" -eq 20 ] || fail "level 11 has $(ls view/image_files/11 | wc -l) tiles, expected 20"
"$GIGADREAM" info view/image_files/11/4_3.jpg | grep -q "JPEG image 176x32" || fail "tile 11/4_3: $("$GIGADREAM" info view/image_files/11/4_3.jpg)"
"$GIGADREAM" info view/image_files/0/0_0.jpg | grep -q "JPEG image 1x1" || fail "level 0 is not 1x1"
# An existing folder is refused; nothing half-written is left on failure.
expect_fail 1 "view exists" "$GIGADREAM" zoom dream.tif view
expect_fail 1 "zoom reads a TIFF" "$GIGADREAM" zoom dream.preview.png other
[ ! -e other ] && ! ls -d other.tmp.* 2>/dev/null || fail "a failed zoom left a folder"

# The browser: the page from file://, the whole image in a viewer of the
# preview's size (#still=WxH: fixed, as headless Chromium resizes its window).
# (--no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.)
# A page still blank when the screenshot is taken (the virtual time budget
# ran out on a loaded machine before the tiles were drawn) is shot once more
# with a larger budget; a blank second shot fails.
shoot() {
  rm -f shot.png
  timeout 120 chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$T/chromium-profile" --window-size=1024,768 --virtual-time-budget="$1" \
    --screenshot="$T/shot.png" "file://$T/view/index.html#still=1024x683" >chromium.log 2>&1 ||
    fail "chromium failed: $(tail -n 3 chromium.log)"
  [ -s shot.png ] || fail "chromium wrote no screenshot: $(tail -n 3 chromium.log)"
  python3 "$GD_SOURCE_DIR/tests/cli/compare_shot.py" shot.png dream.preview.png 256 >compare.txt
}
shoot 15000 || { [ $? -eq 3 ] && shoot 60000; } || fail "comparing the screenshot failed: $(tail -n 1 compare.txt)"
cat compare.txt
read -r _ x0 y0 w h < <(grep '^bbox' compare.txt)
psnr=$(awk '/^psnr /{print $2}' compare.txt)
flipped=$(awk '/^psnr_flipped/{print $2}' compare.txt)
# The viewer fits the 3:2 image into its 1024 x 683 box: a 3:2 image filling it.
in_range "$w" 1020 1024 || fail "the image in the screenshot is $w wide"
in_range "$x0" 0 2 || fail "the image in the screenshot starts at x = $x0"
in_range "$(awk -v w="$w" -v h="$h" 'BEGIN { print w / h }')" 1.48 1.52 || fail "the image in the screenshot is $w x $h, not 3:2"
# Averaged over 4 x 4-pixel cells, the screenshot (JPEG tiles at quality 95,
# scaled by the browser from the level above) measured 39.7 dB against the
# preview (triangle filter from the TIFF); the same preview mirrored, a wrong
# picture with the same colours, 13.4 dB.  30 dB is far from both: a viewer
# that shows the wrong level, place, or an empty page fails, browser
# resampling passes.
in_range "$psnr" 30 1000 || fail "screenshot against the preview: $psnr dB, at least 30 wanted"
in_range "$flipped" 0 25 || fail "the mirrored preview matches too ($flipped dB): the comparison cannot tell pictures apart"
echo "ok: screenshot $w x $h, $psnr dB against the preview ($flipped dB mirrored)"

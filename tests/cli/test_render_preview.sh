#!/usr/bin/env bash
# Issue 20: every render writes OUT.preview.png beside its output ([output]
# preview, longest side, default 1024; 0 = none), as big as the output when
# that is smaller (then with the output's very pixels), else with the longest
# side asked for.  (tests/unit/test_output_preview.c checks the pixels of a
# reduced preview against the output; this checks the job key and the names.)
# gd-test: needs-models
# gd-test: timeout 300
source "$(dirname "$0")/lib.sh"
export OMP_WAIT_POLICY=passive

cat >job.ini <<EOF
[input]
image = $IMG/grace_hopper.png
width = 200

[model]
file = $V1
layer = Conv2d_3_pointwise

[dream]
mode = naive
octaves = 1
iterations = 1

[tiles]
size = 128
overlap = 16

[output]
file = dream.tif
EOF

# png_size FILE: "W H" from the PNG's header.
png_size() { python3 -c 'import struct,sys; b=open(sys.argv[1],"rb").read(24); print(*struct.unpack(">II", b[16:24]))' "$1"; }

render_ok log1 job.ini
[ -f dream.preview.png ] || fail "no dream.preview.png beside dream.tif: $(ls)"
grep -q "wrote the preview .*dream.preview.png" log1 || fail "the log does not name the preview"
[ "$(png_size dream.preview.png)" = "200 234" ] || fail "preview of a 200x234 output is $(png_size dream.preview.png)"
[ "$(pixel_sum dream.preview.png)" = "$(pixel_sum dream.tif)" ] || fail "a small output's preview differs from it"

# A smaller side; the longest side is the height here: round(200 * 100 / 234) x 100 = 85 x 100.
render_ok log2 job.ini --set output.preview=100 --set output.file=two.png
[ "$(png_size two.preview.png)" = "85 100" ] || fail "preview = 100 gave $(png_size two.preview.png)"

# 0: none.
render_ok log3 job.ini --set output.preview=0 --set output.file=none.tif
[ -f none.tif ] && [ ! -e none.preview.png ] || fail "preview = 0 still wrote none.preview.png"
if grep -q "wrote the preview" log3; then fail "preview = 0 still logs a preview"; fi

expect_fail 1 "preview.*must be 0 \(no preview\) or the preview's longest side, up to 65535" \
  "$GIGADREAM" render job.ini --set output.preview=-5 --set output.file=bad.tif
[ ! -e bad.tif ] && [ ! -e bad.preview.png ] || fail "a refused job wrote files"
echo ok

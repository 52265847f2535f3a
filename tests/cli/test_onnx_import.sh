#!/usr/bin/env bash
# Issue 19: `gigadream import SRC.onnx OUT.h5` from the command line.
#  - bad models (truncated, unsupported op, missing initializer, wrong weight
#    dims): one line naming the file and the node, exit 1, nothing written;
#  - the input convention (--mean/--std/--scale/--bgr) is stored in the .h5
#    and folded into the normalization; --bgr on a network reading BGR gives
#    the same probabilities on the swapped image as without it;
#  - the GoogLeNet-shaped model (torchvision's googlenet, random weights,
#    Caffe's layer names) lists inception_4c/output, takes it by a unique
#    substring, and a quickstart-like dream at that layer renders.
# gd-test: needs-onnx
# gd-test: needs-torch
# gd-test: timeout 600
source "$(dirname "$0")/lib.sh"
D="$GD_TEST_TMP/onnx"
[ -s "$D/small.onnx" ] || fail "$D/small.onnx missing: the onnx_fixtures fixture did not run"

# ---- Bad models --------------------------------------------------------------
expect_fail 1 "bad_truncated\.onnx: not an ONNX model, or truncated" \
  "$GIGADREAM" import "$D/bad_truncated.onnx" out.h5
expect_fail 1 "bad_unsupported\.onnx: node 'my_tanh' \(Tanh\): unsupported op 'Tanh'" \
  "$GIGADREAM" import "$D/bad_unsupported.onnx" out.h5
expect_fail 1 "bad_missing_init\.onnx: node 'mix_a' \(Conv\): input 'w2' is neither an initializer" \
  "$GIGADREAM" import "$D/bad_missing_init.onnx" out.h5
expect_fail 1 "bad_dims\.onnx: node 'mix_b' \(Conv\): weights \[8, 3, 3, 3\] in 2 groups do not fit its 8-channel input" \
  "$GIGADREAM" import "$D/bad_dims.onnx" out.h5
expect_fail 1 "bad_truncated\.pb: not a TensorFlow GraphDef, or truncated" \
  "$GIGADREAM" import "$D/bad_truncated.pb" out.h5
expect_fail 1 "--scale must be 255 or 1" "$GIGADREAM" import "$D/small.onnx" out.h5 --scale 7
expect_fail 1 "--mean '1,2': expected three numbers" "$GIGADREAM" import "$D/small.onnx" out.h5 --mean 1,2
expect_fail 1 "apply to ONNX and GraphDef models only" "$GIGADREAM" import x.tflite out.h5 --bgr
for f in out.h5 out.h5.tmp; do [ ! -e "$f" ] || fail "a refused import left $f"; done

# ---- The input convention, stored and applied ----------------------------------
"$GIGADREAM" import "$D/small.onnx" small.h5 --mean 0.5,0.25,0.125 --std 0.5,0.5,0.25 --scale 1 \
  >/dev/null || fail "import small.onnx"
/usr/bin/python3 - small.h5 <<'PY' || fail "convention attributes"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
a = f.attrs
assert np.allclose(a["in_mean"], [0.5, 0.25, 0.125]), a["in_mean"]
assert np.allclose(a["in_std"], [0.5, 0.5, 0.25]), a["in_std"]
assert float(a["in_scale"]) == 1.0 and int(a["in_bgr"]) == 0
# x = (p / 255 - mean) / std = p * norm_scale + norm_offset
assert np.allclose(a["norm_scale"], 1 / 255 / np.array([0.5, 0.5, 0.25]), rtol=1e-6), a["norm_scale"]
assert np.allclose(a["norm_offset"], -np.array([1.0, 0.5, 0.5]), rtol=1e-6), a["norm_offset"]
PY
# --bgr: the network reads B, G, R; an RGB photo and its channel-swapped copy
# give the same probabilities with and without --bgr respectively.
"$GIGADREAM" import "$D/small.onnx" rgb.h5 >/dev/null || fail "import rgb"
"$GIGADREAM" import "$D/small.onnx" bgr.h5 --bgr >/dev/null || fail "import --bgr"
/usr/bin/python3 - "$IMG/cat.png" <<'PY' || fail "making the swapped photo"
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB").resize((19, 17))
im.save("cat_rgb.png")
r, g, b = im.split()
Image.merge("RGB", (b, g, r)).save("cat_bgr.png")
PY
"$GIGADREAM" classify bgr.h5 cat_rgb.png --top 10 >p_bgr.txt || fail "classify bgr"
"$GIGADREAM" classify rgb.h5 cat_bgr.png --top 10 >p_rgb.txt || fail "classify rgb"
cmp -s p_bgr.txt p_rgb.txt || fail "--bgr differs from swapping the photo: $(paste p_bgr.txt p_rgb.txt)"
grep -q "^1 " p_bgr.txt || fail "classify printed nothing"

# ---- GoogLeNet: layer names, a substring, a dream --------------------------------
"$GIGADREAM" import "$D/googlenet.onnx" gn.h5 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 \
  --scale 1 >/dev/null || fail "import googlenet"
"$GIGADREAM" layers gn.h5 >layers.txt || fail "layers"
grep -Eq "^ +[0-9]+ +inception_4c/output +concat +512 +14x14x512" layers.txt ||
  fail "no inception_4c/output 512x14x14 in: $(grep inception_4c layers.txt)"
expect_fail 1 "layer 'inception_4' is ambiguous" \
  "$GIGADREAM" render "$GD_SOURCE_DIR/jobs/quickstart.ini" --set "model.file=$PWD/gn.h5" \
  --set model.layer=inception_4 --set "output.file=$PWD/x.tif"
[ ! -e x.tif ] || fail "an ambiguous layer left x.tif"
render_ok dream.log "$GD_SOURCE_DIR/jobs/quickstart.ini" --set "model.file=$PWD/gn.h5" \
  --set model.layer=4c/output --set "output.file=$PWD/dream.tif" --set "input.image=$IMG/cat.png" \
  --set dream.octaves=2 --set dream.iterations=3
[ -s dream.tif ] || fail "no dream.tif"
gain=$(objective_gain dream.log)
in_range "$gain" 1.05 1000 || fail "dreaming at inception_4c/output did not raise it: ${gain}x"
echo "googlenet dream at inception_4c/output: objective ${gain}x the seed's"

#!/usr/bin/env bash
# Issue 5, acceptance 3: a flipped byte inside the newest checkpoint's image
# data and a truncated newest checkpoint are each detected with a clear
# message and the previous checkpoint is used; a checkpoint from a different
# job is refused, listing the keys that differ.  gigadream info says whether
# a checkpoint is valid.
# gd-test: needs-models
# gd-test: timeout 600
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1
cat >job.ini <<EOT
[input]
image = $GIGADREAM_IMAGE_DIR/cat.png
[model]
file = $GD_TEST_MODELS/mobilenet_v1_1.0_224_quant_embedding_extractor.h5
layer = Conv2d_5_pointwise
[dream]
octaves = 1
iterations = 6
[output]
file = out.tif
overwrite = true
[checkpoint]
dir = ckpt
every_iterations = 1
keep = 3
EOT
"$GIGADREAM" render job.ini --quiet --set output.file=ref.tif --set checkpoint.dir=ckpt-ref ||
  fail "the reference render failed"

# Three checkpoints of a run stopped after iteration 3 (keep the newest 3).
"$GIGADREAM" render job.ini --quiet --set dream.iterations=6 --set checkpoint.every_iterations=1 \
  --set output.file=ignored.tif || fail "the checkpointed render failed"
ls ckpt/*.h5 >/dev/null || fail "no checkpoints written"
# The newest holds the finished dream; drop it so the newest is mid-dream.
newest=$(ls ckpt/*.h5 | sort | tail -1)
rm -f "$newest" ignored.tif
list=($(ls ckpt/*.h5 | sort))
[ ${#list[@]} -ge 2 ] || fail "need two checkpoints, have: ${list[*]}"
newest=${list[-1]} previous=${list[-2]}
"$GIGADREAM" info "$newest" | grep -q "valid *yes" || fail "info does not call $newest valid"

# 1. One byte flipped in the middle of the newest file (its image data).
cp "$newest" saved.h5
size=$(stat -c %s "$newest")
python3 - "$newest" "$((size / 2))" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, 'r+b') as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x40]))
PY
rc=0; "$GIGADREAM" info "$newest" >info.txt 2>err.txt || rc=$?
[ "$rc" -eq 1 ] || fail "info on a damaged checkpoint: exit $rc"
grep -q "valid *no: .*checksum error in image data" info.txt || fail "info: $(grep valid info.txt)"
"$GIGADREAM" render job.ini 2>run.txt || fail "render with a damaged newest checkpoint failed: $(tail -2 run.txt)"
grep -q "skipping checkpoint (damaged): .*$(basename "$newest"): checksum error in image data" run.txt ||
  fail "no message about the damaged checkpoint: $(grep -i skip run.txt)"
grep -q "resumed from .*$(basename "$previous")" run.txt || fail "did not fall back to $previous"
cmp -s out.tif ref.tif || fail "resumed from the previous checkpoint: output differs"

# 2. The newest truncated.
rm -rf ckpt out.tif
"$GIGADREAM" render job.ini --quiet --set output.file=ignored.tif || fail "render failed"
rm -f "$(ls ckpt/*.h5 | sort | tail -1)" ignored.tif
list=($(ls ckpt/*.h5 | sort))
newest=${list[-1]} previous=${list[-2]}
truncate -s $(($(stat -c %s "$newest") / 3)) "$newest"
"$GIGADREAM" render job.ini 2>run.txt || fail "render with a truncated newest checkpoint failed"
grep -q "skipping checkpoint (damaged): .*$(basename "$newest"): .*truncated" run.txt ||
  fail "no message about the truncated checkpoint: $(grep -i skip run.txt)"
grep -q "resumed from .*$(basename "$previous")" run.txt || fail "did not fall back to $previous"
cmp -s out.tif ref.tif || fail "after truncation: output differs"

# 3. Checkpoints of a different job: refused, the differing keys listed.
rm -rf ckpt out.tif
"$GIGADREAM" render job.ini --quiet --set output.file=ignored.tif --set dream.iterations=3 || fail "render failed"
rm -f ignored.tif
expect_fail 1 "job\.ini:[0-9]+: \[checkpoint\] dir holds checkpoints of another job.*different job: dream\.iterations: 3 -> 6" \
  "$GIGADREAM" render job.ini --quiet
[ ! -e out.tif ] || fail "a refused render wrote its output"
# --restart starts over anyway and writes newer checkpoints beside them.
"$GIGADREAM" render job.ini --quiet --restart || fail "--restart failed"
cmp -s out.tif ref.tif || fail "--restart: output differs"
echo ok

#!/usr/bin/env bash
# Issue 17: a render over its [engine] memory budget goes out of core and
# gives exactly the bytes of the in-core render, on 1 and on 2 ranks, and
# after a SIGKILL and a resume out of core; the log says why and how much
# scratch; a budget below one window is refused naming the minimum; an
# unwritable or full scratch folder fails with one line, exit 2, no output,
# the previous checkpoint intact.
# gd-test: needs-models
# gd-test: timeout 900
# gd-test: ranks
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1
cat >job.ini <<EOT
[input]
image = $IMG/cat.png
width = 1500
height = 1000
[model]
file = $V1
layer = Conv2d_7_pointwise
[dream]
octaves = 2
iterations = 3
[tiles]
size = 128
overlap = 32
[output]
file = out.tif
overwrite = true
[checkpoint]
dir = ckpt
every_iterations = 1
keep = 3
EOT

# In core, 1 and 2 ranks (the reference bytes).
render_ok in1.log job.ini --set output.file=in1.tif --set checkpoint.dir=ck-in1
grep -q "out of core" in1.log && fail "the in-core reference went out of core"
mpirun --oversubscribe -n 2 "$GIGADREAM" render job.ini --set output.file=in2.tif \
  --set checkpoint.dir=ck-in2 2>in2.log || fail "2-rank in-core render failed: $(tail -n 2 in2.log)"
# The halo traffic is measured and logged: per iteration, more than nothing and at most
# 2 x (tile + 2 overlap) rows of 1500 RGB floats (image rows out, gradient rows back).
per=$(sed -n 's/.*halo exchange: at most .* sent by a rank over 6 iterations (\([0-9.]*\) MB per iteration).*/\1/p' in2.log)
[ -n "$per" ] || fail "no halo line for 6 iterations: $(grep -m1 'halo exchange' in2.log)"
awk -v p="$per" 'BEGIN { exit !(p > 0.1 && p <= 2 * 192 * 1500 * 12 / 1048576) }' ||
  fail "halo per iteration $per MB is outside (0.1, 6.6] MB"

# Out of core on 1 rank: about 71 MB would hold it, the budget is 45 MB (2 ranks: 48 MB each).
render_ok out1.log job.ini --set output.file=out1.tif --set checkpoint.dir=ck-out1 \
  --set engine.memory=45MB --set engine.scratch=.
grep -Eq "out of core: the dream needs about [0-9.]+ MB per rank in memory, over the 45.00 MB budget \(\[engine\] memory\); its images live in scratch files in /.*/test_render_out_of_core, streamed" out1.log ||
  fail "no out-of-core line: $(grep -m3 . out1.log)"
grep -Eq "scratch files: at most [0-9.]+ MB on rank 0" out1.log || fail "no scratch bytes in the log"
cmp -s in1.tif out1.tif || fail "1 rank: out-of-core output differs from in-core"
ls -A | grep -q gigadream-scratch && fail "scratch files left behind"

# Out of core on 2 ranks.
mpirun --oversubscribe -n 2 "$GIGADREAM" render job.ini --set output.file=out2.tif \
  --set checkpoint.dir=ck-out2 --set engine.memory=45MB 2>out2.log ||
  fail "2-rank out-of-core render failed: $(tail -n 2 out2.log)"
grep -q "out of core" out2.log || fail "2 ranks did not go out of core"
cmp -s in2.tif out2.tif || fail "2 ranks: out-of-core output differs from in-core"
cmp -s in1.tif in2.tif || fail "1 rank and 2 ranks differ"

# SIGKILL mid-render out of core, then resume out of core: same bytes.
started() { for _ in $(seq 1 600); do grep -q "octave 2/2 iteration 1/" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
(rc=0; "$GIGADREAM" render job.ini --set output.file=k.tif --set checkpoint.dir=ck-k \
  --set engine.memory=45MB 2>kill.log || rc=$?; echo "$rc" >kill.rc) &
started kill.log || fail "the render to kill did not get going: $(tail -n 2 kill.log)"
pkill -KILL -f "$GIGADREAM render job.ini --set output.file=k.tif" || fail "no process to kill"
wait
[ "$(cat kill.rc)" = 137 ] || fail "the killed render exited $(cat kill.rc)"
[ ! -e k.tif ] || fail "a killed render left an output"
render_ok resume.log job.ini --set output.file=k.tif --set checkpoint.dir=ck-k --set engine.memory=45MB
grep -q "resumed from .*ck-k" resume.log || fail "no resume: $(grep -m2 . resume.log)"
grep -q "out of core" resume.log || fail "the resume did not go out of core"
cmp -s in1.tif k.tif || fail "SIGKILL + resume out of core: output differs"

# A budget below one window of tile rows: refused at start, naming the minimum.
mkdir small
expect_fail 1 "\[engine\] memory: 5.00 MB per rank is below the [0-9.]+ MB a 1500x1000 image needs even out of core" \
  "$GIGADREAM" render job.ini --quiet --set engine.memory=5MB --set output.file=small/o.tif \
  --set checkpoint.dir=small/ck
rmdir small/ck || fail "the refused render wrote into its checkpoint folder: $(ls -A small/ck)"
nothing_written small

# Scratch that cannot take a file: a path through a regular file (root can
# write anywhere else).  One line naming the key and the folder, exit 2, no
# output; the checkpoint folder of an earlier run left as it was.
cp -r ck-out1 ck-bad
before=$(cd ck-bad && find . -type f -exec sha256sum {} + | sort)
touch plain
expect_fail 2 "\[engine\] scratch: scratch folder /[^ ]*/plain/sub: " \
  "$GIGADREAM" render job.ini --quiet --set engine.memory=45MB --set engine.scratch=plain/sub \
  --set output.file=bad.tif --set checkpoint.dir=ck-bad --set dream.iterations=4
[ ! -e bad.tif ] || fail "an output was written"
ls | grep -q "bad.tif" && fail "a temporary output was left"
[ "$before" = "$(cd ck-bad && find . -type f -exec sha256sum {} + | sort)" ] || fail "the checkpoint folder changed"

# A full scratch folder: files may not grow past 8 MB here (ulimit -f; the
# signal it raises is ignored, so the write fails with EFBIG instead).
(
  trap '' XFSZ
  ulimit -f 8192
  expect_fail 2 "scratch folder /[^ ]*/test_render_out_of_core: cannot reserve [0-9.]+ [KM]B for the image band: File too large" \
    "$GIGADREAM" render job.ini --quiet --set engine.memory=45MB --set engine.scratch=. \
    --set output.file=full.tif --set checkpoint.dir=ck-bad --set dream.iterations=4
)
[ ! -e full.tif ] || fail "an output was written with a full scratch"
[ "$before" = "$(cd ck-bad && find . -type f -exec sha256sum {} + | sort)" ] || fail "the checkpoint folder changed"
echo ok

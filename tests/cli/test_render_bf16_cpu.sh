#!/usr/bin/env bash
# [engine] precision = bf16 on a CPU without AVX-512 BF16: the render exits 1
# before any work with one line naming the job key and the CPU's ISA, and
# writes nothing.  The CPU is made to look older with ONEDNN_MAX_CPU_ISA
# (oneDNN then uses nothing above it, and would only emulate bf16).  On a CPU
# with AVX-512 BF16 the same job renders (on one without, that part is skipped).
# gd-test: needs-models
# gd-test: timeout 300
source "$(dirname "$0")/lib.sh"
export OMP_WAIT_POLICY=passive
mkdir out

cat >job.ini <<EOF2
[input]
image = $IMG/cat.png
width = 96

[model]
file = $V1
layer = Conv2d_5_pointwise

[dream]
octaves = 1
iterations = 1

[tiles]
size = 64
overlap = 16

[output]
file = out/x.tif

[engine]
precision = bf16
EOF2
LINE=$(grep -n '^precision = bf16' job.ini | cut -d: -f1)

for isa in AVX512_CORE_VNNI AVX512_CORE AVX2; do
  ONEDNN_MAX_CPU_ISA=$isa expect_fail 1 \
    "^gigadream: .*job\.ini:$LINE: \[engine\] precision = bf16 needs a CPU with AVX-512 BF16 \(this one has [^)]*ONEDNN_MAX_CPU_ISA=$isa[^)]*\)$" \
    "$GIGADREAM" render job.ini
  nothing_written out
done
# The key given on the command line is named as such.
ONEDNN_MAX_CPU_ISA=AVX2 expect_fail 1 \
  "^gigadream: --set engine.precision=bf16: \[engine\] precision = bf16 needs a CPU with AVX-512 BF16 \(this one has AVX2" \
  "$GIGADREAM" render job.ini --set engine.precision=bf16
nothing_written out
# fp32 is never refused.
ONEDNN_MAX_CPU_ISA=AVX2 render_ok fp32.log job.ini --set engine.precision=fp32
rm -f out/x.tif

if grep -qw avx512_bf16 /proc/cpuinfo; then
  render_ok bf16.log job.ini
  grep -q "the network runs in bf16" bf16.log || fail "the bf16 render does not say it runs in bf16"
  [ -s out/x.tif ] || fail "the bf16 render wrote no output"
else
  echo "this CPU has no AVX-512 BF16: the bf16 render itself is not run"
fi
echo "ok"

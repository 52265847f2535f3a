#!/usr/bin/env bash
# Issue 3, acceptance 5: every mode with every objective, on a real photo, and
# the noise seed, each renders, raises its objective, and writes a file other
# tools read; the output keys (bits, bigtiff, pyramid, dpi, format by
# extension) do what they say.  Small images and few iterations: each render
# takes about half a second.
# gd-test: needs-models
# gd-test: timeout 300
source "$(dirname "$0")/lib.sh"
# On a shared machine, OpenMP threads that spin at barriers while another
# process holds a core make a render 5-10x slower; sleeping threads do not
# (the arithmetic, hence every pixel, is the same).
export OMP_WAIT_POLICY=passive

cat >modes.ini <<EOF
[input]
image = $IMG/grace_hopper.png
width = 128

[model]
file = $V1
layer = Conv2d_5_pointwise

[tiles]
size = 64
overlap = 16

[output]
file = out.tif
EOF

# Few iterations, but enough for each mode to raise its objective: naive is
# one scale; multiscale and lapnorm upscale, so their output is measured at a
# larger size than the seed.
declare -A mode_keys=(
  [deepdream]="dream.octaves=2 dream.iterations=2"
  [naive]="dream.octaves=1 dream.iterations=4"
  [multiscale]="dream.octaves=2 dream.iterations=4"
  [lapnorm]="dream.octaves=2 dream.iterations=3"
)
# The objectives, as --set arguments ('|' separates two of them).
declare -A objectives=(
  [mean]="model.objective=mean"
  [square]="model.objective=square"
  [channels]="model.channels=1, 5, 9"
  [layers]="model.layer=Conv2d_5_pointwise:1, Conv2d_3_pointwise:0.5"
  [guide]="model.objective=guide|model.guide=$IMG/parrot.jpg"
)

# dream LOG OUT [--set ARG]...: renders modes.ini to OUT and checks that it
# exits 0, raises the objective (Y > 1 in "objective on the output: X (Yx the
# seed's Z)"), and wrote a file gigadream info and, for TIFF, tiffinfo read
# whole.  Also any extra --set arguments.
dream() {
  local log=$1 out=$2; shift 2
  render_ok "$log" modes.ini --set "output.file=$out" "$@"
  local y
  y=$(objective_gain "$log")
  awk -v y="$y" 'BEGIN { exit !(y > 1) }' || fail "$log: the objective fell: ${y}x the seed's"
  [ -s "$out" ] || fail "$log: no output $out"
  case $out in
  *.tif) tiffinfo -D "$out" >/dev/null 2>tiffinfo.err || fail "tiffinfo cannot read $out: $(cat tiffinfo.err)" ;;
  esac
  pixel_sum "$out" >/dev/null
  echo "$log: objective ${y}x the seed's"
}

# Output keys ride along on some of the 20 renders (mode.objective -> --set).
declare -A out_name=(
  [deepdream.mean]=pyramid.tif [deepdream.square]=flat.tif [deepdream.channels]=out.jpg
  [deepdream.layers]=out.png [multiscale.mean]=bits16.tif [multiscale.square]=bits16.png
  [lapnorm.layers]=big.tif [lapnorm.mean]=auto.tif
)
# A pyramid needs an image larger than one 256-pixel output tile.
declare -A out_keys=(
  [deepdream.mean]="output.pyramid=true|output.dpi=150|input.width=300"
  [deepdream.square]="output.pyramid=false"
  [multiscale.mean]="output.bits=16"
  [multiscale.square]="output.bits=16"
  [lapnorm.layers]="output.bigtiff=true"
)

for mode in deepdream naive multiscale lapnorm; do
  for obj in mean square channels layers guide; do
    args=(--set "dream.mode=$mode")
    for kv in ${mode_keys[$mode]}; do args+=(--set "$kv"); done
    IFS='|' read -ra kvs <<<"${objectives[$obj]}${out_keys[$mode.$obj]:+|${out_keys[$mode.$obj]}}"
    for kv in "${kvs[@]}"; do args+=(--set "$kv"); done
    dream "$mode-$obj.log" "${out_name[$mode.$obj]:-$mode-$obj.tif}" "${args[@]}"
    grep -q "^\[.*\] $mode mode, " "$mode-$obj.log" || fail "$mode-$obj.log: not a $mode render"
  done
done

# The modes differ: deepdream and lapnorm on the same objective give other pixels.
[ "$(pixel_sum deepdream-guide.tif)" != "$(pixel_sum lapnorm-guide.tif)" ] ||
  fail "deepdream and lapnorm gave the same pixels"
# Objectives differ: mean and square (same mode, naive) give other pixels.
[ "$(pixel_sum naive-mean.tif)" != "$(pixel_sum naive-square.tif)" ] || fail "mean and square gave the same pixels"

# The noise seed (the notebook's render_naive: a feature visualization from noise).
cat >noise.ini <<EOF
[input]
image = noise
width = 128
height = 96

[model]
file = $V1
layer = Conv2d_5_pointwise
channels = 3, 7

[dream]
mode = naive
iterations = 4

[tiles]
size = 64
overlap = 16

[output]
file = noise.png
EOF
render_ok noise.log noise.ini
y=$(objective_gain noise.log)
awk -v y="$y" 'BEGIN { exit !(y > 1) }' || fail "noise seed: the objective fell: ${y}x"
"$GIGADREAM" info noise.png | grep -q "^noise.png: PNG image 128x96, 3 channels, 8 bits" ||
  fail "noise.png: $("$GIGADREAM" info noise.png)"

# ---- The output keys ----

# pyramid = true: reduced-resolution directories after the first; false: one directory.
dirs=$(tiffinfo pyramid.tif 2>/dev/null | grep -c "TIFF Directory at offset")
[ "$dirs" -gt 1 ] || fail "pyramid.tif has $dirs directory, expected a pyramid"
tiffinfo pyramid.tif 2>/dev/null | grep -q "Subfile Type: reduced-resolution image" ||
  fail "pyramid.tif's later directories are not marked reduced-resolution"
dirs=$(tiffinfo flat.tif 2>/dev/null | grep -c "TIFF Directory at offset")
[ "$dirs" -eq 1 ] || fail "flat.tif (pyramid = false) has $dirs directories"
# dpi: the resolution tags, in inches; and the default 300.
tiffinfo pyramid.tif 2>/dev/null | grep -q "Resolution: 150, 150 pixels/inch" ||
  fail "pyramid.tif: dpi = 150 not in tiffinfo: $(tiffinfo pyramid.tif 2>/dev/null | grep Resolution)"
"$GIGADREAM" info pyramid.tif | grep -q ", 150 dpi" || fail "gigadream info does not read 150 dpi"
tiffinfo flat.tif 2>/dev/null | grep -q "Resolution: 300, 300 pixels/inch" || fail "flat.tif: not the default 300 dpi"

# bits = 16: 16-bit samples in TIFF and PNG; the checksum's 16-bit form agrees
# with an independent PNG decoder.
tiffinfo bits16.tif 2>/dev/null | grep -q "Bits/Sample: 16" || fail "bits16.tif is not 16-bit"
tiffinfo flat.tif 2>/dev/null | grep -q "Bits/Sample: 8" || fail "flat.tif is not 8-bit"
"$GIGADREAM" info bits16.tif | grep -q "3 channels, 16 bits" || fail "gigadream info: bits16.tif not 16 bits"
"$GIGADREAM" info bits16.png | grep -Eq "^bits16.png: PNG image [0-9]+x[0-9]+, 3 channels, 16 bits" ||
  fail "bits16.png: $("$GIGADREAM" info bits16.png)"
[ "$(png_fnv bits16.png)" = "$(pixel_sum bits16.png)" ] || fail "16-bit PNG checksum differs from python's"

# bigtiff = true: BigTIFF ("II" 0x2b), which tiffinfo reads; auto stays classic (0x2a).
[ "$(head -c 4 big.tif | xxd -p)" = "49492b00" ] || fail "big.tif starts with $(head -c 4 big.tif | xxd -p), not BigTIFF"
[ "$(head -c 4 auto.tif | xxd -p)" = "49492a00" ] || fail "auto.tif (bigtiff = auto) is not classic TIFF"
tiffdump big.tif 2>/dev/null | grep -q "Version: 0x2b <BigTIFF>" || fail "tiffdump: big.tif is not BigTIFF"
"$GIGADREAM" info big.tif | grep -q ", BigTIFF" || fail "gigadream info: big.tif not BigTIFF"

# Formats by extension: PNG and JPEG, by their signatures.
[ "$(head -c 8 out.png | xxd -p)" = "89504e470d0a1a0a" ] || fail "out.png is not a PNG"
[ "$(head -c 3 out.jpg | xxd -p)" = "ffd8ff" ] || fail "out.jpg is not a JPEG"
"$GIGADREAM" info out.jpg | grep -q "^out.jpg: JPEG image 128x150, 3 channels, 8 bits" ||
  fail "out.jpg: $("$GIGADREAM" info out.jpg)"
echo ok

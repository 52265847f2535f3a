#!/usr/bin/env bash
# Issue 3, acceptance 6: every bad input to render exits 1 with exactly one
# line on stderr that names the file (and the line or --set and the key when
# the job is at fault), and writes nothing: no output, no "<out>.tmp.*", no
# probe file in the output folder.
# gd-test: needs-models
# gd-test: timeout 300
source "$(dirname "$0")/lib.sh"
# On a shared machine, OpenMP threads that spin at barriers while another
# process holds a core make a render 5-10x slower; sleeping threads do not
# (the arithmetic, hence every pixel, is the same).
export OMP_WAIT_POLICY=passive
mkdir out

# A good job, fast: every case below breaks one thing in it.
cat >base.ini <<EOF
[input]
image = $IMG/cat.png
width = 128

[model]
file = $V1
layer = Conv2d_5_pointwise

[dream]
octaves = 2
iterations = 1

[tiles]
size = 64
overlap = 16

[output]
file = out/x.tif
EOF
BASE_LINES=$(wc -l <base.ini)

# refused PATTERN ARGS...: gigadream render ARGS exits 1, prints one line
# matching PATTERN, and leaves out/ empty.
refused() {
  local pattern=$1; shift
  expect_fail 1 "$pattern" "$GIGADREAM" render "$@"
  nothing_written out
}

# job_with NAME TEXT: NAME.ini = base.ini + TEXT; prints the line number of
# TEXT's second line (the key under a section header).
job_with() {
  { cat base.ini; printf '%s\n' "$2"; } >"$1.ini"
  echo $((BASE_LINES + 2))
}

# The good job works (so each failure below is the one thing broken), and the
# output it writes is removed again.
render_ok good.log base.ini
[ -s out/x.tif ] || fail "the base job wrote no output"
[ -s out/x.preview.png ] || fail "the base job wrote no preview"
rm out/x.tif out/x.preview.png

# ---- Bad input images --------------------------------------------------------

# cat.tif cut in half: its directory (at the end) is gone.
head -c $(($(stat -c %s "$IMG/cat.tif") / 2)) "$IMG/cat.tif" >half.tif
refused "^gigadream: --set input.image=half.tif: \[input\] image: .*/half\.tif: not a readable TIFF" \
  base.ini --set input.image=half.tif

# Random bytes named .tif: refused by content, not by name.
head -c 4096 /dev/urandom >garbage.tif
refused "/garbage\.tif: not a TIFF, PNG or JPEG image \(the file starts with bytes" \
  base.ini --set input.image=garbage.tif

# An empty file.
: >empty.png
refused "/empty\.png: empty file \(0 bytes\)" base.ini --set input.image=empty.png

# Zero-pixel images.  None gets past the libraries' own header checks:
# libpng refuses an IHDR width or height of 0 ("Invalid IHDR data"), libtiff
# a zero ImageWidth ("Computed scanline size is zero") and a zero ImageLength
# ("Cannot handle zero number of strips"), so gigadream's own size check is
# never reached; what matters is that each is refused at the header.
png_zero_width zero.png
refused "/zero\.png: not a readable PNG" base.ini --set input.image=zero.png
tiff_set_tag "$IMG/cat.tif" zerow.tif 256 0
refused "/zerow\.tif: not a readable TIFF.*scanline size is zero" base.ini --set input.image=zerow.tif
tiff_set_tag "$IMG/cat.tif" zeroh.tif 257 0
refused "/zeroh\.tif: not a readable TIFF.*zero number of strips" base.ini --set input.image=zeroh.tif

# A missing image, set in the file: the message names file:line and the key.
line=$(job_with noimage "[input]
image = nope.png")
sed -i "2d" noimage.ini # the base image line goes; 'image' is set once, below
refused "noimage\.ini:$((line - 1)): \[input\] image: .*/nope\.png: cannot open: No such file or directory" \
  noimage.ini

# Damaged pixel data behind a good header: found when the seed is read, after
# the render has started its log.  A TIFF rewritten with its directory first,
# then cut in the middle of its strips; a PNG with one bit flipped in an IDAT
# chunk (bad CRC).  The seed is read before anything is logged, so the error
# is the only line, with or without --quiet.
tiff_truncate_data "$IMG/cat.tif" trunc.tif
"$GIGADREAM" info trunc.tif >/dev/null 2>&1 && fail "trunc.tif reads whole: not truncated"
tiffinfo trunc.tif >/dev/null 2>&1 || fail "trunc.tif's header does not read"
png_flip_idat "$IMG/cat.png" badcrc.png
for args in "trunc.tif|/trunc\.tif: corrupt or truncated TIFF: strip [0-9]+ of [0-9]+ \(rows" \
  "badcrc.png|/badcrc\.png: PNG data is corrupt \(IDAT: CRC error\)"; do
  img=${args%%|*} pattern=${args#*|}
  refused "^gigadream: .*$pattern" base.ini --quiet --set "input.image=$img"
  refused "^gigadream: .*$pattern" base.ini --set "input.image=$img"
  nothing_written out
done

# ---- Bad job values: file:line, key, value ----------------------------------

line=$(job_with width "[input]
width = -1")
sed -i "3d" width.ini # drop the base width = 128; the bad one moves up a line
refused "^gigadream: width\.ini:$((line - 1)): \[input\] width: must be an integer from 0 \(keep\) to 1000000, got '-1'$" \
  width.ini

# An absurd size is refused before anything is allocated, saying how much it
# would need (the seed 512x341 at width 1000000: 1000000x666016).
expect_fail 1 "^gigadream: --set input\.width=1000000: a 1000000x666016 image needs about [0-9.]+ [KMGT]B per rank .* is available" \
  /usr/bin/time -f %M -o rss.txt "$GIGADREAM" render base.ini --quiet --set input.width=1000000
nothing_written out
rss_kb=$(tail -n 1 rss.txt)
[ "$rss_kb" -lt 1000000 ] || fail "width = 1000000: peak memory ${rss_kb} kB before refusing"
refused "a 1000000x666016 image needs about" base.ini --set input.width=1000000

for v in 1 0.5; do
  line=$(job_with scale "[dream]
octave_scale = $v")
  refused "^gigadream: scale\.ini:$line: \[dream\] octave_scale: must be > 1 and <= 4, got '$v'$" scale.ini
done
for v in 0 -1; do
  line=$(job_with step "[dream]
step = $v")
  refused "^gigadream: step\.ini:$line: \[dream\] step: must be > 0 and <= 1000000, got '$v'$" step.ini
done

line=$(job_with size "[tiles]
size = 8")
sed -i "/^size = 64$/d" size.ini
refused "^gigadream: size\.ini:$((line - 1)): \[tiles\] size: must be 'auto', 0 \(no tiling\) or an integer from 16 to 32768, got '8'$" \
  size.ini
line=$(job_with overlap "[tiles]
overlap = -1")
sed -i "/^overlap = 16$/d" overlap.ini
refused "^gigadream: overlap\.ini:$((line - 1)): \[tiles\] overlap: must be an integer from 0 to 16384, got '-1'$" \
  overlap.ini

# Tile sizes against the layer's total stride (known only once the model is
# loaded): Conv2d_9_pointwise has stride 16, Conv2d_13_pointwise 32.
cat >stride.ini <<EOF
[input]
image = $IMG/cat.png
width = 128
[model]
file = $V1
layer = Conv2d_9_pointwise
[tiles]
size = 24
overlap = 0
jitter = 0
[output]
file = out/x.tif
EOF
refused "^gigadream: stride\.ini:8: \[tiles\] size: must be a multiple of the layer's total stride 16 when jitter = 0" \
  stride.ini
sed 's/^size = 24$/size = 32/; s/^overlap = 0$/overlap = 8/' stride.ini >stride2.ini
refused "^gigadream: stride2\.ini:9: \[tiles\] overlap: must be a multiple of the layer's total stride 16 when jitter = 0 .*got 8$" \
  stride2.ini
refused "^gigadream: --set tiles.size=16: \[tiles\] size: must be at least the layer's total stride 32 \(or 0 for no tiling\), got 16$" \
  stride.ini --set model.layer=Conv2d_13_pointwise --set tiles.size=16

# ---- Bad job structure, layers, files ----------------------------------------

line=$(job_with section "[tile]
size = 64")
refused "^gigadream: section\.ini:$((line - 1)): unknown section \[tile\] \(did you mean \[tiles\]\?\)$" section.ini
line=$(job_with key "[dream]
stpe = 2")
refused "^gigadream: key\.ini:$line: unknown key 'stpe' in \[dream\] \(did you mean 'step'\?\)$" key.ini

sed 's/^layer = .*/layer = Conv2d_9_pointwse/' base.ini >layer.ini
refused "^gigadream: layer\.ini:7: \[model\] layer: no layer 'Conv2d_9_pointwse' in model .*close: Conv2d_9_pointwise" layer.ini

sed 's/^file = .*h5$/file = nope.h5/' base.ini >model.ini
refused "^gigadream: model\.ini:6: \[model\] file: .*/nope\.h5: cannot open: No such file or directory$" model.ini

refused "^gigadream: --set model.guide=nope.jpg: \[model\] guide: .*/nope\.jpg: cannot open" \
  base.ini --set model.objective=guide --set model.guide=nope.jpg

expect_fail 1 "^gigadream: cannot open job file 'nope\.ini': No such file or directory$" \
  "$GIGADREAM" render nope.ini

# ---- The output -------------------------------------------------------------

refused "^gigadream: --set output.file=nodir/x.tif: \[output\] file: folder '.*/nodir' does not exist$" \
  base.ini --set output.file=nodir/x.tif
[ ! -e nodir ] || fail "render created the missing output folder"

# A folder nobody can write in, root included (a read-only chmod does not stop root).
expect_fail 1 "^gigadream: --set output.file=/proc/gigadream-out.tif: \[output\] file: cannot write in folder '/proc'" \
  "$GIGADREAM" render base.ini --set output.file=/proc/gigadream-out.tif
[ ! -e /proc/gigadream-out.tif ] || fail "/proc/gigadream-out.tif exists"

refused "^gigadream: --set output.file=out/x.bmp: \[output\] file: .*/out/x\.bmp: cannot tell the output format from the name; use \.tif" \
  base.ini --set output.file=out/x.bmp

# bigtiff = true is for TIFF; classic TIFF cannot be forced.
refused "^gigadream: --set output.bigtiff=true: \[output\] bigtiff = true needs a TIFF output .* 'out/x\.png' is PNG$" \
  base.ini --set output.file=out/x.png --set output.bigtiff=true
line=$(job_with big "[output]
bigtiff = false")
refused "^gigadream: big\.ini:$line: \[output\] bigtiff: must be auto or true; classic TIFF cannot be forced" big.ini

# An existing output without overwrite: refused, untouched byte for byte.
cp "$IMG/cat.png" keep.tif
cp keep.tif out/x.tif
expect_fail 1 "^gigadream: base\.ini:[0-9]+: \[output\] file: '.*/out/x\.tif' exists; set \[output\] overwrite = true to replace it$" \
  "$GIGADREAM" render base.ini
cmp -s keep.tif out/x.tif || fail "the existing output was modified"
[ "$(ls -A out)" = x.tif ] || fail "files next to the existing output: $(ls -A out)"
rm out/x.tif

# ---- The command line --------------------------------------------------------

refused "^gigadream: --set dream.stpe=2: unknown key 'stpe' in \[dream\] \(did you mean 'step'\?\)$" \
  base.ini --set dream.stpe=2
refused "^gigadream: --set dream.step=abc: \[dream\] step: must be > 0 and <= 1000000, got 'abc'$" \
  base.ini --set dream.step=abc
refused "^gigadream: --set step=2: expected section.key=value" base.ini --set step=2
refused "^gigadream: --set needs a value$" base.ini --set
refused "^gigadream: render: unknown option '--bogus' \(gigadream --help\)$" base.ini --bogus
refused "^gigadream: usage: gigadream render JOB.ini" base.ini other.ini

known_bugs_report
echo ok

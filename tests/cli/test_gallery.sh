#!/usr/bin/env bash
# Issue 20: gigadream gallery draws a labelled contact sheet, one row per
# layer, one lapnorm dream of a channel per cell; every cell raises its
# channel's objective, the labels are drawn, and 2 ranks make the same sheet
# as 1.
# gd-test: needs-models
# gd-test: ranks
# gd-test: timeout 300
source "$(dirname "$0")/lib.sh"
export OMP_WAIT_POLICY=passive

"$GIGADREAM" gallery "$V1" --layers Conv2d_1_pointwise,Conv2d_9_pointwise --channels 2 -o one.png \
  >one.txt 2>one.log || fail "gallery failed: $(tail -n 3 one.log)"
cat one.txt
# 2 rows x 2 cells: 200 (names) + 2 x (160 + 6) wide, 6 + 2 x (16 + 160 + 6) high.
grep -q "^wrote one.png: 2 layers x 2 channels, 532x370, " one.txt || fail "gallery said: $(cat one.txt)"
gain=$(sed -n 's/.*smallest objective gain \([0-9.]*\)x$/\1/p' one.txt)
in_range "$gain" 1.2 1e9 || fail "a cell raised its objective only ${gain}x"
[ "$(grep -c "^gallery: [0-9]/4 " one.log)" -eq 4 ] || fail "the log does not list 4 cells"
grep -q "Conv2d_9_pointwise channel 256" one.log || fail "the second channel of a 512-channel layer is not 256"
[ ! -e one.png.cells ] || fail "the cells' folder was left behind"

# Labels: text pixels (bright) in the names' column beside each row, on the dark ground.
python3 - one.png <<'PY' || fail "the sheet has no labels"
import struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
pos, idat = 8, b''
while pos < len(b):
    n, t = struct.unpack('>I4s', b[pos:pos + 8])
    if t == b'IHDR':
        w, h = struct.unpack('>II', b[pos + 8:pos + 16])
    elif t == b'IDAT':
        idat += b[pos + 8:pos + 8 + n]
    pos += 12 + n
raw, stride, prev, rows = zlib.decompress(idat), 3 * w, bytearray(3 * w), []
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - 3] if i >= 3 else 0
        c = prev[i - 3] if i >= 3 else 0
        u = prev[i]
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + u) & 255
        elif f == 3: line[i] = (line[i] + (a + u) // 2) & 255
        elif f == 4:
            p = a + u - c
            pa, pb, pc = abs(p - a), abs(p - u), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else u if pb <= pc else c)) & 255
    rows.append(line)
    prev = line
for r in range(2):
    mid = 6 + r * 182 + 16 + 80
    bright = sum(1 for y in range(mid - 12, mid + 12) for x in range(0, 200) if rows[y][3 * x] > 128)
    print('row %d: %d label pixels' % (r, bright))
    assert bright > 50, 'no layer name beside row %d' % r
PY

# The same sheet on 2 ranks (each cell a render split into row bands).
mpirun --oversubscribe -n 2 "$GIGADREAM" gallery "$V1" --layers Conv2d_1_pointwise,Conv2d_9_pointwise \
  --channels 2 -o two.png >two.txt 2>two.log || fail "gallery on 2 ranks failed: $(tail -n 3 two.log)"
[ "$(pixel_sum one.png)" = "$(pixel_sum two.png)" ] || fail "2 ranks drew a different sheet"

expect_fail 1 "Conv2d_99" "$GIGADREAM" gallery "$V1" --layers Conv2d_99 -o bad.png
[ ! -e bad.png ] || fail "a refused gallery wrote a sheet"
echo ok

#!/usr/bin/env bash
# Issue 20: an output whose seed has no ICC profile (noise, untagged photos)
# carries the sRGB profile (lcms2's), the same bytes on every run; a seed's
# own profile is kept.  The profile is read back from the TIFF and checked
# here independently: its header, its description, and its red primary
# against sRGB's (D50-adapted, as ICC v4 stores it).
# gd-test: needs-models
# gd-test: timeout 300
source "$(dirname "$0")/lib.sh"
export OMP_WAIT_POLICY=passive

cat >job.ini <<EOF
[input]
image = noise
width = 96
height = 64

[model]
file = $V1
layer = Conv2d_2_pointwise

[dream]
mode = naive
octaves = 1
iterations = 1

[output]
file = a.tif
preview = 0
EOF
render_ok a.log job.ini
sleep 1 # a profile stamped with the time would differ now
render_ok b.log job.ini --set output.file=b.tif
cmp -s a.tif b.tif || fail "two renders of the same job differ (the profile's date?)"

python3 - a.tif <<'PY' || fail "a.tif's ICC profile is not sRGB"
import struct, sys
b = open(sys.argv[1], 'rb').read()
assert b[:4] == b'II*\x00', 'not a little-endian classic TIFF'
ifd = struct.unpack('<I', b[4:8])[0]
n = struct.unpack('<H', b[ifd:ifd + 2])[0]
icc = None
for i in range(n):
    tag, typ, count, off = struct.unpack('<HHII', b[ifd + 2 + 12 * i:ifd + 14 + 12 * i])
    if tag == 34675:
        icc = b[off:off + count]
assert icc, 'no ICC profile tag (34675)'
size, = struct.unpack('>I', icc[:4])
assert size == len(icc), 'profile size %d, tag holds %d bytes' % (size, len(icc))
assert icc[36:40] == b'acsp', 'no acsp signature'
assert icc[16:20] == b'RGB ' and icc[20:24] == b'XYZ ', 'not an RGB profile with an XYZ PCS'
assert icc[12:16] == b'mntr', 'not a display (mntr) profile'
tags = {}
count, = struct.unpack('>I', icc[128:132])
for i in range(count):
    sig, off, sz = struct.unpack('>4sII', icc[132 + 12 * i:144 + 12 * i])
    tags[sig] = icc[off:off + sz]
desc = tags[b'desc']
if desc[:4] == b'mluc':  # ICC v4: records of (language, country, length, offset) after 16 bytes
    length, off = struct.unpack('>II', desc[20:28])
    text = desc[off:off + length].decode('utf-16-be')
else:  # ICC v2 'desc': an ASCII count and string after 8 bytes
    length, = struct.unpack('>I', desc[8:12])
    text = desc[12:12 + length].decode('latin-1')
assert 'sRGB' in text, 'description %r does not name sRGB' % text
x, y, z = (v / 65536.0 for v in struct.unpack('>iii', tags[b'rXYZ'][8:20]))
# sRGB's red primary adapted to D50 (Bradford): X 0.4361, Y 0.2225, Z 0.0139.
assert abs(x - 0.4361) < 2e-3 and abs(y - 0.2225) < 2e-3 and abs(z - 0.0139) < 2e-3, 'rXYZ %.4f %.4f %.4f' % (x, y, z)
print('sRGB profile, %d bytes, red primary %.4f %.4f %.4f' % (size, x, y, z))
PY

# PNG outputs carry it too.
render_ok c.log job.ini --set output.file=c.png
srgb_len=$("$GIGADREAM" info a.tif | sed -n 's/.*ICC profile (\([0-9]*\) bytes).*/\1/p')
"$GIGADREAM" info c.png | grep -q "ICC profile ($srgb_len bytes)" || fail "c.png: $("$GIGADREAM" info c.png | head -n 1)"

# A seed with its own profile keeps it (parrot.jpg: 3144 bytes).
render_ok d.log job.ini --set input.image="$IMG/parrot.jpg" --set input.height=0 --set output.file=d.tif
"$GIGADREAM" info d.tif | grep -q "ICC profile (3144 bytes)" || fail "d.tif: $("$GIGADREAM" info d.tif | head -n 1)"
echo ok

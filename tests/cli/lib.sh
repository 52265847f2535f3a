# Helpers for the CLI tests (sourced).  Each test runs in a fresh folder under
# $GD_TEST_TMP and fails with a message naming the check.
set -euo pipefail
: "${GIGADREAM:?run the tests through ctest}"
T="$GD_TEST_TMP/$(basename "$0" .sh)"
rm -rf "$T"
mkdir -p "$T"
cd "$T"

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_fail CODE PATTERN CMD...: CMD exits with CODE, prints exactly one
# line on stderr, and that line matches the extended regex PATTERN.
expect_fail() {
  local code=$1 pattern=$2; shift 2
  local rc=0
  "$@" >out.txt 2>err.txt || rc=$?
  [ "$rc" -eq "$code" ] || fail "'$*' exited $rc, expected $code; stderr: $(cat err.txt)"
  [ "$(wc -l <err.txt)" -eq 1 ] || fail "'$*' printed $(wc -l <err.txt) error lines: $(cat err.txt)"
  grep -Eq -- "$pattern" err.txt || fail "'$*' said '$(cat err.txt)', expected /$pattern/"
}

# in_range VALUE LO HI: LO <= VALUE <= HI (floats)
in_range() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }

# ---- Rendering ----------------------------------------------------------------

# The model the render tests dream with, and the shared photos.
V1="${GD_TEST_MODELS:-}/mobilenet_v1_1.0_224_quant_embedding_extractor.h5"
IMG="${GIGADREAM_IMAGE_DIR:-}"

# render_ok LOG JOB [ARGS...]: gigadream render JOB ARGS exits 0; its log (stderr) goes to LOG.
render_ok() {
  local log=$1 rc=0; shift
  "$GIGADREAM" render "$@" >"$log.stdout" 2>"$log" || rc=$?
  [ "$rc" -eq 0 ] || fail "render $* exited $rc: $(tail -n 3 "$log")"
}

# objective_gain LOG: Y of the render log's "objective on the output: X (Yx the seed's Z)".
objective_gain() {
  local y
  y=$(sed -n "s/.*objective on the output: [^ ]* (\([0-9.eE+-]*\)x the seed's .*/\1/p" "$1")
  [ -n "$y" ] || fail "$1 has no 'objective on the output' line: $(tail -n 3 "$1")"
  echo "$y"
}

# pixel_sum FILE: the 16 hex digits of gigadream info's "pixels: fnv1a64 HEX" line.
pixel_sum() {
  local out sum
  out=$("$GIGADREAM" info "$1" 2>&1) || fail "gigadream info $1 failed: $out"
  sum=$(sed -n 's/^pixels: fnv1a64 \([0-9a-f]\{16\}\)$/\1/p' <<<"$out")
  [ -n "$sum" ] || fail "gigadream info $1 printed no pixel checksum: $out"
  echo "$sum"
}

# nothing_written DIR: DIR holds no file at all (no output, no "<out>.tmp.*", no probe).
nothing_written() {
  local left
  left=$(ls -A "$1")
  [ -z "$left" ] || fail "a failed render left files in $1: $left"
}

# ---- Image files made or checked without gigadream (python3 standard library) --

# png_fnv FILE: gd_image_checksum's FNV-1a 64 of a PNG, decoded independently:
# non-interlaced gray/RGB with or without alpha, 8 or 16 bits.
png_fnv() {
  python3 - "$1" <<'PY'
import struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
assert b[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat = 8, b''
while pos < len(b):
    n, t = struct.unpack('>I4s', b[pos:pos + 8])
    d = b[pos + 8:pos + 8 + n]
    if t == b'IHDR':
        w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', d)
    elif t == b'IDAT':
        idat += d
    pos += 12 + n
assert interlace == 0 and depth in (8, 16) and ctype in (0, 2, 4, 6), 'unsupported PNG'
chans = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
bps = depth // 8
bpp, stride = chans * bps, w * chans * bps
raw = zlib.decompress(idat)
prev, h64, mask = bytearray(stride), 0xcbf29ce484222325, (1 << 64) - 1
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        c = prev[i - bpp] if i >= bpp else 0
        u = prev[i]
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + u) & 255
        elif f == 3: line[i] = (line[i] + (a + u) // 2) & 255
        elif f == 4:
            p = a + u - c
            pa, pb, pc = abs(p - a), abs(p - u), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else u if pb <= pc else c)) & 255
    for x in range(w):
        px = line[x * bpp:(x + 1) * bpp]
        s = [px[k * bps:(k + 1) * bps] for k in range(chans)]
        rgb = [s[0]] * 3 if chans < 3 else s[:3]
        for v in rgb:
            for byte in (v[::-1] if bps == 2 else v):  # PNG is big-endian; the sum takes LE
                h64 = ((h64 ^ byte) * 0x100000001b3) & mask
    prev = line
print('%016x' % h64)
PY
}

# png_flip_idat IN OUT: a copy of the PNG with one bit flipped inside its first IDAT chunk's
# data (the chunk's CRC no longer matches).
png_flip_idat() {
  python3 - "$1" "$2" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
pos = 8
while pos < len(b):
    n, t = struct.unpack('>I4s', b[pos:pos + 8])
    if t == b'IDAT':
        b[pos + 8 + n // 2] ^= 1
        break
    pos += 12 + n
else:
    sys.exit('no IDAT chunk')
open(sys.argv[2], 'wb').write(b)
PY
}

# png_zero_width OUT: a well-formed PNG (all CRCs right) whose IHDR says 0 x 1 pixels.
png_zero_width() {
  python3 - "$1" <<'PY'
import struct, sys, zlib
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
ihdr = struct.pack('>IIBBBBB', 0, 1, 8, 2, 0, 0, 0)
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) +
                              chunk(b'IDAT', zlib.compress(b'')) + chunk(b'IEND', b''))
PY
}

# tiff_set_tag IN OUT TAG VALUE: a copy of a classic little-endian TIFF with the inline
# SHORT or LONG value of TAG (first directory) replaced.
tiff_set_tag() {
  python3 - "$@" <<'PY'
import struct, sys
src, dst, tag, value = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
b = bytearray(open(src, 'rb').read())
assert b[:4] == b'II*\0', 'not a classic little-endian TIFF'
ifd, = struct.unpack_from('<I', b, 4)
n, = struct.unpack_from('<H', b, ifd)
for i in range(n):
    e = ifd + 2 + 12 * i
    t, typ, cnt = struct.unpack_from('<HHI', b, e)
    if t == tag:
        assert cnt == 1 and typ in (3, 4), 'tag is not one SHORT or LONG'
        struct.pack_into('<H' if typ == 3 else '<I', b, e + 8, value)
        break
else:
    sys.exit('no tag %d' % tag)
open(dst, 'wb').write(b)
PY
}

# tiff_truncate_data IN OUT: the classic little-endian strip TIFF IN rewritten with its
# directory first and its pixel data after it, cut in the middle of the pixel data:
# the header reads, the lower strips do not.
tiff_truncate_data() {
  python3 - "$1" "$2" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
assert b[:4] == b'II*\0', 'not a classic little-endian TIFF'
size = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8}
ifd, = struct.unpack_from('<I', b, 4)
n, = struct.unpack_from('<H', b, ifd)
entries = [list(struct.unpack_from('<HHI4s', b, ifd + 2 + 12 * i)) for i in range(n)]
def values(e):
    t, typ, cnt, raw = e
    nbytes = size[typ] * cnt
    data = raw[:nbytes] if nbytes <= 4 else b[struct.unpack('<I', raw)[0]:][:nbytes]
    return nbytes, data
offs = next(e for e in entries if e[0] == 273)
counts = next(e for e in entries if e[0] == 279)
fmt = lambda e: '<%d%s' % (e[2], 'H' if e[1] == 3 else 'I')
strip_off = list(struct.unpack(fmt(offs), values(offs)[1]))
strip_len = list(struct.unpack(fmt(counts), values(counts)[1]))
lo, hi = min(strip_off), max(o + c for o, c in zip(strip_off, strip_len))
blobs_at = 8 + 2 + 12 * n + 4
blobs = b''
placed = []
for e in entries:
    nbytes, data = values(e)
    if nbytes > 4:
        placed.append((e, blobs_at + len(blobs)))
        blobs += data + (b'\0' if len(data) % 2 else b'')
data_at = blobs_at + len(blobs)
shift = data_at - lo
new_off = struct.pack(fmt(offs), *[o + shift for o in strip_off])
out = bytearray(struct.pack('<2sHI', b'II', 42, 8) + struct.pack('<H', n))
for e in entries:
    t, typ, cnt, raw = e
    where = dict((id(p[0]), p[1]) for p in placed).get(id(e))
    if where is not None:
        raw = struct.pack('<I', where)
    elif t == 273:
        raw = new_off.ljust(4, b'\0')
    out += struct.pack('<HHI4s', t, typ, cnt, raw)
out += struct.pack('<I', 0) + blobs
for e, where in placed:
    if e[0] == 273:
        out[where:where + len(new_off)] = new_off
out += b[lo:hi]
open(sys.argv[2], 'wb').write(out[:data_at + (hi - lo) // 2])
PY
}

# ---- Known renderer bugs --------------------------------------------------------
# A check that fails because of a known bug in code this test does not own is
# run through known_bug, so every other check still runs; known_bugs_report at
# the end fails the test, listing each bug, until its marker is removed.  A
# known bug that no longer reproduces fails too: remove its marker.
KNOWN_BUGS=()

# known_bug ID DESCRIPTION CMD...: runs the check CMD in a subshell and records the outcome.
known_bug() {
  local id=$1 what=$2 rc=0; shift 2
  ("$@") 2>known_bug.err || rc=$?
  if [ "$rc" -eq 0 ]; then
    KNOWN_BUGS+=("$id FIXED, remove its known_bug marker: $what")
  else
    KNOWN_BUGS+=("$id: $what: $(tr '\n' ' ' <known_bug.err | cut -c 1-600)")
  fi
}

known_bugs_report() {
  [ "${#KNOWN_BUGS[@]}" -eq 0 ] && return 0
  echo "KNOWN RENDERER BUGS (every other check passed):" >&2
  printf '  %s\n' "${KNOWN_BUGS[@]}" >&2
  exit 1
}

# bigtiff_constant OUT W H R G B: a tiled (256 x 256), deflate-compressed
# 8-bit RGB BigTIFF of W x H pixels all (R, G, B).  Every tile points at the
# same compressed bytes, so even a 200-megapixel file is small and quick to make.
bigtiff_constant() {
  python3 - "$@" <<'PY'
import struct, sys, zlib
out, w, h, r, g, b = sys.argv[1], *map(int, sys.argv[2:])
T = 256
tile = zlib.compress(bytes((r, g, b)) * (T * T), 1)
n = ((w + T - 1) // T) * ((h + T - 1) // T)
entries = [  # tag, type, count, value (inline when it fits in 8 bytes)
    (256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, (8, 8, 8)), (259, 3, 1, 8), (262, 3, 1, 2),
    (277, 3, 1, 3), (284, 3, 1, 1), (322, 4, 1, T), (323, 4, 1, T),
    (324, 16, n, None), (325, 16, n, None)]
ifd = 16
arrays = ifd + 8 + 20 * len(entries) + 8
data = arrays + 16 * n
head = bytearray(struct.pack('<2sHHHQ', b'II', 43, 8, 0, ifd))
head += struct.pack('<Q', len(entries))
for tag, typ, cnt, val in entries:
    if tag == 324: raw = struct.pack('<Q', arrays)
    elif tag == 325: raw = struct.pack('<Q', arrays + 8 * n)
    elif typ == 3 and cnt == 3: raw = struct.pack('<3H', *val).ljust(8, b'\0')
    elif typ == 3: raw = struct.pack('<H', val).ljust(8, b'\0')
    else: raw = struct.pack('<I', val).ljust(8, b'\0')
    head += struct.pack('<HHQ', tag, typ, cnt) + raw
head += struct.pack('<Q', 0)
assert len(head) == arrays
with open(out, 'wb') as f:
    f.write(head + struct.pack('<%dQ' % n, *([data] * n)) + struct.pack('<%dQ' % n, *([len(tile)] * n)))
    f.write(tile)
PY
}

# fnv_constant W H R G B: the pixel checksum of a W x H image of one 8-bit color.
fnv_constant() {
  python3 - "$@" <<'PY'
import sys
w, h, *rgb = map(int, sys.argv[1:])
x, m = 0xcbf29ce484222325, (1 << 64) - 1
for _ in range(w * h):
    for v in rgb:
        x = ((x ^ v) * 0x100000001b3) & m
print('%016x' % x)
PY
}

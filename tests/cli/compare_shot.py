#!/usr/bin/env python3
"""Compares a browser screenshot of the deep-zoom viewer with the render's preview.

Usage: compare_shot.py SHOT.png PREVIEW.png GRID_W
(exit 3, printing "blank: ...", when the screenshot holds no image at all)

Finds the image in the screenshot (the viewer's background is black: the
bounding box of the rows and columns holding any pixel brighter than 24),
averages both pictures over the same GRID_W-wide grid of cells (the
screenshot's image is drawn at its own scale by the browser, so pixel-level
alignment is not available; a cell averages a few pixels of each), and prints
  bbox X0 Y0 W H
  psnr DB            the screenshot against the preview
  psnr_flipped DB    against the preview mirrored left-right (a wrong picture
                     with the same colours: what a failure looks like)
Standard library only (zlib), so CI needs no imaging package.
"""
import struct
import sys
import zlib
import math


def read_png(path):
    b = open(path, 'rb').read()
    assert b[:8] == b'\x89PNG\r\n\x1a\n', path + ': not a PNG'
    pos, idat = 8, b''
    while pos < len(b):
        n, t = struct.unpack('>I4s', b[pos:pos + 8])
        d = b[pos + 8:pos + 8 + n]
        if t == b'IHDR':
            w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', d)
        elif t == b'IDAT':
            idat += d
        pos += 12 + n
    assert interlace == 0 and depth == 8 and ctype in (2, 6), path + ': not 8-bit RGB(A)'
    bpp = 3 if ctype == 2 else 4
    stride = w * bpp
    raw = zlib.decompress(idat)
    prev = bytearray(stride)
    rows = []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif f == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 255
        elif f == 3:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + (a + prev[i]) // 2) & 255
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                c = prev[i - bpp] if i >= bpp else 0
                u = prev[i]
                p = a + u - c
                pa, pb, pc = abs(p - a), abs(p - u), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else u if pb <= pc else c)) & 255
        rows.append(bytes(line) if bpp == 3 else bytes(line[i] for i in range(stride) if i % 4 != 3))
        prev = line
    return w, h, rows


def grid(rows, x0, y0, w, h, gw, gh, flip=False):
    """Mean RGB of each of gw x gh cells of the w x h region at (x0, y0)."""
    sums = [[0.0, 0.0, 0.0, 0] for _ in range(gw * gh)]
    for y in range(h):
        gy = min(gh - 1, y * gh // h)
        line = rows[y0 + y]
        for x in range(w):
            gx = min(gw - 1, x * gw // w)
            if flip:
                gx = gw - 1 - gx
            s = sums[gy * gw + gx]
            i = 3 * (x0 + x)
            s[0] += line[i]
            s[1] += line[i + 1]
            s[2] += line[i + 2]
            s[3] += 1
    return [(s[0] / s[3], s[1] / s[3], s[2] / s[3]) for s in sums]


def psnr(a, b):
    se = sum((p[k] - q[k]) ** 2 for p, q in zip(a, b) for k in range(3)) / (3 * len(a))
    return 10 * math.log10(255 * 255 / se) if se > 0 else float('inf')


def main():
    shot, preview, gw = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sw, sh, srows = read_png(shot)
    pw, ph, prows = read_png(preview)
    bright = lambda line, x: line[3 * x] + line[3 * x + 1] + line[3 * x + 2] > 3 * 24
    ys = [y for y in range(sh) if any(bright(srows[y], x) for x in range(0, sw, 2))]
    if not ys:
        print('blank: the screenshot shows no image')
        sys.exit(3)
    xs = [x for x in range(sw) if any(bright(srows[y], x) for y in range(ys[0], ys[-1] + 1, 2))]
    x0, y0 = xs[0], ys[0]
    w, h = xs[-1] - x0 + 1, ys[-1] - y0 + 1
    print('bbox %d %d %d %d' % (x0, y0, w, h))
    gh = max(1, round(gw * ph / pw))
    g_shot = grid(srows, x0, y0, w, h, gw, gh)
    g_prev = grid(prows, 0, 0, pw, ph, gw, gh)
    g_flip = grid(prows, 0, 0, pw, ph, gw, gh, flip=True)
    print('psnr %.2f' % psnr(g_shot, g_prev))
    print('psnr_flipped %.2f' % psnr(g_shot, g_flip))


main()

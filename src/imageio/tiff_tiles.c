/*
 * tiff_tiles.c: the raw-tile API of imageio.h: pyramid levels, the
 * samples of level 0 and of each reduced level, and tile rows encoded to the
 * bytes a TIFF stores.
 *
 * The streamed writer (tiff_write.c) makes its samples, its levels
 * and its tile bytes with exactly these functions, and a distributed writer
 * (output.c) does too: that, not a second implementation kept in step, is
 * why the two make the same file.
 */
#include "tiff_int.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENCODERS 64

/* ---- Levels and samples ------------------------------------------------------ */

void gd_tiff_levels_plan(int w, int h, const gd_write_opts *o, gd_tiff_levels *out)
{
    memset(out, 0, sizeof *out);
    out->tile = o && o->tile > 0 ? o->tile : 256;
    const int T = out->tile;
    int n = 0;
    for (;;) {
        out->w[n] = w;
        out->h[n] = h;
        out->across[n] = (int)(((int64_t)w + T - 1) / T);
        out->down[n] = (int)(((int64_t)h + T - 1) / T);
        n++;
        /* Sides of at most INT_MAX and tiles of at least 16 stop well within the table. */
        if (!o || !o->pyramid || (w <= T && h <= T) || n == GD_TIFF_MAX_LEVELS)
            break;
        w = (int)(((int64_t)w + 1) / 2);
        h = (int)(((int64_t)h + 1) / 2);
    }
    out->n = n;
}

void gd_quantize_row(const float *in, size_t n, int bits, void *out)
{
    io_quantize_row(in, n, bits, 0, out);
}

void gd_pyramid_shrink_row(const void *a, const void *b, int w, int bits, void *out)
{
    const int last = w - 1, cw = (w + 1) / 2;
    if (bits == 16) {
        const uint16_t *pa = a, *pb = b;
        uint16_t *o = out;
        for (int x = 0; x < cw; x++) {
            size_t x0 = (size_t)(2 * x) * 3, x1 = (size_t)(2 * x + 1 > last ? last : 2 * x + 1) * 3;
            for (int k = 0; k < 3; k++)
                o[3 * x + k] =
                    (uint16_t)(((uint32_t)pa[x0 + k] + pa[x1 + k] + pb[x0 + k] + pb[x1 + k] + 2) >>
                               2);
        }
    } else {
        const uint8_t *pa = a, *pb = b;
        uint8_t *o = out;
        for (int x = 0; x < cw; x++) {
            size_t x0 = (size_t)(2 * x) * 3, x1 = (size_t)(2 * x + 1 > last ? last : 2 * x + 1) * 3;
            for (int k = 0; k < 3; k++)
                o[3 * x + k] =
                    (uint8_t)(((unsigned)pa[x0 + k] + pa[x1 + k] + pb[x0 + k] + pb[x1 + k] + 2) >>
                              2);
        }
    }
}

/* ---- The tile coder ------------------------------------------------------------ */

struct gd_tile_coder {
    io_tiff_layout layout;
    size_t bps; /* bytes per sample */
    int nenc;
    io_tile_encoder **enc; /* one per OpenMP thread */
    io_tile_bytes *tiles;  /* the last encoded row's tiles */
    int ntiles, cap;
};

gd_status gd_tile_coder_new(const gd_write_opts *o, gd_tile_coder **out, gd_err *err)
{
    *out = NULL;
    gd_write_opts c = *o;
    gd_status st = io_check_tiff_opts("tile coder", &c, err);
    if (st != GD_OK)
        return st;
    gd_tile_coder *tc = gd_calloc(1, sizeof *tc, "a tile coder", err);
    if (!tc)
        return GD_ENOMEM;
    tc->layout = io_tiff_layout_for(c.compression, c.bits, c.tile);
    tc->bps = (size_t)c.bits / 8;
    if (!TIFFIsCODECConfigured(tc->layout.compression)) {
        st = gd_err_set(err, GD_EINPUT, "this libtiff (%s) cannot write %s compression",
                        TIFFGetVersion(), gd_compression_name(c.compression));
        goto fail;
    }
    int nenc = omp_get_max_threads();
    nenc = nenc < 1 ? 1 : nenc > MAX_ENCODERS ? MAX_ENCODERS : nenc;
    st = GD_ENOMEM;
    if (!(tc->enc = gd_calloc((size_t)nenc, sizeof *tc->enc, "tile encoders", err)))
        goto fail;
    tc->nenc = nenc; /* gd_tile_coder_free frees enc[0, nenc); unmade ones are NULL */
    for (int i = 0; i < nenc; i++)
        if (!(tc->enc[i] = io_tile_encoder_new(&tc->layout, err)))
            goto fail;
    *out = tc;
    return GD_OK;
fail:
    gd_tile_coder_free(tc);
    return st;
}

void gd_tile_coder_free(gd_tile_coder *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nenc; i++)
        io_tile_encoder_free(c->enc[i]);
    free(c->enc);
    for (int t = 0; t < c->cap; t++)
        io_tile_bytes_free(&c->tiles[t]);
    free(c->tiles);
    free(c);
}

/* Copies tile t of the row into an encoder's samples, zeros past the image. */
static void fill_tile(const gd_tile_coder *c, uint8_t *dst, const uint8_t *src, size_t stride,
                      int w, int rows, int t)
{
    const int T = c->layout.tile;
    const size_t px = 3 * c->bps, tile_row = (size_t)T * px;
    const int x0 = t * T, cols = w - x0 < T ? w - x0 : T;
    const size_t have = (size_t)cols * px;
    for (int r = 0; r < T; r++) {
        uint8_t *d = dst + (size_t)r * tile_row;
        if (r < rows) {
            memcpy(d, src + (size_t)r * stride + (size_t)x0 * px, have);
            memset(d + have, 0, tile_row - have);
        } else {
            memset(d, 0, tile_row);
        }
    }
}

gd_status gd_tile_coder_encode(gd_tile_coder *c, const void *samples, size_t stride, int w,
                               int rows, gd_err *err)
{
    const int T = c->layout.tile;
    if (w < 1 || rows < 1 || rows > T || stride < (size_t)w * 3 * c->bps)
        return gd_err_set(err, GD_EINPUT,
                          "internal: a tile row of %d x %d pixels (stride %zu bytes) for tiles "
                          "of %d",
                          w, rows, stride, T);
    const int n = (int)(((int64_t)w + T - 1) / T);
    if (n > c->cap) {
        io_tile_bytes *p = realloc(c->tiles, sizeof *p * (size_t)n);
        if (!p)
            return gd_err_set(err, GD_ENOMEM, "out of memory for %d encoded tiles", n);
        memset(p + c->cap, 0, sizeof *p * (size_t)(n - c->cap));
        c->tiles = p;
        c->cap = n;
    }
    c->ntiles = 0;
#pragma omp parallel num_threads(c->nenc) if (n > 1)
    {
        io_tile_encoder *e = c->enc[omp_get_thread_num() % c->nenc];
        uint8_t *buf = io_tile_encoder_samples(e);
#pragma omp for schedule(dynamic)
        for (int t = 0; t < n; t++) {
            fill_tile(c, buf, samples, stride, w, rows, t);
            io_tile_encode(e, &c->tiles[t]);
        }
    }
    for (int t = 0; t < n; t++)
        if (c->tiles[t].failed)
            return gd_err_set(err, GD_ELIB, "cannot compress the tile in column %d: %s", t + 1,
                              c->tiles[t].msg);
    c->ntiles = n;
    return GD_OK;
}

int gd_tile_coder_tiles(const gd_tile_coder *c)
{
    return c->ntiles;
}

const uint8_t *gd_tile_coder_tile(const gd_tile_coder *c, int i, size_t *n)
{
    *n = c->tiles[i].len;
    return c->tiles[i].p;
}

gd_status gd_tile_coder_tables(gd_tile_coder *c, const void **p, size_t *n, gd_err *err)
{
    *p = NULL;
    *n = 0;
    if (c->layout.compression != COMPRESSION_JPEG)
        return GD_OK;
    uint32_t len = 0;
    char msg[300];
    if (!io_tile_encoder_jpeg_tables(c->enc[0], p, &len, msg))
        return gd_err_set(err, GD_ELIB, "the JPEG codec failed: %s", msg);
    *n = len;
    return GD_OK;
}

/*
 * tiff_codec.c: encoding one TIFF tile to bytes, and the per-handle
 * libtiff message handlers.
 *
 * How an encoder works: a libtiff handle opened with TIFFClientOpenExt on a
 * virtual file (our read/write/seek procedures), one tile wide and ENC_TILES
 * tiles down, with the layout's tags.  io_tile_encode writes the samples as
 * the next unused tile with TIFFWriteEncodedTile; the codec's output reaches
 * our write procedure, which appends it to the caller's io_tile_bytes.  A
 * fresh tile index each time means libtiff always appends (it never rewrites
 * a tile in place, which would need read-back); after ENC_TILES tiles the
 * handle is renewed.  The captured length is checked against the byte count
 * libtiff recorded.  Tiles in TIFF are always whole (edge tiles padded), so
 * the bytes do not depend on where the tile goes.
 */
#include "tiff_int.h"

#include <stdlib.h>
#include <string.h>

#define ENC_TILES 1024
#define JPEG_QUALITY 95

/* ---- Messages --------------------------------------------------------------- */

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    io_msgs_error(user, module, fmt, ap);
    return 1; /* handled: libtiff calls no global handler */
}

static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    (void)module;
    (void)fmt;
    (void)ap;
    ((io_msgs *)user)->warnings++;
    return 1;
}

TIFFOpenOptions *io_tiff_open_options(io_msgs *msgs)
{
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (o) {
        TIFFOpenOptionsSetErrorHandlerExtR(o, on_error, msgs);
        TIFFOpenOptionsSetWarningHandlerExtR(o, on_warning, msgs);
    }
    return o;
}

/* ---- Layout ------------------------------------------------------------------ */

io_tiff_layout io_tiff_layout_for(gd_compression c, int bits, int tile)
{
    io_tiff_layout l;
    l.tile = tile;
    l.bits = bits;
    /* Callers pass checked options (io_check_tiff_opts); anything out of range stays
     * uncompressed, as GD_COMPRESS_NONE and GD_COMPRESS_COUNT do. */
    l.compression = COMPRESSION_NONE;
    switch (c) {
    case GD_COMPRESS_DEFLATE:
        l.compression = COMPRESSION_ADOBE_DEFLATE;
        break;
    case GD_COMPRESS_ZSTD:
        l.compression = COMPRESSION_ZSTD;
        break;
    case GD_COMPRESS_LZW:
        l.compression = COMPRESSION_LZW;
        break;
    case GD_COMPRESS_JPEG:
        l.compression = COMPRESSION_JPEG;
        break;
    case GD_COMPRESS_NONE:
    case GD_COMPRESS_COUNT:
        break;
    }
    l.photometric = l.compression == COMPRESSION_JPEG ? PHOTOMETRIC_YCBCR : PHOTOMETRIC_RGB;
    return l;
}

size_t io_tiff_tile_raw_bytes(const io_tiff_layout *l)
{
    return (size_t)l->tile * (size_t)l->tile * 3 * (size_t)(l->bits / 8);
}

int io_tiff_set_layout(TIFF *tif, const io_tiff_layout *l, uint32_t w, uint32_t h)
{
    int ok = TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, w) &&
             TIFFSetField(tif, TIFFTAG_IMAGELENGTH, h) &&
             TIFFSetField(tif, TIFFTAG_TILEWIDTH, (uint32_t)l->tile) &&
             TIFFSetField(tif, TIFFTAG_TILELENGTH, (uint32_t)l->tile) &&
             TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)l->bits) &&
             TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)3) &&
             TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_UINT) &&
             TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
             TIFFSetField(tif, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT) &&
             TIFFSetField(tif, TIFFTAG_COMPRESSION, l->compression) &&
             TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, l->photometric);
    if (!ok)
        return 0;
    switch (l->compression) {
    case COMPRESSION_ADOBE_DEFLATE:
    case COMPRESSION_ZSTD:
    case COMPRESSION_LZW:
        return TIFFSetField(tif, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
    case COMPRESSION_JPEG: {
        /* No chroma subsampling at quality 95, as libvips does for Q >= 90. */
        float refbw[6] = {0.0f, 255.0f, 128.0f, 255.0f, 128.0f, 255.0f};
        return TIFFSetField(tif, TIFFTAG_YCBCRSUBSAMPLING, (uint16_t)1, (uint16_t)1) &&
               TIFFSetField(tif, TIFFTAG_REFERENCEBLACKWHITE, refbw);
    }
    default:
        return 1;
    }
}

/* ---- Encoder ------------------------------------------------------------------ */

struct io_tile_encoder {
    io_tiff_layout layout;
    TIFF *tif;
    uint32_t next;         /* next unused tile index in tif */
    uint64_t pos, size;    /* of the virtual file */
    io_tile_bytes *target; /* where written bytes go; NULL discards them */
    int oom;
    io_msgs msgs;
    void *samples; /* one tile of samples */
    size_t raw;    /* its size in bytes */
};

void io_tile_bytes_free(io_tile_bytes *b)
{
    if (b) {
        free(b->p);
        b->p = NULL;
        b->len = b->cap = 0;
    }
}

static tmsize_t enc_read(thandle_t h, void *buf, tmsize_t n)
{
    (void)h;
    (void)buf;
    (void)n;
    return 0;
}

static tmsize_t enc_write(thandle_t h, void *buf, tmsize_t n)
{
    io_tile_encoder *e = (io_tile_encoder *)h;
    if (n < 0)
        return -1;
    io_tile_bytes *t = e->target;
    if (t) {
        if (t->len + (size_t)n > t->cap) {
            size_t cap = t->cap ? t->cap : 65536;
            while (cap < t->len + (size_t)n)
                cap *= 2;
            uint8_t *p = realloc(t->p, cap);
            if (!p) {
                e->oom = 1;
                return -1;
            }
            t->p = p;
            t->cap = cap;
        }
        memcpy(t->p + t->len, buf, (size_t)n);
        t->len += (size_t)n;
    }
    e->pos += (uint64_t)n;
    if (e->pos > e->size)
        e->size = e->pos;
    return n;
}

static toff_t enc_seek(thandle_t h, toff_t off, int whence)
{
    io_tile_encoder *e = (io_tile_encoder *)h;
    if (whence == SEEK_SET)
        e->pos = off;
    else if (whence == SEEK_CUR)
        e->pos += off;
    else
        e->pos = e->size + off;
    return e->pos;
}

static int enc_close(thandle_t h)
{
    (void)h;
    return 0;
}

static toff_t enc_size(thandle_t h)
{
    return ((io_tile_encoder *)h)->size;
}

static int enc_map(thandle_t h, void **base, toff_t *size)
{
    (void)h;
    (void)base;
    (void)size;
    return 0;
}

static void enc_unmap(thandle_t h, void *base, toff_t size)
{
    (void)h;
    (void)base;
    (void)size;
}

static void close_handle(io_tile_encoder *e)
{
    if (e->tif) {
        e->target = NULL; /* the directory it writes on the way out is discarded */
        TIFFClose(e->tif);
        e->tif = NULL;
    }
}

/* (Re)creates the handle: one tile wide, ENC_TILES tiles down.  0 on failure. */
static int open_handle(io_tile_encoder *e)
{
    close_handle(e);
    e->pos = e->size = 0;
    e->next = 0;
    e->target = NULL;
    TIFFOpenOptions *o = io_tiff_open_options(&e->msgs);
    if (!o)
        return 0;
    /* BigTIFF so the virtual file may pass 4 GB with large 16-bit tiles. */
    e->tif = TIFFClientOpenExt("tile encoder", "w8", (thandle_t)e, enc_read, enc_write, enc_seek,
                               enc_close, enc_size, enc_map, enc_unmap, o);
    TIFFOpenOptionsFree(o);
    if (!e->tif)
        return 0;
    int ok = io_tiff_set_layout(e->tif, &e->layout, (uint32_t)e->layout.tile,
                                (uint32_t)e->layout.tile * ENC_TILES);
    if (ok && e->layout.compression == COMPRESSION_JPEG)
        ok = TIFFSetField(e->tif, TIFFTAG_JPEGQUALITY, JPEG_QUALITY) &&
             TIFFSetField(e->tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
    return ok;
}

io_tile_encoder *io_tile_encoder_new(const io_tiff_layout *l, gd_err *err)
{
    io_tile_encoder *e = gd_calloc(1, sizeof *e, "a tile encoder", err);
    if (!e)
        return NULL;
    e->layout = *l;
    io_msgs_clear(&e->msgs);
    e->raw = io_tiff_tile_raw_bytes(l);
    e->samples = gd_calloc(1, e->raw, "a tile buffer", err);
    if (!e->samples) {
        free(e);
        return NULL;
    }
    return e;
}

void io_tile_encoder_free(io_tile_encoder *e)
{
    if (!e)
        return;
    close_handle(e);
    free(e->samples);
    free(e);
}

void *io_tile_encoder_samples(io_tile_encoder *e)
{
    return e->samples;
}

int io_tile_encode(io_tile_encoder *e, io_tile_bytes *out)
{
    out->len = 0;
    out->failed = 0;
    io_msgs_clear(&e->msgs);
    e->oom = 0;
    if ((!e->tif || e->next == ENC_TILES) && !open_handle(e))
        goto fail;
    uint32_t idx = e->next++;
    e->target = out;
    tmsize_t n = TIFFWriteEncodedTile(e->tif, idx, e->samples, (tmsize_t)e->raw);
    e->target = NULL;
    if (n != (tmsize_t)e->raw || e->msgs.errors || e->oom)
        goto fail;
    /* What we captured must be exactly what libtiff recorded for the tile. */
    uint64_t recorded = TIFFGetStrileByteCount(e->tif, idx);
    if (recorded != out->len) {
        snprintf(out->msg, sizeof out->msg,
                 "tile encoder captured %zu bytes, libtiff recorded %llu", out->len,
                 (unsigned long long)recorded);
        out->failed = 1;
        close_handle(e);
        return 0;
    }
    return 1;
fail:
    e->target = NULL;
    snprintf(out->msg, sizeof out->msg, "%s",
             e->oom ? "out of memory for encoded tile bytes"
                    : io_msgs_text(&e->msgs, "libtiff could not encode the tile"));
    out->failed = 1;
    close_handle(e); /* a failed handle is not trusted again */
    return 0;
}

int io_tile_encoder_jpeg_tables(io_tile_encoder *e, const void **p, uint32_t *n, char *msg)
{
    *p = NULL;
    *n = 0;
    if (!e->tif || e->next == 0) {
        /* The codec makes its tables when it first encodes. */
        io_tile_bytes scratch = {0};
        memset(e->samples, 0, e->raw);
        int ok = io_tile_encode(e, &scratch);
        if (!ok)
            snprintf(msg, 300, "%s", scratch.msg);
        io_tile_bytes_free(&scratch);
        if (!ok)
            return 0;
    }
    void *tables = NULL;
    uint32_t len = 0;
    if (!TIFFGetField(e->tif, TIFFTAG_JPEGTABLES, &len, &tables) || !tables || len == 0) {
        snprintf(msg, 300, "the JPEG codec made no tables");
        return 0;
    }
    *p = tables;
    *n = len;
    return 1;
}

/*
 * common.c: what every part of imageio shares, one layer below the codecs:
 * the names of formats and compressions, the collector of library messages,
 * sample conversions (8/16-bit integers <-> float rows), fsync with a
 * message, and the check of the TIFF-only write options.
 *
 * It must never call a codec or the front ends (imageio.c): the dispatcher
 * calls the codecs, the codecs call only this file (and, for TIFF, the tile
 * encoder and raw-tile files below them), so calls run one way.  It never
 * calls libtiff, libpng or libjpeg either: their handlers call into it.
 */
#include "imageio_int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* ---- Names ------------------------------------------------------------------ */

static const char *const compression_names[] = {
    [GD_COMPRESS_DEFLATE] = "deflate", [GD_COMPRESS_ZSTD] = "zstd", [GD_COMPRESS_LZW] = "lzw",
    [GD_COMPRESS_JPEG] = "jpeg",       [GD_COMPRESS_NONE] = "none",
};
_Static_assert(sizeof(compression_names) / sizeof(compression_names[0]) == GD_COMPRESS_COUNT,
               "name every gd_compression");

static const char *const format_names[] = {
    [GD_FORMAT_TIFF] = "TIFF",
    [GD_FORMAT_PNG] = "PNG",
    [GD_FORMAT_JPEG] = "JPEG",
};
_Static_assert(sizeof(format_names) / sizeof(format_names[0]) == GD_FORMAT_COUNT,
               "name every gd_format");

const char *gd_compression_name(gd_compression c)
{
    return (unsigned)c < GD_COMPRESS_COUNT ? compression_names[c] : "?";
}

gd_compression gd_compression_from_name(const char *s)
{
    for (int i = 0; i < GD_COMPRESS_COUNT; i++)
        if (s && strcmp(s, compression_names[i]) == 0)
            return (gd_compression)i;
    return GD_COMPRESS_COUNT;
}

const char *gd_format_name(gd_format f)
{
    return (unsigned)f < GD_FORMAT_COUNT ? format_names[f] : "?";
}

static int ext_is(const char *ext, const char *want)
{
    for (; *ext && *want; ext++, want++)
        if ((*ext | 0x20) != *want) /* ASCII lower case; want is lower case */
            return 0;
    return *ext == '\0' && *want == '\0';
}

gd_status gd_format_from_path(const char *path, gd_format *fmt, gd_err *err)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    const char *base = slash ? slash + 1 : path;
    const char *dot = base ? strrchr(base, '.') : NULL;
    if (dot && dot != base) {
        const char *ext = dot + 1;
        if (ext_is(ext, "tif") || ext_is(ext, "tiff")) {
            *fmt = GD_FORMAT_TIFF;
            return GD_OK;
        }
        if (ext_is(ext, "png")) {
            *fmt = GD_FORMAT_PNG;
            return GD_OK;
        }
        if (ext_is(ext, "jpg") || ext_is(ext, "jpeg")) {
            *fmt = GD_FORMAT_JPEG;
            return GD_OK;
        }
    }
    return gd_err_set(err, GD_EINPUT,
                      "%s: cannot tell the output format from the name; use .tif or .tiff "
                      "(tiled TIFF), .png or .jpg",
                      path ? path : "(no path)");
}

/* ---- Library messages ------------------------------------------------------- */

void io_msgs_clear(io_msgs *m)
{
    m->first[0] = '\0';
    m->errors = 0;
    m->warnings = 0;
}

void io_msgs_error(io_msgs *m, const char *module, const char *fmt, va_list ap)
{
    if (m->errors++ > 0)
        return;
    size_t n = 0;
    if (module && *module) {
        int k = snprintf(m->first, sizeof m->first, "%s: ", module);
        n = k > 0 && (size_t)k < sizeof m->first ? (size_t)k : 0;
    }
    vsnprintf(m->first + n, sizeof m->first - n, fmt, ap);
}

const char *io_msgs_text(const io_msgs *m, const char *fallback)
{
    return m->errors ? m->first : fallback;
}

/* ---- Samples ------------------------------------------------------------------ */

void io_serve_rows(const void *pixels, int bits, int w, gd_image *dst)
{
    const size_t row_samples = (size_t)w * 3;
    const int y0 = dst->y0, y1 = dst->y1;
#pragma omp parallel for schedule(static) if ((size_t)(y1 - y0) * row_samples > 65536)
    for (int y = y0; y < y1; y++) {
        float *out = gd_image_row(dst, y);
        if (bits == 16) {
            const uint16_t *in = (const uint16_t *)pixels + (size_t)y * row_samples;
            for (size_t i = 0; i < row_samples; i++)
                out[i] = (float)in[i] * (255.0f / 65535.0f);
        } else {
            const uint8_t *in = (const uint8_t *)pixels + (size_t)y * row_samples;
            for (size_t i = 0; i < row_samples; i++)
                out[i] = (float)in[i];
        }
    }
}

void io_quantize_row(const float *in, size_t n, int bits, int big_endian, void *out)
{
    const size_t ns = n * 3;
    if (bits == 16) {
        if (big_endian) {
            uint8_t *o = out;
            for (size_t i = 0; i < ns; i++) {
                unsigned v = gd_quantize(in[i], 16);
                o[2 * i] = (uint8_t)(v >> 8);
                o[2 * i + 1] = (uint8_t)v;
            }
        } else {
            uint16_t *o = out;
            for (size_t i = 0; i < ns; i++)
                o[i] = (uint16_t)gd_quantize(in[i], 16);
        }
    } else {
        uint8_t *o = out;
        for (size_t i = 0; i < ns; i++)
            o[i] = (uint8_t)gd_quantize(in[i], 8);
    }
}

gd_status io_fsync(int fd, const char *path, gd_err *err)
{
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        return gd_err_set(err, GD_EIO, "%s: cannot flush to disk: %s", path, strerror(errno));
    return GD_OK;
}

/* ---- Options ------------------------------------------------------------------ */

gd_status io_check_tiff_opts(const char *what, gd_write_opts *o, gd_err *err)
{
    if (o->bits != 8 && o->bits != 16)
        return gd_err_set(err, GD_EINPUT, "%s: bits must be 8 or 16, got %d", what, o->bits);
    if ((unsigned)o->compression >= GD_COMPRESS_COUNT)
        return gd_err_set(err, GD_EINPUT, "%s: unknown compression %d", what, (int)o->compression);
    if (o->compression == GD_COMPRESS_JPEG && o->bits != 8)
        return gd_err_set(err, GD_EINPUT,
                          "%s: JPEG compression stores 8-bit samples only; set [output] "
                          "bits = 8 or choose another compression",
                          what);
    if (o->tile == 0)
        o->tile = 256;
    if (o->tile < 16 || o->tile > 8192 || o->tile % 16 != 0)
        return gd_err_set(err, GD_EINPUT,
                          "%s: TIFF tile side must be a multiple of 16 in [16, 8192], got %d", what,
                          o->tile);
    return GD_OK;
}

/*
 * imageio.h: reading seed images and writing dreams.
 *
 * Inputs: TIFF (8/16-bit, RGB/RGBA/gray, strips or tiles, classic or BigTIFF;
 * read by row region so a rank reads only its band), PNG and JPEG (small
 * inputs, decoded whole).  Pixels come out as float RGB in [0, 255]
 * (16-bit scaled by 255/65535, gray replicated, alpha dropped).
 *
 * Outputs: tiled TIFF (BigTIFF when it could pass 4 GB), 8 or 16 bits,
 * compression, resolution tags, ImageDescription, ICC profile; PNG and JPEG
 * when the extension asks.  Writers write to a temporary name and rename at
 * the end, so a failure never leaves a partial file at the output path.
 *
 * Only this module calls libtiff, libpng and libjpeg.
 */
#ifndef GIGADREAM_IMAGEIO_H
#define GIGADREAM_IMAGEIO_H

#include <stddef.h>
#include <stdint.h>

#include "gigadream/error.h"
#include "gigadream/image.h"

typedef enum gd_format {
    GD_FORMAT_TIFF = 0,
    GD_FORMAT_PNG,
    GD_FORMAT_JPEG,
    GD_FORMAT_COUNT
} gd_format;

/* What gd_imageio_open learned about a file without decoding its pixels. */
typedef struct gd_image_info {
    gd_format format;
    int w, h;
    int channels;      /* in the file: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
    int bits;          /* 8 or 16 */
    int tiled;         /* TIFF: 1 if tiled */
    int bigtiff;       /* TIFF: 1 if BigTIFF */
    double dpi;        /* 0 if unknown */
    void *icc;         /* owned ICC profile bytes, or NULL */
    size_t icc_len;
} gd_image_info;

/* An open input image, read by row regions. */
typedef struct gd_reader gd_reader;

/*
 * Opens path, detects the format from its first bytes (not its name), and
 * reads the header.  Fails with a message naming the file for a missing file,
 * unknown format, truncated or corrupt header, or unsupported layout.
 */
gd_status gd_reader_open(const char *path, gd_reader **out, gd_err *err);
const gd_image_info *gd_reader_info(const gd_reader *r);

/*
 * Reads rows [dst->y0, dst->y1) into dst (a band of a w x h, 3-channel image
 * as gd_image_alloc makes it).  Fails with the file name and row on corrupt
 * data (bad CRC, truncated strips).
 */
gd_status gd_reader_read_rows(gd_reader *r, gd_image *dst, gd_err *err);
void gd_reader_close(gd_reader *r);

/* Reads a whole image as float RGB (convenience for small inputs); info may be NULL. */
gd_status gd_image_read(const char *path, gd_image *out, gd_image_info *info, gd_err *err);

/* ---- Output ---------------------------------------------------------------- */

typedef enum gd_compression {
    GD_COMPRESS_DEFLATE = 0,
    GD_COMPRESS_ZSTD,
    GD_COMPRESS_LZW,
    GD_COMPRESS_JPEG,
    GD_COMPRESS_NONE,
    GD_COMPRESS_COUNT
} gd_compression;

const char *gd_compression_name(gd_compression c);
gd_compression gd_compression_from_name(const char *s); /* GD_COMPRESS_COUNT when unknown */

/* The output format a path asks for by its extension (.tif/.tiff, .png, .jpg/.jpeg). */
gd_status gd_format_from_path(const char *path, gd_format *fmt, gd_err *err);

typedef struct gd_write_opts {
    int bits;                   /* 8 or 16 (JPEG: 8 only) */
    gd_compression compression; /* TIFF only */
    double dpi;                 /* resolution tags; 0 = none */
    const char *description;    /* ImageDescription (TIFF) / tEXt (PNG); may be NULL */
    const void *icc;            /* ICC profile to embed, or NULL */
    size_t icc_len;
    int pyramid;                /* TIFF: reduced-resolution levels down to one tile */
    int overwrite;              /* replace an existing file at the path */
    int tile;                   /* TIFF tile side; 0 = 256 */
} gd_write_opts;

/*
 * A streamed image writer.  Rows arrive in order, top to bottom, in bands
 * whose heights are multiples of the tile side (the last band may be short).
 * Everything goes to "<path>.tmp.<pid>" next to the path; commit renames it
 * into place, abort (or a failure) removes it.
 *
 * gd_writer_open checks before writing anything: the directory exists and is
 * writable, and the path does not exist unless overwrite is set.
 */
typedef struct gd_writer gd_writer;

gd_status gd_writer_open(const char *path, int w, int h, const gd_write_opts *opts,
                         gd_writer **out, gd_err *err);
/* Writes rows [band->y0, band->y1) of the float RGB image (clamped to [0,255], rounded). */
gd_status gd_writer_write_rows(gd_writer *wr, const gd_image *band, gd_err *err);
/* Finishes the file (pyramid, directory), fsyncs, renames into place, frees wr. */
gd_status gd_writer_commit(gd_writer *wr, gd_err *err);
/* Removes the temporary file and frees wr.  wr may be NULL. */
void gd_writer_abort(gd_writer *wr);

/* Converts a float sample to an integer one: clamp to [0,255], scale to bits, round half up. */
static inline unsigned gd_quantize(float v, int bits)
{
    float x = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
    if (bits == 16)
        return (unsigned)(x * (65535.0f / 255.0f) + 0.5f);
    return (unsigned)(x + 0.5f);
}

#endif

/*
 * imageio_int.h: what the imageio source files share, private to them.
 *
 * The files, top to bottom (each calls only the ones below it):
 *   checksum.c      gd_image_checksum, through the public reader
 *   imageio.c       the dispatcher: format detection, the reader and writer
 *                   front ends, the temporary-file protocol (open checks,
 *                   commit, abort)
 *   tiff_read.c     the TIFF reader, by row region
 *   tiff_write.c    the streamed tiled (Big)TIFF writer with its pyramid
 *   png.c, jpeg.c   PNG and JPEG readers and writers (libpng, libjpeg)
 *   tiff_tiles.c    the public raw-tile API: levels, samples, pyramid rows,
 *                   tile rows encoded in parallel (gd_tile_coder)
 *   tiff_codec.c    encoding one TIFF tile to bytes; the libtiff message
 *                   handlers (tiff_int.h)
 *   icc.c           the sRGB ICC profile (lcms2)
 *   common.c        names of formats and compressions, library messages,
 *                   sample conversions, fsync, the TIFF option check
 *
 * Library error handlers never touch global state: each libtiff handle,
 * png_struct and jpeg struct carries a pointer to an io_msgs owned by the
 * reader or writer that made it, and the handler writes there.
 */
#ifndef GIGADREAM_IMAGEIO_INT_H
#define GIGADREAM_IMAGEIO_INT_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "gigadream/imageio.h"

/* ---- Library messages (common.c) ------------------------------------------- */

/*
 * Collects what a library said about one handle: its first error (usually the
 * cause; later ones are consequences) and a count of warnings, which are not
 * shown (libtiff warns about unknown tags in most real files).
 */
typedef struct io_msgs {
    char first[512];
    int errors;
    int warnings;
} io_msgs;

void io_msgs_clear(io_msgs *m);
/* Records an error ("module: message"; module may be NULL or empty). */
void io_msgs_error(io_msgs *m, const char *module, const char *fmt, va_list ap);
/* The first error, or `fallback` when the library said nothing. */
const char *io_msgs_text(const io_msgs *m, const char *fallback);

/* ---- Samples, options, files (common.c) ------------------------------------ */

/*
 * A decoded whole image of 8- or 16-bit RGB samples (PNG, JPEG), from which
 * bands are served.  Converts rows [dst->y0, dst->y1) to float.
 */
void io_serve_rows(const void *pixels, int bits, int w, gd_image *dst);

/* Checks (and completes: tile 0 -> 256) the TIFF-only options; messages start with `what`. */
gd_status io_check_tiff_opts(const char *what, gd_write_opts *o, gd_err *err);

/* Quantizes n RGB pixels (3n floats) to 8-bit samples, or 16-bit ones in host
 * order (big_endian = 0) or big-endian bytes (PNG). */
void io_quantize_row(const float *in, size_t n, int bits, int big_endian, void *out);

/* fsync(fd) with a message naming the file. */
gd_status io_fsync(int fd, const char *path, gd_err *err);

/* ---- Readers ---------------------------------------------------------------- */

typedef struct io_reader_ops {
    /* Fills rows [dst->y0, dst->y1) (already checked against the image). */
    gd_status (*read_rows)(gd_reader *r, gd_image *dst, gd_err *err);
    void (*close)(gd_reader *r);
    /* TIFF only (NULL elsewhere: one level): the directories, and making
     * directory k the one read (r->info describes it then). */
    int (*levels)(const gd_reader *r);
    gd_status (*select_level)(gd_reader *r, int k, gd_err *err);
} io_reader_ops;

struct gd_reader {
    char *path;
    gd_image_info info; /* info.icc is owned by the reader */
    const io_reader_ops *ops;
    void *impl; /* the format's state, freed by ops->close */
};

/* Each opens r->path (detected as its format), fills r->info, r->ops, r->impl.
 * On failure they free what they made and leave r->impl NULL. */
gd_status io_tiff_reader_open(gd_reader *r, gd_err *err);
gd_status io_png_reader_open(gd_reader *r, gd_err *err);
gd_status io_jpeg_reader_open(gd_reader *r, gd_err *err);

/* ---- Writers ---------------------------------------------------------------- */

typedef struct io_writer_ops {
    /* Rows [band->y0, band->y1) of the float image; band->y0 is the next row. */
    gd_status (*write_rows)(gd_writer *wr, const gd_image *band, gd_err *err);
    /* Writes everything that remains, fsyncs and closes the temporary file. */
    gd_status (*finish)(gd_writer *wr, gd_err *err);
    /* Frees the format's state after success or failure (closes what is open). */
    void (*discard)(gd_writer *wr);
    /* Raw tiles (TIFF only; NULL elsewhere): appends one encoded tile of a level. */
    gd_status (*append_tile)(gd_writer *wr, int level, uint32_t index, const void *p, size_t n,
                             gd_err *err);
    /* The JPEGTables of the file (NULL elsewhere). */
    void (*tables)(const gd_writer *wr, const void **p, size_t *n);
} io_writer_ops;

struct gd_writer {
    char *path; /* the final path */
    char *tmp;  /* "<path>.tmp.<host>.<pid>" (imageio.c, protocol point 2) */
    int fd;     /* the temporary file, O_RDWR, until a format takes it over */
    gd_format format;
    int w, h;
    gd_write_opts opts; /* a copy; description and icc point to copies below */
    char *description;
    void *icc;
    int next_row; /* rows [0, next_row) have been written */
    int raw;      /* 1 once a raw tile was appended: rows are refused from then on */
    const io_writer_ops *ops;
    void *impl;
};

/* Each sets wr->ops and wr->impl and takes over wr->fd (setting it to -1),
 * having checked the options that only the format knows about. */
gd_status io_tiff_writer_start(gd_writer *wr, gd_err *err);
gd_status io_png_writer_start(gd_writer *wr, gd_err *err);
gd_status io_jpeg_writer_start(gd_writer *wr, gd_err *err);

#endif

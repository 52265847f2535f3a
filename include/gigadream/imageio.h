/*
 * imageio.h: reading seed images and writing dreams.
 *
 * Inputs: TIFF (8/16-bit, RGB/RGBA/gray, strips or tiles, classic or BigTIFF;
 * read by row region so a rank reads only its band), PNG and JPEG (small
 * inputs, decoded whole).  Pixels come out as float RGB in [0, 255]
 * (16-bit scaled by 255/65535, gray replicated, alpha dropped).
 *
 * Outputs: tiled TIFF (BigTIFF when it could pass 4 GB), 8 or 16 bits,
 * compression, resolution tags, ImageDescription, ICC profile, optional
 * pyramid; PNG and JPEG when the extension asks (small-image formats).
 * Writers write to a temporary name and rename at the end, so a failure never
 * leaves a partial file at the output path.
 *
 * Errors: every failure leaves a message naming the file in the caller's
 * gd_err.  Bad or unsupported files are GD_EINPUT; write failures GD_EIO.
 * Library errors (libtiff, libpng, libjpeg) are caught by per-handle
 * handlers and become these messages; nothing is printed, nothing is global,
 * so readers and writers on different threads do not interfere.  One reader
 * or writer must not be used by two threads at once.
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

/* "TIFF", "PNG", "JPEG" ("?" when out of range). */
const char *gd_format_name(gd_format f);

/* What gd_reader_open learned about a file without decoding its pixels. */
typedef struct gd_image_info {
    gd_format format;
    int w, h;
    int channels; /* in the file: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA (more: extra samples) */
    int bits;     /* 8 or 16 (PNG below 8 bits and palettes report 8) */
    int tiled;    /* TIFF: 1 if tiled */
    int bigtiff;  /* TIFF: 1 if BigTIFF */
    double dpi;   /* horizontal resolution in pixels per inch; 0 if unknown */
    void *icc;    /* ICC profile bytes or NULL; owned by the reader (see gd_image_read) */
    size_t icc_len;
} gd_image_info;

/* An open input image, read by row regions. */
typedef struct gd_reader gd_reader;

/*
 * Opens path, detects the format from its first bytes (TIFF "II*", "MM*" and
 * BigTIFF "II+", "MM+"; the PNG signature; JPEG FF D8 FF; never the name),
 * and reads the header.  Fails with GD_EINPUT and a message naming the file
 * for a missing, empty or unreadable file, an unknown format, a truncated or
 * corrupt header, or an unsupported layout (TIFF: palette, CMYK, Lab, float
 * or signed samples, bit depths other than 8 and 16; JPEG: CMYK).
 * *out is NULL on failure; close with gd_reader_close().
 */
gd_status gd_reader_open(const char *path, gd_reader **out, gd_err *err);
const gd_image_info *gd_reader_info(const gd_reader *r);

/*
 * Reads rows [dst->y0, dst->y1) into dst, which must be a band of a
 * w x h x 3 float image as gd_image_alloc makes it (w, h from the info; any
 * stride >= 3w).  Bands may be read in any order, any number of times.
 * TIFF decodes only the strips or tiles that intersect the band, into one
 * reused scratch buffer; PNG and JPEG decode the whole image on the first
 * call and serve bands from it.  Fails with GD_EINPUT, the file name and the
 * strip or tile (TIFF) on corrupt or truncated data (bad CRC, short strips,
 * undecodable tiles); after a PNG or JPEG decode failure every later call
 * fails too.
 */
gd_status gd_reader_read_rows(gd_reader *r, gd_image *dst, gd_err *err);
/* The levels of the file: a TIFF's directories (gigadream's pyramid: level k is
 * ((w + 1) / 2)-halved k times), 1 for PNG and JPEG. */
int gd_reader_levels(const gd_reader *r);
/* Makes level k the one read: gd_reader_info then describes it, and
 * gd_reader_read_rows reads its rows.  GD_EINPUT for a level the file lacks
 * or cannot read. */
gd_status gd_reader_select_level(gd_reader *r, int k, gd_err *err);
/* Frees the reader and everything it owns (info.icc included).  r may be NULL. */
void gd_reader_close(gd_reader *r);

/*
 * Reads a whole image as float RGB (convenience for small inputs).  out is
 * allocated here (free with gd_image_free); info may be NULL, else it gets a
 * copy of the header whose icc the caller frees with free().  On failure out
 * and info are zeroed.
 */
gd_status gd_image_read(const char *path, gd_image *out, gd_image_info *info, gd_err *err);

/*
 * A checksum of the image's pixels, for comparing images "byte for byte"
 * whatever their container: FNV-1a 64 (offset basis 0xcbf29ce484222325,
 * prime 0x100000001b3) over the samples gd_reader_read_rows delivers,
 * row-major from the top, R, G, B per pixel (gray replicated, min-is-white
 * inverted, alpha and extra samples dropped), each as the file's integer
 * (gd_quantize(v, info.bits), exact for 8- and 16-bit files): one byte for
 * 8-bit files, two bytes little-endian for 16-bit ones.  So the same pixels
 * give the same sum in TIFF (any compression, strips or tiles, classic or
 * BigTIFF, with or without pyramid: only the first directory counts) and
 * PNG; an 8-bit and a 16-bit file never compare equal.  JPEG sums what
 * libjpeg decodes.
 *
 * Reads the file band by band through a gd_reader (at most 256 rows and
 * about 64 MB of float samples at a time), so any TIFF the reader takes is
 * summed in bounded memory; PNG and JPEG are decoded whole, as the reader
 * does.  Fails as gd_reader_open and gd_reader_read_rows do (GD_EINPUT
 * naming the file for a missing, unsupported, corrupt or truncated file);
 * *sum is set only on success.
 */
gd_status gd_image_checksum(const char *path, uint64_t *sum, gd_err *err);

/* ---- Output ---------------------------------------------------------------- */

/*
 * The sRGB ICC profile (lcms2's, its creation date fixed so that it is the
 * same bytes every time), for outputs whose seed has none.  *icc is
 * allocated here; the caller frees it.  GD_ENOMEM when lcms2 fails.
 */
gd_status gd_srgb_profile(void **icc, size_t *len, gd_err *err);

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

/* The output format a path asks for by its extension (.tif/.tiff, .png, .jpg/.jpeg, any
 * letter case); GD_EINPUT with a message listing them for anything else. */
gd_status gd_format_from_path(const char *path, gd_format *fmt, gd_err *err);

/*
 * Output options; a zeroed struct with bits = 8 is a plain 8-bit deflate TIFF
 * (or PNG/JPEG), and NULL means exactly that.  gd_writer_open copies what it
 * needs (description and icc included): the caller's buffers may go at once.
 */
typedef struct gd_write_opts {
    /* 8 or 16 (JPEG files and JPEG compression: 8 only). */
    int bits;
    /* TIFF only.  deflate, zstd and lzw use the horizontal predictor; jpeg is
     * YCbCr 4:4:4 at quality 95. */
    gd_compression compression;
    /* Resolution: TIFF X/YResolution in inches, PNG pHYs, JFIF density; 0 = none. */
    double dpi;
    /* TIFF ImageDescription, PNG tEXt "Description", JPEG COM; may be NULL. */
    const char *description;
    /* ICC profile to embed, or NULL (PNG: libpng must accept it). */
    const void *icc;
    size_t icc_len;
    /* TIFF: reduced-resolution levels, each half the last, down to one tile. */
    int pyramid;
    /* Replace an existing file at the path. */
    int overwrite;
    /* TIFF tile side, a multiple of 16 in [16, 8192]; 0 = 256. */
    int tile;
    /* TIFF: 1 forces BigTIFF; 0 = BigTIFF only when the uncompressed samples
     * of all levels (tiles padded) pass 3.5e9 bytes. */
    int bigtiff;
} gd_write_opts;

/*
 * A streamed image writer.  Rows arrive in order, top to bottom, in bands of
 * any height (bands of whole tile rows waste no copying).  The TIFF writer
 * holds one tile-row band per pyramid level, never the image; PNG and JPEG
 * rows go straight to libpng/libjpeg.
 * Everything goes to "<path>.tmp.<host>.<pid>" next to the path; commit
 * renames it into place, abort (or a failure) removes it.  A process killed
 * outright can leave only the temporary behind, never a partial file at the
 * path; the next writer of that path on that host removes it.
 *
 * gd_writer_open checks before writing anything: the format (extension), the
 * options, that the folder exists, is a folder and is writable, and that the
 * path does not exist unless overwrite is set ("x.tif exists; set [output]
 * overwrite = true to replace it").  Those failures are GD_EINPUT and create
 * nothing.  *out is NULL on failure.
 */
typedef struct gd_writer gd_writer;

gd_status gd_writer_open(const char *path, int w, int h, const gd_write_opts *opts, gd_writer **out,
                         gd_err *err);
/*
 * Writes rows [band->y0, band->y1) of the float RGB image (clamped to
 * [0,255], rounded by gd_quantize).  band->y0 must be the first row not yet
 * written, and band must be w x h x 3 (GD_EINPUT otherwise, nothing written).
 * After any failure the writer can only be aborted.
 */
gd_status gd_writer_write_rows(gd_writer *wr, const gd_image *band, gd_err *err);
/*
 * Checks that all rows were written, finishes the file (pyramid directories,
 * trailers), fsyncs it, moves it to the path (without replacing a file that
 * appeared meanwhile unless overwrite is set), fsyncs the folder, and frees
 * wr, success or not.  On failure the temporary is removed.
 */
gd_status gd_writer_commit(gd_writer *wr, gd_err *err);
/* Removes the temporary file and frees wr.  wr may be NULL. */
void gd_writer_abort(gd_writer *wr);

/* ---- Raw tiles: encoding a TIFF's tiles apart from writing the file ---------------
 *
 * The tiled TIFF writer above is two steps, and these calls give them to a
 * distributed writer (output.h): any process turns rows of integer samples
 * into the exact bytes the file stores for each tile (gd_tile_coder), and the
 * one process holding the gd_writer appends those bytes in order
 * (gd_writer_append_tile).  Samples, pyramid levels and tile bytes are made
 * by the same functions the streamed writer uses, so a file assembled from
 * raw tiles is byte for byte the one gd_writer_write_rows would make.
 */

#define GD_TIFF_MAX_LEVELS 32

/* The directories a TIFF with given options has: level 0 is the image; with
 * pyramid, each next level is ((w + 1) / 2) x ((h + 1) / 2) of the last, until
 * one fits in one tile. */
typedef struct gd_tiff_levels {
    int n;    /* levels, 1..GD_TIFF_MAX_LEVELS */
    int tile; /* tile side */
    int w[GD_TIFF_MAX_LEVELS], h[GD_TIFF_MAX_LEVELS];
    int across[GD_TIFF_MAX_LEVELS], down[GD_TIFF_MAX_LEVELS]; /* tiles per row, tile rows */
} gd_tiff_levels;

/* Plans the levels of a w x h image (w, h >= 1) for options o (o->tile 0 = 256,
 * o->pyramid; NULL = no pyramid, tile 256).  Cannot fail. */
void gd_tiff_levels_plan(int w, int h, const gd_write_opts *o, gd_tiff_levels *out);

/* Quantizes n RGB pixels (3n floats) with gd_quantize to 8-bit samples, or 16-bit
 * ones in host order: a TIFF's level-0 samples. */
void gd_quantize_row(const float *in, size_t n, int bits, void *out);

/*
 * One row of the next pyramid level: out[x] = (a[2x] + a[2x+1] + b[2x] + b[2x+1]
 * + 2) >> 2 per sample, over (w + 1) / 2 pixels, where a and b are two rows of
 * w RGB pixels of `bits`-bit samples (an odd last column averages with itself;
 * for an odd last row pass it as both a and b).
 */
void gd_pyramid_shrink_row(const void *a, const void *b, int w, int bits, void *out);

/*
 * Encodes tile rows of a TIFF layout (bits, compression, tile side) into the
 * bytes the file stores for each tile.  Tiles encode in parallel, one libtiff
 * encoder per OpenMP thread; a tile's bytes depend only on its samples and
 * the layout, never on the thread, the process or where the tile goes.
 */
typedef struct gd_tile_coder gd_tile_coder;

/*
 * A coder for TIFF options o (only bits, compression and tile matter; they
 * are checked as gd_writer_open checks them: GD_EINPUT).  *out is NULL on
 * failure; free with gd_tile_coder_free.
 */
gd_status gd_tile_coder_new(const gd_write_opts *o, gd_tile_coder **out, gd_err *err);
void gd_tile_coder_free(gd_tile_coder *c);

/*
 * Encodes the tiles of one tile row: `rows` (1..tile) rows of w pixels of
 * integer samples (uint8_t, or uint16_t in host order), `stride` bytes apart.
 * Columns past w and rows past `rows` are zeros, as in the streamed writer's
 * edge tiles.  Afterwards gd_tile_coder_tiles() is (w + tile - 1) / tile and
 * gd_tile_coder_tile(c, i, &n) the bytes of tile i, left to right, valid
 * until the next call.  GD_ELIB naming the tile column when libtiff fails,
 * GD_ENOMEM; the tiles are then undefined.
 */
gd_status gd_tile_coder_encode(gd_tile_coder *c, const void *samples, size_t stride, int w,
                               int rows, gd_err *err);
int gd_tile_coder_tiles(const gd_tile_coder *c);
const uint8_t *gd_tile_coder_tile(const gd_tile_coder *c, int i, size_t *n);

/*
 * JPEG compression: the JPEGTables the coder's tiles refer to (every file
 * holding them must carry exactly these).  *p points into the coder.  Other
 * compressions: *p = NULL, *n = 0.  GD_ELIB when the codec fails.
 */
gd_status gd_tile_coder_tables(gd_tile_coder *c, const void **p, size_t *n, gd_err *err);

/*
 * Appends encoded tile `index` (row-major, as gd_tiff_levels counts them) of
 * pyramid level `level` to a TIFF writer.  Level 0's tiles go straight to the
 * file, higher levels' to the writer's spool until commit, so each level's
 * tiles must arrive in index order (levels may interleave).  A writer takes
 * either rows or raw tiles, never both; commit then checks that every tile of
 * every level arrived.  GD_EINPUT for a PNG/JPEG writer, a level out of range,
 * a tile out of order, or a writer that took rows; GD_EIO when writing fails
 * (the writer can then only be aborted).
 */
gd_status gd_writer_append_tile(gd_writer *wr, int level, uint32_t index, const void *p, size_t n,
                                gd_err *err);

/* The JPEGTables the writer puts in its directories (NULL, 0 without JPEG compression). */
void gd_writer_tables(const gd_writer *wr, const void **p, size_t *n);

/* Converts a float sample to an integer one: clamp to [0,255], scale to bits, round half up. */
static inline unsigned gd_quantize(float v, int bits)
{
    float x = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
    if (bits == 16)
        return (unsigned)(x * (65535.0f / 255.0f) + 0.5f);
    return (unsigned)(x + 0.5f);
}

#endif

/*
 * tiff_int.h: what the TIFF files of imageio share (tiff_read.c,
 * tiff_write.c, tiff_tiles.c), below them: TIFF tile encoding, separate from
 * writing a file (tiff_codec.c).  Private to src/imageio/.
 *
 * A tile is encoded to the exact bytes a TIFF with a given layout stores for
 * it, wherever the tile sits in the image; those bytes can then be appended
 * to any file with that layout by TIFFWriteRawTile.  The streamed writer uses
 * this to encode tiles in parallel and append them in order; a distributed
 * writer can encode on every rank and append on one.
 *
 * Also here: the per-handle libtiff error handlers every TIFF handle of this
 * module is opened with (through TIFFOpenOptions, libtiff >= 4.5), so that
 * libtiff's messages land in the io_msgs of the reader, writer or encoder
 * that owns the handle and nothing global is touched.
 *
 * tiff_codec.c calls only common.c; it never calls the readers, writers or
 * the raw-tile API above it.
 */
#ifndef GIGADREAM_IMAGEIO_TIFF_INT_H
#define GIGADREAM_IMAGEIO_TIFF_INT_H

#include <tiffio.h>

#include "imageio_int.h"

/*
 * Options for TIFFOpenExt/TIFFFdOpenExt/TIFFClientOpenExt whose error and
 * warning handlers write into msgs (errors: the first one kept; warnings:
 * counted, not shown).  NULL when out of memory; free with
 * TIFFOpenOptionsFree once the handle is open.
 */
TIFFOpenOptions *io_tiff_open_options(io_msgs *msgs);

/* What makes tile bytes interchangeable between files. */
typedef struct io_tiff_layout {
    int tile;             /* tile side (square tiles) */
    int bits;             /* 8 or 16 */
    uint16_t compression; /* COMPRESSION_*; deflate, zstd, lzw get the horizontal predictor */
    uint16_t photometric; /* PHOTOMETRIC_RGB, or PHOTOMETRIC_YCBCR with JPEG */
} io_tiff_layout;

/* The layout for an output compression: JPEG is YCbCr, the others RGB. */
io_tiff_layout io_tiff_layout_for(gd_compression c, int bits, int tile);
/* Bytes of one tile's samples: tile * tile * 3 * bits / 8. */
size_t io_tiff_tile_raw_bytes(const io_tiff_layout *l);

/*
 * Sets the tags that define the layout on tif's current directory: size,
 * tiles, samples, compression and its parameters (predictor; JPEG 4:4:4
 * subsampling and reference black/white).  Returns 0 when libtiff refuses
 * one (its message is in the handle's io_msgs).
 */
int io_tiff_set_layout(TIFF *tif, const io_tiff_layout *l, uint32_t w, uint32_t h);

/* The encoded bytes of one tile; reused from tile to tile (cap grows). */
typedef struct io_tile_bytes {
    uint8_t *p;
    size_t len, cap;
    int failed; /* set by io_tile_encode on failure, with msg */
    char msg[300];
} io_tile_bytes;

void io_tile_bytes_free(io_tile_bytes *b);

/*
 * An encoder: an in-memory libtiff handle with the layout's tags, whose
 * writes are captured.  One encoder serves one thread at a time.
 */
typedef struct io_tile_encoder io_tile_encoder;

/* NULL with err set when out of memory. */
io_tile_encoder *io_tile_encoder_new(const io_tiff_layout *l, gd_err *err);
void io_tile_encoder_free(io_tile_encoder *e);
/* The buffer to fill with one tile of samples (rows of tile * 3, host order) before encoding. */
void *io_tile_encoder_samples(io_tile_encoder *e);

/*
 * Encodes the samples buffer into out.  Returns 1, or 0 with out->failed and
 * out->msg set.  The samples buffer may be changed by the codec.
 */
int io_tile_encode(io_tile_encoder *e, io_tile_bytes *out);

/*
 * JPEG: the JPEGTables every file with this layout must carry (the encoded
 * tiles are abbreviated streams that refer to them).  Encodes a blank tile
 * first if needed.  *p points into the encoder; copy it.  Returns 0 on failure
 * with msg (at least 300 bytes) set.
 */
int io_tile_encoder_jpeg_tables(io_tile_encoder *e, const void **p, uint32_t *n, char *msg);

#endif

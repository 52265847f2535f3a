/*
 * checksum.c: a checksum of an image's decoded pixels (contract in
 * imageio.h, gd_image_checksum).
 *
 * Why decoded pixels and not file bytes: the same pixels written with
 * another compression, tiling, strip layout, pyramid or format (TIFF, PNG)
 * make other bytes; tests that compare renders (repeated runs, rank counts,
 * restarts) want "the same image", which is this.
 *
 * Memory: bands of at most BAND_ROWS rows, fewer for very wide images, so a
 * 200-megapixel BigTIFF is summed in tens of megabytes.  Bands are powers of
 * two up to 256 rows, so they align with the renderer's 256-row TIFF tiles
 * and each tile row is decoded at most 256 / rows times (the reader keeps one
 * decoded chunk).
 */
#include "imageio_int.h"

#include <stdlib.h>

enum { BAND_ROWS = 256 };
/* Largest band of float samples, in bytes, before halving the rows. */
#define BAND_BYTES (64.0 * 1024 * 1024)

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static inline uint64_t fnv_byte(uint64_t h, unsigned b)
{
    return (h ^ (b & 0xffu)) * FNV_PRIME;
}

gd_status gd_image_checksum(const char *path, uint64_t *sum, gd_err *err)
{
    gd_reader *r = NULL;
    gd_image band = {0};
    gd_status st = gd_reader_open(path, &r, err);
    if (st != GD_OK)
        return st;
    const gd_image_info *in = gd_reader_info(r);
    const int w = in->w, h = in->h, bits = in->bits;
    int rows = BAND_ROWS < h ? BAND_ROWS : h;
    while (rows > 1 && (double)rows * w * 3 * sizeof(float) > BAND_BYTES)
        rows /= 2;
    if ((st = gd_image_alloc(&band, w, h, 3, 0, rows, err)) != GD_OK)
        goto done;
    uint64_t hash = FNV_OFFSET;
    for (int y0 = 0; y0 < h; y0 += rows) {
        band.y0 = y0;
        band.y1 = y0 + rows < h ? y0 + rows : h;
        if ((st = gd_reader_read_rows(r, &band, err)) != GD_OK)
            goto done;
        for (int y = band.y0; y < band.y1; y++) {
            const float *p = gd_image_row(&band, y);
            const size_t n = (size_t)w * 3;
            if (bits == 16) {
                for (size_t i = 0; i < n; i++) {
                    unsigned v = gd_quantize(p[i], 16);
                    hash = fnv_byte(fnv_byte(hash, v), v >> 8);
                }
            } else {
                for (size_t i = 0; i < n; i++)
                    hash = fnv_byte(hash, gd_quantize(p[i], 8));
            }
        }
    }
    *sum = hash;
done:
    gd_image_free(&band);
    gd_reader_close(r);
    return st;
}

/*
 * seed.h: the image a dream starts from, produced band by band.
 *
 * A seed is either a photo read from a file (TIFF read by row region, PNG,
 * JPEG), resized to the job's [input] width/height with the high-quality
 * resampler (resample.h), or the notebook's noise image: uniform(0, 1) + 100
 * per channel, drawn from Philox keyed by the job seed with a counter per
 * pixel, so every pixel is the same whichever rank draws it.
 *
 * gd_seed_read fills any band of the seed from only the source rows that
 * band needs: a rank of a gigapixel render never reads the whole input.
 */
#ifndef GIGADREAM_SEED_H
#define GIGADREAM_SEED_H

#include <stdint.h>

#include "gigadream/error.h"
#include "gigadream/image.h"
#include "gigadream/imageio.h"

typedef struct gd_seed gd_seed;

typedef struct gd_seed_opts {
    const char *path;   /* the input image, or NULL for noise */
    int width, height;  /* wanted size; 0 keeps the input's (one 0 keeps the aspect) */
    uint64_t noise_key; /* noise: the job seed */
} gd_seed_opts;

/*
 * Opens the input (reading only its header) and works out the seed's size.
 * Noise needs width and height.  Caller frees with gd_seed_close.
 */
gd_status gd_seed_open(const gd_seed_opts *opts, gd_seed **out, gd_err *err);
void gd_seed_close(gd_seed *s);

/* The seed's size after resizing. */
void gd_seed_size(const gd_seed *s, int *w, int *h);

/* The input file's header (size, dpi, ICC profile), or NULL for noise. */
const gd_image_info *gd_seed_info(const gd_seed *s);

/*
 * Fills rows [band->y0, band->y1) of the seed (band: w x h x 3 as
 * gd_seed_size gives).  Reads and resizes only what the band needs.
 */
gd_status gd_seed_read(gd_seed *s, gd_image *band, gd_err *err);

#endif

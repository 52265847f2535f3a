/*
 * resample.h: high-quality resizing of seed images (print-size upscales).
 *
 * The dream's own octave resizes must be the notebook's plain bilinear
 * (image.h); this module is for resizes where quality matters: the seed's
 * [input] width/height (Lanczos-3) and fitting a photo to a network's input
 * size for classification (antialiased bilinear, the triangle filter PIL
 * calls BILINEAR).  Filters are separable and stretched by the scale factor
 * when shrinking, so they antialias.  Taps beyond the image are left out and
 * the remaining weights renormalized (PIL's convention); results are clamped
 * to [0, 255].
 *
 * Like image.h it computes any band of destination rows from the source rows
 * gd_resample_src_rows names, and every output pixel is computed the same way
 * whatever the band split or thread count.  Never calls MPI or I/O.
 */
#ifndef GIGADREAM_RESAMPLE_H
#define GIGADREAM_RESAMPLE_H

#include "gigadream/error.h"
#include "gigadream/image.h"

typedef enum gd_filter {
    GD_FILTER_LANCZOS3 = 0, /* sinc windowed by sinc, 3 lobes: sharp upscales */
    GD_FILTER_TRIANGLE,     /* linear: bilinear when enlarging, area-like when shrinking */
    GD_FILTER_COUNT
} gd_filter;

/* The source rows [*a, *b) that destination rows [y0, y1) read. */
void gd_resample_src_rows(int src_h, int dst_h, gd_filter f, int y0, int y1, int *a, int *b);

/*
 * Fills rows [dst->y0, dst->y1) of a dst->w x dst->full_h image from src
 * (logical size src->w x src->full_h, holding at least the rows
 * gd_resample_src_rows names).  Channels must match.  Fails only when
 * scratch memory runs out.
 */
gd_status gd_resample(const gd_image *src, gd_image *dst, gd_filter f, gd_err *err);

#endif

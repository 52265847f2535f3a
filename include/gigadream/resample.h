/*
 * resample.h: high-quality resizing of seed images (print-size upscales).
 *
 * The dream's own octave resizes must be the notebook's plain bilinear
 * (image.h); this module is for the one resize a job asks for in
 * [input] width/height, where quality matters: a separable Lanczos-3 filter,
 * stretched by the scale factor when shrinking so it antialiases, with edge
 * pixels repeated beyond the border, and results clamped to [0, 255].
 *
 * Like image.h it computes any band of destination rows from the source rows
 * gd_resample_src_rows names, and every output pixel is computed the same way
 * whatever the band split or thread count.  Never calls MPI or I/O.
 */
#ifndef GIGADREAM_RESAMPLE_H
#define GIGADREAM_RESAMPLE_H

#include "gigadream/error.h"
#include "gigadream/image.h"

/* The source rows [*a, *b) that destination rows [y0, y1) read. */
void gd_resample_src_rows(int src_h, int dst_h, int y0, int y1, int *a, int *b);

/*
 * Fills rows [dst->y0, dst->y1) of a dst->w x dst->full_h image from src
 * (logical size src->w x src->full_h, holding at least the rows
 * gd_resample_src_rows names).  Channels must match.  Fails only when
 * scratch memory runs out.
 */
gd_status gd_resample(const gd_image *src, gd_image *dst, gd_err *err);

#endif

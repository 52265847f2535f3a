/*
 * image.h: float pixel buffers, row bands of larger images, bilinear resize
 * and border fetch.
 *
 * Pixels are float, channels interleaved (RGB for gigadream's images),
 * rows top to bottom.  A gd_image may hold only a band of rows [y0, y1) of a
 * larger logical image of full_h rows: that is how a rank holds its part of
 * an octave.  Every operation here computes the rows asked for from the rows
 * it is given, so it works the same on a whole image and on a band (the
 * caller brings the halo rows the operation says it needs).
 *
 * Never calls MPI or any I/O library.
 */
#ifndef GIGADREAM_IMAGE_H
#define GIGADREAM_IMAGE_H

#include <stddef.h>

#include "gigadream/error.h"

typedef struct gd_image {
    int w;         /* width in pixels */
    int full_h;    /* height of the whole logical image */
    int c;         /* channels per pixel */
    int y0, y1;    /* rows held: [y0, y1) of the logical image */
    size_t stride; /* floats between consecutive rows (>= w * c) */
    float *data;   /* owned; row y is at data + (y - y0) * stride */
} gd_image;

/*
 * What a pass that streams through a band's rows in order tells the band's
 * owner as it goes: rows [y0, y1) are needed no more by this pass.  An out-of-
 * core owner lets them leave memory then (gd_band_release: the values stay
 * in their file), which is what bounds a rank's resident memory while a
 * checkpoint or the output reads a band larger than its budget.  A NULL
 * pointer or fn: nothing to tell.
 */
typedef struct gd_rows_done {
    void (*fn)(void *ctx, int y0, int y1);
    void *ctx;
} gd_rows_done;

static inline void gd_rows_done_tell(const gd_rows_done *done, int y0, int y1)
{
    if (done && done->fn && y1 > y0)
        done->fn(done->ctx, y0, y1);
}

/*
 * Allocates rows [y0, y1) of a w x full_h image with c channels, zeroed, with
 * stride w * c.  Fails with GD_EINPUT for w, full_h or c < 1 or a row range
 * outside [0, full_h) (y0 == y1 is allowed: an empty band), and with
 * GD_ENOMEM when the size overflows or malloc fails; im is zeroed then.
 * The caller frees with gd_image_free().
 */
gd_status gd_image_alloc(gd_image *im, int w, int full_h, int c, int y0, int y1, gd_err *err);
/* Allocates a whole w x h image (rows [0, h)). */
gd_status gd_image_alloc_full(gd_image *im, int w, int h, int c, gd_err *err);
/* Frees the pixels and zeroes the struct.  im may be NULL. */
void gd_image_free(gd_image *im);

static inline float *gd_image_row(const gd_image *im, int y)
{
    return im->data + (size_t)(y - im->y0) * im->stride;
}

/*
 * Bytes needed for a w x h image with c float channels; returns 0 when the
 * size overflows size_t or when w, h or c is negative.  Used to refuse
 * absurd requests before allocating.
 */
size_t gd_image_bytes(int w, int h, int c);

/* Sets n floats to zero, in parallel (OpenMP) when n is large. */
void gd_zero_floats(float *p, size_t n);

/*
 * The size a side gets when an octave is scaled down: int32(float32(n) / scale),
 * exactly as the notebook computes it with numpy (float32 division, then
 * truncation toward zero), never less than 1.  Results too large for an int
 * saturate at INT_MAX.
 */
int gd_octave_down(int n, float scale);
/* Scaling up (multiscale/lapnorm): int32(float32(n) * scale). */
int gd_octave_up(int n, float scale);

/*
 * Bilinear resize with half-pixel centers and no antialiasing (PyTorch
 * interpolate(bilinear, align_corners=False), OpenCV INTER_LINEAR): fills
 * rows [dst->y0, dst->y1) of a dst->w x dst->full_h image from the src image
 * (logical size src->w x src->full_h).  src must hold the rows that
 * gd_resize_src_rows names.  Channels must match.
 *
 * The arithmetic is PyTorch's CPU kernel, in float32, per axis:
 *
 *     scale  = (float)src_n / (float)dst_n
 *     s      = scale * ((float)i + 0.5f) - 0.5f;   if (s < 0) s = 0
 *     i0     = min((int)s, src_n - 1)               (s >= 0, so (int) is floor)
 *     lambda = clamp(s - (float)i0, 0, 1)
 *     i1     = i0 + (i0 < src_n - 1)
 *
 * and each output sample is, evaluated left to right with no fused
 * multiply-add (the build is ISO C, so GCC does not contract):
 *
 *     out = (1-ly) * ((1-lx)*a + lx*b) + ly * ((1-lx)*c + lx*d)
 *
 * with a = src(x0,y0), b = src(x1,y0), c = src(x0,y1), d = src(x1,y1).
 * Every output pixel is computed on its own from src, so the result does not
 * depend on the thread count, on how the rows are split into bands, or on
 * dst->y0.  OpenMP-parallel over rows.  Allocates nothing, cannot fail.
 */
void gd_resize_bilinear(const gd_image *src, gd_image *dst);

/*
 * The source rows [*a, *b) that destination rows [y0, y1) of a resize from
 * src_h to dst_h rows read (empty, *a == *b == 0, when y0 >= y1).
 */
void gd_resize_src_rows(int src_h, int dst_h, int y0, int y1, int *a, int *b);

/* Border handling for pixels outside the image. */
typedef enum gd_border {
    GD_BORDER_REFLECT = 0, /* mirror without repeating the edge pixel: -1 -> 1 (reflect-101) */
    GD_BORDER_WRAP,        /* periodic, like np.roll: -1 -> n - 1 */
    GD_BORDER_COUNT
} gd_border;

/*
 * Maps a coordinate to [0, n) under the border rule, for any distance outside
 * (reflect-101 is periodic with period 2(n-1)).  n == 1 maps everything to 0.
 * n must be >= 1.
 */
int gd_border_index(int i, int n, gd_border b);

/*
 * Copies the window [x0, x0 + w) x [y0, y0 + h) of the logical image into
 * out (w * h * c floats, interleaved, tightly packed), fetching outside
 * pixels by the border rule (per axis: x against src->w, y against
 * src->full_h).  src must hold every row the window maps to
 * (gd_fetch_src_rows tells which); that is asserted.  OpenMP-parallel over
 * rows when the window is large.
 */
void gd_image_fetch(const gd_image *src, int x0, int y0, int w, int h, gd_border b, float *out);

/*
 * The logical rows [*a, *bend) that a window's rows [y0, y0 + h) map to under
 * the border rule in an image of full_h rows: what a band must hold for
 * gd_image_fetch.  Empty (*a == *bend == 0) when h <= 0.
 */
void gd_fetch_src_rows(int full_h, int y0, int h, gd_border b, int *a, int *bend);

#endif

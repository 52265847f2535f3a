/*
 * image.c: float pixel bands, bilinear resize, border index and fetch.
 *
 * Invariants every function here keeps:
 *   1. An output pixel is a function of the source pixels only: no function
 *      carries state between pixels, rows or calls, so results do not depend
 *      on the OpenMP thread count or on how rows are split into bands.
 *   2. Nothing here allocates except gd_image_alloc; resize and fetch work in
 *      the caller's buffers and cannot fail.
 *   3. Row y of a band is at data + (y - y0) * stride; callers bring the rows
 *      gd_resize_src_rows / gd_fetch_src_rows name, and that is asserted.
 */
#include "gigadream/image.h"

#include <assert.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Windows smaller than this many floats are fetched by one thread: spawning
 * a team costs more than copying them. */
#define FETCH_PARALLEL_MIN (1 << 16)
/* Below this many floats (4 MB) gd_zero_floats is one memset: a team costs more. */
#define ZERO_PARALLEL_MIN (1 << 20)

size_t gd_image_bytes(int w, int h, int c)
{
    if (w < 0 || h < 0 || c < 0)
        return 0;
    size_t n = (size_t)w;
    if (h && n > SIZE_MAX / (size_t)h)
        return 0;
    n *= (size_t)h;
    if (c && n > SIZE_MAX / (size_t)c)
        return 0;
    n *= (size_t)c;
    if (n > SIZE_MAX / sizeof(float))
        return 0;
    return n * sizeof(float);
}

void gd_zero_floats(float *p, size_t n)
{
    if (n < ZERO_PARALLEL_MIN) {
        memset(p, 0, n * sizeof *p);
        return;
    }
    /* 64 KiB pieces, spread over the threads. */
    const size_t piece = 16384;
    const long pieces = (long)((n + piece - 1) / piece);
#pragma omp parallel for schedule(static)
    for (long k = 0; k < pieces; k++) {
        size_t a = (size_t)k * piece, z = a + piece < n ? a + piece : n;
        memset(p + a, 0, (z - a) * sizeof *p);
    }
}

gd_status gd_image_alloc(gd_image *im, int w, int full_h, int c, int y0, int y1, gd_err *err)
{
    memset(im, 0, sizeof *im);
    if (w < 1 || full_h < 1 || c < 1)
        return gd_err_set(err, GD_EINPUT, "image size %d x %d x %d: every side must be >= 1", w,
                          full_h, c);
    if (y0 < 0 || y1 < y0 || y1 > full_h)
        return gd_err_set(err, GD_EINPUT, "image rows [%d, %d) are not inside [0, %d)", y0, y1,
                          full_h);
    size_t bytes = gd_image_bytes(w, y1 - y0, c);
    if (bytes == 0 && y1 > y0)
        return gd_err_set(err, GD_ENOMEM, "image of %d x %d x %d floats: size overflows", w,
                          y1 - y0, c);
    float *data = gd_calloc(bytes ? bytes : 1, 1, "image pixels", err);
    if (!data)
        return GD_ENOMEM;
    im->w = w;
    im->full_h = full_h;
    im->c = c;
    im->y0 = y0;
    im->y1 = y1;
    im->stride = (size_t)w * (size_t)c;
    im->data = data;
    return GD_OK;
}

gd_status gd_image_alloc_full(gd_image *im, int w, int h, int c, gd_err *err)
{
    return gd_image_alloc(im, w, h, c, 0, h, err);
}

void gd_image_free(gd_image *im)
{
    if (!im)
        return;
    free(im->data);
    memset(im, 0, sizeof *im);
}

/* int32(f) for a non-negative float, saturating, at least 1. */
static int octave_side(float f)
{
    if (!(f < (float)INT_MAX)) /* also catches NaN */
        return f != f ? 1 : INT_MAX;
    int n = (int)f;
    return n < 1 ? 1 : n;
}

int gd_octave_down(int n, float scale)
{
    return octave_side((float)n / scale);
}

int gd_octave_up(int n, float scale)
{
    return octave_side((float)n * scale);
}

/* ---- Bilinear resize ------------------------------------------------------ */

/* One axis of PyTorch's linear interpolation (see image.h). */
typedef struct axis_pos {
    int i0, i1;
    float l1; /* weight of i1; i0 gets 1 - l1 */
} axis_pos;

static inline axis_pos axis_at(float scale, int i, int src_n)
{
    axis_pos p;
    float s = scale * ((float)i + 0.5f) - 0.5f;
    if (s < 0.0f)
        s = 0.0f;
    int i0 = (int)s;
    if (i0 > src_n - 1)
        i0 = src_n - 1;
    float l = s - (float)i0;
    l = l < 0.0f ? 0.0f : (l > 1.0f ? 1.0f : l);
    p.i0 = i0;
    p.i1 = i0 + (i0 < src_n - 1);
    p.l1 = l;
    return p;
}

void gd_resize_src_rows(int src_h, int dst_h, int y0, int y1, int *a, int *b)
{
    if (y0 >= y1 || src_h < 1 || dst_h < 1) {
        *a = *b = 0;
        return;
    }
    float scale = (float)src_h / (float)dst_h;
    /* The source position is monotonic in the destination row (each float
     * step is), so the first and last rows bound the band. */
    *a = axis_at(scale, y0, src_h).i0;
    *b = axis_at(scale, y1 - 1, src_h).i1 + 1;
}

/* One destination row; c channels.  Kept free of anything a vectorizer would
 * trip on: the x positions are recomputed per pixel from x alone. */
static void resize_row(const float *r0, const float *r1, float ly, int src_w, float scale_x,
                       int dst_w, int c, float *out)
{
    const float wy0 = 1.0f - ly, wy1 = ly;
    if (c == 3) {
        for (int x = 0; x < dst_w; x++) {
            axis_pos px = axis_at(scale_x, x, src_w);
            const float wx0 = 1.0f - px.l1, wx1 = px.l1;
            const float *a = r0 + (size_t)px.i0 * 3, *b = r0 + (size_t)px.i1 * 3;
            const float *cc = r1 + (size_t)px.i0 * 3, *d = r1 + (size_t)px.i1 * 3;
            float *o = out + (size_t)x * 3;
            for (int k = 0; k < 3; k++)
                o[k] = wy0 * (wx0 * a[k] + wx1 * b[k]) + wy1 * (wx0 * cc[k] + wx1 * d[k]);
        }
        return;
    }
    for (int x = 0; x < dst_w; x++) {
        axis_pos px = axis_at(scale_x, x, src_w);
        const float wx0 = 1.0f - px.l1, wx1 = px.l1;
        const float *a = r0 + (size_t)px.i0 * c, *b = r0 + (size_t)px.i1 * c;
        const float *cc = r1 + (size_t)px.i0 * c, *d = r1 + (size_t)px.i1 * c;
        float *o = out + (size_t)x * c;
        for (int k = 0; k < c; k++)
            o[k] = wy0 * (wx0 * a[k] + wx1 * b[k]) + wy1 * (wx0 * cc[k] + wx1 * d[k]);
    }
}

void gd_resize_bilinear(const gd_image *src, gd_image *dst)
{
    assert(src->c == dst->c);
    const int src_w = src->w, src_h = src->full_h, dst_w = dst->w, dst_h = dst->full_h;
    const int c = src->c;
    const float scale_x = (float)src_w / (float)dst_w;
    const float scale_y = (float)src_h / (float)dst_h;
#ifndef NDEBUG
    int need_a, need_b;
    gd_resize_src_rows(src_h, dst_h, dst->y0, dst->y1, &need_a, &need_b);
    assert(dst->y0 >= dst->y1 || (need_a >= src->y0 && need_b <= src->y1));
#endif
    const int y0 = dst->y0, y1 = dst->y1;
#pragma omp parallel for schedule(static) if ((size_t)(y1 - y0) * (size_t)dst_w > 4096)
    for (int y = y0; y < y1; y++) {
        axis_pos py = axis_at(scale_y, y, src_h);
        resize_row(gd_image_row(src, py.i0), gd_image_row(src, py.i1), py.l1, src_w, scale_x, dst_w,
                   c, gd_image_row(dst, y));
    }
}

/* ---- Border rules --------------------------------------------------------- */

int gd_border_index(int i, int n, gd_border b)
{
    assert(n >= 1);
    if (i >= 0 && i < n)
        return i;
    if (n == 1)
        return 0;
    /* 64-bit so that i near INT_MIN/INT_MAX cannot overflow. */
    int64_t ii = i, nn = n;
    if (b == GD_BORDER_WRAP) {
        int64_t m = ii % nn;
        return (int)(m < 0 ? m + nn : m);
    }
    int64_t period = 2 * (nn - 1);
    int64_t m = ii % period;
    if (m < 0)
        m += period;
    return (int)(m < nn ? m : period - m);
}

void gd_fetch_src_rows(int full_h, int y0, int h, gd_border b, int *a, int *bend)
{
    if (h <= 0 || full_h < 1) {
        *a = *bend = 0;
        return;
    }
    if (y0 >= 0 && (int64_t)y0 + h <= full_h) {
        *a = y0;
        *bend = y0 + h;
        return;
    }
    /* Outside rows fold back by the rule; a window is a tile, so looking at
     * each of its rows is cheap and needs no case analysis. */
    int lo = full_h, hi = -1;
    for (int r = 0; r < h; r++) {
        int64_t y = (int64_t)y0 + r;
        int sy = gd_border_index(y > INT_MAX ? INT_MAX : (int)y, full_h, b);
        if (sy < lo)
            lo = sy;
        if (sy > hi)
            hi = sy;
        if (lo == 0 && hi == full_h - 1)
            break;
    }
    *a = lo;
    *bend = hi + 1;
}

/* One window row: outside pixels fold back one by one, the inside span is
 * one memcpy. */
static void fetch_row(const float *row, int img_w, int c, int x0, int w, gd_border b, float *out)
{
    const size_t px = (size_t)c * sizeof(float);
    int x = 0;
    for (; x < w && (int64_t)x0 + x < 0; x++)
        memcpy(out + (size_t)x * c, row + (size_t)gd_border_index(x0 + x, img_w, b) * c, px);
    if (x < w && (int64_t)x0 + x < img_w) {
        int64_t n = (int64_t)img_w - ((int64_t)x0 + x);
        if (n > w - x)
            n = w - x;
        memcpy(out + (size_t)x * c, row + (size_t)(x0 + x) * c, (size_t)n * px);
        x += (int)n;
    }
    for (; x < w; x++)
        memcpy(out + (size_t)x * c, row + (size_t)gd_border_index(x0 + x, img_w, b) * c, px);
}

void gd_image_fetch(const gd_image *src, int x0, int y0, int w, int h, gd_border b, float *out)
{
    if (w <= 0 || h <= 0)
        return;
    const int c = src->c;
#ifndef NDEBUG
    int need_a, need_b;
    gd_fetch_src_rows(src->full_h, y0, h, b, &need_a, &need_b);
    assert(need_a >= src->y0 && need_b <= src->y1);
#endif
#pragma omp parallel for schedule(static) if ((size_t)w * (size_t)h * (size_t)c >=                 \
                                              FETCH_PARALLEL_MIN)
    for (int r = 0; r < h; r++) {
        int sy = gd_border_index(y0 + r, src->full_h, b);
        fetch_row(gd_image_row(src, sy), src->w, c, x0, w, b, out + (size_t)r * w * c);
    }
}

/*
 * resample.c: separable, antialiasing resampling (Lanczos-3, triangle) for
 * seeds and classification inputs, band-wise.
 *
 * For destination coordinate i the filter is centred at the source position
 * c = (i + 0.5) * scale - 0.5 (half-pixel centres, scale = src/dst) and, when
 * shrinking, stretched by scale.  The taps are the source pixels j in [0, n)
 * with |j - c| < support; weights K((j - c) / stretch) are computed in double
 * and normalized to sum to one over the taps that exist (PIL's convention at
 * the borders).  The horizontal pass runs on the source rows a band needs,
 * the vertical pass on its result.
 */
#include "gigadream/resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

/* Per destination index: its first tap and weights (n per index, zero-padded). */
typedef struct taps {
    int n;
    int *first;
    float *w;
} taps;

static double kernel(gd_filter f, double t)
{
    t = fabs(t);
    if (f == GD_FILTER_TRIANGLE)
        return t < 1.0 ? 1.0 - t : 0.0;
    if (t < 1e-12)
        return 1.0;
    if (t >= 3.0)
        return 0.0;
    double pt = PI * t;
    return 3.0 * sin(pt) * sin(pt / 3.0) / (pt * pt);
}

static double radius(gd_filter f)
{
    return f == GD_FILTER_TRIANGLE ? 1.0 : 3.0;
}

/* The taps of destination i: [*a, *b) within [0, src). */
static void window(int src, int dst, gd_filter f, int i, double *centre, double *stretch, int *a,
                   int *b)
{
    double scale = (double)src / (double)dst;
    *stretch = scale > 1.0 ? scale : 1.0;
    double sup = radius(f) * *stretch;
    *centre = (i + 0.5) * scale - 0.5;
    *a = (int)floor(*centre - sup) + 1;
    *b = (int)ceil(*centre + sup);
    if (*a < 0)
        *a = 0;
    if (*b > src)
        *b = src;
    if (*b <= *a) { /* cannot happen for src >= 1, but keep one tap */
        *a = (int)floor(*centre + 0.5);
        *a = *a < 0 ? 0 : (*a >= src ? src - 1 : *a);
        *b = *a + 1;
    }
}

static void free_taps(taps *t)
{
    free(t->first);
    free(t->w);
}

static gd_status make_taps(int src, int dst, gd_filter f, int i0, int i1, taps *t, gd_err *err)
{
    double scale = (double)src / dst, stretch = scale > 1.0 ? scale : 1.0;
    size_t count = (size_t)(i1 - i0 > 0 ? i1 - i0 : 1);
    t->n = (int)ceil(2.0 * radius(f) * stretch) + 2;
    t->first = gd_malloc(sizeof(int) * count, "resampling taps", err);
    t->w = t->first ? gd_calloc(count * (size_t)t->n, sizeof(float), "resampling taps", err) : NULL;
    if (!t->w) {
        free_taps(t);
        return err->status;
    }
    for (int i = i0; i < i1; i++) {
        double c, s, sum = 0.0;
        int a, b;
        window(src, dst, f, i, &c, &s, &a, &b);
        float *w = t->w + (size_t)(i - i0) * t->n;
        t->first[i - i0] = a;
        for (int j = a; j < b; j++)
            sum += kernel(f, (j - c) / s);
        for (int j = a; j < b && j - a < t->n; j++)
            w[j - a] = (float)(sum != 0.0 ? kernel(f, (j - c) / s) / sum : 1.0 / (b - a));
    }
    return GD_OK;
}

void gd_resample_src_rows(int src_h, int dst_h, gd_filter f, int y0, int y1, int *a, int *b)
{
    double c, s;
    int a0, b0, a1, b1;
    if (y1 <= y0) {
        *a = *b = 0;
        return;
    }
    window(src_h, dst_h, f, y0, &c, &s, &a0, &b0);
    window(src_h, dst_h, f, y1 - 1, &c, &s, &a1, &b1);
    *a = a0;
    *b = b1;
}

gd_status gd_resample(const gd_image *src, gd_image *dst, gd_filter f, gd_err *err)
{
    gd_status st = GD_OK;
    const int c = dst->c, dw = dst->w;
    taps tx = {0}, ty = {0};
    float *tmp = NULL;
    int a, b;
    if (dst->y1 <= dst->y0)
        return GD_OK;
    if (src->c != c || (unsigned)f >= GD_FILTER_COUNT)
        return gd_err_set(err, GD_EINPUT, "internal: resampling %d to %d channels, filter %d",
                          src->c, c, (int)f);
    gd_resample_src_rows(src->full_h, dst->full_h, f, dst->y0, dst->y1, &a, &b);
    if ((st = make_taps(src->w, dw, f, 0, dw, &tx, err)) != GD_OK)
        goto done;
    if ((st = make_taps(src->full_h, dst->full_h, f, dst->y0, dst->y1, &ty, err)) != GD_OK)
        goto done;
    tmp = gd_malloc(sizeof(float) * (size_t)(b - a) * (size_t)dw * (size_t)c, "resampling scratch",
                    err);
    if (!tmp) {
        st = err->status;
        goto done;
    }
    /* Horizontal pass over the source rows the band needs. */
#pragma omp parallel for schedule(static)
    for (int y = a; y < b; y++) {
        const float *in = gd_image_row(src, y);
        float *out = tmp + (size_t)(y - a) * dw * c;
        for (int x = 0; x < dw; x++) {
            const float *w = tx.w + (size_t)x * tx.n;
            const float *p = in + (size_t)tx.first[x] * c;
            for (int ch = 0; ch < c; ch++) {
                float s = 0.0f;
                for (int k = 0; k < tx.n; k++)
                    if (w[k] != 0.0f)
                        s += w[k] * p[(size_t)k * c + ch];
                out[(size_t)x * c + ch] = s;
            }
        }
    }
    /* Vertical pass into the destination band. */
#pragma omp parallel for schedule(static)
    for (int y = dst->y0; y < dst->y1; y++) {
        const float *w = ty.w + (size_t)(y - dst->y0) * ty.n;
        int first = ty.first[y - dst->y0];
        float *out = gd_image_row(dst, y);
        for (size_t i = 0; i < (size_t)dw * c; i++) {
            float s = 0.0f;
            for (int k = 0; k < ty.n; k++)
                if (w[k] != 0.0f)
                    s += w[k] * tmp[(size_t)(first + k - a) * dw * c + i];
            out[i] = s < 0.0f ? 0.0f : (s > 255.0f ? 255.0f : s);
        }
    }
done:
    free_taps(&tx);
    free_taps(&ty);
    free(tmp);
    return st;
}

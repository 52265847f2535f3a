/*
 * resample.c: Lanczos-3 resampling for seed images, separable, band-wise.
 *
 * For each destination coordinate the filter is centred at the source
 * position (x + 0.5) * scale - 0.5 (half-pixel centres, scale = src/dst)
 * and, when shrinking, stretched by scale.  Taps beyond the image repeat the
 * edge pixel.  Weights are computed in double and normalized to sum to one,
 * then the horizontal pass runs on the needed source rows and the vertical
 * pass on its result.
 */
#include "gigadream/resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LANCZOS_A 3.0
#define PI 3.14159265358979323846

typedef struct taps {
    int first;    /* first source index of destination i's window (unclamped) */
    int n;        /* taps per destination index (the same for all) */
    float *w;     /* n weights per destination index */
} taps;

static double lanczos(double t)
{
    t = fabs(t);
    if (t < 1e-12)
        return 1.0;
    if (t >= LANCZOS_A)
        return 0.0;
    double pt = PI * t;
    return LANCZOS_A * sin(pt) * sin(pt / LANCZOS_A) / (pt * pt);
}

static double support(int src, int dst, double *stretch)
{
    double scale = (double)src / (double)dst;
    *stretch = scale > 1.0 ? scale : 1.0;
    return LANCZOS_A * *stretch;
}

/*
 * Window of destination index i: taps at source positions first .. first+n-1,
 * which covers every integer strictly within the filter's support around the
 * centre.  n is the same for every i.
 */
static void window(int src, int dst, int i, int *first, int *n)
{
    double stretch, sup = support(src, dst, &stretch);
    double centre = (i + 0.5) * ((double)src / dst) - 0.5;
    *n = (int)ceil(2.0 * sup) + 1;
    *first = (int)floor(centre - sup) + 1;
}

static gd_status make_taps(int src, int dst, int i0, int i1, taps *t, gd_err *err)
{
    double stretch;
    int first, n;
    support(src, dst, &stretch);
    window(src, dst, i0, &first, &n);
    t->n = n;
    t->first = first;
    t->w = gd_malloc(sizeof(float) * (size_t)n * (size_t)(i1 - i0 > 0 ? i1 - i0 : 1),
                     "resampling weights", err);
    if (!t->w)
        return err->status;
    for (int i = i0; i < i1; i++) {
        double centre = (i + 0.5) * ((double)src / dst) - 0.5, sum = 0.0;
        float *w = t->w + (size_t)(i - i0) * n;
        window(src, dst, i, &first, &n);
        for (int k = 0; k < n; k++)
            sum += lanczos((first + k - centre) / stretch);
        for (int k = 0; k < n; k++)
            w[k] = (float)(lanczos((first + k - centre) / stretch) / sum);
    }
    return GD_OK;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

void gd_resample_src_rows(int src_h, int dst_h, int y0, int y1, int *a, int *b)
{
    int f0, n0, f1, n1;
    if (y1 <= y0) {
        *a = *b = 0;
        return;
    }
    window(src_h, dst_h, y0, &f0, &n0);
    window(src_h, dst_h, y1 - 1, &f1, &n1);
    *a = clampi(f0, 0, src_h - 1);
    *b = clampi(f1 + n1 - 1, 0, src_h - 1) + 1;
}

gd_status gd_resample(const gd_image *src, gd_image *dst, gd_err *err)
{
    gd_status st = GD_OK;
    const int c = dst->c, sw = src->w, dw = dst->w;
    taps tx = {0}, ty = {0};
    float *tmp = NULL;
    int a, b;
    if (dst->y1 <= dst->y0)
        return GD_OK;
    gd_resample_src_rows(src->full_h, dst->full_h, dst->y0, dst->y1, &a, &b);
    if ((st = make_taps(sw, dw, 0, dw, &tx, err)) != GD_OK)
        goto done;
    if ((st = make_taps(src->full_h, dst->full_h, dst->y0, dst->y1, &ty, err)) != GD_OK)
        goto done;
    tmp = gd_malloc(sizeof(float) * (size_t)(b - a) * (size_t)dw * (size_t)c,
                    "resampling scratch", err);
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
            int f, n;
            window(sw, dw, x, &f, &n);
            const float *w = tx.w + (size_t)x * tx.n;
            for (int ch = 0; ch < c; ch++) {
                float s = 0.0f;
                for (int k = 0; k < tx.n; k++)
                    s += w[k] * in[(size_t)clampi(f + k, 0, sw - 1) * c + ch];
                out[(size_t)x * c + ch] = s;
            }
        }
    }
    /* Vertical pass into the destination band. */
#pragma omp parallel for schedule(static)
    for (int y = dst->y0; y < dst->y1; y++) {
        int f, n;
        window(src->full_h, dst->full_h, y, &f, &n);
        const float *w = ty.w + (size_t)(y - dst->y0) * ty.n;
        float *out = gd_image_row(dst, y);
        for (size_t i = 0; i < (size_t)dw * c; i++) {
            float s = 0.0f;
            for (int k = 0; k < ty.n; k++) {
                int sy = clampi(f + k, 0, src->full_h - 1);
                s += w[k] * tmp[(size_t)(sy - a) * dw * c + i];
            }
            out[i] = s < 0.0f ? 0.0f : (s > 255.0f ? 255.0f : s);
        }
    }
done:
    free(tx.w);
    free(ty.w);
    free(tmp);
    return st;
}

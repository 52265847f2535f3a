/*
 * lapnorm.c: the notebook's Laplacian pyramid gradient normalization, on an
 * image split into row bands.
 *
 *   lap_split:  lo = conv2d(img, k5x5, stride 2, SAME)           (zero padding)
 *               hi = img - conv2d_transpose(lo, 4 * k5x5, shape(img), stride 2)
 *   levels:     [lo_n, hi_n-1, ..., hi_0], each divided by max(sqrt(mean(x^2)), 1e-10)
 *   lap_merge:  img = lo_n; for each hi: img = conv2d_transpose(img) + hi
 *
 * k5x5 is outer([1,4,6,4,1], [1,4,6,4,1]) / 256 applied per channel, so both
 * convolutions are separable: [1,4,6,4,1]/16 per axis down, twice that per
 * axis up.  TensorFlow's SAME padding for a 5-tap stride-2 window on n
 * pixels: m = ceil(n/2) outputs, total padding max((m-1)*2 + 5 - n, 0), the
 * smaller half before.
 *
 * Every level is split into bands like the image; each down/up step fetches
 * the few rows it needs from neighbours (dr_fetch).
 */
#include "dream_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const float k5[5] = {1.0f / 16, 4.0f / 16, 6.0f / 16, 4.0f / 16, 1.0f / 16};

static int half(int n)
{
    return (n + 1) / 2;
}

static int pad_before(int n)
{
    int m = half(n), total = (m - 1) * 2 + 5 - n;
    return total > 0 ? total / 2 : 0;
}

/* One row of lo (width m = half(w)) from rows 2i - pb + k of src. */
static void down_row(const gd_image *src, int i, float *tmp, float *out)
{
    int w = src->w, h = src->full_h, m = half(w), pb = pad_before(h), pbx = pad_before(w);
    memset(tmp, 0, sizeof(float) * (size_t)w * 3);
    for (int k = 0; k < 5; k++) {
        int y = 2 * i - pb + k;
        if (y < 0 || y >= h)
            continue;
        const float *r = gd_image_row(src, y);
        for (int x = 0; x < w * 3; x++)
            tmp[x] += k5[k] * r[x];
    }
    for (int j = 0; j < m; j++)
        for (int c = 0; c < 3; c++) {
            float s = 0;
            for (int k = 0; k < 5; k++) {
                int x = 2 * j - pbx + k;
                if (x >= 0 && x < w)
                    s += k5[k] * tmp[(size_t)x * 3 + c];
            }
            out[(size_t)j * 3 + c] = s;
        }
}

/* One row y of conv2d_transpose(lo) at the size of the finer level (w x h). */
static void up_row(const gd_image *lo, int w, int h, int y, float *tmp, float *out)
{
    int m = lo->w, pb = pad_before(h), pbx = pad_before(w);
    memset(tmp, 0, sizeof(float) * (size_t)m * 3);
    for (int k = 0; k < 5; k++) {
        int t = y + pb - k; /* 2i = y + pb - k */
        if (t < 0 || t % 2)
            continue;
        int i = t / 2;
        if (i >= lo->full_h)
            continue;
        const float *r = gd_image_row(lo, i);
        for (int x = 0; x < m * 3; x++)
            tmp[x] += 2.0f * k5[k] * r[x];
    }
    for (int x = 0; x < w; x++)
        for (int c = 0; c < 3; c++) {
            float s = 0;
            for (int k = 0; k < 5; k++) {
                int t = x + pbx - k;
                if (t < 0 || t % 2 || t / 2 >= m)
                    continue;
                s += 2.0f * k5[k] * tmp[(size_t)(t / 2) * 3 + c];
            }
            out[(size_t)x * 3 + c] = s;
        }
}

/* Rows of the coarser level that finer rows [y0, y1) read in up_row. */
static void up_src_rows(int h, int y0, int y1, int *a, int *b)
{
    int pb = pad_before(h);
    *a = (y0 + pb - 4) / 2;
    if (y0 + pb - 4 < 0)
        *a = 0;
    *b = (y1 - 1 + pb) / 2 + 1;
    if (*b > half(h))
        *b = half(h);
}

/* fine (own rows) += sign * up(coarse).  Collective (fetches coarse rows). */
static gd_status add_up(gd_dream *d, gd_band *fine, gd_band *coarse, float sign, gd_err *err)
{
    gd_image *f = &fine->own;
    int a, b;
    up_src_rows(f->full_h, f->y0, f->y1, &a, &b);
    if (f->y1 <= f->y0)
        a = b = 0;
    gd_status st = dr_fetch(d, coarse, a, b, err);
    if (st != GD_OK)
        return st;
    if (f->y1 <= f->y0)
        return GD_OK;
    gd_image view = gd_band_view(coarse, a, b);
    int w = f->w, m = coarse->own.w;
    gd_status local = GD_OK;
#pragma omp parallel
    {
        float *tmp = malloc(sizeof(float) * (size_t)m * 3);
        float *row = malloc(sizeof(float) * (size_t)w * 3);
        if (!tmp || !row) {
#pragma omp critical
            local = gd_err_set(err, GD_ENOMEM, "out of memory in the Laplacian pyramid");
        } else {
#pragma omp for schedule(static)
            for (int y = f->y0; y < f->y1; y++) {
                float *o = gd_image_row(f, y);
                up_row(&view, w, f->full_h, y, tmp, row);
                for (int x = 0; x < w * 3; x++)
                    o[x] = sign > 0 ? row[x] + o[x] : o[x] - row[x];
            }
        }
        free(tmp);
        free(row);
    }
    return gd_dist_agree(d->dist, local, err);
}

/* coarse (own rows) = down(fine).  Collective. */
static gd_status down(gd_dream *d, gd_band *fine, gd_band *coarse, gd_err *err)
{
    gd_image *c = &coarse->own;
    int h = fine->own.full_h, pb = pad_before(h);
    int a = 2 * c->y0 - pb, b = 2 * (c->y1 - 1) - pb + 5;
    if (c->y1 <= c->y0)
        a = b = 0;
    gd_status st = dr_fetch(d, fine, a, b, err);
    if (st != GD_OK || c->y1 <= c->y0)
        return st;
    a = a < 0 ? 0 : a;
    b = b > h ? h : b;
    gd_image view = gd_band_view(fine, a, b);
    gd_status local = GD_OK;
#pragma omp parallel
    {
        float *tmp = malloc(sizeof(float) * (size_t)fine->own.w * 3);
        if (!tmp) {
#pragma omp critical
            local = gd_err_set(err, GD_ENOMEM, "out of memory in the Laplacian pyramid");
        } else {
#pragma omp for schedule(static)
            for (int i = c->y0; i < c->y1; i++)
                down_row(&view, i, tmp, gd_image_row(c, i));
        }
        free(tmp);
    }
    return gd_dist_agree(d->dist, local, err);
}

/* Divides a level by max(sqrt(mean(x^2)), 1e-10).  Collective. */
static gd_status normalize_level(gd_dream *d, gd_band *lv, gd_err *err)
{
    gd_image *g = &lv->own;
    int rows = g->y1 - g->y0;
    size_t n = (size_t)g->w * 3;
    gd_status st = gd_dist_agree(d->dist, dr_rowsums(d, rows, 1, err), err);
    if (st != GD_OK)
        return st;
#pragma omp parallel for schedule(static)
    for (int y = g->y0; y < g->y1; y++) {
        const float *r = gd_image_row(g, y);
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += (double)r[i] * r[i];
        d->rowsums[y - g->y0] = s;
    }
    double total;
    if ((st = dr_sum_rows(d, g->full_h, 1, &total, err)) != GD_OK)
        return st;
    float rms = (float)sqrt(total / ((double)g->w * g->full_h * 3));
    float div = rms > 1e-10f ? rms : 1e-10f;
#pragma omp parallel for schedule(static)
    for (int y = g->y0; y < g->y1; y++) {
        float *r = gd_image_row(g, y);
        for (size_t i = 0; i < n; i++)
            r[i] = r[i] / div;
    }
    return GD_OK;
}

gd_status dr_lapnorm(gd_dream *d, gd_band *g, int levels, gd_err *err)
{
    gd_status st = GD_OK;
    gd_band lv[17];
    memset(lv, 0, sizeof lv);
    if (levels < 1 || levels > 16)
        return gd_err_set(err, GD_EINPUT, "[dream] lap_levels must be 1 to 16, got %d", levels);
    lv[0] = *g; /* level 0 is g itself, in place */
    int n = 0;
    /* Split: lv[l+1] = down(lv[l]); lv[l] -= up(lv[l+1]). */
    for (int l = 0; l < levels; l++) {
        int w = lv[l].own.w, h = lv[l].own.full_h;
        st = dr_band_alloc(d, &lv[l + 1], half(w), half(h), 3, err);
        if ((st = gd_dist_agree(d->dist, st, err)) != GD_OK)
            goto done;
        n = l + 1;
        if ((st = down(d, &lv[l], &lv[l + 1], err)) != GD_OK)
            goto done;
        if ((st = add_up(d, &lv[l], &lv[l + 1], -1.0f, err)) != GD_OK)
            goto done;
    }
    for (int l = 0; l <= levels; l++)
        if ((st = normalize_level(d, &lv[l], err)) != GD_OK)
            goto done;
    /* Merge: lv[l] = up(lv[l+1]) + lv[l], coarsest first. */
    for (int l = levels - 1; l >= 0; l--)
        if ((st = add_up(d, &lv[l], &lv[l + 1], 1.0f, err)) != GD_OK)
            goto done;
done:
    *g = lv[0]; /* its halo room may have grown */
    for (int l = 1; l <= n; l++)
        gd_band_free(&lv[l]);
    return st;
}

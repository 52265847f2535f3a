/*
 * seed.c: the dream's starting image, band by band (see seed.h).
 */
#include "gigadream/seed.h"

#include <Random123/philox.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gigadream/resample.h"

struct gd_seed {
    gd_reader *reader; /* NULL for noise */
    int src_w, src_h;  /* the input's size */
    int w, h;          /* the seed's size */
    uint64_t key;
};

gd_status gd_seed_open(const gd_seed_opts *opts, gd_seed **out, gd_err *err)
{
    gd_status st = GD_OK;
    *out = NULL;
    gd_seed *s = gd_calloc(1, sizeof *s, "seed", err);
    if (!s)
        return err->status;
    s->key = opts->noise_key;
    if (!opts->path) {
        if (opts->width < 1 || opts->height < 1) {
            st = gd_err_set(err, GD_EINPUT, "a noise seed needs [input] width and height");
            goto done;
        }
        s->w = s->src_w = opts->width;
        s->h = s->src_h = opts->height;
        goto done;
    }
    if ((st = gd_reader_open(opts->path, &s->reader, err)) != GD_OK)
        goto done;
    const gd_image_info *in = gd_reader_info(s->reader);
    s->src_w = in->w;
    s->src_h = in->h;
    s->w = opts->width;
    s->h = opts->height;
    if (s->w == 0 && s->h == 0) {
        s->w = s->src_w;
        s->h = s->src_h;
    } else if (s->h == 0) {
        s->h = (int)fmax(1.0, floor((double)s->src_h * s->w / s->src_w + 0.5));
    } else if (s->w == 0) {
        s->w = (int)fmax(1.0, floor((double)s->src_w * s->h / s->src_h + 0.5));
    }
done:
    if (st != GD_OK) {
        gd_seed_close(s);
        return st;
    }
    *out = s;
    return GD_OK;
}

void gd_seed_close(gd_seed *s)
{
    if (!s)
        return;
    gd_reader_close(s->reader);
    free(s);
}

void gd_seed_size(const gd_seed *s, int *w, int *h)
{
    *w = s->w;
    *h = s->h;
}

const gd_image_info *gd_seed_info(const gd_seed *s)
{
    return s->reader ? gd_reader_info(s->reader) : NULL;
}

/*
 * The notebook's img_noise: uniform(0, 1) + 100.  One Philox call per pixel,
 * counter {pixel index low, high, 0, 1}: the last word 1 keeps this stream
 * apart from the tile jitter's (tiling.h, point 7).
 */
static void noise_rows(const gd_seed *s, gd_image *band)
{
    philox4x32_key_t k = {{(uint32_t)s->key, (uint32_t)(s->key >> 32)}};
#pragma omp parallel for schedule(static)
    for (int y = band->y0; y < band->y1; y++) {
        float *row = gd_image_row(band, y);
        for (int x = 0; x < s->w; x++) {
            uint64_t i = (uint64_t)y * (uint64_t)s->w + (uint64_t)x;
            philox4x32_ctr_t c = {{(uint32_t)i, (uint32_t)(i >> 32), 0, 1}};
            philox4x32_ctr_t r = philox4x32(c, k);
            for (int ch = 0; ch < 3; ch++)
                row[(size_t)x * 3 + ch] = (float)(r.v[ch] >> 8) * (1.0f / 16777216.0f) + 100.0f;
        }
    }
}

gd_status gd_seed_read(gd_seed *s, gd_image *band, gd_err *err)
{
    gd_status st = GD_OK;
    gd_image src = {0};
    if (band->w != s->w || band->full_h != s->h || band->c != 3)
        return gd_err_set(err, GD_EINPUT, "internal: seed band of %dx%d, seed is %dx%d", band->w,
                          band->full_h, s->w, s->h);
    if (band->y1 <= band->y0)
        return GD_OK;
    if (!s->reader) {
        noise_rows(s, band);
        return GD_OK;
    }
    if (s->w == s->src_w && s->h == s->src_h)
        return gd_reader_read_rows(s->reader, band, err);
    int a, b;
    gd_resample_src_rows(s->src_h, s->h, GD_FILTER_LANCZOS3, band->y0, band->y1, &a, &b);
    if ((st = gd_image_alloc(&src, s->src_w, s->src_h, 3, a, b, err)) != GD_OK)
        goto done;
    if ((st = gd_reader_read_rows(s->reader, &src, err)) != GD_OK)
        goto done;
    st = gd_resample(&src, band, GD_FILTER_LANCZOS3, err);
done:
    gd_image_free(&src);
    return st;
}

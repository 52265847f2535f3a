/*
 * simd/stem.c: the first convolution's row kernels (contracts in
 * kernels_int.h; the steps that run them in stem.c and pwdw.c).
 *
 * Backward, per output row oy: Z[ox][t] = sum over the output channels o
 * of g[o][oy][ox] W[o][t] (t = (ky * 3 + kx) * C + c; SIMD_PW_P pixels x
 * SIMD_G floats of Z at a time in accumulators), then the image rows it
 * reaches gathered from Z (see stem.c).  Forward: SIMD_PW_P pixels x
 * SIMD_G channels in accumulators, bias first, then the 27 taps of the
 * planar input in order; clipped, stored, and its byte mask written on the
 * way when planned.  The input, the activation and its gradient are act_t
 * (bf16 on the bf16 table: simd_int.h), the weights, Z and the pixel
 * gradient f32.
 */
#include <stdint.h>

#include "simd_int.h"

#define STEM_P SIMD_PW_P
#define STEM_AHEAD 2 /* blocks prefetched ahead */

/* Z of output row oy, pixels [x0, x0 + STEM_P), SIMD_G floats at a time. */
static void z_block(const eng_stem_bwd_args *a, int oy, int x0, float *restrict z)
{
    for (int z0 = 0; z0 < ENG_STEM_Z; z0 += SIMD_G) {
        vf acc[STEM_P][SIMD_PW_NV];
        SIMD_UNROLL
        for (int p = 0; p < STEM_P; p++)
            SIMD_UNROLL
        for (int v = 0; v < SIMD_PW_NV; v++)
            acc[p][v] = vf_zero();
        const float *w = a->w + z0;
        for (int ob = 0; ob < a->o / SIMD_CB; ob++) {
            const act_t *g = (const act_t *)a->g + a->lg.off0 + ob * a->lg.sc + oy * a->lg.sy +
                             (int64_t)x0 * SIMD_CB;
            /* The gradient lines of the block STEM_AHEAD on (576x576 V1
             * tile, AVX-512: 0.73-0.76 -> 0.66 ms; 1 or 4 blocks on gained
             * less). */
            if (x0 + (STEM_AHEAD + 1) * STEM_P <= a->ow)
                for (int f = 0; f < STEM_P * SIMD_CB; f += 64 / (int)sizeof(act_t)) /* a line */
                    simd_prefetch(g + STEM_AHEAD * STEM_P * SIMD_CB + f);
            for (int k = 0; k < SIMD_CB; k++, g++, w += ENG_STEM_Z) {
                vf wv[SIMD_PW_NV];
                SIMD_UNROLL
                for (int v = 0; v < SIMD_PW_NV; v++)
                    wv[v] = vf_load(w + v * SIMD_W);
                SIMD_UNROLL
                for (int p = 0; p < STEM_P; p++) {
                    const vf b = act_bcast(g + p * SIMD_CB);
                    SIMD_UNROLL
                    for (int v = 0; v < SIMD_PW_NV; v++)
                        acc[p][v] = vf_fma(b, wv[v], acc[p][v]);
                }
            }
        }
        SIMD_UNROLL
        for (int p = 0; p < STEM_P; p++)
            SIMD_UNROLL
        for (int v = 0; v < SIMD_PW_NV; v++)
            vf_store(z + (x0 + p) * ENG_STEM_Z + z0 + v * SIMD_W, acc[p][v]);
    }
}

/* Z of output row oy, all ow pixels. */
static void z_row(const eng_stem_bwd_args *a, int oy, float *restrict z)
{
    int x = 0;
    for (; x + STEM_P <= a->ow; x += STEM_P)
        z_block(a, oy, x, z);
    for (; x < a->ow; x++)
        for (int z0 = 0; z0 < ENG_STEM_Z; z0 += SIMD_W) {
            vf u = vf_zero();
            for (int q = 0; q < a->o; q++) {
                const act_t *g = (const act_t *)a->g + a->lg.off0 + (q / SIMD_CB) * a->lg.sc +
                                 oy * a->lg.sy + x * SIMD_CB;
                u = vf_fma(act_bcast(g + q % SIMD_CB), vf_load(a->w + (size_t)q * ENG_STEM_Z + z0),
                           u);
            }
            vf_store(z + x * ENG_STEM_Z + z0, u);
        }
}

/*
 * Element k (of 2c) of kernel row ky of Z row z, as an image row's 2 ow
 * pixels x c channels: for columns 2 ox and 2 ox + 1, taps (ky, 0) and
 * (ky, 1) of ox (2c floats in a row of z) plus, on the even column, tap
 * (ky, 2) of ox - 1 (+0 on the odd one, as the AVX-512 kernel's masked
 * vector added, so -0 sums come out alike).  A few floats a pixel: scalar.
 */
static inline float z_pair(const float *z, int ox, int ky, int c, int k)
{
    float r = z[ox * ENG_STEM_Z + ky * 3 * c + k];
    if (ox > 0)
        r += k < c ? z[(ox - 1) * ENG_STEM_Z + (ky * 3 + 2) * c + k] : 0.0f;
    return r;
}

/* Image row y from z (kernel row ky) and, when zp, z_prev (kernel row 2). */
static void image_row(const eng_stem_bwd_args *a, const float *z, int ky, const float *zp, int y)
{
    const int c = a->c;
    float *out = a->px + (size_t)y * a->iw * c;
    for (int ox = 0; ox < a->ow; ox++)
        for (int k = 0; k < 2 * c; k++) {
            float r = z_pair(z, ox, ky, c, k);
            if (zp)
                r += z_pair(zp, ox, 2, c, k);
            out[(size_t)ox * 2 * c + k] = r * a->scale[k % c];
        }
}

/* Pixel (oy, x), SIMD_W channels from o: clipped, stored, with its mask. */
static inline void stemf_store(const eng_stem_fwd_args *a, int oy, int x, int o, vf r)
{
    const vf lo = vf_set1(a->lo), hi = vf_set1(a->hi);
    const int ob = o / SIMD_CB, in = o % SIMD_CB;
    r = vf_min(vf_max(r, lo), hi);
    const int64_t at = a->ly.off0 + ob * a->ly.sc + oy * a->ly.sy + (int64_t)x * SIMD_CB + in;
    if (SIMD_IS_BF16 && !a->ly.bf16) { /* a head's ring row: floats (kernels_int.h) */
        vf_store(a->y + at, r);
    } else {
        act_store((act_t *)a->y + at, r);
        r = act_round(r);
    }
    if (a->mask) {
        const int64_t am = a->lm.off0 + ob * a->lm.sc + oy * a->lm.sy + (int64_t)x * SIMD_CB + in;
        vf_store_bytes(a->mask + am, vf_inside(r, lo, hi));
    }
}

/*
 * STEM_P pixels of row oy from x0, SIMD_G output channels from o0: bias,
 * then the 9 c taps in order.  Taps past the image's bottom or right (TF
 * SAME pads only after) add nothing.
 */
static inline __attribute__((always_inline)) void stemf_pixels(const eng_stem_fwd_args *a, int oy,
                                                               int x0, int o0, const int edge)
{
    vf acc[STEM_P][SIMD_PW_NV];
    SIMD_UNROLL
    for (int v = 0; v < SIMD_PW_NV; v++) {
        const vf b = vf_load(a->bias + o0 + v * SIMD_W);
        SIMD_UNROLL
        for (int p = 0; p < STEM_P; p++)
            acc[p][v] = b;
    }
    for (int ky = 0; ky < 3; ky++) {
        const int iy = 2 * oy + ky;
        if (iy >= a->ih)
            continue;
        for (int kx = 0; kx < 3; kx++)
            for (int ch = 0; ch < a->c; ch++) {
                const float *w = a->w + ((size_t)(ky * 3 + kx) * a->c + ch) * a->o + o0;
                vf wv[SIMD_PW_NV];
                SIMD_UNROLL
                for (int v = 0; v < SIMD_PW_NV; v++)
                    wv[v] = vf_load(w + v * SIMD_W);
                const act_t *x =
                    (const act_t *)a->x + a->lx.off0 + ch * a->lx.sc + iy * a->lx.sy + 2 * x0 + kx;
                const int last = edge && kx == 2 ? a->ow - 1 - x0 : STEM_P; /* pixels with tap */
                SIMD_UNROLL
                for (int p = 0; p < STEM_P; p++)
                    if (p < last) {
                        const vf b = act_bcast(x + 2 * p);
                        SIMD_UNROLL
                        for (int v = 0; v < SIMD_PW_NV; v++)
                            acc[p][v] = vf_fma(b, wv[v], acc[p][v]);
                    }
            }
    }
    SIMD_UNROLL
    for (int p = 0; p < STEM_P; p++)
        SIMD_UNROLL
    for (int v = 0; v < SIMD_PW_NV; v++)
        stemf_store(a, oy, x0 + p, o0 + v * SIMD_W, acc[p][v]);
}

/* A block; edge: it holds the last column, whose kx = 2 is padding. */
static void stemf_block(const eng_stem_fwd_args *a, int oy, int x0, int o0)
{
    if (x0 + STEM_P >= a->ow)
        stemf_pixels(a, oy, x0, o0, 1);
    else
        stemf_pixels(a, oy, x0, o0, 0);
}

/* One pixel (oy, x), channels from o0: the same sums as stemf_block. */
static void stemf_one(const eng_stem_fwd_args *a, int oy, int x, int o0)
{
    for (int o = o0; o < a->o; o += SIMD_W) {
        vf r = vf_load(a->bias + o);
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                for (int ch = 0; ch < a->c; ch++) {
                    const int iy = 2 * oy + ky, ix = 2 * x + kx;
                    if (iy >= a->ih || ix >= a->iw)
                        continue;
                    const float *w = a->w + ((size_t)(ky * 3 + kx) * a->c + ch) * a->o + o;
                    const act_t *x =
                        (const act_t *)a->x + a->lx.off0 + ch * a->lx.sc + iy * a->lx.sy + ix;
                    r = vf_fma(act_bcast(x), vf_load(w), r);
                }
        stemf_store(a, oy, x, o, r);
    }
}

/* Output row oy, every pixel and channel. */
static void stemf_row(const eng_stem_fwd_args *a, int oy)
{
    const int per_row = a->ow / STEM_P, groups = a->o / SIMD_G;
    for (int b = 0; b < per_row; b++)
        for (int og = 0; og < groups; og++)
            stemf_block(a, oy, b * STEM_P, og * SIMD_G);
    if (a->o % SIMD_G) /* the channels past the last group */
        for (int x = 0; x < per_row * STEM_P; x++)
            stemf_one(a, oy, x, groups * SIMD_G);
    for (int x = per_row * STEM_P; x < a->ow; x++) /* the row's tail: every channel */
        stemf_one(a, oy, x, 0);
}

void SIMD_FN(stem_fwd_row)(const eng_stem_fwd_args *a, int oy, float *dst, int keep_mask)
{
    if (!dst && keep_mask) {
        stemf_row(a, oy);
        return;
    }
    eng_stem_fwd_args r = *a;
    if (dst) {
        r.y = dst;
        r.ly = (eng_layout){
            .off0 = 0, .sc = (int64_t)r.ow * SIMD_CB, .sy = 0, .sx = SIMD_CB, .cblk = SIMD_CB};
    }
    if (!keep_mask)
        r.mask = NULL;
    stemf_row(&r, oy);
}

void SIMD_FN(stem_bwd_row)(const eng_stem_bwd_args *a, int oy, float *z, const float *zp, int write)
{
    z_row(a, oy, z);
    if (!write)
        return;
    image_row(a, z, 0, oy > 0 ? zp : NULL, 2 * oy);
    image_row(a, z, 1, NULL, 2 * oy + 1);
}

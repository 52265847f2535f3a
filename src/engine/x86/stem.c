/*
 * x86/stem.c: the first convolution's row kernels for AVX-512 (contracts in
 * kernels_int.h; the steps that run them in stem.c and pwdw.c).
 *
 * Backward, per output row oy: Z[ox][t] = sum over the output channels o
 * of g[o][oy][ox] W[o][t] (t = (ky * 3 + kx) * C + c, 12 pixels at a time
 * in 24 accumulators), then the image rows it reaches gathered from Z (see
 * stem.c).  Forward: 12 pixels x 32 channels in 24 accumulators, bias
 * first, then the 27 taps of the planar input in order; clipped, stored,
 * and its byte mask written on the way when planned.
 *
 * Compiled for AVX-512 (CMake): everything here runs only through the
 * table kernels.c picked for a CPU that has it.
 */
#include <immintrin.h>
#include <stdint.h>

#include "avx512_int.h"

#define STEM_P 12
#define STEM_AHEAD 2 /* blocks prefetched ahead */
#define STEM_EACH(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)

/* Z of output row oy, pixels [x0, x0 + STEM_P). */
static void z_block(const eng_stem_bwd_args *a, int oy, int x0, float *restrict z)
{
#define STEM_ACC(p) __m512 u##p = _mm512_setzero_ps(), v##p = _mm512_setzero_ps();
    STEM_EACH(STEM_ACC)
    const float *w = a->w;
    for (int ob = 0; ob < a->o / 16; ob++) {
        const float *g = a->g + a->lg.off0 + ob * a->lg.sc + oy * a->lg.sy + (int64_t)x0 * 16;
        /* The gradient lines of the block STEM_AHEAD on (576x576 V1 tile:
         * 0.73-0.76 -> 0.66 ms; 1 or 4 blocks on gained less). */
        if (x0 + (STEM_AHEAD + 1) * STEM_P <= a->ow)
            for (int p = 0; p < STEM_P; p++)
                _mm_prefetch((const char *)(g + (STEM_AHEAD * STEM_P + p) * 16), _MM_HINT_T0);
        for (int k = 0; k < 16; k++, g++, w += ENG_STEM_Z) {
            const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
#define STEM_FMA(p)                                                                                \
    do {                                                                                           \
        __m512 b = _mm512_set1_ps(g[(p)*16]);                                                      \
        u##p = _mm512_fmadd_ps(b, w0, u##p);                                                       \
        v##p = _mm512_fmadd_ps(b, w1, v##p);                                                       \
    } while (0);
            STEM_EACH(STEM_FMA)
        }
    }
#define STEM_OUT(p)                                                                                \
    _mm512_storeu_ps(z + (x0 + (p)) * ENG_STEM_Z, u##p);                                           \
    _mm512_storeu_ps(z + (x0 + (p)) * ENG_STEM_Z + 16, v##p);
    STEM_EACH(STEM_OUT)
#undef STEM_ACC
#undef STEM_FMA
#undef STEM_OUT
}

/* Z of output row oy, all ow pixels. */
static void z_row(const eng_stem_bwd_args *a, int oy, float *restrict z)
{
    int x = 0;
    for (; x + STEM_P <= a->ow; x += STEM_P)
        z_block(a, oy, x, z);
    for (; x < a->ow; x++) {
        __m512 u = _mm512_setzero_ps(), v = _mm512_setzero_ps();
        for (int q = 0; q < a->o; q++) {
            const float *g = a->g + a->lg.off0 + (q / 16) * a->lg.sc + oy * a->lg.sy + x * 16;
            __m512 b = _mm512_set1_ps(g[q % 16]);
            u = _mm512_fmadd_ps(b, _mm512_loadu_ps(a->w + (size_t)q * ENG_STEM_Z), u);
            v = _mm512_fmadd_ps(b, _mm512_loadu_ps(a->w + (size_t)q * ENG_STEM_Z + 16), v);
        }
        _mm512_storeu_ps(z + x * ENG_STEM_Z, u);
        _mm512_storeu_ps(z + x * ENG_STEM_Z + 16, v);
    }
}

/*
 * Kernel row ky of Z row z, as an image row's 2 ow pixels x c channels: for
 * columns 2 ox and 2 ox + 1, taps (ky, 0) and (ky, 1) of ox (2c floats in a
 * row of z) plus, on the even column, tap (ky, 2) of ox - 1.
 */
static inline __m512 z_pair(const float *z, int ox, int ky, int c)
{
    const __mmask16 two = (__mmask16)((1u << (2 * c)) - 1), one = (__mmask16)((1u << c) - 1);
    __m512 r = _mm512_maskz_loadu_ps(two, z + ox * ENG_STEM_Z + ky * 3 * c);
    if (ox > 0)
        r = _mm512_add_ps(r,
                          _mm512_maskz_loadu_ps(one, z + (ox - 1) * ENG_STEM_Z + (ky * 3 + 2) * c));
    return r;
}

/* Image row y from z (kernel row ky) and, when zp, z_prev (kernel row 2). */
static void image_row(const eng_stem_bwd_args *a, const float *z, int ky, const float *zp, int y)
{
    const int c = a->c;
    const __mmask16 two = (__mmask16)((1u << (2 * c)) - 1);
    float s[16] = {0};
    for (int k = 0; k < 2 * c; k++)
        s[k] = a->scale[k % c];
    const __m512 sv = _mm512_loadu_ps(s);
    float *out = a->px + (size_t)y * a->iw * c;
    for (int ox = 0; ox < a->ow; ox++) {
        __m512 r = z_pair(z, ox, ky, c);
        if (zp)
            r = _mm512_add_ps(r, z_pair(zp, ox, 2, c));
        _mm512_mask_storeu_ps(out + (size_t)ox * 2 * c, two, _mm512_mul_ps(r, sv));
    }
}

/* Pixel (oy, x0 + p), channel block ob: stored, clipped, with its mask. */
static inline void stemf_store(const eng_stem_fwd_args *a, int oy, int x, int ob, __m512 r)
{
    const __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
    r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
    const int64_t at = a->ly.off0 + ob * a->ly.sc + oy * a->ly.sy + (int64_t)x * 16;
    _mm512_storeu_ps(a->y + at, r);
    if (a->mask) {
        const int64_t am = a->lm.off0 + ob * a->lm.sc + oy * a->lm.sy + (int64_t)x * 16;
        __mmask16 k =
            _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(r, lo, _CMP_GT_OQ), r, hi, _CMP_LT_OQ);
        _mm_storeu_si128((__m128i *)(a->mask + am), _mm_maskz_mov_epi8(k, _mm_set1_epi8(1)));
    }
}

/*
 * STEM_P pixels of row oy from x0, 32 output channels from og * 32: bias,
 * then the 9 c taps in order.  Taps past the image's bottom or right (TF
 * SAME pads only after) add nothing.
 */
static inline __attribute__((always_inline)) void stemf_pixels(const eng_stem_fwd_args *a, int oy,
                                                               int x0, int og, const int edge)
{
    const __m512 b0 = _mm512_loadu_ps(a->bias + og * 32),
                 b1 = _mm512_loadu_ps(a->bias + og * 32 + 16);
#define STEMF_ACC(p) __m512 u##p = b0, v##p = b1;
    STEM_EACH(STEMF_ACC)
    for (int ky = 0; ky < 3; ky++) {
        const int iy = 2 * oy + ky;
        if (iy >= a->ih)
            continue;
        for (int kx = 0; kx < 3; kx++)
            for (int ch = 0; ch < a->c; ch++) {
                const float *w = a->w + ((size_t)(ky * 3 + kx) * a->c + ch) * a->o + og * 32;
                const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
                const float *x = a->x + a->lx.off0 + ch * a->lx.sc + iy * a->lx.sy + 2 * x0 + kx;
                const int last = edge && kx == 2 ? a->ow - 1 - x0 : STEM_P; /* pixels with tap */
#define STEMF_FMA(p)                                                                               \
    if ((p) < last) {                                                                              \
        __m512 b = _mm512_set1_ps(x[2 * (p)]);                                                     \
        u##p = _mm512_fmadd_ps(b, w0, u##p);                                                       \
        v##p = _mm512_fmadd_ps(b, w1, v##p);                                                       \
    }
                STEM_EACH(STEMF_FMA)
            }
    }
#define STEMF_OUT(p)                                                                               \
    stemf_store(a, oy, x0 + (p), og * 2, u##p);                                                    \
    stemf_store(a, oy, x0 + (p), og * 2 + 1, v##p);
    STEM_EACH(STEMF_OUT)
#undef STEMF_ACC
#undef STEMF_FMA
#undef STEMF_OUT
}

/* A block; edge: it holds the last column, whose kx = 2 is padding. */
static void stemf_block(const eng_stem_fwd_args *a, int oy, int x0, int og)
{
    if (x0 + STEM_P >= a->ow)
        stemf_pixels(a, oy, x0, og, 1);
    else
        stemf_pixels(a, oy, x0, og, 0);
}

/* One pixel (oy, x), channel blocks from ob0: the same sums as stemf_block. */
static void stemf_one(const eng_stem_fwd_args *a, int oy, int x, int ob0)
{
    for (int ob = ob0; ob < a->o / 16; ob++) {
        __m512 r = _mm512_loadu_ps(a->bias + ob * 16);
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                for (int ch = 0; ch < a->c; ch++) {
                    const int iy = 2 * oy + ky, ix = 2 * x + kx;
                    if (iy >= a->ih || ix >= a->iw)
                        continue;
                    const float *w = a->w + ((size_t)(ky * 3 + kx) * a->c + ch) * a->o + ob * 16;
                    r = _mm512_fmadd_ps(
                        _mm512_set1_ps(a->x[a->lx.off0 + ch * a->lx.sc + iy * a->lx.sy + ix]),
                        _mm512_loadu_ps(w), r);
                }
        stemf_store(a, oy, x, ob, r);
    }
}

/* Output row oy, every pixel and channel. */
static void stemf_row(const eng_stem_fwd_args *a, int oy)
{
    const int per_row = a->ow / STEM_P, groups = a->o / 32;
    for (int b = 0; b < per_row; b++)
        for (int og = 0; og < groups; og++)
            stemf_block(a, oy, b * STEM_P, og);
    if (a->o % 32) /* the blocks' last 16 channels */
        for (int x = 0; x < per_row * STEM_P; x++)
            stemf_one(a, oy, x, 2 * groups);
    for (int x = per_row * STEM_P; x < a->ow; x++) /* the row's tail: every channel */
        stemf_one(a, oy, x, 0);
}

void eng_avx512_stem_fwd_row(const eng_stem_fwd_args *a, int oy, float *dst, int keep_mask)
{
    if (!dst && keep_mask) {
        stemf_row(a, oy);
        return;
    }
    eng_stem_fwd_args r = *a;
    if (dst) {
        r.y = dst;
        r.ly = (eng_layout){.off0 = 0, .sc = (int64_t)r.ow * 16, .sy = 0, .sx = 16, .cblk = 16};
    }
    if (!keep_mask)
        r.mask = NULL;
    stemf_row(&r, oy);
}

void eng_avx512_stem_bwd_row(const eng_stem_bwd_args *a, int oy, float *z, const float *zp,
                             int write)
{
    z_row(a, oy, z);
    if (!write)
        return;
    image_row(a, z, 0, oy > 0 ? zp : NULL, 2 * oy);
    image_row(a, z, 1, NULL, 2 * oy + 1);
}

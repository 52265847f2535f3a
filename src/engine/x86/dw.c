/*
 * x86/dw.c: the 3x3 depthwise convolutions' row kernels for AVX-512,
 * stride 2 (after a 1x1) and stride 1 (before it), forward and
 * backward-data (contracts in kernels_int.h; the fused steps that run them
 * a row at a time in pwdw.c).  Every sum is bias first (forward), then the
 * taps in (ky, kx) order, skipping the padding.
 *
 * Compiled for AVX-512 (CMake): everything here runs only through the
 * table kernels.c picked for a CPU that has it.
 */
#include <immintrin.h>
#include <stdint.h>

#include "avx512_int.h"

/* Block cb's 9 taps of a [9][channels] kernel, and [*x0, *x1) clipped to [0, n) (x0 <= x1). */
static inline void dw_taps_of(const float *taps, int channels, int cb, __m512 w[9])
{
    for (int k = 0; k < 9; k++)
        w[k] = _mm512_loadu_ps(taps + (size_t)k * channels + cb * 16);
}

static inline void clip_range(int *x0, int *x1, int n)
{
    *x1 = *x1 < n ? *x1 : n;
    *x0 = *x0 < *x1 ? *x0 : *x1;
}

/* Output pixel ox of block cb, every tap checked (the row's edges). */
static inline __m512 dw_fwd_edge(const eng_dw_args *a, const float *const r[3], const __m512 *w,
                                 __m512 acc, int ox)
{
    const int ix0 = 2 * ox - a->pl;
    for (int ky = 0; ky < 3; ky++) {
        if (!r[ky])
            continue;
        for (int kx = 0; kx < 3; kx++) {
            const int ix = ix0 + kx;
            if (ix >= 0 && ix < a->w1)
                acc =
                    _mm512_fmadd_ps(_mm512_loadu_ps(r[ky] + (size_t)ix * 16), w[ky * 3 + kx], acc);
        }
    }
    return acc;
}

/* Clipped, stored, and its mask on the way. */
static inline void dw_fwd_store(const eng_dw_args *a, int64_t at, __m512 acc)
{
    const __m512 zero = _mm512_setzero_ps(), hi = _mm512_set1_ps(a->hi);
    acc = _mm512_min_ps(_mm512_max_ps(acc, _mm512_set1_ps(a->lo)), hi);
    _mm512_storeu_ps(a->y + at, acc);
    if (a->mask) {
        __mmask16 k =
            _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(acc, zero, _CMP_GT_OQ), acc, hi, _CMP_LT_OQ);
        _mm_storeu_si128((__m128i *)(a->mask + at), _mm_maskz_mov_epi8(k, _mm_set1_epi8(1)));
    }
}

/* Output row oy of the depthwise forward, from the ring's rows of the 1x1
 * activation (row r at ring + (r % 3) * w1 * o, [o / 16][w1][16]): per
 * pixel, the bias, then the taps in (ky, kx) order, skipping the padding. */
void eng_avx512_dw_fwd_row(const eng_dw_args *a, const float *ring, int oy)
{
    const size_t row = (size_t)a->w1 * a->o;
    /* Pixels whose 3 columns are all inside: [x0, x1). */
    int x0 = (a->pl + 1) / 2, x1 = (a->w1 - 3 + a->pl) / 2 + 1;
    clip_range(&x0, &x1, a->w2);
    for (int cb = 0; cb < a->o / 16; cb++) {
        __m512 w[9];
        dw_taps_of(a->taps, a->o, cb, w);
        const __m512 b = _mm512_loadu_ps(a->bias + cb * 16);
        const float *r[3], *rv[3];
        const __m512 *wv[3];
        int nr = 0;
        for (int ky = 0; ky < 3; ky++) {
            int iy = 2 * oy - a->pt + ky;
            r[ky] = iy >= 0 && iy < a->h1 ? ring + (size_t)(iy % 3) * row + (size_t)cb * a->w1 * 16
                                          : NULL;
            if (r[ky]) {
                rv[nr] = r[ky];
                wv[nr++] = w + ky * 3;
            }
        }
        const int64_t at = a->ly.off0 + cb * a->ly.sc + (int64_t)oy * a->ly.sy;
        for (int ox = 0; ox < x0; ox++)
            dw_fwd_store(a, at + (int64_t)ox * 16, dw_fwd_edge(a, r, w, b, ox));
        int ox = x0;
        for (; ox + 4 <= x1; ox += 4) {
            __m512 q0 = b, q1 = b, q2 = b, q3 = b;
            for (int k = 0; k < nr; k++) {
                const float *s = rv[k] + (size_t)(2 * ox - a->pl) * 16;
                for (int kx = 0; kx < 3; kx++) {
                    const __m512 t = wv[k][kx];
                    q0 = _mm512_fmadd_ps(_mm512_loadu_ps(s + (0 + kx) * 16), t, q0);
                    q1 = _mm512_fmadd_ps(_mm512_loadu_ps(s + (2 + kx) * 16), t, q1);
                    q2 = _mm512_fmadd_ps(_mm512_loadu_ps(s + (4 + kx) * 16), t, q2);
                    q3 = _mm512_fmadd_ps(_mm512_loadu_ps(s + (6 + kx) * 16), t, q3);
                }
            }
            dw_fwd_store(a, at + (int64_t)ox * 16, q0);
            dw_fwd_store(a, at + (int64_t)(ox + 1) * 16, q1);
            dw_fwd_store(a, at + (int64_t)(ox + 2) * 16, q2);
            dw_fwd_store(a, at + (int64_t)(ox + 3) * 16, q3);
        }
        for (; ox < a->w2; ox++)
            dw_fwd_store(a, at + (int64_t)ox * 16, dw_fwd_edge(a, r, w, b, ox));
    }
}

/* Input column ix's gradient (block cb), every tap checked (the edges). */
static inline __m512 dw_bwd_edge(const eng_dw_args *a, const float *const g[3], const __m512 *w,
                                 int ix)
{
    __m512 acc = _mm512_setzero_ps();
    for (int ky = 0; ky < 3; ky++) {
        if (!g[ky])
            continue;
        for (int kx = 0; kx < 3; kx++) {
            const int u = ix + a->pl - kx;
            if (u >= 0 && u % 2 == 0 && u / 2 < a->w2)
                acc = _mm512_fmadd_ps(_mm512_loadu_ps(g[ky] + (size_t)(u / 2) * 16), w[ky * 3 + kx],
                                      acc);
        }
    }
    return acc;
}

/* Row iy of the 1x1 activation's gradient, pixel-major in stage
 * (eng_pwdw_stride(o) floats a pixel): the depthwise backward-data of d's
 * gradient, summed over the taps (ky, kx) that reach each pixel in that
 * order, times the 1x1 activation's derivative. */
void eng_avx512_dw_bwd_row(const eng_dw_args *a, int iy, float *restrict stage)
{
    const size_t hw = (size_t)a->h1 * a->w1, S = (size_t)eng_pwdw_stride(a->o);
    /* Kernel rows reaching row iy: oy = (iy + pt - ky) / 2 when whole and inside. */
    int oy[3];
    for (int ky = 0; ky < 3; ky++) {
        int t = iy + a->pt - ky;
        oy[ky] = t >= 0 && t % 2 == 0 && t / 2 < a->h2 ? t / 2 : -1;
    }
    /* Columns whose taps all land inside: u = ix + pl in [2, 2 w2), starting even. */
    int x0 = 2 - a->pl, x1 = 2 * a->w2 - a->pl;
    clip_range(&x0, &x1, a->w1);
    for (int cb = 0; cb < a->o / 16; cb++) {
        __m512 w[9];
        dw_taps_of(a->taps, a->o, cb, w);
        const float *g[3], *gv[3];
        const __m512 *wv[3];
        int nr = 0;
        for (int ky = 0; ky < 3; ky++) {
            g[ky] =
                oy[ky] >= 0 ? a->g + a->lg.off0 + cb * a->lg.sc + (int64_t)oy[ky] * a->lg.sy : NULL;
            if (g[ky]) {
                gv[nr] = g[ky];
                wv[nr++] = w + ky * 3;
            }
        }
        const uint16_t *bits = a->bits + cb * hw + (size_t)iy * a->w1;
        float *out = stage + cb * 16;
        for (int ix = 0; ix < x0; ix++)
            _mm512_storeu_ps(out + (size_t)ix * S,
                             _mm512_maskz_mov_ps(bits[ix], dw_bwd_edge(a, g, w, ix)));
        int ix = x0;
        /* Pairs: ix (u even) takes kx 0 at u / 2 and kx 2 at u / 2 - 1;
         * ix + 1 (u odd) takes kx 1 at u / 2. */
        for (; ix + 4 <= x1; ix += 4) {
            const int c = (ix + a->pl) / 2;
            __m512 q0 = _mm512_setzero_ps(), q1 = q0, q2 = q0, q3 = q0;
            for (int k = 0; k < nr; k++) {
                const float *s = gv[k] + (size_t)(c - 1) * 16;
                const __m512 s0 = _mm512_loadu_ps(s), s1 = _mm512_loadu_ps(s + 16),
                             s2 = _mm512_loadu_ps(s + 32);
                q0 = _mm512_fmadd_ps(s1, wv[k][0], q0);
                q0 = _mm512_fmadd_ps(s0, wv[k][2], q0);
                q1 = _mm512_fmadd_ps(s1, wv[k][1], q1);
                q2 = _mm512_fmadd_ps(s2, wv[k][0], q2);
                q2 = _mm512_fmadd_ps(s1, wv[k][2], q2);
                q3 = _mm512_fmadd_ps(s2, wv[k][1], q3);
            }
            _mm512_storeu_ps(out + (size_t)ix * S, _mm512_maskz_mov_ps(bits[ix], q0));
            _mm512_storeu_ps(out + (size_t)(ix + 1) * S, _mm512_maskz_mov_ps(bits[ix + 1], q1));
            _mm512_storeu_ps(out + (size_t)(ix + 2) * S, _mm512_maskz_mov_ps(bits[ix + 2], q2));
            _mm512_storeu_ps(out + (size_t)(ix + 3) * S, _mm512_maskz_mov_ps(bits[ix + 3], q3));
        }
        for (; ix < a->w1; ix++)
            _mm512_storeu_ps(out + (size_t)ix * S,
                             _mm512_maskz_mov_ps(bits[ix], dw_bwd_edge(a, g, w, ix)));
    }
}

/*
 * Four output pixels x .. x + 3 of a 3x3 stride-1 sum over rows r[0..2]
 * (NULL: outside), every column inside: q[k] += r[ky][x + k + dir (kx - 1)]
 * w[ky * 3 + kx] in (ky, kx) order; dir 1 is the forward's correlation,
 * -1 the backward-data's.
 */
static inline __attribute__((always_inline)) void
s1_four(const float *const r[3], const __m512 w[9], int x, const int dir, __m512 q[4])
{
    for (int ky = 0; ky < 3; ky++) {
        if (!r[ky])
            continue;
        for (int kx = 0; kx < 3; kx++) {
            const float *s = r[ky] + (size_t)(x + dir * (kx - 1)) * 16;
            const __m512 t = w[ky * 3 + kx];
            q[0] = _mm512_fmadd_ps(_mm512_loadu_ps(s), t, q[0]);
            q[1] = _mm512_fmadd_ps(_mm512_loadu_ps(s + 16), t, q[1]);
            q[2] = _mm512_fmadd_ps(_mm512_loadu_ps(s + 32), t, q[2]);
            q[3] = _mm512_fmadd_ps(_mm512_loadu_ps(s + 48), t, q[3]);
        }
    }
}

/* One output pixel x, columns checked against [0, w). */
static inline __attribute__((always_inline)) __m512
s1_one(const float *const r[3], const __m512 w[9], int x, int width, const int dir, __m512 q)
{
    for (int ky = 0; ky < 3; ky++) {
        if (!r[ky])
            continue;
        for (int kx = 0; kx < 3; kx++) {
            const int u = x + dir * (kx - 1);
            if (u >= 0 && u < width)
                q = _mm512_fmadd_ps(_mm512_loadu_ps(r[ky] + (size_t)u * 16), w[ky * 3 + kx], q);
        }
    }
    return q;
}

/* Row y of j's activation into xrow ([c / 16][w][16]): bias, taps, clip;
 * its input's rows from s's activation or, when set, the head's ring (row
 * r at ring + (r % 3) * w * c, [c / 16][w][16]). */
void eng_avx512_dw1_fwd_row(const eng_dw1_args *a, const float *ring, int y, float *restrict xrow)
{
    const __m512 zero = _mm512_setzero_ps(), hi = _mm512_set1_ps(a->hi);
    for (int cb = 0; cb < a->c / 16; cb++) {
        __m512 w[9];
        dw_taps_of(a->taps, a->c, cb, w);
        const __m512 b = _mm512_loadu_ps(a->bias + cb * 16);
        const float *r[3];
        for (int ky = 0; ky < 3; ky++) {
            const int iy = y - 1 + ky;
            if (iy < 0 || iy >= a->h)
                r[ky] = NULL;
            else if (ring)
                r[ky] = ring + ((size_t)(iy % 3) * a->c + (size_t)cb * 16) * a->w;
            else
                r[ky] = a->x + a->lx.off0 + cb * a->lx.sc + (int64_t)iy * a->lx.sy;
        }
        float *out = xrow + (size_t)cb * a->w * 16;
        int x = 0;
        for (; x < 1 && x < a->w; x++)
            _mm512_storeu_ps(out,
                             _mm512_min_ps(_mm512_max_ps(s1_one(r, w, 0, a->w, 1, b), zero), hi));
        for (; x + 4 <= a->w - 1; x += 4) {
            __m512 q[4] = {b, b, b, b};
            s1_four(r, w, x, 1, q);
            for (int k = 0; k < 4; k++)
                _mm512_storeu_ps(out + (size_t)(x + k) * 16,
                                 _mm512_min_ps(_mm512_max_ps(q[k], zero), hi));
        }
        for (; x < a->w; x++)
            _mm512_storeu_ps(out + (size_t)x * 16,
                             _mm512_min_ps(_mm512_max_ps(s1_one(r, w, x, a->w, 1, b), zero), hi));
    }
}

/* Row y of s's gradient: j's backward-data from the ring's rows of j's
 * gradient (row r at ring + (r % 3) * w * c, [c / 16][w][16]), times s's
 * derivative; stored, or, when out is set, put there for a head's backward:
 * pixel x's channel block cb at out + x * px + cb * cs. */
void eng_avx512_dw1_bwd_row(const eng_dw1_args *a, const float *ring, int y, float *restrict out,
                            size_t px, size_t cs)
{
    const size_t row = (size_t)a->w * a->c;
    const uint16_t *bits = a->bits ? a->bits + (size_t)y * a->w : NULL;
    for (int cb = 0; cb < a->c / 16; cb++) {
        __m512 w[9];
        dw_taps_of(a->taps, a->c, cb, w);
        const float *r[3];
        for (int ky = 0; ky < 3; ky++) {
            const int gy = y + 1 - ky;
            r[ky] = gy >= 0 && gy < a->h ? ring + (size_t)(gy % 3) * row + (size_t)cb * a->w * 16
                                         : NULL;
        }
        const int64_t at = a->lgx.off0 + cb * a->lgx.sc + (int64_t)y * a->lgx.sy;
        const int64_t am = a->lx.off0 + cb * a->lx.sc + (int64_t)y * a->lx.sy;
        __m512 q[4];
        for (int x = 0; x < a->w;) {
            int n = 1;
            if (x >= 1 && x + 4 <= a->w - 1) {
                q[0] = q[1] = q[2] = q[3] = _mm512_setzero_ps();
                s1_four(r, w, x, -1, q);
                n = 4;
            } else {
                q[0] = s1_one(r, w, x, a->w, -1, _mm512_setzero_ps());
            }
            for (int k = 0; k < n; k++, x++) {
                __m512 v = q[k];
                if (bits) {
                    v = _mm512_maskz_mov_ps(bits[(size_t)cb * a->h * a->w + x], v);
                } else if (a->mask) {
                    __m128i m = _mm_loadu_si128((const __m128i *)(a->mask + am + (int64_t)x * 16));
                    v = _mm512_maskz_mov_ps(_mm_test_epi8_mask(m, m), v);
                }
                if (out)
                    _mm512_storeu_ps(out + (size_t)x * px + cb * cs, v);
                else
                    _mm512_storeu_ps(a->gx + at + (int64_t)x * 16, v);
            }
        }
    }
}

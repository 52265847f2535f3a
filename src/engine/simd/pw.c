/*
 * simd/pw.c: the 1x1 convolution's kernels (contracts in kernels_int.h;
 * the steps that run them in pw.c and pwdw.c).
 *
 * Backward: a block of SIMD_PW_P pixels has its gradient multiplied by the
 * activation's derivative into an L1 buffer (stage), then summed against
 * the weights in registers, multiplied by the input's derivative and
 * written once.  Forward: SIMD_PW_P pixels x SIMD_G channels in
 * accumulators, bias first, then x[c] W[c][o] for c in order, clipped,
 * stored, and the derivative written as bits (16 channels to a uint16_t)
 * on the way; and the input's derivative as bits too, where the backward
 * folds it.
 */
#include <stdint.h>

#include "simd_int.h"

#if !SIMD_IS_BF16 /* the bf16 table's 1x1 kernels are pw_bf16.c's */

#define PW_P SIMD_PW_P                /* pixels per block */
#define PW_AHEAD 4                    /* blocks prefetched ahead */
#define PW_STRIDE (ENG_PW_MAX_O + 16) /* floats between stage rows (not 4 KB: L1 sets) */

/* P pixels from p0: the gradient times the activation's derivative, into
 * stage row p (O floats each). */
static inline void pw_stage(const eng_pw_bwd_args *a, size_t p0, int P, float *restrict stage)
{
    const vf zero = vf_zero(), top = vf_set1(a->hi);
    for (int ob = 0; ob < a->o / SIMD_CB; ob++) {
        const float *g = a->dy + a->ldy.off0 + ob * a->ldy.sc + p0 * SIMD_CB;
        const float *y = a->y + a->ly.off0 + ob * a->ly.sc + p0 * SIMD_CB;
        for (int p = 0; p < P; p++)
            SIMD_UNROLL
        for (int v = 0; v < SIMD_VB; v++) {
            const int c = ob * SIMD_CB + v * SIMD_W;
            const unsigned bits = a->bits
                                      ? simd_bits(a->bits[c / 16 * a->hw + p0 + p], c)
                                      : vf_inside(vf_load(y + p * SIMD_CB + v * SIMD_W), zero, top);
            vf_store(stage + p * PW_STRIDE + c,
                     vf_keep(bits, vf_load(g + p * SIMD_CB + v * SIMD_W)));
        }
    }
}

/* Pixel p0 + p's SIMD_W channels from c: times the input's mask, stored. */
static inline void pw_store(const eng_pw_bwd_args *a, size_t p0, int p, int c, vf r)
{
    const int cb = c / SIMD_CB, in = c % SIMD_CB;
    const int64_t at = a->ldx.off0 + (int64_t)cb * a->ldx.sc + (int64_t)(p0 + p) * SIMD_CB + in;
    if (a->jbits)
        r = vf_keep(simd_bits(a->jbits[c / 16 * a->hw + p0 + p], c), r);
    else if (a->mask)
        r = vf_keep(vf_bytes_bits(a->mask + at), r);
    if (a->dxrow)
        vf_store(a->dxrow + ((size_t)cb * a->rw + p0 + p - a->row0) * SIMD_CB + in, r);
    else
        vf_store(a->dx + at, r);
}

/*
 * PW_P pixels from p0, their staged gradient rows `stride` floats apart (a
 * constant where this is inlined): PW_P x SIMD_PW_NV accumulators (constant
 * indices, so they stay in registers), summed over o in order, then stored.
 */
static inline __attribute__((always_inline)) void
pw_gemm(const eng_pw_bwd_args *a, size_t p0, const float *restrict stage, const int stride)
{
    const int O = a->o, C = a->c;
    for (int c0 = 0; c0 < C; c0 += SIMD_G) {
        vf acc[PW_P][SIMD_PW_NV];
        SIMD_UNROLL
        for (int p = 0; p < PW_P; p++)
            SIMD_UNROLL
        for (int v = 0; v < SIMD_PW_NV; v++)
            acc[p][v] = vf_zero();
        const float *w = a->w + c0;
        for (int o = 0; o < O; o++, w += C) {
            vf wv[SIMD_PW_NV];
            SIMD_UNROLL
            for (int v = 0; v < SIMD_PW_NV; v++)
                wv[v] = vf_load(w + v * SIMD_W);
            const float *g = stage + o;
            SIMD_UNROLL
            for (int p = 0; p < PW_P; p++) {
                const vf b = vf_set1(g[p * stride]);
                SIMD_UNROLL
                for (int v = 0; v < SIMD_PW_NV; v++)
                    acc[p][v] = vf_fma(b, wv[v], acc[p][v]);
            }
        }
        SIMD_UNROLL
        for (int p = 0; p < PW_P; p++)
            SIMD_UNROLL
        for (int v = 0; v < SIMD_PW_NV; v++)
            pw_store(a, p0, p, c0 + v * SIMD_W, acc[p][v]);
    }
}

/* PW_P pixels from p0: staged from i's gradient, then summed. */
static void pw_block(const eng_pw_bwd_args *a, size_t p0, float *restrict stage)
{
    const int O = a->o, C = a->c;
    pw_stage(a, p0, PW_P, stage);
    /* A block PW_AHEAD on: its gradient and activation lines on their way
     * from memory while this one computes, its output lines owned for
     * writing (576x576 V1 tile, Conv2d_1_pointwise: 1.98 ms with 2 blocks
     * ahead and no write prefetch, 1.77 ms so; AVX-512). */
    const size_t ahead = p0 + PW_AHEAD * PW_P;
    for (int ob = 0; ahead + PW_P <= a->hw && ob < O / SIMD_CB; ob++) {
        const float *g = a->dy + a->ldy.off0 + ob * a->ldy.sc + ahead * SIMD_CB;
        const float *y = a->y + a->ly.off0 + ob * a->ly.sc + ahead * SIMD_CB;
        for (int f = 0; f < PW_P * SIMD_CB; f += 16) { /* a 64-byte line each */
            simd_prefetch(g + f);
            if (!a->bits)
                simd_prefetch(y + f);
        }
    }
    for (int cb = 0; ahead + PW_P <= a->hw && cb < C / SIMD_CB; cb++) {
        const float *x = a->dx + a->ldx.off0 + cb * a->ldx.sc + ahead * SIMD_CB;
        for (int f = 0; f < PW_P * SIMD_CB; f += 16)
            simd_prefetchw(x + f);
    }
    pw_gemm(a, p0, stage, PW_STRIDE);
}

/* One pixel whose staged gradient is stage[0 .. O): the same sums. */
static void pw_one_gemm(const eng_pw_bwd_args *a, size_t p0, const float *restrict stage)
{
    for (int c = 0; c < a->c; c += SIMD_W) {
        vf x = vf_zero();
        for (int o = 0; o < a->o; o++)
            x = vf_fma(vf_set1(stage[o]), vf_load(a->w + (size_t)o * a->c + c), x);
        pw_store(a, p0, 0, c, x);
    }
}

/* One pixel (the last hw % PW_P): the same sums. */
static void pw_one(const eng_pw_bwd_args *a, size_t p0, float *restrict stage)
{
    pw_stage(a, p0, 1, stage);
    pw_one_gemm(a, p0, stage);
}

/* Input pixel q's channel block cb. */
static inline const float *pwf_x(const eng_pw_fwd_args *a, size_t q, int cb)
{
    if (a->xrow)
        return a->xrow + ((size_t)cb * a->w + q - a->row0) * SIMD_CB;
    return a->x + a->lx.off0 + cb * a->lx.sc + q * SIMD_CB;
}

/* Pixel p0 + p, SIMD_W channels from o: bias + sums, clipped, stored with
 * their bits (the vectors of a word come in order: the first sets it, the
 * others add to it). */
static inline void pwf_store(const eng_pw_fwd_args *a, size_t p0, int p, int o, vf r)
{
    const vf zero = vf_zero(), top = vf_set1(a->hi);
    const int ob = o / SIMD_CB, in = o % SIMD_CB;
    r = vf_min(vf_max(r, zero), top);
    if (a->yrow)
        vf_store(a->yrow + ((size_t)ob * a->w + p0 + p - a->row0) * SIMD_CB + in, r);
    else
        vf_store(a->y + a->ly.off0 + ob * a->ly.sc + (p0 + p) * SIMD_CB + in, r);
    if (a->bits) {
        uint16_t *b = a->bits + o / 16 * a->hw + p0 + p;
        const unsigned k = vf_inside(r, zero, top) << (o % 16);
        *b = (uint16_t)(o % 16 ? *b | k : k);
    }
}

/* The input's derivative bits of pixels [p0, p0 + n), when kept. */
static inline void pwf_jbits(const eng_pw_fwd_args *a, size_t p0, int n)
{
    if (!a->jbits)
        return;
    const vf zero = vf_zero(), top = vf_set1(a->jhi);
    for (int cw = 0; cw < a->c / 16; cw++)
        for (int p = 0; p < n; p++) {
            unsigned k = 0;
            SIMD_UNROLL
            for (int v = 0; v < SIMD_V16; v++) {
                const int c = cw * 16 + v * SIMD_W;
                const float *x = pwf_x(a, p0 + p, c / SIMD_CB) + c % SIMD_CB;
                k |= vf_inside(vf_load(x), zero, top) << (v * SIMD_W);
            }
            a->jbits[cw * a->hw + p0 + p] = (uint16_t)k;
        }
}

/*
 * PW_P pixels from p0 (fewer at the end: n), nv vectors of output channels
 * from o0 (a constant where this is inlined): accumulators from the bias,
 * plus x[c] W[c][o] for c in order.
 */
static inline __attribute__((always_inline)) void pwf_group(const eng_pw_fwd_args *a, size_t p0,
                                                            int n, int o0, const int nv)
{
    vf acc[PW_P][SIMD_PW_NV];
    SIMD_UNROLL
    for (int v = 0; v < nv; v++) {
        const vf b = vf_load(a->bias + o0 + v * SIMD_W);
        SIMD_UNROLL
        for (int p = 0; p < PW_P; p++)
            acc[p][v] = b;
    }
    const float *w = a->wt + o0;
    for (int c = 0; c < a->c; c++, w += a->o) {
        vf wv[SIMD_PW_NV];
        SIMD_UNROLL
        for (int v = 0; v < nv; v++)
            wv[v] = vf_load(w + v * SIMD_W);
        const float *x = pwf_x(a, p0, c / SIMD_CB) + c % SIMD_CB;
        SIMD_UNROLL
        for (int p = 0; p < PW_P; p++)
            if (p < n) {
                const vf b = vf_set1(x[p * SIMD_CB]);
                SIMD_UNROLL
                for (int v = 0; v < nv; v++)
                    acc[p][v] = vf_fma(b, wv[v], acc[p][v]);
            }
    }
    SIMD_UNROLL
    for (int p = 0; p < PW_P; p++)
        if (p < n)
            SIMD_UNROLL
    for (int v = 0; v < nv; v++)
        pwf_store(a, p0, p, o0 + v * SIMD_W, acc[p][v]);
}

/*
 * PW_P pixels from p0: groups of SIMD_G output channels, then 16 at a
 * time.  (On AVX-512, groups of 64 over 6 pixels ran as fast
 * for C = 32, but past 128 input channels their weights, C x 256 bytes, no
 * longer stay in L1 from one block to the next; 32-channel groups' do, up
 * to 32 KB at C = 256.)
 */
static void pwf_block(const eng_pw_fwd_args *a, size_t p0, int n)
{
    pwf_jbits(a, p0, n);
    int o0 = 0;
    for (; o0 + SIMD_G <= a->o; o0 += SIMD_G)
        pwf_group(a, p0, n, o0, SIMD_PW_NV);
    for (; o0 < a->o; o0 += 16)
        pwf_group(a, p0, n, o0, SIMD_V16);
}

#include "pw_drive_int.h"

#endif

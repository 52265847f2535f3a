/*
 * simd/pw_bf16.c: the bf16 table's 1x1 convolution kernels (contracts in
 * kernels_int.h; the steps that run them in pw.c and pwdw.c), pw.c's
 * blocking and order with the sums over channel pairs: each output
 * lane's chain of vdpbf16ps adds x[c] W[c][o] + x[c + 1] W[c + 1][o] for
 * c = 0, 2, 4, ... in order, in f32, onto the bias (forward) or zero
 * (backward).  A pixel's two channels of a pair are adjacent in oneDNN's
 * blocked bf16 layout (and in the stages), so one 32-bit broadcast takes
 * both; the weights come in the matching pairs, reordered once when the
 * engine is created (own.c: forward [C / 2][O][2], backward [O / 2][C][2]).
 * Results are rounded to bf16 once, when stored; derivative bits describe
 * the stored (rounded) activation, as oneDNN's bf16 eltwise backward reads
 * it.
 */
#include <stdint.h>

#include "simd_int.h"

#if SIMD_IS_BF16

#define PW_P SIMD_PW_P                /* pixels per block */
#define PW_AHEAD 4                    /* blocks prefetched ahead */
#define PW_STRIDE (ENG_PW_MAX_O + 16) /* bf16s between stage rows (not 4 KB: L1 sets) */
#define LINE 32                       /* bf16s a 64-byte cache line */

/* 16 bf16s at p with the lanes whose bit in k is clear set to +0. */
static inline void bf_keep_copy(act_t *dst, const act_t *src, unsigned k)
{
    const __m256i v = _mm256_loadu_si256((const __m256i *)src);
    _mm256_storeu_si256((__m256i *)dst, _mm256_maskz_mov_epi16((__mmask16)k, v));
}

/* P pixels from p0: the gradient times the activation's derivative, into
 * stage row p (O bf16s each; a product by 0 or 1 is exact). */
static inline void pw_stage(const eng_pw_bwd_args *a, size_t p0, int P, act_t *restrict stage)
{
    const vf zero = vf_zero(), top = vf_set1(a->hi);
    for (int ob = 0; ob < a->o / SIMD_CB; ob++) {
        const act_t *g = (const act_t *)a->dy + a->ldy.off0 + ob * a->ldy.sc + p0 * SIMD_CB;
        const act_t *y = (const act_t *)a->y + a->ly.off0 + ob * a->ly.sc + p0 * SIMD_CB;
        for (int p = 0; p < P; p++) {
            const int c = ob * SIMD_CB;
            const unsigned bits = a->bits ? simd_bits(a->bits[c / 16 * a->hw + p0 + p], c)
                                          : vf_inside(act_load(y + p * SIMD_CB), zero, top);
            bf_keep_copy(stage + p * PW_STRIDE + c, g + p * SIMD_CB, bits);
        }
    }
}

/* Pixel p0 + p's 16 channels from c: times the input's mask, stored. */
static inline void pw_store(const eng_pw_bwd_args *a, size_t p0, int p, int c, vf r)
{
    const int cb = c / SIMD_CB, in = c % SIMD_CB;
    const int64_t at = a->ldx.off0 + (int64_t)cb * a->ldx.sc + (int64_t)(p0 + p) * SIMD_CB + in;
    if (a->jbits)
        r = vf_keep(simd_bits(a->jbits[c / 16 * a->hw + p0 + p], c), r);
    else if (a->mask)
        r = vf_keep(vf_bytes_bits(a->mask + at), r);
    if (a->dxrow) /* a ring row for the depthwise before: floats (kernels_int.h) */
        vf_store(a->dxrow + ((size_t)cb * a->rw + p0 + p - a->row0) * SIMD_CB + in, r);
    else
        act_store((act_t *)a->dx + at, r);
}

/*
 * PW_P pixels from p0, their staged gradient rows `stride` bf16s apart (a
 * constant where this is inlined): PW_P x SIMD_PW_NV accumulators, summed
 * over the pairs of o in order, then stored.
 */
static inline __attribute__((always_inline)) void
pw_gemm(const eng_pw_bwd_args *a, size_t p0, const act_t *restrict stage, const int stride)
{
    const int O = a->o, C = a->c;
    const uint16_t *wt = (const uint16_t *)a->w;
    for (int c0 = 0; c0 < C; c0 += SIMD_G) {
        vf acc[PW_P][SIMD_PW_NV];
        SIMD_UNROLL
        for (int p = 0; p < PW_P; p++)
            SIMD_UNROLL
        for (int v = 0; v < SIMD_PW_NV; v++)
            acc[p][v] = vf_zero();
        const uint16_t *w = wt + (size_t)c0 * 2;
        for (int o = 0; o < O; o += 2, w += (size_t)C * 2) {
            __m512bh wv[SIMD_PW_NV];
            SIMD_UNROLL
            for (int v = 0; v < SIMD_PW_NV; v++)
                wv[v] = bf_load(w + v * SIMD_W * 2);
            const act_t *g = stage + o;
            SIMD_UNROLL
            for (int p = 0; p < PW_P; p++) {
                const __m512bh b = bf_pair(g + p * stride);
                SIMD_UNROLL
                for (int v = 0; v < SIMD_PW_NV; v++)
                    acc[p][v] = bf_dot(acc[p][v], b, wv[v]);
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
static void pw_block(const eng_pw_bwd_args *a, size_t p0, act_t *restrict stage)
{
    const int O = a->o, C = a->c;
    pw_stage(a, p0, PW_P, stage);
    /* A block PW_AHEAD on on its way from memory, its output lines owned
     * for writing (pw.c). */
    const size_t ahead = p0 + PW_AHEAD * PW_P;
    for (int ob = 0; ahead + PW_P <= a->hw && ob < O / SIMD_CB; ob++) {
        const act_t *g = (const act_t *)a->dy + a->ldy.off0 + ob * a->ldy.sc + ahead * SIMD_CB;
        const act_t *y = (const act_t *)a->y + a->ly.off0 + ob * a->ly.sc + ahead * SIMD_CB;
        for (int f = 0; f < PW_P * SIMD_CB; f += LINE) {
            simd_prefetch(g + f);
            if (!a->bits)
                simd_prefetch(y + f);
        }
    }
    for (int cb = 0; ahead + PW_P <= a->hw && cb < C / SIMD_CB; cb++) {
        const act_t *x = (const act_t *)a->dx + a->ldx.off0 + cb * a->ldx.sc + ahead * SIMD_CB;
        for (int f = 0; f < PW_P * SIMD_CB; f += LINE)
            simd_prefetchw(x + f);
    }
    pw_gemm(a, p0, stage, PW_STRIDE);
}

/* One pixel whose staged gradient is stage[0 .. O): the same sums. */
static void pw_one_gemm(const eng_pw_bwd_args *a, size_t p0, const act_t *restrict stage)
{
    const uint16_t *wt = (const uint16_t *)a->w;
    for (int c = 0; c < a->c; c += SIMD_W) {
        vf x = vf_zero();
        for (int o = 0; o < a->o; o += 2)
            x = bf_dot(x, bf_pair(stage + o), bf_load(wt + ((size_t)o * a->c + (size_t)c * 2)));
        pw_store(a, p0, 0, c, x);
    }
}

/* One pixel (the last hw % PW_P): the same sums. */
static void pw_one(const eng_pw_bwd_args *a, size_t p0, act_t *restrict stage)
{
    pw_stage(a, p0, 1, stage);
    pw_one_gemm(a, p0, stage);
}

/* Input pixel q's channel block cb. */
static inline const act_t *pwf_x(const eng_pw_fwd_args *a, size_t q, int cb)
{
    if (a->xrow)
        return (const act_t *)a->xrow + ((size_t)cb * a->w + q - a->row0) * SIMD_CB;
    return (const act_t *)a->x + a->lx.off0 + cb * a->lx.sc + q * SIMD_CB;
}

/* Pixel p0 + p, 16 channels from o: bias + sums, clipped, stored with the
 * bits of the stored values (the first vector of a word sets it): bf16 in
 * i's activation, floats in a ring row (kernels_int.h). */
static inline void pwf_store(const eng_pw_fwd_args *a, size_t p0, int p, int o, vf r)
{
    const vf zero = vf_zero(), top = vf_set1(a->hi);
    const int ob = o / SIMD_CB, in = o % SIMD_CB;
    r = vf_min(vf_max(r, zero), top);
    if (a->yrow) {
        vf_store(a->yrow + ((size_t)ob * a->w + p0 + p - a->row0) * SIMD_CB + in, r);
    } else {
        act_store((act_t *)a->y + a->ly.off0 + ob * a->ly.sc + (p0 + p) * SIMD_CB + in, r);
        r = act_round(r);
    }
    if (a->bits)
        a->bits[o / 16 * a->hw + p0 + p] = (uint16_t)vf_inside(r, zero, top);
}

/* The input's derivative bits of pixels [p0, p0 + n), when kept. */
static inline void pwf_jbits(const eng_pw_fwd_args *a, size_t p0, int n)
{
    if (!a->jbits)
        return;
    const vf zero = vf_zero(), top = vf_set1(a->jhi);
    for (int cw = 0; cw < a->c / 16; cw++)
        for (int p = 0; p < n; p++)
            a->jbits[cw * a->hw + p0 + p] =
                (uint16_t)vf_inside(act_load(pwf_x(a, p0 + p, cw)), zero, top);
}

/*
 * PW_P pixels from p0 (fewer at the end: n), nv vectors of output channels
 * from o0 (a constant where this is inlined): accumulators from the bias,
 * plus the pairs x[c] W[c][o] + x[c + 1] W[c + 1][o] for c in order.
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
    const uint16_t *w = (const uint16_t *)a->wt + (size_t)o0 * 2;
    for (int cb = 0; cb < a->c / SIMD_CB; cb++) {
        const act_t *xb = pwf_x(a, p0, cb); /* once a block, not a pair */
        for (int k = 0; k < SIMD_CB; k += 2, w += (size_t)a->o * 2) {
            __m512bh wv[SIMD_PW_NV];
            SIMD_UNROLL
            for (int v = 0; v < nv; v++)
                wv[v] = bf_load(w + v * SIMD_W * 2);
            const act_t *x = xb + k;
            SIMD_UNROLL
            for (int p = 0; p < PW_P; p++)
                if (p < n) {
                    const __m512bh b = bf_pair(x + p * SIMD_CB);
                    SIMD_UNROLL
                    for (int v = 0; v < nv; v++)
                        acc[p][v] = bf_dot(acc[p][v], b, wv[v]);
                }
        }
    }
    SIMD_UNROLL
    for (int p = 0; p < PW_P; p++)
        if (p < n)
            SIMD_UNROLL
    for (int v = 0; v < nv; v++)
        pwf_store(a, p0, p, o0 + v * SIMD_W, acc[p][v]);
}

/* n pixels from p0 (a constant where this is inlined): groups of SIMD_G
 * output channels, then 16 at a time (pw.c says why these). */
static inline __attribute__((always_inline)) void pwf_groups(const eng_pw_fwd_args *a, size_t p0,
                                                             const int n)
{
    int o0 = 0;
    for (; o0 + SIMD_G <= a->o; o0 += SIMD_G)
        pwf_group(a, p0, n, o0, SIMD_PW_NV);
    for (; o0 < a->o; o0 += 16)
        pwf_group(a, p0, n, o0, SIMD_V16);
}

/* PW_P pixels from p0, fewer (n) at a row's or the tensor's end; a whole
 * block with n a constant, so its loop tests no pixel count. */
static void pwf_block(const eng_pw_fwd_args *a, size_t p0, int n)
{
    pwf_jbits(a, p0, n);
    if (n == PW_P)
        pwf_groups(a, p0, PW_P);
    else
        pwf_groups(a, p0, n);
}

#include "pw_drive_int.h"

#endif

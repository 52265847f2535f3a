/*
 * x86/pw.c: the 1x1 convolution's kernels for AVX-512 (contracts in
 * kernels_int.h; the steps that run them in pw.c and pwdw.c).
 *
 * Backward: a block of PW_P pixels has its gradient multiplied by the
 * activation's derivative into an L1 buffer (stage), then summed against
 * the weights in registers, multiplied by the input's derivative and
 * written once.  Forward: 12 pixels x 32 channels in 24 accumulators, bias
 * first, then x[c] W[c][o] for c in order, clipped, stored, and the
 * derivative written as bits (16 channels to a uint16_t) on the way; and
 * the input's derivative as bits too, where the backward folds it.
 *
 * Compiled for AVX-512 (CMake): everything here runs only through the
 * table kernels.c picked for a CPU that has it.
 */
#include <immintrin.h>
#include <stdint.h>

#include "avx512_int.h"

#define PW_P 12                       /* pixels per block: 12 x 2 accumulators of 16 channels */
#define PW_AHEAD 4                    /* blocks prefetched ahead */
#define PW_STRIDE (ENG_PW_MAX_O + 16) /* floats between stage rows (not 4 KB: L1 sets) */

/* P pixels from p0: the gradient times the activation's derivative, into
 * stage row p (O floats each). */
static inline void pw_stage(const eng_pw_bwd_args *a, size_t p0, int P, float *restrict stage)
{
    const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(a->hi);
    if (a->bits) {
        for (int ob = 0; ob < a->o / 16; ob++) {
            const float *g = a->dy + a->ldy.off0 + ob * a->ldy.sc + p0 * 16;
            const uint16_t *k = a->bits + ob * a->hw + p0;
            for (int p = 0; p < P; p++)
                _mm512_storeu_ps(stage + p * PW_STRIDE + ob * 16,
                                 _mm512_maskz_mov_ps(k[p], _mm512_loadu_ps(g + p * 16)));
        }
        return;
    }
    for (int ob = 0; ob < a->o / 16; ob++) {
        const float *g = a->dy + a->ldy.off0 + ob * a->ldy.sc + p0 * 16;
        const float *y = a->y + a->ly.off0 + ob * a->ly.sc + p0 * 16;
        for (int p = 0; p < P; p++) {
            __m512 v = _mm512_loadu_ps(y + p * 16);
            __mmask16 k = _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), v, top,
                                                  _CMP_LT_OQ);
            _mm512_storeu_ps(stage + p * PW_STRIDE + ob * 16,
                             _mm512_maskz_mov_ps(k, _mm512_loadu_ps(g + p * 16)));
        }
    }
}

/* Pixel p0 + p's 16 channels of block cb: times the input's mask, stored. */
static inline void pw_store(const eng_pw_bwd_args *a, size_t p0, int p, int cb, __m512 r)
{
    const int64_t at = a->ldx.off0 + (int64_t)cb * a->ldx.sc + (int64_t)(p0 + p) * 16;
    if (a->jbits) {
        r = _mm512_maskz_mov_ps(a->jbits[cb * a->hw + p0 + p], r);
    } else if (a->mask) {
        __m128i m = _mm_loadu_si128((const __m128i *)(a->mask + at));
        r = _mm512_maskz_mov_ps(_mm_test_epi8_mask(m, m), r);
    }
    if (a->dxrow)
        _mm512_storeu_ps(a->dxrow + ((size_t)cb * a->rw + p0 + p - a->row0) * 16, r);
    else
        _mm512_storeu_ps(a->dx + at, r);
}

/* M(p) for each of the PW_P pixels of a block. */
#define PW_EACH(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)

/*
 * PW_P pixels from p0, their staged gradient rows `stride` floats apart (a
 * constant where this is inlined): 24 accumulators, named so they stay in
 * registers, summed over o in order, then stored.
 */
static inline __attribute__((always_inline)) void
pw_gemm(const eng_pw_bwd_args *a, size_t p0, const float *restrict stage, const int stride)
{
    const int O = a->o, C = a->c;
    for (int cb = 0; cb < C / 16; cb += 2) {
#define PW_ACC(p) __m512 x##p = _mm512_setzero_ps(), y##p = _mm512_setzero_ps();
        PW_EACH(PW_ACC)
        const float *w = a->w + cb * 16;
        for (int o = 0; o < O; o++, w += C) {
            const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
            const float *g = stage + o;
#define PW_FMA(p)                                                                                  \
    do {                                                                                           \
        __m512 b = _mm512_set1_ps(g[(p)*stride]);                                                  \
        x##p = _mm512_fmadd_ps(b, w0, x##p);                                                       \
        y##p = _mm512_fmadd_ps(b, w1, y##p);                                                       \
    } while (0);
            PW_EACH(PW_FMA)
        }
#define PW_OUT(p) pw_store(a, p0, p, cb, x##p), pw_store(a, p0, p, cb + 1, y##p);
        PW_EACH(PW_OUT)
#undef PW_ACC
#undef PW_FMA
#undef PW_OUT
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
     * ahead and no write prefetch, 1.77 ms so). */
    const size_t ahead = p0 + PW_AHEAD * PW_P;
    for (int ob = 0; ahead + PW_P <= a->hw && ob < O / 16; ob++) {
        const float *g = a->dy + a->ldy.off0 + ob * a->ldy.sc + ahead * 16;
        const float *y = a->y + a->ly.off0 + ob * a->ly.sc + ahead * 16;
        for (int p = 0; p < PW_P; p++) {
            _mm_prefetch((const char *)(g + p * 16), _MM_HINT_T0);
            if (!a->bits)
                _mm_prefetch((const char *)(y + p * 16), _MM_HINT_T0);
        }
    }
    for (int cb = 0; ahead + PW_P <= a->hw && cb < C / 16; cb++) {
        const float *x = a->dx + a->ldx.off0 + cb * a->ldx.sc + ahead * 16;
        for (int p = 0; p < PW_P; p++)
            __builtin_prefetch(x + p * 16, 1, 3);
    }
    pw_gemm(a, p0, stage, PW_STRIDE);
}

/* One pixel whose staged gradient is stage[0 .. O): the same sums. */
static void pw_one_gemm(const eng_pw_bwd_args *a, size_t p0, const float *restrict stage)
{
    for (int cb = 0; cb < a->c / 16; cb++) {
        __m512 x = _mm512_setzero_ps();
        for (int o = 0; o < a->o; o++)
            x = _mm512_fmadd_ps(_mm512_set1_ps(stage[o]),
                                _mm512_loadu_ps(a->w + (size_t)o * a->c + cb * 16), x);
        pw_store(a, p0, 0, cb, x);
    }
}

/* One pixel (the last hw % PW_P): the same sums. */
static void pw_one(const eng_pw_bwd_args *a, size_t p0, float *restrict stage)
{
    pw_stage(a, p0, 1, stage);
    pw_one_gemm(a, p0, stage);
}

#define PWF_P PW_P /* pixels per block: 12 x 2 accumulators of 16 channels */

/* Input pixel q's channel block cb. */
static inline const float *pwf_x(const eng_pw_fwd_args *a, size_t q, int cb)
{
    if (a->xrow)
        return a->xrow + ((size_t)cb * a->w + q - a->row0) * 16;
    return a->x + a->lx.off0 + cb * a->lx.sc + q * 16;
}

/* Pixel p0 + p, channel block ob: bias + sums, clipped, stored with its bits. */
static inline void pwf_store(const eng_pw_fwd_args *a, size_t p0, int p, int ob, __m512 r)
{
    const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(a->hi);
    r = _mm512_min_ps(_mm512_max_ps(r, zero), top);
    if (a->yrow)
        _mm512_storeu_ps(a->yrow + ((size_t)ob * a->w + p0 + p - a->row0) * 16, r);
    else
        _mm512_storeu_ps(a->y + a->ly.off0 + ob * a->ly.sc + (p0 + p) * 16, r);
    if (a->bits)
        a->bits[ob * a->hw + p0 + p] =
            _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(r, zero, _CMP_GT_OQ), r, top, _CMP_LT_OQ);
}

/* The input's derivative bits of pixels [p0, p0 + n), when kept. */
static inline void pwf_jbits(const eng_pw_fwd_args *a, size_t p0, int n)
{
    if (!a->jbits)
        return;
    const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(a->jhi);
    for (int cb = 0; cb < a->c / 16; cb++)
        for (int p = 0; p < n; p++) {
            __m512 v = _mm512_loadu_ps(pwf_x(a, p0 + p, cb));
            a->jbits[cb * a->hw + p0 + p] = _mm512_mask_cmp_ps_mask(
                _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), v, top, _CMP_LT_OQ);
        }
}

/*
 * PWF_P pixels from p0 (fewer at the end: n): per group of 32 output
 * channels, 24 accumulators from the bias, plus x[c] W[c][o] for c in
 * order.  (Groups of 64 over 6 pixels ran as fast for C = 32, but past 128
 * input channels their weights, C x 256 bytes, no longer stay in L1 from
 * one block to the next; 32-channel groups' do, up to 32 KB at C = 256.)
 */
static void pwf_block(const eng_pw_fwd_args *a, size_t p0, int n)
{
    pwf_jbits(a, p0, n);
    for (int og = 0; og < a->o / 32; og++) {
        const __m512 b0 = _mm512_loadu_ps(a->bias + og * 32),
                     b1 = _mm512_loadu_ps(a->bias + og * 32 + 16);
#define PWF_ACC(p) __m512 q0##p = b0, q1##p = b1;
        PW_EACH(PWF_ACC)
        const float *w = a->wt + og * 32;
        for (int c = 0; c < a->c; c++, w += a->o) {
            const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
            const float *x = pwf_x(a, p0, c / 16) + c % 16;
#define PWF_FMA(p)                                                                                 \
    if ((p) < n) {                                                                                 \
        __m512 b = _mm512_set1_ps(x[(p)*16]);                                                      \
        q0##p = _mm512_fmadd_ps(b, w0, q0##p);                                                     \
        q1##p = _mm512_fmadd_ps(b, w1, q1##p);                                                     \
    }
            PW_EACH(PWF_FMA)
        }
#define PWF_OUT(p)                                                                                 \
    if ((p) < n) {                                                                                 \
        pwf_store(a, p0, p, og * 2, q0##p);                                                        \
        pwf_store(a, p0, p, og * 2 + 1, q1##p);                                                    \
    }
        PW_EACH(PWF_OUT)
#undef PWF_ACC
#undef PWF_FMA
#undef PWF_OUT
    }
}

void eng_avx512_pw_fwd(const eng_pw_fwd_args *a)
{
    const size_t blocks = (a->hw + PWF_P - 1) / PWF_P;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < blocks; b++) {
        size_t p0 = b * PWF_P;
        pwf_block(a, p0, a->hw - p0 < PWF_P ? (int)(a->hw - p0) : PWF_P);
    }
}

void eng_avx512_pw_fwd_row(const eng_pw_fwd_args *a, int y, const float *src, float *dst,
                           int keep_bits)
{
    eng_pw_fwd_args r = *a;
    r.xrow = src;
    r.yrow = dst;
    r.row0 = (size_t)y * r.w;
    if (!keep_bits)
        r.bits = r.jbits = NULL;
    for (size_t x = 0; x < r.w; x += PWF_P)
        pwf_block(&r, r.row0 + x, r.w - x < PWF_P ? (int)(r.w - x) : PWF_P);
}

void eng_avx512_pw_bwd(const eng_pw_bwd_args *a)
{
    const size_t hw = a->hw, blocks = hw / PW_P;
#pragma omp parallel
    {
        float stage[PW_P * PW_STRIDE];
#pragma omp for schedule(static)
        for (size_t b = 0; b < blocks; b++)
            pw_block(a, b * PW_P, stage);
#pragma omp for schedule(static)
        for (size_t p = blocks * PW_P; p < hw; p++)
            pw_one(a, p, stage);
    }
}

void eng_avx512_pw_bwd_row(const eng_pw_bwd_args *a, int y, const float *stage, float *dst)
{
    eng_pw_bwd_args r = *a;
    const size_t w = r.rw, p0 = (size_t)y * w, stride = (size_t)eng_pwdw_stride(r.o);
    r.dxrow = dst;
    r.row0 = p0;
    size_t x = 0;
    /* The stride a constant in each, so the 12 rows are fixed offsets. */
    for (; x + PW_P <= w; x += PW_P)
        switch (stride) {
        case ENG_PWDW_STRIDE_64:
            pw_gemm(&r, p0 + x, stage + x * stride, ENG_PWDW_STRIDE_64);
            break;
        case ENG_PWDW_STRIDE_128:
            pw_gemm(&r, p0 + x, stage + x * stride, ENG_PWDW_STRIDE_128);
            break;
        default:
            pw_gemm(&r, p0 + x, stage + x * stride, ENG_PWDW_STRIDE_256);
            break;
        }
    for (; x < w; x++)
        pw_one_gemm(&r, p0 + x, stage + x * stride);
}

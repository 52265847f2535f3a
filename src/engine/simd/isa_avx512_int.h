/*
 * simd/isa_avx512_int.h: the SIMD layer's mapping onto AVX-512 (F, BW, VL
 * with FMA), one 16-float vector a channel block.  Included by simd_int.h
 * only, in the objects CMake compiles with GD_SIMD_AVX512 and AVX-512 flags.
 */
#ifndef GIGADREAM_ENGINE_SIMD_ISA_AVX512_INT_H
#define GIGADREAM_ENGINE_SIMD_ISA_AVX512_INT_H

#include <immintrin.h>
#include <stdint.h>

#define SIMD_W 16           /* floats a vector */
#define SIMD_CB 16          /* channels a layout block (oneDNN's nChw16c) */
#ifndef SIMD_NAME           /* isa_avx512bf16_int.h names its own table */
#define SIMD_NAME "AVX-512" /* the table's name, for messages and checkpoints */
#define SIMD_FN(name) eng_avx512_##name
#define SIMD_TABLE eng_kernels_avx512
#endif

/* Register blocking (32 registers): a 1x1's sums 12 pixels x 2 vectors
 * (32 channels) in 24 accumulators, the first convolution's backward the
 * same over its 32 floats of Z a pixel. */
#define SIMD_PW_P 12
#define SIMD_PW_NV 2

typedef __m512 vf;

static inline vf vf_load(const float *p)
{
    return _mm512_loadu_ps(p);
}
static inline void vf_store(float *p, vf v)
{
    _mm512_storeu_ps(p, v);
}
static inline vf vf_zero(void)
{
    return _mm512_setzero_ps();
}
static inline vf vf_set1(float x)
{
    return _mm512_set1_ps(x);
}
/* a b + c, one rounding. */
static inline vf vf_fma(vf a, vf b, vf c)
{
    return _mm512_fmadd_ps(a, b, c);
}
static inline vf vf_add(vf a, vf b)
{
    return _mm512_add_ps(a, b);
}
static inline vf vf_mul(vf a, vf b)
{
    return _mm512_mul_ps(a, b);
}
static inline vf vf_max(vf a, vf b)
{
    return _mm512_max_ps(a, b);
}
static inline vf vf_min(vf a, vf b)
{
    return _mm512_min_ps(a, b);
}

/* Lane i's bit (bit i) set where lo < v < hi. */
static inline unsigned vf_inside(vf v, vf lo, vf hi)
{
    return _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(v, lo, _CMP_GT_OQ), v, hi, _CMP_LT_OQ);
}

/* v with the lanes whose bit in k is clear set to +0. */
static inline vf vf_keep(unsigned k, vf v)
{
    return _mm512_maskz_mov_ps((__mmask16)k, v);
}

/* The bits of the SIMD_W bytes at m that are not zero. */
static inline unsigned vf_bytes_bits(const uint8_t *m)
{
    const __m128i b = _mm_loadu_si128((const __m128i *)m);
    return _mm_test_epi8_mask(b, b);
}

/* SIMD_W bytes at m: 1 where k's bit is set, else 0. */
static inline void vf_store_bytes(uint8_t *m, unsigned k)
{
    _mm_storeu_si128((__m128i *)m, _mm_maskz_mov_epi8((__mmask16)k, _mm_set1_epi8(1)));
}

/* SIMD_W bf16 values at p, widened to floats. */
static inline vf vf_load_bf16(const uint16_t *p)
{
    const __m256i h = _mm256_loadu_si256((const __m256i *)p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

#endif

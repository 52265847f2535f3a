/*
 * simd/isa_avx2_int.h: the SIMD layer's mapping onto AVX2 with FMA, two
 * 8-float vectors a 16-channel block.  Included by simd_int.h only, in the
 * objects CMake compiles with GD_SIMD_AVX2 and -mavx2 -mfma.
 */
#ifndef GIGADREAM_ENGINE_SIMD_ISA_AVX2_INT_H
#define GIGADREAM_ENGINE_SIMD_ISA_AVX2_INT_H

#include <immintrin.h>
#include <stdint.h>

#define SIMD_W 8
#define SIMD_CB 8 /* channels a layout block (oneDNN's nChw8c on AVX2) */
#define SIMD_NAME "AVX2"
#define SIMD_FN(name) eng_avx2_##name
#define SIMD_TABLE eng_kernels_avx2

/* Register blocking (16 registers): 6 pixels x 2 vectors (16 channels) in
 * 12 accumulators, 2 for the weights and 1 for the broadcast. */
#define SIMD_PW_P 6
#define SIMD_PW_NV 2

typedef __m256 vf;

static inline vf vf_load(const float *p)
{
    return _mm256_loadu_ps(p);
}
static inline void vf_store(float *p, vf v)
{
    _mm256_storeu_ps(p, v);
}
static inline vf vf_zero(void)
{
    return _mm256_setzero_ps();
}
static inline vf vf_set1(float x)
{
    return _mm256_set1_ps(x);
}
static inline vf vf_fma(vf a, vf b, vf c)
{
    return _mm256_fmadd_ps(a, b, c);
}
static inline vf vf_add(vf a, vf b)
{
    return _mm256_add_ps(a, b);
}
static inline vf vf_mul(vf a, vf b)
{
    return _mm256_mul_ps(a, b);
}
static inline vf vf_max(vf a, vf b)
{
    return _mm256_max_ps(a, b);
}
static inline vf vf_min(vf a, vf b)
{
    return _mm256_min_ps(a, b);
}

static inline unsigned vf_inside(vf v, vf lo, vf hi)
{
    return (unsigned)_mm256_movemask_ps(
        _mm256_and_ps(_mm256_cmp_ps(v, lo, _CMP_GT_OQ), _mm256_cmp_ps(v, hi, _CMP_LT_OQ)));
}

/* Lane i keeps its value where bit i of k is set: k broadcast, each lane
 * tests its own bit. */
static inline vf vf_keep(unsigned k, vf v)
{
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i on = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)k), sel), sel);
    return _mm256_and_ps(_mm256_castsi256_ps(on), v);
}

static inline unsigned vf_bytes_bits(const uint8_t *m)
{
    const __m128i b = _mm_loadl_epi64((const __m128i *)m);
    return ~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, _mm_setzero_si128())) & 0xffu;
}

static inline void vf_store_bytes(uint8_t *m, unsigned k)
{
    const __m128i sel = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m128i on = _mm_cmpeq_epi8(_mm_and_si128(_mm_set1_epi8((char)k), sel), sel);
    _mm_storel_epi64((__m128i *)m, _mm_and_si128(on, _mm_set1_epi8(1)));
}

static inline vf vf_load_bf16(const uint16_t *p)
{
    const __m128i h = _mm_loadu_si128((const __m128i *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

#endif

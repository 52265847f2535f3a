/*
 * simd/isa_avx512bf16_int.h: the SIMD layer's mapping for the bf16 table:
 * AVX-512 (isa_avx512_int.h's vectors, blocks and blocking) with BF16's
 * conversions, activations and gradients bf16 (act_t, simd_int.h), and the
 * pair dot product the 1x1 kernels use (pw_bf16.c).  Included by
 * simd_int.h only, in the object CMake compiles with GD_SIMD_AVX512BF16 and
 * -mavx512bf16.
 */
#ifndef GIGADREAM_ENGINE_SIMD_ISA_AVX512BF16_INT_H
#define GIGADREAM_ENGINE_SIMD_ISA_AVX512BF16_INT_H

#define SIMD_NAME "AVX-512-BF16" /* the table's name, for messages and checkpoints */
#define SIMD_FN(name) eng_avx512bf16_##name
#define SIMD_TABLE eng_kernels_avx512bf16
#define SIMD_BF16 1

#include <string.h>

#include "isa_avx512_int.h"

typedef uint16_t act_t;

/* 16 bf16 values at p, widened. */
static inline vf act_load(const act_t *p)
{
    return vf_load_bf16(p);
}

/* v rounded to bf16 (nearest even, vcvtneps2bf16), 16 values at p. */
static inline void act_store(act_t *p, vf v)
{
    _mm256_storeu_si256((__m256i *)p, (__m256i)_mm512_cvtneps_pbh(v));
}

/* What act_store keeps of v, widened back. */
static inline vf act_round(vf v)
{
    const __m256i h = (__m256i)_mm512_cvtneps_pbh(v);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* The bf16 value at p, widened, in every lane (a word broadcast and a
 * shift: half the instructions of widening a scalar, then broadcasting). */
static inline vf act_bcast(const act_t *p)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_set1_epi16((short)*p), 16));
}

/* The two bf16 values at p (a channel pair), in every 32-bit lane. */
static inline __m512bh bf_pair(const act_t *p)
{
    uint32_t u;
    memcpy(&u, p, sizeof u);
    return (__m512bh)_mm512_set1_epi32((int)u);
}

/* 32 bf16 values at p: 16 pairs. */
static inline __m512bh bf_load(const uint16_t *p)
{
    return (__m512bh)_mm512_loadu_si512((const void *)p);
}

/* acc + a.lo b.lo + a.hi b.hi in each lane (vdpbf16ps). */
static inline vf bf_dot(vf acc, __m512bh a, __m512bh b)
{
    return _mm512_dpbf16_ps(acc, a, b);
}

#endif

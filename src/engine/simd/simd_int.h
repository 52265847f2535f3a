/*
 * simd/simd_int.h: the engine's SIMD layer, in the spirit of ggml's
 * per-architecture macros: one vector type (vf, SIMD_W floats) and the few
 * operations the kernels need (load, store, set1, fused multiply-add,
 * add, mul, max, min, lane masks), mapped onto one ISA per object file.
 * The kernels (mask.c, pw.c, dw.c, stem.c, table.c in this folder) are
 * written once against it; CMake compiles them once per ISA with that
 * ISA's flags and one of GD_SIMD_AVX512, GD_SIMD_AVX2 or GD_SIMD_NEON, and
 * SIMD_FN names each object's functions after its ISA (eng_avx2_pw_fwd...),
 * so the objects link side by side and kernels.c picks one table.
 *
 * Layouts are blocks of SIMD_CB channels (oneDNN's own block on the ISA),
 * SIMD_VB vectors a block; derivative bits stay one uint16_t per 16
 * channels, SIMD_W of them a vector (simd_bits).  Register blocking is the
 * ISA header's (SIMD_PW_P pixels x SIMD_PW_NV vectors).
 *
 * Every sum keeps the order its contract in kernels_int.h fixes, whatever
 * the width or blocking: each output element is one lane's chain of fused
 * multiply-adds over the same terms.
 */
#ifndef GIGADREAM_ENGINE_SIMD_SIMD_INT_H
#define GIGADREAM_ENGINE_SIMD_SIMD_INT_H

#if defined(GD_SIMD_AVX512BF16)
#include "isa_avx512bf16_int.h"
#elif defined(GD_SIMD_AVX512)
#include "isa_avx512_int.h"
#elif defined(GD_SIMD_AVX2)
#include "isa_avx2_int.h"
#elif defined(GD_SIMD_NEON)
#include "isa_neon_int.h"
#else
#error                                                                                             \
    "simd_int.h: compile with one of GD_SIMD_AVX512, GD_SIMD_AVX512BF16, GD_SIMD_AVX2, GD_SIMD_NEON (CMake does)"
#endif

/*
 * The element type of activations and gradients (act_t) and its loads and
 * stores: floats, or for a bf16 table (SIMD_BF16, kernels_int.h) bf16,
 * widened to floats on loading and rounded to nearest even on storing.
 * act_round gives what a store keeps, so that masks and bits describe the
 * stored activation; act_bcast broadcasts one element.  On f32 tables these are the float
 * operations themselves.
 */
#ifdef SIMD_BF16 /* isa_avx512bf16_int.h defines them */
#define SIMD_IS_BF16 1
#else
typedef float act_t;
#define SIMD_IS_BF16 0
static inline vf act_load(const act_t *p)
{
    return vf_load(p);
}
static inline void act_store(act_t *p, vf v)
{
    vf_store(p, v);
}
static inline vf act_round(vf v)
{
    return v;
}
/* The element at p in every lane. */
static inline vf act_bcast(const act_t *p)
{
    return vf_set1(*p);
}
#endif

#include "engine/kernels_int.h"

#define SIMD_VB (SIMD_CB / SIMD_W)       /* vectors a layout block */
#define SIMD_V16 (16 / SIMD_W)           /* vectors a word of derivative bits */
#define SIMD_G (SIMD_PW_NV * SIMD_W)     /* channels a register block sums */
#define SIMD_LANES ((1u << SIMD_W) - 1u) /* one vector's bits */
#define SIMD_UNROLL                                                                                \
    _Pragma("GCC unroll 16") /* constant indices: accumulators stay in registers                   \
                              */

/* The bits of the vector from channel c (a multiple of SIMD_W) in word,
 * the derivative bits of channels c / 16 * 16 ..  + 15. */
static inline unsigned simd_bits(unsigned word, int c)
{
    return word >> (c % 16) & SIMD_LANES;
}

/* Cache hints: for reading soon, and for writing soon. */
static inline void simd_prefetch(const void *p)
{
    __builtin_prefetch(p, 0, 3);
}
static inline void simd_prefetchw(const void *p)
{
    __builtin_prefetch(p, 1, 3);
}

/* The kernels of kernels_int.h's table, this ISA's (table.c lists them). */
size_t SIMD_FN(mask)(const void *y, int bf16, float hi, uint8_t *m, size_t n);
void SIMD_FN(pw_fwd)(const eng_pw_fwd_args *a);
void SIMD_FN(pw_fwd_row)(const eng_pw_fwd_args *a, int y, const float *src, float *dst,
                         int keep_bits);
void SIMD_FN(pw_bwd)(const eng_pw_bwd_args *a);
void SIMD_FN(pw_bwd_row)(const eng_pw_bwd_args *a, int y, const float *stage, float *dst);
void SIMD_FN(dw_fwd_row)(const eng_dw_args *a, const float *ring, int oy);
void SIMD_FN(dw_bwd_row)(const eng_dw_args *a, int iy, float *stage);
void SIMD_FN(dw1_fwd_row)(const eng_dw1_args *a, const float *ring, int y, float *xrow);
void SIMD_FN(dw1_bwd_row)(const eng_dw1_args *a, const float *ring, int y, float *out, size_t px,
                          size_t cs);
void SIMD_FN(stem_fwd_row)(const eng_stem_fwd_args *a, int oy, float *dst, int keep_mask);
void SIMD_FN(stem_bwd_row)(const eng_stem_bwd_args *a, int oy, float *z, const float *zp,
                           int write);

#endif

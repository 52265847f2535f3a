/*
 * simd/isa_neon_int.h: the SIMD layer's mapping onto Arm NEON (AArch64),
 * four 4-float vectors a 16-channel block.  Included by simd_int.h only, in
 * the objects compiled with GD_SIMD_NEON for AArch64 (NEON is part of the
 * base ISA there: no flag).
 */
#ifndef GIGADREAM_ENGINE_SIMD_ISA_NEON_INT_H
#define GIGADREAM_ENGINE_SIMD_ISA_NEON_INT_H

#include <arm_neon.h>
#include <stdint.h>

#define SIMD_W 4
#define SIMD_CB 8 /* channels a layout block */
#define SIMD_NAME "NEON"
#define SIMD_FN(name) eng_neon_##name
#define SIMD_TABLE eng_kernels_neon

/* Register blocking (32 registers): 6 pixels x 4 vectors (16 channels) in
 * 24 accumulators, 4 for the weights and 1 for the broadcast. */
#define SIMD_PW_P 6
#define SIMD_PW_NV 4

typedef float32x4_t vf;

static inline vf vf_load(const float *p)
{
    return vld1q_f32(p);
}
static inline void vf_store(float *p, vf v)
{
    vst1q_f32(p, v);
}
static inline vf vf_zero(void)
{
    return vdupq_n_f32(0.0f);
}
static inline vf vf_set1(float x)
{
    return vdupq_n_f32(x);
}
/* a b + c, one rounding (FMLA). */
static inline vf vf_fma(vf a, vf b, vf c)
{
    return vfmaq_f32(c, a, b);
}
static inline vf vf_add(vf a, vf b)
{
    return vaddq_f32(a, b);
}
static inline vf vf_mul(vf a, vf b)
{
    return vmulq_f32(a, b);
}
static inline vf vf_max(vf a, vf b)
{
    return vmaxq_f32(a, b);
}
static inline vf vf_min(vf a, vf b)
{
    return vminq_f32(a, b);
}

static inline unsigned vf_inside(vf v, vf lo, vf hi)
{
    static const uint32_t bit[4] = {1, 2, 4, 8};
    const uint32x4_t in = vandq_u32(vcgtq_f32(v, lo), vcltq_f32(v, hi));
    return vaddvq_u32(vandq_u32(in, vld1q_u32(bit)));
}

static inline vf vf_keep(unsigned k, vf v)
{
    static const uint32_t bit[4] = {1, 2, 4, 8};
    const uint32x4_t on = vtstq_u32(vdupq_n_u32(k), vld1q_u32(bit));
    return vreinterpretq_f32_u32(vandq_u32(on, vreinterpretq_u32_f32(v)));
}

static inline unsigned vf_bytes_bits(const uint8_t *m)
{
    return (unsigned)(m[0] != 0) | (unsigned)(m[1] != 0) << 1 | (unsigned)(m[2] != 0) << 2 |
           (unsigned)(m[3] != 0) << 3;
}

static inline void vf_store_bytes(uint8_t *m, unsigned k)
{
    for (int i = 0; i < 4; i++)
        m[i] = (uint8_t)(k >> i & 1u);
}

static inline vf vf_load_bf16(const uint16_t *p)
{
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

#endif

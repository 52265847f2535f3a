/*
 * simd/mask.c: the ReLU / ReLU6 derivative mask, 64 elements a step
 * (contract in kernels_int.h; the step in mask.c).  mask.c's portable loop
 * compiles to SSE2 (no -march), which made this pass several times slower
 * there.
 */
#include <stdint.h>

#include "simd_int.h"

size_t SIMD_FN(mask)(const void *y, int bf16, float hi, uint8_t *m, size_t n)
{
    const size_t blocks = n / 64;
    const vf zero = vf_zero(), top = vf_set1(hi);
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < blocks; b++)
        SIMD_UNROLL
    for (int q = 0; q < 64 / SIMD_W; q++) {
        const size_t i = b * 64 + (size_t)q * SIMD_W;
        const vf v = bf16 ? vf_load_bf16((const uint16_t *)y + i) : vf_load((const float *)y + i);
        vf_store_bytes(m + i, vf_inside(v, zero, top));
    }
    return blocks * 64;
}

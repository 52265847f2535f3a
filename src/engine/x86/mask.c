/*
 * x86/mask.c: the ReLU / ReLU6 derivative mask for AVX-512, 64 elements a
 * step (contract in kernels_int.h; the step in mask.c).  mask.c's portable
 * loop compiles to SSE2 (no -march), which made this pass several times
 * slower there.
 *
 * Compiled for AVX-512 (CMake): everything here runs only through the
 * table kernels.c picked for a CPU that has it.
 */
#include <immintrin.h>
#include <stdint.h>

#include "avx512_int.h"

size_t eng_avx512_mask(const void *y, int bf16, float hi, uint8_t *m, size_t n)
{
    const size_t blocks = n / 64;
    const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(hi);
    const __m512i one = _mm512_set1_epi8(1);
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < blocks; b++) {
        __mmask64 k = 0;
        for (int q = 0; q < 4; q++) {
            size_t i = b * 64 + (size_t)q * 16;
            __m512 v;
            if (bf16) {
                __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)y + i));
                v = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
            } else {
                v = _mm512_loadu_ps((const float *)y + i);
            }
            __mmask16 gt = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ);
            k |= (__mmask64)_mm512_mask_cmp_ps_mask(gt, v, top, _CMP_LT_OQ) << (16 * q);
        }
        _mm512_storeu_si512((void *)(m + b * 64), _mm512_maskz_mov_epi8(k, one));
    }
    return blocks * 64;
}

/*
 * simd/table.c: this object's kernel table (kernels_int.h), named after its
 * ISA: eng_kernels_avx512, eng_kernels_avx2, eng_kernels_neon or
 * eng_kernels_avx512bf16.  Data
 * only: kernels.c hands it to an engine on a CPU that has the ISA, and
 * only then do its kernels run.
 */
#include "simd_int.h"

const eng_kernels SIMD_TABLE = {
    .isa = SIMD_NAME,
    .cblk = SIMD_CB,
    .bf16 = SIMD_IS_BF16,
    .mask = SIMD_FN(mask),
    .pw_fwd = SIMD_FN(pw_fwd),
    .pw_fwd_row = SIMD_FN(pw_fwd_row),
    .pw_bwd = SIMD_FN(pw_bwd),
    .pw_bwd_row = SIMD_FN(pw_bwd_row),
    .dw_fwd_row = SIMD_FN(dw_fwd_row),
    .dw_bwd_row = SIMD_FN(dw_bwd_row),
    .dw1_fwd_row = SIMD_FN(dw1_fwd_row),
    .dw1_bwd_row = SIMD_FN(dw1_bwd_row),
    .stem_fwd_row = SIMD_FN(stem_fwd_row),
    .stem_bwd_row = SIMD_FN(stem_bwd_row),
};

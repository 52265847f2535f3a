/*
 * x86/avx512.c: the AVX-512 kernel table (kernels_int.h).  Data only: it
 * names the kernels; kernels.c hands it to an engine on a CPU where oneDNN
 * may use AVX-512 (AVX512F, BW, VL, DQ with AVX2 and FMA), and only then
 * do they run.
 */
#include "avx512_int.h"

const eng_kernels eng_kernels_avx512 = {
    .isa = "AVX-512",
    .mask = eng_avx512_mask,
    .pw_fwd = eng_avx512_pw_fwd,
    .pw_fwd_row = eng_avx512_pw_fwd_row,
    .pw_bwd = eng_avx512_pw_bwd,
    .pw_bwd_row = eng_avx512_pw_bwd_row,
    .dw_fwd_row = eng_avx512_dw_fwd_row,
    .dw_bwd_row = eng_avx512_dw_bwd_row,
    .dw1_fwd_row = eng_avx512_dw1_fwd_row,
    .dw1_bwd_row = eng_avx512_dw1_bwd_row,
    .stem_fwd_row = eng_avx512_stem_fwd_row,
    .stem_bwd_row = eng_avx512_stem_bwd_row,
};

/*
 * avx512_int.h: the AVX-512 kernels (src/engine/x86/), for the table in
 * avx512.c only.  Every function here may execute AVX-512 instructions:
 * nothing else in the engine calls them by name (kernels_int.h).
 */
#ifndef GIGADREAM_ENGINE_X86_AVX512_INT_H
#define GIGADREAM_ENGINE_X86_AVX512_INT_H

#include "engine/kernels_int.h"

/* mask.c */
size_t eng_avx512_mask(const void *y, int bf16, float hi, uint8_t *m, size_t n);

/* pw.c */
void eng_avx512_pw_fwd(const eng_pw_fwd_args *a);
void eng_avx512_pw_fwd_row(const eng_pw_fwd_args *a, int y, const float *src, float *dst,
                           int keep_bits);
void eng_avx512_pw_bwd(const eng_pw_bwd_args *a);
void eng_avx512_pw_bwd_row(const eng_pw_bwd_args *a, int y, const float *stage, float *dst);

/* dw.c */
void eng_avx512_dw_fwd_row(const eng_dw_args *a, const float *ring, int oy);
void eng_avx512_dw_bwd_row(const eng_dw_args *a, int iy, float *stage);
void eng_avx512_dw1_fwd_row(const eng_dw1_args *a, const float *ring, int y, float *xrow);
void eng_avx512_dw1_bwd_row(const eng_dw1_args *a, const float *ring, int y, float *out, size_t px,
                            size_t cs);

/* stem.c */
void eng_avx512_stem_fwd_row(const eng_stem_fwd_args *a, int oy, float *dst, int keep_mask);
void eng_avx512_stem_bwd_row(const eng_stem_bwd_args *a, int oy, float *z, const float *zp,
                             int write);

#endif

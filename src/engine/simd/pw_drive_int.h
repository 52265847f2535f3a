/*
 * pw_drive_int.h: the drivers of the 1x1 kernels (whole tensor and one row,
 * forward and backward), shared by pw.c (f32 tables) and pw_bf16.c (the
 * AVX-512 BF16 table).  Each includes it at its end, after defining its own
 * blocks: pwf_block, pw_block, pw_one, pw_gemm and pw_one_gemm, PW_P and
 * PW_STRIDE, over its element type act_t (simd_int.h).  Not a header of its
 * own: it has no include guard and defines functions.
 */
void SIMD_FN(pw_fwd)(const eng_pw_fwd_args *a)
{
    const size_t blocks = (a->hw + PW_P - 1) / PW_P;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < blocks; b++) {
        size_t p0 = b * PW_P;
        pwf_block(a, p0, a->hw - p0 < PW_P ? (int)(a->hw - p0) : PW_P);
    }
}

void SIMD_FN(pw_fwd_row)(const eng_pw_fwd_args *a, int y, const float *src, float *dst,
                         int keep_bits)
{
    eng_pw_fwd_args r = *a;
    r.xrow = src;
    r.yrow = dst;
    r.row0 = (size_t)y * r.w;
    if (!keep_bits)
        r.bits = r.jbits = NULL;
    for (size_t x = 0; x < r.w; x += PW_P)
        pwf_block(&r, r.row0 + x, r.w - x < PW_P ? (int)(r.w - x) : PW_P);
}

void SIMD_FN(pw_bwd)(const eng_pw_bwd_args *a)
{
    const size_t hw = a->hw, blocks = hw / PW_P;
#pragma omp parallel
    {
        act_t stage[PW_P * PW_STRIDE];
#pragma omp for schedule(static)
        for (size_t b = 0; b < blocks; b++)
            pw_block(a, b * PW_P, stage);
#pragma omp for schedule(static)
        for (size_t p = blocks * PW_P; p < hw; p++)
            pw_one(a, p, stage);
    }
}

void SIMD_FN(pw_bwd_row)(const eng_pw_bwd_args *a, int y, const float *stage, float *dst)
{
    eng_pw_bwd_args r = *a;
    const size_t w = r.rw, p0 = (size_t)y * w, stride = (size_t)eng_pwdw_stride(r.o);
    const act_t *st = (const act_t *)stage;
    r.dxrow = dst;
    r.row0 = p0;
    size_t x = 0;
    /* The stride a constant in each, so the PW_P rows are fixed offsets. */
    for (; x + PW_P <= w; x += PW_P)
        switch (stride) {
        case ENG_PWDW_STRIDE_64:
            pw_gemm(&r, p0 + x, st + x * stride, ENG_PWDW_STRIDE_64);
            break;
        case ENG_PWDW_STRIDE_128:
            pw_gemm(&r, p0 + x, st + x * stride, ENG_PWDW_STRIDE_128);
            break;
        default:
            pw_gemm(&r, p0 + x, st + x * stride, ENG_PWDW_STRIDE_256);
            break;
        }
    for (; x < w; x++)
        pw_one_gemm(&r, p0 + x, st + x * stride);
}

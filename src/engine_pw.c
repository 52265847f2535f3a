/*
 * engine_pw.c: a 1x1 convolution's backward-data with its own ReLU / ReLU6
 * backward, and its input's folded mask, in one pass of ours (contract in
 * engine_internal.h, "Own 1x1 backward").
 *
 * Where a 1x1 convolution's activation cannot be folded into its reader's
 * backward (MobileNet V1: the three pointwise layers read by a stride-2
 * depthwise), oneDNN's way is two passes: an eltwise backward rewrites the
 * gradient in place from the activation, then a 1x1 convolution with the
 * transposed weights (and the input's mask as a post-op) reads it again.
 * On a 576 x 576 MobileNet V1 tile the first of them, 64 -> 32 channels on
 * 288 x 288, cost 0.99 ms (eltwise) + 1.67 ms (oneDNN's 1x1 with 32 output
 * channels runs at ~200 GFLOP/s there).  Here a block of P pixels has its
 * gradient multiplied by the activation's derivative into an L1 buffer,
 * then summed against the weights in registers, multiplied by the input's
 * mask and written once.
 *
 * Each output element is sum over o = 0..O-1, in that order, of
 * g[o] * W[o][c] (fused multiply-adds): the same result for any thread
 * count.  Only f32 in 16-channel blocked layouts with dense rows, on a CPU
 * where oneDNN may use AVX-512 (so ONEDNN_MAX_CPU_ISA limits this loop too).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "gigadream/error.h"

#define PW_MAX_O 1024 /* most channels the gradient may have: the L1 buffer */
/* Most channels the loop writes: with more, oneDNN's 1x1 kernels run near
 * the FLOP peak and win despite the extra pass (576 x 576 MobileNet V1
 * tile: 128 -> 2.18 ms here against 2.04 ms; 32 -> 1.72 against 2.66). */
#define PW_MAX_C 64

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_PW 1
#endif

/* The three (or four) layouts of node i's step, when the loop can address them. */
static int layouts(const gd_engine *e, int i, eng_layout *dy, eng_layout *y, eng_layout *dx)
{
    int j = e->model->nodes[i].inputs[0];
    const dnnl_memory_desc_t *m[3] = {&e->dmd[i], &e->md[i], &e->dmd[j]};
    eng_layout *l[3] = {dy, y, dx};
    const int w = e->shapes[i].w;
    for (int k = 0; k < 3; k++) {
        for (int d = 0; d < m[k]->ndims; d++)
            if (m[k]->padded_dims[d] != m[k]->dims[d])
                return 0;
        if (!eng_layout_of(m[k], l[k]) || l[k]->bf16 || l[k]->cblk != 16 || l[k]->sx != 16 ||
            l[k]->sy != (dnnl_dim_t)w * 16)
            return 0;
    }
    return 1;
}

int eng_pw_fusable(const gd_engine *e, int i)
{
#ifdef HAVE_PW
    const gd_node *n = &e->model->nodes[i];
    if (e->dt != dnnl_f32 || n->op != GD_OP_CONV || n->n_inputs != 1 || n->groups != 1 ||
        n->kh != 1 || n->kw != 1 || n->sh != 1 || n->sw != 1 ||
        (n->act != GD_ACT_RELU && n->act != GD_ACT_RELU6) || e->act_fused[i] || !e->diff[i] ||
        e->act_buf[i] < 0)
        return 0;
    int j = n->inputs[0];
    gd_shape in = e->shapes[j], out = e->shapes[i];
    if (j <= 0 || e->diff_started[j] || in.h != out.h || in.w != out.w || in.c % 32 ||
        in.c > PW_MAX_C || out.c % 16 || out.c > PW_MAX_O)
        return 0;
    int pt, pb, pl, pr;
    gd_node_padding(n, in, &pt, &pb, &pl, &pr);
    if (pt || pb || pl || pr)
        return 0;
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if ((isa & dnnl_cpu_isa_avx512_core) != dnnl_cpu_isa_avx512_core)
        return 0;
    eng_layout dy, y, dx;
    return layouts(e, i, &dy, &y, &dx);
#else
    (void)e;
    (void)i;
    return 0;
#endif
}

gd_status eng_pw_plan(gd_engine *e, int i, gd_err *err)
{
    const gd_node *n = &e->model->nodes[i];
    eng_layout dy, y, dx;
    if (!layouts(e, i, &dy, &y, &dx))
        return gd_err_set(err, GD_ELIB, "node '%s': 1x1 backward layouts changed", n->name);
    const int j = n->inputs[0];
    gd_status st = GD_OK;
    /* The input's activation, when i is its only reader: its mask, as
     * bwd_conv_masked would have multiplied it in. */
    if (eng_mask_fusable(e, i) && (st = eng_mask_plan(e, j, err)) != GD_OK)
        return st;
    if ((st = eng_step_own(&e->bwd, i, ENG_STEP_PW, "1x1 backward with activations", err)) != GD_OK)
        return st;
    if (e->mask_buf[j] >= 0)
        e->act_fused[j] = 1;
    e->diff_started[j] = 1;
    return GD_OK;
}

#ifdef HAVE_PW
/* Everything from here to the matching pop is compiled for AVX-512 and
 * only ever called when eng_pw_fusable said the CPU has it. */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,fma,prfchw")

/* What the loop reads and writes. */
typedef struct pw_args {
    const float *dy, *y, *w; /* diff[i], act[i] (O channels), weights [O][C] */
    const uint8_t *mask;     /* input j's derivative (dx's layout), or NULL */
    float *dx;               /* diff[j] (C channels) */
    eng_layout ldy, ly, ldx;
    int o, c;
    size_t hw; /* pixels */
    float hi;
} pw_args;

#define PW_P 12                   /* pixels per block: 12 x 2 accumulators of 16 channels */
#define PW_AHEAD 4                /* blocks prefetched ahead */
#define PW_STRIDE (PW_MAX_O + 16) /* floats between stage rows (not 4 KB: L1 sets) */

/* P pixels from p0: the gradient times the activation's derivative, into
 * stage row p (O floats each). */
static inline void pw_stage(const pw_args *a, size_t p0, int P, float *restrict stage)
{
    const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(a->hi);
    for (int ob = 0; ob < a->o / 16; ob++) {
        const float *g = a->dy + a->ldy.off0 + ob * a->ldy.sc + p0 * 16;
        const float *y = a->y + a->ly.off0 + ob * a->ly.sc + p0 * 16;
        for (int p = 0; p < P; p++) {
            __m512 v = _mm512_loadu_ps(y + p * 16);
            __mmask16 k = _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), v, top,
                                                  _CMP_LT_OQ);
            _mm512_storeu_ps(stage + p * PW_STRIDE + ob * 16,
                             _mm512_maskz_mov_ps(k, _mm512_loadu_ps(g + p * 16)));
        }
    }
}

/* Pixel p0 + p's 16 channels of block cb: times the input's mask, stored. */
static inline void pw_store(const pw_args *a, size_t p0, int p, int cb, __m512 r)
{
    const dnnl_dim_t at = a->ldx.off0 + (dnnl_dim_t)cb * a->ldx.sc + (dnnl_dim_t)(p0 + p) * 16;
    if (a->mask) {
        __m128i m = _mm_loadu_si128((const __m128i *)(a->mask + at));
        r = _mm512_maskz_mov_ps(_mm_test_epi8_mask(m, m), r);
    }
    _mm512_storeu_ps(a->dx + at, r);
}

/* M(p) for each of the PW_P pixels of a block. */
#define PW_EACH(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)

/* PW_P pixels: 24 accumulators, named so they stay in registers. */
static void pw_block(const pw_args *a, size_t p0, float *restrict stage)
{
    const int O = a->o, C = a->c;
    pw_stage(a, p0, PW_P, stage);
    /* A block PW_AHEAD on: its gradient and activation lines on their way
     * from memory while this one computes, its output lines owned for
     * writing (576x576 V1 tile, Conv2d_1_pointwise: 1.98 ms with 2 blocks
     * ahead and no write prefetch, 1.77 ms so). */
    const size_t ahead = p0 + PW_AHEAD * PW_P;
    for (int ob = 0; ahead + PW_P <= a->hw && ob < O / 16; ob++) {
        const float *g = a->dy + a->ldy.off0 + ob * a->ldy.sc + ahead * 16;
        const float *y = a->y + a->ly.off0 + ob * a->ly.sc + ahead * 16;
        for (int p = 0; p < PW_P; p++) {
            _mm_prefetch((const char *)(g + p * 16), _MM_HINT_T0);
            _mm_prefetch((const char *)(y + p * 16), _MM_HINT_T0);
        }
    }
    for (int cb = 0; ahead + PW_P <= a->hw && cb < C / 16; cb++) {
        const float *x = a->dx + a->ldx.off0 + cb * a->ldx.sc + ahead * 16;
        for (int p = 0; p < PW_P; p++)
            __builtin_prefetch(x + p * 16, 1, 3);
    }
    for (int cb = 0; cb < C / 16; cb += 2) {
#define PW_ACC(p) __m512 x##p = _mm512_setzero_ps(), y##p = _mm512_setzero_ps();
        PW_EACH(PW_ACC)
        const float *w = a->w + cb * 16;
        for (int o = 0; o < O; o++, w += C) {
            const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
            const float *g = stage + o;
#define PW_FMA(p)                                                                                  \
    do {                                                                                           \
        __m512 b = _mm512_set1_ps(g[(p)*PW_STRIDE]);                                               \
        x##p = _mm512_fmadd_ps(b, w0, x##p);                                                       \
        y##p = _mm512_fmadd_ps(b, w1, y##p);                                                       \
    } while (0);
            PW_EACH(PW_FMA)
        }
#define PW_OUT(p) pw_store(a, p0, p, cb, x##p), pw_store(a, p0, p, cb + 1, y##p);
        PW_EACH(PW_OUT)
#undef PW_ACC
#undef PW_FMA
#undef PW_OUT
    }
}

/* One pixel (the last hw % PW_P): the same sums. */
static void pw_one(const pw_args *a, size_t p0, float *restrict stage)
{
    pw_stage(a, p0, 1, stage);
    for (int cb = 0; cb < a->c / 16; cb++) {
        __m512 x = _mm512_setzero_ps();
        for (int o = 0; o < a->o; o++)
            x = _mm512_fmadd_ps(_mm512_set1_ps(stage[o]),
                                _mm512_loadu_ps(a->w + (size_t)o * a->c + cb * 16), x);
        pw_store(a, p0, 0, cb, x);
    }
}
#pragma GCC pop_options
#endif

void eng_pw_run(gd_engine *e, int i)
{
#ifdef HAVE_PW
    const gd_node *n = &e->model->nodes[i];
    const int j = n->inputs[0];
    pw_args a = {.dy = e->bufs[e->diff_buf[i]].ptr,
                 .y = e->bufs[e->act_buf[i]].ptr,
                 .w = n->weights,
                 .mask = e->mask_buf[j] >= 0 ? e->bufs[e->mask_buf[j]].ptr : NULL,
                 .dx = e->bufs[e->diff_buf[j]].ptr,
                 .o = n->out_c,
                 .c = e->shapes[j].c,
                 .hi = n->act == GD_ACT_RELU6 ? 6.0f : INFINITY};
    layouts(e, i, &a.ldy, &a.ly, &a.ldx);
    a.hw = (size_t)e->shapes[i].h * e->shapes[i].w;
    const size_t hw = a.hw, blocks = hw / PW_P;
#pragma omp parallel
    {
        float stage[PW_P * PW_STRIDE];
#pragma omp for schedule(static)
        for (size_t b = 0; b < blocks; b++)
            pw_block(&a, b * PW_P, stage);
#pragma omp for schedule(static)
        for (size_t p = blocks * PW_P; p < hw; p++)
            pw_one(&a, p, stage);
    }
#else
    (void)e;
    (void)i;
#endif
}

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
 *
 * Reading the 21 MB activation back from memory was a third of that
 * backward (1.98 ms with it, 1.35 ms with the derivative given).  So where
 * the backward will surely be ours (the 1x1's one reader has stride 2, and
 * O is a multiple of 64), its forward is ours too: 12 pixels x 32 channels
 * in 24 accumulators, bias first, then x[c] W[c][o] for c in order,
 * clipped, stored, and the derivative written as bits (16 channels to a
 * uint16_t) on the way; and the input's derivative as bits too, which
 * replaces its byte mask and the pass making it.  0.89 ms against oneDNN's
 * 0.80-0.92 for MobileNet V1's Conv2d_1_pointwise; the backward then takes
 * 1.35-1.39 ms, and the tile 29.35 ms against 30.59 (6 alternating runs).
 *
 * engine_pwdw.c runs both loops a row at a time inside its steps (the
 * eng_pw_*_row entry points), with the data in cache; there they take up
 * to ENG_PWDW_MAX_O input channels (MobileNet V1's Conv2d_3 and
 * _5_pointwise, 128 and 256).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "gigadream/error.h"

#define PW_MAX_O 1024 /* most channels the gradient may have: the L1 buffer */
/* Most channels the loop writes on its own: with more, oneDNN's 1x1
 * kernels run near the FLOP peak and win despite the extra pass (576 x 576
 * MobileNet V1 tile: 128 -> 2.18 ms here against 2.04 ms; 32 -> 1.72
 * against 2.66).  Inside engine_pwdw.c's steps, whose data is in cache, up
 * to ENG_PWDW_MAX_O. */
#define PW_MAX_C 64

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_PW 1
#endif

/* The layouts of node i's step: i's gradient and activation, j's gradient. */
static int layouts(const gd_engine *e, int i, eng_layout *dy, eng_layout *y, eng_layout *dx)
{
    const int j = e->model->nodes[i].inputs[0];
    return eng_blocked16(&e->nodes[i].dmd, e->nodes[i].shape.w, dy) &&
           eng_blocked16(&e->nodes[i].md, e->nodes[i].shape.w, y) &&
           eng_blocked16(&e->nodes[j].dmd, e->nodes[j].shape.w, dx);
}

/* Node i's own shape for either loop: an f32 1x1 ReLU/ReLU6 convolution,
 * stride 1, groups 1, no padding, of a node j > 0 of the same size, with
 * C = j's channels a multiple of 32 up to max_c and O = i's a multiple
 * of 16 up to PW_MAX_O; oneDNN allowed AVX-512. */
static int pw_shape(const gd_engine *e, int i, int max_c)
{
#ifdef HAVE_PW
    const gd_node *n = &e->model->nodes[i];
    if (e->dt != dnnl_f32 || n->op != GD_OP_CONV || n->n_inputs != 1 || n->groups != 1 ||
        n->kh != 1 || n->kw != 1 || n->sh != 1 || n->sw != 1 ||
        (n->act != GD_ACT_RELU && n->act != GD_ACT_RELU6))
        return 0;
    int j = n->inputs[0];
    gd_shape in = e->nodes[j].shape, out = e->nodes[i].shape;
    if (j <= 0 || in.h != out.h || in.w != out.w || in.c % 32 || in.c > max_c || out.c % 16 ||
        out.c > PW_MAX_O)
        return 0;
    int pt, pb, pl, pr;
    gd_node_padding(n, in, &pt, &pb, &pl, &pr);
    if (pt || pb || pl || pr)
        return 0;
    return eng_own_isa(e);
#else
    (void)e;
    (void)i;
    (void)max_c;
    return 0;
#endif
}

int eng_pw_fusable(const gd_engine *e, int i)
{
    eng_layout dy, y, dx;
    return pw_shape(e, i, e->nodes[i].fuse_bwd.dw >= 0 ? ENG_PWDW_MAX_O : PW_MAX_C) &&
           !e->nodes[i].act_fused && (e->nodes[i].diff || e->nodes[i].fuse_bwd.dw >= 0) &&
           e->nodes[i].act_buf >= 0 && !e->nodes[e->model->nodes[i].inputs[0]].diff_started &&
           layouts(e, i, &dy, &y, &dx);
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
    if (e->nodes[j].bits_buf < 0 && eng_mask_fusable(e, i) &&
        (st = eng_mask_plan(e, j, err)) != GD_OK)
        return st;
    if ((st = eng_step_own(&e->bwd, i, ENG_STEP_PW, "1x1 backward with activations", err)) != GD_OK)
        return st;
    if (e->nodes[j].mask_buf >= 0 || e->nodes[j].bits_buf >= 0)
        e->nodes[j].act_fused = 1;
    if (e->nodes[i].fuse_bwd.head >= 0)
        e->bwd.v[e->bwd.n - 1].what =
            e->nodes[i].fuse_bwd.head == e->stem_fwd
                ? "stride-2 depthwise, 1x1, depthwise and first convolution backward"
                : "stride-2 depthwise, 1x1, depthwise and 1x1 backward";
    else if (e->nodes[i].fuse_bwd.pre >= 0)
        e->bwd.v[e->bwd.n - 1].what = "stride-2 depthwise, 1x1 and depthwise backward";
    else if (e->nodes[i].fuse_bwd.dw >= 0)
        e->bwd.v[e->bwd.n - 1].what = "stride-2 depthwise and 1x1 backward";
    if (e->nodes[i].fuse_bwd.pre < 0)
        e->nodes[j].diff_started = 1; /* else j's gradient is never made, nor its backward */
    return GD_OK;
}

/* i's and j's activations in layouts the forward loop can address. */
static int fwd_layouts(const gd_engine *e, int i, int j)
{
    eng_layout l;
    return eng_blocked16(&e->nodes[i].md, e->nodes[i].shape.w, &l) &&
           eng_blocked16(&e->nodes[j].md, e->nodes[j].shape.w, &l);
}

int eng_pw_fwd_ok(const gd_engine *e, int i, dnnl_memory_t src)
{
    const gd_node *n = &e->model->nodes[i];
    const int j = n->inputs[0];
    if (!e->backward || !pw_shape(e, i, ENG_PWDW_MAX_O) || n->out_c % 64 || !n->bias ||
        e->nodes[i].act_buf < 0 || src != e->nodes[j].act || eng_consumers(e, i) != 1)
        return 0;
    for (int q = 0; q < e->n_outputs; q++)
        if (e->outputs[q] == i)
            return 0;
    /* Its one reader strides: it folds no activation, so the backward is
     * ours; past PW_MAX_C input channels, only inside engine_pwdw.c's step. */
    for (int k = i + 1; k < e->model->n_nodes; k++) {
        const gd_node *r = &e->model->nodes[k];
        if (e->nodes[k].need && r->n_inputs == 1 && r->inputs[0] == i)
            return r->op == GD_OP_CONV && (r->sh != 1 || r->sw != 1) && fwd_layouts(e, i, j) &&
                   (e->nodes[j].shape.c <= PW_MAX_C || eng_pwdw_reader(e, k));
    }
    return 0;
}

int eng_pw_head_ok(const gd_engine *e, int s)
{
    const gd_node *n = &e->model->nodes[s];
    if (!pw_shape(e, s, ENG_PWDW_MAX_O) || n->out_c % 32 || !n->bias || e->nodes[s].act_buf < 0 ||
        eng_consumers(e, s) != 1)
        return 0;
    for (int q = 0; q < e->n_outputs; q++)
        if (e->outputs[q] == s)
            return 0;
    return fwd_layouts(e, s, n->inputs[0]);
}

gd_status eng_pw_fwd_prepare(gd_engine *e, int i, gd_err *err)
{
    const gd_node *n = &e->model->nodes[i];
    const int c = e->nodes[n->inputs[0]].shape.c, o = n->out_c;
    const size_t hw = (size_t)e->nodes[i].shape.h * e->nodes[i].shape.w;
    /* W[o][c] (the model's 1x1 kernel) -> [c][o]. */
    float *t = gd_malloc((size_t)c * o * sizeof *t, "1x1 forward weights", err);
    if (!t)
        return err->status;
    for (int q = 0; q < o; q++)
        for (int ch = 0; ch < c; ch++)
            t[(size_t)ch * o + q] = n->weights[(size_t)q * c + ch];
    free(e->nodes[i].wt_fwd);
    e->nodes[i].wt_fwd = t;
    if ((e->nodes[i].bits_buf = eng_buf_new(e, (size_t)(o / 16) * hw * sizeof(uint16_t), err)) < 0)
        return err->status;
    /* The input's derivative too, when i's backward will fold it (in place
     * of the byte mask and its pass over j's activation). */
    const int j = n->inputs[0];
    if (eng_mask_fusable(e, i) &&
        (e->nodes[j].bits_buf = eng_buf_new(e, (size_t)(c / 16) * hw * sizeof(uint16_t), err)) < 0)
        return err->status;
    return GD_OK;
}

gd_status eng_pw_fwd_plan(gd_engine *e, int i, gd_err *err)
{
    gd_status st = eng_pw_fwd_prepare(e, i, err);
    if (st != GD_OK)
        return st;
    return eng_step_own(&e->fwd, i, ENG_STEP_PW_FWD, "1x1 forward with derivative bits", err);
}

#ifdef HAVE_PW
/* Everything from here to the matching pop is compiled for AVX-512 and
 * only ever called when eng_pw_fusable said the CPU has it. */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,fma,prfchw")

/* What the loop reads and writes. */
typedef struct pw_args {
    const float *dy, *y, *w; /* diff[i], act[i] (O channels), weights [O][C] */
    const uint16_t *bits;    /* i's derivative as bits ([O / 16][hw]), or NULL: from y */
    const uint8_t *mask;     /* input j's derivative (dx's layout), or NULL */
    const uint16_t *jbits;   /* or as bits ([C / 16][hw]), or NULL */
    float *dx;               /* diff[j] (C channels) */
    float *dxrow;            /* or, when set, one row of it: [C / 16][rw][16] from pixel row0 */
    size_t row0, rw;
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
    if (a->bits) {
        for (int ob = 0; ob < a->o / 16; ob++) {
            const float *g = a->dy + a->ldy.off0 + ob * a->ldy.sc + p0 * 16;
            const uint16_t *k = a->bits + ob * a->hw + p0;
            for (int p = 0; p < P; p++)
                _mm512_storeu_ps(stage + p * PW_STRIDE + ob * 16,
                                 _mm512_maskz_mov_ps(k[p], _mm512_loadu_ps(g + p * 16)));
        }
        return;
    }
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
    if (a->jbits) {
        r = _mm512_maskz_mov_ps(a->jbits[cb * a->hw + p0 + p], r);
    } else if (a->mask) {
        __m128i m = _mm_loadu_si128((const __m128i *)(a->mask + at));
        r = _mm512_maskz_mov_ps(_mm_test_epi8_mask(m, m), r);
    }
    if (a->dxrow)
        _mm512_storeu_ps(a->dxrow + ((size_t)cb * a->rw + p0 + p - a->row0) * 16, r);
    else
        _mm512_storeu_ps(a->dx + at, r);
}

/* M(p) for each of the PW_P pixels of a block. */
#define PW_EACH(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)

/*
 * PW_P pixels from p0, their staged gradient rows `stride` floats apart (a
 * constant where this is inlined): 24 accumulators, named so they stay in
 * registers, summed over o in order, then stored.
 */
static inline __attribute__((always_inline)) void
pw_gemm(const pw_args *a, size_t p0, const float *restrict stage, const int stride)
{
    const int O = a->o, C = a->c;
    for (int cb = 0; cb < C / 16; cb += 2) {
#define PW_ACC(p) __m512 x##p = _mm512_setzero_ps(), y##p = _mm512_setzero_ps();
        PW_EACH(PW_ACC)
        const float *w = a->w + cb * 16;
        for (int o = 0; o < O; o++, w += C) {
            const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
            const float *g = stage + o;
#define PW_FMA(p)                                                                                  \
    do {                                                                                           \
        __m512 b = _mm512_set1_ps(g[(p)*stride]);                                                  \
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

/* PW_P pixels from p0: staged from diff[i], then summed. */
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
            if (!a->bits)
                _mm_prefetch((const char *)(y + p * 16), _MM_HINT_T0);
        }
    }
    for (int cb = 0; ahead + PW_P <= a->hw && cb < C / 16; cb++) {
        const float *x = a->dx + a->ldx.off0 + cb * a->ldx.sc + ahead * 16;
        for (int p = 0; p < PW_P; p++)
            __builtin_prefetch(x + p * 16, 1, 3);
    }
    pw_gemm(a, p0, stage, PW_STRIDE);
}

/* One pixel whose staged gradient is stage[0 .. O): the same sums. */
static void pw_one_gemm(const pw_args *a, size_t p0, const float *restrict stage)
{
    for (int cb = 0; cb < a->c / 16; cb++) {
        __m512 x = _mm512_setzero_ps();
        for (int o = 0; o < a->o; o++)
            x = _mm512_fmadd_ps(_mm512_set1_ps(stage[o]),
                                _mm512_loadu_ps(a->w + (size_t)o * a->c + cb * 16), x);
        pw_store(a, p0, 0, cb, x);
    }
}

/* One pixel (the last hw % PW_P): the same sums. */
static void pw_one(const pw_args *a, size_t p0, float *restrict stage)
{
    pw_stage(a, p0, 1, stage);
    pw_one_gemm(a, p0, stage);
}
/* What the forward loop reads and writes. */
typedef struct pwf_args {
    const float *x, *wt, *bias; /* j's activation (C), weights [C][O], bias [O] */
    const float *xrow;          /* or, when set, one row of it, laid out as yrow */
    float *y;                   /* i's activation (O) */
    float *yrow;                /* or, when set, one row of it: [O / 16][w][16] from pixel row0 */
    size_t row0, w;
    uint16_t *bits;  /* its derivative, [O / 16][hw], or NULL: not kept */
    uint16_t *jbits; /* j's derivative, [C / 16][hw], or NULL */
    eng_layout lx, ly;
    int o, c;
    size_t hw;
    float hi, jhi; /* 6 (relu6) or infinity (relu): i's, j's */
} pwf_args;

#define PWF_P PW_P /* pixels per block: 12 x 2 accumulators of 16 channels */

/* Input pixel q's channel block cb. */
static inline const float *pwf_x(const pwf_args *a, size_t q, int cb)
{
    if (a->xrow)
        return a->xrow + ((size_t)cb * a->w + q - a->row0) * 16;
    return a->x + a->lx.off0 + cb * a->lx.sc + q * 16;
}

/* Pixel p0 + p, channel block ob: bias + sums, clipped, stored with its bits. */
static inline void pwf_store(const pwf_args *a, size_t p0, int p, int ob, __m512 r)
{
    const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(a->hi);
    r = _mm512_min_ps(_mm512_max_ps(r, zero), top);
    if (a->yrow)
        _mm512_storeu_ps(a->yrow + ((size_t)ob * a->w + p0 + p - a->row0) * 16, r);
    else
        _mm512_storeu_ps(a->y + a->ly.off0 + ob * a->ly.sc + (p0 + p) * 16, r);
    if (a->bits)
        a->bits[ob * a->hw + p0 + p] =
            _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(r, zero, _CMP_GT_OQ), r, top, _CMP_LT_OQ);
}

/* The input's derivative bits of pixels [p0, p0 + n), when kept. */
static inline void pwf_jbits(const pwf_args *a, size_t p0, int n)
{
    if (!a->jbits)
        return;
    const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(a->jhi);
    for (int cb = 0; cb < a->c / 16; cb++)
        for (int p = 0; p < n; p++) {
            __m512 v = _mm512_loadu_ps(pwf_x(a, p0 + p, cb));
            a->jbits[cb * a->hw + p0 + p] = _mm512_mask_cmp_ps_mask(
                _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), v, top, _CMP_LT_OQ);
        }
}

/*
 * PWF_P pixels from p0 (fewer at the end: n): per group of 32 output
 * channels, 24 accumulators from the bias, plus x[c] W[c][o] for c in
 * order.  (Groups of 64 over 6 pixels ran as fast for C = 32, but past 128
 * input channels their weights, C x 256 bytes, no longer stay in L1 from
 * one block to the next; 32-channel groups' do, up to 32 KB at C = 256.)
 */
static void pwf_block(const pwf_args *a, size_t p0, int n)
{
    pwf_jbits(a, p0, n);
    for (int og = 0; og < a->o / 32; og++) {
        const __m512 b0 = _mm512_loadu_ps(a->bias + og * 32),
                     b1 = _mm512_loadu_ps(a->bias + og * 32 + 16);
#define PWF_ACC(p) __m512 q0##p = b0, q1##p = b1;
        PW_EACH(PWF_ACC)
        const float *w = a->wt + og * 32;
        for (int c = 0; c < a->c; c++, w += a->o) {
            const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
            const float *x = pwf_x(a, p0, c / 16) + c % 16;
#define PWF_FMA(p)                                                                                 \
    if ((p) < n) {                                                                                 \
        __m512 b = _mm512_set1_ps(x[(p)*16]);                                                      \
        q0##p = _mm512_fmadd_ps(b, w0, q0##p);                                                     \
        q1##p = _mm512_fmadd_ps(b, w1, q1##p);                                                     \
    }
            PW_EACH(PWF_FMA)
        }
#define PWF_OUT(p)                                                                                 \
    if ((p) < n) {                                                                                 \
        pwf_store(a, p0, p, og * 2, q0##p);                                                        \
        pwf_store(a, p0, p, og * 2 + 1, q1##p);                                                    \
    }
        PW_EACH(PWF_OUT)
#undef PWF_ACC
#undef PWF_FMA
#undef PWF_OUT
    }
}

/* Node i's forward arguments; with row >= 0 for that row alone, into dst
 * (see eng_pw_fwd_row). */
static void pwf_setup(const gd_engine *e, int i, pwf_args *a)
{
    const gd_node *n = &e->model->nodes[i];
    const int j = n->inputs[0];
    *a = (pwf_args){.x = e->bufs[e->nodes[j].act_buf].ptr, /* NULL when j runs inside (fuse_pre) */
                    .wt = e->nodes[i].wt_fwd,
                    .bias = n->bias,
                    .bits = e->bufs[e->nodes[i].bits_buf].ptr,
                    .o = n->out_c,
                    .c = e->nodes[j].shape.c,
                    .w = (size_t)e->nodes[i].shape.w,
                    .hw = (size_t)e->nodes[i].shape.h * e->nodes[i].shape.w,
                    .hi = n->act == GD_ACT_RELU6 ? 6.0f : INFINITY,
                    .jhi = e->model->nodes[j].act == GD_ACT_RELU6 ? 6.0f : INFINITY};
    if (e->nodes[i].fuse_fwd.dw < 0)
        a->y = e->bufs[e->nodes[i].act_buf].ptr;
    if (e->nodes[j].bits_buf >= 0)
        a->jbits = e->bufs[e->nodes[j].bits_buf].ptr;
    eng_blocked16(&e->nodes[j].md, e->nodes[j].shape.w, &a->lx);
    eng_blocked16(&e->nodes[i].md, e->nodes[i].shape.w, &a->ly);
}

void eng_pw_fwd_row(const gd_engine *e, int i, int y, const float *src, float *dst, int keep_bits)
{
    pwf_args a;
    pwf_setup(e, i, &a);
    a.xrow = src;
    a.yrow = dst;
    a.row0 = (size_t)y * a.w;
    if (!keep_bits)
        a.bits = a.jbits = NULL;
    for (size_t x = 0; x < a.w; x += PWF_P)
        pwf_block(&a, a.row0 + x, a.w - x < PWF_P ? (int)(a.w - x) : PWF_P);
}

/* Node i's backward arguments. */
static void pw_setup(const gd_engine *e, int i, pw_args *a)
{
    const gd_node *n = &e->model->nodes[i];
    const int j = n->inputs[0];
    *a = (pw_args){.w = n->weights,
                   .mask = e->nodes[j].mask_buf >= 0 ? e->bufs[e->nodes[j].mask_buf].ptr : NULL,
                   .dx = e->nodes[j].diff_buf >= 0 ? e->bufs[e->nodes[j].diff_buf].ptr : NULL,
                   .rw = (size_t)e->nodes[i].shape.w,
                   .o = n->out_c,
                   .c = e->nodes[j].shape.c,
                   .hw = (size_t)e->nodes[i].shape.h * e->nodes[i].shape.w,
                   .hi = n->act == GD_ACT_RELU6 ? 6.0f : INFINITY};
    if (e->nodes[i].diff_buf >= 0) /* else (engine_pwdw.c) the caller stages it */
        a->dy = e->bufs[e->nodes[i].diff_buf].ptr;
    a->y = e->bufs[e->nodes[i].act_buf].ptr;
    if (e->nodes[i].bits_buf >= 0)
        a->bits = e->bufs[e->nodes[i].bits_buf].ptr;
    if (e->nodes[j].bits_buf >= 0)
        a->jbits = e->bufs[e->nodes[j].bits_buf].ptr;
    layouts(e, i, &a->ldy, &a->ly, &a->ldx);
}

void eng_pw_bwd_row(const gd_engine *e, int i, int y, const float *stage, float *dst)
{
    pw_args a;
    pw_setup(e, i, &a);
    const size_t w = a.rw, p0 = (size_t)y * w, stride = (size_t)eng_pwdw_stride(a.o);
    a.dxrow = dst;
    a.row0 = p0;
    size_t x = 0;
    /* The stride a constant in each, so the 12 rows are fixed offsets. */
    for (; x + PW_P <= w; x += PW_P)
        switch (stride) {
        case ENG_PWDW_STRIDE_64:
            pw_gemm(&a, p0 + x, stage + x * stride, ENG_PWDW_STRIDE_64);
            break;
        case ENG_PWDW_STRIDE_128:
            pw_gemm(&a, p0 + x, stage + x * stride, ENG_PWDW_STRIDE_128);
            break;
        default:
            pw_gemm(&a, p0 + x, stage + x * stride, ENG_PWDW_STRIDE_256);
            break;
        }
    for (; x < w; x++)
        pw_one_gemm(&a, p0 + x, stage + x * stride);
}
#pragma GCC pop_options
#endif

void eng_pw_fwd_run(gd_engine *e, int i)
{
#ifdef HAVE_PW
    if (e->nodes[i].fuse_fwd.dw >= 0) {
        eng_pwdw_fwd_run(e, i);
        return;
    }
    pwf_args a;
    pwf_setup(e, i, &a);
    const size_t blocks = (a.hw + PWF_P - 1) / PWF_P;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < blocks; b++) {
        size_t p0 = b * PWF_P;
        pwf_block(&a, p0, a.hw - p0 < PWF_P ? (int)(a.hw - p0) : PWF_P);
    }
#else
    (void)e;
    (void)i;
#endif
}

void eng_pw_run(gd_engine *e, int i)
{
#ifdef HAVE_PW
    if (e->nodes[i].fuse_bwd.dw >= 0) {
        eng_dwpw_bwd_run(e, i);
        return;
    }
    pw_args a;
    pw_setup(e, i, &a);
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

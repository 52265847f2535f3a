/*
 * engine_mask.c: ReLU / ReLU6 backward folded into the consumer's
 * convolution (contract in engine_internal.h, "Fused activation masks").
 *
 * The backward of a convolution k whose input j ends in a ReLU or ReLU6
 * used to be two passes over j's gradient: k's backward-data writes it, then
 * an eltwise backward multiplies it by the activation's derivative, read off
 * j's activation (1 inside the linear part, else 0).  On MobileNet that
 * eltwise was ~3.4 ms of a 576 x 576 tile's ~20 ms backward, all memory
 * traffic.  Here the derivative is kept as a byte mask, written by a forward
 * step right after j (while j's activation is still in cache), and k's
 * backward runs as a forward convolution of k's gradient with k's kernel
 * transposed and flipped (a stride-1 convolution's backward-data is one),
 * which, unlike a backward primitive, takes post-ops: a binary multiply by
 * the mask.  Same products and sums as before, in oneDNN's forward order.
 * Where oneDNN offers only a reference kernel for that form (8-channel or
 * grouped shapes in 2.6), the plain backward stays (engine_backward.c).
 *
 * Measured on a 576 x 576 MobileNet V1 tile to Conv2d_9_pointwise (15 of
 * its 19 ReLU6 folded; the 4 left feed a stride-2 depthwise or are the
 * output): backward 19.0 -> 16.9 ms, forward 15.1 -> 15.8 ms (the masks),
 * 34.1 -> 32.6 ms in all (medians of 8 alternating runs).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine_int.h"
#include "gigadream/error.h"

int eng_mask_fusable(const gd_engine *e, int k)
{
    const gd_node *n = &e->model->nodes[k];
    if (n->op != GD_OP_CONV || n->n_inputs != 1 || n->sh != 1 || n->sw != 1 || n->dh != 1 ||
        n->dw != 1)
        return 0;
    int j = n->inputs[0];
    const gd_node *p = &e->model->nodes[j];
    if (j <= 0 || p->op != GD_OP_CONV || (p->act != GD_ACT_RELU && p->act != GD_ACT_RELU6))
        return 0;
    if (e->nodes[j].diff_started || eng_consumers(e, j) != 1 || e->nodes[j].act_buf < 0 ||
        e->nodes[j].md.offset0 != 0)
        return 0;
    for (int q = 0; q < e->n_outputs; q++)
        if (e->outputs[q] == j)
            return 0;
    int pt, pb, pl, pr;
    gd_node_padding(n, e->nodes[j].shape, &pt, &pb, &pl, &pr);
    return pt < n->kh && pb < n->kh && pl < n->kw && pr < n->kw;
}

gd_status eng_mask_weights(gd_engine *e, int k, dnnl_memory_desc_t *user, dnnl_memory_desc_t *any,
                           gd_err *err)
{
    const gd_node *n = &e->model->nodes[k];
    gd_shape in = e->nodes[n->inputs[0]].shape;
    const int g = n->groups, og = n->out_c / g, ig = in.c / g, kh = n->kh, kw = n->kw;
    float *t = gd_calloc((size_t)g * og * ig * kh * kw, sizeof *t, "transposed weights", err);
    if (!t)
        return err->status;
    e->nodes[k].wt_bwd = t;
    /* Model: [g][o][c][y][x] (goihw; oihw when g = 1).  Transposed: [g][c][o][kh-1-y][kw-1-x]. */
    for (int gi = 0; gi < g; gi++)
        for (int o = 0; o < og; o++)
            for (int c = 0; c < ig; c++)
                for (int y = 0; y < kh; y++)
                    for (int x = 0; x < kw; x++)
                        t[((((size_t)gi * ig + c) * og + o) * kh + (kh - 1 - y)) * kw +
                          (kw - 1 - x)] =
                            n->weights[((((size_t)gi * og + o) * ig + c) * kh + y) * kw + x];
    dnnl_status_t s;
    if (g == 1) {
        dnnl_dims_t d = {in.c, n->out_c, kh, kw};
        s = dnnl_memory_desc_init_by_tag(user, 4, d, dnnl_f32, dnnl_oihw);
        if (s == dnnl_success)
            s = dnnl_memory_desc_init_by_tag(any, 4, d, e->dt, dnnl_format_tag_any);
    } else {
        dnnl_dims_t d = {g, ig, og, kh, kw};
        s = dnnl_memory_desc_init_by_tag(user, 5, d, dnnl_f32, dnnl_goihw);
        if (s == dnnl_success)
            s = dnnl_memory_desc_init_by_tag(any, 5, d, e->dt, dnnl_format_tag_any);
    }
    return s == dnnl_success ? GD_OK : eng_fail(e, k, "transposed weights descriptor", s, err);
}

void eng_mask_md(const gd_engine *e, int j, dnnl_memory_desc_t *md)
{
    /* Strides count elements, so j's layout holds for bytes as well. */
    *md = e->nodes[j].md;
    md->data_type = dnnl_u8;
}

gd_status eng_mask_plan(gd_engine *e, int j, gd_err *err)
{
    dnnl_memory_desc_t md;
    eng_mask_md(e, j, &md);
    int b = eng_buf_new(e, dnnl_memory_desc_get_size(&md), err);
    if (b < 0)
        return err->status;
    e->nodes[j].mask_buf = b;
    gd_status st = eng_mem(e, j, &md, b, &e->nodes[j].mask_mem, err);
    if (st != GD_OK)
        return st;
    if (e->stem_fwd == j)
        return GD_OK; /* j's own forward writes it (engine_stem.c) */
    if (e->model->nodes[j].n_inputs == 1 && e->nodes[e->model->nodes[j].inputs[0]].fuse_fwd.dw == j)
        return GD_OK; /* so does its input's step (engine_pwdw.c) */
    /* The mask step goes right after j's own forward steps, while j's
     * activation is still in cache (anywhere later would do: it is kept). */
    eng_step_list *l = &e->fwd;
    int at = l->n;
    while (at > 0 && l->v[at - 1].node != j)
        at--;
    st = eng_step_own(l, j, ENG_STEP_MASK, "activation mask", err);
    if (st != GD_OK || at == 0)
        return st;
    eng_step s = l->v[l->n - 1];
    memmove(&l->v[at + 1], &l->v[at], (size_t)(l->n - 1 - at) * sizeof *l->v);
    l->v[at] = s;
    return GD_OK;
}

static inline float bf16_value(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The portable loop: elements [from, n) of y (f32, or bf16 when bf16). */
static void mask_loop(const void *y, int bf16, float hi, uint8_t *m, size_t from, size_t n)
{
    if (bf16) {
        const uint16_t *b = y;
#pragma omp parallel for schedule(static)
        for (size_t i = from; i < n; i++) {
            float v = bf16_value(b[i]);
            m[i] = (uint8_t)((v > 0.0f) & (v < hi));
        }
        return;
    }
    const float *f = y;
#pragma omp parallel for schedule(static)
    for (size_t i = from; i < n; i++)
        m[i] = (uint8_t)((f[i] > 0.0f) & (f[i] < hi));
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_MASK_AVX512 1
/*
 * The same comparisons, 64 elements per step: the portable loop compiles to
 * SSE2 (no -march), and the 15 masks of a 576 x 576 MobileNet V1 tile took
 * ~1.5 ms that way.  Returns how many elements it did (a multiple of 64).
 */
__attribute__((target("avx512f,avx512bw"))) static size_t
mask_avx512(const void *y, int bf16, float hi, uint8_t *m, size_t n)
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
#endif

void eng_mask_run(gd_engine *e, int j)
{
    const size_t bytes = dnnl_memory_desc_get_size(&e->nodes[j].md);
    const int bf16 = e->nodes[j].md.data_type == dnnl_bf16;
    const size_t n = bytes / (bf16 ? 2 : 4);
    /* ReLU: y > 0; ReLU6: 0 < y < 6 (oneDNN's derivative from dst). */
    const float hi = e->model->nodes[j].act == GD_ACT_RELU6 ? 6.0f : INFINITY;
    uint8_t *m = e->bufs[e->nodes[j].mask_buf].ptr;
    const void *y = e->bufs[e->nodes[j].act_buf].ptr;
    size_t done = 0;
#ifdef HAVE_MASK_AVX512
    if (__builtin_cpu_supports("avx512bw"))
        done = mask_avx512(y, bf16, hi, m, n);
#endif
    mask_loop(y, bf16, hi, m, done, n);
}

/*
 * mask.c: ReLU / ReLU6 backward folded into the consumer's convolution
 * (contracts in engine_int.h, "mask.c").
 *
 * The backward of a convolution k whose input j ends in a ReLU or ReLU6
 * used to be two passes over j's gradient: k's backward-data writes it, then
 * an eltwise backward multiplies it by the activation's derivative, read off
 * j's activation (1 inside the linear part, else 0), all memory traffic.
 * Here the derivative is kept as a byte mask, written by a forward step
 * right after j (while j's activation is still in cache), and k's backward
 * runs as a forward convolution of k's gradient with k's kernel transposed
 * and flipped (a stride-1 convolution's backward-data is one), which,
 * unlike a backward primitive, takes post-ops: a binary multiply by the
 * mask.  Same products and sums as before, in oneDNN's forward order.
 * Where oneDNN offers only a reference kernel for that form (8-channel or
 * grouped shapes in 2.6), the plain backward stays (backward.c).  The own
 * steps read the same masks (pw.c, pwdw.c) or write them on the way
 * (stem.c, pwdw.c).
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
        e->nodes[j].md.offset0 != 0 || eng_is_output(e, j))
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
        return GD_OK; /* j's own forward writes it (stem.c) */
    if (e->model->nodes[j].n_inputs == 1 && e->nodes[e->model->nodes[j].inputs[0]].fuse_fwd.dw == j)
        return GD_OK; /* so does its input's step (pwdw.c) */
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

void eng_mask_run(gd_engine *e, int j)
{
    const size_t bytes = dnnl_memory_desc_get_size(&e->nodes[j].md);
    const int bf16 = e->nodes[j].md.data_type == dnnl_bf16;
    const size_t n = bytes / (bf16 ? 2 : 4);
    /* ReLU: y > 0; ReLU6: 0 < y < 6 (oneDNN's derivative from dst). */
    const float hi = e->model->nodes[j].act == GD_ACT_RELU6 ? 6.0f : INFINITY;
    uint8_t *m = e->bufs[e->nodes[j].mask_buf].ptr;
    const void *y = e->bufs[e->nodes[j].act_buf].ptr;
    /* The kernel, where there is one, takes the whole blocks. */
    const size_t done = e->kern ? e->kern->mask(y, bf16, hi, m, n) : 0;
    mask_loop(y, bf16, hi, m, done, n);
}

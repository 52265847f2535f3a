/*
 * share.c: activations that die within the forward pass share buffers
 * (contract in engine_int.h, eng_share_activations).  It reads the finished
 * plan only: which buffers each step touches.
 *
 * Every node's activation gets its own buffer while planning, because the
 * backward used to read them all (for the activation backward).  A node
 * whose ReLU/ReLU6 backward is folded into its one reader (mask.c)
 * is read by nothing after that reader's forward step: its buffer is live
 * from its own step to its reader's, and such buffers are given out again
 * once dead, like the gradient pool.  On MobileNet V1 to Conv2d_9_pointwise
 * that is 15 of its 19 activations.
 */
#include <stdlib.h>

#include "engine_int.h"
#include "gigadream/error.h"

/* Where each buffer is used: first and last forward step (-1: never), and
 * whether anything outside the forward pass (init, backward) touches it. */
typedef struct buf_use {
    int first, last;
    int elsewhere;
} buf_use;

static int buf_of(const gd_engine *e, const_dnnl_memory_t m)
{
    for (int k = 0; k < e->n_binds; k++)
        if (e->binds[k].mem == m)
            return e->binds[k].buf;
    return -1; /* memory the engine does not own (weights, plain I/O) */
}

static void mark(buf_use *u, int b, int at)
{
    if (b < 0)
        return;
    if (at < 0) {
        u[b].elsewhere = 1;
        return;
    }
    if (u[b].first < 0 || at < u[b].first)
        u[b].first = at;
    if (at > u[b].last)
        u[b].last = at;
}

/* Marks the buffers the steps of list use, at their index (at_index) or as
 * used elsewhere.  A primitive's are its arguments; our own steps find
 * theirs through the plan, so each kind lists what it touches (a fused
 * step its partners' too, eng_node.fuse_fwd / fuse_bwd). */
static void mark_list(const gd_engine *e, const eng_step_list *l, int at_index, buf_use *u)
{
    for (int s = 0; s < l->n; s++) {
        const eng_step *st = &l->v[s];
        int at = at_index ? s : -1;
        for (int a = 0; a < st->nargs; a++)
            mark(u, buf_of(e, st->args[a].memory), at);
        switch (st->kind) {
        case ENG_STEP_NORMALIZE:
            mark(u, e->nodes[0].act_buf, at);
            break;
        case ENG_STEP_PIXEL_GRAD:
            mark(u, e->nodes[0].diff_buf, at);
            mark(u, e->s2d_buf, at);
            break;
        case ENG_STEP_MASK:
            mark(u, e->nodes[st->node].act_buf, at);
            mark(u, e->nodes[st->node].mask_buf, at);
            break;
        case ENG_STEP_PW_BWD:
        case ENG_STEP_DWPW_BWD: {
            int j = e->model->nodes[st->node].inputs[0], d = e->nodes[st->node].fuse_bwd.dw;
            if (e->nodes[st->node].fuse_bwd.pre >= 0) {
                int s = e->model->nodes[j].inputs[0];
                mark(u, e->nodes[s].diff_buf, at);
                mark(u, e->nodes[s].mask_buf, at);
                mark(u, e->nodes[s].bits_buf, at);
                if (e->nodes[st->node].fuse_bwd.head >= 0) {
                    int h = e->model->nodes[s].inputs[0];
                    mark(u, e->nodes[h].diff_buf, at);
                    mark(u, e->nodes[h].mask_buf, at);
                    mark(u, e->nodes[h].bits_buf, at);
                }
            }
            mark(u, e->nodes[d >= 0 ? d : st->node].diff_buf, at);
            mark(u, d >= 0 ? e->pwdw_buf : -1, at);
            mark(u,
                 e->nodes[st->node].bits_buf >= 0 ? e->nodes[st->node].bits_buf
                                                  : e->nodes[st->node].act_buf,
                 at);
            mark(u, e->nodes[j].diff_buf, at);
            mark(u, e->nodes[j].mask_buf, at);
            mark(u, e->nodes[j].bits_buf, at);
            break;
        }
        case ENG_STEP_PW_FWD:
        case ENG_STEP_PWDW_FWD: {
            int j = e->model->nodes[st->node].inputs[0], d = e->nodes[st->node].fuse_fwd.dw;
            if (e->nodes[st->node].fuse_fwd.pre >= 0) {
                int s = e->model->nodes[j].inputs[0];
                if (e->nodes[st->node].fuse_fwd.head < 0)
                    mark(u, e->nodes[s].act_buf, at);
                else {
                    int h = e->model->nodes[s].inputs[0];
                    mark(u, e->nodes[h].act_buf, at);
                    mark(u, e->nodes[s].bits_buf, at);
                    mark(u, e->nodes[h].bits_buf, at);
                    mark(u, e->nodes[s].mask_buf, at);
                }
            }
            mark(u, e->nodes[j].act_buf, at);
            mark(u, e->nodes[d >= 0 ? d : st->node].act_buf, at);
            mark(u, d >= 0 ? e->nodes[d].mask_buf : -1, at);
            mark(u, d >= 0 ? e->pwdw_buf : -1, at);
            mark(u, e->nodes[st->node].bits_buf, at);
            mark(u, e->nodes[j].bits_buf, at);
            break;
        }
        case ENG_STEP_STEM_FWD:
            mark(u, e->nodes[0].act_buf, at);
            mark(u, e->nodes[st->node].act_buf, at);
            mark(u, e->nodes[st->node].mask_buf, at);
            break;
        case ENG_STEP_STEM_BWD:
            mark(u, e->nodes[st->node].diff_buf, at);
            mark(u, e->stem_buf, at);
            break;
        case ENG_STEP_PRIM:
        case ENG_STEP_KIND_COUNT:
            break;
        }
    }
}

/* Whether md has no padding: any layout may then reuse its bytes. */
static int unpadded(const dnnl_memory_desc_t *md)
{
    for (int d = 0; d < md->ndims; d++)
        if (md->padded_dims[d] != md->dims[d])
            return 0;
    return 1;
}

gd_status eng_share_activations(gd_engine *e, gd_err *err)
{
    const int nb = e->n_bufs, nn = e->model->n_nodes;
    buf_use *u = gd_calloc((size_t)nb, sizeof *u, "engine buffer plan", err);
    int *slot = gd_calloc((size_t)nn, sizeof *slot, "engine buffer plan", err);
    int *slot_end = gd_calloc((size_t)nn, sizeof *slot_end, "engine buffer plan", err);
    gd_status st = GD_OK;
    if (!u || !slot || !slot_end) {
        st = err->status;
        goto done;
    }
    for (int b = 0; b < nb; b++)
        u[b].first = u[b].last = -1;
    mark_list(e, &e->init, 0, u);
    mark_list(e, &e->bwd, 0, u);
    mark_list(e, &e->fwd, 1, u);

    /* Nodes in order are buffers in order of first use (a node's step
     * writes its activation before anything reads it). */
    int n_slots = 0;
    for (int j = 1; j < nn; j++) {
        int b = e->nodes[j].act_buf;
        if (!e->nodes[j].act_fused || b < 0 || e->bufs[b].pooled || u[b].elsewhere ||
            u[b].first < 0 || !unpadded(&e->nodes[j].md))
            continue;
        int s = 0;
        while (s < n_slots && slot_end[s] >= u[b].first)
            s++;
        if (s == n_slots) {
            int nbuf = eng_buf_new(e, 0, err);
            if (nbuf < 0) {
                st = err->status;
                goto done;
            }
            slot[n_slots++] = nbuf;
        }
        eng_buf_reserve(e, slot[s], e->bufs[b].bytes);
        slot_end[s] = u[b].last;
        for (int k = 0; k < e->n_binds; k++)
            if (e->binds[k].buf == b)
                e->binds[k].buf = slot[s];
        e->bufs[b].bytes = 0; /* never allocated */
        e->nodes[j].act_buf = slot[s];
    }
done:
    free(u);
    free(slot);
    free(slot_end);
    return st;
}

/*
 * dnnl.c: the oneDNN plumbing the engine's builders share: status
 * messages, buffers and memory objects, primitive descriptors, steps and
 * reorders, and the layouts our loops can address.  Every oneDNN call's
 * status is checked here or by the caller and turned into a message naming
 * the node.  It calls no other file of the engine.
 */
#define _GNU_SOURCE /* MAP_ANONYMOUS, MADV_HUGEPAGE, MADV_POPULATE_WRITE */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine_int.h"
#include "gigadream/image.h"

static const char *const status_names[] = {
    [dnnl_success] = "success",
    [dnnl_out_of_memory] = "out of memory",
    [dnnl_invalid_arguments] = "invalid arguments",
    [dnnl_unimplemented] = "unimplemented",
    [dnnl_iterator_ends] = "iterator ends",
    [dnnl_runtime_error] = "runtime error",
    [dnnl_not_required] = "not required",
};
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) == dnnl_not_required + 1,
               "name every dnnl_status_t");

const char *eng_dnnl_status_str(dnnl_status_t s)
{
    return (unsigned)s < sizeof(status_names) / sizeof(status_names[0]) ? status_names[s]
                                                                        : "unknown status";
}

gd_status eng_fail(const gd_engine *e, int node, const char *what, dnnl_status_t s, gd_err *err)
{
    /* unimplemented: oneDNN has no implementation for what the model asks
     * (bad input for this build); out of memory; anything else is a library
     * failure. */
    gd_status st = s == dnnl_unimplemented   ? GD_EINPUT
                   : s == dnnl_out_of_memory ? GD_ENOMEM
                                             : GD_ELIB;
    const gd_node *n = &e->model->nodes[node];
    return gd_err_set(err, st, "node '%s' (%s): oneDNN %s: %s", n->name, gd_op_name(n->op), what,
                      eng_dnnl_status_str(s));
}

/* Grows *v (of *cap entries of elem bytes) to hold at least need entries. */
static gd_status grow(void **v, int *cap, int need, size_t elem, const char *what, gd_err *err)
{
    if (need <= *cap)
        return GD_OK;
    int ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    void *nv = realloc(*v, (size_t)ncap * elem);
    if (!nv)
        return gd_err_set(err, GD_ENOMEM, "out of memory growing the engine's %s to %d entries",
                          what, ncap);
    *v = nv;
    *cap = ncap;
    return GD_OK;
}

int eng_buf_new(gd_engine *e, size_t bytes, gd_err *err)
{
    if (grow((void **)&e->bufs, &e->cap_bufs, e->n_bufs + 1, sizeof *e->bufs, "buffers", err) !=
        GD_OK)
        return -1;
    e->bufs[e->n_bufs] = (eng_buf){.bytes = bytes};
    return e->n_bufs++;
}

void eng_buf_reserve(gd_engine *e, int buf, size_t bytes)
{
    if (e->bufs[buf].bytes < bytes)
        e->bufs[buf].bytes = bytes;
}

int eng_pool_get(gd_engine *e, size_t bytes, gd_err *err)
{
    /* Best fit among free pooled buffers: the smallest that is big enough,
     * else the biggest (grown), else a new one. */
    int fit = -1, big = -1;
    for (int b = 0; b < e->n_bufs; b++) {
        const eng_buf *p = &e->bufs[b];
        if (!p->pooled || p->in_use)
            continue;
        if (p->bytes >= bytes && (fit < 0 || p->bytes < e->bufs[fit].bytes))
            fit = b;
        if (big < 0 || p->bytes > e->bufs[big].bytes)
            big = b;
    }
    int b = fit >= 0 ? fit : big;
    if (b < 0) {
        b = eng_buf_new(e, bytes, err);
        if (b < 0)
            return -1;
        e->bufs[b].pooled = 1;
    }
    eng_buf_reserve(e, b, bytes);
    e->bufs[b].in_use = 1;
    return b;
}

void eng_pool_put(gd_engine *e, int buf)
{
    if (buf >= 0)
        e->bufs[buf].in_use = 0;
}

static gd_status keep_mem(gd_engine *e, dnnl_memory_t m, int buf, gd_err *err)
{
    gd_status st = grow((void **)&e->mems, &e->cap_mems, e->n_mems + 1, sizeof *e->mems,
                        "memory objects", err);
    if (st != GD_OK) {
        dnnl_memory_destroy(m);
        return st;
    }
    e->mems[e->n_mems++] = m;
    if (buf < 0)
        return GD_OK;
    st = grow((void **)&e->binds, &e->cap_binds, e->n_binds + 1, sizeof *e->binds,
              "memory bindings", err);
    if (st != GD_OK)
        return st;
    e->binds[e->n_binds++] = (eng_bind){m, buf};
    return GD_OK;
}

gd_status eng_mem(gd_engine *e, int node, const dnnl_memory_desc_t *md, int buf, dnnl_memory_t *out,
                  gd_err *err)
{
    dnnl_memory_t m = NULL;
    dnnl_status_t s = dnnl_memory_create(&m, md, e->eng, DNNL_MEMORY_NONE);
    if (s != dnnl_success)
        return eng_fail(e, node, "memory creation", s, err);
    eng_buf_reserve(e, buf, dnnl_memory_desc_get_size(md));
    *out = m;
    return keep_mem(e, m, buf, err);
}

gd_status eng_mem_user(gd_engine *e, int node, const dnnl_memory_desc_t *md, void *ptr,
                       dnnl_memory_t *out, gd_err *err)
{
    dnnl_memory_t m = NULL;
    dnnl_status_t s = dnnl_memory_create(&m, md, e->eng, ptr);
    if (s != dnnl_success)
        return eng_fail(e, node, "memory creation", s, err);
    *out = m;
    return keep_mem(e, m, -1, err);
}

void eng_act_alg(gd_act act, dnnl_alg_kind_t *fwd, dnnl_alg_kind_t *bwd, float *alpha, float *beta)
{
    *alpha = 0.0f;
    *beta = 0.0f;
    switch (act) {
    case GD_ACT_RELU:
        *fwd = dnnl_eltwise_relu;
        *bwd = dnnl_eltwise_relu_use_dst_for_bwd;
        return;
    case GD_ACT_RELU6:
        *fwd = dnnl_eltwise_clip_v2;
        *bwd = dnnl_eltwise_clip_v2_use_dst_for_bwd;
        *beta = 6.0f;
        return;
    case GD_ACT_NONE:
    case GD_ACT_COUNT:
        break;
    }
    *fwd = *bwd = dnnl_eltwise_linear;
    *alpha = 1.0f;
}

gd_status eng_attr(const gd_engine *e, int node, gd_act act, dnnl_primitive_attr_t *attr,
                   gd_err *err)
{
    gd_status st = GD_OK;
    dnnl_post_ops_t po = NULL;
    dnnl_status_t s = dnnl_primitive_attr_create(attr);
    if (s != dnnl_success) {
        *attr = NULL;
        return eng_fail(e, node, "attribute creation", s, err);
    }
    /* The scratchpad is ours (one buffer for every primitive), so running a
     * pass never makes oneDNN allocate. */
    s = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (s != dnnl_success) {
        st = eng_fail(e, node, "scratchpad mode", s, err);
        goto done;
    }
    if (act == GD_ACT_NONE)
        goto done;
    dnnl_alg_kind_t fwd, bwd;
    float alpha, beta;
    eng_act_alg(act, &fwd, &bwd, &alpha, &beta);
    s = dnnl_post_ops_create(&po);
    if (s == dnnl_success)
        s = dnnl_post_ops_append_eltwise(po, 1.0f, fwd, alpha, beta);
    if (s == dnnl_success)
        s = dnnl_primitive_attr_set_post_ops(*attr, po);
    if (s != dnnl_success)
        st = eng_fail(e, node, "activation post-op", s, err);
done:
    if (po)
        dnnl_post_ops_destroy(po);
    if (st != GD_OK) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return st;
}

gd_status eng_pd(gd_engine *e, int node, const char *what, const_dnnl_op_desc_t op,
                 const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint,
                 dnnl_primitive_desc_t *pd, gd_err *err)
{
    *pd = NULL;
    gd_status st = grow((void **)&e->pds, &e->cap_pds, e->n_pds + 1, sizeof *e->pds,
                        "primitive descriptors", err);
    if (st != GD_OK)
        return st;
    dnnl_status_t s = dnnl_primitive_desc_create(pd, op, attr, e->eng, hint);
    if (s != dnnl_success) {
        *pd = NULL;
        return eng_fail(e, node, what, s, err);
    }
    e->pds[e->n_pds++] = *pd;
    return GD_OK;
}

gd_status eng_keep_pd(gd_engine *e, dnnl_primitive_desc_t pd, gd_err *err)
{
    gd_status st = grow((void **)&e->pds, &e->cap_pds, e->n_pds + 1, sizeof *e->pds,
                        "primitive descriptors", err);
    if (st != GD_OK) {
        dnnl_primitive_desc_destroy(pd);
        return st;
    }
    e->pds[e->n_pds++] = pd;
    return GD_OK;
}

const dnnl_memory_desc_t *eng_pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what)
{
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

static gd_status add_step(eng_step_list *list, const eng_step *st, gd_err *err)
{
    gd_status rc =
        grow((void **)&list->v, &list->cap, list->n + 1, sizeof *list->v, "step list", err);
    if (rc != GD_OK)
        return rc;
    list->v[list->n++] = *st;
    return GD_OK;
}

gd_status eng_step_prim(gd_engine *e, eng_step_list *list, int node, const char *what,
                        const_dnnl_primitive_desc_t pd, int nargs, const dnnl_exec_arg_t *args,
                        gd_err *err)
{
    gd_status st = grow((void **)&e->prims, &e->cap_prims, e->n_prims + 1, sizeof *e->prims,
                        "primitives", err);
    if (st != GD_OK)
        return st;
    dnnl_primitive_t p = NULL;
    dnnl_status_t s = dnnl_primitive_create(&p, pd);
    if (s != dnnl_success)
        return eng_fail(e, node, what, s, err);
    e->prims[e->n_prims++] = p;

    eng_step step = {.kind = ENG_STEP_PRIM, .node = node, .what = what, .prim = p};
    if (nargs > ENG_MAX_ARGS - 1)
        return gd_err_set(err, GD_ELIB, "node '%s': %s: %d arguments (at most %d)",
                          e->model->nodes[node].name, what, nargs, ENG_MAX_ARGS - 1);
    memcpy(step.args, args, (size_t)nargs * sizeof *args);
    step.nargs = nargs;
    const dnnl_memory_desc_t *spad = eng_pd_md(pd, dnnl_query_scratchpad_md);
    if (spad && dnnl_memory_desc_get_size(spad) > 0) {
        dnnl_memory_t m;
        st = eng_mem(e, node, spad, e->scratchpad, &m, err);
        if (st != GD_OK)
            return st;
        step.args[step.nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, m};
    }
    return add_step(list, &step, err);
}

gd_status eng_step_own(eng_step_list *list, int node, eng_step_kind kind, const char *what,
                       gd_err *err)
{
    eng_step step = {.kind = kind, .node = node, .what = what};
    return add_step(list, &step, err);
}

const dnnl_memory_desc_t *eng_mem_md(const_dnnl_memory_t m)
{
    const dnnl_memory_desc_t *md = NULL;
    if (dnnl_memory_get_memory_desc(m, &md) != dnnl_success)
        return NULL;
    return md;
}

static gd_status reorder_pd(gd_engine *e, int node, dnnl_memory_t src, dnnl_memory_t dst,
                            int accumulate, dnnl_primitive_desc_t *pd, gd_err *err)
{
    gd_status st = GD_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    const char *what = accumulate ? "reorder with accumulation" : "reorder";
    *pd = NULL;
    dnnl_status_t s = dnnl_primitive_attr_create(&attr);
    if (s == dnnl_success)
        s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success && accumulate) {
        s = dnnl_post_ops_create(&po);
        if (s == dnnl_success)
            s = dnnl_post_ops_append_sum(po, 1.0f);
        if (s == dnnl_success)
            s = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    if (s != dnnl_success) {
        st = eng_fail(e, node, what, s, err);
        goto done;
    }
    st = grow((void **)&e->pds, &e->cap_pds, e->n_pds + 1, sizeof *e->pds, "primitive descriptors",
              err);
    if (st != GD_OK)
        goto done;
    s = dnnl_reorder_primitive_desc_create(pd, eng_mem_md(src), e->eng, eng_mem_md(dst), e->eng,
                                           attr);
    if (s != dnnl_success) {
        *pd = NULL;
        st = eng_fail(e, node, what, s, err);
        goto done;
    }
    e->pds[e->n_pds++] = *pd;
done:
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

gd_status eng_reorder(gd_engine *e, eng_step_list *list, int node, dnnl_memory_t src,
                      dnnl_memory_t dst, int accumulate, gd_err *err)
{
    dnnl_primitive_desc_t pd;
    gd_status st = reorder_pd(e, node, src, dst, accumulate, &pd, err);
    if (st != GD_OK)
        return st;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    return eng_step_prim(e, list, node, accumulate ? "reorder with accumulation" : "reorder", pd, 2,
                         args, err);
}

int eng_layout_of(const dnnl_memory_desc_t *md, eng_layout *l)
{
    if (!md || md->ndims != 4 || (md->data_type != dnnl_f32 && md->data_type != dnnl_bf16) ||
        md->format_kind != dnnl_blocked || md->dims[0] != 1)
        return 0;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (b->inner_nblks == 0)
        l->cblk = 1;
    else if (b->inner_nblks == 1 && b->inner_idxs[0] == 1)
        l->cblk = (int)b->inner_blks[0];
    else
        return 0;
    l->bf16 = md->data_type == dnnl_bf16;
    l->off0 = md->offset0;
    l->sc = b->strides[1];
    l->sy = b->strides[2];
    l->sx = b->strides[3];
    return 1;
}

int eng_blocked(const gd_engine *e, const dnnl_memory_desc_t *md, int w, eng_layout *l)
{
    if (!e->kern)
        return 0;
    const int b = e->kern->cblk;
    for (int d = 0; d < md->ndims; d++)
        if (md->padded_dims[d] != md->dims[d])
            return 0;
    return eng_layout_of(md, l) && l->bf16 == e->kern->bf16 && l->cblk == b && l->sx == b &&
           l->sy == (dnnl_dim_t)w * b;
}

gd_status eng_md4(const gd_engine *e, int node, int c, int h, int w, dnnl_data_type_t dt,
                  dnnl_format_tag_t tag, dnnl_memory_desc_t *md, gd_err *err)
{
    dnnl_dims_t dims = {1, c, h, w};
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(md, 4, dims, dt, tag);
    return s == dnnl_success ? GD_OK : eng_fail(e, node, "memory descriptor", s, err);
}

/*
 * An engine's buffers are carved, 64-byte aligned, out of one anonymous
 * mapping in 2 MB pages, faulted in by one call.  Faulting them in 4 KB
 * pages, one trap per page (aligned_alloc, then zeroing), was most of an
 * engine's creation: in a paravirtualized VM a trap is dear, and creating
 * a 576 x 576 engine cost 2.5 runs of it.  New engines are made whenever
 * the jitter brings new edge-tile extents, so that cost decided which tile
 * size [tiles] size = auto could afford.  Huge pages also spare the TLB
 * during the runs.  A fresh mapping reads as zero, as the blocked layouts'
 * channel padding must.
 */
#define ENG_HUGE ((size_t)2 << 20)
#define ENG_ALIGN ((size_t)64)

gd_status eng_alloc(gd_engine *e, gd_err *err)
{
    size_t total = 0;
    for (int b = 0; b < e->n_bufs; b++)
        total += (e->bufs[b].bytes + ENG_ALIGN - 1) & ~(ENG_ALIGN - 1);
    if (total > 0) {
        const size_t len = (total + ENG_HUGE - 1) & ~(ENG_HUGE - 1);
        void *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (a == MAP_FAILED) {
            char s[32];
            return gd_err_set(err, GD_ENOMEM, "out of memory allocating %s of engine buffers: %s",
                              gd_bytes_str((double)len, s), strerror(errno));
        }
        /* Hints: without them (an old kernel, THP off) the pages come on first touch. */
#ifdef MADV_HUGEPAGE
        (void)madvise(a, len, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
        (void)madvise(a, len, MADV_POPULATE_WRITE);
#endif
        e->arena = a;
        e->arena_bytes = len;
        char *q = a;
        for (int b = 0; b < e->n_bufs; b++) {
            eng_buf *p = &e->bufs[b];
            p->ptr = p->bytes ? q : NULL;
            q += (p->bytes + ENG_ALIGN - 1) & ~(ENG_ALIGN - 1);
        }
    }
    for (int k = 0; k < e->n_binds; k++) {
        dnnl_status_t s =
            dnnl_memory_set_data_handle(e->binds[k].mem, e->bufs[e->binds[k].buf].ptr);
        if (s != dnnl_success)
            return gd_err_set(err, GD_ELIB, "engine: oneDNN memory binding: %s",
                              eng_dnnl_status_str(s));
    }
    return GD_OK;
}

void eng_destroy_objects(gd_engine *e)
{
    for (int k = 0; k < e->n_prims; k++)
        dnnl_primitive_destroy(e->prims[k]);
    for (int k = 0; k < e->n_mems; k++)
        dnnl_memory_destroy(e->mems[k]);
    for (int k = 0; k < e->n_pds; k++)
        dnnl_primitive_desc_destroy(e->pds[k]);
    if (e->arena)
        munmap(e->arena, e->arena_bytes);
    e->arena = NULL;
    e->arena_bytes = 0;
    free(e->prims);
    free(e->mems);
    free(e->pds);
    free(e->bufs);
    free(e->binds);
    e->prims = NULL;
    e->mems = NULL;
    e->pds = NULL;
    e->bufs = NULL;
    e->binds = NULL;
    e->n_prims = e->n_mems = e->n_pds = e->n_bufs = e->n_binds = 0;
}

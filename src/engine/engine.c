/*
 * engine.c: the public side of the engine (engine.h): creation, the two
 * passes, outputs and seeds.  Creation picks the kernel table (kernels.c)
 * and has the plan built by forward.c and backward.c (engine_int.h lists
 * the files and the invariants); running a pass walks a flat list of
 * steps, one switch over their kinds, and allocates nothing.  The input
 * normalization and the pixel gradient are loops of this file.  Only this
 * file is called from outside the engine.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

static const char *const precision_names[] = {
    [GD_ENGINE_F32] = "f32",
    [GD_ENGINE_BF16] = "bf16",
};
_Static_assert(sizeof precision_names / sizeof precision_names[0] == GD_ENGINE_PRECISION_COUNT,
               "name every precision");

const char *gd_engine_precision_name(gd_engine_precision p)
{
    return (unsigned)p < GD_ENGINE_PRECISION_COUNT ? precision_names[p] : "?";
}

/* What oneDNN may use of this CPU, in words (the ISA values are nested bit sets). */
static const char *isa_words(dnnl_cpu_isa_t isa)
{
    static const struct {
        dnnl_cpu_isa_t isa;
        const char *words;
    } names[] = {
        {dnnl_cpu_isa_avx512_core_amx, "AVX-512 with AMX"},
        {dnnl_cpu_isa_avx512_core_bf16, "AVX-512 BF16"},
        {dnnl_cpu_isa_avx512_core_vnni, "AVX-512 with VNNI, no BF16"},
        {dnnl_cpu_isa_avx512_core, "AVX-512, no BF16"},
        {dnnl_cpu_isa_avx512_mic, "AVX-512 (Xeon Phi), no BF16"},
        {dnnl_cpu_isa_avx2_vnni, "AVX2 with VNNI"},
        {dnnl_cpu_isa_avx2, "AVX2"},
        {dnnl_cpu_isa_avx, "AVX"},
        {dnnl_cpu_isa_sse41, "SSE4.1"},
    };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if ((isa & names[k].isa) == names[k].isa)
            return names[k].words;
    return "no vector ISA oneDNN knows";
}

const char *gd_engine_library_version(char *buf, size_t len)
{
    const dnnl_version_t *v = dnnl_version();
    /* Distribution builds (Debian's among them) leave the commit as "N/A". */
    int has_hash = v->hash && v->hash[0] && strcmp(v->hash, "N/A") != 0;
    snprintf(buf, len, "oneDNN %d.%d.%d%s%.12s%s", v->major, v->minor, v->patch,
             has_hash ? " (commit " : "", has_hash ? v->hash : "", has_hash ? ")" : "");
    return buf;
}

gd_status gd_engine_precision_check(gd_engine_precision p, gd_err *err)
{
    if (p == GD_ENGINE_F32)
        return GD_OK;
    if (p != GD_ENGINE_BF16)
        return gd_err_set(err, GD_EINPUT, "engine: no precision %d", (int)p);
    /* oneDNN runs bf16 on plain AVX-512 too, by emulation, slower than f32:
     * that is never what a user asking for bf16 wants. */
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if ((isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16)
        return GD_OK;
    const char *limit = getenv("ONEDNN_MAX_CPU_ISA");
    if (!limit || !*limit)
        limit = getenv("DNNL_MAX_CPU_ISA");
    char why[160] = "";
    if (limit && *limit)
        snprintf(why, sizeof why, "; ONEDNN_MAX_CPU_ISA=%s limits what oneDNN uses", limit);
    return gd_err_set(err, GD_EINPUT, "bf16 needs a CPU with AVX-512 BF16 (this one has %s%s)",
                      isa_words(isa), why);
}

static gd_status check_args(const gd_model *model, int h, int w, const int *outputs, int n_outputs,
                            gd_err *err)
{
    if (!model || !outputs || n_outputs < 1)
        return gd_err_set(err, GD_EINPUT, "engine: a model and at least one output are needed");
    if (h < 1 || w < 1)
        return gd_err_set(err, GD_EINPUT, "engine: tile %dx%d is empty", w, h);
    for (int k = 0; k < n_outputs; k++)
        if (outputs[k] < 0 || outputs[k] >= model->n_nodes)
            return gd_err_set(err, GD_EINPUT, "engine: output %d is node %d; model %s has %d nodes",
                              k, outputs[k], model->name, model->n_nodes);
    return GD_OK;
}

/* The per-output arrays, zeroed. */
static gd_status alloc_outputs(gd_engine *e, gd_err *err)
{
    size_t k = (size_t)e->n_outputs;
    e->out_plain = gd_calloc(k, sizeof *e->out_plain, "engine tables", err);
    e->seed_plain = gd_calloc(k, sizeof *e->seed_plain, "engine tables", err);
    e->out_mem = gd_calloc(k, sizeof *e->out_mem, "engine tables", err);
    e->seed_mem = gd_calloc(k, sizeof *e->seed_mem, "engine tables", err);
    e->out_buf = gd_calloc(k, sizeof *e->out_buf, "engine tables", err);
    e->seed_buf = gd_calloc(k, sizeof *e->seed_buf, "engine tables", err);
    return e->out_plain && e->seed_plain && e->out_mem && e->seed_mem && e->out_buf && e->seed_buf
               ? GD_OK
               : err->status;
}

/* A plain CHW float buffer of output k's shape (an engine buffer: in the
 * arena with the others, eng_alloc) and a memory object over it. */
static gd_status plain_buffer(gd_engine *e, int k, int *buf, dnnl_memory_t *mem, gd_err *err)
{
    int node = e->outputs[k];
    gd_shape s = e->nodes[node].shape;
    dnnl_memory_desc_t md;
    if ((*buf = eng_buf_new(e, 0, err)) < 0)
        return err->status;
    gd_status st = eng_md4(e, node, s.c, s.h, s.w, dnnl_f32, dnnl_nchw, &md, err);
    if (st != GD_OK)
        return st;
    return eng_mem(e, node, &md, *buf, mem, err);
}

static gd_status plan_forward(gd_engine *e, gd_err *err)
{
    const gd_model *m = e->model;
    /* Node 0 starts plain NCHW; its first consumer may pick another layout
     * our normalization loop can write (forward.c: src_for). */
    gd_status st = eng_md4(e, 0, m->in_c, e->h, e->w, e->dt, dnnl_nchw, &e->nodes[0].md, err);
    if (st == GD_OK)
        st = eng_step_own(&e->fwd, 0, ENG_STEP_NORMALIZE, "input normalization", err);
    for (int i = 1; st == GD_OK && i < m->n_nodes; i++)
        if (e->nodes[i].need)
            st = eng_forward_node(e, i, err);
    if (st == GD_OK)
        st = eng_act_mem(e, 0, 0, err);
    for (int k = 0; st == GD_OK && k < e->n_outputs; k++) {
        int node = e->outputs[k];
        st = plain_buffer(e, k, &e->out_buf[k], &e->out_mem[k], err);
        if (st == GD_OK)
            st = eng_reorder(e, &e->fwd, node, e->nodes[node].act, e->out_mem[k], 0, err);
    }
    if (st == GD_OK && !eng_layout_of(&e->nodes[0].md, &e->in_layout))
        st = gd_err_set(err, GD_ELIB, "engine: input layout is not one the engine can write");
    return st;
}

static gd_status plan_backward(gd_engine *e, gd_err *err)
{
    const gd_model *m = e->model;
    gd_status st = GD_OK;
    for (int i = 0; i < m->n_nodes; i++) {
        e->nodes[i].dmd = e->nodes[i].md;
        e->nodes[i].dmd_fixed = i != 0;
    }
    for (int k = 0; st == GD_OK && k < e->n_outputs; k++)
        st = plain_buffer(e, k, &e->seed_buf[k], &e->seed_mem[k], err);
    for (int i = m->n_nodes - 1; st == GD_OK && i >= 0; i--)
        if (e->nodes[i].need)
            st = eng_backward_node(e, i, err);
    if (st == GD_OK && !eng_layout_of(&e->nodes[0].dmd, &e->din_layout))
        st = gd_err_set(err, GD_ELIB, "engine: input gradient layout is not one the engine reads");
    return st;
}

static gd_status run(gd_engine *e, const eng_step_list *list, gd_err *err);

gd_status gd_engine_create(const gd_model *model, int h, int w, const int *outputs, int n_outputs,
                           const gd_engine_opts *opts, gd_engine **out, gd_err *err)
{
    gd_err local;
    if (!err)
        err = &local;
    *out = NULL;
    gd_status st = check_args(model, h, w, outputs, n_outputs, err);
    if (st != GD_OK)
        return st;
    st = gd_engine_precision_check(opts ? opts->precision : GD_ENGINE_F32, err);
    if (st != GD_OK)
        return gd_err_prefix(err, "engine");
    st = gd_model_validate(model, err);
    if (st != GD_OK)
        return gd_err_prefix(err, "engine");
    gd_engine *e = gd_calloc(1, sizeof *e, "engine", err);
    if (!e)
        return err->status;
    e->model = model;
    e->h = h;
    e->w = w;
    e->n_outputs = n_outputs;
    e->backward = opts && opts->backward;
    e->precision = opts ? opts->precision : GD_ENGINE_F32;
    e->dt = e->precision == GD_ENGINE_BF16 ? dnnl_bf16 : dnnl_f32;
    e->kern = opts && opts->onednn_only ? NULL : eng_kernels_for_cpu(e->precision);
    e->scratch_a = e->scratch_b = e->scratchpad = e->s2d_buf = -1;
    e->stem_fwd = e->pwdw_buf = -1;
    e->outputs = gd_calloc((size_t)n_outputs, sizeof *e->outputs, "engine outputs", err);
    if (!e->outputs) {
        st = err->status;
        goto fail;
    }
    memcpy(e->outputs, outputs, (size_t)n_outputs * sizeof *outputs);
    st = alloc_outputs(e, err);
    if (st == GD_OK)
        st = eng_nodes_new(e, err);
    if (st != GD_OK)
        goto fail;
    st = gd_model_flops(model, h, w, outputs, n_outputs, &e->fwd_flops, &e->bwd_flops, err);
    if (st != GD_OK)
        goto fail;
    if (!e->backward)
        e->bwd_flops = 0;

    dnnl_status_t s = dnnl_engine_create(&e->eng, dnnl_cpu, 0);
    if (s == dnnl_success)
        s = dnnl_stream_create(&e->stream, e->eng, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        st = gd_err_set(err, s == dnnl_out_of_memory ? GD_ENOMEM : GD_ELIB,
                        "engine: oneDNN CPU engine: %s", eng_dnnl_status_str(s));
        goto fail;
    }
    e->scratch_a = eng_buf_new(e, 0, err);
    e->scratch_b = eng_buf_new(e, 0, err);
    e->scratchpad = eng_buf_new(e, 0, err);
    if (e->scratch_a < 0 || e->scratch_b < 0 || e->scratchpad < 0) {
        st = err->status;
        goto fail;
    }
    st = plan_forward(e, err);
    if (st == GD_OK && e->backward)
        st = plan_backward(e, err);
    if (st == GD_OK && e->backward)
        st = eng_share_activations(e, err);
    if (st == GD_OK)
        st = eng_alloc(e, err);
    for (int k = 0; st == GD_OK && k < e->n_outputs; k++) {
        e->out_plain[k] = e->bufs[e->out_buf[k]].ptr;
        e->seed_plain[k] = e->backward ? e->bufs[e->seed_buf[k]].ptr : NULL;
    }
    if (st == GD_OK)
        st = run(e, &e->init, err);
    if (st != GD_OK)
        goto fail;
    /* Primitives hold what they need: the descriptors can go. */
    for (int k = 0; k < e->n_pds; k++)
        dnnl_primitive_desc_destroy(e->pds[k]);
    e->n_pds = 0;
    *out = e;
    return GD_OK;
fail:
    gd_engine_free(e);
    return st;
}

void gd_engine_free(gd_engine *e)
{
    if (!e)
        return;
    eng_destroy_objects(e);
    if (e->stream)
        dnnl_stream_destroy(e->stream);
    if (e->eng)
        dnnl_engine_destroy(e->eng);
    free(e->outputs);
    eng_nodes_free(e);
    free(e->out_plain);
    free(e->seed_plain);
    free(e->out_mem);
    free(e->seed_mem);
    free(e->out_buf);
    free(e->seed_buf);
    free(e->init.v);
    free(e->fwd.v);
    free(e->bwd.v);
    free(e);
}

/*
 * f32 -> bf16, rounding to nearest even (what AVX-512 BF16's vcvtneps2bf16
 * does), NaN kept a (quiet) NaN.
 */
static inline uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    /* A select, not a branch: the normalization's loops vectorize. */
    const uint32_t nan = (u & 0x7fffffffu) > 0x7f800000u;
    const uint32_t r = nan ? u | 0x400000u : u + 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(r >> 16);
}

static inline float from_bf16(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Offsets of channels 0..c-1 in layout l (c <= the caller's array: the
 * input's 3 at most, gd_model_validate; 4x that folded), hoisting the
 * divisions out of the per-pixel loops. */
#define ENG_MAX_IN_C 3
static void channel_offsets(const eng_layout *l, int c, dnnl_dim_t *off)
{
    for (int k = 0; k < c; k++)
        off[k] = l->off0 + (k / l->cblk) * l->sc + k % l->cblk;
}

/* normalize() for a bf16 engine: the same f32 value, rounded to bf16. */
static void normalize_bf16(gd_engine *e)
{
    const gd_model *m = e->model;
    const eng_layout l = e->in_layout;
    const float *px = e->pixels;
    uint16_t *dst = e->bufs[e->nodes[0].act_buf].ptr;
    const int h = e->h, w = e->w, c = m->in_c;
    dnnl_dim_t off[ENG_MAX_IN_C];
    channel_offsets(&l, c, off);
    if (l.sx == 1) {
        /* Planar rows (the bf16 first convolution's, ours or oneDNN's): a
         * unit-stride loop per row and channel, as normalize() does. */
#pragma omp parallel for schedule(static)
        for (int y = 0; y < h; y++)
            for (int k = 0; k < c; k++) {
                const float *restrict p = px + (size_t)y * w * c + k;
                uint16_t *restrict d = dst + y * l.sy + off[k];
                const float s = m->norm_scale[k], o = m->norm_offset[k];
                for (int x = 0; x < w; x++)
                    d[x] = to_bf16(p[(size_t)x * c] * s + o);
            }
        return;
    }
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            const float *p = px + ((size_t)y * w + x) * c;
            uint16_t *d = dst + y * l.sy + x * l.sx;
            for (int k = 0; k < c; k++)
                d[off[k]] = to_bf16(p[k] * m->norm_scale[k] + m->norm_offset[k]);
        }
    }
}

/* pixels (NHWC, [0,255]) -> node 0's activation, normalized, in its layout. */
static void normalize(gd_engine *e)
{
    if (e->in_layout.bf16) {
        normalize_bf16(e);
        return;
    }
    const gd_model *m = e->model;
    const eng_layout l = e->in_layout;
    const float *px = e->pixels;
    float *dst = e->bufs[e->nodes[0].act_buf].ptr;
    const int h = e->h, w = e->w, c = m->in_c;
    dnnl_dim_t off[ENG_MAX_IN_C];
    channel_offsets(&l, c, off);
    if (l.sx == 1) {
        /* Planar rows (what oneDNN's first convolutions take): per row and
         * channel one unit-stride loop, which the compiler vectorizes. */
#pragma omp parallel for schedule(static)
        for (int y = 0; y < h; y++)
            for (int k = 0; k < c; k++) {
                const float *restrict p = px + (size_t)y * w * c + k;
                float *restrict d = dst + y * l.sy + off[k];
                const float s = m->norm_scale[k], o = m->norm_offset[k];
                for (int x = 0; x < w; x++)
                    d[x] = p[(size_t)x * c] * s + o;
            }
        return;
    }
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            const float *p = px + ((size_t)y * w + x) * c;
            float *d = dst + y * l.sy + x * l.sx;
            for (int k = 0; k < c; k++)
                d[off[k]] = p[k] * m->norm_scale[k] + m->norm_offset[k];
        }
    }
}

/* pixel_grad from the space-to-depth gradient (engine_int.h, s2d). */
static void pixel_grad_s2d(gd_engine *e)
{
    const gd_model *m = e->model;
    const eng_layout l = e->s2d_layout;
    const void *src = e->bufs[e->s2d_buf].ptr;
    float *g = e->grad;
    const int h = e->h, w = e->w, c = m->in_c;
    /* Offsets of the 4 * c folded channels (s2d_ok allows c <= ENG_S2D_MAX_C). */
    dnnl_dim_t off[4 * ENG_S2D_MAX_C];
    channel_offsets(&l, 4 * c, off);
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            const dnnl_dim_t at = (y / 2) * l.sy + (x / 2) * l.sx;
            const dnnl_dim_t *o = off + ((y % 2) * 2 + x % 2) * c;
            float *d = g + ((size_t)y * w + x) * c;
            for (int k = 0; k < c; k++) {
                float v = l.bf16 ? from_bf16(((const uint16_t *)src)[at + o[k]])
                                 : ((const float *)src)[at + o[k]];
                d[k] = v * m->norm_scale[k];
            }
        }
    }
}

/* Node 0's gradient (normalized units, its layout) -> d/d(pixel), NHWC. */
static void pixel_grad(gd_engine *e)
{
    const gd_model *m = e->model;
    const eng_layout l = e->din_layout;
    float *g = e->grad;
    const int h = e->h, w = e->w, c = m->in_c;
    if (!e->nodes[0].diff_started) {
        memset(g, 0, (size_t)h * w * c * sizeof *g);
        return;
    }
    if (e->stem)
        return; /* written by the first convolution's own step (stem.c, pwdw.c) */
    if (e->s2d) {
        pixel_grad_s2d(e);
        return;
    }
    dnnl_dim_t off[ENG_MAX_IN_C];
    channel_offsets(&l, c, off);
    if (l.bf16) {
        const uint16_t *src = e->bufs[e->nodes[0].diff_buf].ptr;
#pragma omp parallel for schedule(static)
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                const uint16_t *s = src + y * l.sy + x * l.sx;
                float *d = g + ((size_t)y * w + x) * c;
                for (int k = 0; k < c; k++)
                    d[k] = from_bf16(s[off[k]]) * m->norm_scale[k];
            }
        }
        return;
    }
    const float *src = e->bufs[e->nodes[0].diff_buf].ptr;
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            const float *s = src + y * l.sy + x * l.sx;
            float *d = g + ((size_t)y * w + x) * c;
            for (int k = 0; k < c; k++)
                d[k] = s[off[k]] * m->norm_scale[k];
        }
    }
}

static gd_status run(gd_engine *e, const eng_step_list *list, gd_err *err)
{
    for (int k = 0; k < list->n; k++) {
        const eng_step *s = &list->v[k];
        switch (s->kind) {
        case ENG_STEP_PRIM: {
            dnnl_status_t ds = dnnl_primitive_execute(s->prim, e->stream, s->nargs, s->args);
            if (ds != dnnl_success)
                return eng_fail(e, s->node, s->what, ds, err);
            break;
        }
        case ENG_STEP_NORMALIZE:
            normalize(e);
            break;
        case ENG_STEP_PIXEL_GRAD:
            pixel_grad(e);
            break;
        case ENG_STEP_MASK:
            eng_mask_run(e, s->node);
            break;
        case ENG_STEP_PW_FWD:
            eng_pw_fwd_run(e, s->node);
            break;
        case ENG_STEP_PW_BWD:
            eng_pw_bwd_run(e, s->node);
            break;
        case ENG_STEP_PWDW_FWD:
            eng_pwdw_fwd_run(e, s->node);
            break;
        case ENG_STEP_DWPW_BWD:
            eng_dwpw_bwd_run(e, s->node);
            break;
        case ENG_STEP_STEM_FWD:
            eng_stem_fwd_run(e, s->node);
            break;
        case ENG_STEP_STEM_BWD:
            eng_stem_bwd_run(e, s->node);
            break;
        case ENG_STEP_KIND_COUNT:
            break;
        }
    }
    dnnl_status_t ds = dnnl_stream_wait(e->stream);
    if (ds != dnnl_success)
        return gd_err_set(err, GD_ELIB, "engine: oneDNN stream wait: %s", eng_dnnl_status_str(ds));
    return GD_OK;
}

gd_status gd_engine_forward(gd_engine *e, const float *pixels, gd_err *err)
{
    gd_err local;
    if (!err)
        err = &local;
    e->pixels = pixels;
    e->forward_done = 0;
    gd_status st = run(e, &e->fwd, err);
    e->pixels = NULL;
    e->forward_done = st == GD_OK;
    return st;
}

gd_status gd_engine_backward(gd_engine *e, float *grad, gd_err *err)
{
    gd_err local;
    if (!err)
        err = &local;
    if (!e->backward)
        return gd_err_set(err, GD_EINPUT,
                          "engine: built without a backward pass "
                          "(gd_engine_opts.backward = 0)");
    if (!e->forward_done)
        return gd_err_set(err, GD_EINPUT, "engine: backward needs a successful forward first");
    e->grad = grad;
    gd_status st = run(e, &e->bwd, err);
    e->grad = NULL;
    return st;
}

void gd_engine_size(const gd_engine *e, int *h, int *w)
{
    *h = e->h;
    *w = e->w;
}

int gd_engine_n_outputs(const gd_engine *e)
{
    return e->n_outputs;
}

int gd_engine_output_node(const gd_engine *e, int k)
{
    return k >= 0 && k < e->n_outputs ? e->outputs[k] : -1;
}

const float *gd_engine_output(const gd_engine *e, int k, gd_shape *shape)
{
    if (k < 0 || k >= e->n_outputs)
        return NULL;
    if (shape)
        *shape = e->nodes[e->outputs[k]].shape;
    return e->out_plain[k];
}

float *gd_engine_seed(gd_engine *e, int k)
{
    if (k < 0 || k >= e->n_outputs || !e->backward)
        return NULL;
    return e->seed_plain[k];
}

double gd_engine_forward_flops(const gd_engine *e)
{
    return e->fwd_flops;
}

double gd_engine_backward_flops(const gd_engine *e)
{
    return e->bwd_flops;
}

int gd_engine_folded_activations(const gd_engine *e)
{
    int n = 0;
    for (int i = 0; i < e->model->n_nodes; i++)
        n += e->nodes[i].act_fused;
    /* And each own 1x1 backward its own activation's. */
    for (int k = 0; k < e->bwd.n; k++)
        n += e->bwd.v[k].kind == ENG_STEP_PW_BWD || e->bwd.v[k].kind == ENG_STEP_DWPW_BWD;
    return n;
}

/* The layers one fused step runs besides its 1x1 (pwdw.c): the depthwise
 * ones, and the head, a 1x1 or the first convolution. */
static void count_fused(const gd_engine *e, eng_fusion f, int *dw, int *pw, int *stem)
{
    *dw += (f.dw >= 0) + (f.pre >= 0);
    if (f.head >= 0)
        *(f.head == e->stem_fwd ? stem : pw) += 1;
}

const char *gd_engine_kernel_isa(const gd_engine *e)
{
    return e->kern ? e->kern->isa : NULL;
}

void gd_engine_own_layers(const gd_engine *e, gd_engine_own *own)
{
    memset(own, 0, sizeof *own);
    const eng_step_list *lists[2] = {&e->fwd, &e->bwd};
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < lists[l]->n; k++) {
            const eng_node *n = &e->nodes[lists[l]->v[k].node];
            switch (lists[l]->v[k].kind) {
            case ENG_STEP_PW_FWD:
                own->pw_fwd++;
                break;
            case ENG_STEP_PW_BWD:
                own->pw_bwd++;
                break;
            case ENG_STEP_PWDW_FWD:
                own->pw_fwd++;
                count_fused(e, n->fuse_fwd, &own->dw_fwd, &own->pw_fwd, &own->stem_fwd);
                break;
            case ENG_STEP_DWPW_BWD:
                own->pw_bwd++;
                count_fused(e, n->fuse_bwd, &own->dw_bwd, &own->pw_bwd, &own->stem_bwd);
                break;
            case ENG_STEP_STEM_FWD:
                own->stem_fwd++;
                break;
            case ENG_STEP_STEM_BWD:
                own->stem_bwd++;
                break;
            case ENG_STEP_PRIM:
            case ENG_STEP_NORMALIZE:
            case ENG_STEP_PIXEL_GRAD:
            case ENG_STEP_MASK:
            case ENG_STEP_KIND_COUNT:
                break;
            }
        }
}

size_t gd_engine_bytes(const gd_engine *e)
{
    size_t bytes = 0;
    for (int b = 0; b < e->n_bufs; b++)
        bytes += e->bufs[b].bytes;
    for (int k = 0; k < e->n_outputs; k++) {
        gd_shape s = e->nodes[e->outputs[k]].shape;
        size_t n = (size_t)s.c * s.h * s.w * sizeof(float);
        bytes += n * (e->backward ? 2 : 1);
    }
    return bytes;
}

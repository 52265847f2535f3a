/*
 * engine_internal.h: the private state of a gd_engine, shared by the
 * engine's source files only (engine.c, engine_dnnl.c, engine_forward.c,
 * engine_backward.c, engine_mask.c, engine_pw.c, engine_pwdw.c, engine_stem.c,
 * engine_share.c).
 * Nothing outside
 * src/engine*.c includes it.
 *
 * How an engine is built (engine.c drives it, the others fill it):
 *   1. shapes and the needed subgraph (gd_model_shapes, gd_model_ancestors);
 *   2. forward plan, nodes in topological order (engine_forward.c): one
 *      oneDNN primitive per node, src/weights/dst layouts chosen by oneDNN
 *      (format_tag_any) where the primitive allows it, a reorder step only
 *      where a consumer wants another layout than its producer made;
 *   3. backward plan, nodes in reverse order (engine_backward.c): each node's
 *      gradient ("diff") is accumulated from its consumers and, for outputs,
 *      its seed, then pushed to its inputs; a ReLU/ReLU6 read by one stride-1
 *      convolution has its backward folded into that convolution's
 *      (engine_mask.c: a byte mask the forward writes, multiplied in);
 *   4. activations that die within the forward pass share buffers
 *      (engine_share.c);
 *   5. buffers are allocated once, and every oneDNN memory object is bound
 *      to its buffer (engine_dnnl.c).
 * Running a pass is then a walk over a flat step list: no allocation.
 *
 * Invariants once an engine is built:
 *   1. md[i] is the layout of node i's activation, for every needed node;
 *      dmd[i] == md[i] for i > 0 (a node's gradient has its activation's
 *      layout), so element-wise backward primitives see matching layouts.
 *   2. md[0] and dmd[0] are "simple" layouts (eng_layout_of succeeds): the
 *      input normalization and the pixel gradient are our own loops.
 *   3. Every buffer is owned by e->bufs and freed once; memory objects and
 *      primitives are owned by e->mems / e->prims; steps only borrow them.
 *   4. Diff buffers come from a pool: a node's diff buffer is taken at its
 *      first contribution and returned after the node's own backward steps,
 *      so buffers are shared by nodes whose gradients are never live at once.
 *      Folded nodes' activations share buffers the same way within the
 *      forward pass (engine_share.c); act_buf[j] names the one j uses.
 *   5. Every activation, gradient and weights memory has data type e->dt
 *      (f32, or bf16 for a bf16 engine); biases and the plain outputs and
 *      seeds are f32.  So the only conversions are at the edges: weights
 *      at creation (the init reorders), node 0 in our normalization and
 *      pixel-gradient loops, outputs and seeds in their reorders.  The
 *      folded activations' masks are u8.
 */
#ifndef GIGADREAM_ENGINE_INTERNAL_H
#define GIGADREAM_ENGINE_INTERNAL_H

#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>

#include "gigadream/engine.h"

#define ENG_MAX_ARGS (GD_MAX_INPUTS + 4)
#define ENG_S2D_MAX_C 16 /* most input channels the space-to-depth backward takes */

typedef enum eng_step_kind {
    ENG_STEP_PRIM = 0,   /* execute a oneDNN primitive */
    ENG_STEP_NORMALIZE,  /* pixels (NHWC, [0,255]) -> normalized node 0 activation */
    ENG_STEP_PIXEL_GRAD, /* node 0 gradient -> d/d(pixel), NHWC */
    ENG_STEP_MASK,       /* node's activation -> its derivative as a byte mask (engine_mask.c) */
    ENG_STEP_PW,         /* 1x1 backward with its activation backward (engine_pw.c) */
    ENG_STEP_PW_FWD,     /* 1x1 forward writing its activation's derivative bits (engine_pw.c) */
    ENG_STEP_STEM,       /* first convolution backward into the pixel gradient (engine_stem.c) */
    ENG_STEP_STEM_FWD,   /* first convolution forward with its activation mask (engine_stem.c) */
    ENG_STEP_KIND_COUNT
} eng_step_kind;

typedef struct eng_step {
    eng_step_kind kind;
    int node;         /* the model node this step belongs to (for messages) */
    const char *what; /* "convolution backward data", for messages */
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[ENG_MAX_ARGS];
} eng_step;

typedef struct eng_step_list {
    eng_step *v;
    int n, cap;
} eng_step_list;

/* A buffer the engine owns; allocated after planning (64-byte aligned, zeroed). */
typedef struct eng_buf {
    size_t bytes;
    void *ptr;
    int pooled; /* a diff buffer from the pool */
    int in_use; /* pool bookkeeping while planning */
} eng_buf;

/* A memory object to point at a buffer once buffers exist. */
typedef struct eng_bind {
    dnnl_memory_t mem;
    int buf;
} eng_bind;

/* A layout our own loops can address: offset(c, y, x) as below, in elements. */
typedef struct eng_layout {
    dnnl_dim_t off0, sc, sy, sx; /* sc: stride between channel blocks */
    int cblk;                    /* channels per innermost block (1 = plain) */
    int bf16;                    /* elements are bf16 (uint16_t), else f32 */
} eng_layout;

/* Fused steps (engine_pwdw.c): the nodes that run inside one 1x1 node's own
 * step besides it, in one direction; -1 where none. */
typedef struct eng_fusion {
    int dw;   /* its one reader, a stride-2 depthwise convolution */
    int pre;  /* its input j, a stride-1 depthwise convolution */
    int head; /* j's input s: a 1x1, or the first convolution (== stem_fwd) */
} eng_fusion;

/* The plan of one node: its layouts, memories, buffers and fusions. */
typedef struct eng_node {
    int need;       /* an output needs it */
    gd_shape shape; /* its activation's */

    /* Forward. */
    dnnl_memory_desc_t md;        /* activation layout */
    int md_fixed;                 /* md may no longer change (node 0 waits for its first user) */
    dnnl_memory_t act;            /* activation (NULL until created) */
    int act_buf;                  /* its buffer, or -1 */
    dnnl_primitive_desc_t fwd_pd; /* forward pd, kept as the backward hint while building */
    dnnl_memory_t workspace;      /* pooling max / LRN workspace, or NULL */
    dnnl_memory_t wei_fwd;        /* weights in the forward primitive's layout */

    /* Backward. */
    dnnl_memory_desc_t dmd; /* gradient layout */
    int dmd_fixed;
    dnnl_memory_t diff; /* gradient (NULL until created) */
    int diff_buf;       /* its buffer, or -1 */
    int diff_started;   /* a contribution has been planned */

    /* Its ReLU/ReLU6 backward folded into a reader's (act_fused): the
     * derivative as a byte mask (mask_buf, mask_mem; engine_mask.c) or as
     * bits (bits_buf, 16 channels to a uint16_t, [channel block][pixel];
     * engine_pw.c); -1 / NULL where not kept. */
    int act_fused;
    int mask_buf;
    dnnl_memory_t mask_mem;
    int bits_buf;

    /* Weights in the orders of our loops (owned; NULL where unused):
     * wt_fwd [C][O] for a 1x1's own forward, [9 C][O] for the first
     * convolution's; wt_bwd the kernel transposed and flipped for the
     * masked backward (engine_mask.c), [O][ENG_STEM_Z] for the first
     * convolution's own backward, or its space-to-depth kernel; taps a
     * depthwise kernel as [ky * 3 + kx][channel]. */
    float *wt_fwd;
    float *wt_bwd;
    float *taps;

    eng_fusion fuse_fwd, fuse_bwd; /* run inside its forward / backward step */
} eng_node;

struct gd_engine {
    const gd_model *model;
    int h, w;
    int n_outputs;
    int *outputs;
    int backward;
    gd_engine_precision precision;
    int onednn_only;     /* gd_engine_opts: no own loops */
    dnnl_data_type_t dt; /* activations, gradients, weights (invariant 5) */
    double fwd_flops, bwd_flops;
    int forward_done;

    dnnl_engine_t eng;
    dnnl_stream_t stream;

    eng_node *nodes; /* [model->n_nodes] */

    /* Outputs and seeds, plain CHW, [n_outputs]. */
    float **out_plain;
    float **seed_plain;
    dnnl_memory_t *out_mem;
    dnnl_memory_t *seed_mem;

    /* Scratch: one buffer per role, sized to the largest use. */
    int scratch_a;  /* a consumer's reordered src (forward); a diff_src before accumulation */
    int scratch_b;  /* a reordered diff_dst (backward) */
    int scratchpad; /* oneDNN's scratchpad, shared by every primitive (user mode) */

    /* The first convolution's backward in space-to-depth form (engine_backward.c,
     * bwd_conv_s2d): node 0's gradient as a {4 * in_c, h / 2, w / 2} tensor in
     * buffer s2d_buf (layout s2d_layout), channel ((y % 2) * 2 + x % 2) * in_c + c
     * holding pixel (y, x, c); the rearranged weights it reads in that node's wt_bwd. */
    int s2d;
    int s2d_buf;
    eng_layout s2d_layout;

    /* Own first-convolution backward (engine_stem.c): when stem is set, its
     * step writes the pixel gradient itself (the pixel step then does
     * nothing), with stem_threads rows of buffer stem_buf per thread; or
     * engine_pwdw.c's step does, a row at a time (fuse_bwd.head, then no
     * step of its own and no stem_buf). */
    int stem;
    int stem_buf;
    int stem_threads;
    /* The first convolution whose forward is ENG_STEP_STEM_FWD (its weights
     * in its wt_fwd), which also writes its mask when one is planned
     * (eng_mask_plan then adds no pass); or -1. */
    int stem_fwd;

    /* Rows of the fused steps (engine_pwdw.c): per thread, for up to
     * pwdw_threads threads. */
    int pwdw_buf;
    int pwdw_threads;

    /* Pixel I/O of the current call. */
    const float *pixels;
    float *grad;
    eng_layout in_layout, din_layout;

    eng_step_list init; /* run once after allocation (weights reorders) */
    eng_step_list fwd, bwd;

    dnnl_primitive_t *prims;
    int n_prims, cap_prims;
    dnnl_memory_t *mems;
    int n_mems, cap_mems;
    dnnl_primitive_desc_t *pds; /* destroyed at the end of creation */
    int n_pds, cap_pds;
    eng_buf *bufs;
    int n_bufs, cap_bufs;
    eng_bind *binds;
    int n_binds, cap_binds;
};

/* engine_dnnl.c: oneDNN helpers shared by the builders. */

const char *eng_dnnl_status_str(dnnl_status_t s);
/* Sets err to "node 'X' (op): oneDNN <what>: <status>" and returns the gd_status. */
gd_status eng_fail(const gd_engine *e, int node, const char *what, dnnl_status_t s, gd_err *err);
gd_status eng_grow(void **v, int *cap, int need, size_t elem, const char *what, gd_err *err);

/* A new buffer of `bytes` (allocated after planning); returns its index or -1. */
int eng_buf_new(gd_engine *e, size_t bytes, gd_err *err);
/* Grows a buffer's planned size to at least bytes. */
void eng_buf_reserve(gd_engine *e, int buf, size_t bytes);
/* A pooled diff buffer of at least bytes, free at this point of the plan. */
int eng_pool_get(gd_engine *e, size_t bytes, gd_err *err);
void eng_pool_put(gd_engine *e, int buf);

/* A memory object for md bound to buffer buf (bound after allocation). */
gd_status eng_mem(gd_engine *e, int node, const dnnl_memory_desc_t *md, int buf, dnnl_memory_t *out,
                  gd_err *err);
/* A memory object over memory the engine does not own (model weights, plain I/O). */
gd_status eng_mem_user(gd_engine *e, int node, const dnnl_memory_desc_t *md, void *ptr,
                       dnnl_memory_t *out, gd_err *err);

/* Attributes every primitive gets: user scratchpad, and the activation as a post-op. */
gd_status eng_attr(const gd_engine *e, int node, gd_act act, dnnl_primitive_attr_t *attr,
                   gd_err *err);
/* The eltwise algorithm and alpha/beta of an activation (forward, backward from dst). */
void eng_act_alg(gd_act act, dnnl_alg_kind_t *fwd, dnnl_alg_kind_t *bwd, float *alpha, float *beta);

/* Creates a primitive descriptor from an op descriptor; registered for destruction. */
gd_status eng_pd(gd_engine *e, int node, const char *what, const_dnnl_op_desc_t op,
                 const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint,
                 dnnl_primitive_desc_t *pd, gd_err *err);
/* The memory descriptor a pd reports for `what` (src, weights, dst, diff_src...). */
const dnnl_memory_desc_t *eng_pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what);

/*
 * Creates the primitive of pd and appends a step running it with args
 * (the scratchpad argument is added here).  The primitive is owned by e.
 */
gd_status eng_step_prim(gd_engine *e, eng_step_list *list, int node, const char *what,
                        const_dnnl_primitive_desc_t pd, int nargs, const dnnl_exec_arg_t *args,
                        gd_err *err);
gd_status eng_step_own(eng_step_list *list, int node, eng_step_kind kind, const char *what,
                       gd_err *err);

/*
 * Appends a reorder src -> dst to list; with accumulate, dst += src
 * (a sum post-op).  Both memories are owned by e already.
 */
gd_status eng_reorder(gd_engine *e, eng_step_list *list, int node, dnnl_memory_t src,
                      dnnl_memory_t dst, int accumulate, gd_err *err);

/* The memory descriptor of a memory object. */
const dnnl_memory_desc_t *eng_mem_md(const_dnnl_memory_t m);

/* Fills *l when md is a 4-D f32 or bf16 layout our loops can address; returns 0 otherwise. */
int eng_layout_of(const dnnl_memory_desc_t *md, eng_layout *l);
/* Fills *l when md is an f32 layout of 16-channel blocks, rows of w pixels
 * dense (sx 16, sy 16 w) and no padding: what the own loops (engine_pw.c,
 * engine_stem.c) address; returns 0 otherwise. */
int eng_blocked16(const dnnl_memory_desc_t *md, int w, eng_layout *l);
/* Whether e may run own loops: oneDNN may use AVX-512 here
 * (ONEDNN_MAX_CPU_ISA counts), which they are compiled for, and e was not
 * asked for oneDNN only. */
int eng_own_isa(const gd_engine *e);
/* A 4-D descriptor {1, c, h, w} of type dt (e->dt, or f32 for plain I/O) with the
 * given tag (nchw, nhwc or any). */
gd_status eng_md4(const gd_engine *e, int node, int c, int h, int w, dnnl_data_type_t dt,
                  dnnl_format_tag_t tag, dnnl_memory_desc_t *md, gd_err *err);

/* Allocates every planned buffer and binds every memory object to it. */
gd_status eng_alloc(gd_engine *e, gd_err *err);
void eng_destroy_objects(gd_engine *e);

/* Registers a primitive descriptor created outside eng_pd (concat, sum). */
gd_status eng_keep_pd(gd_engine *e, dnnl_primitive_desc_t pd, gd_err *err);

/* engine_forward.c */

/* Node i's weights in layout want, from the model's floats (user_md): the
 * model's own memory when they agree, else a buffer filled at creation. */
gd_status eng_weights(gd_engine *e, int i, const dnnl_memory_desc_t *want,
                      const dnnl_memory_desc_t *user_md, float *data, dnnl_memory_t *out,
                      gd_err *err);
/* The descriptor of node i's weights in the model's layout, and an "any" one. */
gd_status eng_weights_md(const gd_engine *e, int i, dnnl_memory_desc_t *user,
                         dnnl_memory_desc_t *any, gd_err *err);
/* A pooling descriptor for node i: forward (prop) or backward (dnnl_backward_data). */
gd_status eng_pool_desc(const gd_engine *e, int i, dnnl_pooling_v2_desc_t *pdsc,
                        dnnl_prop_kind_t prop, const dnnl_memory_desc_t *src,
                        const dnnl_memory_desc_t *dst, gd_err *err);
/* oneDNN's LRN alpha for node n (oneDNN divides alpha by the window size). */
float eng_lrn_alpha(const gd_node *n);
/* RESHAPE node i's (C*H*W) x 1 x 1 tensor in buffer buf, viewed as its input {1,C,H,W} nhwc. */
gd_status eng_reshape_view(gd_engine *e, int i, int buf, dnnl_memory_t *view, gd_err *err);

/* Makes sure node j's activation memory exists, fixing its layout. */
gd_status eng_act_mem(gd_engine *e, int node, int j, gd_err *err);
/* Plans the forward steps of one needed node (one switch over gd_op). */
gd_status eng_forward_node(gd_engine *e, int i, gd_err *err);

/* engine_backward.c */

/* How many needed nodes read node j (a node reading it twice counts twice). */
int eng_consumers(const gd_engine *e, int j);

/* Plans the backward steps of one needed node, and node 0's pixel gradient. */
gd_status eng_backward_node(gd_engine *e, int i, gd_err *err);

/* engine_share.c */

/*
 * After planning: the activation buffers of nodes whose activation backward
 * is folded (act_fused), read by nothing after their one reader's forward
 * step, are shared by nodes whose such spans do not overlap.  Only
 * unpadded layouts (so no buffer's channel padding must stay zero), only
 * buffers no init or backward step touches.
 */
gd_status eng_share_activations(gd_engine *e, gd_err *err);

/* engine_mask.c */

/*
 * Whether convolution k's backward can fold in its input j's activation:
 * stride 1, no dilation, j a convolution ending in ReLU or ReLU6 whose only
 * reader is k, not an output, no gradient planned for it yet.
 */
int eng_mask_fusable(const gd_engine *e, int k);
/* Transposed, flipped copy of k's weights (owned by e->tw[k]) and its
 * descriptors: the kernel of k's backward-data run as a forward convolution. */
gd_status eng_mask_weights(gd_engine *e, int k, dnnl_memory_desc_t *user, dnnl_memory_desc_t *any,
                           gd_err *err);
/* The descriptor of node j's mask: j's activation layout, one byte per element. */
void eng_mask_md(const gd_engine *e, int j, dnnl_memory_desc_t *md);
/* Plans node j's mask: its buffer, its memory (e->mask_mem[j]) and the
 * forward step that fills it, placed right after j's own steps. */
gd_status eng_mask_plan(gd_engine *e, int j, gd_err *err);
/* The ENG_STEP_MASK step for node j. */
void eng_mask_run(gd_engine *e, int j);

/* engine_pw.c: own 1x1 backward */

/*
 * Whether 1x1 convolution i's backward-data and its own ReLU/ReLU6 backward
 * can be one loop of ours: stride 1, groups 1, no padding, i's activation
 * not folded elsewhere, the input j a node > 0 with no gradient planned yet,
 * C = j's channels a multiple of 32, O = i's a multiple of 16 up to 1024;
 * f32, diff[i], i's activation and j's gradient 16-channel blocked with
 * dense rows and no padding; oneDNN allowed AVX-512.
 */
int eng_pw_fusable(const gd_engine *e, int i);
/* Plans that loop as node i's backward step, writing diff[j] (which the
 * caller has created): when eng_mask_fusable(e, i), j's mask is planned and
 * multiplied in (act_fused[j] set). */
gd_status eng_pw_plan(gd_engine *e, int i, gd_err *err);
/* The ENG_STEP_PW step for node i. */
void eng_pw_run(gd_engine *e, int i);

/*
 * Whether 1x1 convolution i's forward, planned with oneDNN's pd (its dst
 * layout now md[i], its src src), can be our loop writing the derivative
 * bits its own backward will read: as eng_pw_fusable asks of i, with O a
 * multiple of 64, src j's own memory, and i's one reader a convolution of
 * stride 2 (which folds no activation), so that backward will be ours.
 */
int eng_pw_fwd_ok(const gd_engine *e, int i, dnnl_memory_t src);
/* Plans that step (the weights transposed, the bits buffer). */
gd_status eng_pw_fwd_plan(gd_engine *e, int i, gd_err *err);
/* The same without the step, for engine_pwdw.c, which runs node i's rows in
 * its own step: wt_fwd[i], bits_buf[i], and bits_buf of i's input when i's
 * backward folds its activation. */
gd_status eng_pw_fwd_prepare(gd_engine *e, int i, gd_err *err);
/* Whether 1x1 node s can run at the head of engine_pwdw.c's steps (its rows
 * made in cache from its input's): the own loops' shape with up to
 * ENG_PWDW_MAX_O input channels, O a multiple of 32, a bias, one reader,
 * not an output, 16-channel blocked layouts. */
int eng_pw_head_ok(const gd_engine *e, int s);
/* The ENG_STEP_PW_FWD step for node i. */
void eng_pw_fwd_run(gd_engine *e, int i);

/*
 * Row at a time, for engine_pwdw.c: row y of 1x1 node i's forward into dst
 * ([O / 16][w][16]), its derivative bits (and its input's) kept only when
 * keep_bits, its input read from act[j] or, when src is set, from src (the
 * row, [C / 16][w][16]); and row y of its backward from stage (the row's
 * gradient times i's derivative, pixel-major, eng_pwdw_stride(O) floats a
 * pixel) into diff[j] or, when dst is set, into dst (the row, [C / 16][w][16]).
 * AVX-512 CPUs only (callers have checked eng_pw_fwd_ok / eng_pw_fusable).
 */
void eng_pw_fwd_row(const gd_engine *e, int i, int y, const float *src, float *dst, int keep_bits);
void eng_pw_bwd_row(const gd_engine *e, int i, int y, const float *stage, float *dst);

/* engine_pwdw.c: 1x1 and stride-2 depthwise */

#define ENG_PWDW_MAX_O 256 /* most channels the 1x1's input and output may have */
/* Floats between staged pixels of the backward for O channels: O rounded
 * up to 64, 128 or 256, plus 16 (rows not a multiple of 4 KB apart). */
#define ENG_PWDW_STRIDE_64 80
#define ENG_PWDW_STRIDE_128 144
#define ENG_PWDW_STRIDE_256 272
static inline int eng_pwdw_stride(int o)
{
    return o <= 64 ? ENG_PWDW_STRIDE_64 : o <= 128 ? ENG_PWDW_STRIDE_128 : ENG_PWDW_STRIDE_256;
}

/* Whether node k, read from a 1x1 node, is a depthwise convolution the
 * 1x1's steps could run (its parameters only: f32 3x3 stride 2, groups =
 * channels = a multiple of 16 up to ENG_PWDW_MAX_O, a bias, ReLU / ReLU6 /
 * none). */
int eng_pwdw_reader(const gd_engine *e, int k);

/*
 * Whether depthwise node d's forward, planned with oneDNN's pd (src its
 * input p's memory), can run inside p's ENG_STEP_PW_FWD step, which was
 * just planned: f32 3x3 stride 2, groups = channels = a multiple of 16 up
 * to ENG_PWDW_MAX_O, a bias, ReLU / ReLU6 / none, padding before at most 1,
 * md[d] 16-channel blocked with dense rows.
 */
int eng_pwdw_fwd_ok(const gd_engine *e, int d, dnnl_memory_t src);
/* Plans it: fuse_dw[p] = d, d's taps, the rows; p's activation buffer is
 * not allocated.  d's mask, if one is planned later, is written by it too.
 * When p's input j is a stride-1 3x3 depthwise convolution (groups =
 * channels, padding 1 all round, a bias, ReLU / ReLU6 whose derivative p
 * keeps as bits, p its one reader, not an output) whose forward step, just
 * before p's, reads its input s's 16-channel blocked activation: that step
 * goes too, fuse_pre[p] = j, and j's activation buffer is not allocated. */
gd_status eng_pwdw_fwd_plan(gd_engine *e, int d, gd_err *err);
/*
 * d's backward-data inside p's backward step (eng_pw_plan), when d has the
 * shape above, p's forward is ours (bits) and p's backward will be
 * (eng_pw_fusable): sets fuse_dw_bwd[p] = d, *fused = 1 and marks p's
 * gradient started without making it; d's gradient must then stay out of
 * the pool until p's step (eng_backward_node).  Else *fused = 0, nothing.
 */
gd_status eng_pwdw_bwd_plan(gd_engine *e, int d, int *fused, gd_err *err);
/*
 * Node s, when 1x1 node p's backward step (fuse_dw_bwd set) can also run
 * its input j's backward-data (j as for fuse_pre) into s's gradient: s has
 * no gradient yet, j is its one reader, its gradient layout 16-channel
 * blocked.  Else -1.  The caller then makes diff[s] (and s's mask where j
 * folds s's activation) in place of diff[j] and calls eng_pwdw_pre_bwd_plan
 * before eng_pw_plan; j's own backward plans nothing (its gradient is
 * never started).
 */
int eng_pwdw_pre_bwd(const gd_engine *e, int p);
/*
 * With s at the head of p's forward step (fuse_head): h = s's input when
 * s's backward can run in p's backward step too (h has no gradient yet, s
 * is its one reader, its gradient layout 16-channel blocked), else -1.  The
 * caller then makes diff[h] (and h's mask where s folds h's activation and
 * keeps no bits of it) in place of diff[s].
 */
int eng_pwdw_head_bwd(const gd_engine *e, int p);
/* Plans the stride-1 depthwise (and with head, the head) in p's backward
 * step: fuse_pre_bwd[p] (and fuse_head_bwd[p]), the rows they need. */
gd_status eng_pwdw_pre_bwd_plan(gd_engine *e, int p, int head, gd_err *err);
/* The two loops, for 1x1 node p (called by eng_pw_fwd_run / eng_pw_run). */
void eng_pwdw_fwd_run(gd_engine *e, int p);
void eng_dwpw_bwd_run(gd_engine *e, int p);

/* engine_stem.c: own first-convolution backward */

/*
 * Whether convolution i, the only reader of the input, can have its
 * backward-data written straight into the pixel gradient by our loop:
 * 3x3, stride 2, no dilation, groups 1, no padding before, the input's
 * sides twice i's, at most 3 input channels and 16k output channels, i's
 * gradient f32 16-channel blocked with dense rows; oneDNN allowed AVX-512.
 */
int eng_stem_ok(const gd_engine *e, int i);
/* Plans that step (i's weights rearranged into e->tw[i], a row buffer);
 * sets e->stem and marks node 0's gradient as started. */
gd_status eng_stem_plan(gd_engine *e, int i, gd_err *err);
/* The same without the step and its buffer, for engine_pwdw.c, which runs
 * it a row at a time: row oy's Z (w x ENG_STEM_Z floats) into z from the
 * row's gradient g ([O / 16][w][16]), and, when write, image rows 2 oy and
 * 2 oy + 1 of the pixel gradient (zp: row oy - 1's Z). */
gd_status eng_stem_bwd_prepare(gd_engine *e, int i, gd_err *err);
/* Whether eng_stem_ok would hold but for i's gradient, which a row-at-a-time
 * caller never makes. */
int eng_stem_rows_ok(const gd_engine *e, int i);
void eng_stem_bwd_row(const gd_engine *e, int i, int oy, const float *g, float *z, const float *zp,
                      int write);
#define ENG_STEM_Z 32 /* floats of Z per pixel (engine_stem.c's STEM_T) */
/* The ENG_STEP_STEM step for node i: writes e->grad. */
void eng_stem_run(gd_engine *e, int i);

/*
 * Whether convolution i's forward, planned with oneDNN's pd (dst layout now
 * md[i], src src), can be our loop: eng_stem_ok's shape and CPU, a bias,
 * ReLU, ReLU6 or no activation, src node 0's own planar memory, md[i]
 * 16-channel blocked with dense rows.
 */
int eng_stem_fwd_ok(const gd_engine *e, int i, dnnl_memory_t src);
gd_status eng_stem_fwd_plan(gd_engine *e, int i, gd_err *err);
/* Row oy of it into dst ([O / 16][w][16]), its mask (if planned) written
 * only when keep_mask: for engine_pwdw.c, which may run it at the head of
 * its steps (fuse_head[p] == stem_fwd). */
void eng_stem_fwd_row(const gd_engine *e, int i, int oy, float *dst, int keep_mask);
/* The ENG_STEP_STEM_FWD step for node i. */
void eng_stem_fwd_run(gd_engine *e, int i);

#endif

/*
 * engine_int.h: the private state of a gd_engine and the functions its
 * files share.  Only src/engine/ includes it; the kernels in
 * src/engine/simd/ see kernels_int.h alone.
 *
 * The engine's files, each calling only the ones listed below it:
 *   engine.c     the public side (engine.h): creation, the step loop, the
 *                input normalization and pixel gradient, queries;
 *   share.c      activations that die within the forward pass share buffers;
 *   backward.c   the backward plan, one switch over gd_op;
 *   forward.c    the forward plan, one switch over gd_op;
 *   pw.c         own steps: a 1x1 convolution alone, forward and backward;
 *   pwdw.c       own steps: a 1x1 with its depthwise neighbours (and the
 *                layer before them), forward and backward, a row at a time;
 *   stem.c       own steps: the first convolution, forward and backward;
 *   own.c        what those three share: which 1x1s the kernels take, their
 *                weights and bits, and every kernel's arguments from the plan;
 *   mask.c       ReLU / ReLU6 backward folded into the reader's, as a byte mask;
 *   plan.c       the per-node plan's table and the graph queries planners ask;
 *   kernels.c    the kernel table this CPU runs (kernels_int.h);
 *   dnnl.c       oneDNN plumbing: buffers, memories, primitives, steps, layouts;
 *   simd/        the kernels (one source, one object per ISA), reached only through the table.
 *
 * How an engine is built (engine.c drives it, the others fill it):
 *   1. the needed subgraph and its shapes, the kernel table (plan.c,
 *      kernels.c);
 *   2. forward plan, nodes in topological order (forward.c): one oneDNN
 *      primitive per node, src/weights/dst layouts chosen by oneDNN
 *      (format_tag_any) where the primitive allows it, a reorder step only
 *      where a consumer wants another layout than its producer made; or an
 *      own step (pw.c, stem.c, pwdw.c) where a kernel takes the node;
 *   3. backward plan, nodes in reverse order (backward.c): each node's
 *      gradient ("diff") is accumulated from its consumers and, for outputs,
 *      its seed, then pushed to its inputs; a ReLU/ReLU6 read by one stride-1
 *      convolution has its backward folded into that convolution's (mask.c:
 *      a byte mask the forward writes, multiplied in; or bits an own
 *      forward writes);
 *   4. activations that die within the forward pass share buffers (share.c);
 *   5. buffers are allocated once, and every oneDNN memory object is bound
 *      to its buffer (dnnl.c).
 * Running a pass is then a walk over a flat step list (engine.c, one switch
 * over the step kinds): no allocation.
 *
 * Invariants once an engine is built (nodes[i] is node i's plan):
 *   1. nodes[i].md is the layout of node i's activation, for every needed
 *      node; nodes[i].dmd == nodes[i].md for i > 0 (a node's gradient has
 *      its activation's layout), so element-wise backward primitives see
 *      matching layouts.
 *   2. nodes[0].md and nodes[0].dmd are "simple" layouts (eng_layout_of
 *      succeeds): the input normalization and the pixel gradient are our
 *      own loops.
 *   3. Every buffer is owned by e->bufs and freed once; memory objects and
 *      primitives are owned by e->mems / e->prims; steps only borrow them.
 *      The weights copies in eng_node (wt_fwd, wt_bwd, taps) are owned by
 *      their node's plan.
 *   4. Diff buffers come from a pool: a node's diff buffer is taken at its
 *      first contribution and returned after the node's own backward steps,
 *      so buffers are shared by nodes whose gradients are never live at once.
 *      Folded nodes' activations share buffers the same way within the
 *      forward pass (share.c); nodes[j].act_buf names the one j uses.
 *   5. Every activation, gradient and weights memory has data type e->dt
 *      (f32, or bf16 for a bf16 engine); biases and the plain outputs and
 *      seeds are f32.  So the only conversions are at the edges: weights
 *      at creation (the init reorders), node 0 in our normalization and
 *      pixel-gradient loops, outputs and seeds in their reorders.  The
 *      folded activations' masks are u8, their bits uint16_t.
 *   6. Own steps exist only when e->kern is set, and every own step runs
 *      its arithmetic through e->kern, chosen once at creation (kernels.c)
 *      for e's precision: an f32 table for f32 engines, a bf16 one
 *      (kernels_int.h) for bf16 engines; own steps take nodes of that
 *      element type only (eng_kern_dt).
 *   7. A fusion is recorded on the node whose step runs it, once per
 *      direction (eng_node.fuse_fwd, fuse_bwd): a node run inside another's
 *      step has no step of its own in that direction, and its activation
 *      (forward) or gradient (backward) is never stored, its buffer planned
 *      at 0 bytes.
 */
#ifndef GIGADREAM_ENGINE_INT_H
#define GIGADREAM_ENGINE_INT_H

#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gigadream/engine.h"
#include "kernels_int.h"

#define ENG_MAX_ARGS (GD_MAX_INPUTS + 4)
#define ENG_S2D_MAX_C 16 /* most input channels the space-to-depth backward takes */

typedef enum eng_step_kind {
    ENG_STEP_PRIM = 0,   /* execute a oneDNN primitive */
    ENG_STEP_NORMALIZE,  /* pixels (NHWC, [0,255]) -> normalized node 0 activation */
    ENG_STEP_PIXEL_GRAD, /* node 0 gradient -> d/d(pixel), NHWC */
    ENG_STEP_MASK,       /* node's activation -> its derivative as a byte mask (mask.c) */
    ENG_STEP_PW_FWD,     /* 1x1 forward writing its activation's derivative bits (pw.c) */
    ENG_STEP_PW_BWD,     /* 1x1 backward with its activation backward (pw.c) */
    ENG_STEP_PWDW_FWD,   /* 1x1 and its depthwise neighbours forward (pwdw.c) */
    ENG_STEP_DWPW_BWD,   /* the same backward (pwdw.c) */
    ENG_STEP_STEM_FWD,   /* first convolution forward with its activation mask (stem.c) */
    ENG_STEP_STEM_BWD,   /* first convolution backward into the pixel gradient (stem.c) */
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

/* The nodes that run inside one 1x1 node p's own step besides it, in one
 * direction (pwdw.c); -1 where none.  dw >= 0 whenever pre is, pre
 * whenever head is. */
typedef struct eng_fusion {
    int dw;   /* p's one reader d, a stride-2 depthwise convolution */
    int pre;  /* p's input j, a stride-1 depthwise convolution */
    int head; /* j's input s: a 1x1, or the first convolution (== e->stem_fwd) */
} eng_fusion;

/* The plan of one node: its layouts, memories, buffers and fusions. */
typedef struct eng_node {
    int need;       /* an output needs it (gd_model_ancestors) */
    gd_shape shape; /* its activation's (gd_model_shapes_needed) */

    /* Forward (forward.c). */
    dnnl_memory_desc_t md;        /* activation layout */
    int md_fixed;                 /* md may no longer change (node 0 waits for its first user) */
    dnnl_memory_t act;            /* activation (NULL until created) */
    int act_buf;                  /* its buffer, or -1 */
    dnnl_primitive_desc_t fwd_pd; /* forward pd, kept as the backward hint while building */
    dnnl_memory_t workspace;      /* pooling max / LRN workspace, or NULL */
    dnnl_memory_t wei_fwd;        /* weights in the forward primitive's layout */

    /* Backward (backward.c). */
    dnnl_memory_desc_t dmd; /* gradient layout */
    int dmd_fixed;
    dnnl_memory_t diff; /* gradient (NULL until created) */
    int diff_buf;       /* its buffer, or -1 */
    int diff_started;   /* a contribution has been planned */

    /* Its ReLU/ReLU6 backward folded into its one reader's (act_fused):
     * the derivative kept as a byte mask in its activation's layout
     * (mask_buf, mask_mem: mask.c, stem.c, pwdw.c) or as bits, 16 channels
     * to a uint16_t, [channel block][pixel] (bits_buf: an own 1x1's
     * forward, own.c); -1 / NULL where not kept. */
    int act_fused;
    int mask_buf;
    dnnl_memory_t mask_mem;
    int bits_buf;

    /* Weights in the orders of our loops (owned; NULL where unused):
     * wt_fwd [C][O] for an own 1x1 forward (bf16 [C / 2][O][2] on a bf16
     * table), [9 C][O] for the first convolution's; wt_bwd bf16
     * [O / 2][C][2] for an own 1x1 backward on a bf16 table (own.c), the
     * kernel transposed and flipped for the
     * masked backward (mask.c), [O][ENG_STEM_Z] for the first
     * convolution's own backward (stem.c), or its space-to-depth kernel
     * (backward.c); taps a depthwise kernel as [ky * 3 + kx][channel]
     * (pwdw.c). */
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
    dnnl_data_type_t dt;     /* activations, gradients, weights (invariant 5) */
    const eng_kernels *kern; /* the own kernels (invariant 6), or NULL: none */
    double fwd_flops, bwd_flops;
    int forward_done;

    dnnl_engine_t eng;
    dnnl_stream_t stream;

    eng_node *nodes; /* [model->n_nodes] */

    /* Outputs and seeds, plain CHW, [n_outputs]. */
    float **out_plain; /* set from out_buf / seed_buf once buffers exist */
    float **seed_plain;
    int *out_buf, *seed_buf;
    dnnl_memory_t *out_mem;
    dnnl_memory_t *seed_mem;

    /* Scratch: one buffer per role, sized to the largest use. */
    int scratch_a;  /* a consumer's reordered src (forward); a diff_src before accumulation */
    int scratch_b;  /* a reordered diff_dst (backward) */
    int scratchpad; /* oneDNN's scratchpad, shared by every primitive (user mode) */

    /* The first convolution's backward in space-to-depth form (backward.c,
     * bwd_conv_s2d): node 0's gradient as a {4 * in_c, h / 2, w / 2} tensor
     * in buffer s2d_buf (layout s2d_layout), channel ((y % 2) * 2 + x % 2) *
     * in_c + c holding pixel (y, x, c), from the rearranged weights in that
     * convolution's wt_bwd. */
    int s2d;
    int s2d_buf;
    eng_layout s2d_layout;

    /* The first convolution's own backward (stem.c): when stem is set, an
     * own step writes the pixel gradient itself (the pixel step then does
     * nothing): its ENG_STEP_STEM_BWD, with stem_threads rows of buffer
     * stem_buf per thread, or, a row at a time, the ENG_STEP_DWPW_BWD step
     * of the 1x1 it heads (fuse_bwd.head; no step of its own, no stem_buf). */
    int stem;
    int stem_buf;
    int stem_threads;
    /* The first convolution whose forward is ours (ENG_STEP_STEM_FWD, or
     * at the head of an ENG_STEP_PWDW_FWD step), which also writes its mask
     * when one is planned (eng_mask_plan then adds no pass); or -1. */
    int stem_fwd;

    /* Rows of the fused steps (pwdw.c): per thread, for up to
     * pwdw_threads threads; or -1. */
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
    void *arena; /* every buffer's bytes: one anonymous mapping (eng_alloc) */
    size_t arena_bytes;
    eng_bind *binds;
    int n_binds, cap_binds;
};

/* dnnl.c: oneDNN helpers shared by the builders. */

const char *eng_dnnl_status_str(dnnl_status_t s);
/* Sets err to "node 'X' (op): oneDNN <what>: <status>" and returns the gd_status. */
gd_status eng_fail(const gd_engine *e, int node, const char *what, dnnl_status_t s, gd_err *err);

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
/* Appends a step of ours (any kind but ENG_STEP_PRIM) for node. */
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
/* Fills *l when md is a layout of blocks of e's kernel table's cblk
 * channels, of its element type (f32, or bf16 for a bf16 table), rows of w
 * pixels dense (sx cblk, sy cblk w) and no padding: what the own kernels
 * address; returns 0 otherwise (or without kernels). */
int eng_blocked(const gd_engine *e, const dnnl_memory_desc_t *md, int w, eng_layout *l);
/* A 4-D descriptor {1, c, h, w} of type dt (e->dt, or f32 for plain I/O) with the
 * given tag (nchw, nhwc or any). */
gd_status eng_md4(const gd_engine *e, int node, int c, int h, int w, dnnl_data_type_t dt,
                  dnnl_format_tag_t tag, dnnl_memory_desc_t *md, gd_err *err);

/* Allocates every planned buffer and binds every memory object to it. */
gd_status eng_alloc(gd_engine *e, gd_err *err);
void eng_destroy_objects(gd_engine *e);

/* Registers a primitive descriptor created outside eng_pd (concat, sum). */
gd_status eng_keep_pd(gd_engine *e, dnnl_primitive_desc_t pd, gd_err *err);

/* kernels.c */

/* A finite weight f32 -> bf16, rounding to nearest even (as vcvtneps2bf16
 * and oneDNN's weight reorders do), for a bf16 table's weights (own.c,
 * stem.c). */
static inline uint16_t eng_bf16_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Whether e has own kernels and their element type is e's (invariant 6). */
static inline int eng_kern_dt(const gd_engine *e)
{
    return e->kern && e->dt == (e->kern->bf16 ? dnnl_bf16 : dnnl_f32);
}

/* The kernel table this CPU runs for an engine of precision p
 * (kernels_int.h: a bf16 table for bf16), or NULL: none fits. */
const eng_kernels *eng_kernels_for_cpu(gd_engine_precision p);

/* plan.c */

/*
 * Allocates e->nodes for e->model with nothing planned yet ("none" is -1)
 * and fills in which nodes e's outputs need and their shapes at e's tile
 * size.  Fails with GD_ENOMEM, or as gd_model_shapes_needed (the tile too
 * small for the network), prefixed with the tile size.  eng_nodes_free
 * frees it (and the weights copies the plan made).
 */
gd_status eng_nodes_new(gd_engine *e, gd_err *err);
void eng_nodes_free(gd_engine *e);
/* How many needed nodes read node j (a node reading it twice counts twice). */
int eng_consumers(const gd_engine *e, int j);
/* Whether node j is one of the engine's outputs. */
int eng_is_output(const gd_engine *e, int j);

/* mask.c */

/*
 * Whether convolution k's backward can fold in its input j's activation:
 * stride 1, no dilation, j a convolution ending in ReLU or ReLU6 whose only
 * reader is k, not an output, no gradient planned for it yet.
 */
int eng_mask_fusable(const gd_engine *e, int k);
/* Transposed, flipped copy of k's weights (owned by nodes[k].wt_bwd) and its
 * descriptors: the kernel of k's backward-data run as a forward convolution. */
gd_status eng_mask_weights(gd_engine *e, int k, dnnl_memory_desc_t *user, dnnl_memory_desc_t *any,
                           gd_err *err);
/* The descriptor of node j's mask: j's activation layout, one byte per element. */
void eng_mask_md(const gd_engine *e, int j, dnnl_memory_desc_t *md);
/* Plans node j's mask: its buffer, its memory (nodes[j].mask_mem) and the
 * forward step that fills it, placed right after j's own steps (unless an
 * own forward step writes it on the way: the first convolution's, or that
 * of the 1x1 whose step runs j). */
gd_status eng_mask_plan(gd_engine *e, int j, gd_err *err);
/* The ENG_STEP_MASK step for node j. */
void eng_mask_run(gd_engine *e, int j);

/* own.c: what the own steps of pw.c, pwdw.c and stem.c share */

/* Most input channels of a 1x1 whose steps are its own (pw.c): with more,
 * oneDNN's 1x1 kernels run near the FMA peak and win despite their extra
 * pass.  Inside pwdw.c's steps, whose data is in cache, up to
 * ENG_PWDW_MAX_O. */
#define ENG_PW_MAX_C 64

/* Whether node i is a 1x1 the own kernels take: of their type, a ReLU/ReLU6
 * convolution, stride 1, groups 1, no padding, of a node j > 0 of the
 * same size, C = j's channels a multiple of 32 up to max_c, O = i's a
 * multiple of 16 up to ENG_PW_MAX_O; and e has kernels. */
int eng_pw_shape(const gd_engine *e, int i, int max_c);
/* Whether 1x1 node i's activation and its input j's are in layouts its
 * forward kernel addresses (eng_blocked). */
int eng_pw_fwd_layouts(const gd_engine *e, int i, int j);
/*
 * Whether 1x1 convolution i's backward-data and its own ReLU/ReLU6 backward
 * can be one own step (pw.c, or pwdw.c's when nodes[i].fuse_bwd.dw is set,
 * which allows ENG_PWDW_MAX_O input channels): eng_pw_shape, i's activation
 * not folded elsewhere, its input j with no gradient planned yet; of the kernels' type,
 * i's gradient and activation and j's gradient kernel-blocked (cblk channels a block) with
 * dense rows and no padding.
 */
int eng_pw_fusable(const gd_engine *e, int i);
/* For an own 1x1 forward of node i: its weights transposed (wt_fwd), the
 * bits buffer of its activation's derivative, and of its input's where i's
 * backward will fold it (in place of a byte mask and its pass). */
gd_status eng_pw_fwd_prepare(gd_engine *e, int i, gd_err *err);
/* Appends 1x1 node i's own backward step of kind kind (what: its name),
 * with its input j's activation backward folded in (j's mask planned here
 * unless its bits are kept); marks j's gradient started unless i's step
 * runs j's backward too (fuse_bwd.pre). */
gd_status eng_pw_bwd_step(gd_engine *e, int i, eng_step_kind kind, const char *what, gd_err *err);
/* For an own 1x1 backward of node i (its own step's or run at the head of
 * another's): on a bf16 table, its weights in the kernel's pairs (wt_bwd);
 * nothing on an f32 one. */
gd_status eng_pw_bwd_weights(gd_engine *e, int i, gd_err *err);
/* Whether node k, read from a 1x1 node, is a stride-2 depthwise convolution
 * the 1x1's steps could run (pwdw.c; its parameters only: the kernels' type, 3x3 stride 2,
 * groups = channels = a multiple of 16 up to ENG_PWDW_MAX_O, a bias,
 * ReLU / ReLU6 / none; and e has kernels). */
int eng_dw2_ok(const gd_engine *e, int k);
/* The kernels' arguments for node i's own steps, from the plan (its
 * buffers bound: call while running). */
void eng_pw_fwd_setup(const gd_engine *e, int i, eng_pw_fwd_args *a);
void eng_pw_bwd_setup(const gd_engine *e, int i, eng_pw_bwd_args *a);
void eng_stem_fwd_setup(const gd_engine *e, int i, eng_stem_fwd_args *a);
/* The first convolution's backward but for its gradient (a->g, a->lg),
 * which the caller gives: its whole gradient, or one row of it. */
void eng_stem_bwd_setup(const gd_engine *e, int i, eng_stem_bwd_args *a);

/* pw.c: a 1x1 convolution's own steps */

/*
 * Whether 1x1 convolution i's forward, planned with oneDNN's pd (its dst
 * layout now md, its src src), can be our loop writing the derivative
 * bits its own backward will read: eng_pw_shape up to ENG_PWDW_MAX_O input
 * channels, O a multiple of 64, a bias, src j's own memory, not an output,
 * and i's one reader a convolution of stride 2 (which folds no
 * activation), so that backward will be ours: past ENG_PW_MAX_C input
 * channels only where that reader runs in i's step (eng_dw2_ok).
 */
int eng_pw_fwd_ok(const gd_engine *e, int i, dnnl_memory_t src);
/* Plans that step (ENG_STEP_PW_FWD; pwdw.c may take it over). */
gd_status eng_pw_fwd_plan(gd_engine *e, int i, gd_err *err);
/* Plans node i's backward as an ENG_STEP_PW_BWD step, writing
 * nodes[j].diff, which the caller has created (eng_pw_fusable holds). */
gd_status eng_pw_bwd_plan(gd_engine *e, int i, gd_err *err);
void eng_pw_fwd_run(gd_engine *e, int i);
void eng_pw_bwd_run(gd_engine *e, int i);

/* pwdw.c: a 1x1 and its depthwise neighbours in one step */

/*
 * Whether depthwise node d's forward, planned with oneDNN's pd (src its
 * input p's memory), can run inside p's ENG_STEP_PW_FWD step, which was
 * just planned: eng_dw2_ok, padding before at most 1, nodes[d].md
 * blocked by the kernels' block (cblk) with dense rows.
 */
int eng_pwdw_fwd_ok(const gd_engine *e, int d, dnnl_memory_t src);
/* Plans it: p's step becomes an ENG_STEP_PWDW_FWD one (fuse_fwd.dw = d),
 * d's taps, the rows; p's activation buffer is not allocated.  d's mask,
 * if one is planned later, is written by it too.  When p's input j is a
 * stride-1 3x3 depthwise convolution (groups = channels, padding 1 all
 * round, a bias, ReLU / ReLU6 whose derivative p keeps as bits, p its one
 * reader, not an output) whose forward step, just before p's, reads its
 * input s's kernel-blocked (cblk channels a block) activation: that step goes too
 * (fuse_fwd.pre = j) and j's activation buffer is not allocated; and so
 * may s's, a 1x1 or the first convolution planned just before j
 * (fuse_fwd.head = s). */
gd_status eng_pwdw_fwd_plan(gd_engine *e, int d, gd_err *err);
/*
 * d's backward-data inside its input p's backward step, when d has the
 * shape above, p's forward is ours (bits) and p's backward will be
 * (eng_pw_fusable): sets nodes[p].fuse_bwd.dw = d, *joined = 1 and marks
 * p's gradient started without making it; d's gradient must then stay out
 * of the pool until p's step (backward.c).  Else *joined = 0, nothing.
 */
gd_status eng_pwdw_bwd_join(gd_engine *e, int d, int *joined, gd_err *err);
/*
 * Node s, when 1x1 node p's backward step (fuse_bwd.dw set) can also run
 * its input j's backward-data (j as for fuse_fwd.pre) into s's gradient: s
 * has no gradient yet, j is its one reader, its gradient layout kernel-block
 * blocked.  Else -1.  The caller then makes s's gradient (and s's mask
 * where j folds s's activation) in place of j's and calls
 * eng_pwdw_pre_bwd_plan before eng_dwpw_bwd_plan; j's own backward plans
 * nothing (its gradient is never started).
 */
int eng_pwdw_pre_bwd(const gd_engine *e, int p);
/*
 * With s at the head of p's forward step (fuse_fwd.head): h = s's input
 * when s's backward can run in p's backward step too (h has no gradient
 * yet, s is its one reader, its gradient layout kernel-blocked (cblk channels a block)), else
 * -1.  The caller then makes h's gradient (and h's mask where s folds h's
 * activation and keeps no bits of it) in place of s's.
 */
int eng_pwdw_head_bwd(const gd_engine *e, int p);
/* Plans the stride-1 depthwise (and with head, the head) in p's backward
 * step: fuse_bwd.pre (and fuse_bwd.head), the rows they need. */
gd_status eng_pwdw_pre_bwd_plan(gd_engine *e, int p, int head, gd_err *err);
/* Plans p's backward as an ENG_STEP_DWPW_BWD step, reading d's gradient
 * (fuse_bwd.dw) and writing its input's (or, with fuse_bwd.pre, s's or,
 * with fuse_bwd.head, h's or the pixel gradient). */
gd_status eng_dwpw_bwd_plan(gd_engine *e, int p, gd_err *err);
void eng_pwdw_fwd_run(gd_engine *e, int p);
void eng_dwpw_bwd_run(gd_engine *e, int p);

/* stem.c: the first convolution's own steps */

/*
 * Whether convolution i, the only reader of the input, can have its
 * backward-data written straight into the pixel gradient by our loop:
 * 3x3, stride 2, no dilation, groups 1, no padding before, the input's
 * sides twice i's, at most 3 input channels, output channels a multiple
 * of 16, i's gradient of the kernels' type blocked by their block (cblk), dense rows; e has
 * kernels.
 */
int eng_stem_ok(const gd_engine *e, int i);
/* Whether eng_stem_ok would hold but for i's gradient, which a row-at-a-time
 * caller (pwdw.c) never makes. */
int eng_stem_rows_ok(const gd_engine *e, int i);
/* For either: i's weights rearranged into nodes[i].wt_bwd; sets e->stem and
 * marks node 0's gradient as started. */
gd_status eng_stem_bwd_prepare(gd_engine *e, int i, gd_err *err);
/* Plans the ENG_STEP_STEM_BWD step (after eng_stem_bwd_prepare's work, a
 * row buffer per thread). */
gd_status eng_stem_bwd_plan(gd_engine *e, int i, gd_err *err);
/*
 * Whether convolution i's forward, planned with oneDNN's pd (dst layout now
 * md, src src), can be our loop: eng_stem_ok's shape and CPU, a bias,
 * ReLU, ReLU6 or no activation, src node 0's own planar memory, md
 * blocked by the kernels' block (cblk) with dense rows.
 */
int eng_stem_fwd_ok(const gd_engine *e, int i, dnnl_memory_t src);
/* Plans the ENG_STEP_STEM_FWD step (its weights into nodes[i].wt_fwd;
 * e->stem_fwd = i). */
gd_status eng_stem_fwd_plan(gd_engine *e, int i, gd_err *err);
void eng_stem_fwd_run(gd_engine *e, int i);
/* Writes e->grad. */
void eng_stem_bwd_run(gd_engine *e, int i);

/* forward.c */

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

/* backward.c */

/* Plans the backward steps of one needed node, and node 0's pixel gradient. */
gd_status eng_backward_node(gd_engine *e, int i, gd_err *err);

/* share.c */

/*
 * After planning: the activation buffers of nodes whose activation backward
 * is folded (act_fused), read by nothing after their one reader's forward
 * step, are shared by nodes whose such spans do not overlap.  Only
 * unpadded layouts (so no buffer's channel padding must stay zero), only
 * buffers no init or backward step touches.
 */
gd_status eng_share_activations(gd_engine *e, gd_err *err);

#endif

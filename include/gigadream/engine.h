/*
 * engine.h: a model compiled with oneDNN for one input tile shape.
 *
 * An engine computes, for an h x w RGB tile of pixels in [0, 255]:
 *   forward:  the activations of its output nodes (and only the nodes they
 *             need);
 *   backward: given seeds d(objective)/d(output activation), the gradient of
 *             the objective with respect to every input pixel (backward-data
 *             only: no weight gradients).
 * The model's input normalization is part of the graph, so gradients are per
 * pixel value in [0, 255].
 *
 * Compile once per tile shape and reuse: creation builds every oneDNN
 * primitive and allocates every buffer; forward/backward allocate nothing.
 * Activations stay in the layouts oneDNN picks (blocked); bias and
 * activations are fused into convolutions; only the outputs are reordered to
 * plain CHW for the caller.  Backward never stores pre-activations: ReLU and
 * ReLU6 are undone from the activation itself.  Several outputs at different
 * depths each add their seed to the gradient flowing back through them.
 *
 * Own loops: where oneDNN is slow for a shape or would cost an extra pass
 * over memory, f32 engines on CPUs where oneDNN may use AVX-512 or AVX2 with
 * FMA (or on AArch64, NEON) run steps of their own, on hand-written kernels
 * chosen once when the engine is created (src/engine/: pw.c, pwdw.c, stem.c,
 * mask.c; the kernels in src/engine/simd/): a 3x3 stride-2 first
 * convolution forward (writing its activation mask on the way) and backward
 * (straight into the pixel gradient; elsewhere, folded 2 x 2 into channels
 * for oneDNN); 1x1
 * convolutions with at most 64 input channels whose ReLU/ReLU6 no reader
 * folds, backward with their own activation's backward in one pass, and
 * forward writing that activation's derivative as bits; and, where such a
 * 1x1's one reader is a stride-2 3x3 depthwise convolution, that layer (and
 * a stride-1 3x3 depthwise one before the 1x1, if any, and the 1x1 or first
 * convolution before that) run inside the 1x1's forward and backward a row
 * at a time, so the tensors between them and their gradients are never
 * stored (there the 1x1 may have up to 256 input channels: MobileNet V1's
 * Conv2d_1, _3 and _5).  Every such step sums in a fixed order, so results
 * do not depend on the thread count; they round differently from oneDNN's
 * kernels (ONEDNN_MAX_CPU_ISA lowers their ISA with oneDNN's: AVX2 picks the
 * AVX2 kernels, below AVX2 none; gd_engine_opts.onednn_only turns them off,
 * and so does a build for an architecture without a mapping).
 *
 * Precision: f32 by default.  With GD_ENGINE_BF16 the network runs in
 * bfloat16 (AVX-512 BF16): weights, activations and gradients are bf16,
 * oneDNN accumulates in f32 inside each primitive, biases stay f32.  The
 * interface does not change: pixels, outputs, seeds and the pixel gradient
 * are f32 either way (converted at the edges: the input normalization rounds
 * to bf16, outputs are reordered to f32, seeds to bf16, the input gradient
 * back to f32).  Precision changes nothing else: the f32 engine's steps
 * are the ones it had before precisions existed.
 *
 * Threads: oneDNN uses the calling process's OpenMP threads
 * (OMP_NUM_THREADS).  An engine is not safe to use from two threads at once.
 *
 * Only this module calls oneDNN.
 */
#ifndef GIGADREAM_ENGINE_H
#define GIGADREAM_ENGINE_H

#include "gigadream/error.h"
#include "gigadream/model.h"

typedef struct gd_engine gd_engine;

/* The network's arithmetic (see above); the zero value is f32. */
typedef enum gd_engine_precision {
    GD_ENGINE_F32 = 0,
    GD_ENGINE_BF16,
    GD_ENGINE_PRECISION_COUNT
} gd_engine_precision;

typedef struct gd_engine_opts {
    int backward;                  /* 1: also build the backward-data pass to the input */
    gd_engine_precision precision; /* GD_ENGINE_F32 (default) or GD_ENGINE_BF16 */
    int onednn_only; /* 1: no own loops (below), every layer on oneDNN: for tests and profiles */
} gd_engine_opts;

/* "f32", "bf16". */
const char *gd_engine_precision_name(gd_engine_precision p);

/*
 * Whether this CPU (as oneDNN may use it: ONEDNN_MAX_CPU_ISA can lower it)
 * runs precision p natively.  f32 always does; bf16 needs AVX-512 BF16
 * (oneDNN would otherwise emulate it, slower than f32).  Fails with
 * GD_EINPUT and a one-line message, "bf16 needs a CPU with AVX-512 BF16
 * (this one has AVX2)", for the caller to put in context.
 */
gd_status gd_engine_precision_check(gd_engine_precision p, gd_err *err);

/* The oneDNN library this process runs with, asked of the library itself
 * (not the headers it was built with): "oneDNN 3.0.0 (commit abc123)".
 * Returns buf. */
const char *gd_engine_library_version(char *buf, size_t len);

/*
 * The kernel path (src/engine/path.c): what decides the bytes an engine
 * computes besides its input.  A job runs one path on every rank, recorded
 * in its checkpoints.
 *
 * gd_engine_isa_level: this CPU's ISA level, 0 (below AVX2), 1 (AVX2 with
 * FMA), 2 (AVX-512), 3 (AVX-512 BF16), lowered by ONEDNN_MAX_CPU_ISA or
 * DNNL_MAX_CPU_ISA; asks oneDNN nothing.  gd_engine_cap_isa: makes oneDNN
 * (and so the own kernels' table) use no more than level; only before
 * anything has used oneDNN (GD_ELIB after).  gd_engine_path: the path
 * engines of precision p run here, "ISA/KERNELS/PRECISION" with oneDNN's
 * ISA name and the own kernels' table or "onednn", e.g.
 * "avx512_core_bf16/AVX-512/f32", "avx2/AVX2/f32" (fixes oneDNN's ISA).
 */
#define GD_ENGINE_PATH_MAX 64
int gd_engine_isa_level(void);
gd_status gd_engine_cap_isa(int level, gd_err *err);
void gd_engine_path(gd_engine_precision p, char *buf, size_t len);

/*
 * Compiles `model` (which must outlive the engine: its weights may be used
 * in place) for an h x w input with outputs[0..n_outputs-1] (node indices,
 * any node including the input) as outputs.  Only the nodes the outputs
 * need are built.  opts may be NULL (forward only, f32).
 * Fails, with *out NULL and a message naming the node, with
 *   GD_EINPUT  the precision is not one this CPU runs
 *              (gd_engine_precision_check), the tile is too small for the
 *              network, an output index is bad, the model breaks its
 *              invariants, a fully connected layer's weights do not fit
 *              this tile size, or oneDNN has no implementation for a node
 *              ("... oneDNN convolution forward: unimplemented");
 *   GD_ENOMEM  memory runs out;
 *   GD_ELIB    oneDNN fails otherwise.
 * Caller frees with gd_engine_free (NULL is fine).
 */
gd_status gd_engine_create(const gd_model *model, int h, int w, const int *outputs, int n_outputs,
                           const gd_engine_opts *opts, gd_engine **out, gd_err *err);
void gd_engine_free(gd_engine *e);

/* The tile shape and outputs the engine was built for. */
void gd_engine_size(const gd_engine *e, int *h, int *w);
int gd_engine_n_outputs(const gd_engine *e);
int gd_engine_output_node(const gd_engine *e, int k);

/*
 * Runs the forward pass on pixels (h * w * in_c floats, interleaved, [0,255]).
 * Fails with GD_ELIB (naming the node) if a oneDNN primitive fails.
 */
gd_status gd_engine_forward(gd_engine *e, const float *pixels, gd_err *err);

/*
 * Output k's activations after the last forward, plain CHW (c * h * w floats,
 * channel-major).  Valid until the next forward.  *shape may be NULL.
 */
const float *gd_engine_output(const gd_engine *e, int k, gd_shape *shape);

/*
 * Output k's seed buffer (plain CHW, same shape as the output): the caller
 * fills it with d(objective)/d(activation) before gd_engine_backward.
 * Seeds start at zero and are not cleared between calls.  NULL when the
 * engine was built without backward (or k is out of range).
 */
float *gd_engine_seed(gd_engine *e, int k);

/*
 * Backward-data from the seeds of all outputs to the input: writes
 * d(objective)/d(pixel) to grad (h * w * in_c floats, interleaved; the
 * model's normalization is included, so it is per pixel unit).  Requires
 * opts.backward and a successful forward on the same pixels just before
 * (GD_EINPUT otherwise).  Reads but does not change the seeds.
 */
gd_status gd_engine_backward(gd_engine *e, float *grad, gd_err *err);

/* FLOPs of one forward and one backward pass (gd_model_flops on the needed
 * subgraph; backward is 0 for a forward-only engine). */
double gd_engine_forward_flops(const gd_engine *e);
double gd_engine_backward_flops(const gd_engine *e);

/* How many ReLU / ReLU6 backwards the engine folds into a convolution's
 * backward instead of a separate pass over the gradient: into that of the
 * stride-1 convolution reading them (a byte mask multiplied in as a
 * post-op), or into their own 1x1 convolution's (one loop for both, with
 * AVX-512); 0 without a backward pass.  For profiles and tests. */
int gd_engine_folded_activations(const gd_engine *e);

/* The layers the engine runs on its own loops instead of oneDNN's
 * (src/engine/pw.c, pwdw.c, stem.c), by step; all 0 when oneDNN's effective
 * ISA is below AVX2 (e.g. under ONEDNN_MAX_CPU_ISA=SSE41) or the build has
 * no kernels for its architecture, where oneDNN runs every layer.  For
 * profiles and tests. */
typedef struct gd_engine_own {
    int pw_fwd;   /* 1x1 forwards writing their activation's derivative bits */
    int pw_bwd;   /* 1x1 backwards with their activation's backward */
    int stem_fwd; /* first-convolution forwards writing their activation's mask */
    int stem_bwd; /* first-convolution backwards straight into the pixel gradient */
    int dw_fwd;   /* depthwise forwards run inside a neighbouring 1x1's forward */
    int dw_bwd;   /* depthwise backwards run inside a neighbouring 1x1's backward */
} gd_engine_own;
void gd_engine_own_layers(const gd_engine *e, gd_engine_own *own);

/* The ISA of the kernel table the engine's own loops run ("AVX-512",
 * "AVX2", "NEON"), or NULL when it has none (every layer on oneDNN). */
const char *gd_engine_kernel_isa(const gd_engine *e);

/* Bytes of buffers the engine holds: activations, gradients (pooled: nodes
 * whose gradients are never live at once share buffers), folded activations'
 * byte masks, reordered weights, workspaces, scratch, oneDNN scratchpad,
 * outputs and seeds. */
size_t gd_engine_bytes(const gd_engine *e);

#endif

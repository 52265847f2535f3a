/*
 * tiling.h: pure tile geometry: the tile grid of one iteration, context
 * margins, blend windows that sum to exactly 1, jitter offsets, halos.
 *
 * This module never does I/O, never calls MPI, never allocates and never
 * prints.  Every result is integer arithmetic (or floats that are exact
 * multiples of 2^-12), so it is bit-identical on every machine.
 *
 * The renderer's contract, point by point:
 *
 *  1. Inputs.  Per octave image of w x h pixels and per iteration, a plan
 *     takes the core size S (job [tiles] size), the context margin M
 *     ([tiles] overlap) and jitter offsets jx, jy in [0, J) where
 *     J = min(jitter, S) (J = 0 gives offsets 0).  gd_tiling_jitter draws
 *     the offsets.
 *
 *  2. Axes are independent.  Along an axis of n pixels with offset j:
 *     - untiled when S == 0 or n <= S: one tile whose core and extent are
 *       exactly [0, n): no margin and no jitter along that axis (the network
 *       sees the whole side, as the notebook does for images smaller than
 *       its tile);
 *     - tiled otherwise: count = the smallest c with c*S - j >= n; core i is
 *       [i*S - j, (i+1)*S - j) for i = 0..count-1, so the cores cover [0, n)
 *       exactly once (the first and last may stick out of the image); the
 *       full extent is the core grown by M on both sides, side S + 2M.
 *       Pixels of an extent outside [0, n) are fetched by the caller with the
 *       job's border rule (image.h, gd_image_fetch).
 *
 *  3. Extents.  gd_tiling_plan and gd_tiling_plan_torus give every tile the
 *     full extent, tile_w x tile_h, so one compiled engine serves them all.
 *     gd_tiling_plan_cut (the renderer's plain grid) cuts the edge tiles to
 *     what they cover: with quantum q > 0, a first core that starts o > 0
 *     pixels before 0 drops floor(o / q) * q pixels from the start of its
 *     extent, a last core that ends o pixels past n as many from the end
 *     (one quantum fewer where that would leave a side under q).  So a cut
 *     extent still reaches at least M beyond the image edge (the border
 *     rule's pixels: the context the network sees past the edge, at least
 *     `overlap` wide), its side differs from S + 2M by a multiple of q, and
 *     its origin keeps the full extent's phase modulo q: with q a multiple
 *     of the network's total stride, sides and origins stay on the stride
 *     grid wherever the full ones are (point 8).  Only the first and the
 *     last tile of an axis can be cut, so a plan has at most 3 distinct
 *     sides per axis; tile_w x tile_h is the largest extent (scratch sizes),
 *     gd_tile.extent each tile's own.  Cores, supports and weights (point 5)
 *     do not change: a cut only removes extent pixels of weight 0 that lie
 *     beyond the margin outside the image.
 *
 *  4. Tile ids are row-major: id = ty * nx + tx.
 *
 *  5. Blend windows (per axis; the weight of a tile at a pixel is wx * wy).
 *     On a tiled axis, tile i weighs 1 inside its core away from shared
 *     boundaries.  Across each boundary b it shares with a neighbour (only
 *     where tile i-1 or i+1 exists) the weight ramps linearly over the 2M
 *     pixels [b - M, b + M): with t = x - (b - M),
 *         r(x) = round(4096 * (t + 0.5) / (2M)) / 4096   (round half up)
 *     is the weight of the right tile and 1 - r(x) that of the left tile.
 *     The outer sides of the first and last tiles keep weight 1 up to the
 *     core edge and 0 beyond.  Pixels outside a tile's extent weigh 0.
 *     M == 0 gives hard edges: 1 in the core, 0 outside.  Requires 2M <= S,
 *     so the two ramps of a core never overlap.  An untiled axis weighs 1 on
 *     [0, n).  At the image edge the outer side's weight 1 runs up to the
 *     image edge (the clipped core), whatever the extent's cut (point 3).
 *
 *  6. Partition of unity is exact in float, not approximately: every r is a
 *     multiple of 2^-12 and 1 - r is computed exactly, so per-axis weights
 *     at any pixel sum to exactly 1; products wx * wy are multiples of 2^-24
 *     in [0, 1], hence exact floats, and at most four tiles overlap a pixel,
 *     so their sum is exactly 1.0f in any order.
 *
 *  7. Jitter: Philox4x32-10 (Random123) keyed by the 64-bit job seed
 *     (key = {low 32 bits, high 32 bits}) with counter
 *     {octave, iteration, block, 0}; output words are turned into unbiased
 *     draws in [0, J) by Lemire's multiply-high with rejection (rejected
 *     words are replaced by the next words, then by block + 1).  The last
 *     counter word 0 is this module's stream: other users of the same key
 *     (e.g. the noise seed image) must use a nonzero last word.
 *
 *  7b. Torus (gd_tiling_plan_torus, for border = wrap with jitter, the
 *     notebook's np.roll).  The image is a torus, so tiles need not stick
 *     out of it: along a tiled axis (n > S), count = ceil(n / S) rounded up
 *     to an even number (so tile-row parities alternate all the way round),
 *     cores [floor(i n / count) - j, floor((i+1) n / count) - j) partition
 *     the circle (unwrapped coordinates; map with x mod n), each at most S
 *     wide; the extent is the widest core plus M on each side.  Every tile
 *     has neighbours on both sides (tile count-1 and tile 0 meet at the
 *     seam), so ramps sit at every boundary.  An axis of n <= S pixels is one
 *     tile covering the whole circle rolled by j (core and extent
 *     [-j, n - j), no margin): the notebook's small-image case.  If the
 *     narrowest core would be under 2M the axis falls back to point 2.
 *     Supports are unwrapped too (not clipped): a contribution at x goes to
 *     x mod n.  Rule 6 holds per image pixel with each tile's weight taken at
 *     the pixel's representative in that tile's extent.
 *
 *  8. Stride.  A tile whose extent origin is not a multiple of the layer's
 *     total stride samples the layer on another phase.  With jitter 0 the
 *     extent origins of a tiled axis are i*S - M (a cut never moves the first
 *     tile's origin: with j = 0 its core starts at 0; the last tile's cut
 *     moves only its end), so S and M must both be multiples of the stride
 *     (job.h, gd_job_check_tiles, says so to the user; gd_tiling_stride_ok
 *     checks a plan), and a cut quantum must be one too (the renderer takes
 *     the smallest multiple of the stride that is at least
 *     GD_TILING_CUT_QUANTUM).  Random jitter changes the phase every
 *     iteration, which hides it.
 */
#ifndef GIGADREAM_TILING_H
#define GIGADREAM_TILING_H

#include <stdint.h>

#include "gigadream/error.h"

/* Sides beyond this are refused so that every intermediate fits in an int. */
#define GD_TILING_MAX_SIDE (1 << 28)

/*
 * [tiles] size = auto (the job's default): per octave image, the core size
 * below that makes the network see the fewer pixels.
 */
#define GD_TILING_AUTO (-1)
#define GD_TILING_AUTO_SMALL 512
#define GD_TILING_AUTO_LARGE 1024

/*
 * The least cut quantum (point 3) the renderer uses (it takes the smallest
 * multiple of the network's total stride at least this).  A plan has at most
 * 3 sides per axis whatever the quantum, and the jitter moves the edge sides
 * every iteration even at 64, so a coarser quantum would not spare engines;
 * it would only make edge tiles see more (1024-pixel tiles with the
 * defaults: 1.21x the image's pixels at 2048 x 2048 and 1.15x at 8192 x 8192
 * at 16, 1.26x and 1.16x at 64).
 */
#define GD_TILING_CUT_QUANTUM 16

/* The weight denominator: ramp weights are multiples of 1 / GD_TILING_WEIGHT_ONE. */
#define GD_TILING_WEIGHT_ONE 4096

/* One axis of a plan (point 2). */
typedef struct gd_tile_axis {
    int n;       /* image side */
    int tiled;   /* 1: cores of size S; 0: one tile covering [0, n) */
    int torus;   /* 1: point 7b (cores split the circle; offset rolls an untiled axis) */
    int count;   /* tiles along the axis (>= 1) */
    int core;    /* S when tiled, n when untiled */
    int margin;  /* M when tiled, 0 when untiled */
    int offset;  /* jitter offset applied: j when tiled, 0 when untiled */
    int side;    /* full extent side: core + 2 * margin (the largest of the axis) */
    int quantum; /* point 3: > 0 when the edge tiles' extents are cut (plain tiled axes) */
} gd_tile_axis;

/* The tile grid of one octave image and one iteration. */
typedef struct gd_tile_plan {
    int w, h;           /* image size */
    int size, margin;   /* S and M as asked */
    int jx, jy;         /* jitter offsets as asked */
    gd_tile_axis ax;    /* columns */
    gd_tile_axis ay;    /* rows */
    int nx, ny;         /* tiles per row, per column */
    int n_tiles;        /* nx * ny */
    int tile_w, tile_h; /* the largest extent (ax.side, ay.side); every tile's unless cut */
} gd_tile_plan;

/* A half-open rectangle [x0, x1) x [y0, y1) in image coordinates. */
typedef struct gd_tile_rect {
    int x0, y0, x1, y1;
} gd_tile_rect;

typedef struct gd_tile {
    int id, tx, ty;
    gd_tile_rect core;    /* the core, unclipped (may stick out of the image) */
    gd_tile_rect core_in; /* the core clipped to the image; these partition the image
                             (on a torus: the core, unwrapped; they partition the circle) */
    gd_tile_rect extent;  /* what the network sees: at most tile_w x tile_h (point 3),
                             may stick out */
    gd_tile_rect support; /* image pixels where the tile's weight may be > 0 (clipped;
                             on a torus unwrapped): where its gradient is blended */
} gd_tile;

/*
 * Builds the plan for a w x h image with core size S = size (0 = no tiling),
 * margin M and jitter offsets jx, jy.  Fails with GD_EINPUT (err may be NULL)
 * unless 1 <= w, h <= GD_TILING_MAX_SIDE, 0 <= size <= GD_TILING_MAX_SIDE,
 * M >= 0 and 2M <= S (M is ignored when S == 0), 0 <= jx, jy < S (or both 0
 * when S == 0).  The job has validated these already, so a failure here is
 * the renderer's bug, reported rather than aborted on.
 */
gd_status gd_tiling_plan(int w, int h, int size, int margin, int jx, int jy, gd_tile_plan *plan,
                         gd_err *err);

/*
 * The same with the edge tiles cut to what they cover (point 3), by whole
 * multiples of quantum (0: not cut, as gd_tiling_plan).  GD_EINPUT also when
 * quantum < 0.
 */
gd_status gd_tiling_plan_cut(int w, int h, int size, int margin, int jx, int jy, int quantum,
                             gd_tile_plan *plan, gd_err *err);

/*
 * The same on a torus (point 7b): for border = wrap.  Jitter 0 gives the
 * plain plan (point 2), whose tile origins stay on multiples of S.
 */
gd_status gd_tiling_plan_torus(int w, int h, int size, int margin, int jx, int jy,
                               gd_tile_plan *plan, gd_err *err);

/* The start of tile i's core along an axis (unwrapped). */
int gd_tiling_core_lo(const gd_tile_axis *a, int i);

/* The geometry of tile id (0 <= id < plan->n_tiles). */
void gd_tiling_tile(const gd_tile_plan *plan, int id, gd_tile *tile);

/* The extent side of tile i along an axis (a->side unless cut, point 3). */
int gd_tiling_axis_side(const gd_tile_axis *a, int i);

/* The pixels the network sees for a whole plan: the sum of its tiles' extent areas. */
double gd_tiling_pixels(const gd_tile_plan *plan);

/*
 * The blend weight (point 5) of tile i of an axis at image coordinate x;
 * any x is allowed (0 outside the tile's extent).
 */
float gd_tiling_axis_weight(const gd_tile_axis *axis, int i, int x);

/*
 * Fills the window of tile column tx over its extent: wx[k] is the weight at
 * image column extent.x0 + k, for k in [0, extent width) (at most tile_w).
 * gd_tiling_weights_y is the same for tile row ty (at most tile_h floats).  The 2-D weight at
 * extent position (k, l) is wx[k] * wy[l].
 */
void gd_tiling_weights_x(const gd_tile_plan *plan, int tx, float *wx);
void gd_tiling_weights_y(const gd_tile_plan *plan, int ty, float *wy);

/*
 * The jitter offsets (point 7) for one iteration: *jx, *jy uniform in [0, J)
 * (both 0 when J <= 0).  Depends only on its arguments.
 */
void gd_tiling_jitter(uint64_t seed, int octave, int iteration, int J, int *jx, int *jy);

/* J for a job: min(jitter, size), or 0 when size == 0. */
int gd_tiling_jitter_range(int size, int jitter);

/*
 * Halo: the rows [*y0, *y1) that the extents of tile rows [ty0, ty1) cover,
 * unclipped (they may start below 0 or end past h).  Rows inside [0, h) come
 * from the image; the caller maps the others through the border rule
 * (gd_fetch_src_rows in image.h).  Requires 0 <= ty0 < ty1 <= plan->ny.
 */
void gd_tiling_halo(const gd_tile_plan *plan, int ty0, int ty1, int *y0, int *y1);

/*
 * The tile rows [*ty0, *ty1) whose support intersects image rows [y0, y1):
 * the tiles that blend gradient into a band of rows.  Empty (*ty0 == *ty1)
 * when no tile does (e.g. an empty band).
 */
void gd_tiling_rows_touching(const gd_tile_plan *plan, int y0, int y1, int *ty0, int *ty1);

/*
 * Point 8: nonzero when every tile's extent origin on a tiled axis is a
 * multiple of stride (untiled axes start at 0).  stride must be >= 1.
 */
int gd_tiling_stride_ok(const gd_tile_plan *plan, int stride);

/*
 * What a new engine costs, in pixels seen per pixel of its extent: creating
 * one plus the extra of its first run over a second, in runs of its
 * extent.  Measured (issue 17, one thread, MobileNet V1 to
 * Conv2d_9_pointwise, AVX-512) at extents 576 to 1104 once an engine's
 * buffers came from one populated huge-page mapping: 0.1 to 0.8, median
 * 0.45 (before that mapping: 1.3 to 2.5).
 */
#define GD_TILING_ENGINE_COST 0.45

/*
 * The core size [tiles] size = auto takes for a w x h image: of
 * GD_TILING_AUTO_SMALL, 640, 768 and GD_TILING_AUTO_LARGE, whichever costs
 * less per iteration, the smaller on a tie.  The cost is the pixels the network sees
 * (tiles x extent per axis, averaged over the jitter offsets, with the edge
 * tiles cut by quantum as gd_tiling_plan_cut cuts them, 0: not cut) plus
 * GD_TILING_ENGINE_COST times the pixels of the extents whose engine an
 * iteration must create (all but the full extent: the jitter moves the cut
 * ones every iteration).  margin M (at most GD_TILING_AUTO_SMALL / 2),
 * jitter as the job sets it (< 0: the size), torus: border = wrap (never
 * cut).  Pure: every rank and every restart takes the same.  Per pixel,
 * the engine runs about as fast on extents of 576 to 1088 pixels (MobileNet
 * V1, AVX-512), so pixels are the cost: e.g. the 2048 x 2048 default job
 * takes 640 (1.30x the image's pixels seen; measured as fast as 512, which
 * sees 1.354x: 6.30 s against 6.21 s median CPU of 6 alternating runs).
 */
int gd_tiling_auto_size(int w, int h, int margin, int jitter, int torus, int quantum);

#endif

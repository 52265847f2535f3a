/*
 * dream_int.h: the dream's state, and what the files of the dream module
 * share.  Not part of the module's contract (dream.h); nothing outside
 * src/dream/ includes it.
 *
 * The files form layers, and calls only go down:
 *   dream.c     the dream's life and its octaves: create, start, resume, the
 *               octave change, gd_dream_step (one iteration, then the octave
 *               change when the octave is done)
 *   step.c      one iteration and measuring: tiles, engine, blend, normalize,
 *               update; it owns the engine and its per-tile scratch
 *   lapnorm.c   the Laplacian pyramid normalization of one gradient
 *   layout.c    bands (allocation, row fetches, row sums) and tile geometry
 */
#ifndef GIGADREAM_DREAM_INT_H
#define GIGADREAM_DREAM_INT_H

#include "gigadream/band.h"
#include "gigadream/dist.h"
#include "gigadream/dream.h"
#include "gigadream/engine.h"
#include "gigadream/image.h"
#include "gigadream/tiling.h"

/*
 * At most this many compiled engines are kept (step.c), holding at most
 * DR_ENGINE_PIXELS full extents' pixels together; step.c also frees a cut
 * extent's engine once no tile left in the iteration uses it.  A row-major
 * sweep of a cut plan meets 3 extents per tile row (a middle row's: about
 * 2.1 full extents' pixels), and an engine costs 10-300 ms to create (most
 * of it faulting in its zeroed buffers) and up to ~150 MB to keep.
 */
#define DR_ENGINES 6
#define DR_ENGINE_PIXELS 2.5

/* One cached engine and the extent it was compiled for. */
typedef struct dr_engine_slot {
    gd_engine *engine;
    int w, h;
} dr_engine_slot;

struct gd_dream {
    const gd_job *job;
    const gd_model *model;
    const gd_objective *obj;
    gd_seed *seed;
    gd_dist *dist;
    gd_scratch *scratch; /* out of core: the folder every band lives in; NULL in core */
    double need, budget; /* in-core bytes per rank at the largest octave; the budget */
    double least;        /* out of core: the least bytes a rank needs (one window) */
    int window;          /* out of core: rows per window of a streaming pass */

    int n_oct;
    int ow[GD_MAX_OCTAVES], oh[GD_MAX_OCTAVES]; /* octave sizes, processing order */
    int lw[GD_MAX_OCTAVES], lh[GD_MAX_OCTAVES]; /* deepdream: seed pyramid levels, 0 = seed */

    int oct, iter, done;         /* the octave being dreamed and its next iteration */
    volatile sig_atomic_t *stop; /* set by a signal: abandon the iteration */
    gd_band img;                 /* the octave image */
    gd_band acc[2];              /* gradient accumulators by tile-row parity (dream.h, invariant 2);
                                    their owned rows are zero between iterations (step.c) */

    /* Engines compiled per tile extent, most recently used first: the plain
     * grid's edge tiles have extents of their own (tiling.h, point 3); the
     * current tile's engine; and per-tile scratch for extents up to
     * scr_w x scr_h (step.c). */
    dr_engine_slot engines[DR_ENGINES];
    int n_engines;
    gd_engine *engine;
    int scr_w, scr_h;
    float *tile_in, *tile_g, *wx, *wy;

    double *values; /* per-tile objective values of an iteration */
    int values_cap;
    double *rowsums; /* per-row partial sums of the owned rows */
    int rowsums_cap;
    /* The iteration's images of the rows its tiles wrap onto (border = wrap),
     * [2 * parity + (0 top, 1 bottom)], kept between iterations: fresh
     * allocations each iteration cost page faults on every write. */
    float *wrap[4];
    size_t wrap_cap[4]; /* floats */
};

/* ---- step.c: one iteration, the engine ---- */

/*
 * Runs iteration d->iter of octave d->oct and fills *rep; leaves the
 * position for the caller (gd_dream_step) to advance.  Collective.
 * GD_ESTOPPED: see gd_dream_set_stop.
 */
gd_status dr_iterate(gd_dream *d, gd_dream_report *rep, gd_err *err);

/* Frees the engines and the per-tile scratch (NULL pointers after). */
void dr_engine_release(gd_dream *d);

/* The bytes the cached engines hold (gd_engine_bytes summed). */
size_t dr_engine_bytes(const gd_dream *d);

/* ---- lapnorm.c ---- */

/*
 * The notebook's lap_normalize on the gradient held in g's owned rows, in
 * place: split into `levels` Laplacian levels, divide each by its RMS, merge.
 * Collective.
 */
gd_status dr_lapnorm(gd_dream *d, gd_band *g, int levels, gd_err *err);

/* ---- layout.c: bands ---- */

/* A band of a w x h image split like every band (gd_dist_band), with room for `halo` rows. */
gd_status dr_band_alloc(gd_dream *d, gd_band *b, int w, int h, int halo, gd_err *err);

/*
 * Collective: makes rows [a, z) (clipped to the image) of the banded image
 * src present in src's allocation, fetching the ones other ranks own.
 */
gd_status dr_fetch(gd_dream *d, gd_band *src, int a, int z, gd_err *err);

/*
 * Rows of a w-pixel-wide band a streaming pass handles before releasing
 * them: d->window out of core, all of them (INT_MAX) in core.
 */
int dr_window(const gd_dream *d);

/* Makes d->rowsums hold k doubles for each of n rows. */
gd_status dr_rowsums(gd_dream *d, int n, int k, gd_err *err);

/*
 * Collective: sums k values per owned row (d->rowsums[(y - y0) * k + j]) over
 * the whole image of h rows in row order (dist.h) into total[0..k).
 */
gd_status dr_sum_rows(gd_dream *d, int h, int k, double *total, gd_err *err);

/* ---- layout.c: tile geometry ---- */

/*
 * Where a block of tiles reads from: source rows as a near range (which,
 * with reflect, also covers the mirrored rows) and, with wrap, up to two far
 * ranges at the other end of the image.  Each range is [r[i][0], r[i][1]).
 */
typedef struct dr_row_ranges {
    int r[3][2];
} dr_row_ranges;

/* The plain grid's edge-tile cut quantum (tiling.h, point 3); 0: no cut. */
int dr_cut_quantum(const gd_dream *d);

/*
 * The tile plan of a w x h octave image for jitter (jx, jy): on a torus for
 * border = wrap, else the plain grid with its edge tiles cut.  err may be NULL.
 */
gd_status dr_make_plan(const gd_dream *d, int w, int h, int jx, int jy, gd_tile_plan *p,
                       gd_err *err);

/* The tile ids [*t0, *t1) this rank computes in plan p. */
void dr_my_tiles(const gd_dream *d, const gd_tile_plan *p, int *t0, int *t1);

/* The rows tiles [t0, t1) of p read, by border rule b. */
void dr_read_rows(const gd_tile_plan *p, int t0, int t1, gd_border b, dr_row_ranges *rr);

/*
 * The rows tiles [t0, t1) of p write to: [*a, *b), clipped to the image on a
 * plain axis, unwrapped on a torus (rows outside [0, h) belong to the rows h
 * away).
 */
void dr_write_rows(const gd_tile_plan *p, int t0, int t1, int *a, int *b);

/* The image rows a torus block's unwrapped rows [a, b) reach above and below. */
void dr_wrapped_rows(int a, int b, int h, int *top0, int *top1, int *bot0, int *bot1);

/*
 * The most rows beyond this rank's band of octave o that any iteration's
 * tiles (for every jitter the job can draw) or the jitter-free measuring grid
 * read or write, plus a few for resizes and the Laplacian pyramid: the halo
 * room to allocate so bands never grow (and never exist twice) mid-octave;
 * and on a torus the most unwrapped rows above or below the image any
 * iteration's tiles write (the wrap buffers' rows; else 0).
 */
void dr_reach(const gd_dream *d, int o, int *halo, int *wrapped);

#endif

/*
 * dream_internal.h: the dream's state, shared by dream.c (octaves),
 * dream_step.c (one iteration) and lapnorm.c.  Not a public header.
 */
#ifndef GIGADREAM_DREAM_INTERNAL_H
#define GIGADREAM_DREAM_INTERNAL_H

#include "gigadream/band.h"
#include "gigadream/dist.h"
#include "gigadream/dream.h"
#include "gigadream/engine.h"
#include "gigadream/image.h"
#include "gigadream/tiling.h"

struct gd_dream {
    const gd_job *job;
    const gd_model *model;
    const gd_objective *obj;
    gd_seed *seed;
    gd_dist *dist;

    int n_oct;
    int ow[GD_MAX_OCTAVES], oh[GD_MAX_OCTAVES]; /* octave sizes, processing order */
    int lw[GD_MAX_OCTAVES], lh[GD_MAX_OCTAVES]; /* deepdream: seed pyramid levels, 0 = seed */

    int oct, iter, done;         /* the octave being dreamed and its next iteration */
    volatile sig_atomic_t *stop; /* set by a signal: abandon the iteration */
    gd_band img;                 /* the octave image */
    gd_band acc[2]; /* gradient accumulators by tile-row parity (dream.h, invariant 2) */

    /* The engine of the current tile shape, and per-tile scratch it uses. */
    gd_engine *engine;
    int eng_w, eng_h;
    float *tile_in, *tile_g, *wx, *wy;

    double *values; /* per-tile objective values of an iteration */
    int values_cap;
    double *rowsums; /* per-row partial sums of the owned rows */
    int rowsums_cap;
    /* gd_dream_step's images of the rows its tiles wrap onto (border = wrap),
     * [2 * parity + (0 top, 1 bottom)], kept between iterations: fresh
     * allocations each iteration cost page faults on every write. */
    float *wrap[4];
    size_t wrap_cap[4]; /* floats */
};

/* A band of a w x h image split like every band (gd_dist_band), with room for `halo` rows. */
gd_status gd_dream_band_alloc(gd_dream *d, gd_band *b, int w, int h, int halo, gd_err *err);

/*
 * Collective: makes rows [a, z) (clipped to the image) of the banded image
 * src present in src's allocation, fetching the ones other ranks own.
 */
gd_status gd_dream_fetch(gd_dream *d, gd_band *src, int a, int z, gd_err *err);

/*
 * The most rows beyond this rank's band of octave o that any iteration's
 * tiles (for every jitter the job can draw) or the jitter-free measuring grid
 * read or write, plus a few for resizes and the Laplacian pyramid: the halo
 * room to allocate so bands never grow (and never exist twice) mid-octave.
 */
int gd_dream_halo(const gd_dream *d, int o);
/* gd_dream_halo's, and on a torus the most unwrapped rows above or below the
 * image any iteration's tiles write (the wrap buffers' rows; else 0). */
void gd_dream_reach(const gd_dream *d, int o, int *halo, int *wrapped);

/* Moves to the next octave (dream.c).  Collective. */
gd_status gd_dream_next_octave(gd_dream *d, gd_err *err);

/* Frees the engine and its scratch. */
void gd_dream_engine_release(gd_dream *d);

/*
 * Collective: sums k values per owned row (rows[(y - y0) * k + j]) over the
 * whole image in row order (dist.h).
 */
gd_status gd_dream_sum_rows(gd_dream *d, int h, int k, gd_err *err, double *total);

/* Makes d->rowsums hold k doubles for each of n rows. */
gd_status gd_dream_rowsums(gd_dream *d, int n, int k, gd_err *err);

/*
 * The notebook's lap_normalize on the gradient held in g's owned rows, in
 * place: split into `levels` Laplacian levels, divide each by its RMS, merge.
 * Collective.
 */
gd_status gd_lapnorm(gd_dream *d, gd_band *g, int levels, gd_err *err);

#endif

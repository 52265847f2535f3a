/*
 * dream.h: the Deep Dream loop: octaves, iterations, modes, normalization and
 * the update, over an image split into row bands across ranks.
 *
 * Semantics are the TensorFlow deepdream notebook's (render_deepdream,
 * render_naive, render_multiscale, render_lapnorm), with the gradient of each
 * iteration computed on a jittered grid of overlapping tiles (tiling.h) and
 * blended with windows that sum to exactly one:
 *
 *   deepdream   octave sizes int32(float32(hw) / scale) from the seed down;
 *               coarsest first; entering a finer octave,
 *               img = resize(img) + (base_k - resize(base_k+1)) where base is
 *               the seed's own pyramid (the notebook's detail "hi");
 *               img += g * (step / (mean|g| + 1e-7)).
 *   naive       img += g / (std(g) + 1e-8) * step   (one scale by default)
 *   multiscale  the same update; between octaves img = resize(img, int32(hw * scale))
 *   lapnorm     g normalized per level of a Laplacian pyramid (5x5 [1,4,6,4,1]
 *               kernel, lap_levels levels, each level divided by its RMS),
 *               img += g * step; octaves as multiscale.
 *
 * Invariants (what makes the output the same bytes for any rank count):
 *   1. Every pixel of every image is computed by one rule from data that
 *      does not depend on the band split (resizes, seeds, updates are per
 *      pixel; tile inputs are fetched from the global image).
 *   2. The gradient accumulates in two buffers by tile-row parity; each pixel
 *      of a buffer receives at most two addends (the tiles left and right of
 *      a column boundary), and 0 + a + b == 0 + b + a in floats, so the order
 *      in which ranks deliver contributions does not matter.  The gradient is
 *      then acc[0] + acc[1].
 *   3. Whole-image reductions (mean |g|, std, level RMS, objective) are
 *      per-row (or per-tile) partial sums in double, summed in row (tile id)
 *      order by gd_dist_sum_rows / gd_dist_gather_ids.
 *   4. Jitter comes from Philox keyed by (seed, octave, iteration): the same
 *      on every rank, and after a restart.
 *   5. Tiles are split among ranks in contiguous blocks of tile ids, so the
 *      work is balanced to within one tile; who computes a tile never changes
 *      what it computes.
 *
 * Collective: every function taking a gd_dream is entered by all ranks.
 */
#ifndef GIGADREAM_DREAM_H
#define GIGADREAM_DREAM_H

#include <signal.h>

#include "gigadream/band.h"
#include "gigadream/dist.h"
#include "gigadream/error.h"
#include "gigadream/job.h"
#include "gigadream/model.h"
#include "gigadream/objective.h"
#include "gigadream/seed.h"

#define GD_MAX_OCTAVES 20

typedef struct gd_dream gd_dream;

/* What one iteration did, for the log. */
typedef struct gd_dream_report {
    int octave, iteration; /* the iteration just done (0-based, processing order) */
    int tiles;             /* tiles of the iteration's grid (all ranks) */
    int my_tiles;          /* tiles this rank computed */
    double objective;      /* mean over tiles of the tile objective */
    double mpix;           /* megapixels of the octave image */
    double tile_mpix;      /* megapixels the network saw: tiles x tile extent */
    double norm;           /* the normalizer used: mean|g| (deepdream) or std(g) */
} gd_dream_report;

/*
 * Sets up a dream: octave sizes, buffers, nothing computed yet.  job, model,
 * obj, seed and dist must outlive the dream.  Fails early (before any
 * allocation of image size) when an octave is too small for the network.
 *
 * Memory.  In core, a rank holds its band of the octave image and two
 * gradient accumulators (36 bytes per owned pixel) plus halo rows.  When
 * that does not fit in the rank's budget ([engine] memory; auto: two thirds
 * of the node's available memory, shared by its ranks), every band of the dream lives in a
 * file of the scratch folder ([engine] scratch; default the checkpoint dir,
 * else the output's folder) instead, and each pass over a band (the tiles,
 * the sums, the update, resizes, the seed) streams through it a window of
 * rows at a time, releasing the rows behind it (scratch.h).  The arithmetic
 * is the same, in the same order: the bytes do not depend on the budget.
 * A budget below one window's worth (about three bands of a few tile rows,
 * and the engine) is refused (GD_EINPUT, naming the minimum); a scratch
 * folder that cannot take the files fails with GD_EIO naming it, before
 * anything is written.  Caller frees with gd_dream_free.
 */
gd_status gd_dream_create(const gd_job *job, const gd_model *model, const gd_objective *obj,
                          gd_seed *seed, gd_dist *dist, gd_dream **out, gd_err *err);
void gd_dream_free(gd_dream *d);

/* The number of octaves and the size of octave o (processing order: first dreamed first). */
int gd_dream_octaves(const gd_dream *d);
void gd_dream_octave_size(const gd_dream *d, int o, int *w, int *h);
/* The tile core size for a w x h octave image: the job's, or with size =
 * auto the one gd_tiling_auto_size picks; and the jitter range with it. */
int gd_dream_tile_size(const gd_dream *d, int w, int h);
int gd_dream_jitter_range(const gd_dream *d, int w, int h);

/* Builds the first octave's image from the seed.  Collective. */
gd_status gd_dream_start(gd_dream *d, gd_err *err);

/*
 * Starts from a saved state instead: octave o, next iteration i (i may equal
 * the iteration count only in the last octave: the dream is then done), the
 * octave image's rows this rank owns filled by fill(ctx, band) (e.g. from a
 * checkpoint).  Collective.
 */
gd_status gd_dream_resume(gd_dream *d, int o, int i,
                          gd_status (*fill)(void *ctx, gd_image *band, gd_err *err), void *ctx,
                          gd_err *err);

/*
 * A flag a signal handler sets: when any rank sees it nonzero between two
 * tiles, every rank abandons the iteration (the image is untouched until the
 * update, so nothing is lost but the work) and gd_dream_step returns
 * GD_ESTOPPED with the position unchanged.  NULL (the default) never stops.
 */
void gd_dream_set_stop(gd_dream *d, volatile sig_atomic_t *stop);

/*
 * Runs the next iteration; after an octave's last iteration, moves to the
 * next octave (resize + detail).  Collective.  GD_ESTOPPED: see
 * gd_dream_set_stop.
 */
gd_status gd_dream_step(gd_dream *d, gd_dream_report *rep, gd_err *err);

/* 1 when every iteration of every octave has run. */
int gd_dream_done(const gd_dream *d);

/* Where the dream is: the octave being dreamed and the next iteration to run. */
void gd_dream_position(const gd_dream *d, int *octave, int *iteration);

/* The current octave image's owned rows (valid until the next step). */
gd_image *gd_dream_image(gd_dream *d);

/*
 * The objective's value over a whole image held in bands (the current octave
 * image when img is NULL), on the jitter-free tile grid of the job, as the mean
 * of the tile values in tile order.  Forward passes only.  Collective.
 */
gd_status gd_dream_measure(gd_dream *d, gd_band *img, double *value, gd_err *err);

/*
 * The seed's objective value at the seed's own size (for deepdream that is
 * the final size).  Collective.
 */
gd_status gd_dream_measure_seed(gd_dream *d, double *value, gd_err *err);

/* Frees what only iterations need (the gradient accumulators). */
void gd_dream_finish(gd_dream *d);

/* Pixels of the largest octave this rank owns. */
double gd_dream_owned_pixels(const gd_dream *d);

/* Bytes of image data this rank holds now (bands, halos, engine). */
size_t gd_dream_bytes(const gd_dream *d);

/*
 * Out of core (see gd_dream_create): 1, with *need the in-core bytes per
 * rank, *budget the budget and *scratch the folder; 0 in core (the outputs
 * are then left alone).  Any pointer may be NULL.
 */
int gd_dream_out_of_core(const gd_dream *d, double *need, double *budget, const char **scratch);

/* Bytes of scratch files now, and at most so far (0 in core). */
double gd_dream_scratch_bytes(const gd_dream *d, double *peak);

/*
 * Out of core: rows [y0, y1) of the octave image (clipped to what the rank
 * holds) leave this rank's memory, keeping their values: for callers that
 * read it whole (checkpoint, output).  In core: nothing.
 */
void gd_dream_release(gd_dream *d, int y0, int y1);

#endif

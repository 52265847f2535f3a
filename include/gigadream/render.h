/*
 * render.h: one whole render, from a job file to an output image.
 *
 * job -> model -> objective (and guide features) -> seed -> dream (octaves,
 * iterations; checkpoints) -> output.  Runs on every rank of an MPI job;
 * rank 0 prints the log.  Every rank compresses its share of the output's
 * tiles and rank 0 writes them into the file (output.h).
 *
 * The output appears at its path only when the render succeeded: it is
 * written under a temporary name and renamed at the end (imageio.h).  The
 * output path is checked before any dreaming (its folder exists and is
 * writable, and it does not exist unless [output] overwrite = true), so a
 * bad output path fails in a second, not after hours.
 */
#ifndef GIGADREAM_RENDER_H
#define GIGADREAM_RENDER_H

#include <signal.h>

#include "gigadream/dist.h"
#include "gigadream/error.h"

typedef struct gd_render_opts {
    const char *job_path;
    const char *const *overrides; /* "section.key=value" strings (--set) */
    int n_overrides;
    int restart;                 /* ignore existing checkpoints (start from the seed) */
    const char *resume;          /* resume from this checkpoint, or NULL */
    volatile sig_atomic_t *stop; /* set by a signal handler: checkpoint and stop; may be NULL */
    int quiet;                   /* no progress lines */
    int allow_other_cpu;         /* resume a checkpoint of another kernel path, with a warning */
} gd_render_opts;

/* What a finished render measured (rank 0 prints it too). */
typedef struct gd_render_result {
    int w, h;              /* output size */
    double seconds;        /* wall time of the render */
    double objective_seed; /* the objective on the seed */
    double objective_out;  /* ... and on the written (quantized) output */
    double peak_rss;       /* bytes, the largest of all ranks */
    double dream_seconds;  /* wall time of the iterations alone */
    double mpix_iter;      /* megapixel-iterations dreamed (octave pixels x iterations) */
    double tile_mpix_iter; /* megapixel-iterations the network computed (tile extents) */
} gd_render_result;

/* Runs the render.  Collective over dist.  result may be NULL. */
gd_status gd_render(const gd_render_opts *opts, gd_dist *dist, gd_render_result *result,
                    gd_err *err);

#endif

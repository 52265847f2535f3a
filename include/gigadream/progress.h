/*
 * progress.h: the renderer's log lines and the live progress bar.
 *
 * One gd_progress per run.  It prints, to the FILE it was given:
 *   - one log line per iteration,
 *       "[2025-06-01T12:00:00Z 0:01:02] octave 2/4 iteration 3/10: 12 tiles, 3.41 MPix/s,
 *        objective 1.234, ETA 0:02:31"
 *     where the rate is the work done since creation over the time elapsed
 *     since creation, and the ETA is the work left at that rate;
 *   - other messages through gd_progress_log, with the same prefix: the
 *     wall-clock time in UTC as ISO 8601, then the time elapsed since
 *     creation as H:MM:SS (scripts take the message after the first "] ");
 *   - in TTY mode only, a bar on the last line, redrawn in place with '\r'
 *     after every line (log lines erase it first, so they stay clean):
 *       "[##########--------------------]  33.3%  octave 2/4  iteration 3/10  ETA 0:02:31"
 *     The bar is erased by overwriting it with blanks, not by terminal escape
 *     codes, so it works on any terminal.
 *
 * Work is counted in pixel-iterations: the total is the sum over octaves of
 * iterations x pixels of the octave (gd_progress_total), and each iteration
 * adds its megapixels.  A resumed run starts with the work already done, so
 * its rate and ETA count only what this run does.
 *
 * Under MPI only rank 0 should create one and print; the caller decides
 * (this module knows nothing of ranks).  All state is in the object; the
 * clock is a function pointer so tests can drive time.  Output errors are
 * ignored: progress must never stop a render.
 */
#ifndef GIGADREAM_PROGRESS_H
#define GIGADREAM_PROGRESS_H

#include <stdio.h>

#include "gigadream/error.h"

/* Seconds on a monotonic clock (any origin). */
typedef double (*gd_clock_fn)(void *ctx);

typedef struct gd_progress_opts {
    FILE *out;         /* where lines go; NULL = stderr */
    int tty;           /* -1: draw the bar iff isatty(out); 0: never; 1: always */
    gd_clock_fn clock; /* NULL = CLOCK_MONOTONIC */
    void *clock_ctx;   /* passed to clock and wall */
    gd_clock_fn wall;  /* seconds since the Unix epoch; NULL = CLOCK_REALTIME */
    double done;       /* work units already done (a resumed run) */
    int bar_width;     /* cells in the bar; 0 = 30 */
} gd_progress_opts;

typedef struct gd_progress gd_progress;

/* What one finished iteration reports. */
typedef struct gd_progress_step {
    int octave, octaves;       /* 0-based octave index, and the count (printed k+1/K) */
    int iteration, iterations; /* 0-based iteration index within the octave, and the count */
    int tiles;                 /* tiles computed in this iteration */
    double mpix;               /* megapixels of the octave image (work done = mpix * 1e6) */
    double objective;          /* the objective's value summed over tiles */
} gd_progress_step;

/*
 * Creates the progress state for `total` work units (> 0).  opts may be
 * NULL for all defaults.  The clock's reading now is time zero.  Caller frees
 * with gd_progress_free.
 */
gd_status gd_progress_create(double total, const gd_progress_opts *opts, gd_progress **out,
                             gd_err *err);

/* Erases the bar if drawn, and frees p.  p may be NULL. */
void gd_progress_free(gd_progress *p);

/* Counts one iteration's work and prints its log line (and the bar in TTY mode). */
void gd_progress_iteration(gd_progress *p, const gd_progress_step *step);

/* Prints "[ISO8601 H:MM:SS] <message>" as a log line (the bar, if any, stays below). */
void gd_progress_log(gd_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Erases the bar (if drawn) so the next output starts on a clean line. */
void gd_progress_finish(gd_progress *p);

/* Work done so far (including opts.done), in work units. */
double gd_progress_done(const gd_progress *p);

/*
 * The total work of a run: sum over the n octaves of iterations x w[k] x h[k]
 * pixel-iterations.
 */
double gd_progress_total(const int *w, const int *h, int n, int iterations);

/* Formats seconds since the Unix epoch as "YYYY-MM-DDTHH:MM:SSZ" (UTC, whole seconds
 * rounded down; 0000-00-00T00:00:00Z when out of range).  Returns buf. */
const char *gd_progress_iso8601(double epoch, char buf[32]);

/* Formats seconds as "H:MM:SS" (hours unbounded; "-:--:--" when negative or not finite). */
const char *gd_progress_hms(double seconds, char buf[32]);

#endif

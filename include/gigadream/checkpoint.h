/*
 * checkpoint.h: HDF5 checkpoints of a dream: written collectively by all
 * ranks, validated on read, kept N deep, readable on another rank count.
 *
 * A dream's whole state is small by design (dream.c): the current octave
 * image, the octave being dreamed and the next iteration.  Everything else
 * (octave sizes, the seed pyramid, the jitter: Philox keyed by (seed,
 * octave, iteration)) is recomputed from the job.  So a checkpoint holds the
 * octave image (float32 RGB, each rank writing the rows it owns), the
 * position, the seed, the job's text and canonical text with its hash, the
 * gigadream version, the rank count, the time, and the size and mtime of the
 * input files (the seed image, the model, the guide), so that a changed
 * input is noticed.  src/checkpoint/checkpoint.c states the file layout and
 * the write protocol as numbered invariants, src/checkpoint/read.c those of
 * reading.
 *
 * Files live in one folder, which every rank must see (a shared file
 * system: ranks write one file through MPI-IO), named ckpt-CCCCCC-oOO-iIIIIII.h5: C a counter
 * that grows with every checkpoint written in the folder (the newest has the
 * largest), O the octave and I the next iteration.  A write goes to
 * NAME.tmp first and is renamed only once complete and on disk, so a
 * checkpoint at a final name is whole or absent; a run killed mid-write
 * leaves a .tmp, which readers ignore and the next write removes.
 *
 * Validation, in this order (the first failure is the reason given):
 *   damaged:        not an HDF5 file, truncated, metadata checksum error,
 *                   not a gigadream checkpoint, unknown format version,
 *                   missing completion marker, metadata checksum mismatch,
 *                   inconsistent metadata, checksum error in image data;
 *   other job:      the job's canonical text differs (the reason lists the
 *                   differing keys, checkpoint value -> job value);
 *   input changed:  an input file's size or mtime differs, or it is gone.
 * Data checks read the whole image (Fletcher32 on every chunk), so
 * validating costs one read of the checkpoint.
 *
 * Collective: functions taking a gd_dist are entered by every rank of it,
 * with the same arguments except the band; they return the same status and
 * message on every rank.  Only this module and model call HDF5 (both also
 * through the shared helpers of src/h5io.c); this one never calls MPI itself
 * (dist does).
 */
#ifndef GIGADREAM_CHECKPOINT_H
#define GIGADREAM_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gigadream/dist.h"
#include "gigadream/error.h"
#include "gigadream/image.h"
#include "gigadream/job.h"

/* Longest checkpoint path handled, with its NUL. */
#define GD_CKPT_PATH_MAX 4096

/* Where a dream is: what the caller says when writing. */
typedef struct gd_checkpoint_pos {
    int octave;    /* the octave being dreamed (processing order, 0-based) */
    int iteration; /* the next iteration to run in it (0 .. job iterations) */
    int octaves;   /* the job's octave count */
    int w, h;      /* this octave's image size */
    /* The writer's kernel path (gd_engine_path; NULL: ""), recorded so a
     * resume on another can be refused (render.c). */
    const char *kernel_path;
} gd_checkpoint_pos;

/* What a checkpoint says about itself. */
typedef struct gd_checkpoint_meta {
    gd_checkpoint_pos pos;
    uint64_t seed;     /* [dream] seed: with (octave, iteration), the jitter RNG's key/counter */
    uint64_t job_hash; /* gd_job_hash of the job that wrote it */
    long long counter; /* its place in the folder's write order (in the name too) */
    int ranks;         /* how many ranks wrote it */
    double time;       /* when it was written, Unix seconds */
    char version[32];  /* the gigadream version that wrote it */

    /* The kernel path it was written on (gd_checkpoint_pos.kernel_path). */
    char kernel_path[64];
} gd_checkpoint_meta;

/* Why a checkpoint was not used. */
typedef enum gd_checkpoint_verdict {
    GD_CKPT_USABLE = 0,
    GD_CKPT_DAMAGED,       /* incomplete, truncated, checksum error, unreadable */
    GD_CKPT_OTHER_JOB,     /* intact, but written for another job */
    GD_CKPT_INPUT_CHANGED, /* intact and this job's, but an input file changed since */
    GD_CKPT_VERDICT_COUNT
} gd_checkpoint_verdict;

/* "usable", "damaged", "other job", "input changed". */
const char *gd_checkpoint_verdict_name(gd_checkpoint_verdict v);

/*
 * Collective.  Writes the dream's state as a new checkpoint in folder dir
 * (seam: the test seam below, NULL in production)
 * (which must exist), then keeps the newest `keep` (>= 1) checkpoints of
 * this job there: older ones of this job and unreadable ones are removed,
 * as are .tmp files left by runs that died; other jobs' checkpoints are
 * left alone.  band holds the rows this rank owns of the pos->w x pos->h
 * RGB octave image (rows as gd_dist_band splits pos->h over the ranks);
 * the rows are read in order, a round of about 128 MB at a time, and done
 * (may be NULL) hears of each round's rows once written.
 * The file's name goes to path (len bytes; may be NULL when len is 0).
 *
 * Failure (GD_EINPUT for bad arguments, GD_EIO / GD_ELIB / GD_ENOMEM at run
 * time): before the rename, the .tmp file is removed and the folder is as
 * before, so the previous checkpoints are untouched.  A failure after the
 * rename (syncing the folder, removing old files) leaves the new checkpoint
 * valid and its name in path; the message says what failed.
 */
typedef struct gd_checkpoint_seam gd_checkpoint_seam;

gd_status gd_checkpoint_write(gd_dist *d, const char *dir, const gd_job *job,
                              const gd_checkpoint_pos *pos, const gd_image *band,
                              const gd_rows_done *done, int keep, const gd_checkpoint_seam *seam,
                              char *path, size_t len, gd_err *err);

/*
 * Called by gd_checkpoint_find for every checkpoint it passes over, newest
 * first, on every rank with the same arguments: its path, why it was not
 * used, and a one-line message "PATH: reason" (e.g. "...: checksum error in
 * image data (rows 0-63)", "...: written for a different job: dream.step:
 * 1.5 -> 2").
 */
typedef void (*gd_checkpoint_skip_fn)(void *ctx, const char *path, gd_checkpoint_verdict why,
                                      const char *message);

/* What gd_checkpoint_find found. */
typedef struct gd_checkpoint_found {
    int found;                   /* 1: path and meta name the newest usable checkpoint */
    char path[GD_CKPT_PATH_MAX]; /* "" when none */
    gd_checkpoint_meta meta;
    int skipped;           /* newer checkpoints passed over */
    int skipped_other_job; /* ... of which written for another job */
} gd_checkpoint_found;

/*
 * Collective.  Looks in folder dir for the newest checkpoint usable by job
 * (complete, intact, this job's, inputs unchanged); reports each newer one
 * passed over through skip (may be NULL).  A missing folder or one without
 * checkpoints is not an error: out->found = 0.  Errors are reserved for
 * failing to look (an unreadable folder, out of memory, MPI).
 *
 * Policy is the caller's: e.g. when nothing is found but other jobs'
 * checkpoints were skipped, refuse to start over (their messages list the
 * differing keys).
 */
gd_status gd_checkpoint_find(gd_dist *d, const char *dir, const gd_job *job,
                             gd_checkpoint_found *out, gd_checkpoint_skip_fn skip, void *ctx,
                             gd_err *err);

/*
 * Collective.  Validates one named checkpoint for job (--resume PATH): GD_OK
 * and *meta when usable; otherwise GD_EINPUT with "PATH: reason" and, when
 * verdict is not NULL, why.
 */
gd_status gd_checkpoint_check(gd_dist *d, const char *path, const gd_job *job,
                              gd_checkpoint_meta *meta, gd_checkpoint_verdict *verdict,
                              gd_err *err);

/*
 * Collective.  Reads rows [band->y0, band->y1) (each rank its own, possibly
 * none) of a checkpoint's image into band, which must be band->w x
 * band->full_h with 3 channels: the checkpoint's octave size.  Any rank
 * count reads a checkpoint written on any other.  A damaged chunk is an
 * error (GD_EINPUT, "checksum error in image data").  Meant after
 * gd_checkpoint_find or gd_checkpoint_check, e.g. as gd_dream_resume's fill.
 * The rows are read in order, a slab at a time, and done (may be NULL)
 * hears of each slab's rows once filled.
 */
gd_status gd_checkpoint_read(gd_dist *d, const char *path, gd_image *band, const gd_rows_done *done,
                             gd_err *err);

/*
 * Not collective (no MPI): prints what the checkpoint at path holds and
 * whether it is valid by itself (every damaged check above; no job to
 * compare with, but the input files are compared with the disk and the
 * result printed) to out.  GD_OK when valid; GD_EINPUT with "PATH: reason"
 * when not (what could be read is printed first); GD_EIO when out fails.
 */
gd_status gd_checkpoint_info(const char *path, FILE *out, gd_err *err);

/*
 * Not collective: 1 when path is an HDF5 file whose root says it is a
 * gigadream checkpoint (whether or not it is valid), else 0.  Used by
 * `gigadream info` to tell checkpoints from models.
 */
int gd_checkpoint_probe(const char *path);

/* --- Fault seam (tests) --------------------------------------------------- */

/* The points of gd_checkpoint_write where a fault can be injected. */
typedef enum gd_checkpoint_step {
    GD_CKPT_STEP_CREATE, /* every rank, before the .tmp file is created */
    GD_CKPT_STEP_DATA,   /* every rank, file created, before the image data is written */
    GD_CKPT_STEP_MARKER, /* every rank, data and metadata flushed, before the marker */
    GD_CKPT_STEP_SYNC,   /* rank 0, file closed, before it is fsynced */
    GD_CKPT_STEP_RENAME, /* rank 0, fsynced, before NAME.tmp is renamed to NAME */
    GD_CKPT_STEP_RETAIN, /* rank 0, renamed and folder synced, before old files are removed */
    GD_CKPT_STEP_COUNT
} gd_checkpoint_step;

const char *gd_checkpoint_step_name(gd_checkpoint_step s);

/*
 * A fault hook: called at each step on the ranks named above; a status other
 * than GD_OK (with a message in err) makes the step fail there as an I/O
 * error at that point would.
 */
typedef gd_status (*gd_checkpoint_fault_fn)(void *ctx, gd_checkpoint_step step, int rank,
                                            gd_err *err);

/*
 * The test seam gd_checkpoint_write takes (NULL in production): a fault hook
 * called at each step, no globals, no special build.
 */
struct gd_checkpoint_seam {
    gd_checkpoint_fault_fn fault;
    void *ctx;
};

#endif

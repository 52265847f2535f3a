/*
 * checkpoint_int.h: what the checkpoint module's sources share.  Not a
 * public header: only the files of src/checkpoint/ include it.
 *
 * The files, top to bottom (each calls only the ones below it):
 *   checkpoint.c  the layout and protocol invariants, the write, the fault seam
 *   read.c        validation, find, check, read, info
 *   dir.c         names, folder listing, fsync, retention
 *   meta.c        the metadata attributes: writing, reading, checksum
 *   cache.c       the page-cache dropper of a file being written
 *   h5.c          HDF5 failures, serial and MPI-IO file access, row selections
 * and below them all, h5io_int.h: the HDF5 primitives shared with the model file.
 */
#ifndef GIGADREAM_CHECKPOINT_INT_H
#define GIGADREAM_CHECKPOINT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "gigadream/checkpoint.h"
#include "h5io_int.h"

#define CK_FORMAT "gigadream-checkpoint"
#define CK_FORMAT_VERSION 2 /* 2: kernel_path */
#define CK_DATASET "image"
#define CK_MARKER "complete"
#define CK_CHECKSUM "meta_checksum"
#define CK_CHANNELS 3
#define CK_MAX_TEXT (2 << 20) /* longest stored job text (job.h allows 1 MB) */

/* --- Metadata (meta.c) --------------------------------------------------- */

/* The input files whose size and mtime a checkpoint records (invariant 6). */
enum { CK_FILE_INPUT, CK_FILE_MODEL, CK_FILE_GUIDE, CK_N_FILES };

/*
 * A checkpoint's metadata, as the attributes of checkpoint.c's invariant 3.
 * Strings are owned (ck_meta_free); *_size -1 means "not recorded" (no such
 * file, or it could not be examined when written).
 */
typedef struct ck_meta {
    char *format;
    int format_version;
    char *version;
    char *job_text, *job_canon, *job_hash;
    int octave, iteration, octaves, width, height;
    uint64_t seed;
    int ranks;
    int64_t counter;
    double time;
    char *file_path[CK_N_FILES];
    int64_t file_size[CK_N_FILES];
    int64_t file_mtime[CK_N_FILES]; /* nanoseconds since the epoch */
    char *kernel_path;              /* gd_checkpoint_pos.kernel_path of the writer */
    /* The completion record (invariant 4), written last. */
    char *checksum; /* hex of ck_meta_checksum */
    int complete;
} ck_meta;

/* "input", "model", "guide" */
extern const char *const ck_file_names[CK_N_FILES];

/*
 * The metadata a write stores, from the job and position; the fields only
 * rank 0 knows (counter, time, file stats) are the caller's to fill.  On
 * failure *m holds nothing (ck_meta_free is still safe).
 */
gd_status ck_meta_from_job(ck_meta *m, const gd_job *job, const gd_checkpoint_pos *pos, int ranks,
                           gd_err *err);
void ck_meta_free(ck_meta *m);
/* The public view. */
void ck_meta_public(const ck_meta *m, gd_checkpoint_meta *out);
/* FNV-1a 64 over every attribute of invariant 3 but the completion record. */
uint64_t ck_meta_checksum(const ck_meta *m);
/* Size and mtime of path into *size, *mtime; size -1 when it cannot be examined. */
void ck_file_stat(const char *path, int64_t *size, int64_t *mtime);

/* Writes the attributes of invariant 3 (all but the completion record) to loc. */
gd_status ck_meta_put(hid_t loc, const ck_meta *m, gd_err *err);
/* Writes the completion record: meta_checksum, then complete = 1. */
gd_status ck_meta_put_marker(hid_t loc, const ck_meta *m, gd_err *err);
/*
 * Reads every attribute into *m (which it clears first), in validation
 * order: format and format_version, the completion record, the rest.
 * GD_EINPUT names what is missing or wrong ("missing completion marker",
 * "not a gigadream checkpoint", ...); m keeps what was read.
 */
gd_status ck_meta_get(hid_t loc, ck_meta *m, gd_err *err);

/* --- Names and the folder (dir.c) ----------------------------------------- */

/* One checkpoint file name found in a folder. */
typedef struct ck_entry {
    char name[96];
    long long counter;
    int octave, iteration;
    int tmp; /* 1: NAME.tmp */
} ck_entry;

/* "ckpt-CCCCCC-oOO-iIIIIII.h5" into buf. */
void ck_name_make(char *buf, size_t len, long long counter, int octave, int iteration);
/* 1 when name is a checkpoint's (final or .tmp) name, filling e. */
int ck_name_parse(const char *name, ck_entry *e);
/*
 * The checkpoint names in dir, newest (largest counter) first, a final name
 * before its .tmp.  A missing folder gives none.  The caller frees *out.
 */
gd_status ck_dir_list(const char *dir, ck_entry **out, int *n, gd_err *err);
/* dir + "/" + name into buf; GD_EINPUT when it does not fit. */
gd_status ck_path_join(char *buf, size_t len, const char *dir, const char *name, gd_err *err);
/* fsync of a file (is_dir 0) or folder (1; file systems that refuse are tolerated);
 * a synced file's pages are then dropped from the page cache. */
gd_status ck_sync_path(const char *path, int is_dir, gd_err *err);

/*
 * Retention (checkpoint.c invariant 11): in dir, keeps `keep` checkpoints
 * of the job with hash job_hash (the newest, newest_name, among them),
 * removes older ones of that job, unreadable ones and every .tmp.
 */
gd_status ck_retain(const char *dir, const char *newest_name, const char *job_hash, int keep,
                    gd_err *err);

/* --- The page cache (cache.c) ------------------------------------------- */

/*
 * While a checkpoint file is written, a thread keeps dropping its pages from
 * this node's page cache.  ck_dropper_start returns NULL when it cannot start
 * one (the write then goes on without: it is an optimization, not a
 * guarantee); ck_dropper_stop(NULL) does nothing.
 */
typedef struct ck_dropper ck_dropper;
ck_dropper *ck_dropper_start(const char *path);
void ck_dropper_stop(ck_dropper *d);

/* --- HDF5 helpers (h5.c) ------------------------------------------------- */

/*
 * Opens path for reading without MPI (the sec2 driver).  -1 on failure, with
 * err holding the reason ("truncated", "not an HDF5 file", ...).
 */
hid_t ck_open_serial(const char *path, gd_err *err);

/*
 * The reason HDF5's error stack gives (then the stack is cleared): a damaged
 * file is GD_EINPUT with a classified reason ("checksum error in image
 * data", "truncated (...)", "checksum error in metadata (...)", "not an
 * HDF5 file"); anything else is st with "<what>: <HDF5's innermost message>".
 */
gd_status ck_h5_fail(gd_status st, const char *what, gd_err *err);

/*
 * Selects the row ranges [ranges[2k], ranges[2k+1]), k < n (disjoint; empty
 * ones skipped; within band's rows) of a [h][w][3] file dataspace, and makes
 * the memory dataspace of band's buffer, [rows][stride / 3][3], with the
 * same rows selected; both select nothing when every range is empty.  *mem
 * is the caller's to close (also on failure, when >= 0).
 */
gd_status ck_row_spaces(const gd_image *band, const int *ranges, int n, hid_t file_space,
                        hid_t *mem, gd_err *err);

/* A file access property list for MPI-IO over d's communicator; -1 on failure. */
hid_t ck_fapl_mpio(gd_dist *d);

#endif

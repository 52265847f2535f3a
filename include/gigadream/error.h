/*
 * error.h: status codes and the one way to report an error with context.
 *
 * Every fallible gigadream function returns a gd_status (GD_OK == 0) and,
 * on failure, leaves a one-line message in the gd_err the caller passed in.
 * There is no global error state: each caller owns its gd_err, so threads
 * and MPI ranks never share one.
 *
 * Messages name what was wrong and where (file, line, key, value, node),
 * and a library's own error code when a library failed.  Callers add
 * context on the way up with gd_err_prefix(), so the final message reads
 * "jobs/x.ini:12: [dream] step: must be > 0, got -1".
 *
 * This module never aborts and never prints; printing is the CLI's job.
 */
#ifndef GIGADREAM_ERROR_H
#define GIGADREAM_ERROR_H

#include <stddef.h>

typedef enum gd_status {
    GD_OK = 0,
    GD_EINPUT,   /* bad input or usage: job file, image, model, flags (exit 1) */
    GD_EIO,      /* I/O failure at run time: disk full, unreadable device (exit 2) */
    GD_ENOMEM,   /* out of memory (exit 2) */
    GD_ELIB,     /* a library (MPI, HDF5, oneDNN, libtiff...) failed at run time (exit 2) */
    GD_ESTOPPED, /* stopped by a signal after writing a checkpoint (exit 3) */
    GD_STATUS_COUNT
} gd_status;

#define GD_ERR_MSG_MAX 1024

typedef struct gd_err {
    gd_status status;
    char msg[GD_ERR_MSG_MAX];
} gd_err;

/* Resets err to GD_OK with an empty message. */
void gd_err_clear(gd_err *err);

/*
 * Records a failure: sets err->status = st and the message from fmt.
 * Returns st so callers can write `return gd_err_set(err, GD_EINPUT, ...)`.
 * err may be NULL (the status is still returned).
 */
gd_status gd_err_set(gd_err *err, gd_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Prepends context to an existing message: "<prefix>: <old message>".
 * Returns err->status.  err may be NULL.
 */
gd_status gd_err_prefix(gd_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The process exit code for a status: 0, 1 (input), 2 (runtime), 3 (stopped). */
int gd_status_exit_code(gd_status st);

/* A short name for a status ("bad input", "I/O error", ...). */
const char *gd_status_name(gd_status st);

/*
 * Allocation that reports failure with context.  `what` names the buffer
 * ("tile gradient"); on failure err says how many bytes were asked for.
 * gd_calloc zeroes, and checks count * size for overflow.
 * The caller frees the result with free().
 */
void *gd_malloc(size_t bytes, const char *what, gd_err *err);
void *gd_calloc(size_t count, size_t size, const char *what, gd_err *err);

/* Formats a byte count for messages: "1.50 GB".  buf must hold 32 chars. */
const char *gd_bytes_str(double bytes, char buf[32]);

#endif

/*
 * h5io_int.h: the HDF5 primitives both HDF5 file formats are built from:
 * the model file (src/model/h5.c) and the checkpoint (src/checkpoint/).
 * A private header of those two modules; nothing else includes it.
 *
 * Every function here converts an HDF5 failure into a gd_err message naming
 * the attribute or dataset, followed by HDF5's most specific message (its
 * error stack is read, then cleared).  Callers run between
 * h5io_quiet_begin and h5io_quiet_end so HDF5 prints nothing itself.
 * Readers check the class, size and rank of what they read before reading
 * it; a missing attribute is an error, a missing dataset is not.
 *
 * This layer knows no file layout: what the attributes and datasets mean is
 * the model's and the checkpoint's business, and it never calls either.
 */
#ifndef GIGADREAM_H5IO_INT_H
#define GIGADREAM_H5IO_INT_H

#include <stddef.h>

#include <hdf5.h>

#include "gigadream/error.h"

#define H5IO_CHUNK_VALUES 65536            /* values per dataset chunk, at most */
#define H5IO_MAX_VALUES ((hsize_t)1 << 30) /* values per dataset read, at most */

/* HDF5's automatic error printing, saved and switched off, then restored. */
typedef struct h5io_quiet {
    H5E_auto2_t func;
    void *data;
} h5io_quiet;
void h5io_quiet_begin(h5io_quiet *q);
void h5io_quiet_end(h5io_quiet *q);

/* HDF5's most specific error message into buf (then clears the stack). */
const char *h5io_detail(char buf[160]);

/* Sets err to "<what> '<name>': <HDF5 detail>" with status st; returns st. */
gd_status h5io_fail(gd_status st, const char *what, const char *name, gd_err *err);

/*
 * A file access property list for model and checkpoint files (HDF5 1.8
 * format with metadata checksums; lock failures ignored where locks are
 * unsupported).  The caller closes it with H5Pclose; -1 on failure.
 */
hid_t h5io_file_access(void);

/* A fixed-length, NUL-padded, UTF-8 string type of size bytes (>= 1); -1 on failure. */
hid_t h5io_string_type(size_t size);

/* Writing attributes: n values of memory type mtype stored as ftype (n == 0: a scalar). */
gd_status h5io_put_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int n, const void *v,
                        gd_err *err);
gd_status h5io_put_int(hid_t loc, const char *name, int v, gd_err *err);
gd_status h5io_put_float(hid_t loc, const char *name, float v, gd_err *err);
gd_status h5io_put_str(hid_t loc, const char *name, const char *s, gd_err *err);

/*
 * A float32 dataset of the given shape (rank 1..4), chunked along the first
 * axis (at most H5IO_CHUNK_VALUES values a chunk), Fletcher32-checked, not
 * compressed.
 */
gd_status h5io_put_floats(hid_t loc, const char *name, const float *v, int rank,
                          const hsize_t *dims, gd_err *err);

/* Reading an attribute of class cls holding exactly n values (n == 1 also for a scalar). */
gd_status h5io_get_attr(hid_t loc, const char *name, H5T_class_t cls, hid_t mtype, int n, void *v,
                        gd_err *err);
/* n ints, each in [lo, hi]. */
gd_status h5io_get_ints(hid_t loc, const char *name, int n, int lo, int hi, int *v, gd_err *err);
/* n finite floats. */
gd_status h5io_get_floats(hid_t loc, const char *name, int n, float *v, gd_err *err);
/* A fixed-length string attribute shorter than cap bytes, NUL-terminated into buf. */
gd_status h5io_get_str(hid_t loc, const char *name, char *buf, size_t cap, gd_err *err);

/*
 * A float dataset of rank 1..4 and at most H5IO_MAX_VALUES values into a
 * new buffer (*v, *n values, its *rank and dims[0..3]); the caller frees *v.
 * An absent dataset gives *v = NULL and GD_OK.  A Fletcher32 mismatch (a
 * damaged chunk) fails here.
 */
gd_status h5io_get_dataset(hid_t g, const char *name, float **v, size_t *n, int *rank,
                           hsize_t *dims, gd_err *err);

#endif

/*
 * h5.c: the checkpoint module's HDF5 helpers, one layer below the write
 * (checkpoint.c), the folder (dir.c), the metadata (meta.c) and the reads
 * (read.c), which all use them: the classification of HDF5's failures, the
 * serial and the MPI-IO file access, and the row selections of /image.
 * It never calls the files above it, and never calls MPI (it only names the
 * communicator dist.c owns, for H5Pset_fapl_mpio).
 */
#include "checkpoint_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <mpi.h> /* only for the MPI_Comm type H5Pset_fapl_mpio takes; dist.c makes the calls */

/* --- HDF5 failures ------------------------------------------------------------ */

typedef struct why {
    int fletcher, truncated, checksum, signature;
    char inner[160];
} why;

static herr_t walk(unsigned n, const H5E_error2_t *e, void *data)
{
    why *w = data;
    if (!e->desc)
        return 0;
    if (strstr(e->desc, "Fletcher32"))
        w->fletcher = 1;
    if (strstr(e->desc, "truncated file"))
        w->truncated = 1;
    if (strstr(e->desc, "checksum"))
        w->checksum = 1;
    if (strstr(e->desc, "signature"))
        w->signature = 1;
    if (n == 0)
        snprintf(w->inner, sizeof w->inner, "%s", e->desc);
    return 0;
}

gd_status ck_h5_fail(gd_status st, const char *what, gd_err *err)
{
    why w;
    memset(&w, 0, sizeof w);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk, &w);
    H5Eclear2(H5E_DEFAULT);
    if (!w.inner[0])
        snprintf(w.inner, sizeof w.inner, "HDF5 error");
    if (w.fletcher)
        return gd_err_set(err, GD_EINPUT, "checksum error in image data");
    if (w.truncated)
        return gd_err_set(err, GD_EINPUT, "truncated (%s)", w.inner);
    if (w.checksum)
        return gd_err_set(err, GD_EINPUT, "checksum error in metadata (%s)", w.inner);
    if (w.signature)
        return gd_err_set(err, GD_EINPUT, "not an HDF5 file");
    return gd_err_set(err, st, "%s: %s", what, w.inner);
}

/* --- File access ---------------------------------------------------------------- */

hid_t ck_open_serial(const char *path, gd_err *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return gd_err_set(err, GD_EINPUT, "cannot open: %s", strerror(errno)), -1;
    if (!S_ISREG(sb.st_mode))
        return gd_err_set(err, GD_EINPUT, "not a file"), -1;
    hid_t fapl = h5io_file_access();
    if (fapl < 0)
        return ck_h5_fail(GD_ELIB, "cannot make a file access list", err), -1;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (f < 0)
        ck_h5_fail(GD_EINPUT, "cannot open", err);
    H5Pclose(fapl);
    return f;
}

hid_t ck_fapl_mpio(gd_dist *d)
{
    hid_t fapl = h5io_file_access();
    if (fapl >= 0 && H5Pset_fapl_mpio(fapl, *(MPI_Comm *)gd_dist_comm(d), MPI_INFO_NULL) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

/* --- Row selections (checkpoint.c invariants 2 and 2b) --------------------------- */

/*
 * The memory space has the file's 3-D shape, [rows][stride / 3][3], not a
 * 2-D one: with a 2-D memory space HDF5 copies value by value (invariant 2b).
 */
gd_status ck_row_spaces(const gd_image *band, const int *ranges, int n, hid_t file_space,
                        hid_t *mem, gd_err *err)
{
    hsize_t rows = (hsize_t)(band->y1 - band->y0);
    hsize_t mdims[3] = {rows ? rows : 1, (hsize_t)(band->stride / CK_CHANNELS), CK_CHANNELS};
    int any = 0;
    *mem = -1;
    if ((*mem = H5Screate_simple(3, mdims, NULL)) < 0)
        return ck_h5_fail(GD_EIO, "row selection", err);
    for (int k = 0; k < n; k++) {
        int a = ranges[2 * k], b = ranges[2 * k + 1];
        if (b <= a)
            continue;
        H5S_seloper_t op = any ? H5S_SELECT_OR : H5S_SELECT_SET;
        hsize_t count[3] = {(hsize_t)(b - a), (hsize_t)band->w, CK_CHANNELS};
        hsize_t fstart[3] = {(hsize_t)a, 0, 0}, mstart[3] = {(hsize_t)(a - band->y0), 0, 0};
        if (H5Sselect_hyperslab(file_space, op, fstart, NULL, count, NULL) < 0 ||
            H5Sselect_hyperslab(*mem, op, mstart, NULL, count, NULL) < 0)
            return ck_h5_fail(GD_EIO, "row selection", err);
        any = 1;
    }
    if (!any && (H5Sselect_none(*mem) < 0 || H5Sselect_none(file_space) < 0))
        return ck_h5_fail(GD_EIO, "empty selection", err);
    return GD_OK;
}

/*
 * h5io.c: HDF5 primitives for the model file and the checkpoint (contract in
 * h5io_int.h): attributes, fixed-length strings and checksummed float
 * datasets, each converting HDF5 failures into gd_err messages that name the
 * object, with HDF5's own most specific message.  Never calls MPI or the
 * modules above it.
 */
#include "h5io_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* HDF5's automatic error printing, switched off while we work, restored after. */
void h5io_quiet_begin(h5io_quiet *q)
{
    if (H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) < 0) {
        q->func = NULL;
        q->data = NULL;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void h5io_quiet_end(h5io_quiet *q)
{
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc)
        snprintf(data, 160, "%s", e->desc);
    return 0;
}

/* The most specific message on HDF5's error stack, which is then cleared. */
const char *h5io_detail(char buf[160])
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, buf);
    H5Eclear2(H5E_DEFAULT);
    if (!buf[0])
        snprintf(buf, 160, "HDF5 error");
    return buf;
}

gd_status h5io_fail(gd_status st, const char *what, const char *name, gd_err *err)
{
    char d[160];
    return gd_err_set(err, st, "%s '%s': %s", what, name, h5io_detail(d));
}

/*
 * File access.  Files are written in the HDF5 1.8 format (readable by every
 * HDF5 since 1.8) because its object headers, B-trees and superblock carry
 * checksums: damaged metadata is then an error HDF5 reports, where the
 * default (oldest) format lets HDF5 read garbage, and crash on some.  HDF5
 * >= 1.10.7 can also ignore file-locking failures on file systems without
 * locks (Lustre, NFS), where many ranks read one model.
 */
hid_t h5io_file_access(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && (H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
                      H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0)) {
        H5Pclose(fapl);
        return -1;
    }
#if H5_VERSION_GE(1, 10, 7)
    if (fapl >= 0)
        H5Pset_file_locking(fapl, 1, 1);
#endif
    return fapl;
}

/* --- Writing ---------------------------------------------------------------- */

/* One attribute: n values (n == 0: a scalar) of memory type mtype stored as ftype. */
gd_status h5io_put_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int n, const void *v,
                        gd_err *err)
{
    gd_status st = GD_OK;
    hsize_t dims[1] = {(hsize_t)n};
    hid_t a = -1, sp = n ? H5Screate_simple(1, dims, NULL) : H5Screate(H5S_SCALAR);
    if (sp < 0 || (a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(a, mtype, v) < 0)
        st = h5io_fail(GD_EIO, "cannot write attribute", name, err);
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    return st;
}

gd_status h5io_put_int(hid_t loc, const char *name, int v, gd_err *err)
{
    return h5io_put_attr(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT, 0, &v, err);
}

gd_status h5io_put_float(hid_t loc, const char *name, float v, gd_err *err)
{
    return h5io_put_attr(loc, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 0, &v, err);
}

/* A fixed-length NUL-padded UTF-8 string type of size bytes (model/h5.c invariant 2,
 * checkpoint.c invariant 3); -1 on failure. */
hid_t h5io_string_type(size_t size)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, size ? size : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
                   H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        H5Tclose(t);
        t = -1;
    }
    return t;
}

gd_status h5io_put_str(hid_t loc, const char *name, const char *s, gd_err *err)
{
    size_t len = strlen(s);
    hid_t t = h5io_string_type(len);
    if (t < 0)
        return h5io_fail(GD_ELIB, "cannot make a string type for", name, err);
    gd_status st = h5io_put_attr(loc, name, t, t, 0, len ? s : "", err);
    H5Tclose(t);
    return st;
}

/* A chunked, Fletcher32-checked float32 dataset (model/h5.c invariant 6). */
gd_status h5io_put_floats(hid_t loc, const char *name, const float *v, int rank,
                          const hsize_t *dims, gd_err *err)
{
    gd_status st = GD_OK;
    hsize_t chunk[4], inner = 1;
    hid_t sp = -1, dcpl = -1, d = -1;
    for (int k = 1; k < rank; k++)
        inner *= dims[k];
    chunk[0] = inner >= H5IO_CHUNK_VALUES ? 1 : H5IO_CHUNK_VALUES / inner;
    if (chunk[0] > dims[0])
        chunk[0] = dims[0];
    for (int k = 1; k < rank; k++)
        chunk[k] = dims[k];
    if ((sp = H5Screate_simple(rank, dims, NULL)) < 0 ||
        (dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 || H5Pset_chunk(dcpl, rank, chunk) < 0 ||
        H5Pset_fletcher32(dcpl) < 0 ||
        (d = H5Dcreate2(loc, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0 ||
        H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
        st = h5io_fail(GD_EIO, "cannot write dataset", name, err);
    if (d >= 0)
        H5Dclose(d);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (sp >= 0)
        H5Sclose(sp);
    return st;
}

/* Opens attribute name of class cls holding exactly n values; *a and *t are then the caller's. */
static gd_status open_attr(hid_t loc, const char *name, H5T_class_t cls, hssize_t n, hid_t *a,
                           hid_t *t, gd_err *err)
{
    static const char *const kinds[] = {
        [H5T_INTEGER] = "an integer", [H5T_FLOAT] = "a float", [H5T_STRING] = "a string"};
    gd_status st = GD_OK;
    hid_t sp = -1;
    *t = -1;
    htri_t ex = H5Aexists(loc, name);
    if (ex <= 0)
        return ex == 0 ? gd_err_set(err, GD_EINPUT, "missing attribute '%s'", name)
                       : h5io_fail(GD_EINPUT, "cannot look up attribute", name, err);
    if ((*a = H5Aopen(loc, name, H5P_DEFAULT)) < 0 || (*t = H5Aget_type(*a)) < 0 ||
        (sp = H5Aget_space(*a)) < 0) {
        st = h5io_fail(GD_EINPUT, "cannot open attribute", name, err);
    } else if (H5Tget_class(*t) != cls) {
        st = gd_err_set(err, GD_EINPUT, "attribute '%s' is not %s", name, kinds[cls]);
    } else {
        hssize_t np = H5Sget_simple_extent_npoints(sp);
        if (H5Sget_simple_extent_ndims(sp) > 1 || np != n)
            st = gd_err_set(err, GD_EINPUT, "attribute '%s' has %lld values, expected %lld", name,
                            (long long)np, (long long)n);
    }
    if (sp >= 0)
        H5Sclose(sp);
    return st;
}

static void close_attr(hid_t a, hid_t t)
{
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
}

gd_status h5io_get_attr(hid_t loc, const char *name, H5T_class_t cls, hid_t mtype, int n, void *v,
                        gd_err *err)
{
    hid_t a = -1, t = -1;
    gd_status st = open_attr(loc, name, cls, n, &a, &t, err);
    if (st == GD_OK && H5Aread(a, mtype, v) < 0)
        st = h5io_fail(GD_EINPUT, "cannot read attribute", name, err);
    close_attr(a, t);
    return st;
}

gd_status h5io_get_ints(hid_t loc, const char *name, int n, int lo, int hi, int *v, gd_err *err)
{
    gd_status st = h5io_get_attr(loc, name, H5T_INTEGER, H5T_NATIVE_INT, n, v, err);
    for (int k = 0; st == GD_OK && k < n; k++)
        if (v[k] < lo || v[k] > hi)
            st = gd_err_set(err, GD_EINPUT, "attribute '%s' is %d, not in [%d, %d]", name, v[k], lo,
                            hi);
    return st;
}

gd_status h5io_get_floats(hid_t loc, const char *name, int n, float *v, gd_err *err)
{
    gd_status st = h5io_get_attr(loc, name, H5T_FLOAT, H5T_NATIVE_FLOAT, n, v, err);
    for (int k = 0; st == GD_OK && k < n; k++)
        if (!isfinite(v[k]))
            st = gd_err_set(err, GD_EINPUT, "attribute '%s' is not finite", name);
    return st;
}

/* A fixed-length string attribute into buf (cap bytes, NUL-terminated). */
gd_status h5io_get_str(hid_t loc, const char *name, char *buf, size_t cap, gd_err *err)
{
    hid_t a = -1, t = -1, mt = -1;
    gd_status st = open_attr(loc, name, H5T_STRING, 1, &a, &t, err);
    memset(buf, 0, cap);
    if (st == GD_OK) {
        size_t size = H5Tget_size(t);
        if (H5Tis_variable_str(t) != 0 || size == 0 || size >= cap)
            st = gd_err_set(err, GD_EINPUT,
                            "attribute '%s' is not a fixed-length string under %zu bytes", name,
                            cap);
        else if ((mt = h5io_string_type(size)) < 0 || H5Aread(a, mt, buf) < 0)
            st = h5io_fail(GD_EINPUT, "cannot read attribute", name, err);
        buf[cap - 1] = '\0';
    }
    if (mt >= 0)
        H5Tclose(mt);
    close_attr(a, t);
    return st;
}

/*
 * A float32 dataset of rank 1..4 into a new buffer; absent: *v = NULL.
 * A Fletcher32 mismatch (a damaged chunk) fails here.
 */
gd_status h5io_get_dataset(hid_t g, const char *name, float **v, size_t *n, int *rank,
                           hsize_t *dims, gd_err *err)
{
    gd_status st = GD_OK;
    hid_t d = -1, t = -1, sp = -1;
    *v = NULL;
    *n = 0;
    *rank = 0;
    htri_t ex = H5Lexists(g, name, H5P_DEFAULT);
    if (ex <= 0)
        return ex == 0 ? GD_OK : h5io_fail(GD_EINPUT, "cannot look up dataset", name, err);
    if ((d = H5Dopen2(g, name, H5P_DEFAULT)) < 0 || (t = H5Dget_type(d)) < 0 ||
        (sp = H5Dget_space(d)) < 0) {
        st = h5io_fail(GD_EINPUT, "cannot open dataset", name, err);
        goto done;
    }
    *rank = H5Sget_simple_extent_ndims(sp);
    if (H5Tget_class(t) != H5T_FLOAT || *rank < 1 || *rank > 4 ||
        H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        st = gd_err_set(err, GD_EINPUT, "dataset '%s' is not a float array of rank 1 to 4", name);
        goto done;
    }
    hsize_t total = 1;
    for (int k = 0; k < *rank; k++)
        total = dims[k] > H5IO_MAX_VALUES ? H5IO_MAX_VALUES + 1 : total * dims[k];
    if (total == 0 || total > H5IO_MAX_VALUES) {
        st = gd_err_set(err, GD_EINPUT, "dataset '%s' is empty or too large", name);
        goto done;
    }
    if (!(*v = gd_malloc((size_t)total * sizeof(float), "weights", err))) {
        st = err->status;
        goto done;
    }
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *v) < 0) {
        st = h5io_fail(GD_EINPUT, "cannot read dataset", name, err);
        goto done;
    }
    *n = (size_t)total;
done:
    if (st != GD_OK) {
        free(*v);
        *v = NULL;
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    if (d >= 0)
        H5Dclose(d);
    return st;
}

/*
 * h5.c: gd_model in an HDF5 file (gd_model_save, gd_model_load).
 *
 * Layout invariants of a gigadream model file, format_version 1 (models/
 * README.md documents the same for users):
 *
 *   1. The root group has the attributes
 *        format          fixed-length string "gigadream-model"
 *        format_version  int32 scalar, 1
 *        name, source    fixed-length strings (the model's name, the file it
 *                        was imported from), each shorter than GD_NAME_MAX
 *        in_c, in_h, in_w  int32 scalars: native input size
 *        norm_scale, norm_offset  float32[3]: x = pixel * scale[c] + offset[c]
 *        n_nodes         int32 scalar, >= 1
 *      and, written since the ONNX importer (a reader takes the defaults
 *      0, 1, 255, 0 when they are absent):
 *        in_mean, in_std float32[3], in_scale float32 scalar, in_bgr int32
 *                        scalar: the input convention imported with (model.h)
 *   2. Every string attribute is a fixed-length, NUL-padded, UTF-8 string; a
 *      reader copies it and terminates it itself.
 *   3. The group /nodes holds exactly n_nodes groups, one per node, named by
 *      the node's index in decimal, zero-padded to 4 digits ("0000",
 *      "0001", ..., "12345").  Index order is topological order: node i reads
 *      only nodes < i, and node 0 is the one input node.
 *   4. Every node group has all of these attributes, whatever its op:
 *        name (string), op (string, gd_op_name), act (gd_act_name),
 *        pad (gd_pad_name), n_inputs (int32), out_c, kh, kw, sh, sw, dh, dw,
 *        groups, lrn_size (int32 scalars), pads (int32[4]: top, bottom, left,
 *        right; used with pad = "explicit"), lrn_alpha, lrn_beta, lrn_bias,
 *        softmax_beta (float32 scalars); and inputs (int32[n_inputs]) when
 *        n_inputs > 0.  Values an op does not use hold gd_node_default's.
 *        count_pad (int32, 0 or 1) is written too; a file without it (written
 *        before it existed) reads as 0.
 *   5. A node with weights has a float32 dataset "weights" in model.h's
 *      layout: CONV as [out_c][in_c / groups][kh][kw] (OIHW), FC as
 *      [out_c][in_h * in_w * in_c] (input flattened in HWC order).  A node
 *      with a bias has a float32 dataset "bias" [out_c].  A node with
 *      neither has no dataset.  Weight values are the model's float32 bits,
 *      never converted.
 *   6. Datasets are chunked (at most 65536 values per chunk, split along the
 *      first axis) with a Fletcher32 checksum per chunk and no compression:
 *      a flipped bit in a weight fails the read instead of changing the
 *      network, and the raw float32 bytes stay findable in the file.
 *   7. When the model has class labels, the dataset /labels holds them as
 *      fixed-length NUL-padded UTF-8 strings, one per output channel, in
 *      channel order.  No /labels means no labels.
 *   8. A file is complete or absent: gd_model_save writes PATH.tmp, flushes
 *      and fsyncs it, then renames it over PATH (and fsyncs the folder), and
 *      removes PATH.tmp when anything fails.
 *
 * gd_model_load checks every invariant it relies on, bounds every number
 * before model.c computes with it, and ends with gd_model_validate, so a
 * corrupt, truncated or hostile file is a GD_EINPUT message naming the file
 * (and the node), never a crash.  HDF5's automatic error printing is off
 * while these functions run (and restored after); its messages are folded
 * into ours instead.
 */
#include "gigadream/model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "h5io_int.h"

#define FORMAT "gigadream-model"
#define FORMAT_VERSION 1
#define MAX_NODES (1 << 20)
#define MAX_LABELS (1 << 20)
#define MAX_LABEL_BYTES 4096
#define MAX_WINDOW 4096 /* kernel, stride, dilation, padding */
#define MAX_CHANNELS (1 << 24)
#define MAX_SIDE 65536 /* input height and width */

/* The int fields of a node stored as scalar attributes, with their bounds. */
static const struct {
    const char *name;
    size_t off;
    int lo, hi;
} int_fields[] = {
    {"out_c", offsetof(gd_node, out_c), 0, MAX_CHANNELS},
    {"kh", offsetof(gd_node, kh), 1, MAX_WINDOW},
    {"kw", offsetof(gd_node, kw), 1, MAX_WINDOW},
    {"sh", offsetof(gd_node, sh), 1, MAX_WINDOW},
    {"sw", offsetof(gd_node, sw), 1, MAX_WINDOW},
    {"dh", offsetof(gd_node, dh), 1, MAX_WINDOW},
    {"dw", offsetof(gd_node, dw), 1, MAX_WINDOW},
    {"groups", offsetof(gd_node, groups), 1, MAX_CHANNELS},
    {"lrn_size", offsetof(gd_node, lrn_size), 1, 2 * MAX_WINDOW + 1},
};

/* The float fields of a node stored as scalar attributes. */
static const struct {
    const char *name;
    size_t off;
} float_fields[] = {
    {"lrn_alpha", offsetof(gd_node, lrn_alpha)},
    {"lrn_beta", offsetof(gd_node, lrn_beta)},
    {"lrn_bias", offsetof(gd_node, lrn_bias)},
    {"softmax_beta", offsetof(gd_node, softmax_beta)},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The weights dataset's shape (invariant 5): OIHW for CONV, [out][in] for FC. */
static int weight_dims(const gd_node *n, hsize_t *dims)
{
    hsize_t per_out = n->out_c > 0 ? n->n_weights / (size_t)n->out_c : 0;
    if (n->op == GD_OP_CONV && n->kh > 0 && n->kw > 0 &&
        per_out * (hsize_t)n->out_c == n->n_weights && per_out % (hsize_t)(n->kh * n->kw) == 0) {
        dims[0] = (hsize_t)n->out_c;
        dims[1] = per_out / (hsize_t)(n->kh * n->kw);
        dims[2] = (hsize_t)n->kh;
        dims[3] = (hsize_t)n->kw;
        return 4;
    }
    if (n->op == GD_OP_FC && per_out * (hsize_t)n->out_c == n->n_weights) {
        dims[0] = (hsize_t)n->out_c;
        dims[1] = per_out;
        return 2;
    }
    dims[0] = n->n_weights;
    return 1;
}

static gd_status write_node(hid_t nodes, int i, const gd_node *n, gd_err *err)
{
    char gname[16];
    hsize_t dims[4];
    int pads[4] = {n->pad_t, n->pad_b, n->pad_l, n->pad_r};
    gd_status st = GD_OK;
    snprintf(gname, sizeof gname, "%04d", i);
    hid_t g = H5Gcreate2(nodes, gname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return h5io_fail(GD_EIO, "cannot create group", gname, err);
    if ((st = h5io_put_str(g, "name", n->name, err)) != GD_OK ||
        (st = h5io_put_str(g, "op", gd_op_name(n->op), err)) != GD_OK ||
        (st = h5io_put_str(g, "act", gd_act_name(n->act), err)) != GD_OK ||
        (st = h5io_put_str(g, "pad", gd_pad_name(n->pad), err)) != GD_OK ||
        (st = h5io_put_int(g, "n_inputs", n->n_inputs, err)) != GD_OK ||
        (st = h5io_put_attr(g, "pads", H5T_STD_I32LE, H5T_NATIVE_INT, 4, pads, err)) != GD_OK)
        goto done;
    if (n->n_inputs > 0 && (st = h5io_put_attr(g, "inputs", H5T_STD_I32LE, H5T_NATIVE_INT,
                                               n->n_inputs, n->inputs, err)) != GD_OK)
        goto done;
    for (size_t k = 0; k < COUNT(int_fields); k++)
        if ((st = h5io_put_int(g, int_fields[k].name,
                               *(const int *)((const char *)n + int_fields[k].off), err)) != GD_OK)
            goto done;
    for (size_t k = 0; k < COUNT(float_fields); k++)
        if ((st = h5io_put_float(g, float_fields[k].name,
                                 *(const float *)((const char *)n + float_fields[k].off), err)) !=
            GD_OK)
            goto done;
    if ((st = h5io_put_int(g, "count_pad", n->count_pad, err)) != GD_OK)
        goto done;
    if (n->weights && n->n_weights > 0 &&
        (st = h5io_put_floats(g, "weights", n->weights, weight_dims(n, dims), dims, err)) != GD_OK)
        goto done;
    dims[0] = n->n_bias;
    if (n->bias && n->n_bias > 0 &&
        (st = h5io_put_floats(g, "bias", n->bias, 1, dims, err)) != GD_OK)
        goto done;
done:
    H5Gclose(g);
    if (st != GD_OK)
        gd_err_prefix(err, "node %d '%s'", i, n->name);
    return st;
}

static gd_status write_labels(hid_t f, const gd_model *m, gd_err *err)
{
    size_t width = 1;
    gd_status st = GD_OK;
    hsize_t dims[1] = {(hsize_t)m->n_labels}, chunk[1];
    hid_t t = -1, sp = -1, d = -1, dcpl = -1;
    for (int i = 0; i < m->n_labels; i++)
        if (strlen(m->labels[i]) > width)
            width = strlen(m->labels[i]);
    char *buf = gd_calloc((size_t)m->n_labels, width, "labels", err);
    if (!buf)
        return err->status;
    for (int i = 0; i < m->n_labels; i++)
        memcpy(buf + (size_t)i * width, m->labels[i], strlen(m->labels[i]));
    chunk[0] = width >= H5IO_CHUNK_VALUES ? 1 : H5IO_CHUNK_VALUES / width;
    if (chunk[0] > dims[0])
        chunk[0] = dims[0];
    if ((t = h5io_string_type(width)) < 0 || (sp = H5Screate_simple(1, dims, NULL)) < 0 ||
        (dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 || H5Pset_chunk(dcpl, 1, chunk) < 0 ||
        H5Pset_fletcher32(dcpl) < 0 ||
        (d = H5Dcreate2(f, "labels", t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0 ||
        H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        st = h5io_fail(GD_EIO, "cannot write dataset", "labels", err);
    if (d >= 0)
        H5Dclose(d);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    free(buf);
    return st;
}

static gd_status write_model(hid_t f, const gd_model *m, gd_err *err)
{
    gd_status st;
    if ((st = h5io_put_str(f, "format", FORMAT, err)) != GD_OK ||
        (st = h5io_put_int(f, "format_version", FORMAT_VERSION, err)) != GD_OK ||
        (st = h5io_put_str(f, "name", m->name, err)) != GD_OK ||
        (st = h5io_put_str(f, "source", m->source, err)) != GD_OK ||
        (st = h5io_put_int(f, "in_c", m->in_c, err)) != GD_OK ||
        (st = h5io_put_int(f, "in_h", m->in_h, err)) != GD_OK ||
        (st = h5io_put_int(f, "in_w", m->in_w, err)) != GD_OK ||
        (st = h5io_put_attr(f, "norm_scale", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, m->norm_scale,
                            err)) != GD_OK ||
        (st = h5io_put_attr(f, "norm_offset", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, m->norm_offset,
                            err)) != GD_OK ||
        (st = h5io_put_int(f, "n_nodes", m->n_nodes, err)) != GD_OK ||
        (st = h5io_put_attr(f, "in_mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, m->in_mean, err)) !=
            GD_OK ||
        (st = h5io_put_attr(f, "in_std", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, m->in_std, err)) !=
            GD_OK ||
        (st = h5io_put_float(f, "in_scale", m->in_scale, err)) != GD_OK ||
        (st = h5io_put_int(f, "in_bgr", m->in_bgr, err)) != GD_OK)
        return st;
    if (m->n_labels > 0 && (st = write_labels(f, m, err)) != GD_OK)
        return st;
    hid_t nodes = H5Gcreate2(f, "nodes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (nodes < 0)
        return h5io_fail(GD_EIO, "cannot create group", "nodes", err);
    for (int i = 0; i < m->n_nodes && st == GD_OK; i++)
        st = write_node(nodes, i, &m->nodes[i], err);
    H5Gclose(nodes);
    return st;
}

/* fsync of a file or folder by name.  Folders: best effort (some file systems refuse). */
static gd_status sync_path(const char *path, int is_dir, gd_err *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return is_dir ? GD_OK
                      : gd_err_set(err, GD_EIO, "cannot open %s: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && !is_dir)
        return gd_err_set(err, GD_EIO, "fsync %s: %s", path, strerror(e));
    return GD_OK;
}

gd_status gd_model_save(const gd_model *m, const char *path, gd_err *err)
{
    h5io_quiet q;
    struct stat sb;
    hid_t f = -1, fapl = -1;
    int quiet = 0, created = 0;
    size_t len = strlen(path);
    char *tmp = NULL, *dir = NULL;
    const char *slash = strrchr(path, '/');
    gd_status st = gd_model_validate(m, err);
    if (st != GD_OK) {
        gd_err_prefix(err, "cannot save an invalid model");
        goto done;
    }
    if (!(tmp = gd_malloc(len + 5, "a file name", err)) ||
        !(dir = gd_malloc(len + 2, "a file name", err))) {
        st = err->status;
        goto done;
    }
    snprintf(tmp, len + 5, "%s.tmp", path);
    if (slash)
        snprintf(dir, len + 2, "%.*s", (int)(slash - path) + (slash == path), path);
    else
        snprintf(dir, len + 2, ".");
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        st = gd_err_set(err, GD_EINPUT, "folder '%s' does not exist", dir);
        goto done;
    }
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        st = gd_err_set(err, GD_EINPUT, "is a folder");
        goto done;
    }

    h5io_quiet_begin(&q);
    quiet = 1;
    if ((fapl = h5io_file_access()) < 0 ||
        (f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0) {
        st = h5io_fail(GD_EIO, "cannot create", tmp, err);
        goto done;
    }
    created = 1;
    st = write_model(f, m, err);
    if (H5Fclose(f) < 0 && st == GD_OK)
        st = h5io_fail(GD_EIO, "cannot close", tmp, err);
    f = -1;
    if (st == GD_OK)
        st = sync_path(tmp, 0, err);
    if (st == GD_OK && rename(tmp, path) != 0)
        st = gd_err_set(err, GD_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (st == GD_OK)
        sync_path(dir, 1, err);
done:
    if (f >= 0)
        H5Fclose(f);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (st != GD_OK && created)
        unlink(tmp);
    if (quiet)
        h5io_quiet_end(&q);
    free(tmp);
    free(dir);
    if (st != GD_OK)
        gd_err_prefix(err, "%s", path);
    return st;
}

/* --- Reading ---------------------------------------------------------------- */

/* A name attribute for an enum (op, act, pad), looked up by name; count means unknown. */
/* Attributes added after format_version 1 was fixed: absent keeps *v as is. */
static gd_status optional_ints(hid_t g, const char *name, int n, int lo, int hi, int *v,
                               gd_err *err)
{
    htri_t ex = H5Aexists(g, name);
    if (ex < 0)
        return h5io_fail(GD_EINPUT, "cannot look up attribute", name, err);
    return ex ? h5io_get_ints(g, name, n, lo, hi, v, err) : GD_OK;
}

static gd_status optional_floats(hid_t g, const char *name, int n, float *v, gd_err *err)
{
    htri_t ex = H5Aexists(g, name);
    if (ex < 0)
        return h5io_fail(GD_EINPUT, "cannot look up attribute", name, err);
    return ex ? h5io_get_floats(g, name, n, v, err) : GD_OK;
}

static gd_status get_enum(hid_t g, const char *name, int (*lookup)(const char *), int count,
                          int *out, gd_err *err)
{
    char s[32];
    gd_status st = h5io_get_str(g, name, s, sizeof s, err);
    if (st != GD_OK)
        return st;
    *out = lookup(s);
    if (*out == count)
        return gd_err_set(err, GD_EINPUT, "unknown %s '%s'", name, s);
    return GD_OK;
}

static int op_lookup(const char *s)
{
    return (int)gd_op_from_name(s);
}

static int act_lookup(const char *s)
{
    return (int)gd_act_from_name(s);
}

static int pad_lookup(const char *s)
{
    return (int)gd_pad_from_name(s);
}

/* The weights and bias datasets of a node, with their shapes checked (invariant 5). */
static gd_status read_arrays(hid_t g, gd_node *n, gd_err *err)
{
    hsize_t dims[4];
    int rank;
    gd_status st = h5io_get_dataset(g, "weights", &n->weights, &n->n_weights, &rank, dims, err);
    if (st != GD_OK)
        return st;
    if (n->weights) {
        int ok = n->op == GD_OP_CONV ? rank == 4 && dims[0] == (hsize_t)n->out_c &&
                                           dims[2] == (hsize_t)n->kh && dims[3] == (hsize_t)n->kw
                 : n->op == GD_OP_FC ? rank == 2 && dims[0] == (hsize_t)n->out_c
                                     : 0;
        if (!ok)
            return gd_err_set(err, GD_EINPUT, "weights of the wrong shape for a %s node",
                              gd_op_name(n->op));
    }
    if ((st = h5io_get_dataset(g, "bias", &n->bias, &n->n_bias, &rank, dims, err)) != GD_OK)
        return st;
    if (n->bias && (rank != 1 || (n->op != GD_OP_CONV && n->op != GD_OP_FC)))
        return gd_err_set(err, GD_EINPUT, "a bias of the wrong shape for a %s node",
                          gd_op_name(n->op));
    return GD_OK;
}

/* Node i from group /nodes/NNNN (invariants 3 to 5).  On failure n holds no arrays. */
static gd_status read_node(hid_t nodes, int i, gd_node *n, gd_err *err)
{
    char gname[16];
    int op = 0, act = 0, pad = 0, pads[4];
    *n = gd_node_default(GD_OP_INPUT, "");
    snprintf(gname, sizeof gname, "%04d", i);
    htri_t ex = H5Lexists(nodes, gname, H5P_DEFAULT);
    if (ex <= 0)
        return gd_err_set(err, GD_EINPUT, "node %d: no group /nodes/%s", i, gname);
    hid_t g = H5Gopen2(nodes, gname, H5P_DEFAULT);
    if (g < 0) {
        h5io_fail(GD_EINPUT, "cannot open group", gname, err);
        return gd_err_prefix(err, "node %d", i);
    }
    gd_status st = h5io_get_str(g, "name", n->name, sizeof n->name, err);
    if (st != GD_OK) {
        H5Gclose(g);
        return gd_err_prefix(err, "node %d", i);
    }
    if ((st = get_enum(g, "op", op_lookup, GD_OP_COUNT, &op, err)) != GD_OK ||
        (st = get_enum(g, "act", act_lookup, GD_ACT_COUNT, &act, err)) != GD_OK ||
        (st = get_enum(g, "pad", pad_lookup, GD_PAD_COUNT, &pad, err)) != GD_OK ||
        (st = h5io_get_ints(g, "n_inputs", 1, 0, GD_MAX_INPUTS, &n->n_inputs, err)) != GD_OK ||
        (st = h5io_get_ints(g, "pads", 4, 0, MAX_WINDOW, pads, err)) != GD_OK)
        goto done;
    n->op = (gd_op)op;
    n->act = (gd_act)act;
    n->pad = (gd_pad)pad;
    n->pad_t = pads[0];
    n->pad_b = pads[1];
    n->pad_l = pads[2];
    n->pad_r = pads[3];
    /* Inputs must be earlier nodes: bounded here so later code may index with them. */
    if (n->n_inputs > 0 &&
        (st = h5io_get_ints(g, "inputs", n->n_inputs, 0, i - 1, n->inputs, err)) != GD_OK)
        goto done;
    for (size_t k = 0; k < COUNT(int_fields); k++)
        if ((st = h5io_get_ints(g, int_fields[k].name, 1, int_fields[k].lo, int_fields[k].hi,
                                (int *)((char *)n + int_fields[k].off), err)) != GD_OK)
            goto done;
    for (size_t k = 0; k < COUNT(float_fields); k++)
        if ((st = h5io_get_floats(g, float_fields[k].name, 1,
                                  (float *)((char *)n + float_fields[k].off), err)) != GD_OK)
            goto done;
    if ((st = optional_ints(g, "count_pad", 1, 0, 1, &n->count_pad, err)) != GD_OK)
        goto done;
    st = read_arrays(g, n, err);
done:
    H5Gclose(g);
    if (st != GD_OK) {
        free(n->weights);
        free(n->bias);
        n->weights = n->bias = NULL;
        gd_err_prefix(err, "node %d '%s'", i, n->name);
    }
    return st;
}

static gd_status read_labels(hid_t f, gd_model *m, gd_err *err)
{
    gd_status st = GD_OK;
    hid_t d = -1, t = -1, sp = -1, mt = -1;
    hsize_t n = 0;
    size_t size = 0;
    char *buf = NULL, **labels = NULL;
    htri_t ex = H5Lexists(f, "labels", H5P_DEFAULT);
    if (ex <= 0)
        return ex == 0 ? GD_OK : h5io_fail(GD_EINPUT, "cannot look up dataset", "labels", err);
    if ((d = H5Dopen2(f, "labels", H5P_DEFAULT)) < 0 || (t = H5Dget_type(d)) < 0 ||
        (sp = H5Dget_space(d)) < 0) {
        st = h5io_fail(GD_EINPUT, "cannot open dataset", "labels", err);
        goto done;
    }
    size = H5Tget_size(t);
    if (H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) != 0 || size == 0 ||
        size > MAX_LABEL_BYTES || H5Sget_simple_extent_ndims(sp) != 1 ||
        H5Sget_simple_extent_dims(sp, &n, NULL) < 0 || n == 0 || n > MAX_LABELS) {
        st = gd_err_set(err, GD_EINPUT, "dataset 'labels' is not 1 to %d fixed-length strings",
                        MAX_LABELS);
        goto done;
    }
    buf = gd_calloc((size_t)n, size, "labels", err);
    labels = gd_calloc((size_t)n, sizeof *labels, "labels", err);
    if (!buf || !labels) {
        st = err->status;
        goto done;
    }
    if ((mt = h5io_string_type(size)) < 0 ||
        H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        st = h5io_fail(GD_EINPUT, "cannot read dataset", "labels", err);
        goto done;
    }
    for (hsize_t i = 0; i < n; i++) {
        if (!(labels[i] = strndup(buf + i * size, size))) {
            st = gd_err_set(err, GD_ENOMEM, "out of memory reading labels");
            goto done;
        }
    }
    m->labels = labels;
    m->n_labels = (int)n;
    labels = NULL;
done:
    if (labels) {
        for (hsize_t i = 0; i < n; i++)
            free(labels[i]);
        free(labels);
    }
    free(buf);
    if (mt >= 0)
        H5Tclose(mt);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    if (d >= 0)
        H5Dclose(d);
    return st;
}

/*
 * Upper bounds on every tensor's size, in double, before model.c computes
 * shapes in int: windows never grow a side except by explicit padding.
 */
static gd_status check_sizes(const gd_model *m, gd_err *err)
{
    const double side_max = 262144, values_max = 2147483647.0;
    double(*s)[3] = gd_calloc((size_t)m->n_nodes, sizeof *s, "size check", err);
    gd_status st = GD_OK;
    if (!s)
        return err->status;
    s[0][0] = m->in_c;
    s[0][1] = m->in_h;
    s[0][2] = m->in_w;
    for (int i = 1; i < m->n_nodes && st == GD_OK; i++) {
        const gd_node *n = &m->nodes[i];
        double c = s[n->inputs[0]][0], h = s[n->inputs[0]][1], w = s[n->inputs[0]][2];
        int explicit = n->pad == GD_PAD_EXPLICIT;
        switch (n->op) {
        case GD_OP_CONV:
        case GD_OP_AVGPOOL:
        case GD_OP_MAXPOOL:
            c = n->op == GD_OP_CONV ? n->out_c : c;
            h += explicit ? n->pad_t + n->pad_b : 0;
            w += explicit ? n->pad_l + n->pad_r : 0;
            break;
        case GD_OP_FC:
            c = n->out_c;
            h = w = 1;
            break;
        case GD_OP_CONCAT:
            c = 0;
            for (int k = 0; k < n->n_inputs; k++) {
                c += s[n->inputs[k]][0];
                h = fmax(h, s[n->inputs[k]][1]);
                w = fmax(w, s[n->inputs[k]][2]);
            }
            break;
        case GD_OP_RESHAPE:
            c = c * h * w;
            h = w = 1;
            break;
        case GD_OP_INPUT:
        case GD_OP_ACT:
        case GD_OP_ADD:
        case GD_OP_LRN:
        case GD_OP_SOFTMAX:
        case GD_OP_COUNT:
            break; /* the first input's size */
        }
        if (h > side_max || w > side_max || c * h * w > values_max)
            st = gd_err_set(err, GD_EINPUT,
                            "node %d '%s': tensors of up to %.0fx%.0fx%.0f are "
                            "too large",
                            i, n->name, h, w, c);
        s[i][0] = c;
        s[i][1] = h;
        s[i][2] = w;
    }
    free(s);
    return st;
}

static gd_status read_model(hid_t f, gd_model **out, gd_err *err)
{
    char format[64], name[GD_NAME_MAX], source[GD_NAME_MAX];
    int version, in_c, in_h, in_w, n_nodes;
    float ns[3], no[3];
    gd_model *m = NULL;
    gd_node n;
    H5G_info_t info;
    hid_t nodes = -1;
    *out = NULL;
    if (h5io_get_str(f, "format", format, sizeof format, err) != GD_OK ||
        strcmp(format, FORMAT) != 0)
        return gd_err_set(err, GD_EINPUT, "not a gigadream model file (no format \"%s\")", FORMAT);
    gd_status st = h5io_get_ints(f, "format_version", 1, INT32_MIN, INT32_MAX, &version, err);
    if (st == GD_OK && version != FORMAT_VERSION)
        st = gd_err_set(err, GD_EINPUT, "model format version %d; this gigadream reads %d", version,
                        FORMAT_VERSION);
    if (st != GD_OK || (st = h5io_get_str(f, "name", name, sizeof name, err)) != GD_OK ||
        (st = h5io_get_str(f, "source", source, sizeof source, err)) != GD_OK ||
        (st = h5io_get_ints(f, "in_c", 1, 1, 3, &in_c, err)) != GD_OK ||
        (st = h5io_get_ints(f, "in_h", 1, 1, MAX_SIDE, &in_h, err)) != GD_OK ||
        (st = h5io_get_ints(f, "in_w", 1, 1, MAX_SIDE, &in_w, err)) != GD_OK ||
        (st = h5io_get_floats(f, "norm_scale", 3, ns, err)) != GD_OK ||
        (st = h5io_get_floats(f, "norm_offset", 3, no, err)) != GD_OK ||
        (st = h5io_get_ints(f, "n_nodes", 1, 1, MAX_NODES, &n_nodes, err)) != GD_OK ||
        (st = gd_model_create(name, in_c, in_h, in_w, &m, err)) != GD_OK)
        return st;
    snprintf(m->source, sizeof m->source, "%s", source);
    memcpy(m->norm_scale, ns, sizeof ns);
    memcpy(m->norm_offset, no, sizeof no);
    if ((st = optional_floats(f, "in_mean", 3, m->in_mean, err)) != GD_OK ||
        (st = optional_floats(f, "in_std", 3, m->in_std, err)) != GD_OK ||
        (st = optional_floats(f, "in_scale", 1, &m->in_scale, err)) != GD_OK ||
        (st = optional_ints(f, "in_bgr", 1, 0, 1, &m->in_bgr, err)) != GD_OK)
        goto done;
    if ((nodes = H5Gopen2(f, "nodes", H5P_DEFAULT)) < 0 || H5Gget_info(nodes, &info) < 0) {
        st = h5io_fail(GD_EINPUT, "cannot open group", "nodes", err);
        goto done;
    }
    if (info.nlinks != (hsize_t)n_nodes) {
        st = gd_err_set(err, GD_EINPUT, "/nodes holds %llu groups, n_nodes says %d",
                        (unsigned long long)info.nlinks, n_nodes);
        goto done;
    }
    for (int i = 0; i < n_nodes && st == GD_OK; i++) {
        if ((st = read_node(nodes, i, &n, err)) != GD_OK)
            break;
        if (i == 0 && (n.op != GD_OP_INPUT || n.weights || n.bias))
            st = gd_err_set(err, GD_EINPUT, "node 0 '%s' is not a plain input node", n.name);
        else if (i == 0)
            m->nodes[0] = n;
        else if ((st = gd_model_add(m, &n, NULL, err)) != GD_OK)
            gd_err_prefix(err, "node %d", i);
    }
    if (st == GD_OK)
        st = read_labels(f, m, err);
    if (st == GD_OK)
        st = check_sizes(m, err);
    if (st == GD_OK)
        st = gd_model_validate(m, err);
done:
    if (nodes >= 0)
        H5Gclose(nodes);
    if (st != GD_OK)
        gd_model_free(m);
    else
        *out = m;
    return st;
}

const char *gd_model_hdf5_version(char *buf, size_t len)
{
    unsigned maj = 0, min = 0, rel = 0;
    if (H5get_libversion(&maj, &min, &rel) < 0)
        snprintf(buf, len, "HDF5 (version unknown)");
    else
        snprintf(buf, len, "HDF5 %u.%u.%u", maj, min, rel);
    return buf;
}

gd_status gd_model_load(const char *path, gd_model **out, gd_err *err)
{
    h5io_quiet q;
    struct stat sb;
    char d[160];
    hid_t f = -1, fapl = -1;
    gd_status st = GD_OK;
    *out = NULL;
    if (stat(path, &sb) != 0)
        return gd_err_set(err, GD_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return gd_err_set(err, GD_EINPUT, "%s: not a regular file", path);
    h5io_quiet_begin(&q);
    if ((fapl = h5io_file_access()) < 0) {
        st = h5io_fail(GD_ELIB, "cannot open", path, err);
        goto done;
    }
#if H5_VERSION_GE(1, 12, 0)
    htri_t is_h5 = H5Fis_accessible(path, fapl);
#else
    htri_t is_h5 = H5Fis_hdf5(path);
#endif
    if (is_h5 <= 0) {
        st = gd_err_set(err, GD_EINPUT, "%s: not an HDF5 file", path);
        goto done;
    }
    if ((f = H5Fopen(path, H5F_ACC_RDONLY, fapl)) < 0) {
        st = gd_err_set(err, GD_EINPUT, "%s: damaged HDF5 file: %s", path, h5io_detail(d));
        goto done;
    }
    if ((st = read_model(f, out, err)) != GD_OK)
        gd_err_prefix(err, "%s", path);
done:
    if (f >= 0 && H5Fclose(f) < 0 && st == GD_OK) {
        gd_model_free(*out);
        *out = NULL;
        st = gd_err_set(err, GD_EINPUT, "%s: damaged HDF5 file: %s", path, h5io_detail(d));
    }
    if (fapl >= 0)
        H5Pclose(fapl);
    h5io_quiet_end(&q);
    return st;
}

/*
 * onnx_values.c: the ONNX importer's table of named values, its constants
 * (initializers, Constant nodes, external data files) read as float32, node
 * attributes, and the appending of model nodes with their shapes.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_int.h"

enum {
    ONX_FLOAT = 1,
    ONX_INT32 = 6,
    ONX_INT64 = 7,
    ONX_DOUBLE = 11,
};

gd_status onx_fail(const Onnx__NodeProto *node, gd_err *err, const char *fmt, ...)
{
    char msg[GD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *name = node->name && node->name[0]         ? node->name
                       : node->n_output && node->output[0] ? node->output[0]
                                                           : "?";
    char line[GD_ERR_MSG_MAX + 300];
    snprintf(line, sizeof line, "node '%.200s' (%.64s): %s", name,
             node->op_type ? node->op_type : "?", msg);
    /* Names come from the file: a control character (a newline) would split
     * the one-line message. */
    for (char *c = line; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return gd_err_set(err, GD_EINPUT, "%s", line);
}

onx_value *onx_find(onx_importer *im, const char *name)
{
    /* Latest binding first: names are SSA in a valid model, but a hostile
     * one may rebind; the newest binding is the one a later node means. */
    for (size_t i = im->n_v; i-- > 0;)
        if (strcmp(im->v[i].name, name) == 0)
            return &im->v[i];
    return NULL;
}

gd_status onx_bind(onx_importer *im, const char *name, onx_kind kind, int node, int rank,
                   const Onnx__TensorProto *t, gd_err *err)
{
    if (im->n_v == im->cap_v) {
        size_t cap = im->cap_v ? 2 * im->cap_v : 256;
        onx_value *v = realloc(im->v, cap * sizeof *v);
        if (!v)
            return gd_err_set(err, GD_ENOMEM, "out of memory for %zu ONNX values", cap);
        im->v = v;
        im->cap_v = cap;
    }
    im->v[im->n_v++] = (onx_value){.name = name, .kind = kind, .node = node, .rank = rank, .t = t};
    return GD_OK;
}

int onx_uses(const onx_importer *im, const char *name)
{
    int n = 0;
    for (size_t i = 0; i < im->g->n_node; i++)
        for (size_t k = 0; k < im->g->node[i]->n_input; k++)
            n += strcmp(im->g->node[i]->input[k], name) == 0;
    for (size_t i = 0; i < im->g->n_output; i++)
        n += im->g->output[i]->name && strcmp(im->g->output[i]->name, name) == 0;
    return n;
}

/* The element count of t's dims, or 0 when a dim is negative or the count too large. */
static size_t elements(const Onnx__TensorProto *t)
{
    size_t n = 1;
    for (size_t k = 0; k < t->n_dims; k++) {
        if (t->dims[k] < 0 || (t->dims[k] > 0 && n > ONX_MAX_ELEMENTS / (size_t)t->dims[k]))
            return 0;
        n *= (size_t)t->dims[k];
    }
    return n;
}

/* The key's value among t's external_data entries, or NULL. */
static const char *external_key(const Onnx__TensorProto *t, const char *key)
{
    for (size_t k = 0; k < t->n_external_data; k++)
        if (t->external_data[k]->key && strcmp(t->external_data[k]->key, key) == 0)
            return t->external_data[k]->value;
    return NULL;
}

/*
 * Reads length bytes of the external data file named by t (a path relative
 * to the model's folder, never leaving it) into buf.
 */
static gd_status read_external(onx_importer *im, const Onnx__NodeProto *node, const char *what,
                               const Onnx__TensorProto *t, void *buf, size_t length, gd_err *err)
{
    const char *loc = external_key(t, "location"), *off = external_key(t, "offset");
    const char *len = external_key(t, "length");
    if (!loc || !loc[0] || loc[0] == '/' || strstr(loc, ".."))
        return onx_fail(node, err,
                        "%s: external data location '%.200s' is not a file beside the "
                        "model",
                        what, loc ? loc : "(none)");
    char *end = NULL;
    unsigned long long o = 0, l = length;
    if (off) {
        errno = 0;
        o = strtoull(off, &end, 10);
        if (errno || *end || end == off)
            return onx_fail(node, err, "%s: bad external data offset '%.40s'", what, off);
    }
    if (len) {
        errno = 0;
        l = strtoull(len, &end, 10);
        if (errno || *end || end == len)
            return onx_fail(node, err, "%s: bad external data length '%.40s'", what, len);
    }
    if (l != length)
        return onx_fail(node, err, "%s: external data holds %llu bytes, its dims need %zu", what, l,
                        length);
    const char *slash = strrchr(im->path, '/');
    int dirlen = slash ? (int)(slash - im->path + 1) : 0;
    char path[4096];
    if (snprintf(path, sizeof path, "%.*s%s", dirlen, im->path, loc) >= (int)sizeof path)
        return onx_fail(node, err, "%s: external data path too long", what);
    FILE *f = fopen(path, "rb");
    if (!f)
        return onx_fail(node, err, "%s: cannot open external data %s: %s", what, path,
                        strerror(errno));
    gd_status st = GD_OK;
    if (o > (unsigned long long)LONG_MAX || fseek(f, (long)o, SEEK_SET) != 0 ||
        fread(buf, 1, length, f) != length)
        st = onx_fail(node, err, "%s: external data %s is shorter than offset %llu + %zu bytes",
                      what, path, o, length);
    fclose(f);
    return st;
}

gd_status onx_const_floats(onx_importer *im, const Onnx__NodeProto *node, const char *what,
                           const Onnx__TensorProto *t, float **out, size_t *count, gd_err *err)
{
    *out = NULL;
    *count = 0;
    size_t n = elements(t);
    if (n == 0 && t->n_dims > 0)
        return onx_fail(node, err, "%s '%.200s': empty, negative or too large dims", what,
                        t->name ? t->name : "");
    int type = t->has_data_type ? t->data_type : 0;
    size_t esize = type == ONX_FLOAT || type == ONX_INT32    ? 4
                   : type == ONX_INT64 || type == ONX_DOUBLE ? 8
                                                             : 0;
    if (!esize)
        return onx_fail(node, err,
                        "%s '%.200s': data type %d (float32, float64, int32 and int64 "
                        "are read)",
                        what, t->name ? t->name : "", type);
    float *f = gd_malloc((n ? n : 1) * sizeof *f, "ONNX tensor", err);
    if (!f)
        return err->status;
    gd_status st = GD_OK;
    int external =
        t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (external || t->has_raw_data) {
        unsigned char *raw = NULL;
        const unsigned char *src;
        if (external) {
            raw = gd_malloc(n * esize + 1, "ONNX external data", err);
            if (!raw) {
                free(f);
                return err->status;
            }
            st = read_external(im, node, what, t, raw, n * esize, err);
            src = raw;
        } else {
            if (t->raw_data.len != n * esize)
                st = onx_fail(node, err, "%s '%.200s': %zu bytes of data, its dims need %zu", what,
                              t->name ? t->name : "", t->raw_data.len, n * esize);
            src = t->raw_data.data;
        }
        /* ONNX raw data is little-endian, as this machine is (x86-64, aarch64). */
        for (size_t k = 0; st == GD_OK && k < n; k++) {
            const unsigned char *p = src + k * esize;
            switch (type) {
            case ONX_FLOAT:
                memcpy(&f[k], p, 4);
                break;
            case ONX_INT32: {
                int32_t v;
                memcpy(&v, p, 4);
                f[k] = (float)v;
                break;
            }
            case ONX_INT64: {
                int64_t v;
                memcpy(&v, p, 8);
                f[k] = (float)v;
                break;
            }
            default: { /* ONX_DOUBLE: the only other type esize allowed */
                double v;
                memcpy(&v, p, 8);
                f[k] = (float)v;
                break;
            }
            }
        }
        free(raw);
    } else {
        size_t have = type == ONX_FLOAT   ? t->n_float_data
                      : type == ONX_INT32 ? t->n_int32_data
                      : type == ONX_INT64 ? t->n_int64_data
                                          : t->n_double_data;
        if (have != n)
            st = onx_fail(node, err, "%s '%.200s': %zu values, its dims need %zu", what,
                          t->name ? t->name : "", have, n);
        for (size_t k = 0; st == GD_OK && k < n; k++)
            f[k] = type == ONX_FLOAT   ? t->float_data[k]
                   : type == ONX_INT32 ? (float)t->int32_data[k]
                   : type == ONX_INT64 ? (float)t->int64_data[k]
                                       : (float)t->double_data[k];
    }
    for (size_t k = 0; st == GD_OK && k < n; k++)
        if (!isfinite(f[k]))
            st = onx_fail(node, err, "%s '%.200s': value %zu is not finite", what,
                          t->name ? t->name : "", k);
    if (st != GD_OK) {
        free(f);
        return st;
    }
    *out = f;
    *count = n;
    return GD_OK;
}

const Onnx__AttributeProto *onx_attr(const Onnx__NodeProto *node, const char *name)
{
    for (size_t k = 0; k < node->n_attribute; k++)
        if (node->attribute[k]->name && strcmp(node->attribute[k]->name, name) == 0)
            return node->attribute[k];
    return NULL;
}

int64_t onx_attr_int(const Onnx__NodeProto *node, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = onx_attr(node, name);
    return a && a->has_i ? a->i : def;
}

float onx_attr_float(const Onnx__NodeProto *node, const char *name, float def)
{
    const Onnx__AttributeProto *a = onx_attr(node, name);
    return a && a->has_f ? a->f : def;
}

int onx_attr_ints(const Onnx__NodeProto *node, const char *name, int64_t *v, int max)
{
    const Onnx__AttributeProto *a = onx_attr(node, name);
    if (!a)
        return -1;
    int n = a->n_ints < (size_t)max ? (int)a->n_ints : max;
    for (int k = 0; k < n; k++)
        v[k] = a->ints[k];
    return a->n_ints > (size_t)max ? max + 1 : n;
}

void onx_attr_str(const Onnx__NodeProto *node, const char *name, const char *def, char *buf,
                  size_t size)
{
    const Onnx__AttributeProto *a = onx_attr(node, name);
    if (a && a->has_s)
        snprintf(buf, size, "%.*s", (int)(a->s.len < size ? a->s.len : size - 1),
                 (const char *)a->s.data);
    else
        snprintf(buf, size, "%s", def);
}

gd_status onx_reshape(onx_importer *im, gd_err *err)
{
    if (im->cap_shapes < im->m->n_nodes) {
        int cap = im->m->n_nodes * 2;
        gd_shape *s = realloc(im->shapes, (size_t)cap * sizeof *s);
        if (!s)
            return gd_err_set(err, GD_ENOMEM, "out of memory for %d shapes", cap);
        im->shapes = s;
        im->cap_shapes = cap;
    }
    return gd_model_shapes(im->m, im->m->in_h, im->m->in_w, im->shapes, err);
}

gd_status onx_add(onx_importer *im, const Onnx__NodeProto *node, int k, gd_node *n, int rank,
                  int *index, gd_err *err)
{
    const char *out = (size_t)k < node->n_output ? node->output[k] : "";
    if (strlen(out) >= GD_NAME_MAX || !out[0]) {
        free(n->weights);
        free(n->bias);
        return onx_fail(node, err, "output name '%.60s...' is empty or longer than %d bytes", out,
                        GD_NAME_MAX - 1);
    }
    snprintf(n->name, sizeof n->name, "%s", out);
    int idx;
    gd_status st = gd_model_add(im->m, n, &idx, err);
    if (st == GD_OK && (st = onx_reshape(im, err)) != GD_OK) {
        /* The node's shapes do not work out: drop it, keep the message. */
        gd_node *bad = &im->m->nodes[--im->m->n_nodes];
        free(bad->weights);
        free(bad->bias);
    }
    if (st == GD_OK)
        st = onx_bind(im, out, ONX_NODE, idx, rank, NULL, err);
    if (st != GD_OK) {
        if (!strstr(err->msg, out))
            gd_err_prefix(err, "node '%.200s' (%.64s)",
                          node->name && node->name[0] ? node->name : out, node->op_type);
        return st;
    }
    if (index)
        *index = idx;
    return GD_OK;
}

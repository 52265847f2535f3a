/*
 * tflite_tensors.c: TFLite tensors for the importer: shapes, buffers,
 * constant tensors read as float32 and their dequantization, and what a
 * quantized output range says about an activation.
 */
#include "tflite_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tfl_display_name(const tfl_tensor *t, char *buf, size_t cap)
{
    size_t n = 0;
    while (n < t->name_len && t->name[n] != ';')
        n++;
    if (n > TFL_SHOWN_MAX - 8)
        n = TFL_SHOWN_MAX - 8;
    if (n > cap - 1)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t->name[i];
        buf[i] = (c >= 0x20 && c < 0x7f && c != '\'') ? (char)c : '?';
    }
    buf[n] = '\0';
    return buf;
}

/* "[1, 224, 224, 3]" */
const char *tfl_dims_str(const tfl_tensor *t, char *buf, size_t cap)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int k = 0; k < t->rank && o < cap; k++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%d", k ? ", " : "", t->dims[k]);
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
    return buf;
}

gd_status tfl_element_count(tfl_importer *im, const tfl_tensor *t, size_t *n)
{
    char shown[TFL_SHOWN_MAX], d[128];
    uint64_t c = 1;
    *n = 0;
    for (int k = 0; k < t->rank; k++) {
        if (t->dims[k] < 1 || (c *= (uint64_t)t->dims[k]) > TFL_MAX_ELEMENTS)
            return gd_err_set(im->err, GD_EINPUT, "tensor '%s' has an empty or too large shape %s",
                              tfl_display_name(t, shown, sizeof shown),
                              tfl_dims_str(t, d, sizeof d));
    }
    *n = (size_t)c;
    return GD_OK;
}

gd_status tfl_act_shape(tfl_importer *im, int ti, gd_shape *s)
{
    const tfl_tensor *t = &im->t[ti];
    char shown[TFL_SHOWN_MAX], d[128];
    size_t n = 0;
    gd_status st = tfl_element_count(im, t, &n);
    if (st != GD_OK)
        return st;
    if (t->rank == 4 && t->dims[0] == 1)
        *s = (gd_shape){t->dims[3], t->dims[1], t->dims[2]};
    else if (t->rank == 2 && t->dims[0] == 1)
        *s = (gd_shape){t->dims[1], 1, 1};
    else if (t->rank == 1)
        *s = (gd_shape){t->dims[0], 1, 1};
    else
        return gd_err_set(im->err, GD_EINPUT,
                          "tensor '%s' of shape %s is not one image "
                          "[1, H, W, C] or vector [1, N]",
                          tfl_display_name(t, shown, sizeof shown), tfl_dims_str(t, d, sizeof d));
    return GD_OK;
}

/* The constant a tensor stands for (itself, or what a DEQUANTIZE aliased), or -1. */
int tfl_const_index(tfl_importer *im, int ti)
{
    int ci = im->const_of[ti] >= 0 ? im->const_of[ti] : ti;
    if (im->producer[ci] >= 0 || ci == im->input_t || im->t[ci].buffer == 0)
        return -1;
    return ci;
}

/* The bytes of buffer b: inline data, or (files over 2 GB) an offset and size into the file. */
static gd_status buffer_data(tfl_importer *im, uint32_t b, const uint8_t **data, size_t *len)
{
    gd_fb_table bt;
    gd_fb_vec v;
    uint64_t off = 0, size = 0;
    gd_err *err = im->err;
    *data = NULL;
    *len = 0;
    if (b >= im->buffers.n)
        return gd_err_set(err, GD_EINPUT, "buffer %u out of range (%u buffers)", b, im->buffers.n);
    gd_status st = gd_fb_vec_table(&im->buffers, b, &bt, err);
    if (st == GD_OK)
        st = gd_fb_vec_field(&bt, 0, 1, &v, err);
    if (st == GD_OK && v.n == 0) {
        st = gd_fb_u64(&bt, 1, 0, &off, err);
        if (st == GD_OK)
            st = gd_fb_u64(&bt, 2, 0, &size, err);
        if (st == GD_OK && off > 1) {
            if (off > im->fb.size || size > im->fb.size - off)
                return gd_err_set(err, GD_EINPUT, "buffer %u lies outside the file", b);
            *data = im->fb.buf + off;
            *len = (size_t)size;
        }
        return st;
    }
    if (st == GD_OK) {
        *data = gd_fb_vec_data(&v);
        *len = v.n;
    }
    return st;
}

static float half_to_float(uint16_t h)
{
    int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v;
    if (exp == 0)
        v = ldexpf((float)mant, -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexpf((float)(mant | 0x400), exp - 25);
    return (h & 0x8000) ? -v : v;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/*
 * w[e] = scale * (q[e] - zero_point), per tensor or per channel along
 * quantized_dimension, in double then rounded once to float.
 */
static gd_status dequantize(tfl_importer *im, const tfl_tensor *t, const uint8_t *p, size_t n,
                            float *w)
{
    char shown[TFL_SHOWN_MAX];
    const char *name = tfl_display_name(t, shown, sizeof shown);
    uint32_t ns = t->scale.n, nz = t->zero_point.n;
    size_t inner = 1;
    if (ns == 0)
        return gd_err_set(im->err, GD_EINPUT, "quantized tensor '%s' has no scale", name);
    if (nz != 0 && nz != 1 && nz != ns)
        return gd_err_set(im->err, GD_EINPUT, "tensor '%s' has %u scales but %u zero points", name,
                          ns, nz);
    if (ns > 1) {
        if (t->qdim < 0 || t->qdim >= t->rank || t->dims[t->qdim] != (int)ns)
            return gd_err_set(im->err, GD_EINPUT,
                              "tensor '%s': %u scales do not match its "
                              "quantized dimension %d",
                              name, ns, t->qdim);
        for (int k = t->qdim + 1; k < t->rank; k++)
            inner *= (size_t)t->dims[k];
    }
    for (uint32_t c = 0; c < ns; c++) {
        float s = gd_fb_vec_f32(&t->scale, c);
        int64_t z = nz ? gd_fb_vec_i64(&t->zero_point, nz > 1 ? c : 0) : 0;
        if (!(s > 0) || !isfinite(s) || z < INT32_MIN || z > INT32_MAX)
            return gd_err_set(im->err, GD_EINPUT,
                              "tensor '%s': bad quantization (scale %g, "
                              "zero point %lld)",
                              name, s, (long long)z);
    }
    for (size_t e = 0; e < n; e++) {
        uint32_t c = ns > 1 ? (uint32_t)((e / inner) % ns) : 0;
        double s = gd_fb_vec_f32(&t->scale, c);
        double z = nz ? (double)gd_fb_vec_i64(&t->zero_point, nz > 1 ? c : 0) : 0.0;
        double q = t->type == TFL_UINT8  ? (double)p[e]
                   : t->type == TFL_INT8 ? (double)(int8_t)p[e]
                                         : (double)(int32_t)le32(p + 4 * e);
        w[e] = (float)(s * (q - z));
    }
    return GD_OK;
}

/*
 * Reads constant tensor ti (role names it in messages: "filter", "bias") as
 * `expect` floats in the tensor's own layout.  The caller frees *out.
 */
gd_status tfl_read_const(tfl_importer *im, int ti, const char *role, size_t expect, float **out)
{
    char shown[TFL_SHOWN_MAX];
    const uint8_t *p;
    size_t n = 0, len = 0, esize = 0;
    gd_err *err = im->err;
    *out = NULL;
    int ci = tfl_const_index(im, ti);
    if (ci < 0)
        return gd_err_set(err, GD_EINPUT, "%s tensor '%s' is not a constant", role,
                          tfl_display_name(&im->t[ti], shown, sizeof shown));
    const tfl_tensor *t = &im->t[ci];
    const char *name = tfl_display_name(t, shown, sizeof shown);
    gd_status st = tfl_element_count(im, t, &n);
    if (st != GD_OK)
        return st;
    if (n != expect)
        return gd_err_set(err, GD_EINPUT, "%s tensor '%s' has %zu values, expected %zu", role, name,
                          n, expect);
    switch (t->type) {
    case TFL_FLOAT32:
    case TFL_INT32:
        esize = 4;
        break;
    case TFL_FLOAT16:
        esize = 2;
        break;
    case TFL_UINT8:
    case TFL_INT8:
        esize = 1;
        break;
    default:
        return gd_err_set(err, GD_EINPUT, "%s tensor '%s' has unsupported type %d", role, name,
                          t->type);
    }
    if ((st = buffer_data(im, t->buffer, &p, &len)) != GD_OK)
        return st;
    if (len != n * esize)
        return gd_err_set(err, GD_EINPUT,
                          "%s tensor '%s': its buffer holds %zu bytes, its shape "
                          "needs %zu",
                          role, name, len, n * esize);
    float *w = gd_malloc(n * sizeof *w, "weights", err);
    if (!w)
        return err->status;
    if (t->type == TFL_FLOAT32 || t->type == TFL_FLOAT16) {
        for (size_t e = 0; e < n; e++) {
            if (t->type == TFL_FLOAT32) {
                uint32_t bits = le32(p + 4 * e);
                memcpy(&w[e], &bits, sizeof bits);
            } else {
                w[e] = half_to_float((uint16_t)(p[2 * e] | (p[2 * e + 1] << 8)));
            }
            if (!isfinite(w[e])) {
                free(w);
                return gd_err_set(err, GD_EINPUT, "%s tensor '%s': value %zu is not finite", role,
                                  name, e);
            }
        }
    } else if ((st = dequantize(im, t, p, n, w)) != GD_OK) {
        free(w);
        return st;
    }
    *out = w;
    return GD_OK;
}

/*
 * The activation a quantized output range implies (see tflite.c):
 * a range starting at 0 is a RELU, a range [0, ~6] a RELU6.
 */
gd_act tfl_range_act(const tfl_tensor *t)
{
    int qmin, qmax;
    if (t->type == TFL_UINT8) {
        qmin = 0;
        qmax = 255;
    } else if (t->type == TFL_INT8) {
        qmin = -128;
        qmax = 127;
    } else {
        return GD_ACT_NONE;
    }
    if (t->scale.n != 1 || t->zero_point.n > 1)
        return GD_ACT_NONE;
    float s = gd_fb_vec_f32(&t->scale, 0);
    int64_t z = t->zero_point.n ? gd_fb_vec_i64(&t->zero_point, 0) : 0;
    if (!(s > 0) || !isfinite(s) || z != qmin)
        return GD_ACT_NONE;
    return fabs((double)s * (qmax - qmin) - 6.0) <= 0.06 ? GD_ACT_RELU6 : GD_ACT_RELU;
}

/*
 * flatbuf.c: a bounds-checked FlatBuffers reader.
 *
 * FlatBuffers facts this relies on (flatbuffers.dev, "internals"):
 *   - the buffer starts with a uoffset (u32) to the root table;
 *   - a table starts with an soffset (i32): its vtable is at table - soffset;
 *   - a vtable is u16s: its own size in bytes, the table's inline size, then
 *     one offset per field (relative to the table start; 0 = absent);
 *   - sub-tables, vectors and strings are stored as a uoffset relative to the
 *     position of the offset itself;
 *   - a vector (and a string) is a u32 element count then the elements;
 *   - everything is little-endian.
 * Positions are size_t; sums that could overflow are done in uint64_t and
 * compared with the buffer size before anything is read.
 */
#include "gigadream/flatbuf.h"

#include <assert.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

/* Whether bytes [pos, pos + len) lie inside the buffer. */
static int fits(const gd_fb *fb, uint64_t pos, uint64_t len)
{
    return pos <= fb->size && len <= fb->size - pos;
}

static gd_status corrupt(const char *what, uint64_t pos, gd_err *err)
{
    return gd_err_set(err, GD_EINPUT, "corrupt or truncated flatbuffer: %s at offset %llu", what,
                      (unsigned long long)pos);
}

/* Checks the table at pos and fills *t. */
static gd_status table_at(const gd_fb *fb, uint64_t pos, gd_fb_table *t, gd_err *err)
{
    memset(t, 0, sizeof *t);
    if (!fits(fb, pos, 4))
        return corrupt("table out of bounds", pos, err);
    int32_t so = (int32_t)rd32(fb->buf + pos);
    int64_t vt = (int64_t)pos - (int64_t)so;
    if (vt < 0 || !fits(fb, (uint64_t)vt, 4))
        return corrupt("vtable out of bounds for the table", pos, err);
    uint16_t vt_size = rd16(fb->buf + vt);
    uint16_t t_size = rd16(fb->buf + vt + 2);
    if (vt_size < 4 || vt_size % 2 || !fits(fb, (uint64_t)vt, vt_size))
        return corrupt("bad vtable size for the table", pos, err);
    if (t_size < 4 || !fits(fb, pos, t_size))
        return corrupt("bad inline size for the table", pos, err);
    t->fb = fb;
    t->pos = (size_t)pos;
    t->vt = (size_t)vt;
    t->vt_size = vt_size;
    t->t_size = t_size;
    return GD_OK;
}

/* Follows the uoffset stored at loc. */
static gd_status follow(const gd_fb *fb, uint64_t loc, uint64_t *target, gd_err *err)
{
    *target = 0;
    if (!fits(fb, loc, 4))
        return corrupt("offset out of bounds", loc, err);
    uint64_t t = loc + rd32(fb->buf + loc);
    if (t >= fb->size)
        return corrupt("offset points past the end", loc, err);
    *target = t;
    return GD_OK;
}

gd_status gd_fb_root(const gd_fb *fb, gd_fb_table *root, gd_err *err)
{
    uint64_t pos = 0;
    memset(root, 0, sizeof *root);
    if (fb->size < 8)
        return gd_err_set(err, GD_EINPUT, "too short for a flatbuffer (%zu bytes)", fb->size);
    gd_status st = follow(fb, 0, &pos, err);
    if (st != GD_OK)
        return st;
    return table_at(fb, pos, root, err);
}

/* The voffset of a field, 0 when absent. */
static uint16_t field_off(const gd_fb_table *t, int field)
{
    if (!t->fb || field < 0)
        return 0;
    uint32_t slot = 4u + 2u * (uint32_t)field;
    if (slot + 2u > t->vt_size)
        return 0;
    return rd16(t->fb->buf + t->vt + slot);
}

int gd_fb_has(const gd_fb_table *t, int field)
{
    return field_off(t, field) != 0;
}

/* The position of a present field of `width` inline bytes, or 0 when absent. */
static gd_status field_pos(const gd_fb_table *t, int field, uint32_t width, uint64_t *pos,
                           gd_err *err)
{
    uint16_t off = field_off(t, field);
    *pos = 0;
    if (off == 0)
        return GD_OK;
    if (off < 4 || (uint32_t)off + width > t->t_size)
        return corrupt("field outside its table", t->pos, err);
    *pos = (uint64_t)t->pos + off;
    return GD_OK;
}

#define SCALAR_GETTER(fn, type, width, expr)                                                       \
    gd_status fn(const gd_fb_table *t, int field, type def, type *out, gd_err *err)                \
    {                                                                                              \
        uint64_t pos;                                                                              \
        gd_status st = field_pos(t, field, width, &pos, err);                                      \
        *out = def;                                                                                \
        if (st == GD_OK && pos) {                                                                  \
            const uint8_t *p = t->fb->buf + pos;                                                   \
            *out = (expr);                                                                         \
        }                                                                                          \
        return st;                                                                                 \
    }

SCALAR_GETTER(gd_fb_u8, uint8_t, 1, p[0])
SCALAR_GETTER(gd_fb_i8, int8_t, 1, (int8_t)p[0])
SCALAR_GETTER(gd_fb_i32, int32_t, 4, (int32_t)rd32(p))
SCALAR_GETTER(gd_fb_u32, uint32_t, 4, rd32(p))
SCALAR_GETTER(gd_fb_u64, uint64_t, 8, rd64(p))

gd_status gd_fb_f32(const gd_fb_table *t, int field, float def, float *out, gd_err *err)
{
    uint32_t bits;
    gd_status st = gd_fb_u32(t, field, 0, &bits, err);
    *out = def;
    if (st == GD_OK && gd_fb_has(t, field))
        memcpy(out, &bits, sizeof *out);
    return st;
}

gd_status gd_fb_table_field(const gd_fb_table *t, int field, gd_fb_table *out, int *present,
                            gd_err *err)
{
    uint64_t pos = 0, target = 0;
    memset(out, 0, sizeof *out);
    *present = 0;
    gd_status st = field_pos(t, field, 4, &pos, err);
    if (st != GD_OK || !pos)
        return st;
    st = follow(t->fb, pos, &target, err);
    if (st == GD_OK)
        st = table_at(t->fb, target, out, err);
    *present = st == GD_OK;
    return st;
}

/* The vector whose length word is at pos. */
static gd_status vec_at(const gd_fb *fb, uint64_t pos, uint32_t elem_size, gd_fb_vec *out,
                        gd_err *err)
{
    if (!fits(fb, pos, 4))
        return corrupt("vector length out of bounds", pos, err);
    uint32_t n = rd32(fb->buf + pos);
    if (!fits(fb, pos + 4, (uint64_t)n * elem_size))
        return corrupt("vector runs past the end", pos, err);
    out->fb = fb;
    out->pos = (size_t)pos + 4;
    out->n = n;
    out->elem_size = elem_size;
    return GD_OK;
}

gd_status gd_fb_vec_field(const gd_fb_table *t, int field, uint32_t elem_size, gd_fb_vec *out,
                          gd_err *err)
{
    uint64_t pos = 0, target = 0;
    assert(elem_size >= 1 && elem_size <= 8);
    memset(out, 0, sizeof *out);
    out->fb = t->fb;
    out->elem_size = elem_size;
    gd_status st = field_pos(t, field, 4, &pos, err);
    if (st != GD_OK || !pos)
        return st;
    st = follow(t->fb, pos, &target, err);
    if (st != GD_OK)
        return st;
    return vec_at(t->fb, target, elem_size, out, err);
}

gd_status gd_fb_string_field(const gd_fb_table *t, int field, const char **s, size_t *len,
                             gd_err *err)
{
    gd_fb_vec v;
    *s = "";
    *len = 0;
    gd_status st = gd_fb_vec_field(t, field, 1, &v, err);
    if (st == GD_OK && v.n) {
        *s = (const char *)(t->fb->buf + v.pos);
        *len = v.n;
    }
    return st;
}

gd_status gd_fb_vec_table(const gd_fb_vec *v, uint32_t i, gd_fb_table *out, gd_err *err)
{
    uint64_t target = 0;
    assert(i < v->n && v->elem_size == 4);
    gd_status st = follow(v->fb, (uint64_t)v->pos + 4u * (uint64_t)i, &target, err);
    if (st != GD_OK) {
        memset(out, 0, sizeof *out);
        return st;
    }
    return table_at(v->fb, target, out, err);
}

uint8_t gd_fb_vec_u8(const gd_fb_vec *v, uint32_t i)
{
    assert(i < v->n && v->elem_size == 1);
    return v->fb->buf[v->pos + i];
}

int32_t gd_fb_vec_i32(const gd_fb_vec *v, uint32_t i)
{
    assert(i < v->n && v->elem_size == 4);
    return (int32_t)rd32(v->fb->buf + v->pos + 4u * (size_t)i);
}

int64_t gd_fb_vec_i64(const gd_fb_vec *v, uint32_t i)
{
    assert(i < v->n && v->elem_size == 8);
    return (int64_t)rd64(v->fb->buf + v->pos + 8u * (size_t)i);
}

float gd_fb_vec_f32(const gd_fb_vec *v, uint32_t i)
{
    assert(i < v->n && v->elem_size == 4);
    uint32_t bits = rd32(v->fb->buf + v->pos + 4u * (size_t)i);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

const uint8_t *gd_fb_vec_data(const gd_fb_vec *v)
{
    return v->fb ? v->fb->buf + v->pos : NULL;
}

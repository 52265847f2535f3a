/*
 * flatbuf.h: a bounds-checked reader of FlatBuffers binaries.
 *
 * Reads tables, scalars, strings and vectors of a FlatBuffers buffer held in
 * memory, without a generated schema: callers name fields by their index in
 * the schema (vtable slot 4 + 2 * index).  Every offset, vtable and vector it
 * follows is checked against the buffer size before it is read, so a
 * truncated, corrupt or hostile buffer yields GD_EINPUT with the offset where
 * it went wrong, never an out-of-bounds read.  Nothing is assumed about
 * alignment: scalars are assembled from little-endian bytes.
 *
 * The reader never allocates and never writes to the buffer; all handles are
 * small values pointing into the caller's buffer, which must outlive them.
 * Messages do not name the file: callers prefix that (gd_err_prefix).
 */
#ifndef GIGADREAM_FLATBUF_H
#define GIGADREAM_FLATBUF_H

#include <stddef.h>
#include <stdint.h>

#include "gigadream/error.h"

/* A whole buffer. */
typedef struct gd_fb {
    const uint8_t *buf;
    size_t size;
} gd_fb;

/* A table: its position and its (checked) vtable. */
typedef struct gd_fb_table {
    const gd_fb *fb;
    size_t pos;       /* first byte of the table (its soffset to the vtable) */
    size_t vt;        /* first byte of the vtable */
    uint16_t vt_size; /* bytes of the vtable, including its 4-byte header */
    uint16_t t_size;  /* bytes of the table inline data, including the soffset */
} gd_fb_table;

/* A vector: n elements of elem_size bytes from pos, all inside the buffer. */
typedef struct gd_fb_vec {
    const gd_fb *fb;
    size_t pos;
    uint32_t n;
    uint32_t elem_size;
} gd_fb_vec;

/*
 * The root table.  Fails if the buffer is shorter than 8 bytes or the root
 * offset or its vtable is out of bounds.
 */
gd_status gd_fb_root(const gd_fb *fb, gd_fb_table *root, gd_err *err);

/* Whether field `field` is present in the table (not defaulted). */
int gd_fb_has(const gd_fb_table *t, int field);

/*
 * Scalar fields.  An absent field gives `def`.  Fails only if a present
 * field's bytes lie outside the table.
 */
gd_status gd_fb_u8(const gd_fb_table *t, int field, uint8_t def, uint8_t *out, gd_err *err);
gd_status gd_fb_i8(const gd_fb_table *t, int field, int8_t def, int8_t *out, gd_err *err);
gd_status gd_fb_i32(const gd_fb_table *t, int field, int32_t def, int32_t *out, gd_err *err);
gd_status gd_fb_u32(const gd_fb_table *t, int field, uint32_t def, uint32_t *out, gd_err *err);
gd_status gd_fb_u64(const gd_fb_table *t, int field, uint64_t def, uint64_t *out, gd_err *err);
gd_status gd_fb_f32(const gd_fb_table *t, int field, float def, float *out, gd_err *err);

/*
 * A sub-table field.  *present is set to 0 (and *out zeroed) when the field
 * is absent; that is not an error.
 */
gd_status gd_fb_table_field(const gd_fb_table *t, int field, gd_fb_table *out, int *present,
                            gd_err *err);

/*
 * A vector field whose elements are elem_size bytes (1, 4 or 8 for scalars,
 * 4 for tables and strings, which are stored as offsets).  An absent field is
 * an empty vector.  Fails if the vector does not fit in the buffer.
 */
gd_status gd_fb_vec_field(const gd_fb_table *t, int field, uint32_t elem_size, gd_fb_vec *out,
                          gd_err *err);

/*
 * A string field: *s points into the buffer at *len bytes (not necessarily
 * NUL-terminated: copy it out).  An absent field is the empty string.
 */
gd_status gd_fb_string_field(const gd_fb_table *t, int field, const char **s, size_t *len,
                             gd_err *err);

/*
 * Elements of a vector; i must be < v->n and the element size must match
 * (both are the caller's invariants, asserted).  Tables are followed and
 * checked like root tables.
 */
gd_status gd_fb_vec_table(const gd_fb_vec *v, uint32_t i, gd_fb_table *out, gd_err *err);
uint8_t gd_fb_vec_u8(const gd_fb_vec *v, uint32_t i);
int32_t gd_fb_vec_i32(const gd_fb_vec *v, uint32_t i);
int64_t gd_fb_vec_i64(const gd_fb_vec *v, uint32_t i);
float gd_fb_vec_f32(const gd_fb_vec *v, uint32_t i);

/* A pointer to the vector's first byte (for byte vectors); valid for n * elem_size bytes. */
const uint8_t *gd_fb_vec_data(const gd_fb_vec *v);

#endif

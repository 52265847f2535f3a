/*
 * band.c: owned rows with halo room (see band.h).
 *
 * A module of its own, not a file of src/dream/ though dream is its only
 * user today: it is a plain container with a public contract (band.h, which
 * dream.h's gd_dream_measure names), knows nothing of dreams, tiles or
 * ranks, and depends on image, error and scratch (bands in files) only.
 * Never calls MPI (dist moves rows between bands) and never reads or writes
 * pixels but to zero them and to copy the owned rows when the allocation
 * grows.
 */
#include "gigadream/band.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static size_t row_floats(const gd_band *b)
{
    return (size_t)b->own.w * (size_t)b->own.c;
}

static void point_own(gd_band *b)
{
    b->own.data = b->mem + (size_t)(b->own.y0 - b->lo) * row_floats(b);
}

/* rows x w x c floats, zeroed, from the heap or a scratch file. */
static float *band_mem(gd_scratch *s, size_t bytes, const char *what, gd_err *err)
{
    if (s)
        return gd_scratch_map(s, bytes ? bytes : sizeof(float), what, err);
    float *p = gd_malloc(bytes ? bytes : sizeof(float), what, err);
    if (p)
        gd_zero_floats(p, bytes / sizeof(float));
    return p;
}

static void band_mem_free(gd_band *b)
{
    if (b->scratch)
        gd_scratch_unmap(b->scratch, b->mem, gd_band_bytes(b));
    else
        free(b->mem);
}

gd_status gd_band_alloc(gd_band *b, int w, int h, int c, int y0, int y1, int halo, gd_err *err)
{
    return gd_band_alloc_in(b, NULL, w, h, c, y0, y1, halo, err);
}

gd_status gd_band_alloc_in(gd_band *b, gd_scratch *s, int w, int h, int c, int y0, int y1, int halo,
                           gd_err *err)
{
    memset(b, 0, sizeof *b);
    if (w < 1 || h < 1 || c < 1 || y0 < 0 || y1 > h || y1 < y0 || halo < 0)
        return gd_err_set(err, GD_EINPUT, "internal: band [%d,%d) of %dx%dx%d", y0, y1, w, h, c);
    b->lo = y0 - halo > 0 ? y0 - halo : 0;
    b->hi = y1 + halo < h ? y1 + halo : h;
    if (b->hi - b->lo < 1)
        b->hi = b->lo + 1 <= h ? b->lo + 1 : h;
    size_t bytes = gd_image_bytes(w, b->hi - b->lo, c);
    if (bytes == 0 && b->hi > b->lo)
        return gd_err_set(err, GD_ENOMEM, "band of %dx%d pixels is too large", w, b->hi - b->lo);
    b->mem = band_mem(s, bytes, "image band", err);
    if (!b->mem)
        return err->status;
    b->scratch = s;
    b->own = (gd_image){
        .w = w, .full_h = h, .c = c, .y0 = y0, .y1 = y1, .stride = (size_t)w * (size_t)c};
    point_own(b);
    return GD_OK;
}

void gd_band_free(gd_band *b)
{
    if (!b)
        return;
    if (b->mem)
        band_mem_free(b);
    memset(b, 0, sizeof *b);
}

/*
 * Out of core, the owned rows move to the grown mapping a slice at a time,
 * each slice of both mappings released once copied: one memcpy of the band
 * had both whole bands resident at once (a 1-gigapixel render on 2 ranks
 * peaked at 11.6 GB a rank over a 7.5 GB budget, for seconds).
 */
static void copy_rows(gd_band *b, float *to, size_t bytes)
{
    const float *from = b->own.data;
    if (!b->scratch) {
        memcpy(to, from, bytes);
        return;
    }
    const size_t slice = (size_t)16 << 20;
    for (size_t off = 0; off < bytes; off += slice) {
        size_t n = bytes - off < slice ? bytes - off : slice;
        memcpy((char *)to + off, (const char *)from + off, n);
        gd_scratch_release((char *)to + off, n);
        gd_scratch_release((char *)from + off, n);
    }
}

gd_status gd_band_reserve(gd_band *b, int a, int z, gd_err *err)
{
    if (a > b->own.y0)
        a = b->own.y0;
    if (z < b->own.y1)
        z = b->own.y1;
    if (a < 0)
        a = 0;
    if (z > b->own.full_h)
        z = b->own.full_h;
    if (a >= b->lo && z <= b->hi)
        return GD_OK;
    int lo = a < b->lo ? a : b->lo, hi = z > b->hi ? z : b->hi;
    size_t row = row_floats(b);
    float *mem =
        band_mem(b->scratch, gd_image_bytes(b->own.w, hi - lo, b->own.c), "image band halo", err);
    if (!mem)
        return err->status;
    size_t owned = (size_t)(b->own.y1 - b->own.y0) * row;
    if (owned)
        copy_rows(b, mem + (size_t)(b->own.y0 - lo) * row, owned * sizeof(float));
    band_mem_free(b);
    b->mem = mem;
    b->lo = lo;
    b->hi = hi;
    point_own(b);
    return GD_OK;
}

gd_image gd_band_view(const gd_band *b, int a, int z)
{
    assert(a >= b->lo && z <= b->hi && a <= z);
    gd_image v = b->own;
    v.y0 = a;
    v.y1 = z;
    v.data = b->mem + (size_t)(a - b->lo) * row_floats(b);
    return v;
}

void gd_band_zero(gd_band *b, int a, int z)
{
    if (a < b->lo)
        a = b->lo;
    if (z > b->hi)
        z = b->hi;
    if (z <= a)
        return;
    float *p = b->mem + (size_t)(a - b->lo) * row_floats(b);
    size_t n = (size_t)(z - a) * row_floats(b);
    if (b->scratch)
        gd_scratch_zero(p, n * sizeof(float));
    else
        gd_zero_floats(p, n);
}

void gd_band_release(gd_band *b, int a, int z)
{
    if (!b->scratch || !b->mem)
        return;
    if (a < b->lo + b->keep)
        a = b->lo + b->keep;
    if (z > b->hi)
        z = b->hi;
    if (z > a)
        gd_scratch_release(b->mem + (size_t)(a - b->lo) * row_floats(b),
                           (size_t)(z - a) * row_floats(b) * sizeof(float));
}

void gd_band_populate(gd_band *b, int a, int z, int write)
{
    if (!b->scratch || !b->mem)
        return;
    if (a < b->lo)
        a = b->lo;
    if (z > b->hi)
        z = b->hi;
    if (z > a)
        gd_scratch_populate(b->mem + (size_t)(a - b->lo) * row_floats(b),
                            (size_t)(z - a) * row_floats(b) * sizeof(float), write);
}

size_t gd_band_bytes(const gd_band *b)
{
    return (size_t)(b->hi - b->lo) * row_floats(b) * sizeof(float);
}

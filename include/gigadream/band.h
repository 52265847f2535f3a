/*
 * band.h: the rows of an image that one rank owns, with room for halo rows.
 *
 * A gd_band holds rows [own.y0, own.y1) of a w x h image (the rank's band,
 * as gd_dist_band splits it) inside an allocation of rows [lo, hi) that also
 * has room for rows above and below.  Halo rows fetched from other ranks
 * (gd_dist_fetch_rows) or contributions computed for them land in that room,
 * so a view of rows [a, b) around the band is one contiguous gd_image that
 * shares the band's memory: no copy of the owned rows is ever made.
 *
 * Never calls MPI.
 */
#ifndef GIGADREAM_BAND_H
#define GIGADREAM_BAND_H

#include "gigadream/error.h"
#include "gigadream/image.h"
#include "gigadream/scratch.h"

typedef struct gd_band {
    gd_image own; /* the owned rows; own.data points into mem (not separately owned) */
    float *mem;   /* owned allocation holding rows [lo, hi) */
    int lo, hi;
    gd_scratch *scratch; /* not NULL: mem is a mapping of a file in this folder */
    int keep;            /* rows [lo, lo + keep) stay in memory: gd_band_release spares them */
} gd_band;

/*
 * Allocates the owned rows [y0, y1) of a w x h x c image plus room for
 * `halo` rows on each side (clipped to the image), all zeroed by the OpenMP
 * threads (gd_zero_floats): the pages are committed here, near the threads
 * that use them, so a machine short of memory fails now rather than at the
 * first write hours later, and no dream iteration pays their page faults.
 * gd_band_reserve's growth does the same.
 */
gd_status gd_band_alloc(gd_band *b, int w, int h, int c, int y0, int y1, int halo, gd_err *err);

/*
 * The same in a file of scratch folder s (scratch.h) when s is not NULL:
 * the pages are not committed (the file reads as zeros), and the band's
 * rows can be released from memory (gd_band_release) between passes.
 */
gd_status gd_band_alloc_in(gd_band *b, gd_scratch *s, int w, int h, int c, int y0, int y1, int halo,
                           gd_err *err);
void gd_band_free(gd_band *b);

/*
 * Out of core: rows [a, z) of the allocation (clipped to it, and sparing
 * the first b->keep rows, which the caller's budget lets stay) leave the
 * process's memory, keeping their values (the next touch brings them back).
 * In memory: does nothing.
 */
void gd_band_release(gd_band *b, int a, int z);

/*
 * Out of core: brings rows [a, z) of the allocation (clipped to it) into
 * memory before a pass reads them or, when write, writes them
 * (gd_scratch_populate).  In memory: does nothing.
 */
void gd_band_populate(gd_band *b, int a, int z, int write);

/*
 * Makes sure rows [a, z) (clipped to the image, always including the owned
 * rows) fit in the allocation, growing it if needed; owned rows keep their
 * values, halo rows are undefined after growing.
 */
gd_status gd_band_reserve(gd_band *b, int a, int z, gd_err *err);

/*
 * A view of rows [a, z) sharing the band's memory (which must hold them:
 * gd_band_reserve).  The view is not owned: never gd_image_free it.
 */
gd_image gd_band_view(const gd_band *b, int a, int z);

/* Zeroes rows [a, z) of the allocation (clipped to it). */
void gd_band_zero(gd_band *b, int a, int z);

/* Bytes the band's allocation holds. */
size_t gd_band_bytes(const gd_band *b);

#endif

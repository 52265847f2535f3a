/*
 * dist.h: MPI ranks, row bands, halo exchange and deterministic reductions.
 *
 * Every image gigadream holds (an octave, its detail, the gradient
 * accumulators) is split into row bands: rank r of n owns rows
 * [floor(r*h/n), floor((r+1)*h/n)).  Operations that need rows beyond a band
 * (resizes, tiles, filters) fetch them from their owners with
 * gd_dist_fetch_rows; contributions computed for rows another rank owns are
 * returned with gd_dist_add_rows.
 *
 * Determinism: results must not depend on the number of ranks.  The two
 * tools for that are
 *   - gd_dist_sum_rows: every rank contributes per-row partial sums of the
 *     rows it owns; all ranks get the same total, summed in row order, so
 *     the total is the same for any rank count;
 *   - gd_dist_add_rows adds into each destination pixel what other ranks
 *     computed for it.  Float addition is commutative, so 0 + a + b is the
 *     same whichever of a and b arrives first: callers keep every
 *     destination pixel at no more than two addends per accumulation buffer
 *     (dream.h, invariant 2) and the sums are exact-order independent.
 *
 * Failures: every collective here is entered by all ranks.  A rank that
 * fails locally must still reach the next gd_dist_agree, which tells every
 * rank that someone failed and carries the first failing rank's message.
 *
 * Only this module calls MPI.
 */
#ifndef GIGADREAM_DIST_H
#define GIGADREAM_DIST_H

#include <stddef.h>

#include "gigadream/error.h"
#include "gigadream/image.h"

typedef struct gd_dist gd_dist;

/*
 * Initializes MPI (MPI_THREAD_FUNNELED: only the main thread calls MPI;
 * OpenMP threads compute).  Refuses to run when the launcher's environment
 * says there are several processes but MPI sees one (a launcher without a
 * working PMI makes every process rank 0 of 1: they would all write the same
 * output).  Caller frees with gd_dist_free, which finalizes MPI.
 */
gd_status gd_dist_init(int *argc, char ***argv, gd_dist **out, gd_err *err);

/*
 * The MPI library this process runs with, as the library names itself
 * (MPI_Get_library_version, which needs no MPI_Init), up to its first comma:
 * "Open MPI v4.1.4".  Returns buf.
 */
const char *gd_dist_library_version(char *buf, size_t len);
void gd_dist_free(gd_dist *d);

int gd_dist_rank(const gd_dist *d);
int gd_dist_size(const gd_dist *d);

/* How many ranks share this rank's node (its memory). */
int gd_dist_local_size(const gd_dist *d);

/*
 * The MPI communicator, for the one library that needs it (parallel HDF5 in
 * the checkpoint module, H5Pset_fapl_mpio): a pointer to d's MPI_Comm, typed void *
 * so that this header needs no <mpi.h>.  Valid while d lives; the caller
 * never frees or modifies it.
 */
void *gd_dist_comm(const gd_dist *d);

/*
 * Collective over d.  Splits the ranks: those passing the same color >= 0
 * form a new gd_dist, ranked in d's rank order; a rank passing a negative
 * color gets *out = NULL.  gd_dist_free on the new one leaves MPI
 * initialized.  Used where one program needs several rank counts (tests
 * writing a checkpoint on n ranks and reading it on m).
 */
gd_status gd_dist_split(gd_dist *d, int color, gd_dist **out, gd_err *err);

/* The rows [*y0, *y1) that rank r of n owns in an image of h rows. */
void gd_dist_band(int h, int n, int r, int *y0, int *y1);

/* The rank that owns row y of an image of h rows split n ways. */
int gd_dist_owner(int h, int n, int y);

/*
 * Collective.  Every rank passes the band it owns (rows [band->y0, band->y1)
 * of a band->w x band->full_h image, as gd_dist_band splits it) and asks for
 * rows [dst->y0, dst->y1) (possibly empty, within the image), which are
 * copied into dst from whichever ranks own them (itself included).  Rows of
 * dst that lie in the caller's own band are copied too unless dst shares the
 * band's memory there (then they are left alone).  Images must have tightly
 * packed rows (stride == w * c).
 */
gd_status gd_dist_fetch_rows(gd_dist *d, const gd_image *band, gd_image *dst, gd_err *err);

/*
 * Collective.  gd_dist_fetch_rows for rows of any fixed size: an image of h
 * rows of row_bytes bytes each (e.g. integer samples), split as gd_dist_band
 * splits it.  Every rank passes `band`, its own rows packed (row y at band +
 * (y - y0) * row_bytes, [y0, y1) = gd_dist_band(h, n, rank)), and asks for
 * rows [a, b) (possibly empty, within [0, h)) into dst, packed (row y at dst +
 * (y - a) * row_bytes).  Rows of the caller's own band are copied too unless
 * dst is the band's memory there.  A rank whose request is bad takes part with
 * an empty one and gets GD_EINPUT.
 */
gd_status gd_dist_fetch_bytes(gd_dist *d, int h, size_t row_bytes, const void *band, int a, int b,
                              void *dst, gd_err *err);

/*
 * Bytes this rank has sent to other ranks through the row exchanges above
 * (gd_dist_fetch_rows, gd_dist_add_rows, gd_dist_fetch_bytes) since
 * gd_dist_init: the halo traffic, which a caller measures as a difference.
 */
double gd_dist_sent(const gd_dist *d);

/*
 * Collective.  Gathers a variable number of bytes from every rank to rank 0,
 * in rank order.  Every rank passes its len bytes at mine (len may be 0).  On
 * rank 0, *all (grown with realloc when *cap is too small; free() it) holds
 * rank 0's bytes, then rank 1's, ..., and lens[r] (n entries) says how many
 * came from rank r; on other ranks all, cap and lens are not touched (may be
 * NULL).  Sizes have no 2 GB limit (sent in chunks).  When rank 0 cannot
 * grow the buffer, no rank sends and every rank returns GD_ENOMEM.
 */
gd_status gd_dist_gather_bytes(gd_dist *d, const void *mine, size_t len, unsigned char **all,
                               size_t *cap, size_t *lens, gd_err *err);

/*
 * Collective.  Every rank passes contributions for rows [src->y0, src->y1)
 * (possibly empty); each destination rank adds, pixel by pixel, the rows that
 * fall in its band into band (band += src), taking them in rank order.
 * Contributions for the caller's own rows are added too, unless src shares
 * the band's memory there (they are in place already).
 */
gd_status gd_dist_add_rows(gd_dist *d, gd_image *band, const gd_image *src, gd_err *err);

/*
 * Collective.  mine holds k doubles for each row the caller owns of an image
 * of h rows (row-major: mine[(y - y0) * k + j]).  On every rank, total[j] =
 * the sum over all rows y = 0..h-1, in that order, of the row's value j.
 */
gd_status gd_dist_sum_rows(gd_dist *d, int h, int k, const double *mine, double *total,
                           gd_err *err);

/*
 * Collective.  Gathers values indexed by a global id: the caller provides
 * values[first .. first + count - 1] (others ignored); on return every rank
 * has all n values.  Ranges of the ranks must partition [0, n).
 */
gd_status gd_dist_gather_ids(gd_dist *d, int n, int first, int count, double *values, gd_err *err);

/*
 * Collective.  Combines the local status of every rank: returns GD_OK when all
 * are fine; otherwise the status and message of the lowest failing rank,
 * copied into err on every rank (prefixed "rank R: " when n > 1).
 */
gd_status gd_dist_agree(gd_dist *d, gd_status local, gd_err *err);

/* Collective.  Broadcasts bytes from root. */
gd_status gd_dist_bcast(gd_dist *d, void *buf, size_t bytes, int root, gd_err *err);

/* Collective.  Maximum over ranks of a double (e.g. peak memory, elapsed time). */
gd_status gd_dist_max(gd_dist *d, double local, double *max, gd_err *err);

/* Collective.  Sum over ranks of a double, in rank order. */
gd_status gd_dist_sum(gd_dist *d, double local, double *sum, gd_err *err);

/* Collective.  Waits for every rank. */
gd_status gd_dist_barrier(gd_dist *d, gd_err *err);

/* Wall-clock seconds (MPI_Wtime). */
double gd_dist_now(void);

#endif

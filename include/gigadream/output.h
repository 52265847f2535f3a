/*
 * output.h: writing a distributed image to one file, every rank taking part.
 *
 * The image is split into row bands as gd_dist_band splits it (the final
 * octave of a render), already rounded to the output's levels.  For a tiled
 * TIFF every rank converts and compresses a share of the tiles (tile rows
 * dealt round-robin), rank 0 appends the encoded tiles in order, and the
 * reduced-resolution levels are built from distributed bands too: no rank
 * ever holds the whole image, or any whole level, unless it is the only
 * rank.  The file's bytes are those gd_writer_write_rows makes from the
 * whole image (imageio.h), whatever the number of ranks and threads.
 * PNG and JPEG outputs (small images) are gathered to rank 0 a band of rows
 * at a time and streamed to a gd_writer.
 *
 * The output appears at its path only when gd_output_commit succeeds on
 * every rank: rank 0 writes a temporary and renames it (imageio.h); any
 * failure on any rank makes every rank return the failing rank's error and
 * removes the temporary.
 *
 * Never calls MPI (dist does) or libtiff (imageio does).
 */
#ifndef GIGADREAM_OUTPUT_H
#define GIGADREAM_OUTPUT_H

#include "gigadream/dist.h"
#include "gigadream/error.h"
#include "gigadream/image.h"
#include "gigadream/imageio.h"

typedef struct gd_output gd_output;

/*
 * Collective.  Starts writing a w x h image to path with options o (imageio.h:
 * what shapes the pixels and tiles, bits, compression, tile and pyramid, must
 * be the same on every rank; description and icc are read on rank 0 only).
 * Rank 0 opens the writer, which checks the format, options and path and
 * creates the temporary (GD_EINPUT and nothing created when they are wrong);
 * for TIFF every rank makes its tile encoders, and with JPEG compression
 * checks that they make the very JPEGTables rank 0's file will carry.  On
 * failure every rank returns the first failing rank's status and message and
 * *out is NULL.  Free with gd_output_commit or gd_output_abort.  seam: the
 * test seam below (NULL in production).
 */
typedef struct gd_output_seam gd_output_seam;

gd_status gd_output_begin(gd_dist *d, const char *path, int w, int h, const gd_write_opts *o,
                          const gd_output_seam *seam, gd_output **out, gd_err *err);

/*
 * Local, called alike on every rank between begin and write.  Asks for a
 * preview: an 8-bit PNG at `path` whose longest side is `side` (the image's
 * own size when it is no larger), the other side in proportion, written once
 * the output is committed (replacing an older file at path).  It is made
 * from the output's pyramid: the smallest 2x2-box level whose longest side
 * still reaches `side` (made for any format, pyramid or not), resized with
 * the triangle filter (resample.h); only rank 0 holds that level, never the
 * image.  side 0 asks for none; GD_EINPUT when side is outside [0, 65535].
 */
gd_status gd_output_preview(gd_output *out, const char *path, int side, gd_err *err);

/*
 * Collective.  Writes the whole image, and its pyramid when asked for: every
 * rank passes the band it owns, rows [gd_dist_band) of the w x h x 3 image,
 * rows packed (stride 3w), float samples that gd_quantize turns into the
 * output's integers.  Called once.  Memory on each rank: one tile row of
 * pixels and its encoded bytes, and its band of the reduced levels (at most
 * two levels at a time, together under a third of its band's integer
 * samples); rank 0 also up to 256 MB of encoded tile rows (or one tile row,
 * the seam's gather_limit).  The band is read through in order, twice (its
 * tiles, then its first reduced level), and done (may be NULL) hears of
 * rows each pass has finished with, so an out-of-core band can leave
 * memory as the passes go.  On failure
 * every rank returns the same error, rank 0 has already removed the
 * temporary, and only gd_output_abort (or a failing commit) remains.
 */
gd_status gd_output_write(gd_output *out, const gd_image *band, const gd_rows_done *done,
                          gd_err *err);

/*
 * Collective.  Rank 0 finishes the file and moves it to its path (imageio.h:
 * gd_writer_commit); every rank returns its status.  Frees out on every rank,
 * success or not.
 */
gd_status gd_output_commit(gd_output *out, gd_err *err);

/* Local.  Frees out; on rank 0 removes the temporary file.  out may be NULL. */
void gd_output_abort(gd_output *out);

/* ---- Test seam ---------------------------------------------------------------
 *
 * Fault tests need a failure on one rank at one step without a special
 * build.  When a fault function is set, every rank calls it before each of
 * these steps; a status other than GD_OK makes that step fail on that rank
 * with the message the function left in err, as a real failure would.
 */
typedef enum gd_output_step {
    GD_OUTPUT_STEP_OPEN = 0, /* rank 0, before opening the writer (level, row: 0) */
    GD_OUTPUT_STEP_ENCODE,   /* before encoding tile row `row` of level `level` */
    GD_OUTPUT_STEP_SHRINK,   /* before computing the rank's band of level `level` (>= 1) */
    GD_OUTPUT_STEP_APPEND,   /* rank 0, before appending tile row `row` of level `level` */
    GD_OUTPUT_STEP_COMMIT,   /* rank 0, before committing the writer */
    GD_OUTPUT_STEP_COUNT
} gd_output_step;

typedef gd_status (*gd_output_fault_fn)(int rank, gd_output_step step, int level, int row,
                                        gd_err *err);

/*
 * The test seam gd_output_begin takes (NULL in production; no globals):
 * fault: called at each step (NULL: none);
 * gather_limit: the encoded bytes rank 0 receives at a time (a round's tile
 * rows come in groups of consecutive ranks holding at most this much
 * together, or one rank's tile row, whatever its size); 0 = 256 MB.  Tests
 * lower it to see the groups at work.
 */
struct gd_output_seam {
    gd_output_fault_fn fault;
    size_t gather_limit;
};

#endif

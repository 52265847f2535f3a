/*
 * output.c: writing a distributed image to one file (see output.h).
 *
 * The distributed TIFF protocol.  n ranks, rank r; T the tile side; level 0
 * the caller's image, level k + 1 the 2x2 box average of level k
 * (gd_tiff_levels_plan gives every level's size and tile grid).
 *
 *   1. Samples.  Level 0's integer samples are gd_quantize_row of the
 *      caller's floats; level k + 1's rows are gd_pyramid_shrink_row of level
 *      k's rows 2y and min(2y + 1, h_k - 1).  These are the functions the
 *      streamed writer uses, so every sample of every level equals the one
 *      gd_writer_write_rows would make from the whole image.
 *   2. Ownership.  Level 0 stays where it is: the caller's float bands.
 *      Level k >= 1 is held as integer samples in row bands split like any
 *      other image (gd_dist_band(h_k, n, r)).  Rank r computes its band of
 *      level k + 1 from level k's rows [2 y0', min(2 y1', h_k)), which are its
 *      own band of level k give or take a few rows; those few come from
 *      their owners (gd_dist_fetch_rows for level 0, gd_dist_fetch_bytes
 *      above it).  Level k's band is freed once level k is written and level
 *      k + 1 made, so a rank holds at most two levels' bands.
 *   3. Rounds.  Level k's tile rows are dealt round-robin: in round j rank r
 *      takes tile row j n + r (when there is one), fetches its pixel rows
 *      from their owners, converts them to samples and encodes its tiles
 *      (gd_tile_coder, OpenMP over the tiles).  A tile's bytes depend only on
 *      its samples and the layout: not on the rank, the thread, or the file.
 *   4. Order.  The round's encoded tile rows are gathered to rank 0 in rank
 *      order, which is tile-row order (gd_dist_gather_bytes), each rank's
 *      bytes being the tile sizes then the tiles; in groups of consecutive
 *      ranks of at most the seam's gather_limit bytes (256 MB) when the
 *      round is larger.  Rank 0 appends them tile by tile with
 *      gd_writer_append_tile: level 0 straight into the file, levels >= 1
 *      into the writer's spool, copied at commit.  Levels are written in
 *      order 0, 1, ...  So the file receives the same tile bytes in the same
 *      order as from the streamed writer, and libtiff writes the same
 *      directories around them: byte for byte the same file for any n and
 *      any thread count.
 *   5. JPEG.  Encoded JPEG tiles refer to the JPEGTables of their file;
 *      gd_output_begin checks that every rank's encoders make exactly the
 *      tables rank 0's writer puts in the file.
 *   6. Failures.  Every local step (open, encode, shrink, append, commit) is
 *      followed by gd_dist_agree before the next collective, and a rank
 *      that failed still enters every collective of its step, with an empty
 *      request or no bytes.  So no rank waits for one that gave up, every
 *      rank returns the first failing rank's message, and rank 0 then
 *      removes the temporary at once: nothing ever appears at the path.
 *   7. Memory.  Per rank: a slice of a tile row of level-0 floats, one tile
 *      row of samples and its encoded bytes (twice: the coder's and the
 *      message), its bands of two levels (together under a third of its
 *      level-0 samples).  Rank 0 also one group of encoded tile rows (at most
 *      gather_limit bytes, or one tile row) and the writer's per-tile index.
 *      Nothing scales with the whole image, nor with the number of ranks.
 *      The caller's band is read through in row order twice (level 0's
 *      rounds, then the shrink to level 1, a slice at a time), and after
 *      each round or slice the caller hears (gd_rows_done) of the rows no
 *      rank will ask for again in that pass: an out-of-core band then
 *      leaves memory behind the passes instead of filling it.
 *   8. Only rank 0 touches the file system.
 *   9. Preview (gd_output_preview).  The levels go on being made by the same
 *      shrinks past the file's own (for any format, with or without a
 *      pyramid) down to the smallest level whose longest side still reaches
 *      the preview's; rank 0 gathers that level alone (under twice the
 *      preview's side per axis), resizes it to the preview's size and, once
 *      the output is committed, writes it as an 8-bit PNG.  The full image
 *      is never read back nor gathered.
 */
#include "gigadream/output.h"

#include "gigadream/resample.h"

#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows per gathered band on the PNG/JPEG path. */
#define GATHER_ROWS 256
/* Encoded bytes rank 0 gathers at a time (a group of ranks' tile rows; at least one). */
#define GATHER_LIMIT ((size_t)256 << 20)
/* Level-0 rows fetched at a time: slices of a tile row (the last one may be shorter). */
#define FETCH_ROWS 32
/* Level-1 rows made at a time from the caller's band (then told done: invariant 7). */
#define SHRINK_ROWS 64

/* One rank's rows of a level >= 1, integer samples, packed rows. */
typedef struct lband {
    int w, h;
    int y0, y1; /* owned: gd_dist_band(h, n, rank) */
    int lo, hi; /* allocated rows: the owned ones and those the next level needs */
    size_t row; /* bytes per row */
    uint8_t *mem;
} lband;

struct gd_output {
    gd_output_fault_fn fault; /* the test seam (NULL: none) */
    size_t gather_limit;
    gd_dist *dist;
    char *path; /* for messages */
    int rank, n;
    gd_format format;
    int w, h;
    gd_write_opts opts; /* bits, compression, tile (0 made 256), pyramid; no pointers kept */
    gd_tiff_levels plan;
    /* Every level the shrinks can make (pyramid or not, any format): plan's
     * sizes and more; the pass makes levels 0..last. */
    gd_tiff_levels lv;
    int last;
    /* The preview (invariant 9): its path, longest side (0 = none), the level
     * it is made from, and on rank 0 the finished preview pixels. */
    char *preview_path;
    int preview_side, preview_level;
    gd_image preview;
    size_t bps;           /* bytes per sample */
    gd_writer *wr;        /* rank 0 */
    gd_tile_coder *coder; /* TIFF */
    int written, failed;
    /* One tile row: level-0 floats, integer samples, this rank's encoded message. */
    float *rows;
    uint8_t *samples;
    uint8_t *msg;
    size_t msg_cap;
    /* Every rank: the round's message sizes.  Rank 0: one group of messages, and
     * how many bytes came from each rank. */
    double *sizes;
    unsigned char *round;
    size_t round_cap;
    size_t *lens;
    /* During gd_output_write: whom to tell of level-0 rows a pass is done with,
     * and how far the pass under way has told. */
    const gd_rows_done *done;
    int told;
};

/* The pass under way is done with the caller's rows above y (invariant 7). */
static void done_below(gd_output *o, int y)
{
    if (y > o->told) {
        gd_rows_done_tell(o->done, o->told, y);
        o->told = y;
    }
}

static gd_status fault(const gd_output *o, gd_output_step step, int level, int row, gd_err *err)
{
    return o->fault ? o->fault(o->rank, step, level, row, err) : GD_OK;
}

static void free_buffers(gd_output *o)
{
    gd_tile_coder_free(o->coder);
    o->coder = NULL;
    free(o->rows);
    free(o->samples);
    free(o->msg);
    free(o->round);
    free(o->lens);
    free(o->sizes);
    o->sizes = NULL;
    o->rows = NULL;
    o->samples = NULL;
    o->msg = o->round = NULL;
    o->lens = NULL;
    o->msg_cap = o->round_cap = 0;
}

void gd_output_abort(gd_output *o)
{
    if (!o)
        return;
    gd_writer_abort(o->wr);
    free_buffers(o);
    free(o->path);
    free(o->preview_path);
    gd_image_free(&o->preview);
    free(o);
}

/* After a failure agreed by all ranks: the temporary goes now, the output is spent. */
static gd_status fail(gd_output *o, gd_status st)
{
    gd_writer_abort(o->wr);
    o->wr = NULL;
    o->failed = 1;
    free_buffers(o);
    return st;
}

/* ---- Beginning ----------------------------------------------------------------- */

/* The options that shape pixels and tiles, as rank 0 has them, compared on every rank. */
static gd_status check_same_opts(gd_output *o, gd_err *err)
{
    int mine[6] = {o->w,
                   o->h,
                   (int)o->format,
                   o->opts.bits,
                   (int)o->opts.compression,
                   (o->opts.tile << 1) | (o->opts.pyramid != 0)};
    int root[6];
    memcpy(root, mine, sizeof root);
    gd_status st = gd_dist_bcast(o->dist, root, sizeof root, 0, err);
    if (st != GD_OK)
        return st;
    if (memcmp(root, mine, sizeof root) != 0)
        return gd_err_set(err, GD_EINPUT,
                          "internal: %s: output options differ between ranks (size %dx%d, bits %d, "
                          "compression %d, tile %d here; %dx%d, %d, %d, %d on rank 0)",
                          o->path, mine[0], mine[1], mine[3], mine[4], mine[5] >> 1, root[0],
                          root[1], root[3], root[4], root[5] >> 1);
    return GD_OK;
}

/* Every rank's encoders make the JPEGTables rank 0's writer puts in the file. */
static gd_status check_tables(gd_output *o, gd_err *err)
{
    const void *file = NULL, *mine = NULL;
    size_t file_n = 0, mine_n = 0;
    uint8_t *copy = NULL;
    gd_status st, local = gd_tile_coder_tables(o->coder, &mine, &mine_n, err);
    if (o->rank == 0)
        gd_writer_tables(o->wr, &file, &file_n);
    uint64_t n64 = file_n;
    if ((st = gd_dist_bcast(o->dist, &n64, sizeof n64, 0, err)) != GD_OK)
        return st;
    if (local == GD_OK && n64 > 0 && !(copy = gd_malloc((size_t)n64, "JPEG tables", err)))
        local = GD_ENOMEM;
    if ((st = gd_dist_agree(o->dist, local, err)) != GD_OK)
        goto done;
    if (n64 > 0) {
        if (o->rank == 0)
            memcpy(copy, file, (size_t)n64);
        if ((st = gd_dist_bcast(o->dist, copy, (size_t)n64, 0, err)) != GD_OK)
            goto done;
    }
    if (mine_n != n64 || (n64 > 0 && memcmp(copy, mine, mine_n) != 0))
        st = gd_err_set(err, GD_ELIB,
                        "%s: the JPEG encoder here makes other tables (%zu bytes) than rank 0's "
                        "file carries (%llu bytes): its tiles would not decode",
                        o->path, mine_n, (unsigned long long)n64);
done:
    free(copy);
    return st;
}

gd_status gd_output_begin(gd_dist *d, const char *path, int w, int h, const gd_write_opts *opts,
                          const gd_output_seam *seam, gd_output **out, gd_err *err)
{
    gd_status st, local = GD_OK;
    *out = NULL;
    gd_output *o = gd_calloc(1, sizeof *o, "the output", err);
    if (!o)
        local = GD_ENOMEM;
    else {
        o->fault = seam ? seam->fault : NULL;
        o->gather_limit = seam && seam->gather_limit ? seam->gather_limit : GATHER_LIMIT;
        o->dist = d;
        o->rank = gd_dist_rank(d);
        o->n = gd_dist_size(d);
        o->w = w;
        o->h = h;
        if (opts)
            o->opts = *opts;
        else
            o->opts.bits = 8;
        o->opts.description = NULL;
        o->opts.icc = NULL;
        o->opts.icc_len = 0;
        local = gd_format_from_path(path, &o->format, err);
        if (local == GD_OK && (w < 1 || h < 1))
            local = gd_err_set(err, GD_EINPUT, "%s: image size %d x %d: both sides must be >= 1",
                               path, w, h);
        if (o->format == GD_FORMAT_TIFF && o->opts.tile == 0)
            o->opts.tile = 256;
        o->bps = o->opts.bits == 16 ? 2 : 1;
        size_t n = path ? strlen(path) + 1 : 1;
        if (local == GD_OK && (o->path = gd_malloc(n, "a file name", err)) == NULL)
            local = GD_ENOMEM;
        if (o->path)
            memcpy(o->path, path ? path : "", n);
    }
    if ((st = gd_dist_agree(d, local, err)) != GD_OK)
        goto fail;
    if ((st = gd_dist_agree(d, check_same_opts(o, err), err)) != GD_OK)
        goto fail;
    if (o->rank == 0) {
        local = fault(o, GD_OUTPUT_STEP_OPEN, 0, 0, err);
        if (local == GD_OK)
            local = gd_writer_open(path, w, h, opts, &o->wr, err);
    }
    if ((st = gd_dist_agree(d, local, err)) != GD_OK)
        goto fail;
    /* Halving down to 16 pixels: more levels than any preview needs. */
    gd_tiff_levels_plan(w, h, &(gd_write_opts){.pyramid = 1, .tile = 16}, &o->lv);
    if (o->format == GD_FORMAT_TIFF) {
        gd_tiff_levels_plan(w, h, &o->opts, &o->plan);
        local = gd_tile_coder_new(&o->opts, &o->coder, err);
        if ((st = gd_dist_agree(d, local, err)) != GD_OK)
            goto fail;
        if ((st = gd_dist_agree(d, check_tables(o, err), err)) != GD_OK)
            goto fail;
    }
    *out = o;
    return GD_OK;
fail:
    gd_output_abort(o);
    return st;
}

/* ---- Level bands ------------------------------------------------------------------ */

static uint8_t *lrow(const lband *b, int y)
{
    return b->mem + (size_t)(y - b->lo) * b->row;
}

static void lband_free(lband *b)
{
    free(b->mem);
    memset(b, 0, sizeof *b);
}

/* The rows of level k - 1 that rank r needs to make its band of level k (k >= 1). */
static void parent_rows(const gd_output *o, int k, int r, int *a, int *b)
{
    int y0, y1;
    gd_dist_band(o->lv.h[k], o->n, r, &y0, &y1);
    *a = *b = 0;
    if (y1 > y0) {
        *a = 2 * y0;
        *b = 2 * y1 < o->lv.h[k - 1] ? 2 * y1 : o->lv.h[k - 1];
    }
}

/* Allocates this rank's band of level k (k >= 1), with room for what level k + 1 needs. */
static gd_status lband_alloc(const gd_output *o, int k, lband *b, gd_err *err)
{
    memset(b, 0, sizeof *b);
    b->w = o->lv.w[k];
    b->h = o->lv.h[k];
    b->row = (size_t)b->w * 3 * o->bps;
    gd_dist_band(b->h, o->n, o->rank, &b->y0, &b->y1);
    b->lo = b->y0;
    b->hi = b->y1;
    if (k + 1 <= o->last) {
        int a, z;
        parent_rows(o, k + 1, o->rank, &a, &z);
        if (z > a) {
            b->lo = a < b->lo ? a : b->lo;
            b->hi = z > b->hi ? z : b->hi;
        }
    }
    size_t bytes = (size_t)(b->hi - b->lo) * b->row;
    b->mem = gd_malloc(bytes ? bytes : 1, "a pyramid level band", err);
    return b->mem ? GD_OK : GD_ENOMEM;
}

/* ---- Level k + 1 from level k ------------------------------------------------------ */

/* Level-0 row y as floats: the caller's band or one of the fetched halo rows. */
static const float *float_row(const gd_image *band, const gd_image *above, const gd_image *below,
                              int y)
{
    if (y >= band->y0 && y < band->y1)
        return gd_image_row(band, y);
    if (y >= above->y0 && y < above->y1)
        return gd_image_row(above, y);
    return gd_image_row(below, y);
}

/*
 * Level 1 from the caller's float band: the level-0 rows this rank needs
 * beyond its band are fetched (a few rows above and below), each pair of
 * rows quantized and averaged.
 */
static gd_status shrink_floats(gd_output *o, const gd_image *band, lband *next, gd_err *err)
{
    gd_status st, local = GD_OK;
    gd_image above = {0}, below = {0};
    uint8_t *scratch = NULL;
    const int w = o->w, h = o->h;
    int a, z;
    parent_rows(o, 1, o->rank, &a, &z);
    /* [a, z) = [a, m0) above the band, its own rows, [m1, z) below it. */
    int m0 = band->y0 < a ? a : band->y0 > z ? z : band->y0;
    int m1 = band->y1 < m0 ? m0 : band->y1 > z ? z : band->y1;
    if ((local = gd_image_alloc(&above, w, h, 3, a, m0, err)) == GD_OK)
        local = gd_image_alloc(&below, w, h, 3, m1, z, err);
    if (local != GD_OK) {
        /* Take part with empty requests. */
        gd_image_free(&above);
        gd_image_free(&below);
        above = (gd_image){.w = w, .full_h = h, .c = 3, .stride = (size_t)w * 3};
        below = above;
    }
    if ((st = gd_dist_fetch_rows(o->dist, band, &above, err)) != GD_OK)
        goto done;
    if ((st = gd_dist_fetch_rows(o->dist, band, &below, err)) != GD_OK)
        goto done;
    if (local != GD_OK)
        goto done;
    if ((local = fault(o, GD_OUTPUT_STEP_SHRINK, 1, 0, err)) != GD_OK)
        goto done;
    const int nt = omp_get_max_threads() > 0 ? omp_get_max_threads() : 1;
    const size_t row = (size_t)w * 3 * o->bps;
    scratch = gd_malloc(2 * row * (size_t)nt, "pyramid rows", err);
    if (!scratch) {
        local = GD_ENOMEM;
        goto done;
    }
    const int bits = o->opts.bits;
    /* A slice of rows at a time, so that the caller's rows behind can leave memory. */
    o->told = 0;
    for (int s0 = next->y0; s0 < next->y1; s0 += SHRINK_ROWS) {
        const int s1 = s0 + SHRINK_ROWS < next->y1 ? s0 + SHRINK_ROWS : next->y1;
#pragma omp parallel num_threads(nt)
        {
            uint8_t *ra = scratch + 2 * row * (size_t)omp_get_thread_num(), *rb = ra + row;
#pragma omp for schedule(static)
            for (int y = s0; y < s1; y++) {
                const int y2 = 2 * y + 1 < h ? 2 * y + 1 : h - 1;
                gd_quantize_row(float_row(band, &above, &below, 2 * y), (size_t)w, bits, ra);
                gd_quantize_row(float_row(band, &above, &below, y2), (size_t)w, bits, rb);
                gd_pyramid_shrink_row(ra, rb, w, bits, lrow(next, y));
            }
        }
        done_below(o, 2 * s1 < h ? 2 * s1 : h);
    }
done:
    free(scratch);
    gd_image_free(&above);
    gd_image_free(&below);
    return st != GD_OK ? st : local;
}

/* Level k + 1 from this rank's band of level k >= 1, after fetching the rows it lacks. */
static gd_status shrink_samples(gd_output *o, int k, lband *cur, lband *next, gd_err *err)
{
    int a, z;
    parent_rows(o, k + 1, o->rank, &a, &z);
    gd_status st = gd_dist_fetch_bytes(o->dist, cur->h, cur->row, lrow(cur, cur->y0), a, z,
                                       z > a ? lrow(cur, a) : NULL, err);
    if (st != GD_OK)
        return st;
    if ((st = fault(o, GD_OUTPUT_STEP_SHRINK, k + 1, 0, err)) != GD_OK)
        return st;
    const int bits = o->opts.bits;
#pragma omp parallel for schedule(static)
    for (int y = next->y0; y < next->y1; y++) {
        const int y2 = 2 * y + 1 < cur->h ? 2 * y + 1 : cur->h - 1;
        gd_pyramid_shrink_row(lrow(cur, 2 * y), lrow(cur, y2), cur->w, bits, lrow(next, y));
    }
    return GD_OK;
}

/* ---- Writing a level in rounds ------------------------------------------------------- */

/* Makes sure this rank's message buffer holds n bytes. */
static gd_status msg_reserve(gd_output *o, size_t n, gd_err *err)
{
    if (n <= o->msg_cap)
        return GD_OK;
    size_t cap = o->msg_cap ? o->msg_cap : 65536;
    while (cap < n)
        cap *= 2;
    uint8_t *p = realloc(o->msg, cap);
    if (!p)
        return gd_err_set(err, GD_ENOMEM, "out of memory for %zu bytes of encoded tiles", n);
    o->msg = p;
    o->msg_cap = cap;
    return GD_OK;
}

/*
 * Encodes tile row t of level k from its samples (`rows` rows of the
 * level's width, packed) into this rank's message: the tiles' sizes as
 * uint64, then their bytes.  *len is the message's length.
 */
static gd_status encode_row(gd_output *o, int k, int t, int rows, size_t *len, gd_err *err)
{
    const int w = o->plan.w[k];
    gd_status st = fault(o, GD_OUTPUT_STEP_ENCODE, k, t, err);
    if (st == GD_OK)
        st = gd_tile_coder_encode(o->coder, o->samples, (size_t)w * 3 * o->bps, w, rows, err);
    if (st != GD_OK)
        return gd_err_prefix(err, "%s: level %d, tile row %d", o->path, k, t + 1);
    const int n = gd_tile_coder_tiles(o->coder);
    size_t total = sizeof(uint64_t) * (size_t)n;
    for (int i = 0; i < n; i++) {
        size_t m;
        gd_tile_coder_tile(o->coder, i, &m);
        total += m;
    }
    if ((st = msg_reserve(o, total, err)) != GD_OK)
        return st;
    size_t at = sizeof(uint64_t) * (size_t)n;
    for (int i = 0; i < n; i++) {
        size_t m;
        const uint8_t *p = gd_tile_coder_tile(o->coder, i, &m);
        uint64_t m64 = m;
        memcpy(o->msg + sizeof(uint64_t) * (size_t)i, &m64, sizeof m64);
        memcpy(o->msg + at, p, m);
        at += m;
    }
    *len = total;
    return GD_OK;
}

/*
 * Rank 0: appends the tile rows of round j of level k that ranks [g0, g1)
 * sent, in rank (= tile-row) order.
 */
static gd_status append_group(gd_output *o, int k, int j, int g0, int g1, gd_err *err)
{
    const int across = o->plan.across[k], down = o->plan.down[k];
    const size_t head = sizeof(uint64_t) * (size_t)across;
    const unsigned char *m = o->round;
    for (int r = g0; r < g1 && j * o->n + r < down; r++) {
        const int t = j * o->n + r;
        const size_t len = o->lens[r];
        gd_status st = fault(o, GD_OUTPUT_STEP_APPEND, k, t, err);
        if (st != GD_OK)
            return st;
        if (len < head)
            return gd_err_set(err, GD_ELIB, "internal: rank %d sent %zu bytes for tile row %d", r,
                              len, t + 1);
        size_t at = head;
        for (int i = 0; i < across; i++) {
            uint64_t n;
            memcpy(&n, m + sizeof n * (size_t)i, sizeof n);
            if (n > len - at)
                return gd_err_set(err, GD_ELIB,
                                  "internal: rank %d sent a short tile row %d (%zu bytes)", r,
                                  t + 1, len);
            st = gd_writer_append_tile(o->wr, k, (uint32_t)t * (uint32_t)across + (uint32_t)i,
                                       m + at, (size_t)n, err);
            if (st != GD_OK)
                return st;
            at += (size_t)n;
        }
        m += len;
    }
    return GD_OK;
}

/*
 * Level 0's rows [a, z) (empty when the rank has no tile row this round) as
 * samples: fetched as floats FETCH_ROWS rows at a time, so that only a slice
 * of a tile row of floats is ever held, and quantized.  Every rank makes the
 * same number of fetches.
 */
static gd_status fetch_level0(gd_output *o, const gd_image *band, int a, int z, gd_err *err)
{
    const int w = o->w, h = o->h;
    const size_t row = (size_t)w * 3 * o->bps;
    for (int s = 0; s < o->opts.tile; s += FETCH_ROWS) {
        int s0 = a + s < z ? a + s : 0, s1 = a + s < z ? a + s + FETCH_ROWS : 0;
        if (s1 > z)
            s1 = z;
        gd_image dst = {.w = w,
                        .full_h = h,
                        .c = 3,
                        .y0 = s0,
                        .y1 = s1,
                        .stride = (size_t)w * 3,
                        .data = o->rows};
        gd_status st = gd_dist_fetch_rows(o->dist, band, &dst, err);
        if (st != GD_OK)
            return st;
#pragma omp parallel for schedule(static)
        for (int y = s0; y < s1; y++)
            gd_quantize_row(gd_image_row(&dst, y), (size_t)w, o->opts.bits,
                            o->samples + (size_t)(y - a) * row);
    }
    return GD_OK;
}

/*
 * Rank 0 receives round j's messages (this rank's is len bytes) and appends
 * them.  Every rank learns every message's size first, then the ranks are
 * taken in groups of consecutive ranks holding at most gather_limit bytes
 * together (or one rank's message, whatever its size), one gather per group:
 * so rank 0 never holds more than that however many ranks there are.
 */
static gd_status gather_round(gd_output *o, int k, int j, size_t len, gd_err *err)
{
    o->sizes[o->rank] = (double)len;
    gd_status st = gd_dist_gather_ids(o->dist, o->n, o->rank, 1, o->sizes, err);
    if ((st = gd_dist_agree(o->dist, st, err)) != GD_OK)
        return st;
    for (int g0 = 0, g1; g0 < o->n; g0 = g1) {
        double total = o->sizes[g0];
        for (g1 = g0 + 1; g1 < o->n && total + o->sizes[g1] <= (double)o->gather_limit; g1++)
            total += o->sizes[g1];
        const size_t send = o->rank >= g0 && o->rank < g1 ? len : 0;
        st = gd_dist_gather_bytes(o->dist, o->msg, send, &o->round, &o->round_cap, o->lens, err);
        if (st != GD_OK)
            return gd_dist_agree(o->dist, st, err);
        gd_status local = o->rank == 0 ? append_group(o, k, j, g0, g1, err) : GD_OK;
        if ((st = gd_dist_agree(o->dist, local, err)) != GD_OK)
            return st;
    }
    return GD_OK;
}

/*
 * Writes level k in rounds (invariants 3 and 4).  Level 0 comes from the
 * caller's float band, higher levels from this rank's band of samples.
 */
static gd_status write_level(gd_output *o, int k, const gd_image *band, const lband *lb,
                             gd_err *err)
{
    gd_status st, local;
    const int T = o->opts.tile, down = o->plan.down[k], h = o->plan.h[k];
    const int rounds = (down + o->n - 1) / o->n;
    for (int j = 0; j < rounds; j++) {
        const int t = j * o->n + o->rank;
        const int has = t < down;
        const int a = has ? t * T : 0, z = has ? (t * T + T < h ? t * T + T : h) : 0;
        size_t len = 0;
        local = GD_OK;
        if (k == 0) {
            st = fetch_level0(o, band, a, z, err);
        } else {
            st = gd_dist_fetch_bytes(o->dist, h, lb->row, lrow(lb, lb->y0), a, z, o->samples, err);
        }
        if (st == GD_OK && has)
            local = encode_row(o, k, t, z - a, &len, err);
        if ((st = gd_dist_agree(o->dist, st != GD_OK ? st : local, err)) != GD_OK)
            return st;
        if ((st = gather_round(o, k, j, len, err)) != GD_OK)
            return st;
        /* Rounds take tile rows in order: no rank asks for rows above these again. */
        if (k == 0)
            done_below(o, (j + 1) * o->n * T < h ? (j + 1) * o->n * T : h);
    }
    return GD_OK;
}

/* ---- The TIFF path ------------------------------------------------------------------ */

/* The tile-row buffers, sized for level 0 (the widest). */
static gd_status alloc_row_buffers(gd_output *o, gd_err *err)
{
    const size_t T = (size_t)o->opts.tile, w = (size_t)o->w;
    const size_t slice = T < FETCH_ROWS ? T : FETCH_ROWS;
    o->rows = gd_malloc(slice * w * 3 * sizeof(float), "a slice of a tile row of pixels", err);
    o->samples = o->rows ? gd_malloc(T * w * 3 * o->bps, "a tile row of samples", err) : NULL;
    if (o->samples)
        o->sizes = gd_calloc((size_t)o->n, sizeof *o->sizes, "message sizes", err);
    if (o->sizes && o->rank == 0)
        o->lens = gd_calloc((size_t)o->n, sizeof *o->lens, "gathered sizes", err);
    if (!o->rows || !o->samples || !o->sizes || (o->rank == 0 && !o->lens))
        return GD_ENOMEM;
    return msg_reserve(o, 1, err);
}

/*
 * Collective.  Rank 0 takes level k whole (level 0: the caller's floats;
 * above: this rank's band `cur` of samples) and makes the preview from it
 * (invariant 9).  Level k is under twice the preview's side per axis, or is
 * the image itself when that is no larger than the preview.
 */
static gd_status capture_preview(gd_output *o, int k, const gd_image *band, const lband *cur,
                                 gd_err *err)
{
    gd_status st, local = GD_OK;
    const int w = o->lv.w[k], h = o->lv.h[k];
    const size_t row = (size_t)w * 3 * o->bps;
    gd_image level = {0};
    uint8_t *bytes = NULL;
    if (o->rank == 0) {
        local = gd_image_alloc_full(&level, w, h, 3, err);
        if (local == GD_OK && k > 0 &&
            !(bytes = gd_malloc(row * (size_t)h, "the preview's pyramid level", err)))
            local = GD_ENOMEM;
    }
    const int want = o->rank == 0 && local == GD_OK;
    if (k == 0) {
        /* Others ask for nothing; rank 0 for every row (nothing if it failed). */
        gd_image dst = *band;
        dst.y1 = dst.y0;
        if (want)
            dst = level;
        st = gd_dist_fetch_rows(o->dist, band, &dst, err);
    } else {
        st = gd_dist_fetch_bytes(o->dist, cur->h, cur->row, lrow(cur, cur->y0), 0, want ? h : 0,
                                 want ? bytes : NULL, err);
    }
    if (st == GD_OK && want && k > 0) {
        /* Samples back to the floats the writer quantizes: 16-bit s is s / 257 of 255. */
        const size_t n = (size_t)w * 3;
        for (int y = 0; y < h; y++) {
            float *p = gd_image_row(&level, y);
            if (o->bps == 2) {
                const uint16_t *q = (const uint16_t *)(bytes + (size_t)y * row);
                for (size_t i = 0; i < n; i++)
                    p[i] = (float)q[i] * (255.0f / 65535.0f);
            } else {
                const uint8_t *q = bytes + (size_t)y * row;
                for (size_t i = 0; i < n; i++)
                    p[i] = (float)q[i];
            }
        }
    }
    free(bytes);
    if (st == GD_OK && want) {
        const int side = o->preview_side, big = w > h ? w : h;
        if (big <= side) {
            o->preview = level;
            level = (gd_image){0};
        } else {
            /* Longest side exactly `side`, the other in proportion (at least 1). */
            long pw = w >= h ? side : ((long)w * side + big / 2) / big;
            long ph = h > w ? side : ((long)h * side + big / 2) / big;
            local = gd_image_alloc_full(&o->preview, pw > 0 ? (int)pw : 1, ph > 0 ? (int)ph : 1, 3,
                                        err);
            /* The triangle filter averages when shrinking: no aliasing. */
            if (local == GD_OK)
                local = gd_resample(&level, &o->preview, GD_FILTER_TRIANGLE, err);
        }
    }
    gd_image_free(&level);
    return gd_dist_agree(o->dist, st != GD_OK ? st : local, err);
}

/*
 * Makes levels 0..last by the shrinks of invariants 1 and 2, writing each of
 * the file's levels when `write` (TIFF) and taking the preview's level.
 */
static gd_status make_levels(gd_output *o, const gd_image *band, int write, gd_err *err)
{
    gd_status st = GD_OK;
    lband cur = {0}, next = {0};
    const int want = o->preview_side > 0 ? o->preview_level : -1;
    o->last = write ? o->plan.n - 1 : 0;
    if (want > o->last)
        o->last = want;
    for (int k = 0; k <= o->last; k++) {
        if (write && k < o->plan.n && (st = write_level(o, k, band, &cur, err)) != GD_OK)
            goto done;
        /* Level 0's float slice is needed no more. */
        free(o->rows);
        o->rows = NULL;
        if (k == want && (st = capture_preview(o, k, band, &cur, err)) != GD_OK)
            goto done;
        if (k == o->last)
            break;
        gd_status local = lband_alloc(o, k + 1, &next, err);
        if ((st = gd_dist_agree(o->dist, local, err)) != GD_OK)
            goto done;
        local =
            k == 0 ? shrink_floats(o, band, &next, err) : shrink_samples(o, k, &cur, &next, err);
        if ((st = gd_dist_agree(o->dist, local, err)) != GD_OK)
            goto done;
        lband_free(&cur);
        cur = next;
        memset(&next, 0, sizeof next);
    }
done:
    lband_free(&cur);
    lband_free(&next);
    return st;
}

static gd_status write_tiff(gd_output *o, const gd_image *band, gd_err *err)
{
    gd_status st;
    if ((st = gd_dist_agree(o->dist, alloc_row_buffers(o, err), err)) != GD_OK)
        return st;
    return make_levels(o, band, 1, err);
}

/* ---- The PNG/JPEG path ----------------------------------------------------------------- */

/* Rank 0 gathers the image GATHER_ROWS rows at a time and streams it to the writer. */
static gd_status write_gathered(gd_output *o, const gd_image *band, gd_err *err)
{
    gd_status st, local = GD_OK;
    const int w = o->w, h = o->h;
    gd_image chunk = {0};
    if (o->rank == 0)
        local = gd_image_alloc(&chunk, w, h, 3, 0, GATHER_ROWS < h ? GATHER_ROWS : h, err);
    if ((st = gd_dist_agree(o->dist, local, err)) != GD_OK)
        return st;
    for (int c0 = 0; c0 < h; c0 += GATHER_ROWS) {
        const int c1 = c0 + GATHER_ROWS < h ? c0 + GATHER_ROWS : h;
        gd_image dst = chunk;
        if (o->rank == 0) {
            dst.y0 = c0;
            dst.y1 = c1;
        } else {
            dst = *band;
            dst.y1 = dst.y0;
        }
        if ((st = gd_dist_fetch_rows(o->dist, band, &dst, err)) != GD_OK)
            break;
        local = o->rank == 0 ? gd_writer_write_rows(o->wr, &dst, err) : GD_OK;
        if ((st = gd_dist_agree(o->dist, local, err)) != GD_OK)
            break;
        done_below(o, c1);
    }
    gd_image_free(&chunk);
    return st;
}

/* ---- Writing and committing -------------------------------------------------------------- */

gd_status gd_output_write(gd_output *o, const gd_image *band, const gd_rows_done *done, gd_err *err)
{
    gd_status local = GD_OK, st;
    int y0, y1;
    gd_dist_band(o->h, o->n, o->rank, &y0, &y1);
    if (o->written || o->failed)
        local = gd_err_set(err, GD_EINPUT, "internal: the output was %s already",
                           o->failed ? "abandoned" : "written");
    else if (band->w != o->w || band->full_h != o->h || band->c != 3 || band->y0 != y0 ||
             band->y1 != y1 || band->stride != (size_t)o->w * 3)
        local = gd_err_set(err, GD_EINPUT,
                           "internal: rank %d passed rows [%d,%d) of a %dx%dx%d image (stride "
                           "%zu) to a %dx%d output; its band is [%d,%d), packed RGB",
                           o->rank, band->y0, band->y1, band->w, band->full_h, band->c,
                           band->stride, o->w, o->h, y0, y1);
    if ((st = gd_dist_agree(o->dist, local, err)) != GD_OK)
        return o->written ? st : fail(o, st);
    o->written = 1;
    o->done = done;
    o->told = 0;
    st = o->format == GD_FORMAT_TIFF ? write_tiff(o, band, err) : write_gathered(o, band, err);
    o->told = 0;
    if (st == GD_OK && o->format != GD_FORMAT_TIFF && o->preview_side > 0)
        st = make_levels(o, band, 0, err);
    o->done = NULL;
    if (st != GD_OK)
        return fail(o, st);
    free_buffers(o);
    return GD_OK;
}

gd_status gd_output_commit(gd_output *o, gd_err *err)
{
    gd_status local = GD_OK, st;
    if (o->rank == 0) {
        local = fault(o, GD_OUTPUT_STEP_COMMIT, 0, 0, err);
        if (local == GD_OK && !o->wr)
            local = gd_err_set(err, GD_EINPUT, "internal: no output to commit");
        if (local == GD_OK) {
            local = gd_writer_commit(o->wr, err);
            o->wr = NULL; /* freed by commit, success or not */
        }
    }
    st = gd_dist_agree(o->dist, local, err);
    if (st == GD_OK && o->preview_side > 0) {
        /* Written after the output, under a temporary name like any file,
         * so a preview never stands beside a missing or partial output.  It
         * replaces an older preview: it belongs to the output just written. */
        local = GD_OK;
        if (o->rank == 0) {
            char desc[600];
            snprintf(desc, sizeof desc, "gigadream preview of %.500s", o->path);
            gd_write_opts po = {.bits = 8, .description = desc, .overwrite = 1};
            gd_writer *wr = NULL;
            local = gd_writer_open(o->preview_path, o->preview.w, o->preview.full_h, &po, &wr, err);
            if (local == GD_OK && (local = gd_writer_write_rows(wr, &o->preview, err)) != GD_OK)
                gd_writer_abort(wr);
            else if (local == GD_OK)
                local = gd_writer_commit(wr, err);
            if (local != GD_OK)
                gd_err_prefix(err, "%s is written, but not its preview", o->path);
        }
        st = gd_dist_agree(o->dist, local, err);
    }
    gd_output_abort(o);
    return st;
}

gd_status gd_output_preview(gd_output *o, const char *path, int side, gd_err *err)
{
    if (side < 0 || side > 65535)
        return gd_err_set(err, GD_EINPUT, "%s: preview side %d: expected 0 (none) to 65535", path,
                          side);
    if (o->written || o->failed)
        return gd_err_set(err, GD_EINPUT, "internal: preview asked for after the output's write");
    free(o->preview_path);
    o->preview_path = NULL;
    o->preview_side = 0;
    if (side == 0)
        return GD_OK;
    size_t n = strlen(path) + 1;
    if (!(o->preview_path = gd_malloc(n, "a file name", err)))
        return GD_ENOMEM;
    memcpy(o->preview_path, path, n);
    o->preview_side = side;
    /* The smallest level whose longest side still reaches `side`. */
    o->preview_level = 0;
    for (int k = 1; k < o->lv.n; k++) {
        if ((o->lv.w[k] > o->lv.h[k] ? o->lv.w[k] : o->lv.h[k]) < side)
            break;
        o->preview_level = k;
    }
    return GD_OK;
}

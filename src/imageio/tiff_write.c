/*
 * tiff_write.c: the streamed tiled (Big)TIFF writer, with an optional
 * pyramid of reduced-resolution levels.
 *
 * Invariants:
 *   1. Memory is a few tile-row bands, never the image: each level holds one
 *      band of `tile` rows of integer samples (its width rounded up to whole
 *      tiles); the encoded tiles of one band; one tile buffer per encoder.
 *      A writer fed raw tiles allocates no bands at all.
 *   2. Encoding a tile and appending an encoded tile are separate steps.
 *      gd_tile_coder (tiff_tiles.c) turns a band of samples into the
 *      exact bytes TIFF stores for each tile, in parallel (one encoder per
 *      OpenMP thread); append_tile() hands such bytes to the output with
 *      TIFFWriteRawTile, in tile order, so the file's bytes do not depend on
 *      the thread count.  gd_writer_append_tile enters at that second step:
 *      a distributed writer encodes on every rank and appends on one.
 *   3. Level 0 (full resolution) is the first directory and streams straight
 *      into the output.  Level k + 1 is the 2x2 box average (rounded half up)
 *      of level k's integer samples, (w + 1) / 2 by (h + 1) / 2 (an odd last
 *      column or row averages with itself; gd_pyramid_shrink_row), made row
 *      by row as level k's rows arrive.  Its encoded tiles go to a spool file
 *      (created and unlinked at once, so it never outlives the process); at
 *      commit, after level 0's directory, each level becomes a further
 *      directory (SubfileType = reduced image) whose tiles are copied raw
 *      from the spool.  Levels stop at the first one that fits in one tile
 *      (gd_tiff_levels_plan).  Each level's tiles reach the file or spool in
 *      index order; commit checks that all of them did.
 *   4. BigTIFF when forced or when the uncompressed samples of all levels
 *      (tiles padded) could pass 3.5e9 bytes: compression is never counted on.
 *   5. JPEG compression: YCbCr without chroma subsampling at quality 95 (as
 *      libvips does for Q >= 90), tables in the JPEGTables tag, which is copied
 *      from the encoders to every directory.
 */
#include "tiff_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BIGTIFF_LIMIT 3.5e9

typedef struct level {
    int w, h, across, down;
    uint8_t *band; /* `tile` rows of across * tile pixels */
    int band_y0;   /* first row of the level held in band */
    int rows;      /* rows filled: [band_y0, band_y0 + rows) */
    uint32_t next; /* tiles [0, next) are in the file or the spool */
    uint64_t *off; /* spooled tiles (levels >= 1) */
    uint32_t *len;
} level;

typedef struct tiff_writer {
    TIFF *tif;
    io_msgs msgs;
    io_tiff_layout layout;
    int bps; /* bytes per sample */
    int nlevels;
    level *lv;
    gd_tile_coder *coder;
    int spool_fd;
    uint64_t spool_end;
    uint8_t *copy; /* commit: one raw tile from the spool */
    size_t copy_cap;
    void *jpegtables;
    uint32_t jpegtables_len;
} tiff_writer;

static gd_status tw_write_rows(gd_writer *wr, const gd_image *band, gd_err *err);
static gd_status tw_finish(gd_writer *wr, gd_err *err);
static void tw_discard(gd_writer *wr);
static gd_status tw_append_tile(gd_writer *wr, int k, uint32_t idx, const void *p, size_t n,
                                gd_err *err);
static void tw_tables(const gd_writer *wr, const void **p, size_t *n);
static const io_writer_ops tiff_writer_ops = {.write_rows = tw_write_rows,
                                              .finish = tw_finish,
                                              .discard = tw_discard,
                                              .append_tile = tw_append_tile,
                                              .tables = tw_tables};

/* ---- Appending encoded tiles -------------------------------------------------- */

/* Appends one encoded tile of the current output directory. */
static gd_status append_tile(gd_writer *wr, tiff_writer *tw, uint32_t idx, const uint8_t *p,
                             size_t n, gd_err *err)
{
    io_msgs_clear(&tw->msgs);
    tmsize_t got = TIFFWriteRawTile(tw->tif, idx, (void *)p, (tmsize_t)n);
    if (got != (tmsize_t)n || tw->msgs.errors)
        return gd_err_set(err, GD_EIO, "%s: cannot write tile %u: %s", wr->tmp, idx + 1,
                          io_msgs_text(&tw->msgs, strerror(errno)));
    return GD_OK;
}

/* Keeps a level >= 1 tile in the spool until commit. */
static gd_status spool_tile(gd_writer *wr, tiff_writer *tw, level *L, uint32_t idx,
                            const uint8_t *p, size_t n, gd_err *err)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = pwrite(tw->spool_fd, p + done, n - done, (off_t)(tw->spool_end + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return gd_err_set(err, GD_EIO, "%s: cannot write the pyramid spool: %s", wr->path,
                              k < 0 ? strerror(errno) : "no progress");
        done += (size_t)k;
    }
    L->off[idx] = tw->spool_end;
    L->len[idx] = (uint32_t)n;
    tw->spool_end += n;
    return GD_OK;
}

/* ---- Levels ---------------------------------------------------------------------- */

static size_t level_stride(const tiff_writer *tw, const level *L)
{
    return (size_t)L->across * tw->layout.tile * 3 * tw->bps;
}

/* Hands one encoded tile of level k, the next in index order, to the file or the spool. */
static gd_status put_tile(gd_writer *wr, tiff_writer *tw, int k, const uint8_t *p, size_t n,
                          gd_err *err)
{
    level *L = &tw->lv[k];
    gd_status st = k == 0 ? append_tile(wr, tw, L->next, p, n, err)
                          : spool_tile(wr, tw, L, L->next, p, n, err);
    if (st == GD_OK)
        L->next++;
    return st;
}

/* Encodes the band of level k (tiles in parallel) and appends or spools them. */
static gd_status flush_band(gd_writer *wr, tiff_writer *tw, int k, gd_err *err)
{
    level *L = &tw->lv[k];
    gd_status st =
        gd_tile_coder_encode(tw->coder, L->band, level_stride(tw, L), L->w, L->rows, err);
    if (st != GD_OK)
        return gd_err_prefix(err, "%s: level %d, tile row %d", wr->path, k,
                             L->band_y0 / tw->layout.tile + 1);
    for (int t = 0; t < gd_tile_coder_tiles(tw->coder); t++) {
        size_t n;
        const uint8_t *p = gd_tile_coder_tile(tw->coder, t, &n);
        if ((st = put_tile(wr, tw, k, p, n, err)) != GD_OK)
            return st;
    }
    L->band_y0 += tw->layout.tile;
    L->rows = 0;
    return GD_OK;
}

/* Averages band rows ra and rb of P into the next row of child C. */
static void shrink_row(const tiff_writer *tw, const level *P, int ra, int rb, level *C)
{
    const size_t ps = level_stride(tw, P), cs = level_stride(tw, C);
    gd_pyramid_shrink_row(P->band + (size_t)ra * ps, P->band + (size_t)rb * ps, P->w,
                          tw->layout.bits, C->band + (size_t)C->rows * cs);
}

/*
 * Called when a row has been added to level k's band: feeds the level below
 * (every second row, and the last) and flushes the band when it is full or
 * the level is complete.  Recursion depth is the level count.
 */
static gd_status row_added(gd_writer *wr, tiff_writer *tw, int k, gd_err *err)
{
    level *L = &tw->lv[k];
    const int r = L->band_y0 + L->rows - 1; /* the row just added */
    if (k + 1 < tw->nlevels && (r % 2 == 1 || r == L->h - 1)) {
        /* band_y0 is a multiple of the (even) tile side, so r & ~1 is in the band. */
        level *C = &tw->lv[k + 1];
        shrink_row(tw, L, (r & ~1) - L->band_y0, r - L->band_y0, C);
        C->rows++;
        gd_status st = row_added(wr, tw, k + 1, err);
        if (st != GD_OK)
            return st;
    }
    if (L->rows == tw->layout.tile || r == L->h - 1)
        return flush_band(wr, tw, k, err);
    return GD_OK;
}

/* The bands of every level, made when the first rows arrive (raw tiles need none). */
static gd_status alloc_bands(gd_writer *wr, tiff_writer *tw, gd_err *err)
{
    for (int k = 0; k < tw->nlevels; k++) {
        level *L = &tw->lv[k];
        if (!L->band && !(L->band = gd_calloc((size_t)tw->layout.tile, level_stride(tw, L),
                                              "a tile-row band", err)))
            return gd_err_prefix(err, "%s", wr->path);
    }
    return GD_OK;
}

static gd_status tw_write_rows(gd_writer *wr, const gd_image *band, gd_err *err)
{
    tiff_writer *tw = wr->impl;
    level *L = &tw->lv[0];
    const size_t stride = level_stride(tw, L);
    gd_status st = alloc_bands(wr, tw, err);
    if (st != GD_OK)
        return st;
    int y = band->y0;
    while (y < band->y1) {
        /* The rows that fit in level 0's current band. */
        int y_end =
            L->band_y0 + tw->layout.tile < band->y1 ? L->band_y0 + tw->layout.tile : band->y1;
        const int first = L->rows;
#pragma omp parallel for schedule(static) if ((size_t)(y_end - y) * (size_t)wr->w > 65536)
        for (int yy = y; yy < y_end; yy++)
            io_quantize_row(gd_image_row(band, yy), (size_t)wr->w, tw->layout.bits, 0,
                            L->band + (size_t)(first + yy - y) * stride);
        for (; y < y_end; y++) {
            L->rows++;
            st = row_added(wr, tw, 0, err);
            if (st != GD_OK)
                return st;
        }
    }
    return GD_OK;
}

/* ---- Raw tiles ------------------------------------------------------------------------ */

static gd_status tw_append_tile(gd_writer *wr, int k, uint32_t idx, const void *p, size_t n,
                                gd_err *err)
{
    tiff_writer *tw = wr->impl;
    if (k < 0 || k >= tw->nlevels)
        return gd_err_set(err, GD_EINPUT, "%s: no level %d in a TIFF of %d level%s", wr->path, k,
                          tw->nlevels, tw->nlevels == 1 ? "" : "s");
    level *L = &tw->lv[k];
    const uint32_t ntiles = (uint32_t)L->across * (uint32_t)L->down;
    if (idx != L->next || idx >= ntiles)
        return gd_err_set(err, GD_EINPUT,
                          "%s: tile %u of level %d arrived out of order (expected tile %u of %u)",
                          wr->path, idx, k, L->next, ntiles);
    if (n == 0 || n > UINT32_MAX)
        return gd_err_set(err, GD_EINPUT, "%s: tile %u of level %d has %zu bytes", wr->path, idx, k,
                          n);
    return put_tile(wr, tw, k, p, n, err);
}

static void tw_tables(const gd_writer *wr, const void **p, size_t *n)
{
    const tiff_writer *tw = wr->impl;
    *p = tw->jpegtables;
    *n = tw->jpegtables_len;
}

/* ---- Directories -------------------------------------------------------------------- */

/* All tags of the directory of level k, set on the output's current directory. */
static gd_status set_directory(gd_writer *wr, tiff_writer *tw, int k, gd_err *err)
{
    const level *L = &tw->lv[k];
    TIFF *tif = tw->tif;
    io_msgs_clear(&tw->msgs);
    int ok = io_tiff_set_layout(tif, &tw->layout, (uint32_t)L->w, (uint32_t)L->h) &&
             TIFFSetField(tif, TIFFTAG_SOFTWARE, "gigadream " GD_VERSION);
    if (ok && k > 0)
        ok = TIFFSetField(tif, TIFFTAG_SUBFILETYPE, FILETYPE_REDUCEDIMAGE);
    if (ok && tw->layout.compression == COMPRESSION_JPEG)
        ok = TIFFSetField(tif, TIFFTAG_JPEGTABLES, tw->jpegtables_len, tw->jpegtables);
    if (ok && wr->opts.dpi > 0) {
        /* A level covers the same print area with fewer pixels. */
        float xr = (float)(wr->opts.dpi * L->w / wr->w), yr = (float)(wr->opts.dpi * L->h / wr->h);
        ok = TIFFSetField(tif, TIFFTAG_XRESOLUTION, xr) &&
             TIFFSetField(tif, TIFFTAG_YRESOLUTION, yr) &&
             TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
    }
    if (ok && k == 0 && wr->opts.description)
        ok = TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, wr->opts.description);
    if (ok && k == 0 && wr->opts.icc_len) {
        if (wr->opts.icc_len > UINT32_MAX)
            return gd_err_set(err, GD_EINPUT, "%s: ICC profile of %zu bytes is too large", wr->path,
                              wr->opts.icc_len);
        ok = TIFFSetField(tif, TIFFTAG_ICCPROFILE, (uint32_t)wr->opts.icc_len, wr->opts.icc);
    }
    if (!ok)
        return gd_err_set(err, GD_ELIB, "%s: libtiff refused the tags of level %d: %s", wr->path, k,
                          io_msgs_text(&tw->msgs, "unknown reason"));
    return GD_OK;
}

static gd_status write_directory(gd_writer *wr, tiff_writer *tw, int k, gd_err *err)
{
    io_msgs_clear(&tw->msgs);
    if (!TIFFWriteDirectory(tw->tif))
        return gd_err_set(err, GD_EIO, "%s: cannot write the directory of level %d: %s", wr->tmp, k,
                          io_msgs_text(&tw->msgs, strerror(errno)));
    return GD_OK;
}

/* Copies level k's spooled tiles into a new directory. */
static gd_status copy_level(gd_writer *wr, tiff_writer *tw, int k, gd_err *err)
{
    level *L = &tw->lv[k];
    gd_status st = set_directory(wr, tw, k, err);
    if (st != GD_OK)
        return st;
    const uint32_t ntiles = (uint32_t)L->across * (uint32_t)L->down;
    for (uint32_t i = 0; i < ntiles; i++) {
        size_t n = L->len[i];
        if (n > tw->copy_cap) {
            uint8_t *p = realloc(tw->copy, n);
            if (!p)
                return gd_err_set(err, GD_ENOMEM, "%s: out of memory copying a pyramid tile",
                                  wr->path);
            tw->copy = p;
            tw->copy_cap = n;
        }
        size_t done = 0;
        while (done < n) {
            ssize_t got = pread(tw->spool_fd, tw->copy + done, n - done, (off_t)(L->off[i] + done));
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                return gd_err_set(err, GD_EIO, "%s: cannot read back the pyramid spool: %s",
                                  wr->path, got < 0 ? strerror(errno) : "short file");
            done += (size_t)got;
        }
        if ((st = append_tile(wr, tw, i, tw->copy, n, err)) != GD_OK)
            return st;
    }
    return write_directory(wr, tw, k, err);
}

static gd_status tw_finish(gd_writer *wr, gd_err *err)
{
    tiff_writer *tw = wr->impl;
    for (int k = 0; k < tw->nlevels; k++) {
        const level *L = &tw->lv[k];
        const uint32_t ntiles = (uint32_t)L->across * (uint32_t)L->down;
        if (L->next != ntiles)
            return gd_err_set(err, GD_EINPUT, "%s: only %u of %u tiles of level %d arrived",
                              wr->path, L->next, ntiles, k);
    }
    gd_status st = write_directory(wr, tw, 0, err);
    for (int k = 1; st == GD_OK && k < tw->nlevels; k++)
        st = copy_level(wr, tw, k, err);
    if (st != GD_OK)
        return st;
    io_msgs_clear(&tw->msgs);
    if (!TIFFFlush(tw->tif) || tw->msgs.errors)
        return gd_err_set(err, GD_EIO, "%s: cannot flush: %s", wr->tmp,
                          io_msgs_text(&tw->msgs, strerror(errno)));
    if ((st = io_fsync(TIFFFileno(tw->tif), wr->tmp, err)) != GD_OK)
        return st;
    TIFFClose(tw->tif); /* nothing is left to write; this closes the descriptor */
    tw->tif = NULL;
    return GD_OK;
}

/* ---- Set-up and tear-down ------------------------------------------------------------- */

static void tw_discard(gd_writer *wr)
{
    tiff_writer *tw = wr->impl;
    if (!tw)
        return;
    if (tw->tif)
        TIFFClose(tw->tif); /* the temporary is about to be removed: what it writes is moot */
    gd_tile_coder_free(tw->coder);
    for (int k = 0; k < tw->nlevels; k++) {
        free(tw->lv[k].band);
        free(tw->lv[k].off);
        free(tw->lv[k].len);
    }
    free(tw->lv);
    if (tw->spool_fd >= 0)
        close(tw->spool_fd);
    free(tw->copy);
    free(tw->jpegtables);
    free(tw);
    wr->impl = NULL;
}

/* Level sizes (gd_tiff_levels_plan) and the spool's tile index of each reduced level. */
static gd_status plan_levels(gd_writer *wr, tiff_writer *tw, gd_err *err)
{
    gd_tiff_levels plan;
    gd_tiff_levels_plan(wr->w, wr->h, &wr->opts, &plan);
    tw->lv = gd_calloc((size_t)plan.n, sizeof *tw->lv, "pyramid levels", err);
    if (!tw->lv)
        return GD_ENOMEM;
    tw->nlevels = plan.n;
    for (int k = 0; k < plan.n; k++) {
        level *L = &tw->lv[k];
        L->w = plan.w[k];
        L->h = plan.h[k];
        L->across = plan.across[k];
        L->down = plan.down[k];
        if (k > 0) {
            size_t nt = (size_t)L->across * (size_t)L->down;
            L->off = gd_calloc(nt, sizeof *L->off, "pyramid tile offsets", err);
            L->len = gd_calloc(nt, sizeof *L->len, "pyramid tile sizes", err);
            if (!L->off || !L->len)
                return GD_ENOMEM;
        }
    }
    return GD_OK;
}

/* Keeps the JPEG tables the encoders' tiles refer to, for every directory. */
static gd_status keep_jpeg_tables(gd_writer *wr, tiff_writer *tw, gd_err *err)
{
    const void *p;
    size_t n;
    if (gd_tile_coder_tables(tw->coder, &p, &n, err) != GD_OK)
        return gd_err_prefix(err, "%s", wr->path);
    if (n > UINT32_MAX)
        return gd_err_set(err, GD_ELIB, "%s: JPEG tables of %zu bytes", wr->path, n);
    tw->jpegtables = gd_malloc(n, "JPEG tables", err);
    if (!tw->jpegtables)
        return GD_ENOMEM;
    memcpy(tw->jpegtables, p, n);
    tw->jpegtables_len = (uint32_t)n;
    return GD_OK;
}

static gd_status make_spool(gd_writer *wr, tiff_writer *tw, gd_err *err)
{
    size_t n = strlen(wr->tmp) + 16;
    char *name = gd_malloc(n, "a file name", err);
    if (!name)
        return GD_ENOMEM;
    snprintf(name, n, "%s.levels", wr->tmp);
    tw->spool_fd = open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    int e = errno;
    if (tw->spool_fd >= 0)
        unlink(name); /* anonymous from now on: it cannot outlive us */
    free(name);
    if (tw->spool_fd < 0)
        return gd_err_set(err, GD_EIO, "%s: cannot create the pyramid spool next to it: %s",
                          wr->path, strerror(e));
    return GD_OK;
}

gd_status io_tiff_writer_start(gd_writer *wr, gd_err *err)
{
    gd_status st;
    const gd_write_opts *o = &wr->opts;
    tiff_writer *tw = gd_calloc(1, sizeof *tw, "a TIFF writer", err);
    if (!tw)
        return GD_ENOMEM;
    wr->impl = tw;
    wr->ops = &tiff_writer_ops;
    tw->spool_fd = -1;
    io_msgs_clear(&tw->msgs);
    tw->layout = io_tiff_layout_for(o->compression, o->bits, o->tile);
    tw->bps = o->bits / 8;
    if (!TIFFIsCODECConfigured(tw->layout.compression))
        return gd_err_set(err, GD_EINPUT, "%s: this libtiff (%s) cannot write %s compression",
                          wr->path, TIFFGetVersion(), gd_compression_name(o->compression));

    if ((st = plan_levels(wr, tw, err)) != GD_OK)
        return st;
    if (tw->nlevels > 1 && (st = make_spool(wr, tw, err)) != GD_OK)
        return st;
    if ((st = gd_tile_coder_new(o, &tw->coder, err)) != GD_OK)
        return gd_err_prefix(err, "%s", wr->path);
    if (tw->layout.compression == COMPRESSION_JPEG && (st = keep_jpeg_tables(wr, tw, err)) != GD_OK)
        return st;

    /* Uncompressed size of every level, tiles padded: compression may not help. */
    double bytes = 0;
    for (int k = 0; k < tw->nlevels; k++)
        bytes +=
            (double)tw->lv[k].across * tw->lv[k].down * (double)io_tiff_tile_raw_bytes(&tw->layout);
    const int big = o->bigtiff || bytes > BIGTIFF_LIMIT;
    TIFFOpenOptions *oo = io_tiff_open_options(&tw->msgs);
    if (!oo)
        return gd_err_set(err, GD_ENOMEM, "%s: out of memory opening the TIFF", wr->path);
    tw->tif = TIFFFdOpenExt(wr->fd, wr->tmp, big ? "w8" : "w", oo);
    TIFFOpenOptionsFree(oo);
    if (!tw->tif)
        return gd_err_set(err, GD_EIO, "%s: libtiff cannot start the file: %s", wr->tmp,
                          io_msgs_text(&tw->msgs, "unknown reason"));
    wr->fd = -1; /* libtiff closes it now */
    return set_directory(wr, tw, 0, err);
}

/*
 * checkpoint.c: writing a checkpoint, collectively, atomically.
 *
 * Layout invariants of a checkpoint file, format_version 1:
 *
 *   1. A checkpoint is one HDF5 file in the HDF5 1.8 file format, whose
 *      superblock, object headers and B-trees carry checksums: damaged
 *      metadata is an error HDF5 reports, never garbage read.
 *   2. The dataset /image holds the octave image: float32 little-endian,
 *      shape [height][width][3], rows top to bottom, RGB interleaved (a
 *      gd_image's rows as they are in memory), each value the dream's float
 *      bit for bit.  It is chunked, chunks [R][width][3] with R rows making
 *      about CK_CHUNK_BYTES (at least 1, at most height), or [1][C][3] when
 *      one row is larger than that, so no chunk comes near HDF5's 4 GB
 *      limit.  Every chunk has a Fletcher32 checksum and no other filter: a
 *      flipped byte fails the read, and writes cost no compression.  Readers
 *      take any chunk shape but require the Fletcher32 filter.
 *  2b. (Writing, not layout.)  Parallel HDF5 copies every chunk a collective
 *      write touches, so a rank writes its rows in rounds of about
 *      CK_ROUND_BYTES: round 0 holds its parts of the chunks it shares with
 *      its neighbours (every sharer writes its part of a shared chunk in
 *      the same round, so no chunk is written twice), later rounds whole
 *      chunks only it writes.  A write thus holds at most about
 *      CK_ROUND_BYTES + 2 chunks beyond the band, where one round for the
 *      whole band would double the band's memory for little speed.  Memory
 *      and file selections have the same 3-D shape (h5.c, ck_row_spaces):
 *      with a 2-D memory space HDF5 copies value by value, far slower.
 *   3. The root group's attributes (one table in meta.c drives
 *      writing, reading and the checksum):
 *        format             string "gigadream-checkpoint"
 *        format_version     int32, 1
 *        gigadream_version  string, GD_VERSION of the writer
 *        job_text           string, the job file as written
 *        job_canon          string, the job's canonical text (job.h)
 *        job_hash           string, 16 lowercase hex digits of FNV-1a 64 of job_canon
 *        octave, iteration  int32, gd_dream_position when written: the octave
 *                           being dreamed and the next iteration to run in it
 *        octaves            int32, the job's octave count
 *        width, height      int32, the octave's size, = /image's dims
 *        seed               uint64, [dream] seed
 *        ranks              int32, how many ranks wrote the file
 *        counter            int64, the file's place in the folder (invariant 8)
 *        time               float64, Unix seconds when written
 *        input_path, model_path, guide_path      strings, "" when none
 *        input_size, model_size, guide_size      int64 bytes, -1 when not recorded
 *        input_mtime, model_mtime, guide_mtime   int64 ns since the epoch
 *      Strings are fixed-length, NUL-padded UTF-8.  The attributes are
 *      stored compactly, in the root group's object header, whose checksum
 *      HDF5 verifies on every read.  (With HDF5's default of at most 8
 *      compact attributes they would move to dense storage, a fractal heap
 *      whose blocks carry no checksum.)  One larger than an object header
 *      message (64 KB: a huge job text) is still stored densely; the
 *      completion record's meta_checksum covers every value either way.
 *   4. The completion record, meta_checksum (string, 16 hex digits of
 *      ck_meta_checksum over the attributes of invariant 3) and then complete
 *      (int32 1), is written after the image data and every attribute of
 *      invariant 3 have been written and flushed.  A file without complete
 *      = 1, or whose meta_checksum disagrees with its attributes, is never
 *      used.
 *   5. The jitter RNG needs nothing stored beyond seed, octave and
 *      iteration: it is Philox keyed by (seed, octave, iteration) (dream.h
 *      invariant 4), so those three are its key and counter.
 *   6. The job hash covers the input files' paths, not their bytes; their
 *      size and mtime are recorded so that a file changed since is noticed.
 *   7. The image is the only pixel state: the seed pyramid and everything
 *      else are recomputed from the job (dream.c).
 *
 * Protocol invariants (write, then retention; reading in read.c):
 *
 *   8. Names are ckpt-CCCCCC-oOO-iIIIIII.h5 (octave O, next iteration I),
 *      where C is one more than the largest counter of any checkpoint name,
 *      final or .tmp, in the folder, chosen by rank 0 and broadcast.  The
 *      newest checkpoint is the one with the largest counter, whatever its
 *      position: a run restarted from scratch writes newer ones.
 *   9. A write is, in order: rank 0 chooses the name and gathers the values
 *      only it may know (counter, time, input file stats) and broadcasts
 *      them; all ranks create NAME.tmp collectively (MPI-IO); each writes
 *      its own rows as one hyperslab in one collective H5Dwrite (parallel
 *      HDF5 writes filtered chunks only collectively); all write the same
 *      attributes (parallel HDF5 wants identical values from every rank);
 *      all flush; all write the completion record; all close; then rank 0
 *      fsyncs NAME.tmp, renames it to NAME and fsyncs the folder.  After
 *      each step the ranks agree (gd_dist_agree): they go on together or
 *      fail together, with the first failing rank's message.
 *  10. A file at a final name was closed, fsynced and renamed whole.  A
 *      failure before the rename removes NAME.tmp; a killed run leaves a
 *      NAME.tmp, which no reader opens and the next write removes.  Nothing
 *      at a final name is touched until the new checkpoint has been renamed
 *      and the folder synced, so a failed write never costs the previous
 *      checkpoint.
 *  11. Retention, after the rename, newest first: the first `keep` complete
 *      checkpoints of this job (same job_hash), the new one included, stay;
 *      older ones of this job, files at final names that are incomplete or
 *      unreadable, and every .tmp are removed; other jobs' checkpoints stay
 *      (they are reported, not deleted, by readers).
 *  12. Only rank 0 touches the folder (listing, fsync, rename, removal);
 *      every rank touches the file only through parallel HDF5.
 */
#include "checkpoint_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Invariant 2: bytes of image data per chunk, at most. */
#define CK_CHUNK_BYTES ((size_t)8 << 20)
/* Invariant 2b: a rank writes about this many bytes per collective H5Dwrite. */
#define CK_ROUND_BYTES ((size_t)128 << 20)
/* Invariant 3: attributes stay in the root object header up to this many (HDF5's default: 8). */
#define CK_MAX_COMPACT 64
#define CK_MIN_DENSE 48

/* --- Fault seam ------------------------------------------------------------- */

static gd_status ck_fault(const gd_checkpoint_seam *seam, gd_checkpoint_step s, int rank,
                          gd_err *err)
{
    if (!seam || !seam->fault)
        return GD_OK;
    gd_status st = seam->fault(seam->ctx, s, rank, err);
    if (st != GD_OK)
        gd_err_prefix(err, "injected fault at %s", gd_checkpoint_step_name(s));
    return st;
}

const char *gd_checkpoint_step_name(gd_checkpoint_step s)
{
    static const char *const names[] = {
        [GD_CKPT_STEP_CREATE] = "create", [GD_CKPT_STEP_DATA] = "data",
        [GD_CKPT_STEP_MARKER] = "marker", [GD_CKPT_STEP_SYNC] = "sync",
        [GD_CKPT_STEP_RENAME] = "rename", [GD_CKPT_STEP_RETAIN] = "retain",
    };
    _Static_assert(sizeof names / sizeof names[0] == GD_CKPT_STEP_COUNT,
                   "names must name every step");
    return (unsigned)s < GD_CKPT_STEP_COUNT ? names[s] : "unknown step";
}

const char *gd_checkpoint_verdict_name(gd_checkpoint_verdict v)
{
    static const char *const names[] = {
        [GD_CKPT_USABLE] = "usable",
        [GD_CKPT_DAMAGED] = "damaged",
        [GD_CKPT_OTHER_JOB] = "other job",
        [GD_CKPT_INPUT_CHANGED] = "input changed",
    };
    _Static_assert(sizeof names / sizeof names[0] == GD_CKPT_VERDICT_COUNT,
                   "names must name every verdict");
    return (unsigned)v < GD_CKPT_VERDICT_COUNT ? names[v] : "unknown verdict";
}

/* --- Writing ------------------------------------------------------------------ */

/* What rank 0 alone knows, broadcast to all (invariant 9). */
typedef struct shared {
    long long counter;
    double time;
    int64_t size[CK_N_FILES], mtime[CK_N_FILES];
    uint64_t job_hash;
} shared;

static gd_status check_args(gd_dist *d, const char *dir, const gd_job *job,
                            const gd_checkpoint_pos *p, const gd_image *band, int keep, gd_err *err)
{
    int y0, y1;
    if (!dir || !*dir || !job || !job->canon || !job->text)
        return gd_err_set(err, GD_EINPUT, "internal: checkpoint needs a folder and a job");
    if (keep < 1)
        return gd_err_set(err, GD_EINPUT, "internal: checkpoint keep = %d, must be >= 1", keep);
    if (p->w < 1 || p->h < 1 || p->octaves != job->octaves || p->octave < 0 ||
        p->octave >= p->octaves || p->iteration < 0 || p->iteration > job->iterations)
        return gd_err_set(err, GD_EINPUT,
                          "internal: checkpoint position octave %d of %d, iteration %d, "
                          "%d x %d does not fit the job (%d octaves, %d iterations)",
                          p->octave, p->octaves, p->iteration, p->w, p->h, job->octaves,
                          job->iterations);
    gd_dist_band(p->h, gd_dist_size(d), gd_dist_rank(d), &y0, &y1);
    if (band->w != p->w || band->full_h != p->h || band->c != CK_CHANNELS || band->y0 != y0 ||
        band->y1 != y1 || band->stride < (size_t)band->w * CK_CHANNELS ||
        band->stride % CK_CHANNELS != 0 || (y1 > y0 && !band->data))
        return gd_err_set(err, GD_EINPUT,
                          "internal: checkpoint band rows [%d,%d) of %d x %d x %d, expected "
                          "[%d,%d) of %d x %d x %d",
                          band->y0, band->y1, band->w, band->full_h, band->c, y0, y1, p->w, p->h,
                          CK_CHANNELS);
    return GD_OK;
}

/* Rank 0: the next counter (invariant 8), the time and the input files' stats. */
static gd_status prepare(const char *dir, const ck_meta *m, shared *sh, gd_err *err)
{
    struct stat sb;
    ck_entry *v = NULL;
    int n = 0;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return gd_err_set(err, GD_EINPUT, "checkpoint folder %s does not exist", dir);
    gd_status st = ck_dir_list(dir, &v, &n, err);
    if (st != GD_OK)
        return st;
    sh->counter = n > 0 ? v[0].counter + 1 : 1;
    free(v);
    if (sh->counter > 999999999999LL)
        return gd_err_set(err, GD_EINPUT, "checkpoint counter in %s overflows", dir);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sh->time = (double)ts.tv_sec + ts.tv_nsec * 1e-9;
    for (int i = 0; i < CK_N_FILES; i++)
        ck_file_stat(m->file_path[i], &sh->size[i], &sh->mtime[i]);
    return GD_OK;
}

/* The chunk shape of invariant 2. */
static void chunk_shape(int w, int h, hsize_t chunk[3])
{
    size_t row = (size_t)w * CK_CHANNELS * sizeof(float);
    chunk[2] = CK_CHANNELS;
    if (row > CK_CHUNK_BYTES) {
        chunk[0] = 1;
        chunk[1] = CK_CHUNK_BYTES / (CK_CHANNELS * sizeof(float));
    } else {
        size_t r = CK_CHUNK_BYTES / row;
        chunk[0] = r < (size_t)h ? r : (hsize_t)h;
        chunk[1] = (hsize_t)w;
    }
}

/*
 * Invariant 2b: which rows this rank writes in which round.  Round 0: its
 * parts of the chunks it shares with its neighbours (the head [y0, *head)
 * and the tail [*tail, y1)); rounds 1.. : the chunks only it writes, from
 * *head on, *per rows (whole chunks) a round.  Returns how many rounds after
 * round 0 it needs.
 */
static int plan_rounds(const gd_image *band, const hsize_t chunk[3], int *head, int *tail, int *per)
{
    int y0 = band->y0, y1 = band->y1;
    int cr = chunk[1] < (hsize_t)band->w ? 1 : (int)chunk[0];
    size_t chunk_bytes = (size_t)cr * band->w * CK_CHANNELS * sizeof(float);
    size_t k = CK_ROUND_BYTES / chunk_bytes;
    *per = (int)(k > 0 ? k : 1) * cr;
    *head = y0;
    *tail = y1;
    if (y1 <= y0)
        return 0;
    if (y0 % cr)
        *head = (y0 / cr + 1) * cr < y1 ? (y0 / cr + 1) * cr : y1;
    if (y1 % cr && y1 < band->full_h)
        *tail = y1 / cr * cr > *head ? y1 / cr * cr : *head;
    return (*tail - *head + *per - 1) / *per;
}

/* Invariant 2: creates /image and writes this rank's rows, collectively, in rounds. */
static gd_status write_image(gd_dist *d, hid_t f, const gd_image *band, const gd_rows_done *done,
                             gd_err *err)
{
    gd_status st = GD_OK;
    hsize_t dims[3] = {(hsize_t)band->full_h, (hsize_t)band->w, CK_CHANNELS}, chunk[3];
    hid_t space = -1, mem = -1, dcpl = -1, dxpl = -1, ds = -1;
    int head, tail, per;
    double mine, rounds = 0;
    chunk_shape(band->w, band->full_h, chunk);
    mine = plan_rounds(band, chunk, &head, &tail, &per);
    if ((space = H5Screate_simple(3, dims, NULL)) < 0 ||
        (dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 || H5Pset_chunk(dcpl, 3, chunk) < 0 ||
        H5Pset_fletcher32(dcpl) < 0 || H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0 ||
        (ds = H5Dcreate2(f, CK_DATASET, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)) <
            0 ||
        (dxpl = H5Pcreate(H5P_DATASET_XFER)) < 0 ||
        H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0) {
        st = ck_h5_fail(GD_EIO, "cannot create dataset /" CK_DATASET, err);
        goto done;
    }
    /* Every rank must make the same number of collective writes: the largest count. */
    if ((st = gd_dist_max(d, mine, &rounds, err)) != GD_OK)
        goto done;
    /* A rank with no rows in a round still takes part, with a buffer HDF5 will not touch. */
    static const float none[1];
    const void *buf = band->data ? (const void *)band->data : (const void *)none;
    for (int r = 0; r <= (int)rounds && st == GD_OK; r++) {
        int ranges[4] = {band->y0, head, tail, band->y1};
        if (r > 0) {
            ranges[0] = head + (r - 1) * per;
            ranges[1] = ranges[0] + per < tail ? ranges[0] + per : tail;
            ranges[2] = ranges[3] = 0;
        }
        if (mem >= 0)
            H5Sclose(mem);
        if ((st = ck_row_spaces(band, ranges, 2, space, &mem, err)) == GD_OK &&
            H5Dwrite(ds, H5T_NATIVE_FLOAT, mem, space, dxpl, buf) < 0)
            st = ck_h5_fail(GD_EIO, "cannot write the image", err);
        /* Out of core, the round's rows may leave memory now (gd_rows_done),
         * in row order: the tail that round 0 wrote is told of last. */
        if (st == GD_OK && band->data)
            gd_rows_done_tell(done, ranges[0], ranges[1]);
    }
    if (st == GD_OK && band->data)
        gd_rows_done_tell(done, tail, band->y1);
done:
    if (ds >= 0 && H5Dclose(ds) < 0 && st == GD_OK)
        st = ck_h5_fail(GD_EIO, "cannot close dataset /" CK_DATASET, err);
    if (dxpl >= 0)
        H5Pclose(dxpl);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (mem >= 0)
        H5Sclose(mem);
    if (space >= 0)
        H5Sclose(space);
    return st;
}

#define AGREE(expr)                                                                                \
    do {                                                                                           \
        gd_status local_ = (expr);                                                                 \
        if ((st = gd_dist_agree(d, local_, err)) != GD_OK)                                         \
            goto done;                                                                             \
    } while (0)

gd_status gd_checkpoint_write(gd_dist *d, const char *dir, const gd_job *job,
                              const gd_checkpoint_pos *pos, const gd_image *band,
                              const gd_rows_done *done, int keep, const gd_checkpoint_seam *seam,
                              char *path, size_t len, gd_err *err)
{
    gd_status st = GD_OK;
    h5io_quiet q;
    ck_meta m;
    shared sh;
    hid_t f = -1, fapl = -1, fcpl = -1;
    ck_dropper *dropper = NULL;
    int rank = gd_dist_rank(d), open_everywhere = 0, renamed = 0;
    char name[96] = "", final[GD_CKPT_PATH_MAX] = "", tmp[GD_CKPT_PATH_MAX + 8] = "";
    memset(&m, 0, sizeof m);
    memset(&sh, 0, sizeof sh);
    if (path && len)
        path[0] = '\0';
    h5io_quiet_begin(&q);

    gd_status local = check_args(d, dir, job, pos, band, keep, err);
    if (local == GD_OK)
        local = ck_meta_from_job(&m, job, pos, gd_dist_size(d), err);
    if (local == GD_OK && rank == 0)
        local = prepare(dir, &m, &sh, err);
    AGREE(local);
    sh.job_hash = job->hash;
    AGREE(gd_dist_bcast(d, &sh, sizeof sh, 0, err));
    if (sh.job_hash != job->hash)
        local = gd_err_set(err, GD_EINPUT, "internal: ranks checkpoint different jobs");
    m.counter = sh.counter;
    m.time = sh.time;
    for (int i = 0; i < CK_N_FILES; i++) {
        m.file_size[i] = sh.size[i];
        m.file_mtime[i] = sh.mtime[i];
    }
    ck_name_make(name, sizeof name, sh.counter, pos->octave, pos->iteration);
    /* tmp stays empty unless it names this write's file: the cleanup removes tmp. */
    if (local == GD_OK && (local = ck_path_join(final, sizeof final, dir, name, err)) == GD_OK)
        snprintf(tmp, sizeof tmp, "%s.tmp", final);
    else
        final[0] = '\0';
    AGREE(local);

    AGREE(ck_fault(seam, GD_CKPT_STEP_CREATE, rank, err));
    if ((fapl = ck_fapl_mpio(d)) < 0 || (fcpl = H5Pcreate(H5P_FILE_CREATE)) < 0 ||
        H5Pset_attr_phase_change(fcpl, CK_MAX_COMPACT, CK_MIN_DENSE) < 0 ||
        (f = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl)) < 0)
        local = ck_h5_fail(GD_EIO, "cannot create the file", err);
    /* Closing is collective: only when every rank has the file open may the cleanup close it. */
    AGREE(local);
    open_everywhere = 1;
    dropper = ck_dropper_start(tmp); /* cache.c: NULL just means without */

    AGREE(ck_fault(seam, GD_CKPT_STEP_DATA, rank, err));
    AGREE(write_image(d, f, band, done, err));
    local = ck_meta_put(f, &m, err);
    if (local == GD_OK && H5Fflush(f, H5F_SCOPE_GLOBAL) < 0)
        local = ck_h5_fail(GD_EIO, "cannot flush the file", err);
    AGREE(local);

    AGREE(ck_fault(seam, GD_CKPT_STEP_MARKER, rank, err));
    AGREE(ck_meta_put_marker(f, &m, err));
    open_everywhere = 0;
    local = H5Fclose(f) < 0 ? ck_h5_fail(GD_EIO, "cannot close the file", err) : GD_OK;
    f = -1;
    ck_dropper_stop(dropper);
    dropper = NULL;
    AGREE(local);

    if (rank == 0) {
        if ((local = ck_fault(seam, GD_CKPT_STEP_SYNC, rank, err)) == GD_OK &&
            (local = ck_sync_path(tmp, 0, err)) == GD_OK &&
            (local = ck_fault(seam, GD_CKPT_STEP_RENAME, rank, err)) == GD_OK) {
            if (rename(tmp, final) != 0)
                local = gd_err_set(err, GD_EIO, "cannot rename %s to %s: %s", tmp, final,
                                   strerror(errno));
            else
                renamed = 1;
        }
    }
    AGREE(local);
    if (path && len)
        snprintf(path, len, "%s", final);

    if (rank == 0 && (local = ck_sync_path(dir, 1, err)) == GD_OK &&
        (local = ck_fault(seam, GD_CKPT_STEP_RETAIN, rank, err)) == GD_OK)
        local = ck_retain(dir, name, m.job_hash, keep, err);
    AGREE(local);

done:
    if (open_everywhere && f >= 0)
        H5Fclose(f);
    ck_dropper_stop(dropper);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fapl >= 0)
        H5Pclose(fapl);
    /* Invariant 10: a failed write leaves no .tmp behind (every rank has closed it: the
     * close, or the failure that skipped it, was agreed on). */
    if (st != GD_OK && !renamed && rank == 0 && tmp[0])
        unlink(tmp);
    ck_meta_free(&m);
    h5io_quiet_end(&q);
    if (st != GD_OK)
        gd_err_prefix(err, "checkpoint %s", final[0] ? final : dir ? dir : "(no folder)");
    return st;
}

/*
 * read.c: validating, finding and reading checkpoints, and
 * describing one (gigadream info).
 *
 * Reading invariants (the layout and the write are checkpoint.c's 1 to 12):
 *
 *  13. Validation runs in the order checkpoint.h lists, and the first
 *      failure is the reason given: the metadata checks (open, format,
 *      completion record, checksum, consistency with /image, job, input
 *      files) run on rank 0 alone with serial HDF5 and are broadcast; then
 *      every rank reads its own rows of the reader's band split to check
 *      their Fletcher32 sums, and the ranks agree.
 *  14. Image reads use independent transfers (parallel HDF5 reads filtered
 *      chunks independently; only writes must be collective), so a damaged
 *      chunk on one rank cannot leave the others waiting inside HDF5.  The
 *      file open and close around them are collective and entered by every
 *      rank whatever happened before.
 *  15. A checkpoint is read in slabs whose rows are whole chunks' rows, so a
 *      validation reads each chunk once and holds at most CK_SLAB_BYTES of
 *      scratch per rank.
 *  16. Only final names are candidates (.tmp files are never opened), newest
 *      (largest counter) first.
 */
#include "checkpoint_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CK_SLAB_BYTES ((size_t)32 << 20) /* invariant 15 */

/* --- Messages --------------------------------------------------------------------- */

/*
 * Drops the "rank R: " gd_dist_agree puts before a checksum error: its rows
 * say where the damage is, whichever rank read them.  Other messages keep it
 * (a rank that cannot open the file, e.g. on a node-local folder, is worth
 * naming).
 */
static void unrank(gd_err *err)
{
    int n = 0;
    if (sscanf(err->msg, "rank %*d: %n", &n) == 0 && n > 0 &&
        strncmp(err->msg + n, "checksum error", 14) == 0)
        memmove(err->msg, err->msg + n, strlen(err->msg + n) + 1);
}

/* --- The image dataset ----------------------------------------------------------- */

/* What /image is, from its dataspace and creation properties. */
typedef struct ck_image {
    hsize_t dims[3], chunk[3];
    int fletcher;
} ck_image;

/* Opens /image and checks it against m (invariant 2); *ds is the caller's on success. */
static gd_status open_image(hid_t f, const ck_meta *m, hid_t *ds, ck_image *im, gd_err *err)
{
    gd_status st = GD_OK;
    hid_t t = -1, sp = -1, dcpl = -1;
    memset(im, 0, sizeof *im);
    *ds = -1;
    htri_t ex = H5Lexists(f, CK_DATASET, H5P_DEFAULT);
    if (ex <= 0)
        return ex == 0 ? gd_err_set(err, GD_EINPUT, "no /" CK_DATASET " dataset")
                       : ck_h5_fail(GD_EINPUT, "cannot look up /" CK_DATASET, err);
    if ((*ds = H5Dopen2(f, CK_DATASET, H5P_DEFAULT)) < 0 || (t = H5Dget_type(*ds)) < 0 ||
        (sp = H5Dget_space(*ds)) < 0 || (dcpl = H5Dget_create_plist(*ds)) < 0) {
        st = ck_h5_fail(GD_EINPUT, "cannot open /" CK_DATASET, err);
        goto done;
    }
    if (H5Tget_class(t) != H5T_FLOAT || H5Tget_size(t) != sizeof(float) ||
        H5Sget_simple_extent_ndims(sp) != 3 || H5Sget_simple_extent_dims(sp, im->dims, NULL) < 0 ||
        H5Pget_layout(dcpl) != H5D_CHUNKED || H5Pget_chunk(dcpl, 3, im->chunk) != 3) {
        st = gd_err_set(err, GD_EINPUT, "/" CK_DATASET " is not a chunked float32 array [h][w][3]");
        goto done;
    }
    unsigned flags;
    size_t nv = 0;
    im->fletcher =
        H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, &nv, NULL, 0, NULL, NULL) >= 0;
    H5Eclear2(H5E_DEFAULT);
    if (m && (im->dims[0] != (hsize_t)m->height || im->dims[1] != (hsize_t)m->width ||
              im->dims[2] != CK_CHANNELS))
        st = gd_err_set(err, GD_EINPUT,
                        "inconsistent metadata: /" CK_DATASET " is [%llu][%llu][%llu], the "
                        "attributes say %d x %d",
                        (unsigned long long)im->dims[0], (unsigned long long)im->dims[1],
                        (unsigned long long)im->dims[2], m->width, m->height);
    else if (!im->fletcher)
        st = gd_err_set(err, GD_EINPUT, "/" CK_DATASET " has no Fletcher32 checksums");
done:
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    if (st != GD_OK && *ds >= 0) {
        H5Dclose(*ds);
        *ds = -1;
    }
    return st;
}

/* One H5Dread of rows [y0, y1) (non-empty) into dst's memory for those rows. */
static gd_status read_once(hid_t ds, hid_t space, const gd_image *dst, int y0, int y1, gd_err *err)
{
    hid_t mem = -1;
    int range[2] = {y0, y1};
    gd_status st = ck_row_spaces(dst, range, 1, space, &mem, err);
    if (st == GD_OK && H5Dread(ds, H5T_NATIVE_FLOAT, mem, space, H5P_DEFAULT, dst->data) < 0)
        st = ck_h5_fail(GD_EINPUT, "cannot read /" CK_DATASET, err);
    if (mem >= 0)
        H5Sclose(mem);
    return st;
}

/*
 * Rows [y0, y1) into dst.  A checksum error is narrowed down to the first
 * damaged chunk's rows by reading chunk row by chunk row, so the message
 * says where the damage is whatever the read's extent.
 */
static gd_status read_slab(hid_t ds, hid_t space, const ck_image *im, const gd_image *dst, int y0,
                           int y1, gd_err *err)
{
    gd_status st = read_once(ds, space, dst, y0, y1, err);
    if (st == GD_OK || !strstr(err->msg, "checksum error in image data"))
        return st;
    int cr = (int)im->chunk[0], h = (int)im->dims[0];
    for (int c0 = y0 / cr * cr; c0 < y1; c0 += cr) {
        int c1 = c0 + cr < h ? c0 + cr : h;
        int a = c0 > y0 ? c0 : y0, b = c1 < y1 ? c1 : y1;
        if (read_once(ds, space, dst, a, b, err) != GD_OK &&
            strstr(err->msg, "checksum error in image data"))
            return gd_err_set(err, GD_EINPUT, "checksum error in image data (rows %d-%d)", c0,
                              c1 - 1);
    }
    return gd_err_set(err, GD_EINPUT, "checksum error in image data (rows %d-%d)", y0, y1 - 1);
}

/*
 * Reads rows [y0, y1) of /image into dst when it is not NULL (telling done
 * of each slab's rows once filled), else into scratch only to check their
 * checksums (invariant 15); slab by slab either way.
 */
static gd_status read_rows(hid_t ds, const ck_image *im, int y0, int y1, gd_image *dst,
                           const gd_rows_done *done, gd_err *err)
{
    gd_status st = GD_OK;
    gd_image slab = {0};
    size_t row = (size_t)im->dims[1] * CK_CHANNELS * sizeof(float);
    hsize_t step = im->chunk[0] ? im->chunk[0] : 1, per = CK_SLAB_BYTES / row / step;
    if (y1 <= y0)
        return GD_OK;
    hid_t space = H5Dget_space(ds);
    if (space < 0)
        return ck_h5_fail(GD_EINPUT, "cannot read /" CK_DATASET, err);
    step *= per > 0 ? per : 1;
    int rows = (int)(step < (hsize_t)(y1 - y0) ? step : (hsize_t)(y1 - y0));
    if (!dst && (st = gd_image_alloc(&slab, (int)im->dims[1], (int)im->dims[0], CK_CHANNELS, 0,
                                     rows, err)) != GD_OK)
        goto done;
    for (int y = y0; y < y1 && st == GD_OK;) {
        /* Slabs end on multiples of step, so each chunk is read once. */
        int ye = (int)(((hsize_t)y / step + 1) * step);
        ye = ye < y1 ? ye : y1;
        gd_image view = dst ? *dst : slab;
        if (!dst) {
            view.y0 = y;
            view.y1 = ye;
        }
        st = read_slab(ds, space, im, &view, y, ye, err);
        if (st == GD_OK && dst)
            gd_rows_done_tell(done, y, ye);
        y = ye;
    }
done:
    gd_image_free(&slab);
    H5Sclose(space);
    return st;
}

/* --- Validation of the metadata (rank 0, serial HDF5) ------------------------------ */

/* A recorded input file against the disk: 0 unchanged, 1 changed, 2 gone; -1 not recorded. */
static int file_state(const ck_meta *m, int i, int64_t *size_now)
{
    int64_t mtime;
    *size_now = -1;
    if (m->file_size[i] < 0 || !m->file_path[i] || !m->file_path[i][0])
        return -1;
    ck_file_stat(m->file_path[i], size_now, &mtime);
    if (*size_now < 0)
        return 2;
    return *size_now != m->file_size[i] || mtime != m->file_mtime[i];
}

/*
 * The checks of invariant 13 but the data: GD_OK when they pass; GD_EINPUT
 * with the reason and *v when not; other statuses for failures to check.
 * *m keeps what was read, *im what /image is (for info).
 */
static gd_status inspect(const char *path, const gd_job *job, ck_meta *m, ck_image *im,
                         gd_checkpoint_verdict *v, gd_err *err)
{
    hid_t ds = -1;
    char hex[17];
    *v = GD_CKPT_DAMAGED;
    memset(m, 0, sizeof *m);
    memset(im, 0, sizeof *im);
    hid_t f = ck_open_serial(path, err);
    if (f < 0)
        return err->status;
    gd_status st = ck_meta_get(f, m, err);
    if (st != GD_OK)
        goto done;
    if (strcmp(m->job_hash, gd_job_hash_hex(gd_job_hash_text(m->job_canon), hex)) != 0) {
        st = gd_err_set(err, GD_EINPUT,
                        "inconsistent metadata: job_hash %s is not the hash %s of "
                        "job_canon",
                        m->job_hash, hex);
        goto done;
    }
    if (m->octave >= m->octaves) {
        st = gd_err_set(err, GD_EINPUT, "inconsistent metadata: octave %d of %d", m->octave,
                        m->octaves);
        goto done;
    }
    if ((st = open_image(f, m, &ds, im, err)) != GD_OK)
        goto done;
    if (job && strcmp(m->job_canon, job->canon) != 0) {
        char diff[GD_ERR_MSG_MAX - 64];
        *v = GD_CKPT_OTHER_JOB;
        if (gd_job_diff(m->job_canon, job->canon, diff, sizeof diff) > 0)
            st = gd_err_set(err, GD_EINPUT, "written for a different job: %s", diff);
        else
            st = gd_err_set(err, GD_EINPUT, "written for a different job");
        goto done;
    }
    if (job && m->iteration > job->iterations) {
        st = gd_err_set(err, GD_EINPUT, "inconsistent metadata: iteration %d of %d", m->iteration,
                        job->iterations);
        goto done;
    }
    for (int i = 0; job && i < CK_N_FILES; i++) {
        int64_t now;
        int s = file_state(m, i, &now);
        if (s <= 0)
            continue;
        *v = GD_CKPT_INPUT_CHANGED;
        if (s == 2)
            st =
                gd_err_set(err, GD_EINPUT, "%s file %s is gone", ck_file_names[i], m->file_path[i]);
        else
            st = gd_err_set(err, GD_EINPUT,
                            "%s file %s changed since the checkpoint (%" PRId64 " -> %" PRId64
                            " bytes%s)",
                            ck_file_names[i], m->file_path[i], m->file_size[i], now,
                            now == m->file_size[i] ? ", modified" : "");
        goto done;
    }
    *v = GD_CKPT_USABLE;
done:
    if (ds >= 0)
        H5Dclose(ds);
    H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    return st;
}

/* --- Collective validation and reading ---------------------------------------------- */

/*
 * Collective: opens path over MPI-IO, opens /image and checks its shape
 * against w x h when they are > 0.  *f and *ds are open on every rank on
 * success; on failure none are (invariant 14).
 */
static gd_status open_collective(gd_dist *d, const char *path, int w, int h, hid_t *f, hid_t *ds,
                                 ck_image *im, gd_err *err)
{
    gd_status st;
    hid_t fapl = ck_fapl_mpio(d);
    *f = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    gd_status local = *f < 0 ? ck_h5_fail(GD_EINPUT, "cannot open", err) : GD_OK;
    if (fapl >= 0)
        H5Pclose(fapl);
    if ((st = gd_dist_agree(d, local, err)) != GD_OK) {
        /* A rank that opened it while another failed leaks the handle rather than enter a
         * collective close alone. */
        *f = -1;
        return st;
    }
    *ds = -1;
    local = open_image(*f, NULL, ds, im, err);
    if (local == GD_OK && w > 0 &&
        (im->dims[0] != (hsize_t)h || im->dims[1] != (hsize_t)w || im->dims[2] != CK_CHANNELS))
        local = gd_err_set(err, GD_EINPUT, "the image is %llu x %llu, expected %d x %d",
                           (unsigned long long)im->dims[1], (unsigned long long)im->dims[0], w, h);
    if ((st = gd_dist_agree(d, local, err)) != GD_OK) {
        if (*ds >= 0)
            H5Dclose(*ds);
        H5Fclose(*f);
        *f = *ds = -1;
    }
    return st;
}

/* Collective: closes what open_collective opened; status of the close, agreed. */
static gd_status close_collective(gd_dist *d, hid_t f, hid_t ds, gd_status local, gd_err *err)
{
    if (H5Dclose(ds) < 0 && local == GD_OK)
        local = ck_h5_fail(GD_ELIB, "cannot close /" CK_DATASET, err);
    if (H5Fclose(f) < 0 && local == GD_OK)
        local = ck_h5_fail(GD_ELIB, "cannot close", err);
    return gd_dist_agree(d, local, err);
}

/* Collective: reads this rank's rows of the reader's split to check them (invariant 13). */
static gd_status verify_collective(gd_dist *d, const char *path, int w, int h, gd_err *err)
{
    hid_t f, ds;
    ck_image im;
    int y0, y1;
    gd_status st = open_collective(d, path, w, h, &f, &ds, &im, err);
    if (st == GD_OK) {
        gd_dist_band(h, gd_dist_size(d), gd_dist_rank(d), &y0, &y1);
        st = close_collective(d, f, ds, read_rows(ds, &im, y0, y1, NULL, NULL, err), err);
    }
    unrank(err);
    return st;
}

/* What rank 0 finds out about one checkpoint, broadcast to all. */
typedef struct verdict_msg {
    int status, verdict;
    gd_checkpoint_meta meta;
    char msg[GD_ERR_MSG_MAX];
} verdict_msg;

/*
 * Collective: validates one checkpoint.  GD_OK with *v = usable, GD_EINPUT
 * with *v and "PATH: reason" in err, or another status when checking
 * itself failed.
 */
static gd_status check_one(gd_dist *d, const char *path, const gd_job *job,
                           gd_checkpoint_meta *meta, gd_checkpoint_verdict *v, gd_err *err)
{
    verdict_msg r;
    memset(&r, 0, sizeof r);
    if (gd_dist_rank(d) == 0) {
        ck_meta m;
        ck_image im;
        gd_checkpoint_verdict vv;
        gd_err e;
        gd_err_clear(&e);
        r.status = (int)inspect(path, job, &m, &im, &vv, &e);
        r.verdict = (int)vv;
        ck_meta_public(&m, &r.meta);
        snprintf(r.msg, sizeof r.msg, "%s", e.msg);
        ck_meta_free(&m);
    }
    gd_status st = gd_dist_bcast(d, &r, sizeof r, 0, err);
    if (st != GD_OK)
        return st;
    *v = (gd_checkpoint_verdict)r.verdict;
    *meta = r.meta;
    if (r.status == GD_OK) {
        st = verify_collective(d, path, r.meta.pos.w, r.meta.pos.h, err);
        if (st == GD_OK)
            return GD_OK;
        *v = GD_CKPT_DAMAGED;
        r.status = (int)st;
        snprintf(r.msg, sizeof r.msg, "%s", err->msg);
    }
    if (r.status != GD_EINPUT)
        return gd_err_set(err, (gd_status)r.status, "%s: %s", path, r.msg);
    if (*v == GD_CKPT_USABLE)
        *v = GD_CKPT_DAMAGED;
    return gd_err_set(err, GD_EINPUT, "%s: %s", path, r.msg);
}

gd_status gd_checkpoint_check(gd_dist *d, const char *path, const gd_job *job,
                              gd_checkpoint_meta *meta, gd_checkpoint_verdict *verdict, gd_err *err)
{
    h5io_quiet q;
    gd_checkpoint_meta mm;
    gd_checkpoint_verdict v;
    h5io_quiet_begin(&q);
    gd_status st = check_one(d, path, job, meta ? meta : &mm, &v, err);
    h5io_quiet_end(&q);
    if (verdict)
        *verdict = v;
    return st;
}

gd_status gd_checkpoint_find(gd_dist *d, const char *dir, const gd_job *job,
                             gd_checkpoint_found *out, gd_checkpoint_skip_fn skip, void *ctx,
                             gd_err *err)
{
    h5io_quiet q;
    ck_entry *v = NULL;
    int n = 0;
    char path[GD_CKPT_PATH_MAX];
    memset(out, 0, sizeof *out);
    h5io_quiet_begin(&q);
    gd_status local = gd_dist_rank(d) == 0 ? ck_dir_list(dir, &v, &n, err) : GD_OK;
    gd_status st = gd_dist_agree(d, local, err);
    if (st == GD_OK)
        st = gd_dist_bcast(d, &n, sizeof n, 0, err);
    if (st == GD_OK && gd_dist_rank(d) != 0 && n > 0 &&
        !(v = gd_calloc((size_t)n, sizeof *v, "checkpoint list", err)))
        local = err->status;
    if (st == GD_OK)
        st = gd_dist_agree(d, local, err);
    if (st == GD_OK && n > 0)
        st = gd_dist_bcast(d, v, sizeof *v * (size_t)n, 0, err);
    for (int k = 0; k < n && st == GD_OK; k++) {
        gd_checkpoint_verdict why;
        if (v[k].tmp)
            continue;
        if ((st = ck_path_join(path, sizeof path, dir, v[k].name, err)) != GD_OK)
            break;
        st = check_one(d, path, job, &out->meta, &why, err);
        if (st == GD_OK) {
            out->found = 1;
            snprintf(out->path, sizeof out->path, "%s", path);
            break;
        }
        if (st != GD_EINPUT)
            break;
        st = GD_OK;
        out->skipped++;
        out->skipped_other_job += why == GD_CKPT_OTHER_JOB;
        if (skip)
            skip(ctx, path, why, err->msg);
        gd_err_clear(err);
    }
    if (!out->found)
        memset(&out->meta, 0, sizeof out->meta);
    free(v);
    h5io_quiet_end(&q);
    return st;
}

gd_status gd_checkpoint_read(gd_dist *d, const char *path, gd_image *band, const gd_rows_done *done,
                             gd_err *err)
{
    h5io_quiet q;
    hid_t f, ds;
    ck_image im;
    h5io_quiet_begin(&q);
    gd_status local = GD_OK;
    if (band->c != CK_CHANNELS || band->y0 < 0 || band->y1 > band->full_h || band->y1 < band->y0 ||
        band->stride < (size_t)band->w * CK_CHANNELS || band->stride % CK_CHANNELS != 0)
        local = gd_err_set(err, GD_EINPUT, "internal: band rows [%d,%d) of %d x %d x %d", band->y0,
                           band->y1, band->w, band->full_h, band->c);
    gd_status st = gd_dist_agree(d, local, err);
    if (st == GD_OK)
        st = open_collective(d, path, band->w, band->full_h, &f, &ds, &im, err);
    if (st == GD_OK) {
        local =
            band->y1 > band->y0 ? read_rows(ds, &im, band->y0, band->y1, band, done, err) : GD_OK;
        st = close_collective(d, f, ds, local, err);
        unrank(err);
    }
    h5io_quiet_end(&q);
    if (st != GD_OK)
        gd_err_prefix(err, "%s", path);
    return st;
}

/* --- gigadream info ----------------------------------------------------------------- */

static void print_file(FILE *out, const ck_meta *m, int i)
{
    static const char *const states[] = {"unchanged", "changed since", "gone"};
    int64_t now;
    int s = file_state(m, i, &now);
    if (!m->file_path[i] || !m->file_path[i][0])
        fprintf(out, "  %-10s (none)\n", ck_file_names[i]);
    else if (s < 0)
        fprintf(out, "  %-10s %s (not recorded)\n", ck_file_names[i], m->file_path[i]);
    else
        fprintf(out, "  %-10s %s (%" PRId64 " bytes, %s)\n", ck_file_names[i], m->file_path[i],
                m->file_size[i], states[s]);
}

/* Prints the job text indented, one line at a time. */
static void print_text(FILE *out, const char *s)
{
    while (*s) {
        const char *nl = strchr(s, '\n');
        int n = nl ? (int)(nl - s) : (int)strlen(s);
        fprintf(out, "    %.*s\n", n, s);
        s += n + (nl != NULL);
    }
}

gd_status gd_checkpoint_info(const char *path, FILE *out, gd_err *err)
{
    h5io_quiet q;
    ck_meta m;
    ck_image im;
    gd_checkpoint_verdict v;
    h5io_quiet_begin(&q);
    gd_status st = inspect(path, NULL, &m, &im, &v, err);
    if (st == GD_OK) {
        hid_t ds = -1, f = ck_open_serial(path, err);
        st = f < 0 ? err->status : open_image(f, &m, &ds, &im, err);
        if (st == GD_OK)
            st = read_rows(ds, &im, 0, (int)im.dims[0], NULL, NULL, err);
        if (ds >= 0)
            H5Dclose(ds);
        if (f >= 0)
            H5Fclose(f);
    }
    fprintf(out, "%s: ", path);
    if (m.format && m.format_version)
        fprintf(out, "gigadream checkpoint, format %d, written by gigadream %s\n", m.format_version,
                m.version ? m.version : "?");
    else
        fprintf(out, "not a readable gigadream checkpoint\n");
    if (m.job_hash) {
        char when[64] = "?";
        time_t t = (time_t)m.time;
        struct tm tm;
        if (gmtime_r(&t, &tm))
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
        fprintf(out, "  %-10s %s by %d rank%s (counter %" PRId64 ")\n", "written", when, m.ranks,
                m.ranks == 1 ? "" : "s", m.counter);
        fprintf(out, "  %-10s octave %d of %d (%d x %d), next iteration %d\n", "position", m.octave,
                m.octaves, m.width, m.height, m.iteration);
        fprintf(out, "  %-10s %" PRIu64 "\n", "seed", m.seed);
        fprintf(out, "  %-10s %s\n", "job hash", m.job_hash);
        fprintf(out, "  %-10s %s\n", "kernels", m.kernel_path ? m.kernel_path : "?");
        for (int i = 0; i < CK_N_FILES; i++)
            print_file(out, &m, i);
    }
    if (im.dims[0])
        fprintf(out, "  %-10s float32 [%llu][%llu][%llu], chunks [%llu][%llu][%llu]%s\n", "image",
                (unsigned long long)im.dims[0], (unsigned long long)im.dims[1],
                (unsigned long long)im.dims[2], (unsigned long long)im.chunk[0],
                (unsigned long long)im.chunk[1], (unsigned long long)im.chunk[2],
                im.fletcher ? ", Fletcher32" : ", no checksums");
    fprintf(out, "  %-10s %s%s\n", "valid",
            st == GD_OK ? "yes" : "no: ", st == GD_OK ? "" : err->msg);
    if (m.job_text) {
        fprintf(out, "  job file:\n");
        print_text(out, m.job_text);
    }
    ck_meta_free(&m);
    h5io_quiet_end(&q);
    if (fflush(out) != 0 || ferror(out))
        return gd_err_set(err, GD_EIO, "cannot write the description of %s", path);
    if (st != GD_OK)
        gd_err_prefix(err, "%s", path);
    return st;
}

int gd_checkpoint_probe(const char *path)
{
    h5io_quiet q;
    gd_err err;
    char format[64] = "";
    h5io_quiet_begin(&q);
    hid_t f = ck_open_serial(path, &err);
    if (f >= 0) {
        if (H5Aexists(f, "format") > 0 &&
            h5io_get_str(f, "format", format, sizeof format, &err) != GD_OK)
            format[0] = '\0';
        H5Fclose(f);
    }
    h5io_quiet_end(&q);
    return strcmp(format, "gigadream-checkpoint") == 0;
}

/*
 * imageio.c: the dispatcher of imageio: format detection, the reader and
 * writer front ends, and the temporary-file protocol every writer follows.
 * It calls the codecs (tiff_read.c, tiff_write.c, png.c, jpeg.c) through
 * their open/start functions and ops tables, and common.c; no codec calls
 * back into it.  It never calls libtiff, libpng or libjpeg itself.
 *
 * The output protocol (what makes "never a partial file at the path" true):
 *   1. gd_writer_open checks everything it can before creating anything: the
 *      format (from the extension), the options, that the folder exists and
 *      is writable, that the path is free (or overwrite is set).
 *   2. All bytes go to "<path>.tmp.<host>.<pid>" in the same folder (so the
 *      final rename stays within one file system), created with O_EXCL.
 *      Before creating it, temporaries of <path> left by dead processes of
 *      this host (a killed render: point 4) are removed; another host's, or
 *      a live process's, are never touched.
 *   3. Commit: the format writes its trailer, fsyncs and closes the file;
 *      then the file is renamed into place (link + unlink when overwrite is
 *      off, so a file that appeared meanwhile is never replaced) and the
 *      folder is fsynced so the new name is durable.
 *   4. Abort, or any failure: the temporary is unlinked.  Only a process
 *      killed outright leaves "<path>.tmp.<host>.<pid>" behind, never the
 *      path; the next write of that path on that host removes it (point 2).
 */
#include "imageio_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- Reader front end ---------------------------------------------------------- */

static char *dup_str(const char *s, gd_err *err)
{
    size_t n = strlen(s) + 1;
    char *d = gd_malloc(n, "a file name", err);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Reads the first bytes and names the format; the path's name plays no part. */
static gd_status detect_format(const char *path, gd_format *fmt, gd_err *err)
{
    unsigned char m[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return gd_err_set(err, GD_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    size_t n = fread(m, 1, sizeof m, f);
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    if (rerr)
        return gd_err_set(err, GD_EINPUT, "%s: cannot read: %s", path, strerror(rerr));
    if (n == 0)
        return gd_err_set(err, GD_EINPUT, "%s: empty file (0 bytes), not an image", path);
    if (n >= 4 && ((m[0] == 'I' && m[1] == 'I' && (m[2] == 42 || m[2] == 43) && m[3] == 0) ||
                   (m[0] == 'M' && m[1] == 'M' && m[2] == 0 && (m[3] == 42 || m[3] == 43)))) {
        *fmt = GD_FORMAT_TIFF;
        return GD_OK;
    }
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n == 8 && memcmp(m, png_sig, 8) == 0) {
        *fmt = GD_FORMAT_PNG;
        return GD_OK;
    }
    if (n >= 3 && m[0] == 0xff && m[1] == 0xd8 && m[2] == 0xff) {
        *fmt = GD_FORMAT_JPEG;
        return GD_OK;
    }
    char hex[3 * 4 + 1] = "";
    for (size_t i = 0, k = 0; i < n && i < 4; i++)
        k += (size_t)snprintf(hex + k, sizeof hex - k, "%s%02x", i ? " " : "", m[i]);
    return gd_err_set(err, GD_EINPUT,
                      "%s: not a TIFF, PNG or JPEG image (the file starts with bytes %s)", path,
                      hex);
}

gd_status gd_reader_open(const char *path, gd_reader **out, gd_err *err)
{
    *out = NULL;
    if (!path || !*path)
        return gd_err_set(err, GD_EINPUT, "no input image given");
    gd_format fmt = GD_FORMAT_COUNT;
    gd_status st = detect_format(path, &fmt, err);
    if (st != GD_OK)
        return st;
    gd_reader *r = gd_calloc(1, sizeof *r, "an image reader", err);
    if (!r)
        return GD_ENOMEM;
    r->path = dup_str(path, err);
    if (!r->path) {
        st = GD_ENOMEM;
        goto fail;
    }
    r->info.format = fmt;
    switch (fmt) {
    case GD_FORMAT_TIFF:
        st = io_tiff_reader_open(r, err);
        break;
    case GD_FORMAT_PNG:
        st = io_png_reader_open(r, err);
        break;
    case GD_FORMAT_JPEG:
        st = io_jpeg_reader_open(r, err);
        break;
    case GD_FORMAT_COUNT:
        st = gd_err_set(err, GD_EINPUT, "%s: unknown format", path);
        break;
    }
    if (st != GD_OK)
        goto fail;
    *out = r;
    return GD_OK;
fail:
    gd_reader_close(r);
    return st;
}

const gd_image_info *gd_reader_info(const gd_reader *r)
{
    return &r->info;
}

gd_status gd_reader_read_rows(gd_reader *r, gd_image *dst, gd_err *err)
{
    if (!dst->data || dst->w != r->info.w || dst->full_h != r->info.h || dst->c != 3 ||
        dst->y0 < 0 || dst->y1 > dst->full_h || dst->y0 > dst->y1)
        return gd_err_set(err, GD_EINPUT,
                          "%s: cannot read rows [%d, %d) of a %d x %d x %d band: the image is "
                          "%d x %d, read as 3 channels",
                          r->path, dst->y0, dst->y1, dst->w, dst->full_h, dst->c, r->info.w,
                          r->info.h);
    if (dst->y0 == dst->y1)
        return GD_OK;
    return r->ops->read_rows(r, dst, err);
}

int gd_reader_levels(const gd_reader *r)
{
    return r->ops && r->ops->levels ? r->ops->levels(r) : 1;
}

gd_status gd_reader_select_level(gd_reader *r, int k, gd_err *err)
{
    if (r->ops && r->ops->select_level)
        return r->ops->select_level(r, k, err);
    if (k != 0)
        return gd_err_set(err, GD_EINPUT, "%s: a %s file has one level, not %d", r->path,
                          gd_format_name(r->info.format), k + 1);
    return GD_OK;
}

void gd_reader_close(gd_reader *r)
{
    if (!r)
        return;
    if (r->ops && r->impl)
        r->ops->close(r);
    free(r->info.icc);
    free(r->path);
    free(r);
}

gd_status gd_image_read(const char *path, gd_image *out, gd_image_info *info, gd_err *err)
{
    memset(out, 0, sizeof *out);
    if (info)
        memset(info, 0, sizeof *info);
    gd_reader *r = NULL;
    gd_status st = gd_reader_open(path, &r, err);
    if (st != GD_OK)
        return st;
    st = gd_image_alloc_full(out, r->info.w, r->info.h, 3, err);
    if (st != GD_OK) {
        gd_err_prefix(err, "%s", path);
        goto done;
    }
    st = gd_reader_read_rows(r, out, err);
    if (st != GD_OK)
        goto done;
    if (info) {
        *info = r->info;
        info->icc = NULL; /* the reader's copy goes with the reader; the caller gets its own */
        if (r->info.icc_len) {
            info->icc = gd_malloc(r->info.icc_len, "an ICC profile", err);
            if (!info->icc) {
                st = GD_ENOMEM;
                goto done;
            }
            memcpy(info->icc, r->info.icc, r->info.icc_len);
        }
    }
done:
    if (st != GD_OK)
        gd_image_free(out);
    gd_reader_close(r);
    return st;
}

/* ---- Writer front end ------------------------------------------------------------ */

/* The folder part of a path: "a/b.tif" -> "a", "b.tif" -> ".", "/b.tif" -> "/". */
static char *folder_of(const char *path, gd_err *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return dup_str(".", err);
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = gd_malloc(n + 1, "a folder name", err);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

static gd_status check_opts(const char *path, gd_format fmt, int w, int h, gd_write_opts *o,
                            gd_err *err)
{
    if (w < 1 || h < 1)
        return gd_err_set(err, GD_EINPUT, "%s: image size %d x %d: both sides must be >= 1", path,
                          w, h);
    if (o->bits != 8 && o->bits != 16)
        return gd_err_set(err, GD_EINPUT, "%s: bits must be 8 or 16, got %d", path, o->bits);
    if (!(o->dpi >= 0.0) || isinf(o->dpi))
        return gd_err_set(err, GD_EINPUT, "%s: dpi must be >= 0, got %g", path, o->dpi);
    if (o->icc_len && !o->icc)
        return gd_err_set(err, GD_EINPUT, "%s: ICC profile of %zu bytes has no data", path,
                          o->icc_len);
    if (fmt == GD_FORMAT_TIFF)
        return io_check_tiff_opts(path, o, err);
    if (fmt == GD_FORMAT_JPEG) {
        if (o->bits != 8)
            return gd_err_set(err, GD_EINPUT,
                              "%s: JPEG files hold 8-bit samples only; set [output] bits = 8 or "
                              "write a .tif",
                              path);
        if (w > 65500 || h > 65500)
            return gd_err_set(err, GD_EINPUT,
                              "%s: JPEG files are at most 65500 pixels on a side, this image is "
                              "%d x %d; write a .tif",
                              path, w, h);
    }
    return GD_OK;
}

/* The folder exists, is a folder and is writable; the path is free or may be replaced. */
static gd_status check_places(const char *path, int overwrite, gd_err *err)
{
    gd_status st = GD_OK;
    char *dir = folder_of(path, err);
    if (!dir)
        return GD_ENOMEM;
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        int e = errno;
        if (e == ENOENT)
            st = gd_err_set(err, GD_EINPUT, "%s: the output folder '%s' does not exist", path, dir);
        else if (e == ENOTDIR)
            st = gd_err_set(err, GD_EINPUT,
                            "%s: the output folder '%s' is not a folder (part of it is a file)",
                            path, dir);
        else
            st = gd_err_set(err, GD_EINPUT, "%s: cannot use the output folder '%s': %s", path, dir,
                            strerror(e));
        goto done;
    }
    if (!S_ISDIR(sb.st_mode)) {
        st = gd_err_set(err, GD_EINPUT, "%s: the output folder '%s' is not a folder", path, dir);
        goto done;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        st = gd_err_set(err, GD_EINPUT, "%s: the output folder '%s' is not writable: %s", path, dir,
                        strerror(errno));
        goto done;
    }
    if (lstat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode))
            st = gd_err_set(err, GD_EINPUT, "%s is a folder; name an output file", path);
        else if (!overwrite)
            st = gd_err_set(err, GD_EINPUT,
                            "%s exists; set [output] overwrite = true to replace it", path);
    } else if (errno != ENOENT) {
        st = gd_err_set(err, GD_EINPUT, "%s: cannot check the output path: %s", path,
                        strerror(errno));
    }
done:
    free(dir);
    return st;
}

/* This host's name as it goes into temporary names ('/' cannot), or "localhost". */
static void host_name(char *buf, size_t len)
{
    if (gethostname(buf, len) != 0 || !buf[0])
        snprintf(buf, len, "localhost");
    buf[len - 1] = '\0';
    for (char *c = buf; *c; c++)
        if (*c == '/')
            *c = '_';
}

/*
 * Protocol point 2: removes "<base>.tmp.<host>.<pid>" in path's folder when
 * <host> is this host and process <pid> no longer exists.  Best effort: a
 * folder that cannot be listed or a file that cannot be removed is left as
 * it is (creating our own temporary reports any real problem with the folder).
 */
static void remove_stale_tmps(const char *path, const char *host)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    char dir[4096], prefix[512], stale[4096 + 512];
    if (dlen + 1 > sizeof dir ||
        snprintf(prefix, sizeof prefix, "%s.tmp.%s.", base, host) >= (int)sizeof prefix)
        return;
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(dlen ? dlen : 1), dlen ? path : "/");
    else
        snprintf(dir, sizeof dir, ".");
    DIR *dh = opendir(dir);
    if (!dh)
        return;
    size_t plen = strlen(prefix);
    for (struct dirent *e; (e = readdir(dh)) != NULL;) {
        const char *tail = e->d_name + plen;
        if (strncmp(e->d_name, prefix, plen) != 0 || !*tail ||
            strspn(tail, "0123456789") != strlen(tail) || strlen(tail) > 9)
            continue;
        long pid = strtol(tail, NULL, 10);
        if (pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive (or not ours to ask about): leave it */
        if (snprintf(stale, sizeof stale, "%s/%s", dir, e->d_name) < (int)sizeof stale)
            (void)unlink(stale); /* best effort, as above */
    }
    closedir(dh);
}

static gd_status create_tmp(gd_writer *wr, gd_err *err)
{
    char host[256];
    host_name(host, sizeof host);
    remove_stale_tmps(wr->path, host);
    size_t n = strlen(wr->path) + strlen(host) + 32;
    wr->tmp = gd_malloc(n, "a file name", err);
    if (!wr->tmp)
        return GD_ENOMEM;
    snprintf(wr->tmp, n, "%s.tmp.%s.%ld", wr->path, host, (long)getpid());
    for (int attempt = 0; attempt < 2; attempt++) {
        wr->fd = open(wr->tmp, O_RDWR | O_CREAT | O_EXCL, 0666);
        if (wr->fd >= 0)
            return GD_OK;
        /* A leftover of a killed process that had our pid: ours to replace. */
        if (errno != EEXIST || attempt > 0 || unlink(wr->tmp) != 0)
            break;
    }
    gd_status st = gd_err_set(err, errno == ENOSPC || errno == EIO ? GD_EIO : GD_EINPUT,
                              "%s: cannot create the temporary file %s: %s", wr->path, wr->tmp,
                              strerror(errno));
    free(wr->tmp);
    wr->tmp = NULL;
    return st;
}

/* Frees wr; removes the temporary file unless it was renamed. */
static void writer_free(gd_writer *wr, int remove_tmp)
{
    if (!wr)
        return;
    if (wr->ops && wr->impl)
        wr->ops->discard(wr);
    if (wr->fd >= 0)
        close(wr->fd);
    if (remove_tmp && wr->tmp)
        unlink(wr->tmp);
    free(wr->tmp);
    free(wr->path);
    free(wr->description);
    free(wr->icc);
    free(wr);
}

gd_status gd_writer_open(const char *path, int w, int h, const gd_write_opts *opts, gd_writer **out,
                         gd_err *err)
{
    *out = NULL;
    gd_write_opts o;
    if (opts) {
        o = *opts;
    } else {
        memset(&o, 0, sizeof o);
        o.bits = 8;
    }
    if (!path || !*path)
        return gd_err_set(err, GD_EINPUT, "no output file given");
    gd_format fmt = GD_FORMAT_COUNT;
    gd_status st = gd_format_from_path(path, &fmt, err);
    if (st != GD_OK)
        return st;
    if ((st = check_opts(path, fmt, w, h, &o, err)) != GD_OK)
        return st;
    if ((st = check_places(path, o.overwrite, err)) != GD_OK)
        return st;

    gd_writer *wr = gd_calloc(1, sizeof *wr, "an image writer", err);
    if (!wr)
        return GD_ENOMEM;
    wr->fd = -1;
    wr->format = fmt;
    wr->w = w;
    wr->h = h;
    wr->opts = o;
    st = GD_ENOMEM;
    if (!(wr->path = dup_str(path, err)))
        goto fail;
    if (o.description) {
        if (!(wr->description = dup_str(o.description, err)))
            goto fail;
    }
    wr->opts.description = wr->description;
    if (o.icc_len) {
        if (!(wr->icc = gd_malloc(o.icc_len, "an ICC profile", err)))
            goto fail;
        memcpy(wr->icc, o.icc, o.icc_len);
    }
    wr->opts.icc = wr->icc;
    if ((st = create_tmp(wr, err)) != GD_OK)
        goto fail;
    switch (fmt) {
    case GD_FORMAT_TIFF:
        st = io_tiff_writer_start(wr, err);
        break;
    case GD_FORMAT_PNG:
        st = io_png_writer_start(wr, err);
        break;
    case GD_FORMAT_JPEG:
        st = io_jpeg_writer_start(wr, err);
        break;
    case GD_FORMAT_COUNT:
        st = gd_err_set(err, GD_EINPUT, "%s: unknown format", path);
        break;
    }
    if (st != GD_OK)
        goto fail;
    *out = wr;
    return GD_OK;
fail:
    writer_free(wr, 1);
    return st;
}

gd_status gd_writer_write_rows(gd_writer *wr, const gd_image *band, gd_err *err)
{
    if (band->w != wr->w || band->full_h != wr->h || band->c != 3)
        return gd_err_set(err, GD_EINPUT,
                          "%s: a band of a %d x %d x %d image does not fit a %d x %d RGB output",
                          wr->path, band->w, band->full_h, band->c, wr->w, wr->h);
    if (wr->raw)
        return gd_err_set(err, GD_EINPUT,
                          "%s: this writer takes raw tiles; rows cannot be mixed in", wr->path);
    if (band->y0 != wr->next_row || band->y1 < band->y0 || band->y1 > wr->h)
        return gd_err_set(err, GD_EINPUT,
                          "%s: rows must arrive in order: expected a band starting at row %d, "
                          "got rows [%d, %d)",
                          wr->path, wr->next_row, band->y0, band->y1);
    if (band->y1 == band->y0)
        return GD_OK;
    gd_status st = wr->ops->write_rows(wr, band, err);
    if (st == GD_OK)
        wr->next_row = band->y1;
    return st;
}

gd_status gd_writer_append_tile(gd_writer *wr, int level, uint32_t index, const void *p, size_t n,
                                gd_err *err)
{
    if (!wr->ops->append_tile)
        return gd_err_set(err, GD_EINPUT, "%s: raw tiles can only be appended to a TIFF", wr->path);
    if (wr->next_row > 0)
        return gd_err_set(err, GD_EINPUT,
                          "%s: this writer takes rows; raw tiles cannot be mixed in", wr->path);
    wr->raw = 1;
    return wr->ops->append_tile(wr, level, index, p, n, err);
}

void gd_writer_tables(const gd_writer *wr, const void **p, size_t *n)
{
    *p = NULL;
    *n = 0;
    if (wr->ops->tables)
        wr->ops->tables(wr, p, n);
}

/* Makes the temporary file the path: rename (overwrite) or link + unlink. */
static gd_status put_in_place(gd_writer *wr, gd_err *err)
{
    if (!wr->opts.overwrite) {
        if (link(wr->tmp, wr->path) == 0) {
            unlink(wr->tmp);
            return GD_OK;
        }
        if (errno == EEXIST)
            return gd_err_set(err, GD_EINPUT,
                              "%s appeared while it was being written; set [output] overwrite "
                              "= true to replace it",
                              wr->path);
        /* File systems without hard links: check, then rename. */
        struct stat sb;
        if (lstat(wr->path, &sb) == 0)
            return gd_err_set(err, GD_EINPUT,
                              "%s appeared while it was being written; set [output] overwrite "
                              "= true to replace it",
                              wr->path);
    }
    if (rename(wr->tmp, wr->path) != 0)
        return gd_err_set(err, GD_EIO, "%s: cannot rename %s into place: %s", wr->path, wr->tmp,
                          strerror(errno));
    return GD_OK;
}

static gd_status fsync_folder(const char *path, gd_err *err)
{
    char *dir = folder_of(path, err);
    if (!dir)
        return GD_ENOMEM;
    gd_status st = GD_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        st = gd_err_set(err, GD_EIO, "%s: cannot open the folder '%s' to flush it: %s", path, dir,
                        strerror(errno));
    } else {
        st = io_fsync(fd, dir, err);
        close(fd);
    }
    free(dir);
    return st;
}

gd_status gd_writer_commit(gd_writer *wr, gd_err *err)
{
    if (!wr)
        return gd_err_set(err, GD_EINPUT, "no writer to commit");
    gd_status st;
    if (!wr->raw && wr->next_row != wr->h) {
        st = gd_err_set(err, GD_EINPUT, "%s: only %d of %d rows were written", wr->path,
                        wr->next_row, wr->h);
        goto fail;
    }
    if ((st = wr->ops->finish(wr, err)) != GD_OK)
        goto fail;
    if ((st = put_in_place(wr, err)) != GD_OK)
        goto fail;
    st = fsync_folder(wr->path, err);
    writer_free(wr, 0);
    return st;
fail:
    writer_free(wr, 1);
    return st;
}

void gd_writer_abort(gd_writer *wr)
{
    writer_free(wr, 1);
}

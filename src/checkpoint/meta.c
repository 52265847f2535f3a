/*
 * meta.c: a checkpoint's metadata attributes (checkpoint.c,
 * invariants 3 and 4): one table drives writing, reading and the metadata
 * checksum, so the three cannot drift apart.
 */
#include "checkpoint_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const ck_file_names[CK_N_FILES] = {"input", "model", "guide"};

typedef enum kind { K_STR, K_I32, K_I64, K_U64, K_F64 } kind;

typedef struct field {
    const char *name;
    kind k;
    size_t off;
    int64_t lo, hi; /* bounds of integers (K_I32, K_I64) */
} field;

#define F(name, k, member, lo, hi)                                                                 \
    {                                                                                              \
        name, k, offsetof(ck_meta, member), lo, hi                                                 \
    }
#define FILE_FIELDS(i, n)                                                                          \
    F(n "_path", K_STR, file_path[i], 0, 0), F(n "_size", K_I64, file_size[i], -1, INT64_MAX),     \
        F(n "_mtime", K_I64, file_mtime[i], INT64_MIN, INT64_MAX)

/* Invariant 3's attributes, in the order the checksum reads them. */
static const field fields[] = {
    F("format", K_STR, format, 0, 0),
    F("format_version", K_I32, format_version, 0, INT32_MAX),
    F("gigadream_version", K_STR, version, 0, 0),
    F("job_text", K_STR, job_text, 0, 0),
    F("job_canon", K_STR, job_canon, 0, 0),
    F("job_hash", K_STR, job_hash, 0, 0),
    F("octave", K_I32, octave, 0, 1000),
    F("iteration", K_I32, iteration, 0, INT32_MAX),
    F("octaves", K_I32, octaves, 1, 1000),
    F("width", K_I32, width, 1, INT32_MAX),
    F("height", K_I32, height, 1, INT32_MAX),
    F("seed", K_U64, seed, 0, 0),
    F("ranks", K_I32, ranks, 1, INT32_MAX),
    F("counter", K_I64, counter, 0, INT64_MAX),
    F("time", K_F64, time, 0, 0),
    FILE_FIELDS(CK_FILE_INPUT, "input"),
    FILE_FIELDS(CK_FILE_MODEL, "model"),
    FILE_FIELDS(CK_FILE_GUIDE, "guide"),
    F("kernel_path", K_STR, kernel_path, 0, 0),
};
_Static_assert(CK_N_FILES == 3, "FILE_FIELDS rows must name every recorded file");

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static char *dup_str(const char *s, gd_err *err)
{
    size_t n = strlen(s ? s : "");
    char *d = gd_malloc(n + 1, "checkpoint metadata", err);
    if (d)
        memcpy(d, s ? s : "", n + 1);
    return d;
}

gd_status ck_meta_from_job(ck_meta *m, const gd_job *job, const gd_checkpoint_pos *pos, int ranks,
                           gd_err *err)
{
    char hex[17];
    const char *paths[CK_N_FILES] = {job->noise ? NULL : job->image.path, job->model.path,
                                     job->guide.path};
    memset(m, 0, sizeof *m);
    if (!(m->format = dup_str(CK_FORMAT, err)) || !(m->version = dup_str(GD_VERSION, err)) ||
        !(m->job_text = dup_str(job->text, err)) || !(m->job_canon = dup_str(job->canon, err)) ||
        !(m->job_hash = dup_str(gd_job_hash_hex(job->hash, hex), err)) ||
        !(m->kernel_path = dup_str(pos->kernel_path, err)))
        goto fail;
    for (int i = 0; i < CK_N_FILES; i++) {
        if (!(m->file_path[i] = dup_str(paths[i], err)))
            goto fail;
        m->file_size[i] = -1;
    }
    m->format_version = CK_FORMAT_VERSION;
    m->octave = pos->octave;
    m->iteration = pos->iteration;
    m->octaves = pos->octaves;
    m->width = pos->w;
    m->height = pos->h;
    m->seed = job->seed;
    m->ranks = ranks;
    return GD_OK;
fail:
    ck_meta_free(m);
    return err->status;
}

void ck_meta_free(ck_meta *m)
{
    if (!m)
        return;
    for (size_t k = 0; k < COUNT(fields); k++)
        if (fields[k].k == K_STR)
            free(*(char **)((char *)m + fields[k].off));
    free(m->checksum);
    memset(m, 0, sizeof *m);
}

void ck_meta_public(const ck_meta *m, gd_checkpoint_meta *out)
{
    memset(out, 0, sizeof *out);
    out->pos.octave = m->octave;
    out->pos.iteration = m->iteration;
    out->pos.octaves = m->octaves;
    out->pos.w = m->width;
    out->pos.h = m->height;
    out->seed = m->seed;
    out->job_hash = m->job_hash ? strtoull(m->job_hash, NULL, 16) : 0;
    out->counter = (long long)m->counter;
    out->ranks = m->ranks;
    out->time = m->time;
    snprintf(out->version, sizeof out->version, "%s", m->version ? m->version : "");
    snprintf(out->kernel_path, sizeof out->kernel_path, "%s", m->kernel_path ? m->kernel_path : "");
}

void ck_file_stat(const char *path, int64_t *size, int64_t *mtime)
{
    struct stat sb;
    *size = -1;
    *mtime = 0;
    if (path && *path && stat(path, &sb) == 0) {
        *size = (int64_t)sb.st_size;
        *mtime = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    }
}

/* --- The checksum ------------------------------------------------------------ */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/*
 * FNV-1a 64 over "name=value\n" for each field in table order: integers in
 * decimal, the time as the hex of its IEEE bits, strings as "LENGTH:" and
 * their bytes (so no string can imitate a field boundary).
 */
uint64_t ck_meta_checksum(const ck_meta *m)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    char num[64];
    for (size_t k = 0; k < COUNT(fields); k++) {
        const void *p = (const char *)m + fields[k].off;
        const char *s = NULL;
        size_t sl = 0;
        switch (fields[k].k) {
        case K_STR:
            s = *(char *const *)p ? *(char *const *)p : "";
            sl = strlen(s);
            snprintf(num, sizeof num, "%zu:", sl);
            break;
        case K_I32:
            snprintf(num, sizeof num, "%d", *(const int *)p);
            break;
        case K_I64:
            snprintf(num, sizeof num, "%" PRId64, *(const int64_t *)p);
            break;
        case K_U64:
            snprintf(num, sizeof num, "%" PRIu64, *(const uint64_t *)p);
            break;
        case K_F64: {
            uint64_t bits;
            memcpy(&bits, p, sizeof bits);
            snprintf(num, sizeof num, "%016" PRIx64, bits);
            break;
        }
        }
        h = fnv(h, fields[k].name, strlen(fields[k].name));
        h = fnv(h, "=", 1);
        h = fnv(h, num, strlen(num));
        if (s)
            h = fnv(h, s, sl);
        h = fnv(h, "\n", 1);
    }
    return h;
}

/* --- Writing ----------------------------------------------------------------- */

static gd_status put_field(hid_t loc, const ck_meta *m, const field *f, gd_err *err)
{
    const void *p = (const char *)m + f->off;
    switch (f->k) {
    case K_STR:
        return h5io_put_str(loc, f->name, *(char *const *)p ? *(char *const *)p : "", err);
    case K_I32:
        return h5io_put_int(loc, f->name, *(const int *)p, err);
    case K_I64:
        return h5io_put_attr(loc, f->name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, p, err);
    case K_U64:
        return h5io_put_attr(loc, f->name, H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, p, err);
    case K_F64:
        return h5io_put_attr(loc, f->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, p, err);
    }
    return gd_err_set(err, GD_ELIB, "internal: field kind %d", (int)f->k);
}

gd_status ck_meta_put(hid_t loc, const ck_meta *m, gd_err *err)
{
    gd_status st = GD_OK;
    for (size_t k = 0; k < COUNT(fields) && st == GD_OK; k++)
        st = put_field(loc, m, &fields[k], err);
    return st;
}

gd_status ck_meta_put_marker(hid_t loc, const ck_meta *m, gd_err *err)
{
    char hex[17];
    gd_status st = h5io_put_str(loc, CK_CHECKSUM, gd_job_hash_hex(ck_meta_checksum(m), hex), err);
    if (st == GD_OK)
        st = h5io_put_int(loc, CK_MARKER, 1, err);
    return st;
}

/* --- Reading ----------------------------------------------------------------- */

/* A fixed-length string attribute of any length up to CK_MAX_TEXT into a new buffer. */
static gd_status get_str_alloc(hid_t loc, const char *name, char **out, gd_err *err)
{
    gd_status st = GD_OK;
    hid_t a = -1, t = -1, sp = -1, mt = -1;
    char *buf = NULL;
    htri_t ex = H5Aexists(loc, name);
    if (ex <= 0)
        return ex == 0 ? gd_err_set(err, GD_EINPUT, "missing attribute '%s'", name)
                       : ck_h5_fail(GD_EINPUT, name, err);
    if ((a = H5Aopen(loc, name, H5P_DEFAULT)) < 0 || (t = H5Aget_type(a)) < 0 ||
        (sp = H5Aget_space(a)) < 0) {
        st = ck_h5_fail(GD_EINPUT, name, err);
        goto done;
    }
    size_t size = H5Tget_size(t);
    if (H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) != 0 || size == 0 ||
        size > CK_MAX_TEXT || H5Sget_simple_extent_npoints(sp) != 1) {
        st = gd_err_set(err, GD_EINPUT, "attribute '%s' is not a fixed-length string", name);
        goto done;
    }
    if (!(buf = gd_calloc(size + 1, 1, "checkpoint metadata", err))) {
        st = err->status;
        goto done;
    }
    if ((mt = h5io_string_type(size)) < 0 || H5Aread(a, mt, buf) < 0) {
        st = ck_h5_fail(GD_EINPUT, name, err);
        goto done;
    }
    *out = buf;
    buf = NULL;
done:
    free(buf);
    if (mt >= 0)
        H5Tclose(mt);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return st;
}

static gd_status get_field(hid_t loc, ck_meta *m, const field *f, gd_err *err)
{
    void *p = (char *)m + f->off;
    int64_t v = 0;
    gd_status st;
    switch (f->k) {
    case K_STR:
        return get_str_alloc(loc, f->name, (char **)p, err);
    case K_I32: {
        int i;
        if ((st = h5io_get_attr(loc, f->name, H5T_INTEGER, H5T_NATIVE_INT, 1, &i, err)) != GD_OK)
            return st;
        *(int *)p = i;
        v = i;
        break;
    }
    case K_I64:
        if ((st = h5io_get_attr(loc, f->name, H5T_INTEGER, H5T_NATIVE_INT64, 1, p, err)) != GD_OK)
            return st;
        v = *(int64_t *)p;
        break;
    case K_U64:
        return h5io_get_attr(loc, f->name, H5T_INTEGER, H5T_NATIVE_UINT64, 1, p, err);
    case K_F64:
        return h5io_get_attr(loc, f->name, H5T_FLOAT, H5T_NATIVE_DOUBLE, 1, p, err);
    }
    if (v < f->lo || v > f->hi)
        return gd_err_set(err, GD_EINPUT,
                          "attribute '%s' is %" PRId64 ", not in [%" PRId64 ", %" PRId64 "]",
                          f->name, v, f->lo, f->hi);
    return GD_OK;
}

gd_status ck_meta_get(hid_t loc, ck_meta *m, gd_err *err)
{
    gd_status st;
    memset(m, 0, sizeof *m);
    for (int i = 0; i < CK_N_FILES; i++)
        m->file_size[i] = -1;
    htri_t ex = H5Aexists(loc, "format");
    if (ex < 0)
        return ck_h5_fail(GD_EINPUT, "format", err);
    if (ex > 0 && (st = get_str_alloc(loc, "format", &m->format, err)) != GD_OK)
        return st;
    if (ex == 0 || strcmp(m->format, CK_FORMAT) != 0)
        return gd_err_set(err, GD_EINPUT, "not a gigadream checkpoint (no format '%s')", CK_FORMAT);
    if ((st = h5io_get_attr(loc, "format_version", H5T_INTEGER, H5T_NATIVE_INT, 1,
                            &m->format_version, err)) != GD_OK)
        return st;
    if (m->format_version != CK_FORMAT_VERSION)
        return gd_err_set(err, GD_EINPUT,
                          "checkpoint format version %d; this gigadream reads version %d",
                          m->format_version, CK_FORMAT_VERSION);
    ex = H5Aexists(loc, CK_MARKER);
    if (ex < 0)
        return ck_h5_fail(GD_EINPUT, CK_MARKER, err);
    if (ex == 0)
        return gd_err_set(err, GD_EINPUT, "missing completion marker");
    if ((st = h5io_get_attr(loc, CK_MARKER, H5T_INTEGER, H5T_NATIVE_INT, 1, &m->complete, err)) !=
        GD_OK)
        return st;
    if (m->complete != 1)
        return gd_err_set(err, GD_EINPUT, "completion marker is %d, not 1", m->complete);
    for (size_t k = 2; k < COUNT(fields); k++)
        if ((st = get_field(loc, m, &fields[k], err)) != GD_OK)
            return gd_err_prefix(err, "damaged metadata");
    if ((st = get_str_alloc(loc, CK_CHECKSUM, &m->checksum, err)) != GD_OK)
        return gd_err_prefix(err, "damaged metadata");
    char hex[17];
    if (strcmp(m->checksum, gd_job_hash_hex(ck_meta_checksum(m), hex)) != 0)
        return gd_err_set(err, GD_EINPUT, "metadata checksum mismatch (stored %.16s, computed %s)",
                          m->checksum, hex);
    return GD_OK;
}

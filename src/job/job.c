/*
 * job.c: INI job files (contract in job.h).
 *
 * The top of the job module (job_int.h has its layers): the only file that
 * calls inih, and the only one that writes a value into a gd_job field from
 * text.  Nothing below it calls back into it.
 *
 * How a job is built, in order:
 *   1. defaults that depend on no other key are set (rules.c);
 *   2. the file is parsed by inih through our own line reader (below), each
 *      key found in the key table (keys.c), parsed strictly (values.c) and
 *      range-checked where it stands, so the message names its line;
 *   3. the overrides are applied the same way, naming the --set argument;
 *   4. defaults that depend on other keys are filled (mode -> octaves,
 *      iterations, step; size -> jitter), then required keys and rules
 *      between keys are checked, naming the key that was set explicitly
 *      (rules.c);
 *   5. paths are resolved (rules.c), and the canonical text and hash
 *      computed (canon.c).
 *
 * Line numbers with inih.  Debian's libinih is built without
 * INI_HANDLER_LINENO, so the handler is not told the line.  We parse with
 * ini_parse_stream and a reader that hands inih exactly one line per call and
 * counts them; inih calls the handler for a line before it asks for the
 * next, so at handler time the reader's count is the key's line.  The reader
 * also strips leading blanks (so an indented key never becomes inih's
 * multi-line continuation of the previous key), refuses lines longer than
 * inih's fixed buffer instead of letting inih split them silently, and
 * checks section headers itself, so an unknown section is reported at its
 * own line even when no key follows.  inih's own syntax errors come back as
 * the line number ini_parse_stream returns.
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include "gigadream/job.h"

#include <assert.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "job_int.h"

/* ---- Strict value parsing ------------------------------------------------------- */

static int in_range(const job_key_desc *d, double v)
{
    if (d->flags & JOB_LO_OPEN ? !(v > d->lo) : !(v >= d->lo))
        return 0;
    return v <= d->hi;
}

static gd_status set_path(gd_job_path *jp, const char *value, char *why, size_t wlen, gd_err *err)
{
    if (!value[0]) {
        snprintf(why, wlen, "must be a path, not empty");
        return GD_EINPUT;
    }
    char *s = job_strdup(value, err);
    if (!s)
        return err->status;
    free(jp->text);
    free(jp->path);
    jp->text = s;
    jp->path = NULL; /* resolved once every value is in (job_resolve_paths) */
    return GD_OK;
}

static void set_enum(gd_job *job, gd_job_key k, int v)
{
    switch (k) {
    case GD_JOB_KEY_MODEL_OBJECTIVE:
        job->objective = (gd_obj_kind)v;
        break;
    case GD_JOB_KEY_DREAM_MODE:
        job->mode = (gd_dream_mode)v;
        break;
    case GD_JOB_KEY_TILES_BORDER:
        job->border = (gd_border)v;
        break;
    case GD_JOB_KEY_OUTPUT_COMPRESSION:
        job->compression = (gd_compression)v;
        break;
    case GD_JOB_KEY_ENGINE_PRECISION:
        job->precision = (gd_engine_precision)v;
        break;
    case GD_JOB_KEY_INPUT_IMAGE:
    case GD_JOB_KEY_INPUT_WIDTH:
    case GD_JOB_KEY_INPUT_HEIGHT:
    case GD_JOB_KEY_MODEL_FILE:
    case GD_JOB_KEY_MODEL_LAYER:
    case GD_JOB_KEY_MODEL_CHANNELS:
    case GD_JOB_KEY_MODEL_GUIDE:
    case GD_JOB_KEY_DREAM_OCTAVES:
    case GD_JOB_KEY_DREAM_OCTAVE_SCALE:
    case GD_JOB_KEY_DREAM_ITERATIONS:
    case GD_JOB_KEY_DREAM_STEP:
    case GD_JOB_KEY_DREAM_SEED:
    case GD_JOB_KEY_DREAM_LAP_LEVELS:
    case GD_JOB_KEY_TILES_SIZE:
    case GD_JOB_KEY_TILES_OVERLAP:
    case GD_JOB_KEY_TILES_JITTER:
    case GD_JOB_KEY_OUTPUT_FILE:
    case GD_JOB_KEY_OUTPUT_BITS:
    case GD_JOB_KEY_OUTPUT_DPI:
    case GD_JOB_KEY_OUTPUT_PYRAMID:
    case GD_JOB_KEY_OUTPUT_OVERWRITE:
    case GD_JOB_KEY_OUTPUT_BIGTIFF:
    case GD_JOB_KEY_OUTPUT_PREVIEW:
    case GD_JOB_KEY_CHECKPOINT_DIR:
    case GD_JOB_KEY_CHECKPOINT_EVERY_ITERATIONS:
    case GD_JOB_KEY_CHECKPOINT_EVERY_SECONDS:
    case GD_JOB_KEY_CHECKPOINT_KEEP:
    case GD_JOB_KEY_ENGINE_THREADS:
    case GD_JOB_KEY_ENGINE_MEMORY:
    case GD_JOB_KEY_ENGINE_SCRATCH:
    case GD_JOB_KEY_COUNT:
        /* Not JOB_V_ENUM keys: set_value calls set_enum for enum keys only.
         * -Wswitch makes every new key take a side. */
        assert(!"set_enum: not an enum key");
        break;
    }
}

/*
 * Parses value into key k of job.  GD_EINPUT: why says what the value must
 * be; other statuses are in err.
 */
static gd_status set_value(gd_job *job, gd_job_key k, const char *value, char *why, size_t wlen,
                           gd_err *err)
{
    const job_key_desc *d = job_key(k);
    void *field = (char *)job + d->offset;
    long long ll;
    double num;
    int b;
    snprintf(why, wlen, "%s", d->rule ? d->rule : "");
    switch (d->type) {
    case JOB_V_IMAGE: {
        gd_status st = set_path(&job->image, value, why, wlen, err);
        if (st == GD_OK)
            job->noise = strcmp(value, "noise") == 0;
        return st;
    }
    case JOB_V_PATH:
        return set_path(field, value, why, wlen, err);
    case JOB_V_INT:
        if ((d->flags & JOB_AUTO_OK) && strcasecmp(value, "auto") == 0) {
            *(int *)field = GD_TILING_AUTO;
            return GD_OK;
        }
        if (!job_parse_int(value, &ll))
            return GD_EINPUT;
        if (!((d->flags & JOB_ZERO_OK) && ll == 0) && !in_range(d, (double)ll))
            return GD_EINPUT;
        if (k == GD_JOB_KEY_OUTPUT_BITS && ll != 8 && ll != 16)
            return GD_EINPUT;
        *(int *)field = (int)ll;
        return GD_OK;
    case JOB_V_U64:
        if (!job_parse_u64(value, field))
            return GD_EINPUT;
        return GD_OK;
    case JOB_V_FLOAT:
        /* Range-check the float the renderer will use, not the decimal text. */
        if (!job_parse_number(value, &num) || !in_range(d, (double)(float)num))
            return GD_EINPUT;
        *(float *)field = (float)num;
        return GD_OK;
    case JOB_V_DOUBLE:
        if (!job_parse_number(value, &num) || !in_range(d, num))
            return GD_EINPUT;
        *(double *)field = num;
        return GD_OK;
    case JOB_V_BOOL:
        if (!job_parse_bool(value, &b))
            return GD_EINPUT;
        *(int *)field = b;
        return GD_OK;
    case JOB_V_BIGTIFF:
        if (strcasecmp(value, "auto") == 0) {
            *(int *)field = 0;
            return GD_OK;
        }
        if (!job_parse_bool(value, &b))
            return GD_EINPUT;
        if (!b) {
            /* Forcing classic TIFF would only turn a large render into a failure at the end. */
            snprintf(why, wlen,
                     "must be auto or true; classic TIFF cannot be forced (auto writes it "
                     "whenever the file stays under 4 GB)");
            return GD_EINPUT;
        }
        *(int *)field = 1;
        return GD_OK;
    case JOB_V_ENUM:
        /* A hole in a name table (a NULL) is skipped, never compared. */
        for (int i = 0; i < d->n_names; i++)
            if (d->names[i] && strcasecmp(value, d->names[i]) == 0) {
                set_enum(job, k, i);
                return GD_OK;
            }
        {
            size_t n = (size_t)snprintf(why, wlen, "must be one of");
            for (int i = 0, listed = 0; i < d->n_names && n < wlen; i++)
                if (d->names[i])
                    n += (size_t)snprintf(why + n, wlen - n, "%s %s", listed++ ? "," : "",
                                          d->names[i]);
        }
        return GD_EINPUT;
    case JOB_V_LAYER:
        return job_parse_layers(value, &job->layer, &job->n_layers, why, wlen, err);
    case JOB_V_CHANNELS:
        return job_parse_channels(value, &job->channels, &job->n_channels, why, wlen, err);
    case JOB_V_BYTES:
        if (strcasecmp(value, "auto") == 0) {
            *(double *)field = 0;
            return GD_OK;
        }
        if (!job_parse_bytes(value, &num) || !in_range(d, num))
            return GD_EINPUT;
        *(double *)field = num;
        return GD_OK;
    }
    return GD_EINPUT;
}

/* Parses value into k and reports a bad value as "WHERE: [section] key: why, got 'value'". */
static gd_status apply(gd_job *job, gd_job_key k, const char *value, const char *where, gd_err *err)
{
    char why[256];
    gd_status st = set_value(job, k, value, why, sizeof why, err);
    if (st != GD_EINPUT)
        return st;
    return gd_err_set(err, GD_EINPUT, "%s: [%s] %s: %s, got '%s'%s", where, gd_job_key_section(k),
                      gd_job_key_name(k), why, value,
                      strchr(value, '#') ? " (a comment after a value starts with ' ;')" : "");
}

/* ---- The line reader and handler for inih ------------------------------------ */

typedef struct parser {
    gd_job *job;
    gd_err *err;
    const char *text; /* the whole file */
    size_t pos;       /* next unread byte */
    int line;         /* number of the line last handed to inih */
    int section;      /* current section, -1 before the first */
    gd_status st;     /* first error we found (its message is in err) */
    int err_line;     /* its line */
} parser;

static char *reader(char *str, int num, void *stream)
{
    parser *p = stream;
    if (p->st != GD_OK || p->text[p->pos] == '\0')
        return NULL;
    const char *s = p->text + p->pos;
    size_t n = strcspn(s, "\n");
    p->pos += n + (s[n] == '\n');
    p->line++;
    if (p->line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        n -= 3;
    }
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    /* One line per call: the line, a newline and the NUL must fit. */
    if (n > GD_JOB_MAX_LINE || n + 2 > (size_t)num) {
        p->st =
            gd_err_set(p->err, GD_EINPUT, "%s:%d: line is longer than %d characters", p->job->file,
                       p->line, num - 2 < GD_JOB_MAX_LINE ? num - 2 : GD_JOB_MAX_LINE);
        p->err_line = p->line;
        return NULL;
    }
    memcpy(str, s, n);
    str[n] = '\n';
    str[n + 1] = '\0';
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close) { /* without ']' inih reports the syntax error */
            char name[64];
            size_t len = (size_t)(close - s - 1);
            job_trim(s + 1, len < sizeof name ? len : sizeof name - 1, name, sizeof name);
            p->section = job_find_section(name);
            if (p->section < 0) {
                char hint[160];
                job_section_hint(name, hint, sizeof hint);
                p->st = gd_err_set(p->err, GD_EINPUT, "%s:%d: unknown section [%s]%s", p->job->file,
                                   p->line, name, hint);
                p->err_line = p->line;
                return NULL;
            }
        }
    }
    return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    parser *p = user;
    (void)section; /* p->section tracks it, checked at its own line */
    if (p->st != GD_OK)
        return 1;
    gd_job *job = p->job;
    char where[64 + 4096];
    snprintf(where, sizeof where, "%s:%d", job->file, p->line);
    if (p->section < 0) {
        p->st = gd_err_set(p->err, GD_EINPUT,
                           "%s: key '%s' is outside any section (put it under [input], "
                           "[model], [dream], ...)",
                           where, name);
    } else {
        int k = job_find_key(p->section, name);
        if (k < 0) {
            char hint[256];
            job_key_hint(p->section, name, hint, sizeof hint);
            p->st = gd_err_set(p->err, GD_EINPUT, "%s: unknown key '%s' in [%s]%s", where, name,
                               job_section_name(p->section), hint);
        } else if (job->line[k] > 0) {
            p->st = gd_err_set(p->err, GD_EINPUT,
                               "%s: duplicate key '%s' in [%s] (first set at line %d)", where, name,
                               job_section_name(p->section), job->line[k]);
        } else {
            p->st = apply(job, (gd_job_key)k, value, where, p->err);
            if (p->st == GD_OK)
                job->line[k] = p->line;
        }
    }
    if (p->st != GD_OK) {
        p->err_line = p->line;
        return 0;
    }
    return 1;
}

/* Reports inih's syntax error at line `line`, quoting it. */
static gd_status syntax_error(const parser *p, int line, gd_err *err)
{
    const char *s = p->text;
    for (int i = 1; i < line && *s; i++) {
        s = strchr(s, '\n');
        s = s ? s + 1 : "";
    }
    char text[64];
    size_t n = strcspn(s, "\n");
    job_trim(s, n, text, sizeof text);
    if (text[0] == '[')
        return gd_err_set(err, GD_EINPUT, "%s:%d: section header without a closing ']': '%s'",
                          p->job->file, line, text);
    return gd_err_set(err, GD_EINPUT, "%s:%d: expected 'key = value' or '[section]', got '%s'",
                      p->job->file, line, text);
}

/* ---- Overrides ---------------------------------------------------------------- */

static gd_status apply_override(gd_job *job, int i, gd_err *err)
{
    const char *s = job->overrides[i];
    char where[4096 + 8];
    snprintf(where, sizeof where, "--set %s", s);
    const char *eq = strchr(s, '=');
    const char *dot = eq ? memchr(s, '.', (size_t)(eq - s)) : NULL;
    if (!eq || !dot)
        return gd_err_set(err, GD_EINPUT, "%s: expected section.key=value (e.g. dream.step=2)",
                          where);
    char section[64], name[64];
    job_trim(s, (size_t)(dot - s), section, sizeof section);
    job_trim(dot + 1, (size_t)(eq - dot - 1), name, sizeof name);
    int sec = job_find_section(section);
    if (sec < 0) {
        char hint[160];
        job_section_hint(section, hint, sizeof hint);
        return gd_err_set(err, GD_EINPUT, "%s: unknown section [%s]%s", where, section, hint);
    }
    int k = job_find_key(sec, name);
    if (k < 0) {
        char hint[256];
        job_key_hint(sec, name, hint, sizeof hint);
        return gd_err_set(err, GD_EINPUT, "%s: unknown key '%s' in [%s]%s", where, name,
                          job_section_name(sec), hint);
    }
    size_t vlen = strlen(eq + 1);
    char *value = gd_malloc(vlen + 1, "override value", err);
    if (!value)
        return err->status;
    job_trim(eq + 1, vlen, value, vlen + 1);
    gd_status st = apply(job, (gd_job_key)k, value, where, err);
    free(value);
    if (st == GD_OK)
        job->line[k] = -(i + 1);
    return st;
}

/* ---- Entry points ----------------------------------------------------------------- */

void gd_job_free(gd_job *job)
{
    if (!job)
        return;
    gd_job_path *paths[] = {&job->image,  &job->model,          &job->guide,
                            &job->output, &job->checkpoint_dir, &job->scratch};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        free(paths[i]->text);
        free(paths[i]->path);
    }
    free(job->layer);
    free(job->channels);
    free(job->file);
    free(job->dir);
    free(job->text);
    free(job->canon);
    for (int i = 0; i < job->n_overrides; i++)
        free(job->overrides[i]);
    free(job->overrides);
    memset(job, 0, sizeof *job);
}

static gd_status parse(const char *text, const char *name, const char *base_dir,
                       const char *const *overrides, int n_overrides, gd_job *job, gd_err *err)
{
    gd_status st = GD_OK;
    job_init(job);
    if (!(job->file = job_strdup(name, err)) || !(job->text = job_strdup(text, err))) {
        st = err->status;
        goto fail;
    }
    if (base_dir[0] == '/') {
        job->dir = job_strdup(base_dir, err);
    } else {
        char *cwd = realpath(".", NULL);
        if (!cwd) {
            st = gd_err_set(err, GD_EIO, "cannot resolve the current directory: %s",
                            strerror(errno));
            goto fail;
        }
        job->dir = job_join_path(cwd, base_dir, err);
        free(cwd);
    }
    if (!job->dir) {
        st = err->status;
        goto fail;
    }
    if (n_overrides > 0) {
        job->overrides = gd_calloc((size_t)n_overrides, sizeof *job->overrides, "overrides", err);
        if (!job->overrides) {
            st = err->status;
            goto fail;
        }
        for (int i = 0; i < n_overrides; i++) {
            if (!(job->overrides[i] = job_strdup(overrides[i], err))) {
                st = err->status;
                goto fail;
            }
            job->n_overrides = i + 1;
        }
    }

    parser p = {.job = job, .err = err, .text = job->text, .section = -1, .st = GD_OK};
    int rc = ini_parse_stream(reader, &p, handler, &p);
    if (rc == -2) {
        st = gd_err_set(err, GD_ENOMEM, "%s: out of memory while parsing", name);
        goto fail;
    }
    if (rc > 0 && (p.st == GD_OK || rc < p.err_line)) {
        st = syntax_error(&p, rc, err);
        goto fail;
    }
    if ((st = p.st) != GD_OK)
        goto fail;

    for (int i = 0; i < n_overrides; i++)
        if ((st = apply_override(job, i, err)) != GD_OK)
            goto fail;
    job_fill_defaults(job);
    if ((st = job_check(job, err)) != GD_OK || (st = job_resolve_paths(job, err)) != GD_OK)
        goto fail;
    if ((st = job_canon_build(job, err)) != GD_OK)
        goto fail;
    return GD_OK;
fail:
    gd_job_free(job);
    return st;
}

gd_status gd_job_parse(const char *text, const char *name, const char *base_dir,
                       const char *const *overrides, int n_overrides, gd_job *job, gd_err *err)
{
    /*
     * Numbers are read (strtod) and printed (the canonical text) in the C
     * locale whatever locale the process runs in, so "1.5" parses and the
     * hash is the same on every machine.  uselocale changes this thread only.
     */
    locale_t c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c_numeric) {
        memset(job, 0, sizeof *job);
        return gd_err_set(err, GD_ENOMEM, "%s: cannot create the C locale: %s", name,
                          strerror(errno));
    }
    locale_t old = uselocale(c_numeric);
    gd_status st = parse(text, name, base_dir, overrides, n_overrides, job, err);
    uselocale(old);
    freelocale(c_numeric);
    return st;
}

/* Reads a whole job file (at most GD_JOB_MAX_BYTES) into a NUL-terminated string. */
static gd_status read_text(const char *path, char **out, gd_err *err)
{
    gd_status st = GD_OK;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return gd_err_set(err, GD_EINPUT, "cannot open job file '%s': %s", path, strerror(errno));
    buf = gd_malloc(GD_JOB_MAX_BYTES + 1, "job file", err);
    if (!buf) {
        st = err->status;
        goto done;
    }
    size_t n = fread(buf, 1, GD_JOB_MAX_BYTES + 1, f);
    if (ferror(f)) {
        st = gd_err_set(err, GD_EINPUT, "cannot read job file '%s': %s", path, strerror(errno));
        goto done;
    }
    if (n > GD_JOB_MAX_BYTES) {
        st = gd_err_set(err, GD_EINPUT, "%s: job file is larger than %d bytes", path,
                        GD_JOB_MAX_BYTES);
        goto done;
    }
    if (memchr(buf, '\0', n)) {
        st = gd_err_set(err, GD_EINPUT, "%s: not a text file (contains NUL bytes)", path);
        goto done;
    }
    buf[n] = '\0';
    *out = buf;
    buf = NULL;
done:
    free(buf);
    fclose(f);
    return st;
}

gd_status gd_job_load(const char *path, const char *const *overrides, int n_overrides, gd_job *job,
                      gd_err *err)
{
    char *text = NULL, *copy = NULL, *dir = NULL;
    gd_status st;
    memset(job, 0, sizeof *job);
    if ((st = read_text(path, &text, err)) != GD_OK)
        goto done;
    if (!(copy = job_strdup(path, err))) {
        st = err->status;
        goto done;
    }
    /* The job file exists, so its folder does: make it absolute and canonical. */
    if (!(dir = realpath(dirname(copy), NULL))) {
        st = gd_err_set(err, GD_EIO, "cannot resolve the folder of job file '%s': %s", path,
                        strerror(errno));
        goto done;
    }
    st = gd_job_parse(text, path, dir, overrides, n_overrides, job, err);
done:
    free(text);
    free(copy);
    free(dir);
    return st;
}

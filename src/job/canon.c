/*
 * canon.c: the canonical text of a job, its hash, and the difference
 * between two canonical texts (rules in job.h).
 *
 * Above keys.c and values.c (names, float formatting), below job.c; it never
 * parses a job nor changes one but for job->canon and job->hash.
 *
 * The canonical text is what a checkpoint stores to recognize "the same
 * dream": one "section.key=value\n" line per key that affects the pixels,
 * sorted by strcmp.  Values are formatted here and nowhere else, so two jobs
 * that mean the same thing (1.50 and 1.5, "a:1" and "a", relative and
 * absolute paths to one file, a default and the same value written out) have
 * the same text and hash.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_int.h"

/*
 * The canonical value of key k: a string the job holds, or one formatted into
 * small; NULL for a key that is not in the canonical text.
 */
static const char *canon_value(const gd_job *job, gd_job_key k, char *small, size_t len)
{
    switch (k) {
    case GD_JOB_KEY_INPUT_IMAGE:
        return job->noise ? "noise" : job->image.path;
    case GD_JOB_KEY_INPUT_WIDTH:
        snprintf(small, len, "%d", job->width);
        return small;
    case GD_JOB_KEY_INPUT_HEIGHT:
        snprintf(small, len, "%d", job->height);
        return small;
    case GD_JOB_KEY_MODEL_FILE:
        return job->model.path;
    case GD_JOB_KEY_MODEL_LAYER:
        return job->layer;
    case GD_JOB_KEY_MODEL_CHANNELS:
        return job->channels ? job->channels : "all";
    case GD_JOB_KEY_MODEL_OBJECTIVE:
        return job_objective_names[job->objective];
    case GD_JOB_KEY_MODEL_GUIDE:
        return job->guide.path ? job->guide.path : "";
    case GD_JOB_KEY_DREAM_MODE:
        return gd_dream_mode_name(job->mode);
    case GD_JOB_KEY_DREAM_OCTAVES:
        snprintf(small, len, "%d", job->octaves);
        return small;
    case GD_JOB_KEY_DREAM_OCTAVE_SCALE:
        job_fmt_float(job->octave_scale, small, len);
        return small;
    case GD_JOB_KEY_DREAM_ITERATIONS:
        snprintf(small, len, "%d", job->iterations);
        return small;
    case GD_JOB_KEY_DREAM_STEP:
        job_fmt_float(job->step, small, len);
        return small;
    case GD_JOB_KEY_DREAM_SEED:
        snprintf(small, len, "%" PRIu64, job->seed);
        return small;
    case GD_JOB_KEY_DREAM_LAP_LEVELS:
        snprintf(small, len, "%d", job->lap_levels);
        return small;
    case GD_JOB_KEY_TILES_SIZE:
        if (job->tile_size == GD_TILING_AUTO)
            return "auto";
        snprintf(small, len, "%d", job->tile_size);
        return small;
    case GD_JOB_KEY_TILES_OVERLAP:
        snprintf(small, len, "%d", job->tile_overlap);
        return small;
    case GD_JOB_KEY_TILES_JITTER:
        if (job->tile_jitter < 0)
            return "size";
        snprintf(small, len, "%d", job->tile_jitter);
        return small;
    case GD_JOB_KEY_TILES_BORDER:
        return job_border_names[job->border];
    case GD_JOB_KEY_ENGINE_PRECISION:
        return gd_job_precision_name(job->precision);
    case GD_JOB_KEY_OUTPUT_FILE:
    case GD_JOB_KEY_OUTPUT_COMPRESSION:
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
        break; /* not canonical keys (no JOB_CANON in keys.c): they do not change the pixels */
    }
    return NULL;
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

gd_status job_canon_build(gd_job *job, gd_err *err)
{
    enum { SMALL = 48 };
    char small[GD_JOB_KEY_COUNT][SMALL];
    const char *values[GD_JOB_KEY_COUNT];
    char *lines[GD_JOB_KEY_COUNT];
    int n = 0;
    size_t total = 1;
    gd_status st = GD_OK;

    for (int k = 0; k < GD_JOB_KEY_COUNT; k++) {
        values[k] = job_key_in_canon(k) ? canon_value(job, k, small[k], SMALL) : NULL;
        if (values[k])
            total +=
                strlen(gd_job_key_section(k)) + strlen(gd_job_key_name(k)) + strlen(values[k]) + 3;
    }
    char *text = gd_malloc(total, "canonical job text", err);
    if (!text)
        return err->status;
    for (int k = 0; k < GD_JOB_KEY_COUNT; k++) {
        if (!values[k])
            continue;
        /* "section.key=value\n" and its NUL. */
        size_t len =
            strlen(gd_job_key_section(k)) + strlen(gd_job_key_name(k)) + strlen(values[k]) + 4;
        lines[n] = gd_malloc(len, "canonical job line", err);
        if (!lines[n]) {
            st = err->status;
            goto done;
        }
        snprintf(lines[n], len, "%s.%s=%s\n", gd_job_key_section(k), gd_job_key_name(k), values[k]);
        n++;
    }
    qsort(lines, (size_t)n, sizeof lines[0], cmp_lines);
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(lines[i]);
        memcpy(text + used, lines[i], len);
        used += len;
    }
    text[used] = '\0';
    free(job->canon);
    job->canon = text;
    text = NULL;
    job->hash = gd_job_hash_text(job->canon);
done:
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(text);
    return st;
}

uint64_t gd_job_hash_text(const char *canon)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 offset basis */
    for (const unsigned char *p = (const unsigned char *)canon; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL; /* FNV 64 prime */
    }
    return h;
}

uint64_t gd_job_hash(const gd_job *job)
{
    return job->hash;
}

const char *gd_job_hash_hex(uint64_t hash, char buf[17])
{
    snprintf(buf, 17, "%016" PRIx64, hash);
    return buf;
}

/* ---- Diff ------------------------------------------------------------------------ */

/* A "key=value" line of a canonical text. */
typedef struct canon_line {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} canon_line;

/* The next line of *s, advancing it; 0 at the end. */
static int next_line(const char **s, canon_line *l)
{
    while (**s == '\n')
        (*s)++;
    if (!**s)
        return 0;
    const char *end = strchr(*s, '\n');
    size_t len = end ? (size_t)(end - *s) : strlen(*s);
    const char *eq = memchr(*s, '=', len);
    l->key = *s;
    l->key_len = eq ? (size_t)(eq - *s) : len;
    l->value = eq ? eq + 1 : "";
    l->value_len = eq ? len - l->key_len - 1 : 0;
    *s += len;
    return 1;
}

/* The line of text with l's key, if any. */
static int find_line(const char *text, const canon_line *l, canon_line *found)
{
    const char *s = text;
    canon_line c;
    while (next_line(&s, &c))
        if (c.key_len == l->key_len && memcmp(c.key, l->key, l->key_len) == 0) {
            *found = c;
            return 1;
        }
    return 0;
}

/* Appends "key: a -> b" to buf, "; "-separated, marking truncation with "...". */
static void add_diff(char *buf, size_t len, size_t *used, int n, const canon_line *l,
                     const canon_line *a, const canon_line *b)
{
    if (!buf || len == 0 || *used >= len - 1)
        return;
    int w = snprintf(buf + *used, len - *used, "%s%.*s: %.*s -> %.*s", n ? "; " : "",
                     (int)l->key_len, l->key, a ? (int)a->value_len : 8, a ? a->value : "(absent)",
                     b ? (int)b->value_len : 8, b ? b->value : "(absent)");
    if (w < 0 || (size_t)w >= len - *used) {
        *used = len - 1;
        if (len >= 4)
            memcpy(buf + len - 4, "...", 4);
        return;
    }
    *used += (size_t)w;
}

int gd_job_diff(const char *canon_a, const char *canon_b, char *buf, size_t len)
{
    size_t used = 0;
    int n = 0;
    if (buf && len)
        buf[0] = '\0';
    const char *s = canon_a;
    canon_line la, lb;
    while (next_line(&s, &la)) {
        if (!find_line(canon_b, &la, &lb)) {
            add_diff(buf, len, &used, n++, &la, &la, NULL);
        } else if (la.value_len != lb.value_len || memcmp(la.value, lb.value, la.value_len)) {
            add_diff(buf, len, &used, n++, &la, &la, &lb);
        }
    }
    s = canon_b;
    while (next_line(&s, &lb))
        if (!find_line(canon_a, &lb, &la))
            add_diff(buf, len, &used, n++, &lb, NULL, &lb);
    return n;
}

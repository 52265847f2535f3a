/*
 * job.c: INI job files (contract in job.h).
 *
 * How a job is built, in order (the module spans four files):
 *   1. defaults that depend on no other key are set (job_rules.c);
 *   2. the file is parsed by inih through our own line reader (below), each
 *      key parsed strictly (job_values.c) and range-checked where it stands,
 *      so the message names its line;
 *   3. the overrides are applied the same way, naming the --set argument;
 *   4. defaults that depend on other keys are filled (mode -> octaves,
 *      iterations, step; size -> jitter), then required keys and rules
 *      between keys are checked, naming the key that was set explicitly
 *      (job_rules.c);
 *   5. paths are resolved (job_rules.c), and the canonical text and hash
 *      computed (job_canon.c).
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

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "job_internal.h"

/* ---- Names ------------------------------------------------------------------ */

static const char *const mode_names[] = {
    [GD_MODE_DEEPDREAM] = "deepdream",
    [GD_MODE_NAIVE] = "naive",
    [GD_MODE_MULTISCALE] = "multiscale",
    [GD_MODE_LAPNORM] = "lapnorm",
};
_Static_assert(sizeof mode_names / sizeof mode_names[0] == GD_MODE_COUNT, "name every mode");


/* The job file's spelling of other modules' enums (their .c files own their own tables). */
const char *const gd_job_objective_names[] = {
    [GD_OBJ_MEAN] = "mean",
    [GD_OBJ_SQUARE] = "square",
    [GD_OBJ_GUIDE] = "guide",
};
_Static_assert(sizeof gd_job_objective_names / sizeof gd_job_objective_names[0] == GD_OBJ_COUNT,
               "name every objective");

static const char *const precision_names[] = {
    [GD_ENGINE_F32] = "fp32",
    [GD_ENGINE_BF16] = "bf16",
};
_Static_assert(sizeof precision_names / sizeof precision_names[0] == GD_ENGINE_PRECISION_COUNT,
               "name every precision");

const char *const gd_job_border_names[] = {
    [GD_BORDER_REFLECT] = "reflect",
    [GD_BORDER_WRAP] = "wrap",
};
_Static_assert(sizeof gd_job_border_names / sizeof gd_job_border_names[0] == GD_BORDER_COUNT,
               "name every border");

static const char *const compression_names[] = {
    [GD_COMPRESS_DEFLATE] = "deflate", [GD_COMPRESS_ZSTD] = "zstd", [GD_COMPRESS_LZW] = "lzw",
    [GD_COMPRESS_JPEG] = "jpeg",       [GD_COMPRESS_NONE] = "none",
};
_Static_assert(sizeof compression_names / sizeof compression_names[0] == GD_COMPRESS_COUNT,
               "name every compression");

const char *gd_dream_mode_name(gd_dream_mode m)
{
    return (unsigned)m < GD_MODE_COUNT ? mode_names[m] : "?";
}

const char *gd_job_precision_name(gd_engine_precision p)
{
    return (unsigned)p < GD_ENGINE_PRECISION_COUNT ? precision_names[p] : "?";
}

/* ---- The key table ------------------------------------------------------------ */

static const char *const section_names[] = {"input",  "model",      "dream", "tiles",
                                            "output", "checkpoint", "engine"};
enum { N_SECTIONS = sizeof section_names / sizeof section_names[0] };

typedef enum vtype {
    V_IMAGE,    /* a path or "noise" */
    V_PATH,     /* gd_job_path */
    V_INT,      /* int in [lo, hi] (ZERO_OK: or 0) */
    V_U64,      /* uint64_t, any */
    V_FLOAT,    /* float in (lo or [lo, hi] */
    V_DOUBLE,   /* double in (lo or [lo, hi] */
    V_BOOL,     /* int 0/1 */
    V_BIGTIFF,  /* int: "auto" 0, a true boolean 1 */
    V_ENUM,     /* one of names[] */
    V_LAYER,    /* layer spec */
    V_CHANNELS, /* "all" or index list */
} vtype;

enum { LO_OPEN = 1, ZERO_OK = 2, CANON = 4, AUTO_OK = 8 /* V_INT: or "auto" */ };

typedef struct key_desc {
    int section; /* index into section_names */
    const char *name;
    vtype type;
    size_t offset; /* of the field in gd_job */
    double lo, hi;
    int flags;
    const char *const *names; /* V_ENUM */
    int n_names;
    const char *rule; /* what a value must be, for messages */
} key_desc;

#define F(field) offsetof(gd_job, field)
#define ENUM(t) t, (int)(sizeof t / sizeof t[0])

static const key_desc keys[] = {
    [GD_JOB_KEY_INPUT_IMAGE] = {0, "image", V_IMAGE, F(image), 0, 0, CANON, NULL, 0,
                                "must be a path or 'noise'"},
    [GD_JOB_KEY_INPUT_WIDTH] = {0, "width", V_INT, F(width), 0, 1000000, CANON, NULL, 0,
                                "must be an integer from 0 (keep) to 1000000"},
    [GD_JOB_KEY_INPUT_HEIGHT] = {0, "height", V_INT, F(height), 0, 1000000, CANON, NULL, 0,
                                 "must be an integer from 0 (keep) to 1000000"},
    [GD_JOB_KEY_MODEL_FILE] = {1, "file", V_PATH, F(model), 0, 0, CANON, NULL, 0, "must be a path"},
    [GD_JOB_KEY_MODEL_LAYER] = {1, "layer", V_LAYER, F(layer), 0, 0, CANON, NULL, 0,
                                "must be 'name' or 'name:weight, name:weight'"},
    [GD_JOB_KEY_MODEL_CHANNELS] = {1, "channels", V_CHANNELS, F(channels), 0, 0, CANON, NULL, 0,
                                   "must be 'all' or a list of channel indices"},
    [GD_JOB_KEY_MODEL_OBJECTIVE] = {1, "objective", V_ENUM, F(objective), 0, 0, CANON,
                                    ENUM(gd_job_objective_names), NULL},
    [GD_JOB_KEY_MODEL_GUIDE] = {1, "guide", V_PATH, F(guide), 0, 0, CANON, NULL, 0,
                                "must be a path"},
    [GD_JOB_KEY_DREAM_MODE] = {2, "mode", V_ENUM, F(mode), 0, 0, CANON, ENUM(mode_names), NULL},
    [GD_JOB_KEY_DREAM_OCTAVES] = {2, "octaves", V_INT, F(octaves), 1, 20, CANON, NULL, 0,
                                  "must be an integer from 1 to 20"},
    [GD_JOB_KEY_DREAM_OCTAVE_SCALE] = {2, "octave_scale", V_FLOAT, F(octave_scale), 1, 4,
                                       LO_OPEN | CANON, NULL, 0, "must be > 1 and <= 4"},
    [GD_JOB_KEY_DREAM_ITERATIONS] = {2, "iterations", V_INT, F(iterations), 1, 100000, CANON, NULL,
                                     0, "must be an integer from 1 to 100000"},
    [GD_JOB_KEY_DREAM_STEP] = {2, "step", V_FLOAT, F(step), 0, 1e6, LO_OPEN | CANON, NULL, 0,
                               "must be > 0 and <= 1000000"},
    [GD_JOB_KEY_DREAM_SEED] = {2, "seed", V_U64, F(seed), 0, 0, CANON, NULL, 0,
                               "must be an integer from 0 to 18446744073709551615"},
    [GD_JOB_KEY_DREAM_LAP_LEVELS] = {2, "lap_levels", V_INT, F(lap_levels), 1, 16, CANON, NULL, 0,
                                     "must be an integer from 1 to 16"},
    [GD_JOB_KEY_TILES_SIZE] = {3, "size", V_INT, F(tile_size), 16, 32768, ZERO_OK | CANON | AUTO_OK,
                               NULL, 0,
                               "must be 'auto', 0 (no tiling) or an integer from 16 to 32768"},
    [GD_JOB_KEY_TILES_OVERLAP] = {3, "overlap", V_INT, F(tile_overlap), 0, 16384, CANON, NULL, 0,
                                  "must be an integer from 0 to 16384"},
    [GD_JOB_KEY_TILES_JITTER] = {3, "jitter", V_INT, F(tile_jitter), 0, 32768, CANON, NULL, 0,
                                 "must be an integer from 0 to the tile size"},
    [GD_JOB_KEY_TILES_BORDER] = {3, "border", V_ENUM, F(border), 0, 0, CANON,
                                 ENUM(gd_job_border_names), NULL},
    [GD_JOB_KEY_OUTPUT_FILE] = {4, "file", V_PATH, F(output), 0, 0, 0, NULL, 0, "must be a path"},
    [GD_JOB_KEY_OUTPUT_COMPRESSION] = {4, "compression", V_ENUM, F(compression), 0, 0, 0,
                                       ENUM(compression_names), NULL},
    [GD_JOB_KEY_OUTPUT_BITS] = {4, "bits", V_INT, F(bits), 8, 16, 0, NULL, 0, "must be 8 or 16"},
    [GD_JOB_KEY_OUTPUT_DPI] = {4, "dpi", V_DOUBLE, F(dpi), 0, 1e6, LO_OPEN, NULL, 0,
                               "must be > 0 and <= 1000000"},
    [GD_JOB_KEY_OUTPUT_PYRAMID] = {4, "pyramid", V_BOOL, F(pyramid), 0, 0, 0, NULL, 0,
                                   "must be true or false"},
    [GD_JOB_KEY_OUTPUT_OVERWRITE] = {4, "overwrite", V_BOOL, F(overwrite), 0, 0, 0, NULL, 0,
                                     "must be true or false"},
    [GD_JOB_KEY_OUTPUT_BIGTIFF] = {4, "bigtiff", V_BIGTIFF, F(bigtiff), 0, 0, 0, NULL, 0,
                                   "must be auto (BigTIFF only when the file could pass 4 GB) or "
                                   "true (always BigTIFF)"},
    [GD_JOB_KEY_CHECKPOINT_DIR] = {5, "dir", V_PATH, F(checkpoint_dir), 0, 0, 0, NULL, 0,
                                   "must be a path"},
    [GD_JOB_KEY_CHECKPOINT_EVERY_ITERATIONS] = {5, "every_iterations", V_INT, F(every_iterations),
                                                0, INT_MAX, 0, NULL, 0,
                                                "must be an integer >= 0 (0 = off)"},
    [GD_JOB_KEY_CHECKPOINT_EVERY_SECONDS] = {5, "every_seconds", V_DOUBLE, F(every_seconds), 0, 1e9,
                                             0, NULL, 0, "must be a number >= 0 (0 = off)"},
    [GD_JOB_KEY_CHECKPOINT_KEEP] = {5, "keep", V_INT, F(keep), 1, 1000, 0, NULL, 0,
                                    "must be an integer from 1 to 1000"},
    [GD_JOB_KEY_ENGINE_THREADS] = {6, "threads", V_INT, F(threads), 0, 4096, 0, NULL, 0,
                                   "must be an integer from 0 (OpenMP default) to 4096"},
    [GD_JOB_KEY_ENGINE_PRECISION] = {6, "precision", V_ENUM, F(precision), 0, 0, CANON,
                                     ENUM(precision_names), NULL},
};
_Static_assert(sizeof keys / sizeof keys[0] == GD_JOB_KEY_COUNT, "describe every job key");

#undef F
#undef ENUM

const char *gd_job_key_section(gd_job_key k)
{
    return (unsigned)k < GD_JOB_KEY_COUNT ? section_names[keys[k].section] : "?";
}

const char *gd_job_key_name(gd_job_key k)
{
    return (unsigned)k < GD_JOB_KEY_COUNT ? keys[k].name : "?";
}

int gd_job_key_in_canon(gd_job_key k)
{
    return (keys[k].flags & CANON) != 0;
}

/* ---- Lookup, and suggestions for typos ----------------------------------------- */

static int find_section(const char *name)
{
    for (int s = 0; s < N_SECTIONS; s++)
        if (strcmp(section_names[s], name) == 0)
            return s;
    return -1;
}

static int find_key(int section, const char *name)
{
    for (int k = 0; k < GD_JOB_KEY_COUNT; k++)
        if (keys[k].section == section && strcmp(keys[k].name, name) == 0)
            return k;
    return -1;
}

/* " (did you mean [tiles]?)", or the list of sections. */
static void section_hint(const char *typed, char *buf, size_t len)
{
    for (int s = 0; s < N_SECTIONS; s++)
        if (gd_job_close(typed, section_names[s])) {
            snprintf(buf, len, " (did you mean [%s]?)", section_names[s]);
            return;
        }
    snprintf(buf, len,
             " (sections are [input], [model], [dream], [tiles], [output], "
             "[checkpoint], [engine])");
}

/* " (did you mean 'step'?)", " (did you mean 'size' in [tiles]?)", or the section's keys. */
static void key_hint(int section, const char *typed, char *buf, size_t len)
{
    int best = -1, best_d = 99;
    for (int k = 0; k < GD_JOB_KEY_COUNT; k++)
        if (keys[k].section == section && gd_job_close(typed, keys[k].name)) {
            int d = gd_job_distance(typed, keys[k].name);
            if (d < best_d) {
                best = k;
                best_d = d;
            }
        }
    if (best >= 0) {
        snprintf(buf, len, " (did you mean '%s'?)", keys[best].name);
        return;
    }
    /* The key may be in the wrong section: an exact name first, then a close one. */
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < GD_JOB_KEY_COUNT; k++)
            if (keys[k].section != section && (pass == 0 ? strcmp(typed, keys[k].name) == 0
                                                         : gd_job_close(typed, keys[k].name))) {
                snprintf(buf, len, " (did you mean '%s' in [%s]?)", keys[k].name,
                         section_names[keys[k].section]);
                return;
            }
    size_t n = (size_t)snprintf(buf, len, " ([%s] has", section_names[section]);
    for (int k = 0; k < GD_JOB_KEY_COUNT && n < len; k++)
        if (keys[k].section == section)
            n += (size_t)snprintf(buf + n, len - n, " %s", keys[k].name);
    if (n < len)
        snprintf(buf + n, len - n, ")");
}

/* ---- Strict value parsing ------------------------------------------------------- */

static int in_range(const key_desc *d, double v)
{
    if (d->flags & LO_OPEN ? !(v > d->lo) : !(v >= d->lo))
        return 0;
    return v <= d->hi;
}

static gd_status set_path(gd_job_path *jp, const char *value, char *why, size_t wlen, gd_err *err)
{
    if (!value[0]) {
        snprintf(why, wlen, "must be a path, not empty");
        return GD_EINPUT;
    }
    char *s = gd_job_strdup(value, err);
    if (!s)
        return err->status;
    free(jp->text);
    free(jp->path);
    jp->text = s;
    jp->path = NULL; /* resolved once every value is in (gd_job_resolve_paths) */
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
    default:
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
    const key_desc *d = &keys[k];
    void *field = (char *)job + d->offset;
    long long ll;
    double num;
    int b;
    snprintf(why, wlen, "%s", d->rule ? d->rule : "");
    switch (d->type) {
    case V_IMAGE: {
        gd_status st = set_path(&job->image, value, why, wlen, err);
        if (st == GD_OK)
            job->noise = strcmp(value, "noise") == 0;
        return st;
    }
    case V_PATH:
        return set_path(field, value, why, wlen, err);
    case V_INT:
        if ((d->flags & AUTO_OK) && strcasecmp(value, "auto") == 0) {
            *(int *)field = GD_TILING_AUTO;
            return GD_OK;
        }
        if (!gd_job_parse_int(value, &ll))
            return GD_EINPUT;
        if (!((d->flags & ZERO_OK) && ll == 0) && !in_range(d, (double)ll))
            return GD_EINPUT;
        if (k == GD_JOB_KEY_OUTPUT_BITS && ll != 8 && ll != 16)
            return GD_EINPUT;
        *(int *)field = (int)ll;
        return GD_OK;
    case V_U64:
        if (!gd_job_parse_u64(value, field))
            return GD_EINPUT;
        return GD_OK;
    case V_FLOAT:
        /* Range-check the float the renderer will use, not the decimal text. */
        if (!gd_job_parse_number(value, &num) || !in_range(d, (double)(float)num))
            return GD_EINPUT;
        *(float *)field = (float)num;
        return GD_OK;
    case V_DOUBLE:
        if (!gd_job_parse_number(value, &num) || !in_range(d, num))
            return GD_EINPUT;
        *(double *)field = num;
        return GD_OK;
    case V_BOOL:
        if (!gd_job_parse_bool(value, &b))
            return GD_EINPUT;
        *(int *)field = b;
        return GD_OK;
    case V_BIGTIFF:
        if (strcasecmp(value, "auto") == 0) {
            *(int *)field = 0;
            return GD_OK;
        }
        if (!gd_job_parse_bool(value, &b))
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
    case V_ENUM:
        for (int i = 0; i < d->n_names; i++)
            if (strcasecmp(value, d->names[i]) == 0) {
                set_enum(job, k, i);
                return GD_OK;
            }
        {
            size_t n = (size_t)snprintf(why, wlen, "must be one of");
            for (int i = 0; i < d->n_names && n < wlen; i++)
                n += (size_t)snprintf(why + n, wlen - n, "%s %s", i ? "," : "", d->names[i]);
        }
        return GD_EINPUT;
    case V_LAYER:
        return gd_job_parse_layers(value, &job->layer, &job->n_layers, why, wlen, err);
    case V_CHANNELS:
        return gd_job_parse_channels(value, &job->channels, &job->n_channels, why, wlen, err);
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
    return gd_err_set(err, GD_EINPUT, "%s: [%s] %s: %s, got '%s'%s", where,
                      section_names[keys[k].section], keys[k].name, why, value,
                      strchr(value, '#') ? " (a comment after a value starts with ' ;')" : "");
}

/* ---- Where values came from ----------------------------------------------------- */

int gd_job_is_set(const gd_job *job, gd_job_key k)
{
    return job->line[k] != 0;
}

const char *gd_job_where(const gd_job *job, gd_job_key k, char *buf, size_t len)
{
    int line = job->line[k];
    const char *file = job->file ? job->file : "job";
    if (line > 0)
        snprintf(buf, len, "%s:%d", file, line);
    else if (line < 0 && -line - 1 < job->n_overrides)
        snprintf(buf, len, "--set %s", job->overrides[-line - 1]);
    else
        snprintf(buf, len, "%s", file);
    return buf;
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
            gd_job_trim(s + 1, len < sizeof name ? len : sizeof name - 1, name, sizeof name);
            p->section = find_section(name);
            if (p->section < 0) {
                char hint[160];
                section_hint(name, hint, sizeof hint);
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
        int k = find_key(p->section, name);
        if (k < 0) {
            char hint[256];
            key_hint(p->section, name, hint, sizeof hint);
            p->st = gd_err_set(p->err, GD_EINPUT, "%s: unknown key '%s' in [%s]%s", where, name,
                               section_names[p->section], hint);
        } else if (job->line[k] > 0) {
            p->st = gd_err_set(p->err, GD_EINPUT,
                               "%s: duplicate key '%s' in [%s] (first set at line %d)", where, name,
                               section_names[p->section], job->line[k]);
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
    gd_job_trim(s, n, text, sizeof text);
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
    gd_job_trim(s, (size_t)(dot - s), section, sizeof section);
    gd_job_trim(dot + 1, (size_t)(eq - dot - 1), name, sizeof name);
    int sec = find_section(section);
    if (sec < 0) {
        char hint[160];
        section_hint(section, hint, sizeof hint);
        return gd_err_set(err, GD_EINPUT, "%s: unknown section [%s]%s", where, section, hint);
    }
    int k = find_key(sec, name);
    if (k < 0) {
        char hint[256];
        key_hint(sec, name, hint, sizeof hint);
        return gd_err_set(err, GD_EINPUT, "%s: unknown key '%s' in [%s]%s", where, name,
                          section_names[sec], hint);
    }
    size_t vlen = strlen(eq + 1);
    char *value = gd_malloc(vlen + 1, "override value", err);
    if (!value)
        return err->status;
    gd_job_trim(eq + 1, vlen, value, vlen + 1);
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
    gd_job_path *paths[] = {&job->image, &job->model, &job->guide, &job->output,
                            &job->checkpoint_dir};
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
    gd_job_init(job);
    if (!(job->file = gd_job_strdup(name, err)) || !(job->text = gd_job_strdup(text, err))) {
        st = err->status;
        goto fail;
    }
    if (base_dir[0] == '/') {
        job->dir = gd_job_strdup(base_dir, err);
    } else {
        char *cwd = realpath(".", NULL);
        if (!cwd) {
            st = gd_err_set(err, GD_EIO, "cannot resolve the current directory: %s",
                            strerror(errno));
            goto fail;
        }
        job->dir = gd_job_join_path(cwd, base_dir, err);
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
            if (!(job->overrides[i] = gd_job_strdup(overrides[i], err))) {
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
    gd_job_fill_defaults(job);
    if ((st = gd_job_check(job, err)) != GD_OK || (st = gd_job_resolve_paths(job, err)) != GD_OK)
        goto fail;
    if ((st = gd_job_canon_build(job, err)) != GD_OK)
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
    if (!(copy = gd_job_strdup(path, err))) {
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

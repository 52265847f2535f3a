/*
 * keys.c: the job's key table (every key's section, name, type, range and
 * place in gd_job), the spellings of the enums the job file names, lookups by
 * name with "did you mean" hints, and where a key got its value.
 *
 * This file is the job module's bottom layer but for values.c: job.c,
 * canon.c and rules.c call it; it calls nothing of theirs.  It never parses a
 * value (job.c) nor formats one (canon.c).
 *
 * The tables use designated initializers, checked for length by
 * _Static_assert; a table that leaves a hole (an enum value without an entry)
 * still compiles, so every lookup here skips NULL names rather than handing
 * them to strcmp, and tests/unit/test_tables.c fails on any hole.
 */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "job_int.h"

/* ---- Names ------------------------------------------------------------------ */

static const char *const mode_names[] = {
    [GD_MODE_DEEPDREAM] = "deepdream",
    [GD_MODE_NAIVE] = "naive",
    [GD_MODE_MULTISCALE] = "multiscale",
    [GD_MODE_LAPNORM] = "lapnorm",
};
_Static_assert(sizeof mode_names / sizeof mode_names[0] == GD_MODE_COUNT, "name every mode");

/* The job file's spelling of other modules' enums (their .c files own their own tables). */
const char *const job_objective_names[] = {
    [GD_OBJ_MEAN] = "mean",
    [GD_OBJ_SQUARE] = "square",
    [GD_OBJ_GUIDE] = "guide",
};
_Static_assert(sizeof job_objective_names / sizeof job_objective_names[0] == GD_OBJ_COUNT,
               "name every objective");

static const char *const precision_names[] = {
    [GD_ENGINE_F32] = "fp32",
    [GD_ENGINE_BF16] = "bf16",
};
_Static_assert(sizeof precision_names / sizeof precision_names[0] == GD_ENGINE_PRECISION_COUNT,
               "name every precision");

const char *const job_border_names[] = {
    [GD_BORDER_REFLECT] = "reflect",
    [GD_BORDER_WRAP] = "wrap",
};
_Static_assert(sizeof job_border_names / sizeof job_border_names[0] == GD_BORDER_COUNT,
               "name every border");

static const char *const compression_names[] = {
    [GD_COMPRESS_DEFLATE] = "deflate", [GD_COMPRESS_ZSTD] = "zstd", [GD_COMPRESS_LZW] = "lzw",
    [GD_COMPRESS_JPEG] = "jpeg",       [GD_COMPRESS_NONE] = "none",
};
_Static_assert(sizeof compression_names / sizeof compression_names[0] == GD_COMPRESS_COUNT,
               "name every compression");

/* names[i] for i in [0, n), else "?": never NULL, even for a table with a hole. */
static const char *name_or_mark(const char *const *names, int n, int i)
{
    return i >= 0 && i < n && names[i] ? names[i] : "?";
}

const char *gd_dream_mode_name(gd_dream_mode m)
{
    return name_or_mark(mode_names, GD_MODE_COUNT, (int)m);
}

const char *gd_job_precision_name(gd_engine_precision p)
{
    return name_or_mark(precision_names, GD_ENGINE_PRECISION_COUNT, (int)p);
}

/* ---- The key table ------------------------------------------------------------ */

enum { S_INPUT, S_MODEL, S_DREAM, S_TILES, S_OUTPUT, S_CHECKPOINT, S_ENGINE, N_SECTIONS };

static const char *const section_names[] = {
    [S_INPUT] = "input",   [S_MODEL] = "model",   [S_DREAM] = "dream",
    [S_TILES] = "tiles",   [S_OUTPUT] = "output", [S_CHECKPOINT] = "checkpoint",
    [S_ENGINE] = "engine",
};
_Static_assert(sizeof section_names / sizeof section_names[0] == N_SECTIONS, "name every section");

#define F(field) offsetof(gd_job, field)
#define ENUM(t) t, (int)(sizeof t / sizeof t[0])

static const job_key_desc keys[] = {
    [GD_JOB_KEY_INPUT_IMAGE] = {S_INPUT, "image", JOB_V_IMAGE, F(image), 0, 0, JOB_CANON, NULL, 0,
                                "must be a path or 'noise'"},
    [GD_JOB_KEY_INPUT_WIDTH] = {S_INPUT, "width", JOB_V_INT, F(width), 0, 1000000, JOB_CANON, NULL,
                                0, "must be an integer from 0 (keep) to 1000000"},
    [GD_JOB_KEY_INPUT_HEIGHT] = {S_INPUT, "height", JOB_V_INT, F(height), 0, 1000000, JOB_CANON,
                                 NULL, 0, "must be an integer from 0 (keep) to 1000000"},
    [GD_JOB_KEY_MODEL_FILE] = {S_MODEL, "file", JOB_V_PATH, F(model), 0, 0, JOB_CANON, NULL, 0,
                               "must be a path"},
    [GD_JOB_KEY_MODEL_LAYER] = {S_MODEL, "layer", JOB_V_LAYER, F(layer), 0, 0, JOB_CANON, NULL, 0,
                                "must be 'name' or 'name:weight, name:weight'"},
    [GD_JOB_KEY_MODEL_CHANNELS] = {S_MODEL, "channels", JOB_V_CHANNELS, F(channels), 0, 0,
                                   JOB_CANON, NULL, 0,
                                   "must be 'all' or a list of channel indices"},
    [GD_JOB_KEY_MODEL_OBJECTIVE] = {S_MODEL, "objective", JOB_V_ENUM, F(objective), 0, 0, JOB_CANON,
                                    ENUM(job_objective_names), NULL},
    [GD_JOB_KEY_MODEL_GUIDE] = {S_MODEL, "guide", JOB_V_PATH, F(guide), 0, 0, JOB_CANON, NULL, 0,
                                "must be a path"},
    [GD_JOB_KEY_DREAM_MODE] = {S_DREAM, "mode", JOB_V_ENUM, F(mode), 0, 0, JOB_CANON,
                               ENUM(mode_names), NULL},
    [GD_JOB_KEY_DREAM_OCTAVES] = {S_DREAM, "octaves", JOB_V_INT, F(octaves), 1, 20, JOB_CANON, NULL,
                                  0, "must be an integer from 1 to 20"},
    [GD_JOB_KEY_DREAM_OCTAVE_SCALE] = {S_DREAM, "octave_scale", JOB_V_FLOAT, F(octave_scale), 1, 4,
                                       JOB_LO_OPEN | JOB_CANON, NULL, 0, "must be > 1 and <= 4"},
    [GD_JOB_KEY_DREAM_ITERATIONS] = {S_DREAM, "iterations", JOB_V_INT, F(iterations), 1, 100000,
                                     JOB_CANON, NULL, 0, "must be an integer from 1 to 100000"},
    [GD_JOB_KEY_DREAM_STEP] = {S_DREAM, "step", JOB_V_FLOAT, F(step), 0, 1e6,
                               JOB_LO_OPEN | JOB_CANON, NULL, 0, "must be > 0 and <= 1000000"},
    [GD_JOB_KEY_DREAM_SEED] = {S_DREAM, "seed", JOB_V_U64, F(seed), 0, 0, JOB_CANON, NULL, 0,
                               "must be an integer from 0 to 18446744073709551615"},
    [GD_JOB_KEY_DREAM_LAP_LEVELS] = {S_DREAM, "lap_levels", JOB_V_INT, F(lap_levels), 1, 16,
                                     JOB_CANON, NULL, 0, "must be an integer from 1 to 16"},
    [GD_JOB_KEY_TILES_SIZE] = {S_TILES, "size", JOB_V_INT, F(tile_size), 16, 32768,
                               JOB_ZERO_OK | JOB_CANON | JOB_AUTO_OK, NULL, 0,
                               "must be 'auto', 0 (no tiling) or an integer from 16 to 32768"},
    [GD_JOB_KEY_TILES_OVERLAP] = {S_TILES, "overlap", JOB_V_INT, F(tile_overlap), 0, 16384,
                                  JOB_CANON, NULL, 0, "must be an integer from 0 to 16384"},
    [GD_JOB_KEY_TILES_JITTER] = {S_TILES, "jitter", JOB_V_INT, F(tile_jitter), 0, 32768, JOB_CANON,
                                 NULL, 0, "must be an integer from 0 to the tile size"},
    [GD_JOB_KEY_TILES_BORDER] = {S_TILES, "border", JOB_V_ENUM, F(border), 0, 0, JOB_CANON,
                                 ENUM(job_border_names), NULL},
    [GD_JOB_KEY_OUTPUT_FILE] = {S_OUTPUT, "file", JOB_V_PATH, F(output), 0, 0, 0, NULL, 0,
                                "must be a path"},
    [GD_JOB_KEY_OUTPUT_COMPRESSION] = {S_OUTPUT, "compression", JOB_V_ENUM, F(compression), 0, 0, 0,
                                       ENUM(compression_names), NULL},
    [GD_JOB_KEY_OUTPUT_BITS] = {S_OUTPUT, "bits", JOB_V_INT, F(bits), 8, 16, 0, NULL, 0,
                                "must be 8 or 16"},
    [GD_JOB_KEY_OUTPUT_DPI] = {S_OUTPUT, "dpi", JOB_V_DOUBLE, F(dpi), 0, 1e6, JOB_LO_OPEN, NULL, 0,
                               "must be > 0 and <= 1000000"},
    [GD_JOB_KEY_OUTPUT_PYRAMID] = {S_OUTPUT, "pyramid", JOB_V_BOOL, F(pyramid), 0, 0, 0, NULL, 0,
                                   "must be true or false"},
    [GD_JOB_KEY_OUTPUT_OVERWRITE] = {S_OUTPUT, "overwrite", JOB_V_BOOL, F(overwrite), 0, 0, 0, NULL,
                                     0, "must be true or false"},
    [GD_JOB_KEY_OUTPUT_BIGTIFF] = {S_OUTPUT, "bigtiff", JOB_V_BIGTIFF, F(bigtiff), 0, 0, 0, NULL, 0,
                                   "must be auto (BigTIFF only when the file could pass 4 GB) or "
                                   "true (always BigTIFF)"},
    [GD_JOB_KEY_OUTPUT_PREVIEW] = {S_OUTPUT, "preview", JOB_V_INT, F(preview), 0, 65535, 0, NULL, 0,
                                   "must be 0 (no preview) or the preview's longest side, up "
                                   "to 65535"},
    [GD_JOB_KEY_CHECKPOINT_DIR] = {S_CHECKPOINT, "dir", JOB_V_PATH, F(checkpoint_dir), 0, 0, 0,
                                   NULL, 0, "must be a path"},
    [GD_JOB_KEY_CHECKPOINT_EVERY_ITERATIONS] = {S_CHECKPOINT, "every_iterations", JOB_V_INT,
                                                F(every_iterations), 0, INT_MAX, 0, NULL, 0,
                                                "must be an integer >= 0 (0 = off)"},
    [GD_JOB_KEY_CHECKPOINT_EVERY_SECONDS] = {S_CHECKPOINT, "every_seconds", JOB_V_DOUBLE,
                                             F(every_seconds), 0, 1e9, 0, NULL, 0,
                                             "must be a number >= 0 (0 = off)"},
    [GD_JOB_KEY_CHECKPOINT_KEEP] = {S_CHECKPOINT, "keep", JOB_V_INT, F(keep), 1, 1000, 0, NULL, 0,
                                    "must be an integer from 1 to 1000"},
    [GD_JOB_KEY_ENGINE_THREADS] = {S_ENGINE, "threads", JOB_V_INT, F(threads), 0, 4096, 0, NULL, 0,
                                   "must be an integer from 0 (OpenMP default) to 4096"},
    [GD_JOB_KEY_ENGINE_PRECISION] = {S_ENGINE, "precision", JOB_V_ENUM, F(precision), 0, 0,
                                     JOB_CANON, ENUM(precision_names), NULL},
    [GD_JOB_KEY_ENGINE_MEMORY] = {S_ENGINE, "memory", JOB_V_BYTES, F(memory), 1 << 20, 1e18, 0,
                                  NULL, 0,
                                  "must be auto or bytes with a unit from 1MB up, e.g. 8GB, "
                                  "512MiB"},
    [GD_JOB_KEY_ENGINE_SCRATCH] = {S_ENGINE, "scratch", JOB_V_PATH, F(scratch), 0, 0, 0, NULL, 0,
                                   "must be a path"},
};
_Static_assert(sizeof keys / sizeof keys[0] == GD_JOB_KEY_COUNT, "describe every job key");

#undef F
#undef ENUM

const job_key_desc *job_key(gd_job_key k)
{
    return &keys[k];
}

const char *job_section_name(int s)
{
    return name_or_mark(section_names, N_SECTIONS, s);
}

/* A key left out of the table has no name (and section 0): it is named "?". */
const char *gd_job_key_section(gd_job_key k)
{
    if ((unsigned)k >= GD_JOB_KEY_COUNT || !keys[k].name)
        return "?";
    return job_section_name(keys[k].section);
}

const char *gd_job_key_name(gd_job_key k)
{
    return (unsigned)k < GD_JOB_KEY_COUNT && keys[k].name ? keys[k].name : "?";
}

int job_key_in_canon(gd_job_key k)
{
    return (keys[k].flags & JOB_CANON) != 0;
}

/* ---- Lookup, and suggestions for typos ----------------------------------------- */

int job_find_section(const char *name)
{
    for (int s = 0; s < N_SECTIONS; s++)
        if (section_names[s] && strcmp(section_names[s], name) == 0)
            return s;
    return -1;
}

/* Key k is named and in section s (a hole in the table is in no section). */
static int in_section(int k, int s)
{
    return keys[k].name && keys[k].section == s;
}

int job_find_key(int section, const char *name)
{
    for (int k = 0; k < GD_JOB_KEY_COUNT; k++)
        if (in_section(k, section) && strcmp(keys[k].name, name) == 0)
            return k;
    return -1;
}

/* " (did you mean [tiles]?)", or the list of sections. */
void job_section_hint(const char *typed, char *buf, size_t len)
{
    for (int s = 0; s < N_SECTIONS; s++)
        if (section_names[s] && job_close(typed, section_names[s])) {
            snprintf(buf, len, " (did you mean [%s]?)", section_names[s]);
            return;
        }
    snprintf(buf, len,
             " (sections are [input], [model], [dream], [tiles], [output], "
             "[checkpoint], [engine])");
}

/* " (did you mean 'step'?)", " (did you mean 'size' in [tiles]?)", or the section's keys. */
void job_key_hint(int section, const char *typed, char *buf, size_t len)
{
    int best = -1, best_d = 99;
    for (int k = 0; k < GD_JOB_KEY_COUNT; k++)
        if (in_section(k, section) && job_close(typed, keys[k].name)) {
            int d = job_distance(typed, keys[k].name);
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
            if (keys[k].name && keys[k].section != section &&
                (pass == 0 ? strcmp(typed, keys[k].name) == 0 : job_close(typed, keys[k].name))) {
                snprintf(buf, len, " (did you mean '%s' in [%s]?)", keys[k].name,
                         job_section_name(keys[k].section));
                return;
            }
    size_t n = (size_t)snprintf(buf, len, " ([%s] has", job_section_name(section));
    for (int k = 0; k < GD_JOB_KEY_COUNT && n < len; k++)
        if (in_section(k, section))
            n += (size_t)snprintf(buf + n, len - n, " %s", keys[k].name);
    if (n < len)
        snprintf(buf + n, len - n, ")");
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

/*
 * rules.c: what a job needs beyond well-formed values: defaults that
 * depend on other keys, rules tying keys together, required keys, path
 * resolution, and the tile/stride check the renderer runs once it knows the
 * model.
 *
 * Above keys.c (names, where a key was set) and values.c; job.c calls it.
 * It never parses text: every value it reads is already in the gd_job.
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_int.h"

/* ---- Defaults, cross-key rules, required keys ------------------------------------ */

void job_init(gd_job *job)
{
    memset(job, 0, sizeof *job);
    job->objective = GD_OBJ_MEAN;
    job->mode = GD_MODE_DEEPDREAM;
    job->octave_scale = 1.4f;
    job->lap_levels = 4;
    /* auto: per octave 512 or 1024, whichever costs less: the pixels the
     * network sees plus the engines an iteration creates for cut edge tiles
     * (tiling.h, gd_tiling_auto_size). */
    job->tile_size = GD_TILING_AUTO;
    /* 32: the narrowest margin that keeps tile seams invisible (the seam test
     * measures 0.91 at 32, 0.86 at 16), with 512-pixel cores a halo of
     * 1.27x computed over useful pixels, 1.13x with 1024 (scripts/bench.sh
     * --tiles). */
    job->tile_overlap = 32;
    job->border = GD_BORDER_REFLECT;
    job->compression = GD_COMPRESS_DEFLATE;
    job->bits = 8;
    job->dpi = 300.0;
    job->pyramid = 1;
    /* A screen's worth: enough to judge a dream, small enough to mail. */
    job->preview = 1024;
    job->keep = 2;
    job->precision = GD_ENGINE_F32;
    /* octaves, iterations, step and jitter depend on other keys: job_fill_defaults. */
}

/* The notebook's per-mode settings. */
static const struct mode_defaults {
    int octaves, iterations;
    float step;
} mode_defaults[] = {
    [GD_MODE_DEEPDREAM] = {4, 10, 1.5f},
    [GD_MODE_NAIVE] = {1, 20, 1.0f},
    [GD_MODE_MULTISCALE] = {3, 10, 1.0f},
    [GD_MODE_LAPNORM] = {3, 10, 1.0f},
};
_Static_assert(sizeof mode_defaults / sizeof mode_defaults[0] == GD_MODE_COUNT,
               "defaults for every mode");

void job_fill_defaults(gd_job *job)
{
    const struct mode_defaults *md = &mode_defaults[job->mode];
    if (!gd_job_is_set(job, GD_JOB_KEY_DREAM_OCTAVES))
        job->octaves = md->octaves;
    if (!gd_job_is_set(job, GD_JOB_KEY_DREAM_ITERATIONS))
        job->iterations = md->iterations;
    if (!gd_job_is_set(job, GD_JOB_KEY_DREAM_STEP))
        job->step = md->step;
    if (!gd_job_is_set(job, GD_JOB_KEY_TILES_JITTER))
        job->tile_jitter = job->tile_size;
}

/*
 * Of two keys a rule ties together, the one to blame: the one set
 * explicitly, preferring `first` when both or neither are.
 */
static gd_job_key blame(const gd_job *job, gd_job_key first, gd_job_key second)
{
    if (!gd_job_is_set(job, first) && gd_job_is_set(job, second))
        return second;
    return first;
}

gd_status job_check(gd_job *job, gd_err *err)
{
    char w[4096 + 64];
    const char *file = job->file;
    static const gd_job_key required[] = {GD_JOB_KEY_INPUT_IMAGE, GD_JOB_KEY_MODEL_FILE,
                                          GD_JOB_KEY_MODEL_LAYER, GD_JOB_KEY_OUTPUT_FILE};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        gd_job_key k = required[i];
        if (!gd_job_is_set(job, k))
            return gd_err_set(err, GD_EINPUT, "%s: [%s] %s is required%s", file,
                              gd_job_key_section(k), gd_job_key_name(k),
                              k == GD_JOB_KEY_INPUT_IMAGE ? " (a path, or 'noise')" : "");
    }
    if (job->noise && (job->width == 0 || job->height == 0))
        return gd_err_set(err, GD_EINPUT,
                          "%s: [input] image = noise needs [input] width and height "
                          "(the size of the noise seed), got %dx%d",
                          gd_job_where(job, GD_JOB_KEY_INPUT_IMAGE, w, sizeof w), job->width,
                          job->height);
    if (job->objective == GD_OBJ_GUIDE && !job->guide.text)
        return gd_err_set(err, GD_EINPUT, "%s: [model] guide is required when objective = guide",
                          gd_job_where(job, GD_JOB_KEY_MODEL_OBJECTIVE, w, sizeof w));
    if (job->objective != GD_OBJ_GUIDE && job->guide.text)
        return gd_err_set(err, GD_EINPUT,
                          "%s: [model] guide: only used with objective = guide (objective is "
                          "'%s'), got '%s'",
                          gd_job_where(job, GD_JOB_KEY_MODEL_GUIDE, w, sizeof w),
                          job_objective_names[job->objective], job->guide.text);
    if (job->mode == GD_MODE_NAIVE && job->octaves != 1)
        return gd_err_set(err, GD_EINPUT,
                          "%s: [dream] octaves: naive mode dreams at one scale (the notebook's "
                          "render_naive); use mode = multiscale for octaves, got %d",
                          gd_job_where(job, GD_JOB_KEY_DREAM_OCTAVES, w, sizeof w), job->octaves);
    if (job->tile_size != 0) {
        /* With auto, the sizes it may take: overlap must fit the smaller,
         * jitter the larger (each octave's is at most its size). */
        const int auto_size = job->tile_size == GD_TILING_AUTO;
        const int small = auto_size ? GD_TILING_AUTO_SMALL : job->tile_size;
        const int large = auto_size ? GD_TILING_AUTO_LARGE : job->tile_size;
        char size[64];
        if (auto_size)
            snprintf(size, sizeof size, "size auto (%d or %d)", small, large);
        else
            snprintf(size, sizeof size, "size %d", job->tile_size);
        if (2 * job->tile_overlap > small) {
            gd_job_key k = blame(job, GD_JOB_KEY_TILES_OVERLAP, GD_JOB_KEY_TILES_SIZE);
            return gd_err_set(err, GD_EINPUT,
                              "%s: [tiles] %s: 2 x overlap must be <= size (the blend ramps "
                              "span 2 x overlap pixels across each core boundary and must fit "
                              "in a core), got overlap %d with %s",
                              gd_job_where(job, k, w, sizeof w), gd_job_key_name(k),
                              job->tile_overlap, size);
        }
        if (job->tile_jitter > large) {
            gd_job_key k = blame(job, GD_JOB_KEY_TILES_JITTER, GD_JOB_KEY_TILES_SIZE);
            return gd_err_set(err, GD_EINPUT,
                              "%s: [tiles] %s: jitter must be from 0 to size, got jitter %d "
                              "with %s",
                              gd_job_where(job, k, w, sizeof w), gd_job_key_name(k),
                              job->tile_jitter, size);
        }
    }
    if (job->compression == GD_COMPRESS_JPEG && job->bits != 8) {
        gd_job_key k = blame(job, GD_JOB_KEY_OUTPUT_COMPRESSION, GD_JOB_KEY_OUTPUT_BITS);
        return gd_err_set(err, GD_EINPUT,
                          "%s: [output] %s: jpeg compression holds 8 bits only, got bits = %d",
                          gd_job_where(job, k, w, sizeof w), gd_job_key_name(k), job->bits);
    }
    if (job->bigtiff && job->output.text) {
        /* An unknown extension is the output check's to report (render.c), with its list. */
        gd_format fmt;
        gd_err ignored;
        if (gd_format_from_path(job->output.text, &fmt, &ignored) == GD_OK && fmt != GD_FORMAT_TIFF)
            return gd_err_set(err, GD_EINPUT,
                              "%s: [output] bigtiff = true needs a TIFF output (.tif, .tiff), "
                              "but [output] file '%s' is %s",
                              gd_job_where(job, GD_JOB_KEY_OUTPUT_BIGTIFF, w, sizeof w),
                              job->output.text, gd_format_name(fmt));
    }
    if ((job->every_iterations > 0 || job->every_seconds > 0) && !job->checkpoint_dir.text) {
        gd_job_key k =
            blame(job, GD_JOB_KEY_CHECKPOINT_EVERY_ITERATIONS, GD_JOB_KEY_CHECKPOINT_EVERY_SECONDS);
        return gd_err_set(err, GD_EINPUT, "%s: [checkpoint] dir is required when %s is set",
                          gd_job_where(job, k, w, sizeof w), gd_job_key_name(k));
    }
    return GD_OK;
}

/* ---- Paths -------------------------------------------------------------------- */

/* base + "/" + text for a relative text (leading "./" dropped); text itself when absolute. */
char *job_join_path(const char *base, const char *text, gd_err *err)
{
    if (text[0] == '/')
        return job_strdup(text, err);
    while (text[0] == '.' && text[1] == '/') {
        text += 2;
        while (*text == '/')
            text++;
    }
    if (strcmp(text, ".") == 0 || !text[0])
        return job_strdup(base, err);
    size_t lb = strlen(base), lt = strlen(text);
    while (lb > 1 && base[lb - 1] == '/')
        lb--;
    char *s = gd_malloc(lb + 1 + lt + 1, "path", err);
    if (!s)
        return NULL;
    memcpy(s, base, lb);
    s[lb] = '/';
    memcpy(s + lb + 1, text, lt + 1);
    return s;
}

gd_status job_resolve_paths(gd_job *job, gd_err *err)
{
    const struct {
        gd_job_key key;
        gd_job_path *path;
    } paths[] = {
        {GD_JOB_KEY_INPUT_IMAGE, &job->image},
        {GD_JOB_KEY_MODEL_FILE, &job->model},
        {GD_JOB_KEY_MODEL_GUIDE, &job->guide},
        {GD_JOB_KEY_OUTPUT_FILE, &job->output},
        {GD_JOB_KEY_CHECKPOINT_DIR, &job->checkpoint_dir},
        {GD_JOB_KEY_ENGINE_SCRATCH, &job->scratch},
    };
    char *cwd = NULL;
    gd_status st = GD_OK;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        gd_job_key k = paths[i].key;
        gd_job_path *jp = paths[i].path;
        if (!jp->text || (k == GD_JOB_KEY_INPUT_IMAGE && job->noise))
            continue;
        const char *base = job->dir;
        if (job->line[k] < 0 && jp->text[0] != '/') {
            /* A --set path is a command-line path: relative to the current directory. */
            if (!cwd && !(cwd = realpath(".", NULL))) {
                st = gd_err_set(err, GD_EIO, "cannot resolve the current directory: %s",
                                strerror(errno));
                goto done;
            }
            base = cwd;
        }
        free(jp->path);
        jp->path = job_join_path(base, jp->text, err);
        if (!jp->path) {
            st = err->status;
            goto done;
        }
    }
done:
    free(cwd);
    return st;
}

/* ---- The stride check ---------------------------------------------------------- */

gd_status gd_job_check_tiles(const gd_job *job, int stride, gd_err *err)
{
    char w[4096 + 64], got[64];
    if (stride < 1)
        return gd_err_set(err, GD_EINPUT, "tile check: the layer's stride %d must be >= 1", stride);
    if (job->tile_size == 0)
        return GD_OK;
    /* auto: both sizes it may take must pass. */
    const int auto_size = job->tile_size == GD_TILING_AUTO;
    const int sizes[] = {auto_size ? GD_TILING_AUTO_SMALL : job->tile_size,
                         auto_size ? GD_TILING_AUTO_LARGE : job->tile_size};
    const char *dflt = gd_job_is_set(job, GD_JOB_KEY_TILES_SIZE) ? "" : "the default ";
    if (auto_size)
        snprintf(got, sizeof got, "%sauto (%d or %d)", dflt, sizes[0], sizes[1]);
    else
        snprintf(got, sizeof got, "%s%d", dflt, job->tile_size);
    if (sizes[0] < stride)
        return gd_err_set(err, GD_EINPUT,
                          "%s: [tiles] size: must be at least the layer's total stride %d "
                          "(or 0 for no tiling), got %s",
                          gd_job_where(job, GD_JOB_KEY_TILES_SIZE, w, sizeof w), stride, got);
    if (job->tile_jitter != 0)
        return GD_OK;
    const gd_job_key ks[] = {GD_JOB_KEY_TILES_SIZE, GD_JOB_KEY_TILES_SIZE,
                             GD_JOB_KEY_TILES_OVERLAP};
    const int vs[] = {sizes[0], sizes[1], job->tile_overlap};
    for (int i = 0; i < 3; i++) {
        if (vs[i] % stride == 0)
            continue;
        if (i == 2)
            snprintf(got, sizeof got, "%s%d", gd_job_is_set(job, ks[i]) ? "" : "the default ",
                     vs[i]);
        return gd_err_set(err, GD_EINPUT,
                          "%s: [tiles] %s: must be a multiple of the layer's total stride %d "
                          "when jitter = 0 (tile origins i*size - overlap must stay on the "
                          "layer's sampling grid), got %s",
                          gd_job_where(job, ks[i], w, sizeof w), gd_job_key_name(ks[i]), stride,
                          got);
    }
    return GD_OK;
}

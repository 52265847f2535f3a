/*
 * render.c: one whole render (see render.h).
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "gigadream/render.h"

#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gigadream/checkpoint.h"
#include "gigadream/dream.h"
#include "gigadream/engine.h"
#include "gigadream/imageio.h"
#include "gigadream/job.h"
#include "gigadream/model.h"
#include "gigadream/objective.h"
#include "gigadream/output.h"
#include "gigadream/progress.h"
#include "gigadream/seed.h"

/* Everything a render holds, so one cleanup path frees it all. */
typedef struct render {
    const gd_render_opts *opts;
    gd_dist *dist;
    int rank;
    gd_job job;
    gd_model *model;
    gd_objective obj;
    gd_seed *seed;
    gd_dream *dream;
    gd_progress *progress;
    gd_output *output;
    char preview[4096]; /* OUT.preview.png when [output] preview > 0 */
    void *srgb;         /* the sRGB profile for an untagged seed's output, or NULL */
    size_t srgb_len;
    char resume[GD_CKPT_PATH_MAX];  /* the checkpoint resumed from, "" when none */
    char other_job[GD_ERR_MSG_MAX]; /* the first other job's checkpoint skipped */
    double last_save;               /* when the last checkpoint was written (or the dream began) */
    int since_save;                 /* iterations since then */
    int isa_level, isa_lowest;      /* this rank's ISA level (gd_engine_isa_level), the job's */
    char kernel_path[GD_ENGINE_PATH_MAX]; /* what every rank runs (gd_engine_path) */
} render;

static double peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_maxrss * 1024.0;
}

/* Prints a log line on rank 0 (through the progress object once it exists). */
static void say(render *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(render *r, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    if (r->rank != 0 || r->opts->quiet)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (r->progress)
        gd_progress_log(r->progress, "%s", line);
    else
        fprintf(stderr, "%s\n", line);
}

/* ---- Checks before dreaming ------------------------------------------------- */

/*
 * The output path: a known extension, an existing writable folder, and no
 * file there unless overwrite.  Creating and removing a probe file is the one
 * test of writability that also holds for root and read-only file systems.
 */
static gd_status check_output(const gd_job *job, gd_err *err)
{
    char where[256], dir[4096];
    const char *path = job->output.path;
    gd_job_where(job, GD_JOB_KEY_OUTPUT_FILE, where, sizeof where);
    gd_format fmt;
    if (gd_format_from_path(path, &fmt, err) != GD_OK)
        return gd_err_prefix(err, "%s: [output] file", where);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return gd_err_set(err, GD_EINPUT, "%s: [output] file: folder '%s' does not exist", where,
                          dir);
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.gigadream-probe-%ld", dir, (long)getpid());
    FILE *f = fopen(probe, "wx");
    if (!f)
        return gd_err_set(err, GD_EINPUT, "%s: [output] file: cannot write in folder '%s': %s",
                          where, dir, strerror(errno));
    fclose(f);
    remove(probe);
    if (!job->overwrite && access(path, F_OK) == 0)
        return gd_err_set(err, GD_EINPUT,
                          "%s: [output] file: '%s' exists; set [output] overwrite = true to "
                          "replace it",
                          where, path);
    return GD_OK;
}

/*
 * The checkpoint folder: made if missing (its parent must exist), and
 * writable, checked now rather than at the first checkpoint after an hour.
 */
static gd_status check_checkpoint_dir(const gd_job *job, gd_err *err)
{
    char where[256], probe[4200];
    const char *dir = job->checkpoint_dir.path;
    if (!dir)
        return GD_OK;
    gd_job_where(job, GD_JOB_KEY_CHECKPOINT_DIR, where, sizeof where);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return gd_err_set(err, GD_EINPUT, "%s: [checkpoint] dir: cannot make folder '%s': %s",
                          where, dir, strerror(errno));
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return gd_err_set(err, GD_EINPUT, "%s: [checkpoint] dir: '%s' is not a folder", where, dir);
    snprintf(probe, sizeof probe, "%s/.gigadream-probe-%ld", dir, (long)getpid());
    FILE *f = fopen(probe, "wx");
    if (!f)
        return gd_err_set(err, GD_EINPUT, "%s: [checkpoint] dir: cannot write in '%s': %s", where,
                          dir, strerror(errno));
    fclose(f);
    remove(probe);
    return GD_OK;
}

/* The largest total stride of the objective's layers. */
static int objective_stride(const gd_model *m, const gd_objective *obj)
{
    int s = 1;
    for (int k = 0; k < obj->n_layers; k++) {
        int st, rf;
        gd_model_stride_rf(m, obj->layers[k], &st, &rf);
        if (st > s)
            s = st;
    }
    return s;
}

/*
 * Guide features (Caffe's objective_guide): the guide image resized to the
 * model's native input size, run forward; each objective layer's activation
 * vectors at every position become the guide vectors.
 */
static gd_status guide_features(render *r, gd_err *err)
{
    gd_status st;
    gd_image img = {0}, small = {0};
    gd_engine *e = NULL;
    const gd_model *m = r->model;
    char where[256];
    gd_job_where(&r->job, GD_JOB_KEY_MODEL_GUIDE, where, sizeof where);
    if ((st = gd_image_read(r->job.guide.path, &img, NULL, err)) != GD_OK) {
        gd_err_prefix(err, "%s: [model] guide", where);
        goto done;
    }
    if ((st = gd_image_alloc_full(&small, m->in_w, m->in_h, 3, err)) != GD_OK)
        goto done;
    gd_resize_bilinear(&img, &small);
    gd_engine_opts eo = {.backward = 0, .precision = r->job.precision};
    if ((st = gd_engine_create(m, m->in_h, m->in_w, r->obj.layers, r->obj.n_layers, &eo, &e,
                               err)) != GD_OK)
        goto done;
    if ((st = gd_engine_forward(e, small.data, err)) != GD_OK)
        goto done;
    for (int k = 0; k < r->obj.n_layers; k++) {
        gd_shape s;
        const float *a = gd_engine_output(e, k, &s);
        size_t n = (size_t)s.h * s.w;
        float *g = gd_malloc(sizeof(float) * n * (size_t)s.c, "guide features", err);
        if (!g) {
            st = err->status;
            goto done;
        }
        for (size_t j = 0; j < n; j++)
            for (int c = 0; c < s.c; c++)
                g[j * s.c + c] = a[(size_t)c * n + j];
        free(r->obj.guide[k]);
        r->obj.guide[k] = g;
        r->obj.n_guide[k] = (int)n;
    }
done:
    gd_engine_free(e);
    gd_image_free(&small);
    gd_image_free(&img);
    return st;
}

/*
 * Threads per rank.  [engine] threads or OMP_NUM_THREADS when given;
 * otherwise the CPUs this rank may run on, shared with the other ranks on its
 * node, so that ranks x threads never exceeds the cores: OpenMP's barriers
 * spin, and an oversubscribed core makes every barrier wait for a thread
 * that is not running (an order of magnitude slower, measured).
 */
static int choose_threads(const gd_job *job, gd_dist *dist)
{
    if (job->threads > 0)
        return job->threads;
    const char *env = getenv("OMP_NUM_THREADS");
    if (env && *env)
        return 0; /* OpenMP already follows it */
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)online;
    int share = (int)(online / gd_dist_local_size(dist));
    int t = allowed < share ? allowed : share;
    return t > 0 ? t : 1;
}

/* Everything local that can fail on bad input, before any collective work. */
static gd_status prepare(render *r, gd_err *err)
{
    gd_status st;
    gd_job *job = &r->job;
    char where[256];
    if ((st = gd_job_load(r->opts->job_path, r->opts->overrides, r->opts->n_overrides, job, err)) !=
        GD_OK)
        return st;
    int threads = choose_threads(job, r->dist);
    if (threads > 0)
        omp_set_num_threads(threads);
    if ((st = gd_engine_precision_check(job->precision, err)) != GD_OK) {
        /* "jobs/x.ini:40: [engine] precision = bf16 needs a CPU with AVX-512 BF16 (...)" */
        char why[GD_ERR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err->msg);
        gd_job_where(job, GD_JOB_KEY_ENGINE_PRECISION, where, sizeof where);
        return gd_err_set(err, st, "%s: [engine] precision = %s", where, why);
    }
    if ((st = gd_model_load(job->model.path, &r->model, err)) != GD_OK) {
        gd_job_where(job, GD_JOB_KEY_MODEL_FILE, where, sizeof where);
        return gd_err_prefix(err, "%s: [model] file", where);
    }
    if ((st = gd_objective_parse(r->model, job->objective, job->layer, job->channels, &r->obj,
                                 err)) != GD_OK) {
        gd_job_where(job, GD_JOB_KEY_MODEL_LAYER, where, sizeof where);
        return gd_err_prefix(err, "%s: [model] layer", where);
    }
    if ((st = gd_job_check_tiles(job, objective_stride(r->model, &r->obj), err)) != GD_OK)
        return st;
    if (job->objective == GD_OBJ_GUIDE && (st = guide_features(r, err)) != GD_OK)
        return st;
    gd_seed_opts so = {.path = job->noise ? NULL : job->image.path,
                       .width = job->width,
                       .height = job->height,
                       .noise_key = job->seed};
    if ((st = gd_seed_open(&so, &r->seed, err)) != GD_OK) {
        gd_job_where(job, GD_JOB_KEY_INPUT_IMAGE, where, sizeof where);
        return gd_err_prefix(err, "%s: [input] image", where);
    }
    if (r->rank == 0 && (st = check_output(job, err)) != GD_OK)
        return st;
    if (r->rank == 0 && (st = check_checkpoint_dir(job, err)) != GD_OK)
        return st;
    return GD_OK;
}

/* ---- Output ------------------------------------------------------------- */

/*
 * gd_rows_done for the passes that read the dream's image through (the
 * checkpoint, the output): out of core, the rows behind leave memory.
 */
static void release_rows(void *ctx, int y0, int y1)
{
    gd_dream_release(ctx, y0, y1);
}

/*
 * Rounds the owned pixels to the output's levels (8 or 16 bits), as floats
 * in [0, 255]: what is written is then exactly what gets measured.
 */
static void quantize(gd_dream *d, gd_image *img, int bits)
{
    size_t n = (size_t)img->w * 3;
    float back = bits == 16 ? 255.0f / 65535.0f : 1.0f;
    /* Out of core, each slice of rows leaves memory once done. */
    for (int y0 = img->y0; y0 < img->y1; y0 += 256) {
        int y1 = img->y1 - y0 > 256 ? y0 + 256 : img->y1;
#pragma omp parallel for schedule(static)
        for (int y = y0; y < y1; y++) {
            float *p = gd_image_row(img, y);
            for (size_t i = 0; i < n; i++)
                p[i] = (float)gd_quantize(p[i], bits) * back;
        }
        gd_dream_release(d, y0, y1);
    }
}

/* OUT.preview.png beside OUT: "out/a.tif" -> "out/a.preview.png". */
static gd_status preview_path(const char *out, char *buf, size_t len, gd_err *err)
{
    const char *slash = strrchr(out, '/'), *dot = strrchr(out, '.');
    int stem = dot && (!slash || dot > slash + 1) ? (int)(dot - out) : (int)strlen(out);
    int n = snprintf(buf, len, "%.*s.preview.png", stem, out);
    if (n < 0 || (size_t)n >= len)
        return gd_err_set(err, GD_EINPUT, "%s: the preview's path would be too long", out);
    return GD_OK;
}

/*
 * Writes the (quantized) image: every rank compresses a share of the tiles,
 * rank 0 appends them to the temporary file (output.h).  Committed later.
 */
static gd_status write_output(render *r, gd_image *img, gd_err *err)
{
    gd_status st;
    const gd_job *job = &r->job;
    char desc[4096];
    char hex[17];
    snprintf(desc, sizeof desc, "gigadream %s, job hash %s\n%s", GD_VERSION,
             gd_job_hash_hex(job->hash, hex), job->canon);
    const gd_image_info *in = gd_seed_info(r->seed);
    /* An untagged seed (noise, or a photo without a profile) is taken as
     * sRGB, what the network was trained on: the output says so. */
    if (!(in && in->icc) && !r->srgb &&
        (st = gd_srgb_profile(&r->srgb, &r->srgb_len, err)) != GD_OK)
        return st;
    gd_write_opts wo = {.bits = job->bits,
                        .compression = job->compression,
                        .dpi = job->dpi,
                        .description = desc,
                        .icc = in && in->icc ? in->icc : r->srgb,
                        .icc_len = in && in->icc ? in->icc_len : r->srgb_len,
                        .pyramid = job->pyramid,
                        .overwrite = job->overwrite,
                        .tile = 256,
                        .bigtiff = job->bigtiff};
    if ((st = gd_output_begin(r->dist, job->output.path, img->w, img->full_h, &wo, NULL, &r->output,
                              err)) != GD_OK)
        return st;
    if (job->preview > 0 &&
        ((st = preview_path(job->output.path, r->preview, sizeof r->preview, err)) != GD_OK ||
         (st = gd_output_preview(r->output, r->preview, job->preview, err)) != GD_OK))
        return st;
    gd_rows_done done = {release_rows, r->dream};
    return gd_output_write(r->output, img, &done, err);
}

/* ---- Checkpoints ------------------------------------------------------------- */

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGTERM:
        return "SIGTERM";
    case SIGUSR1:
        return "SIGUSR1";
    case SIGINT:
        return "SIGINT";
    default:
        return "a signal";
    }
}

/* Logs each newer checkpoint gd_checkpoint_find passed over (same on every rank). */
static void on_skip(void *ctx, const char *path, gd_checkpoint_verdict why, const char *message)
{
    render *r = ctx;
    (void)path;
    if (why == GD_CKPT_OTHER_JOB && !r->other_job[0])
        snprintf(r->other_job, sizeof r->other_job, "%s", message);
    say(r, "skipping checkpoint (%s): %s", gd_checkpoint_verdict_name(why), message);
}

static gd_status fill_from_checkpoint(void *ctx, gd_image *band, gd_err *err)
{
    render *r = ctx;
    gd_rows_done done = {release_rows, r->dream};
    return gd_checkpoint_read(r->dist, r->resume, band, &done, err);
}

/*
 * The ranks agree on one ISA, the lowest any of them has, before anything
 * uses oneDNN: a job whose ranks land on different CPUs runs every rank on
 * the common path, so its bytes do not depend on which rank got which tile
 * band.  Collective.
 */
static gd_status agree_isa(render *r, gd_err *err)
{
    gd_status st;
    double lo, hi;
    r->isa_level = gd_engine_isa_level();
    if ((st = gd_dist_max(r->dist, -(double)r->isa_level, &lo, err)) != GD_OK ||
        (st = gd_dist_max(r->dist, (double)r->isa_level, &hi, err)) != GD_OK)
        return st;
    r->isa_lowest = (int)-lo;
    if (r->isa_lowest == (int)hi)
        return GD_OK;
    return gd_dist_agree(r->dist, gd_engine_cap_isa(r->isa_lowest, err), err);
}

/* A small hash of a path, exact in a double (gd_dist_max compares them). */
static double path_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return (double)h;
}

/* Fixes the kernel path of the job's precision and checks that every rank
 * has the same (one oneDNN build, one ISA: a difference is a bug or a
 * heterogeneous install).  Collective. */
static gd_status fix_path(render *r, gd_err *err)
{
    gd_status st;
    double lo, hi;
    gd_engine_path(r->job.precision, r->kernel_path, sizeof r->kernel_path);
    const double h = path_hash(r->kernel_path);
    if ((st = gd_dist_max(r->dist, -h, &lo, err)) != GD_OK ||
        (st = gd_dist_max(r->dist, h, &hi, err)) != GD_OK)
        return st;
    if (-lo != hi)
        return gd_err_set(err, GD_ELIB,
                          "the ranks run different kernel paths (rank %d: %s) though they agreed "
                          "on ISA level %d",
                          r->rank, r->kernel_path, r->isa_lowest);
    return GD_OK;
}

/*
 * A checkpoint written on another kernel path (another ISA, own kernels or
 * not, another precision) would resume into bytes an uninterrupted run
 * never makes: refused, unless --allow-other-cpu, which resumes and warns.
 * The same on every rank (the path is agreed).
 */
static gd_status check_path(render *r, const gd_checkpoint_meta *meta, gd_err *err)
{
    if (strcmp(meta->kernel_path, r->kernel_path) == 0)
        return GD_OK;
    if (!r->opts->allow_other_cpu)
        return gd_err_set(err, GD_EINPUT,
                          "%s: written on kernel path %s, this run's is %s: resuming would not "
                          "give the bytes of an uninterrupted run (--allow-other-cpu resumes "
                          "anyway; --restart starts over)",
                          r->resume, meta->kernel_path, r->kernel_path);
    if (r->rank == 0)
        fprintf(stderr,
                "gigadream: warning: %s was written on kernel path %s, this run's is %s "
                "(--allow-other-cpu): the output's bytes will differ from an uninterrupted "
                "run's\n",
                r->resume, meta->kernel_path, r->kernel_path);
    return GD_OK;
}

/*
 * Finds where to start: --resume PATH, else the newest usable checkpoint in
 * [checkpoint] dir (unless --restart), else the seed.  A folder that only
 * holds another job's checkpoints is refused rather than overwritten with a
 * fresh start: the message lists the keys that differ.  Collective.
 */
static gd_status find_start(render *r, gd_checkpoint_meta *meta, gd_err *err)
{
    gd_status st;
    const gd_job *job = &r->job;
    r->resume[0] = '\0';
    if (r->opts->resume) {
        if ((st = gd_checkpoint_check(r->dist, r->opts->resume, job, meta, NULL, err)) != GD_OK)
            return gd_err_prefix(err, "--resume");
        snprintf(r->resume, sizeof r->resume, "%s", r->opts->resume);
        return GD_OK;
    }
    if (!job->checkpoint_dir.path || r->opts->restart)
        return GD_OK;
    gd_checkpoint_found f;
    if ((st = gd_checkpoint_find(r->dist, job->checkpoint_dir.path, job, &f, on_skip, r, err)) !=
        GD_OK)
        return st;
    if (f.found) {
        *meta = f.meta;
        snprintf(r->resume, sizeof r->resume, "%s", f.path);
    } else if (f.skipped_other_job > 0) {
        char where[256];
        gd_job_where(job, GD_JOB_KEY_CHECKPOINT_DIR, where, sizeof where);
        return gd_err_set(err, GD_EINPUT,
                          "%s: [checkpoint] dir holds checkpoints of another job, refusing to "
                          "start over there (--restart does; or use another dir): %s",
                          where, r->other_job);
    }
    return GD_OK;
}

/* Writes a checkpoint of where the dream is now.  Collective. */
static gd_status save(render *r, const char *why, char *path, size_t len, gd_err *err)
{
    gd_dream *d = r->dream;
    gd_checkpoint_pos pos;
    gd_dream_position(d, &pos.octave, &pos.iteration);
    pos.octaves = gd_dream_octaves(d);
    gd_dream_octave_size(d, pos.octave, &pos.w, &pos.h);
    pos.kernel_path = r->kernel_path;
    double t0 = gd_dist_now();
    gd_rows_done done = {release_rows, d};
    gd_status st = gd_checkpoint_write(r->dist, r->job.checkpoint_dir.path, &r->job, &pos,
                                       gd_dream_image(d), &done, r->job.keep, NULL, path, len, err);
    gd_dream_release(d, 0, INT_MAX);
    if (st != GD_OK)
        return st;
    char at[64];
    if (gd_dream_done(d))
        snprintf(at, sizeof at, "dream done");
    else
        snprintf(at, sizeof at, "octave %d/%d, next iteration %d/%d", pos.octave + 1, pos.octaves,
                 pos.iteration + 1, r->job.iterations);
    say(r, "checkpoint %s (%s; %s) in %.2f s", path, why, at, gd_dist_now() - t0);
    r->last_save = gd_dist_now();
    r->since_save = 0;
    return GD_OK;
}

/*
 * A stop signal arrived (on any rank): checkpoint where the dream is and
 * stop with GD_ESTOPPED (exit 3), or, with no [checkpoint] dir, stop with a
 * failure that says nothing was saved.
 */
static gd_status stop_now(render *r, int sig, gd_err *err)
{
    char path[GD_CKPT_PATH_MAX];
    if (!r->job.checkpoint_dir.path)
        return gd_err_set(err, GD_EIO,
                          "stopped by %s before the render finished; [checkpoint] dir is not "
                          "set, so nothing was saved",
                          signal_name(sig));
    gd_status st = save(r, "stop signal", path, sizeof path, err);
    if (st != GD_OK)
        return st;
    return gd_err_set(err, GD_ESTOPPED,
                      "stopped by %s: checkpoint %s written; run the same command to resume",
                      signal_name(sig), path);
}

/* The signal number any rank saw (0: none).  Collective. */
static gd_status agreed_signal(render *r, int *sig, gd_err *err)
{
    double mine = r->opts->stop ? (double)*r->opts->stop : 0.0, any;
    gd_status st = gd_dist_max(r->dist, mine, &any, err);
    *sig = (int)any;
    return st;
}

/*
 * After an iteration: checkpoint when the job asks (every_iterations,
 * every_seconds, at an octave's end) or a signal says stop.  Every rank takes
 * the same decision: time and signals are agreed first.  Collective.
 */
static gd_status after_step(render *r, gd_err *err)
{
    gd_status st;
    const gd_job *job = &r->job;
    int sig, o, i;
    char path[GD_CKPT_PATH_MAX];
    r->since_save++;
    if ((st = agreed_signal(r, &sig, err)) != GD_OK)
        return st;
    if (sig)
        return stop_now(r, sig, err);
    if (!job->checkpoint_dir.path)
        return GD_OK;
    double elapsed;
    if ((st = gd_dist_max(r->dist, gd_dist_now() - r->last_save, &elapsed, err)) != GD_OK)
        return st;
    gd_dream_position(r->dream, &o, &i);
    const char *why = NULL;
    if (gd_dream_done(r->dream))
        why = "dream done";
    else if (i == 0)
        why = "octave end";
    else if (job->every_iterations > 0 && r->since_save >= job->every_iterations)
        why = "every_iterations";
    else if (job->every_seconds > 0 && elapsed >= job->every_seconds)
        why = "every_seconds";
    return why ? save(r, why, path, sizeof path, err) : GD_OK;
}

/* ---- The render ------------------------------------------------------------- */

/* Work done before (octave o, iteration i), for the progress rate and ETA. */
static double work_before(const gd_dream *d, int o, int i, int iterations)
{
    double done = 0;
    for (int k = 0; k <= o; k++) {
        int w, h;
        gd_dream_octave_size(d, k, &w, &h);
        done += (double)w * h * (k < o ? iterations : i);
    }
    return done;
}

static gd_status dream_all(render *r, gd_render_result *res, gd_err *err)
{
    gd_status st;
    gd_job *job = &r->job;
    gd_dream *d = r->dream;
    int n = gd_dream_octaves(d), ws[GD_MAX_OCTAVES], hs[GD_MAX_OCTAVES];
    for (int o = 0; o < n; o++)
        gd_dream_octave_size(d, o, &ws[o], &hs[o]);
    /* The seed is read (and measured) before anything is printed: a corrupt
     * input must fail with its one-line error, not after a page of log. */
    if ((st = gd_dream_measure_seed(d, &res->objective_seed, err)) != GD_OK)
        return st;
    gd_checkpoint_meta meta;
    if ((st = find_start(r, &meta, err)) != GD_OK)
        return st;
    if (r->resume[0] && (st = check_path(r, &meta, err)) != GD_OK)
        return st;
    if (r->rank == 0 && !r->opts->quiet) {
        gd_progress_opts po = {.out = stderr, .tty = -1};
        if (r->resume[0])
            po.done = work_before(d, meta.pos.octave, meta.pos.iteration, job->iterations);
        if ((st = gd_progress_create(gd_progress_total(ws, hs, n, job->iterations), &po,
                                     &r->progress, err)) != GD_OK)
            return st;
    }
    char hex[17];
    say(r, "gigadream %s: %s (job %s), %d rank%s x %d thread%s", GD_VERSION, job->file,
        gd_job_hash_hex(job->hash, hex), gd_dist_size(r->dist),
        gd_dist_size(r->dist) == 1 ? "" : "s", omp_get_max_threads(),
        omp_get_max_threads() == 1 ? "" : "s");
    say(r, "kernel path %s%s", r->kernel_path,
        r->isa_lowest < r->isa_level ? " (lowered to the ranks' common ISA)" : "");
    if (job->precision == GD_ENGINE_BF16)
        say(r, "the network runs in bf16 (weights, activations and gradients; f32 in and out)");
    char sizes[512] = "";
    size_t len = 0;
    for (int o = 0; o < n && len < sizeof sizes - 1; o++)
        len += (size_t)snprintf(sizes + len, sizeof sizes - len, "%s%dx%d", o ? ", " : "", ws[o],
                                hs[o]);
    char tiles[512] = "";
    len = 0;
    if (job->tile_size == GD_TILING_AUTO) /* what auto takes, per octave as above */
        for (int o = 0; o < n && len < sizeof tiles - 1; o++)
            len += (size_t)snprintf(tiles + len, sizeof tiles - len, "%s%d",
                                    o ? ", " : "auto: ", gd_dream_tile_size(d, ws[o], hs[o]));
    else
        snprintf(tiles, sizeof tiles, "%d", job->tile_size);
    say(r, "%s mode, %d octave%s (%s), %d iterations each, step %g, tiles %s (+%d overlap)",
        gd_dream_mode_name(job->mode), n, n == 1 ? "" : "s", sizes, job->iterations,
        (double)job->step, tiles, job->tile_overlap);

    double need, budget;
    const char *scratch;
    char nb[32], bb[32];
    if (gd_dream_out_of_core(d, &need, &budget, &scratch))
        say(r,
            "out of core: the dream needs about %s per rank in memory, over the %s budget "
            "(%s); its images live in scratch files in %s, streamed a window of rows at a time",
            gd_bytes_str(need, nb), gd_bytes_str(budget, bb),
            job->memory > 0 ? "[engine] memory"
                            : "auto: 2/3 of available memory / local ranks, less the process",
            scratch);
    say(r, "objective on the seed: %.6g", res->objective_seed);
    if (r->resume[0]) {
        st = gd_dream_resume(d, meta.pos.octave, meta.pos.iteration, fill_from_checkpoint, r, err);
        if (st != GD_OK)
            return gd_err_prefix(err, "resuming from %s", r->resume);
        char at[64];
        if (gd_dream_done(d))
            snprintf(at, sizeof at, "the dream was done, writing its output");
        else
            snprintf(at, sizeof at, "octave %d/%d, next iteration %d/%d", meta.pos.octave + 1,
                     meta.pos.octaves, meta.pos.iteration + 1, job->iterations);
        say(r, "resumed from %s: %s (written by %d rank%s)", r->resume, at, meta.ranks,
            meta.ranks == 1 ? "" : "s");
    } else if ((st = gd_dream_start(d, err)) != GD_OK) {
        return st;
    }
    gd_dream_set_stop(d, r->opts->stop);
    double t0 = gd_dist_now(), sent0 = gd_dist_sent(r->dist), sent;
    int steps = 0;
    r->last_save = t0;
    r->since_save = 0;
    while (!gd_dream_done(d)) {
        gd_dream_report rep;
        st = gd_dream_step(d, &rep, err);
        steps++;
        if (st == GD_ESTOPPED) {
            /* Abandoned between tiles: the position is unchanged. */
            int sig;
            if ((st = agreed_signal(r, &sig, err)) != GD_OK)
                return st;
            return stop_now(r, sig ? sig : SIGTERM, err);
        }
        if (st != GD_OK)
            return st;
        res->mpix_iter += rep.mpix;
        res->tile_mpix_iter += rep.tile_mpix;
        if (r->progress) {
            gd_progress_step ps = {.octave = rep.octave,
                                   .octaves = n,
                                   .iteration = rep.iteration,
                                   .iterations = job->iterations,
                                   .tiles = rep.tiles,
                                   .mpix = rep.mpix,
                                   .objective = rep.objective};
            gd_progress_iteration(r->progress, &ps);
        }
        if ((st = after_step(r, err)) != GD_OK)
            return st;
    }
    res->dream_seconds = gd_dist_now() - t0;
    /* The halo traffic of the iterations (and octave changes) run here: the
     * most any rank sent, an input of the README's scaling model. */
    if ((st = gd_dist_max(r->dist, gd_dist_sent(r->dist) - sent0, &sent, err)) != GD_OK)
        return st;
    char sb[32], pb[32];
    if (steps > 0 && gd_dist_size(r->dist) > 1)
        say(r, "halo exchange: at most %s sent by a rank over %d iterations (%s per iteration)",
            gd_bytes_str(sent, sb), steps, gd_bytes_str(sent / steps, pb));
    gd_dream_finish(d);
    if (res->mpix_iter > 0)
        say(r,
            "dreamed %.2f MPix-iterations in %.2f s: %.3f MPix-iter/s; the network saw %.2fx "
            "the image's pixels (halo)",
            res->mpix_iter, res->dream_seconds, res->mpix_iter / res->dream_seconds,
            res->tile_mpix_iter / res->mpix_iter);
    return GD_OK;
}

/* Rank 0 logs every rank's peak memory, per pixel it owns at the largest octave. */
static gd_status report_memory(render *r, gd_err *err)
{
    int n = gd_dist_size(r->dist), me = gd_dist_rank(r->dist);
    double *rss = gd_calloc((size_t)n * 2, sizeof(double), "memory report", err);
    if (!rss)
        return gd_dist_agree(r->dist, err->status, err);
    gd_status st = gd_dist_agree(r->dist, GD_OK, err);
    if (st == GD_OK) {
        rss[me] = peak_rss();
        st = gd_dist_gather_ids(r->dist, n, me, 1, rss, err);
    }
    if (st == GD_OK) {
        rss[n + me] = gd_dream_owned_pixels(r->dream);
        st = gd_dist_gather_ids(r->dist, 2 * n, n + me, 1, rss, err);
    }
    for (int k = 0; st == GD_OK && k < n; k++) {
        char b[32];
        say(r, "peak memory of rank %d: %s (%.1f bytes per pixel of its %.2f MPix band)", k,
            gd_bytes_str(rss[k], b), rss[n + k] > 0 ? rss[k] / rss[n + k] : 0.0, rss[n + k] / 1e6);
    }
    free(rss);
    return st;
}

gd_status gd_render(const gd_render_opts *opts, gd_dist *dist, gd_render_result *result,
                    gd_err *err)
{
    gd_status st;
    render r;
    gd_render_result res;
    memset(&r, 0, sizeof r);
    memset(&res, 0, sizeof res);
    r.opts = opts;
    r.dist = dist;
    r.rank = gd_dist_rank(dist);
    double t0 = gd_dist_now();

    if ((st = agree_isa(&r, err)) != GD_OK)
        goto done;
    st = prepare(&r, err);
    if ((st = gd_dist_agree(dist, st, err)) != GD_OK)
        goto done;
    if ((st = fix_path(&r, err)) != GD_OK)
        goto done;
    st = gd_dream_create(&r.job, r.model, &r.obj, r.seed, dist, &r.dream, err);
    if ((st = gd_dist_agree(dist, st, err)) != GD_OK)
        goto done;
    if ((st = dream_all(&r, &res, err)) != GD_OK)
        goto done;

    gd_image *img = gd_dream_image(r.dream);
    res.w = img->w;
    res.h = img->full_h;
    quantize(r.dream, img, r.job.bits);
    st = write_output(&r, img, err);
    gd_dream_release(r.dream, 0, INT_MAX);
    if (st != GD_OK)
        goto done;
    if ((st = gd_dream_measure(r.dream, NULL, &res.objective_out, err)) != GD_OK)
        goto done;
    st = gd_output_commit(r.output, err);
    r.output = NULL;
    if (st != GD_OK)
        goto done;
    res.seconds = gd_dist_now() - t0;
    if ((st = gd_dist_max(dist, peak_rss(), &res.peak_rss, err)) != GD_OK)
        goto done;
    if ((st = report_memory(&r, err)) != GD_OK)
        goto done;
    if (r.progress)
        gd_progress_finish(r.progress);
    char mem[32];
    say(&r, "objective on the output: %.6g (%.3fx the seed's %.6g)", res.objective_out,
        res.objective_seed != 0 ? res.objective_out / res.objective_seed : 0.0, res.objective_seed);
    say(&r, "wrote %s: %dx%d, %d-bit, in %.1f s; peak memory per rank %s", r.job.output.path, res.w,
        res.h, r.job.bits, res.seconds, gd_bytes_str(res.peak_rss, mem));
    if (r.job.preview > 0)
        say(&r, "wrote the preview %s (from the output's pyramid)", r.preview);
    if (gd_dream_out_of_core(r.dream, NULL, NULL, NULL)) {
        double peak, total;
        char nb[32];
        gd_dream_scratch_bytes(r.dream, &peak);
        if ((st = gd_dist_sum(dist, peak, &total, err)) != GD_OK)
            goto done;
        say(&r, "scratch files: at most %s on rank 0, %s on all ranks together",
            gd_bytes_str(peak, mem), gd_bytes_str(total, nb));
    }
    if (result)
        *result = res;
done:
    gd_output_abort(r.output);
    free(r.srgb);
    gd_progress_free(r.progress);
    gd_dream_free(r.dream);
    gd_seed_close(r.seed);
    gd_objective_free(&r.obj);
    gd_model_free(r.model);
    gd_job_free(&r.job);
    return st;
}

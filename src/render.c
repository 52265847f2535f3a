/*
 * render.c: one whole render (see render.h).
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "gigadream/render.h"

#include <errno.h>
#include <omp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

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
    gd_engine_opts eo = {.backward = 0};
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
    if ((st = gd_job_load(r->opts->job_path, r->opts->overrides, r->opts->n_overrides, job,
                          err)) != GD_OK)
        return st;
    int threads = choose_threads(job, r->dist);
    if (threads > 0)
        omp_set_num_threads(threads);
    if (job->precision != GD_PRECISION_FP32) {
        gd_job_where(job, GD_JOB_KEY_ENGINE_PRECISION, where, sizeof where);
        return gd_err_set(err, GD_EINPUT, "%s: [engine] precision = %s is not supported yet "
                          "(use fp32)", where, gd_precision_name(job->precision));
    }
    if ((st = gd_model_load(job->model.path, &r->model, err)) != GD_OK) {
        gd_job_where(job, GD_JOB_KEY_MODEL_FILE, where, sizeof where);
        return gd_err_prefix(err, "%s: [model] file", where);
    }
    if ((st = gd_objective_parse(r->model, job->objective, job->layer, job->channels, &r->obj,
                                 err)) != GD_OK) {
        gd_job_where(job, GD_JOB_KEY_MODEL_LAYER, where, sizeof where);
        return gd_err_prefix(err, "%s: [model]", where);
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
    return GD_OK;
}

/* ---- Output ------------------------------------------------------------- */

/*
 * Rounds the owned pixels to the output's levels (8 or 16 bits), as floats
 * in [0, 255]: what is written is then exactly what gets measured.
 */
static void quantize(gd_image *img, int bits)
{
    size_t n = (size_t)img->w * 3;
    float back = bits == 16 ? 255.0f / 65535.0f : 1.0f;
#pragma omp parallel for schedule(static)
    for (int y = img->y0; y < img->y1; y++) {
        float *p = gd_image_row(img, y);
        for (size_t i = 0; i < n; i++)
            p[i] = (float)gd_quantize(p[i], bits) * back;
    }
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
    gd_write_opts wo = {.bits = job->bits,
                        .compression = job->compression,
                        .dpi = job->dpi,
                        .description = desc,
                        .icc = in ? in->icc : NULL,
                        .icc_len = in ? in->icc_len : 0,
                        .pyramid = job->pyramid,
                        .overwrite = job->overwrite,
                        .tile = 256};
    if ((st = gd_output_begin(r->dist, job->output.path, img->w, img->full_h, &wo, &r->output,
                              err)) != GD_OK)
        return st;
    return gd_output_write(r->output, img, err);
}

/* ---- The render ------------------------------------------------------------- */

static gd_status dream_all(render *r, gd_render_result *res, gd_err *err)
{
    gd_status st;
    gd_job *job = &r->job;
    gd_dream *d = r->dream;
    int n = gd_dream_octaves(d), ws[GD_MAX_OCTAVES], hs[GD_MAX_OCTAVES];
    for (int o = 0; o < n; o++)
        gd_dream_octave_size(d, o, &ws[o], &hs[o]);
    if (r->rank == 0 && !r->opts->quiet) {
        gd_progress_opts po = {.out = stderr, .tty = -1};
        if ((st = gd_progress_create(gd_progress_total(ws, hs, n, job->iterations), &po,
                                     &r->progress, err)) != GD_OK)
            return st;
    }
    char sizes[512] = "";
    size_t len = 0;
    for (int o = 0; o < n && len < sizeof sizes - 1; o++)
        len += (size_t)snprintf(sizes + len, sizeof sizes - len, "%s%dx%d", o ? ", " : "", ws[o],
                                hs[o]);
    say(r, "%s mode, %d octave%s (%s), %d iterations each, step %g, tiles %d (+%d overlap)",
        gd_dream_mode_name(job->mode), n, n == 1 ? "" : "s", sizes, job->iterations,
        (double)job->step, job->tile_size, job->tile_overlap);

    if ((st = gd_dream_measure_seed(d, &res->objective_seed, err)) != GD_OK)
        return st;
    say(r, "objective on the seed: %.6g", res->objective_seed);
    if ((st = gd_dream_start(d, err)) != GD_OK)
        return st;
    while (!gd_dream_done(d)) {
        gd_dream_report rep;
        if ((st = gd_dream_step(d, &rep, err)) != GD_OK)
            return st;
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
    }
    return GD_OK;
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

    st = prepare(&r, err);
    if ((st = gd_dist_agree(dist, st, err)) != GD_OK)
        goto done;
    char hex[17];
    say(&r, "gigadream %s: %s (job %s), %d rank%s x %d thread%s", GD_VERSION, r.job.file,
        gd_job_hash_hex(r.job.hash, hex), gd_dist_size(dist), gd_dist_size(dist) == 1 ? "" : "s",
        omp_get_max_threads(), omp_get_max_threads() == 1 ? "" : "s");
    st = gd_dream_create(&r.job, r.model, &r.obj, r.seed, dist, &r.dream, err);
    if ((st = gd_dist_agree(dist, st, err)) != GD_OK)
        goto done;
    if ((st = dream_all(&r, &res, err)) != GD_OK)
        goto done;

    gd_image *img = gd_dream_image(r.dream);
    res.w = img->w;
    res.h = img->full_h;
    quantize(img, r.job.bits);
    if ((st = write_output(&r, img, err)) != GD_OK)
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
    if (r.progress)
        gd_progress_finish(r.progress);
    char mem[32];
    say(&r, "objective on the output: %.6g (%.3fx the seed's %.6g)", res.objective_out,
        res.objective_seed != 0 ? res.objective_out / res.objective_seed : 0.0,
        res.objective_seed);
    say(&r, "wrote %s: %dx%d, %d-bit, in %.1f s; peak memory per rank %s", r.job.output.path,
        res.w, res.h, r.job.bits, res.seconds, gd_bytes_str(res.peak_rss, mem));
    if (result)
        *result = res;
done:
    gd_output_abort(r.output);
    gd_progress_free(r.progress);
    gd_dream_free(r.dream);
    gd_seed_close(r.seed);
    gd_objective_free(&r.obj);
    gd_model_free(r.model);
    gd_job_free(&r.job);
    return st;
}

/*
 * dream.c: the dream's state and its octaves: sizes, the seed pyramid, the
 * move from one octave to the next, and gd_dream_step, which runs one
 * iteration (step.c) and then changes octave when the octave is done.  The
 * top of the dream module (dream_int.h has its layers): no other file of the
 * module calls into it.  It never runs the engine nor touches a tile or a
 * gradient: step.c does.
 *
 * Memory: a rank holds its band of the current octave image and two gradient
 * accumulators (36 bytes per owned pixel at the finest octave), plus halo
 * rows; out of core (dream.h), all of it in scratch files, streamed through
 * windows of rows.  Measured on a 2-core Zen 5 VM: a file mapping faults in
 * at about 6 GB/s from the page cache, against an iteration's compute of
 * about 3 MPix/s (12 bytes a pixel: 36 MB/s per band), so streaming every
 * band through a window each pass costs little next to the network; the
 * alternatives (recomputing the gradient in a second pass for the
 * normalizer, or storing it in 16 bits) cost a whole iteration or change the
 * bytes.  The seed's pyramid (the notebook's detail bands) is not kept: at
 * each octave change the two levels needed are recomputed from the seed,
 * band by band, which is cheap next to one iteration and leaves nothing to
 * checkpoint but the octave image.
 */
#include "dream_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Octave geometry ------------------------------------------------------ */

/*
 * deepdream: level 0 is the seed, level j+1 = int32(float32(level j) / scale);
 * octave o (processing order, coarsest first) is level n-1-o.
 * Other modes: octave 0 is the seed, octave o+1 = int32(float32(octave o) * scale).
 */
static void octave_sizes(gd_dream *d, int w0, int h0)
{
    const gd_job *j = d->job;
    int n = j->octaves;
    d->n_oct = n;
    if (j->mode == GD_MODE_DEEPDREAM) {
        d->lw[0] = w0;
        d->lh[0] = h0;
        for (int k = 1; k < n; k++) {
            d->lw[k] = gd_octave_down(d->lw[k - 1], j->octave_scale);
            d->lh[k] = gd_octave_down(d->lh[k - 1], j->octave_scale);
        }
        for (int o = 0; o < n; o++) {
            d->ow[o] = d->lw[n - 1 - o];
            d->oh[o] = d->lh[n - 1 - o];
        }
    } else {
        d->ow[0] = d->lw[0] = w0;
        d->oh[0] = d->lh[0] = h0;
        for (int o = 1; o < n; o++) {
            d->ow[o] = gd_octave_up(d->ow[o - 1], j->octave_scale);
            d->oh[o] = gd_octave_up(d->oh[o - 1], j->octave_scale);
        }
    }
}

/* A number from a one-line file (a cgroup's memory.max), or 0 when absent or "max". */
static double file_number(const char *path)
{
    FILE *f = fopen(path, "r");
    double v = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lf", &v) != 1)
        v = 0;
    fclose(f);
    return v;
}

/* Reads "MemAvailable" from /proc/meminfo (or the room left under this
 * process's cgroup v2 limit, when lower: a Slurm job's --mem), or 0 when
 * unknown. */
static double available_memory(void)
{
    double limit = file_number("/sys/fs/cgroup/memory.max");
    double used = file_number("/sys/fs/cgroup/memory.current");
    double room = limit > 0 && limit > used ? limit - used : 0;
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    double kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1)
            break;
    fclose(f);
    return room > 0 && room < kb * 1024.0 ? room : kb * 1024.0;
}

/* Bytes this process holds in memory now (libraries, the model, MPI's
 * buffers), or 0 when unknown. */
static double resident_now(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, pages = 0;
    long pg = sysconf(_SC_PAGESIZE);
    if (!f)
        return 0;
    int n = fscanf(f, "%lu %lu", &size, &pages);
    fclose(f);
    return n == 2 && pg > 0 ? (double)pages * (double)pg : 0;
}

/* Rows of a streaming pass's window out of core. */
#define WINDOW_ROWS 64

/* Bytes per pixel of a compiled engine's tile, about (MobileNet V1 to
 * Conv2d_11 in f32 with its backward pass: 147 MB for 1088 x 1088). */
#define ENGINE_BYTES_PER_PIXEL 160.0

/*
 * Out of core, the least a rank can hold: the three bands' rows under one
 * tile row's extent and a window either side, the gradient rows a
 * neighbour sends back (gd_dist_add_rows receives up to a tile row's
 * extent of them into memory of its own: 0.5 GB at 40000 pixels wide), and
 * the engine of the largest tile.
 */
static double bytes_minimum(const gd_dream *d, int o)
{
    double w = d->ow[o], h = d->oh[o];
    const int size = gd_dream_tile_size(d, d->ow[o], d->oh[o]);
    double tile = size ? size + 2.0 * d->job->tile_overlap : h;
    double tw = size ? (tile < w ? tile : w) : w;
    double rows = (tile < h ? tile : h) + 2.0 * WINDOW_ROWS;
    double received = gd_dist_size(d->dist) > 1 ? (tile < h ? tile : h) : 0;
    /* The engine cache (step.c) holds up to 2.5 full extents' worth. */
    return (3.0 * rows + received) * w * 3.0 * sizeof(float) +
           2.5 * ENGINE_BYTES_PER_PIXEL * tw * tile;
}

/* The scratch folder: [engine] scratch, else the checkpoint dir, else the
 * output's folder (in buf). */
static const char *scratch_folder(const gd_job *job, char *buf, size_t len)
{
    if (job->scratch.path)
        return job->scratch.path;
    if (job->checkpoint_dir.path)
        return job->checkpoint_dir.path;
    snprintf(buf, len, "%s", job->output.path ? job->output.path : ".");
    char *slash = strrchr(buf, '/');
    if (!slash)
        return ".";
    if (slash == buf)
        slash[1] = '\0';
    else
        *slash = '\0';
    return buf;
}

/*
 * Bytes this rank needs at the largest octave: its band of the image and the
 * two accumulators, halo rows for each, and the seed pyramid at an octave
 * change (at most as much again).
 */
static double bytes_needed(const gd_dream *d, int o)
{
    double w = d->ow[o], h = d->oh[o], n = gd_dist_size(d->dist);
    double rows = h / n + 1;
    const int size = gd_dream_tile_size(d, d->ow[o], d->oh[o]);
    double tile = size ? size + 2.0 * d->job->tile_overlap : h;
    double halo = 2.0 * (tile < h ? tile : h);
    return 3.0 * (rows + halo) * w * 3.0 * sizeof(float);
}

gd_status gd_dream_create(const gd_job *job, const gd_model *model, const gd_objective *obj,
                          gd_seed *seed, gd_dist *dist, gd_dream **out, gd_err *err)
{
    gd_status st = GD_OK;
    gd_shape *shapes = NULL;
    unsigned char *need = NULL;
    *out = NULL;
    if (job->octaves < 1 || job->octaves > GD_MAX_OCTAVES)
        return gd_err_set(err, GD_EINPUT, "%s: [dream] octaves must be 1 to %d", job->file,
                          GD_MAX_OCTAVES);
    gd_dream *d = gd_calloc(1, sizeof *d, "dream state", err);
    if (!d)
        return err->status;
    d->job = job;
    d->model = model;
    d->obj = obj;
    d->seed = seed;
    d->dist = dist;
    int w0, h0;
    gd_seed_size(seed, &w0, &h0);
    octave_sizes(d, w0, h0);

    /* Every octave's tiles must be large enough for the network. */
    shapes = gd_calloc((size_t)model->n_nodes, sizeof *shapes, "shape check", err);
    need = gd_malloc((size_t)model->n_nodes, "shape check", err);
    if (!shapes || !need) {
        st = err->status;
        goto done;
    }
    gd_model_ancestors(model, obj->layers, obj->n_layers, need);
    int largest = 0;
    for (int o = 0; o < d->n_oct; o++) {
        gd_tile_plan plan;
        if ((st = gd_tiling_plan(d->ow[o], d->oh[o], gd_dream_tile_size(d, d->ow[o], d->oh[o]),
                                 job->tile_overlap, 0, 0, &plan, err)) != GD_OK)
            goto done;
        if ((st = gd_model_shapes_needed(model, plan.tile_h, plan.tile_w, need, shapes, err)) !=
            GD_OK) {
            gd_err_prefix(err,
                          "%s: octave %d/%d is %dx%d pixels (tiles %dx%d), too small for "
                          "model %s (use fewer [dream] octaves or a larger image)",
                          job->file, o + 1, d->n_oct, d->ow[o], d->oh[o], plan.tile_w, plan.tile_h,
                          model->name);
            goto done;
        }
        if ((double)d->ow[o] * d->oh[o] > (double)d->ow[largest] * d->oh[largest])
            largest = o;
    }
    /* In core or out of core, decided before allocating anything of image size. */
    d->need = bytes_needed(d, largest);
    int local = gd_dist_local_size(dist);
    double avail = available_memory();
    /* auto: two thirds of what the node has free, shared by its ranks, less
     * what the process already holds (so the budget bounds the process); the
     * rest is for the page cache that out-of-core streaming goes through
     * (measured: with the whole of it, a 1 GP render on 2 ranks held 22.8
     * GB of a 24 GB machine and its scratch files had nowhere to be cached). */
    double own = avail * 2.0 / 3.0 / (local > 0 ? local : 1) - resident_now();
    d->budget = job->memory > 0 ? job->memory : avail > 0 && own > 0 ? own : 0;
    if (d->budget > 0 && d->need > d->budget) {
        double least = d->least = bytes_minimum(d, largest);
        char a[32], b[32], c[32], where[256], buf[4096];
        if (d->budget < least) {
            if (job->memory > 0)
                gd_job_where(job, GD_JOB_KEY_ENGINE_MEMORY, where, sizeof where);
            else
                snprintf(where, sizeof where, "%s", job->file);
            st =
                gd_err_set(err, GD_EINPUT,
                           "%s: [engine] memory%s: %s per rank is below the %s a %dx%d image "
                           "needs even out of "
                           "core (one window of tile rows and the engine); %s would hold it in "
                           "memory: raise [engine] memory or use more ranks",
                           where,
                           job->memory > 0
                               ? ""
                               : " (auto: 2/3 of available memory / local ranks, less the process)",
                           gd_bytes_str(d->budget, a), gd_bytes_str(least, b), d->ow[largest],
                           d->oh[largest], gd_bytes_str(d->need, c));
            goto done;
        }
        const char *dir = scratch_folder(job, buf, sizeof buf);
        if ((st = gd_scratch_open(dir, &d->scratch, err)) != GD_OK) {
            if (job->scratch.path) {
                gd_job_where(job, GD_JOB_KEY_ENGINE_SCRATCH, where, sizeof where);
                gd_err_prefix(err, "%s: [engine] scratch", where);
            }
            goto done;
        }
        /* The files hold what memory would have (the ranks of this node
         * share the disk): refused now, as bad input, when it cannot. */
        double room = gd_scratch_room(d->scratch);
        if (room >= 0 && d->need * local > room) {
            char f[32], where2[256];
            gd_job_key k = gd_job_is_set(job, GD_JOB_KEY_INPUT_WIDTH) ? GD_JOB_KEY_INPUT_WIDTH
                                                                      : GD_JOB_KEY_INPUT_HEIGHT;
            if (gd_job_is_set(job, k))
                gd_job_where(job, k, where2, sizeof where2);
            else
                snprintf(where2, sizeof where2, "%s", job->file);
            st = gd_err_set(
                err, GD_EINPUT,
                "%s: a %dx%d image needs about %s per rank (over the %s memory "
                "budget) in memory, and out of core as much in scratch files (%d rank%s on "
                "this node), but only %s is available in %s: use more ranks or "
                "nodes, a smaller [input] width/height, or [engine] scratch on a "
                "larger disk",
                where2, d->ow[largest], d->oh[largest], gd_bytes_str(d->need, a),
                gd_bytes_str(d->budget, b), local, local == 1 ? "" : "s", gd_bytes_str(room, f),
                dir);
            goto done;
        }
        /* Windows of a sixteenth of the budget per band (a pass touches at
         * most three bands): fewer, larger steps cost less than many small
         * ones (the seed's decoder restarts at every window of a PNG). */
        double win = d->budget / 16.0 / ((double)d->ow[largest] * 3.0 * sizeof(float));
        d->window = win < WINDOW_ROWS ? WINDOW_ROWS : win > 4096 ? 4096 : (int)win;
    }
done:
    free(shapes);
    free(need);
    if (st != GD_OK) {
        gd_dream_free(d);
        return st;
    }
    *out = d;
    return GD_OK;
}

void gd_dream_free(gd_dream *d)
{
    if (!d)
        return;
    gd_band_free(&d->img);
    gd_band_free(&d->acc[0]);
    gd_band_free(&d->acc[1]);
    for (int k = 0; k < 4; k++)
        free(d->wrap[k]);
    dr_engine_release(d);
    free(d->values);
    free(d->rowsums);
    gd_scratch_close(d->scratch);
    free(d);
}

int gd_dream_out_of_core(const gd_dream *d, double *need, double *budget, const char **scratch)
{
    if (need)
        *need = d->need;
    if (budget)
        *budget = d->budget;
    if (scratch)
        *scratch = d->scratch ? gd_scratch_dir(d->scratch) : NULL;
    return d->scratch != NULL;
}

double gd_dream_scratch_bytes(const gd_dream *d, double *peak)
{
    if (peak)
        *peak = (double)gd_scratch_peak(d->scratch);
    return (double)gd_scratch_bytes(d->scratch);
}

void gd_dream_release(gd_dream *d, int y0, int y1)
{
    gd_band_release(&d->img, y0, y1);
}

void gd_dream_set_stop(gd_dream *d, volatile sig_atomic_t *stop)
{
    d->stop = stop;
}

int gd_dream_octaves(const gd_dream *d)
{
    return d->n_oct;
}

void gd_dream_octave_size(const gd_dream *d, int o, int *w, int *h)
{
    *w = d->ow[o];
    *h = d->oh[o];
}

int gd_dream_done(const gd_dream *d)
{
    return d->done;
}

void gd_dream_position(const gd_dream *d, int *octave, int *iteration)
{
    *octave = d->oct;
    *iteration = d->iter;
}

gd_image *gd_dream_image(gd_dream *d)
{
    return &d->img.own;
}

void gd_dream_finish(gd_dream *d)
{
    gd_band_free(&d->acc[0]);
    gd_band_free(&d->acc[1]);
    for (int k = 0; k < 4; k++) {
        free(d->wrap[k]);
        d->wrap[k] = NULL;
        d->wrap_cap[k] = 0;
    }
}

double gd_dream_owned_pixels(const gd_dream *d)
{
    double best = 0;
    for (int o = 0; o < d->n_oct; o++) {
        int y0, y1;
        gd_dist_band(d->oh[o], gd_dist_size(d->dist), gd_dist_rank(d->dist), &y0, &y1);
        double px = (double)(y1 - y0) * d->ow[o];
        if (px > best)
            best = px;
    }
    return best;
}

size_t gd_dream_bytes(const gd_dream *d)
{
    size_t wrap = 0;
    for (int k = 0; k < 4; k++)
        wrap += d->wrap_cap[k] * sizeof(float);
    return gd_band_bytes(&d->img) + gd_band_bytes(&d->acc[0]) + gd_band_bytes(&d->acc[1]) + wrap +
           dr_engine_bytes(d);
}

/* ---- Resizing between octaves ---------------------------------------------- */

/* The end of the window of at most win rows that starts at c0, before end. */
static int c1_of(int c0, int win, int end)
{
    return end - c0 > win ? c0 + win : end;
}

/*
 * dst's owned rows = bilinear resize of the image src holds in bands, a
 * window of rows at a time (each output row depends only on its own two
 * source rows, so windows give the same bytes).  Collective (fetches src's
 * halo rows).
 */
static gd_status resize_band(gd_dream *d, gd_band *src, gd_band *dst, gd_err *err)
{
    int a, b, y0 = dst->own.y0, y1 = dst->own.y1;
    gd_resize_src_rows(src->own.full_h, dst->own.full_h, y0, y1, &a, &b);
    gd_status st = dr_fetch(d, src, a, b, err);
    if (st != GD_OK || y1 <= y0)
        return st;
    int win = dr_window(d);
    for (int c0 = y0; c0 < y1; c0 = c1_of(c0, win, y1)) {
        int c1 = c1_of(c0, win, y1), s0, s1;
        gd_resize_src_rows(src->own.full_h, dst->own.full_h, c0, c1, &s0, &s1);
        gd_image view = gd_band_view(src, s0, s1), out = gd_band_view(dst, c0, c1);
        gd_resize_bilinear(&view, &out);
        gd_band_release(dst, c0, c1);
        gd_band_release(src, a, s0);
    }
    gd_band_release(src, src->lo, src->hi);
    return GD_OK;
}

/* Fills band's owned rows from the seed, a window of rows at a time. */
static gd_status read_seed(gd_dream *d, gd_band *band, gd_err *err)
{
    int win = dr_window(d);
    for (int c0 = band->own.y0; c0 < band->own.y1; c0 = c1_of(c0, win, band->own.y1)) {
        int c1 = c1_of(c0, win, band->own.y1);
        gd_image rows = gd_band_view(band, c0, c1);
        gd_status st = gd_seed_read(d->seed, &rows, err);
        if (st != GD_OK)
            return st;
        gd_band_release(band, c0, c1);
    }
    return GD_OK;
}

/*
 * The seed pyramid (deepdream's bases): fills *lk with level k and, when lk1
 * is not NULL, *lk1 with level k + 1, each split into bands.  Collective.
 */
static gd_status seed_levels(gd_dream *d, int k, gd_band *lk, gd_band *lk1, gd_err *err)
{
    gd_status st;
    gd_band cur = {0}, next = {0};
    int last = lk1 ? k + 1 : k;
    memset(lk, 0, sizeof *lk);
    if (lk1)
        memset(lk1, 0, sizeof *lk1);
    st = dr_band_alloc(d, &cur, d->lw[0], d->lh[0], 2, err);
    if (st == GD_OK)
        st = read_seed(d, &cur, err);
    if ((st = gd_dist_agree(d->dist, st, err)) != GD_OK)
        goto fail;
    for (int j = 0;; j++) {
        if (j == k)
            *lk = cur;
        if (j == last)
            break;
        st = dr_band_alloc(d, &next, d->lw[j + 1], d->lh[j + 1], 2, err);
        if ((st = gd_dist_agree(d->dist, st, err)) != GD_OK)
            goto fail;
        if ((st = resize_band(d, &cur, &next, err)) != GD_OK)
            goto fail;
        if (j != k)
            gd_band_free(&cur);
        cur = next;
        memset(&next, 0, sizeof next);
    }
    if (lk1)
        *lk1 = cur;
    return GD_OK;
fail:
    if (lk->mem != cur.mem)
        gd_band_free(lk);
    gd_band_free(&cur);
    gd_band_free(&next);
    memset(lk, 0, sizeof *lk);
    return st;
}

/* ---- Starting, resuming, changing octave ---------------------------------- */

static gd_status alloc_accumulators(gd_dream *d, gd_err *err)
{
    gd_band_free(&d->acc[0]);
    gd_band_free(&d->acc[1]);
    int w = d->ow[d->oct], h = d->oh[d->oct], halo, wrapped;
    dr_reach(d, d->oct, &halo, &wrapped);
    /* The image band first (it was made with little halo room, and growing it
     * holds it twice for a moment), then the accumulators with all theirs. */
    gd_status st = gd_band_reserve(&d->img, d->img.own.y0 - halo, d->img.own.y1 + halo, err);
    gd_band_release(&d->img, d->img.lo, d->img.hi);
    if (st == GD_OK)
        st = dr_band_alloc(d, &d->acc[0], w, h, halo, err);
    if (st == GD_OK)
        st = dr_band_alloc(d, &d->acc[1], w, h, halo, err);
    /* Out of core, what the budget holds beyond the least a rank needs
     * stays resident, split between the three bands: only the rest streams. */
    if (st == GD_OK && d->scratch) {
        double spare = (d->budget - d->least) / 3.0, row = (double)w * 3 * sizeof(float);
        int keep = spare > 0 ? (int)(spare / row < h ? spare / row : h) : 0;
        d->img.keep = d->acc[0].keep = d->acc[1].keep = keep;
    }
    /* The wrap buffers at their largest for the octave, touched now: no
     * iteration grows them (nor faults their pages in). */
    size_t n = (size_t)wrapped * w * 3;
    for (int k = 0; st == GD_OK && k < 4; k++) {
        if (n <= d->wrap_cap[k])
            continue;
        free(d->wrap[k]);
        d->wrap_cap[k] = 0;
        if (!(d->wrap[k] = gd_malloc(n * sizeof(float), "wrapped tile rows", err))) {
            st = err->status;
            break;
        }
        d->wrap_cap[k] = n;
        gd_zero_floats(d->wrap[k], n);
    }
    return gd_dist_agree(d->dist, st, err);
}

gd_status gd_dream_start(gd_dream *d, gd_err *err)
{
    gd_status st;
    gd_band_free(&d->img);
    d->oct = d->iter = d->done = 0;
    if (d->job->mode == GD_MODE_DEEPDREAM)
        st = seed_levels(d, d->n_oct - 1, &d->img, NULL, err);
    else
        st = seed_levels(d, 0, &d->img, NULL, err);
    if (st != GD_OK)
        return st;
    return alloc_accumulators(d, err);
}

gd_status gd_dream_resume(gd_dream *d, int o, int i,
                          gd_status (*fill)(void *ctx, gd_image *band, gd_err *err), void *ctx,
                          gd_err *err)
{
    int last = o == d->n_oct - 1;
    if (o < 0 || o >= d->n_oct || i < 0 || i > d->job->iterations ||
        (i == d->job->iterations && !last))
        return gd_err_set(err, GD_EINPUT, "cannot resume at octave %d iteration %d of %d x %d",
                          o + 1, i + 1, d->n_oct, d->job->iterations);
    gd_band_free(&d->img);
    d->oct = o;
    d->iter = i;
    d->done = last && i == d->job->iterations;
    gd_status st = dr_band_alloc(d, &d->img, d->ow[o], d->oh[o], 0, err);
    /* fill may be collective (a checkpoint read): agree on the allocation first. */
    if ((st = gd_dist_agree(d->dist, st, err)) != GD_OK)
        return st;
    st = fill(ctx, &d->img.own, err);
    gd_band_release(&d->img, d->img.lo, d->img.hi);
    if ((st = gd_dist_agree(d->dist, st, err)) != GD_OK)
        return st;
    if (d->done)
        return GD_OK;
    return alloc_accumulators(d, err);
}

/* Rows per chunk when combining resized images, to bound scratch memory. */
#define CHUNK_ROWS 256

/*
 * deepdream: img_k = resize(img_k+1) + (base_k - resize(base_k+1)), in the
 * notebook's rounding order (the detail first, then the sum).
 */
static gd_status next_octave_deepdream(gd_dream *d, gd_err *err)
{
    gd_status st;
    int k = d->n_oct - 1 - (d->oct + 1); /* the new octave's pyramid level */
    gd_band base = {0}, base1 = {0};
    if ((st = seed_levels(d, k, &base, &base1, err)) != GD_OK)
        return st;
    gd_image *out = &base.own; /* becomes the new octave image */
    int a, b;
    gd_resize_src_rows(d->lh[k + 1], d->lh[k], out->y0, out->y1, &a, &b);
    if ((st = dr_fetch(d, &base1, a, b, err)) != GD_OK)
        goto done;
    if ((st = dr_fetch(d, &d->img, a, b, err)) != GD_OK)
        goto done;
    float *scratch =
        gd_malloc(sizeof(float) * CHUNK_ROWS * (size_t)out->w * 3, "octave change", err);
    st = scratch ? GD_OK : err->status;
    if ((st = gd_dist_agree(d->dist, st, err)) != GD_OK) {
        free(scratch);
        goto done;
    }
    gd_image vb = gd_band_view(&base1, a, b), vi = gd_band_view(&d->img, a, b);
    for (int c0 = out->y0; c0 < out->y1; c0 += CHUNK_ROWS) {
        int c1 = c0 + CHUNK_ROWS < out->y1 ? c0 + CHUNK_ROWS : out->y1;
        gd_image chunk = {.w = out->w,
                          .full_h = out->full_h,
                          .c = 3,
                          .y0 = c0,
                          .y1 = c1,
                          .stride = (size_t)out->w * 3,
                          .data = scratch};
        size_t n = (size_t)(c1 - c0) * out->w * 3;
        float *o = gd_image_row(out, c0);
        gd_resize_bilinear(&vb, &chunk);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++)
            o[i] = o[i] - scratch[i]; /* the detail, hi */
        gd_resize_bilinear(&vi, &chunk);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++)
            o[i] = scratch[i] + o[i];
        /* Out of core: the rows done and the source rows no later chunk reads go. */
        int s0 = b, s1;
        if (c1 < out->y1)
            gd_resize_src_rows(d->lh[k + 1], d->lh[k], c1, out->y1, &s0, &s1);
        gd_band_release(&base, c0, c1);
        gd_band_release(&base1, a, s0);
        gd_band_release(&d->img, a, s0);
    }
    free(scratch);
    gd_band_free(&d->img);
    d->img = base;
    memset(&base, 0, sizeof base);
done:
    gd_band_free(&base);
    gd_band_free(&base1);
    return st;
}

/* multiscale, lapnorm, naive: img = resize(img, int32(hw * scale)). */
static gd_status next_octave_upscale(gd_dream *d, gd_err *err)
{
    gd_band next = {0};
    int o = d->oct + 1;
    gd_status st = dr_band_alloc(d, &next, d->ow[o], d->oh[o], 0, err);
    if ((st = gd_dist_agree(d->dist, st, err)) != GD_OK)
        return st;
    if ((st = resize_band(d, &d->img, &next, err)) != GD_OK) {
        gd_band_free(&next);
        return st;
    }
    gd_band_free(&d->img);
    d->img = next;
    return GD_OK;
}

/* Moves to the next octave: frees the finished octave's accumulators, builds
 * the new octave image, allocates the new accumulators.  Collective. */
static gd_status next_octave(gd_dream *d, gd_err *err)
{
    /* The accumulators of the finished octave go first: the peak is then the
     * seed levels and two octave images. */
    gd_band_free(&d->acc[0]);
    gd_band_free(&d->acc[1]);
    gd_status st = d->job->mode == GD_MODE_DEEPDREAM ? next_octave_deepdream(d, err)
                                                     : next_octave_upscale(d, err);
    if (st != GD_OK)
        return st;
    d->oct++;
    d->iter = 0;
    return alloc_accumulators(d, err);
}

gd_status gd_dream_step(gd_dream *d, gd_dream_report *rep, gd_err *err)
{
    memset(rep, 0, sizeof *rep);
    if (d->done)
        return gd_err_set(err, GD_EINPUT, "internal: the dream is already done");
    gd_status st = dr_iterate(d, rep, err);
    if (st != GD_OK)
        return st;
    if (++d->iter == d->job->iterations) {
        if (d->oct + 1 < d->n_oct)
            return next_octave(d, err);
        d->done = 1;
        /* The accumulators are of no more use: gone before the last
         * checkpoint and the output are written. */
        gd_dream_finish(d);
    }
    return GD_OK;
}

gd_status gd_dream_measure_seed(gd_dream *d, double *value, gd_err *err)
{
    gd_band seed = {0};
    gd_status st = dr_band_alloc(d, &seed, d->lw[0], d->lh[0], 0, err);
    if (st == GD_OK)
        st = read_seed(d, &seed, err);
    if ((st = gd_dist_agree(d->dist, st, err)) == GD_OK)
        st = gd_dream_measure(d, &seed, value, err);
    gd_band_free(&seed);
    return st;
}

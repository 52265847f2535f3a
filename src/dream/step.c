/*
 * step.c: one iteration of the dream, and measuring the objective.  It owns
 * the engines of the tile extents (a few cached: cut edge tiles have their
 * own, tiling.h point 3) and the per-tile scratch.  It never
 * changes the dream's position (octave, iteration): gd_dream_step in dream.c
 * does, after dr_iterate returns.  It calls lapnorm.c and layout.c only.
 *
 * An iteration, on every rank (dream.h has the invariants):
 *   1. plan the tile grid with this iteration's jitter; take a contiguous
 *      block of tile ids;
 *   2. fetch the image rows those tiles read that other ranks own;
 *   3. per tile: gather its pixels (border rule beyond the image), run the
 *      engine of its extent forward and backward, blend the gradient (scaled
 *      to a full extent's, tile_scale) into the accumulator of its tile-row
 *      parity with the tile's windows;
 *   4. send accumulated rows that other ranks own to them;
 *   5. sum the two accumulators, reduce over the whole image (mean |g|,
 *      std or Laplacian levels), update the owned pixels.
 */
#include "dream_int.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Engine and scratch --------------------------------------------------- */

void dr_engine_release(gd_dream *d)
{
    for (int k = 0; k < d->n_engines; k++)
        gd_engine_free(d->engines[k].engine);
    free(d->tile_in);
    free(d->tile_g);
    free(d->wx);
    free(d->wy);
    memset(d->engines, 0, sizeof d->engines);
    d->n_engines = 0;
    d->engine = NULL;
    d->tile_in = d->tile_g = d->wx = d->wy = NULL;
    d->scr_w = d->scr_h = 0;
}

size_t dr_engine_bytes(const gd_dream *d)
{
    size_t sum = 0;
    for (int k = 0; k < d->n_engines; k++)
        sum += gd_engine_bytes(d->engines[k].engine);
    return sum;
}

/* Per-tile scratch for extents up to tw x th (the plan's largest). */
static gd_status ensure_scratch(gd_dream *d, int tw, int th, gd_err *err)
{
    if (d->tile_in && tw <= d->scr_w && th <= d->scr_h)
        return GD_OK;
    free(d->tile_in);
    free(d->tile_g);
    free(d->wx);
    free(d->wy);
    d->tile_g = d->wx = d->wy = NULL;
    d->scr_w = d->scr_h = 0;
    size_t n = (size_t)tw * th * 3;
    d->tile_in = gd_malloc(n * sizeof(float), "tile pixels", err);
    d->tile_g = d->tile_in ? gd_malloc(n * sizeof(float), "tile gradient", err) : NULL;
    /* wx also holds the column map (as ints) after the weights. */
    d->wx = d->tile_g ? gd_malloc((size_t)tw * (sizeof(float) + sizeof(int)), "tile window", err)
                      : NULL;
    d->wy = d->wx ? gd_malloc((size_t)th * sizeof(float), "tile window", err) : NULL;
    if (!d->wy) {
        gd_status st = err->status;
        dr_engine_release(d);
        return st;
    }
    d->scr_w = tw;
    d->scr_h = th;
    return GD_OK;
}

/* The pixels of the cached engines' extents. */
static double cached_pixels(const gd_dream *d)
{
    double sum = 0;
    for (int k = 0; k < d->n_engines; k++)
        sum += (double)d->engines[k].w * d->engines[k].h;
    return sum;
}

/* Whether a tile of p among ids [t0, t1) has a w x h extent. */
static int extent_used(const gd_tile_plan *p, int t0, int t1, int w, int h)
{
    for (int t = t0; t < t1; t++)
        if (gd_tiling_axis_side(&p->ax, t % p->nx) == w &&
            gd_tiling_axis_side(&p->ay, t / p->nx) == h)
            return 1;
    return 0;
}

/* Frees cached engine k. */
static void drop_engine(gd_dream *d, int k)
{
    gd_engine_free(d->engines[k].engine);
    memmove(&d->engines[k], &d->engines[k + 1],
            sizeof d->engines[0] * (size_t)(d->n_engines - k - 1));
    d->n_engines--;
    d->engines[d->n_engines] = (dr_engine_slot){0};
}

/*
 * Makes d->engine the engine of tile t's extent (t of the rank's tiles
 * [t, t1) of plan p still to run): the cached one, or a new one.  Before
 * creating one, it frees the cached engines that no tile left in [t, t1)
 * uses, but for the full extent's (the next iteration's interior tiles use
 * it; a cut extent almost never comes back, the jitter moves the edges),
 * then the least recently used while DR_ENGINES are cached or the extents
 * would hold more than DR_ENGINE_PIXELS full extents' pixels (an engine's
 * memory is about proportional to its pixels).  Which engines are cached
 * never changes a result: an extent's engine computes the same whenever it
 * was created.
 */
static gd_status ensure_engine(gd_dream *d, const gd_tile_plan *p, const gd_tile *tile, int t1,
                               gd_err *err)
{
    const int tw = tile->extent.x1 - tile->extent.x0, th = tile->extent.y1 - tile->extent.y0;
    int k = 0;
    while (k < d->n_engines && (d->engines[k].w != tw || d->engines[k].h != th))
        k++;
    dr_engine_slot hit = {0};
    if (k < d->n_engines) {
        hit = d->engines[k];
    } else {
        for (int j = d->n_engines - 1; j >= 0; j--) {
            const dr_engine_slot *e = &d->engines[j];
            if ((e->w != p->tile_w || e->h != p->tile_h) &&
                !extent_used(p, tile->id, t1, e->w, e->h))
                drop_engine(d, j);
        }
        const double px = (double)tw * th, full = (double)p->tile_w * p->tile_h;
        while (d->n_engines > 0 &&
               (d->n_engines == DR_ENGINES || cached_pixels(d) + px > DR_ENGINE_PIXELS * full))
            drop_engine(d, d->n_engines - 1);
        k = d->n_engines;
        gd_engine_opts opts = {.backward = 1, .precision = d->job->precision};
        hit = (dr_engine_slot){.w = tw, .h = th};
        if (gd_engine_create(d->model, th, tw, d->obj->layers, d->obj->n_layers, &opts, &hit.engine,
                             err) != GD_OK) {
            d->engine = NULL;
            return gd_err_prefix(err, "compiling the network for %dx%d tiles", tw, th);
        }
        d->n_engines++;
    }
    /* Move to the front: engines[] stays in order of last use. */
    memmove(&d->engines[1], &d->engines[0], sizeof d->engines[0] * (size_t)k);
    d->engines[0] = hit;
    d->engine = hit.engine;
    return GD_OK;
}

static gd_status ensure_values(gd_dream *d, int n, gd_err *err)
{
    if (n <= d->values_cap)
        return GD_OK;
    double *p = realloc(d->values, sizeof(double) * (size_t)n);
    if (!p)
        return gd_err_set(err, GD_ENOMEM, "out of memory for %d tile values", n);
    d->values = p;
    d->values_cap = n;
    return GD_OK;
}

/* The image rows a rank's tiles read: its band (with halo room) and far rows. */
typedef struct row_source {
    gd_image near;
    gd_image far[2];
} row_source;

static const float *row_at(const row_source *rs, int y)
{
    if (y >= rs->near.y0 && y < rs->near.y1)
        return gd_image_row(&rs->near, y);
    for (int i = 0; i < 2; i++)
        if (y >= rs->far[i].y0 && y < rs->far[i].y1)
            return gd_image_row(&rs->far[i], y);
    return NULL;
}

static void free_source(row_source *rs)
{
    gd_image_free(&rs->far[0]);
    gd_image_free(&rs->far[1]);
}

/*
 * Collective: makes the rows rr names readable through rs (the near range in
 * img's halo room, far ranges in their own buffers).
 */
static gd_status gather_rows(gd_dream *d, gd_band *img, const dr_row_ranges *rr, row_source *rs,
                             gd_err *err)
{
    memset(rs, 0, sizeof *rs);
    gd_status st = dr_fetch(d, img, rr->r[0][0], rr->r[0][1], err);
    if (st != GD_OK)
        return st;
    int a = rr->r[0][0] < rr->r[0][1] ? rr->r[0][0] : img->own.y0;
    int z = rr->r[0][0] < rr->r[0][1] ? rr->r[0][1] : img->own.y0;
    rs->near = gd_band_view(img, a, z);
    for (int i = 0; i < 2; i++) {
        int lo = rr->r[i + 1][0], hi = rr->r[i + 1][1];
        gd_status local = gd_image_alloc(&rs->far[i], img->own.w, img->own.full_h, 3,
                                         lo < hi ? lo : 0, lo < hi ? hi : 0, err);
        if (local != GD_OK)
            memset(&rs->far[i], 0, sizeof rs->far[i]);
        gd_image dst = rs->far[i];
        if (local != GD_OK) {
            dst = img->own;
            dst.y1 = dst.y0;
        }
        st = gd_dist_fetch_rows(d->dist, &img->own, &dst, err);
        if (local == GD_OK)
            local = st;
        if ((st = gd_dist_agree(d->dist, local, err)) != GD_OK) {
            free_source(rs);
            return st;
        }
    }
    return GD_OK;
}

/*
 * Copies a tile's extent (its own: cut edge tiles are smaller than the
 * plan's, tiling.h point 3) into out, mapping outside pixels by the border
 * rule.
 */
static void fetch_tile(const gd_dream *d, const row_source *rs, const gd_tile *t, int w, int h,
                       float *out)
{
    const int tw = t->extent.x1 - t->extent.x0, th = t->extent.y1 - t->extent.y0;
    gd_border b = d->job->border;
    int *cols = (int *)(d->wx + tw);
    for (int k = 0; k < tw; k++)
        cols[k] = gd_border_index(t->extent.x0 + k, w, b);
#pragma omp parallel for schedule(static)
    for (int l = 0; l < th; l++) {
        const float *src = row_at(rs, gd_border_index(t->extent.y0 + l, h, b));
        float *o = out + (size_t)l * tw * 3;
        int k = 0;
        while (k < tw) {
            /* Copy runs of consecutive source columns in one go. */
            int run = 1;
            while (k + run < tw && cols[k + run] == cols[k] + run)
                run++;
            memcpy(o + (size_t)k * 3, src + (size_t)cols[k] * 3, sizeof(float) * 3 * (size_t)run);
            k += run;
        }
    }
}

/*
 * Where one parity's contributions go: image rows inside [0, h) into the
 * accumulator (its view of the rows the tiles write, halo room included);
 * on a torus, unwrapped rows above 0 and from h on into small separate
 * images (top: image rows h + a .. h, bottom: 0 .. b - h), sent to their
 * owners like the halo rows.  Separate buffers never put two addends of one
 * tile row's pair into different sums of the same pixel: a pixel is touched
 * by one tile row per parity, and by at most two tiles of it.
 */
typedef struct contrib {
    gd_image near;
    gd_image top, bottom;
} contrib;

static float *contrib_row(const contrib *c, int y, int h)
{
    if (y < 0)
        return gd_image_row(&c->top, y + h);
    if (y >= h)
        return gd_image_row(&c->bottom, y - h);
    return gd_image_row(&c->near, y);
}

/*
 * acc += (wx * wy * scale) * g over the tile's support; cols maps each
 * unwrapped column.  scale is tile_scale's (1 for a full extent, where the
 * product is wx * wy exactly as without it).
 */
static void blend_tile(const contrib *acc, const gd_tile *t, int h, const float *wx,
                       const float *wy, float scale, const int *cols, const float *g)
{
    const gd_tile_rect *s = &t->support, *e = &t->extent;
    const int tw = e->x1 - e->x0;
#pragma omp parallel for schedule(static)
    for (int y = s->y0; y < s->y1; y++) {
        float wyv = wy[y - e->y0] * scale;
        if (wyv == 0.0f)
            continue;
        float *row = contrib_row(acc, y, h);
        const float *grow = g + (size_t)(y - e->y0) * tw * 3;
        if (y + 1 < s->y1) {
            /* The next row's accumulator lines (a new stream each row, which
             * the hardware prefetcher would pick up late), owned for writing. */
            const float *next = contrib_row(acc, y + 1, h);
            for (int x = s->x0; x < s->x1; x += 16 / 3)
                __builtin_prefetch(next + (size_t)cols[x - e->x0] * 3, 1, 3);
        }
        for (int x = s->x0; x < s->x1; x++) {
            int k = x - e->x0;
            float wgt = wx[k] * wyv;
            if (wgt == 0.0f)
                continue;
            float *o = row + (size_t)cols[k] * 3;
            for (int c = 0; c < 3; c++)
                o[c] += wgt * grow[(size_t)k * 3 + c];
        }
    }
}

/* The image column of each extent column of tile t: mod w on a torus axis. */
static void tile_columns(const gd_tile_plan *p, const gd_tile *t, int *cols)
{
    for (int k = 0; k < t->extent.x1 - t->extent.x0; k++) {
        int x = t->extent.x0 + k;
        if (p->ax.torus) {
            x %= p->w;
            x += x < 0 ? p->w : 0;
        }
        cols[k] = x;
    }
}

/*
 * A tile's share of a full extent, its extent's pixels over the plan's
 * largest (1 unless the tile is cut, tiling.h point 3).  The objective is a
 * mean over the tile's activations, so a cut tile's seeds are 1 / n of its
 * fewer positions: its gradient and value times this are what the full
 * extent gives per position (exactly where every side is a multiple of the
 * layers' total stride, as the cut quantum keeps them when S and M are),
 * and the edges of the image are pushed as hard as the rest.
 */
static double tile_scale(const gd_tile_plan *p, const gd_tile *t)
{
    double a = (double)(t->extent.x1 - t->extent.x0) * (t->extent.y1 - t->extent.y0);
    return a / ((double)p->tile_w * p->tile_h);
}

/* ---- One iteration -------------------------------------------------------- */

/* Out of core: image rows above y_img and accumulator rows above y_acc leave
 * memory (tiles run in row order: no later tile of the pass touches them). */
static void release_above(gd_dream *d, int y_img, int y_acc)
{
    if (!d->scratch)
        return;
    gd_band_release(&d->img, d->img.lo, y_img);
    gd_band_release(&d->acc[0], d->acc[0].lo, y_acc);
    gd_band_release(&d->acc[1], d->acc[1].lo, y_acc);
}

/* Sum of |r[i]| in 8 lanes (lane l takes the elements i = l mod 8), added
 * in a fixed tree: the same for any thread or rank count, and the lanes are
 * independent, so the compiler vectorizes it (one running sum was a chain
 * of dependent additions: ~2 ms more per 2048^2 iteration). */
static double abs_sum(const float *r, size_t n)
{
    double p[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            p[l] += fabs((double)r[i + l]);
    for (int l = 0; i < n; i++, l++)
        p[l] += fabs((double)r[i]);
    return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

/*
 * The passes over the owned rows after the tiles, each row on its own (so a
 * window of rows at a time gives the same bytes as all at once).
 */
typedef enum row_pass {
    PASS_ADD,       /* g0 += g1 */
    PASS_ADD_ABS,   /* g0 += g1; out[y] = sum |g0| */
    PASS_SUM,       /* out[y] = sum (g - mean) */
    PASS_SQUARES,   /* out[y] = sum (g - mean)^2 */
    PASS_UPDATE,    /* img += g * a */
    PASS_UPDATE_STD /* img += (g / a) * b: the notebook's two roundings */
} row_pass;

static void pass_rows(row_pass op, gd_image *img, gd_image *g, gd_image *g1, double mean, float a,
                      float b, int y0, int y1, double *out)
{
    size_t n = (size_t)g->w * 3;
#pragma omp parallel for schedule(static)
    for (int y = y0; y < y1; y++) {
        float *q = gd_image_row(g, y);
        switch (op) {
        case PASS_ADD:
        case PASS_ADD_ABS: {
            float *q1 = gd_image_row(g1, y);
            for (size_t i = 0; i < n; i++)
                q[i] = q[i] + q1[i];
            memset(q1, 0, n * sizeof *q1); /* ready for the next iteration */
            if (op == PASS_ADD_ABS)
                out[y - g->y0] = abs_sum(q, n);
            break;
        }
        case PASS_SUM:
        case PASS_SQUARES: {
            double s = 0;
            for (size_t i = 0; i < n; i++) {
                double v = (double)q[i] - mean;
                s += op == PASS_SQUARES ? v * v : v;
            }
            out[y - g->y0] = s;
            break;
        }
        case PASS_UPDATE: {
            float *p = gd_image_row(img, y);
            for (size_t i = 0; i < n; i++)
                p[i] += q[i] * a;
            memset(q, 0, n * sizeof *q);
            break;
        }
        case PASS_UPDATE_STD: {
            float *p = gd_image_row(img, y);
            for (size_t i = 0; i < n; i++)
                p[i] += (q[i] / a) * b;
            memset(q, 0, n * sizeof *q);
            break;
        }
        }
    }
}

/* Runs pass op over the owned rows a window at a time, releasing each
 * window of the bands it touched (out of core) before the next. */
static void pass(gd_dream *d, row_pass op, double mean, float a, float b)
{
    gd_image *g = &d->acc[0].own;
    int win = dr_window(d);
    for (int c0 = g->y0; c0<g->y1; c0 = g->y1 - c0> win ? c0 + win : g->y1) {
        int c1 = g->y1 - c0 > win ? c0 + win : g->y1;
        /* Out of core: the window's pages in one call each (the passes that
         * only read the gradient leave its pages clean). */
        const int sum = op == PASS_ADD || op == PASS_ADD_ABS;
        const int update = op == PASS_UPDATE || op == PASS_UPDATE_STD;
        gd_band_populate(&d->acc[0], c0, c1, sum || update);
        if (sum)
            gd_band_populate(&d->acc[1], c0, c1, 1);
        if (update)
            gd_band_populate(&d->img, c0, c1, 1);
        pass_rows(op, &d->img.own, g, &d->acc[1].own, mean, a, b, c0, c1, d->rowsums);
        gd_band_release(&d->acc[0], c0, c1);
        gd_band_release(&d->acc[1], c0, c1);
        gd_band_release(&d->img, c0, c1);
    }
}

/* g = acc[0] + acc[1] into acc[0]; normalizes it as the mode says and
 * updates the image. */
static gd_status normalize_update(gd_dream *d, double *norm, gd_err *err)
{
    gd_image *g = &d->acc[0].own;
    int h = g->full_h, rows = g->y1 - g->y0;
    double count = (double)g->w * h * 3, total;
    gd_status st = gd_dist_agree(d->dist, dr_rowsums(d, rows, 1, err), err);
    if (st != GD_OK)
        return st;
    switch (d->job->mode) {
    case GD_MODE_DEEPDREAM: {
        /* One pass sums the accumulators and |g| (out of core: one stream less). */
        pass(d, PASS_ADD_ABS, 0, 0, 0);
        if ((st = dr_sum_rows(d, h, 1, &total, err)) != GD_OK)
            return st;
        double mean = total / count;
        *norm = mean;
        pass(d, PASS_UPDATE, 0, (float)((double)d->job->step / (mean + 1e-7)), 0);
        return GD_OK;
    }
    case GD_MODE_NAIVE:
    case GD_MODE_MULTISCALE: {
        pass(d, PASS_ADD, 0, 0, 0);
        pass(d, PASS_SUM, 0.0, 0, 0);
        if ((st = dr_sum_rows(d, h, 1, &total, err)) != GD_OK)
            return st;
        double mean = total / count;
        pass(d, PASS_SQUARES, mean, 0, 0);
        if ((st = dr_sum_rows(d, h, 1, &total, err)) != GD_OK)
            return st;
        double std = sqrt(total / count);
        *norm = std;
        pass(d, PASS_UPDATE_STD, 0, (float)(std + 1e-8), d->job->step);
        return GD_OK;
    }
    case GD_MODE_LAPNORM:
        pass(d, PASS_ADD, 0, 0, 0);
        /* The pyramid holds its levels in memory (lapnorm.c); out of core the
         * gradient's pages come back for it and leave after the update. */
        if ((st = dr_lapnorm(d, &d->acc[0], d->job->lap_levels, err)) != GD_OK)
            return st;
        *norm = 1.0;
        pass(d, PASS_UPDATE, 0, d->job->step, 0);
        return GD_OK;
    case GD_MODE_COUNT:
        break;
    }
    return gd_err_set(err, GD_EINPUT, "internal: unknown mode %d", (int)d->job->mode);
}

/*
 * The mean of the tiles' objective values over all their positions (each
 * rank computed d->values[t] for its tiles [t0, t1), times tile_scale),
 * summed in tile order on every rank: a plan without cut tiles gives the
 * plain mean of the tiles' values.  Collective.
 */
static gd_status tiles_mean(gd_dream *d, const gd_tile_plan *p, int t0, int t1, double *mean,
                            gd_err *err)
{
    gd_status st = gd_dist_gather_ids(d->dist, p->n_tiles, t0, t1 - t0, d->values, err);
    if (st != GD_OK)
        return st;
    double sum = 0;
    for (int t = 0; t < p->n_tiles; t++)
        sum += d->values[t];
    *mean = sum / (gd_tiling_pixels(p) / ((double)p->tile_w * p->tile_h));
    return GD_OK;
}

/* The jitter-free or jittered plan of the current octave's iteration. */
static gd_status plan_for(const gd_dream *d, int w, int h, int jittered, gd_tile_plan *p,
                          gd_err *err)
{
    int jx = 0, jy = 0;
    if (jittered) {
        int J = gd_dream_jitter_range(d, w, h);
        gd_tiling_jitter(d->job->seed, d->oct, d->iter, J, &jx, &jy);
    }
    return dr_make_plan(d, w, h, jx, jy, p, err);
}

/* Rows [y0, y1) of a w x h RGB image, zeroed, in d's kept buffer k (not to be freed). */
static gd_status wrap_image(gd_dream *d, int k, int w, int h, int y0, int y1, gd_image *im,
                            gd_err *err)
{
    size_t n = (size_t)(y1 - y0) * w * 3;
    *im = (gd_image){.w = w, .full_h = h, .c = 3, .y0 = y0, .y1 = y1, .stride = (size_t)w * 3};
    if (n > d->wrap_cap[k] || !d->wrap[k]) {
        float *p = gd_malloc((n ? n : 1) * sizeof *p, "wrapped tile rows", err);
        if (!p)
            return err->status;
        free(d->wrap[k]);
        d->wrap[k] = p;
        d->wrap_cap[k] = n ? n : 1;
    }
    gd_zero_floats(d->wrap[k], n);
    im->data = d->wrap[k];
    return GD_OK;
}

gd_status dr_iterate(gd_dream *d, gd_dream_report *rep, gd_err *err)
{
    gd_status st, local = GD_OK;
    row_source rs;
    memset(&rs, 0, sizeof rs);
    int w = d->ow[d->oct], h = d->oh[d->oct];
    gd_tile_plan plan;
    if ((st = plan_for(d, w, h, 1, &plan, err)) != GD_OK)
        return st;
    int t0, t1, sa, sb;
    dr_my_tiles(d, &plan, &t0, &t1);
    dr_row_ranges rr;
    dr_read_rows(&plan, t0, t1, d->job->border, &rr);
    dr_write_rows(&plan, t0, t1, &sa, &sb);

    /* Local set-up: engine, accumulators over the rows the tiles write (the
     * image rows among them; on a torus also the rows they wrap onto). */
    gd_band *acc = d->acc;
    contrib out[2];
    memset(out, 0, sizeof out);
    int own0 = d->img.own.y0, own1 = d->img.own.y1, any = t1 > t0;
    int na = any ? (sa > 0 ? sa : 0) : own0, nb = any ? (sb < h ? sb : h) : own0;
    int za = na < own0 ? na : own0, zb = nb > own1 ? nb : own1;
    int top0, top1, bot0, bot1;
    dr_wrapped_rows(any ? sa : 0, any ? sb : 0, h, &top0, &top1, &bot0, &bot1);
    if (any)
        local = ensure_scratch(d, plan.tile_w, plan.tile_h, err);
    for (int p = 0; p < 2 && local == GD_OK; p++) {
        if ((local = gd_band_reserve(&acc[p], za, zb, err)) != GD_OK)
            break;
        /* The owned rows are zero already: the passes after the previous
         * iteration's tiles cleared each row once done with it (one stream
         * over the accumulators less; out of core, one less of page faults). */
        gd_band_zero(&acc[p], za, own0);
        gd_band_zero(&acc[p], own1, zb);
        out[p].near = gd_band_view(&acc[p], za, zb);
        if ((local = wrap_image(d, 2 * p, w, h, top0, top1, &out[p].top, err)) == GD_OK)
            local = wrap_image(d, 2 * p + 1, w, h, bot0, bot1, &out[p].bottom, err);
    }
    if (local == GD_OK)
        local = ensure_values(d, plan.n_tiles, err);
    if ((st = gd_dist_agree(d->dist, local, err)) != GD_OK)
        goto done;
    if ((st = gather_rows(d, &d->img, &rr, &rs, err)) != GD_OK)
        goto done;

    /* The tiles; a stop signal ends the iteration between two of them.  Out
     * of core, the rows above a new tile row's extent are done with: they
     * leave memory (the accumulators' until the exchange touches them). */
    int row_y = INT_MIN;
    for (int t = t0; t < t1 && local == GD_OK; t++) {
        if (d->stop && *d->stop) {
            local = gd_err_set(err, GD_ESTOPPED,
                               "stopped by signal %d in octave %d "
                               "iteration %d",
                               (int)*d->stop, d->oct + 1, d->iter + 1);
            break;
        }
        gd_tile tile;
        gd_tiling_tile(&plan, t, &tile);
        if (tile.extent.y0 != row_y) {
            row_y = tile.extent.y0;
            release_above(d, tile.extent.y0, tile.support.y0);
            /* The tile row's image rows (read) and its parity's accumulator
             * rows (written), each in one call rather than a fault a page. */
            gd_band_populate(&d->img, tile.extent.y0, tile.extent.y1, 0);
            gd_band_populate(&acc[tile.ty & 1], tile.support.y0, tile.support.y1, 1);
        }
        const int tw = tile.extent.x1 - tile.extent.x0;
        local = ensure_engine(d, &plan, &tile, t1, err);
        if (local == GD_OK) {
            fetch_tile(d, &rs, &tile, w, h, d->tile_in);
            local =
                gd_objective_gradient(d->obj, d->engine, d->tile_in, d->tile_g, &d->values[t], err);
        }
        if (local != GD_OK) {
            gd_err_prefix(err, "octave %d iteration %d tile %d", d->oct + 1, d->iter + 1, t);
            break;
        }
        const double scale = tile_scale(&plan, &tile);
        d->values[t] *= scale;
        gd_tiling_weights_x(&plan, tile.tx, d->wx);
        gd_tiling_weights_y(&plan, tile.ty, d->wy);
        int *cols = (int *)(d->wx + tw);
        tile_columns(&plan, &tile, cols);
        blend_tile(&out[tile.ty & 1], &tile, h, d->wx, d->wy, (float)scale, cols, d->tile_g);
    }
    free_source(&rs);
    if ((st = gd_dist_agree(d->dist, local, err)) != GD_OK)
        goto done;

    double objective;
    if ((st = tiles_mean(d, &plan, t0, t1, &objective, err)) != GD_OK)
        goto done;

    /* Contributions to rows other ranks own go to them; then g = acc0 + acc1. */
    for (int p = 0; p < 2; p++) {
        gd_image src = gd_band_view(&acc[p], na, nb);
        if ((st = gd_dist_add_rows(d->dist, &acc[p].own, &src, err)) != GD_OK ||
            (st = gd_dist_add_rows(d->dist, &acc[p].own, &out[p].top, err)) != GD_OK ||
            (st = gd_dist_add_rows(d->dist, &acc[p].own, &out[p].bottom, err)) != GD_OK)
            goto done;
    }
    double norm = 0;
    if ((st = normalize_update(d, &norm, err)) != GD_OK)
        goto done;

    rep->octave = d->oct;
    rep->iteration = d->iter;
    rep->tiles = plan.n_tiles;
    rep->my_tiles = t1 - t0;
    rep->objective = objective;
    rep->mpix = (double)w * h / 1e6;
    rep->tile_mpix = gd_tiling_pixels(&plan) / 1e6;
    rep->norm = norm;
done:
    /* An abandoned iteration (a stop signal, a failure) leaves partial sums:
     * the owned rows go back to zero, as the next iteration expects. */
    if (st != GD_OK || local != GD_OK)
        for (int p = 0; p < 2; p++)
            if (acc[p].mem)
                gd_band_zero(&acc[p], own0, own1);
    return st;
}

/* ---- Measuring ------------------------------------------------------------ */

gd_status gd_dream_measure(gd_dream *d, gd_band *img, double *value, gd_err *err)
{
    gd_status st, local = GD_OK;
    row_source rs;
    if (!img)
        img = &d->img;
    int w = img->own.w, h = img->own.full_h;
    gd_tile_plan plan;
    if ((st = plan_for(d, w, h, 0, &plan, err)) != GD_OK)
        return st;
    int t0, t1;
    dr_my_tiles(d, &plan, &t0, &t1);
    dr_row_ranges rr;
    dr_read_rows(&plan, t0, t1, d->job->border, &rr);
    if (t1 > t0)
        local = ensure_scratch(d, plan.tile_w, plan.tile_h, err);
    if (local == GD_OK)
        local = ensure_values(d, plan.n_tiles, err);
    if ((st = gd_dist_agree(d->dist, local, err)) != GD_OK)
        return st;
    if ((st = gather_rows(d, img, &rr, &rs, err)) != GD_OK)
        return st;
    for (int t = t0; t < t1 && local == GD_OK; t++) {
        gd_tile tile;
        gd_tiling_tile(&plan, t, &tile);
        gd_band_release(img, img->lo, tile.extent.y0);
        local = ensure_engine(d, &plan, &tile, t1, err);
        if (local == GD_OK) {
            fetch_tile(d, &rs, &tile, w, h, d->tile_in);
            local = gd_engine_forward(d->engine, d->tile_in, err);
        }
        if (local == GD_OK)
            local = gd_objective_seed(d->obj, d->engine, &d->values[t], err);
        d->values[t] *= tile_scale(&plan, &tile);
    }
    free_source(&rs);
    gd_band_release(img, img->lo, img->hi);
    if ((st = gd_dist_agree(d->dist, local, err)) != GD_OK)
        return st;
    return tiles_mean(d, &plan, t0, t1, value, err);
}

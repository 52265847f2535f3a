/*
 * layout.c: where an octave's data lies on the ranks: the bands every image
 * of the dream is split into (allocation, fetching other ranks' rows, per-row
 * partial sums), and the tile geometry of an octave (tile size, jitter
 * range, plans, which tiles a rank computes and which rows they read and
 * write, the halo room all that needs).
 *
 * The dream module's bottom layer: dream.c, step.c and lapnorm.c call it; it
 * calls none of them.  It never runs the engine nor changes a pixel but by
 * fetching rows other ranks own.
 */
#include "dream_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- Bands ---------------------------------------------------------------- */

gd_status dr_band_alloc(gd_dream *d, gd_band *b, int w, int h, int halo, gd_err *err)
{
    int y0, y1;
    gd_dist_band(h, gd_dist_size(d->dist), gd_dist_rank(d->dist), &y0, &y1);
    return gd_band_alloc_in(b, d->scratch, w, h, 3, y0, y1, halo, err);
}

int dr_window(const gd_dream *d)
{
    return d->scratch ? d->window : INT_MAX;
}

gd_status dr_fetch(gd_dream *d, gd_band *src, int a, int z, gd_err *err)
{
    gd_status local = GD_OK;
    if (a < 0)
        a = 0;
    if (z > src->own.full_h)
        z = src->own.full_h;
    if (a >= z)
        a = z = src->own.y0;
    else
        local = gd_band_reserve(src, a, z, err);
    if (local != GD_OK)
        a = z = src->own.y0;
    gd_image view = gd_band_view(src, a, z);
    gd_status st = gd_dist_fetch_rows(d->dist, &src->own, &view, err);
    if (local == GD_OK)
        local = st;
    return gd_dist_agree(d->dist, local, err);
}

/* ---- Row sums --------------------------------------------------------------- */

gd_status dr_rowsums(gd_dream *d, int n, int k, gd_err *err)
{
    int need = n * k > 0 ? n * k : 1;
    if (need <= d->rowsums_cap)
        return GD_OK;
    double *p = realloc(d->rowsums, sizeof(double) * (size_t)need);
    if (!p)
        return gd_err_set(err, GD_ENOMEM, "out of memory for %d row sums", need);
    d->rowsums = p;
    d->rowsums_cap = need;
    return GD_OK;
}

gd_status dr_sum_rows(gd_dream *d, int h, int k, double *total, gd_err *err)
{
    return gd_dist_sum_rows(d->dist, h, k, d->rowsums, total, err);
}

/* ---- Tile geometry ----------------------------------------------------------- */

/*
 * The cut quantum of the plain grid's edge tiles (tiling.h, point 3): the
 * smallest multiple of the objective layers' largest total stride that is at
 * least GD_TILING_CUT_QUANTUM, so cut extents keep the full ones' stride
 * phase.  0 (no cut) when a layer depends on the whole tile (a fully
 * connected one: its receptive field is the tile, so the extent is not
 * free), or when the network cannot take a q x q tile (no cut side is
 * smaller), so a cut never makes a tile the job's shape check did not see
 * too small.  Pure: a few walks over the model's nodes.
 */
int dr_cut_quantum(const gd_dream *d)
{
    const gd_model *m = d->model;
    int stride = 1;
    for (int k = 0; k < d->obj->n_layers; k++) {
        int s, rf;
        gd_model_stride_rf(m, d->obj->layers[k], &s, &rf);
        if (s < 1 || rf == 0)
            return 0;
        if (s > stride)
            stride = s;
    }
    int q = (GD_TILING_CUT_QUANTUM + stride - 1) / stride * stride;
    unsigned char *need = malloc((size_t)m->n_nodes);
    gd_shape *shapes = malloc(sizeof *shapes * (size_t)m->n_nodes);
    /* Without memory for the check, cut anyway: the answer must not depend
     * on a rank's allocations (the check only guards unusual networks, whose
     * engine would then refuse the tile with a message naming its size). */
    if (need && shapes) {
        gd_model_ancestors(m, d->obj->layers, d->obj->n_layers, need);
        if (gd_model_shapes_needed(m, q, q, need, shapes, NULL) != GD_OK)
            q = 0;
    }
    free(need);
    free(shapes);
    return q;
}

int gd_dream_tile_size(const gd_dream *d, int w, int h)
{
    const gd_job *j = d->job;
    if (j->tile_size != GD_TILING_AUTO)
        return j->tile_size;
    return gd_tiling_auto_size(w, h, j->tile_overlap, j->tile_jitter, j->border == GD_BORDER_WRAP,
                               dr_cut_quantum(d));
}

int gd_dream_jitter_range(const gd_dream *d, int w, int h)
{
    const int size = gd_dream_tile_size(d, w, h);
    return gd_tiling_jitter_range(size, d->job->tile_jitter < 0 ? size : d->job->tile_jitter);
}

/*
 * A tile plan for jitter (jx, jy): on a torus for border = wrap (the
 * notebook's np.roll: no tile sticks out of the image), otherwise the plain
 * grid whose edge tiles reach past the image and read reflected pixels, cut
 * to their cores plus the margin (tiling.h, point 3).
 */
gd_status dr_make_plan(const gd_dream *d, int w, int h, int jx, int jy, gd_tile_plan *p,
                       gd_err *err)
{
    const int size = gd_dream_tile_size(d, w, h);
    if (d->job->border == GD_BORDER_WRAP)
        return gd_tiling_plan_torus(w, h, size, d->job->tile_overlap, jx, jy, p, err);
    return gd_tiling_plan_cut(w, h, size, d->job->tile_overlap, jx, jy, dr_cut_quantum(d), p, err);
}

/*
 * The first tile id of rank r.  Ranks take contiguous runs of tile ids (so
 * the work is balanced to within one tile), cut inside the tile row whose
 * core centre is nearest the start of rank r's band: each rank's tiles then
 * reach about half a tile beyond its band on average, instead of a tile and
 * a half for a plain split of the ids, which keeps the halo rows (memory and
 * traffic) small.  Which rank computes a tile never changes what it computes.
 */
static int first_tile(const gd_dream *d, const gd_tile_plan *p, int r)
{
    int n = gd_dist_size(d->dist);
    if (r <= 0)
        return 0;
    if (r >= n)
        return p->n_tiles;
    int y0, y1;
    gd_dist_band(p->h, n, r, &y0, &y1);
    const gd_tile_axis *a = &p->ay;
    /* The tile row whose core centre is nearest y0 (a few dozen rows at most). */
    long long ty = 0, best = -1;
    for (int i = 0; i < a->count; i++) {
        long long c = (long long)gd_tiling_core_lo(a, i) + gd_tiling_core_lo(a, i + 1);
        long long dist = c > 2LL * y0 ? c - 2LL * y0 : 2LL * y0 - c;
        if (best < 0 || dist < best) {
            best = dist;
            ty = i;
        }
    }
    long long target = (long long)r * p->n_tiles / n;
    long long lo = ty * p->nx, hi = lo + p->nx;
    return (int)(target < lo ? lo : (target > hi ? hi : target));
}

void dr_my_tiles(const gd_dream *d, const gd_tile_plan *p, int *t0, int *t1)
{
    int r = gd_dist_rank(d->dist);
    *t0 = first_tile(d, p, r);
    *t1 = first_tile(d, p, r + 1);
}

/* The near range from the rows the tiles' extents cover; far ranges on a torus only. */
void dr_read_rows(const gd_tile_plan *p, int t0, int t1, gd_border b, dr_row_ranges *rr)
{
    memset(rr, 0, sizeof *rr);
    if (t1 <= t0)
        return;
    int ea, eb, h = p->h;
    gd_tiling_halo(p, t0 / p->nx, (t1 - 1) / p->nx + 1, &ea, &eb);
    if (b == GD_BORDER_REFLECT || eb - ea >= h) {
        gd_fetch_src_rows(h, ea, eb - ea, b, &rr->r[0][0], &rr->r[0][1]);
        return;
    }
    rr->r[0][0] = ea > 0 ? ea : 0;
    rr->r[0][1] = eb < h ? eb : h;
    if (ea < 0) {
        rr->r[1][0] = ea + h;
        rr->r[1][1] = (eb < 0 ? eb : 0) + h;
    }
    if (eb > h) {
        rr->r[2][0] = (ea > h ? ea : h) - h;
        rr->r[2][1] = eb - h;
    }
}

/*
 * The rows the block's windows write to: [*a, *b), clipped to the image on a
 * plain axis, unwrapped on a torus (rows outside [0, h) belong to the rows
 * h away: step.c's contrib).
 */
void dr_write_rows(const gd_tile_plan *p, int t0, int t1, int *a, int *b)
{
    gd_tile first, last;
    if (t1 <= t0) {
        *a = *b = 0;
        return;
    }
    gd_tiling_tile(p, t0, &first);
    gd_tiling_tile(p, t1 - 1, &last);
    *a = first.support.y0;
    *b = last.support.y1;
}

/* The image rows a torus block's unwrapped rows [a, b) reach above and below. */
void dr_wrapped_rows(int a, int b, int h, int *top0, int *top1, int *bot0, int *bot1)
{
    *top0 = *top1 = h;
    *bot0 = *bot1 = 0;
    if (a < 0) {
        *top0 = a + h > 0 ? a + h : 0;
        *top1 = h;
    }
    if (b > h) {
        *bot0 = 0;
        *bot1 = b - h < h ? b - h : h;
    }
}

void dr_reach(const gd_dream *d, int o, int *halo, int *wrapped)
{
    int w = d->ow[o], h = d->oh[o], y0, y1;
    gd_dist_band(h, gd_dist_size(d->dist), gd_dist_rank(d->dist), &y0, &y1);
    int J = gd_dream_jitter_range(d, w, h);
    int best = 0, wrap = 0;
    /* Rows depend on jy and on the column count, which over jx in [0, J)
     * takes its two values at the ends. */
    for (int e = 0; e < 2; e++) {
        int jx = e == 0 || J == 0 ? 0 : J - 1;
        for (int jy = 0; jy < (J > 0 ? J : 1); jy++) {
            gd_tile_plan p;
            if (dr_make_plan(d, w, h, jx, jy, &p, NULL) != GD_OK)
                continue;
            int t0, t1, sa, sb;
            dr_row_ranges rr;
            dr_my_tiles(d, &p, &t0, &t1);
            if (t1 <= t0)
                continue;
            dr_read_rows(&p, t0, t1, d->job->border, &rr);
            dr_write_rows(&p, t0, t1, &sa, &sb);
            if (d->job->border == GD_BORDER_WRAP) {
                int top0, top1, bot0, bot1;
                dr_wrapped_rows(sa, sb, h, &top0, &top1, &bot0, &bot1);
                if (top1 - top0 > wrap)
                    wrap = top1 - top0;
                if (bot1 - bot0 > wrap)
                    wrap = bot1 - bot0;
            }
            sa = sa < 0 ? 0 : sa;
            sb = sb > h ? h : sb;
            int lo = rr.r[0][0] < sa ? rr.r[0][0] : sa, hi = rr.r[0][1] > sb ? rr.r[0][1] : sb;
            if (y0 - lo > best)
                best = y0 - lo;
            if (hi - y1 > best)
                best = hi - y1;
        }
    }
    *halo = best + 4;
    *wrapped = wrap;
}

/*
 * tiling.c: tile grid, blend windows, jitter and halos (contract in tiling.h).
 *
 * Everything is integer arithmetic in int64_t where products could exceed an
 * int; the only floats produced are ramp weights k / 4096 and 1 - k / 4096,
 * both exact.
 */
#include "gigadream/tiling.h"

#include <assert.h>
#include <stddef.h>

#include <Random123/philox.h>

/* Point 7b: a torus axis.  0 when it cannot be one (cores under 2M). */
static int axis_init_torus(gd_tile_axis *a, int n, int size, int margin, int offset)
{
    a->n = n;
    a->torus = 1;
    a->quantum = 0;
    if (n <= size) {
        a->tiled = 0;
        a->count = 1;
        a->core = n;
        a->margin = 0;
        a->offset = offset % n;
        a->side = n;
        return 1;
    }
    int count = (int)(((int64_t)n + size - 1) / size);
    count += count & 1;
    if (n / count < 2 * margin)
        return 0;
    a->tiled = 1;
    a->count = count;
    a->core = (int)(((int64_t)n + count - 1) / count); /* the widest core */
    a->margin = margin;
    a->offset = offset;
    a->side = a->core + 2 * margin;
    return 1;
}

/* Fills one axis (points 2 and 3 of the contract).  Arguments are already checked. */
static void axis_init(gd_tile_axis *a, int n, int size, int margin, int offset, int quantum)
{
    a->n = n;
    a->torus = 0;
    a->quantum = 0;
    if (size == 0 || n <= size) {
        a->tiled = 0;
        a->count = 1;
        a->core = n;
        a->margin = 0;
        a->offset = 0;
    } else {
        a->tiled = 1;
        /* The smallest count with count * S - j >= n. */
        a->count = (int)(((int64_t)n + offset + size - 1) / size);
        a->core = size;
        a->margin = margin;
        a->offset = offset;
        a->quantum = quantum;
    }
    a->side = a->core + 2 * a->margin;
}

static gd_status plan(int w, int h, int size, int margin, int jx, int jy, int torus, int quantum,
                      gd_tile_plan *plan, gd_err *err);

gd_status gd_tiling_plan(int w, int h, int size, int margin, int jx, int jy, gd_tile_plan *p,
                         gd_err *err)
{
    return plan(w, h, size, margin, jx, jy, 0, 0, p, err);
}

gd_status gd_tiling_plan_cut(int w, int h, int size, int margin, int jx, int jy, int quantum,
                             gd_tile_plan *p, gd_err *err)
{
    if (quantum < 0 || quantum > GD_TILING_MAX_SIDE)
        return gd_err_set(err, GD_EINPUT, "tiling: cut quantum %d out of range 0..%d", quantum,
                          GD_TILING_MAX_SIDE);
    return plan(w, h, size, margin, jx, jy, 0, quantum, p, err);
}

gd_status gd_tiling_plan_torus(int w, int h, int size, int margin, int jx, int jy, gd_tile_plan *p,
                               gd_err *err)
{
    return plan(w, h, size, margin, jx, jy, size > 0 && (jx > 0 || jy > 0), 0, p, err);
}

static gd_status plan(int w, int h, int size, int margin, int jx, int jy, int torus, int quantum,
                      gd_tile_plan *plan, gd_err *err)
{
    if (w < 1 || h < 1 || w > GD_TILING_MAX_SIDE || h > GD_TILING_MAX_SIDE)
        return gd_err_set(err, GD_EINPUT, "tiling: image size %dx%d out of range 1..%d", w, h,
                          GD_TILING_MAX_SIDE);
    if (size < 0 || size > GD_TILING_MAX_SIDE)
        return gd_err_set(err, GD_EINPUT, "tiling: tile size %d out of range 0..%d", size,
                          GD_TILING_MAX_SIDE);
    if (size == 0) {
        if (jx != 0 || jy != 0)
            return gd_err_set(err, GD_EINPUT,
                              "tiling: jitter (%d, %d) given without tiling (size 0)", jx, jy);
        margin = 0;
    }
    if (margin < 0 || 2 * (int64_t)margin > size)
        return gd_err_set(err, GD_EINPUT,
                          "tiling: margin %d must be >= 0 and at most half the tile size %d",
                          margin, size);
    if (size > 0 && (jx < 0 || jy < 0 || jx >= size || jy >= size))
        return gd_err_set(err, GD_EINPUT, "tiling: jitter (%d, %d) out of range 0..%d", jx, jy,
                          size - 1);

    plan->w = w;
    plan->h = h;
    plan->size = size;
    plan->margin = margin;
    plan->jx = jx;
    plan->jy = jy;
    if (!torus || !axis_init_torus(&plan->ax, w, size, margin, jx))
        axis_init(&plan->ax, w, size, margin, jx, quantum);
    if (!torus || !axis_init_torus(&plan->ay, h, size, margin, jy))
        axis_init(&plan->ay, h, size, margin, jy, quantum);
    plan->nx = plan->ax.count;
    plan->ny = plan->ay.count;
    plan->n_tiles = plan->nx * plan->ny;
    plan->tile_w = plan->ax.side;
    plan->tile_h = plan->ay.side;
    return GD_OK;
}

/* Core start of tile i (unclipped); i == count gives the end of the last core. */
static int core_lo(const gd_tile_axis *a, int i)
{
    if (a->torus && a->tiled)
        return (int)((int64_t)i * a->n / a->count) - a->offset;
    if (a->torus)
        return i * a->n - a->offset;
    return i * a->core - a->offset;
}

static int core_hi(const gd_tile_axis *a, int i)
{
    return a->torus ? core_lo(a, i + 1) : core_lo(a, i) + a->core;
}

int gd_tiling_core_lo(const gd_tile_axis *a, int i)
{
    return core_lo(a, i);
}

/* Whether tile i has a neighbour on its left (right): always on a tiled torus. */
static int has_left(const gd_tile_axis *a, int i)
{
    return (a->torus && a->tiled) || i > 0;
}

static int has_right(const gd_tile_axis *a, int i)
{
    return (a->torus && a->tiled) || i < a->count - 1;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/*
 * Point 3: how much of the full side an edge tile of a cut axis drops on the
 * side where its core sticks `over` pixels out of the image: whole quanta, as
 * many as leave the margin beyond the image edge, keeping the side at least
 * one quantum.
 */
static int cut_by(const gd_tile_axis *a, int over)
{
    const int q = a->quantum;
    if (q <= 0 || over <= 0)
        return 0;
    int cut = over / q * q;
    if (cut > 0 && a->side - cut < q)
        cut -= q;
    return cut;
}

/* Per-axis geometry of tile i: core, clipped core, extent, support. */
static void axis_ranges(const gd_tile_axis *a, int i, int r[8])
{
    int lo = core_lo(a, i), hi = core_hi(a, i);
    r[0] = lo;
    r[1] = hi;
    r[4] = lo - a->margin;
    r[5] = r[4] + a->side;
    if (a->quantum > 0) {
        /* A tiled plain axis: only the first core can start before 0 and
         * only the last end past n (a core is narrower than the image). */
        r[4] += cut_by(a, -lo);
        r[5] -= cut_by(a, hi - a->n);
    }
    if (a->torus) {
        /* Unwrapped: the caller maps coordinates mod n. */
        r[2] = lo;
        r[3] = hi;
        r[6] = lo - a->margin;
        r[7] = hi + a->margin;
        return;
    }
    r[2] = clampi(lo, 0, a->n);
    r[3] = clampi(hi, 0, a->n);
    /* The ramps reach M past a shared boundary; outer sides stop at the core. */
    r[6] = clampi(has_left(a, i) ? lo - a->margin : lo, 0, a->n);
    r[7] = clampi(has_right(a, i) ? hi + a->margin : hi, 0, a->n);
}

void gd_tiling_tile(const gd_tile_plan *plan, int id, gd_tile *tile)
{
    assert(id >= 0 && id < plan->n_tiles);
    int rx[8], ry[8];
    tile->id = id;
    tile->tx = id % plan->nx;
    tile->ty = id / plan->nx;
    axis_ranges(&plan->ax, tile->tx, rx);
    axis_ranges(&plan->ay, tile->ty, ry);
    tile->core = (gd_tile_rect){rx[0], ry[0], rx[1], ry[1]};
    tile->core_in = (gd_tile_rect){rx[2], ry[2], rx[3], ry[3]};
    tile->extent = (gd_tile_rect){rx[4], ry[4], rx[5], ry[5]};
    tile->support = (gd_tile_rect){rx[6], ry[6], rx[7], ry[7]};
}

/*
 * The quantized rising ramp at offset t in [0, 2M) from the start of a
 * boundary's ramp: round(4096 * (t + 0.5) / (2M)) as an integer in
 * [0, 4096], i.e. floor((2048 * (2t + 1) + M) / (2M)).
 */
static int64_t ramp_k(int64_t t, int64_t m)
{
    return (2048 * (2 * t + 1) + m) / (2 * m);
}

float gd_tiling_axis_weight(const gd_tile_axis *a, int i, int x)
{
    assert(i >= 0 && i < a->count);
    if (!a->tiled) {
        int lo = core_lo(a, i);
        return (x >= lo && x < lo + a->n) ? 1.0f : 0.0f;
    }
    int lo = core_lo(a, i), hi = core_hi(a, i), m = a->margin;
    if (m > 0) {
        /* Cores of at least 2M keep their two ramps apart: at most one applies. */
        if (has_left(a, i) && x >= lo - m && x < lo + m)
            return (float)ramp_k((int64_t)x - (lo - m), m) / (float)GD_TILING_WEIGHT_ONE;
        if (has_right(a, i) && x >= hi - m && x < hi + m) {
            float r = (float)ramp_k((int64_t)x - (hi - m), m) / (float)GD_TILING_WEIGHT_ONE;
            return 1.0f - r; /* exact: r is a multiple of 2^-12 in [0, 1] */
        }
    }
    return (x >= lo && x < hi) ? 1.0f : 0.0f;
}

static void fill_weights(const gd_tile_axis *a, int i, float *w)
{
    int r[8];
    axis_ranges(a, i, r);
    for (int k = 0; k < r[5] - r[4]; k++)
        w[k] = gd_tiling_axis_weight(a, i, r[4] + k);
}

int gd_tiling_axis_side(const gd_tile_axis *a, int i)
{
    int r[8];
    axis_ranges(a, i, r);
    return r[5] - r[4];
}

/* The sides of all the tiles of an axis, summed. */
static double axis_pixels(const gd_tile_axis *a)
{
    /* Only the first and the last tile of a cut axis can be narrower. */
    double sum = (double)a->count * a->side;
    if (a->quantum > 0)
        sum -= (a->side - gd_tiling_axis_side(a, 0)) +
               (a->side - gd_tiling_axis_side(a, a->count - 1));
    return sum;
}

double gd_tiling_pixels(const gd_tile_plan *plan)
{
    /* The grid is a product: every tile row has the same column sides. */
    return axis_pixels(&plan->ax) * axis_pixels(&plan->ay);
}

void gd_tiling_weights_x(const gd_tile_plan *plan, int tx, float *wx)
{
    fill_weights(&plan->ax, tx, wx);
}

void gd_tiling_weights_y(const gd_tile_plan *plan, int ty, float *wy)
{
    fill_weights(&plan->ay, ty, wy);
}

int gd_tiling_jitter_range(int size, int jitter)
{
    if (size <= 0 || jitter <= 0)
        return 0;
    return jitter < size ? jitter : size;
}

/*
 * A stream of Philox words for one (seed, octave, iteration): four words per
 * block, block = the third counter word.
 */
typedef struct philox_stream {
    philox4x32_key_t key;
    philox4x32_ctr_t ctr;
    philox4x32_ctr_t out;
    int used;
} philox_stream;

static uint32_t next_word(philox_stream *s)
{
    if (s->used == 4) {
        s->ctr.v[2]++;
        s->out = philox4x32(s->ctr, s->key);
        s->used = 0;
    }
    return s->out.v[s->used++];
}

/* Lemire's unbiased multiply-high draw in [0, range), range >= 1. */
static int draw(philox_stream *s, uint32_t range)
{
    uint64_t m = (uint64_t)next_word(s) * range;
    uint32_t low = (uint32_t)m;
    if (low < range) {
        uint32_t threshold = (uint32_t)(-range) % range;
        while (low < threshold) {
            m = (uint64_t)next_word(s) * range;
            low = (uint32_t)m;
        }
    }
    return (int)(m >> 32);
}

void gd_tiling_jitter(uint64_t seed, int octave, int iteration, int J, int *jx, int *jy)
{
    if (J <= 0) {
        *jx = *jy = 0;
        return;
    }
    philox_stream s;
    s.key = (philox4x32_key_t){{(uint32_t)seed, (uint32_t)(seed >> 32)}};
    s.ctr = (philox4x32_ctr_t){{(uint32_t)octave, (uint32_t)iteration, 0, 0}};
    s.out = philox4x32(s.ctr, s.key);
    s.used = 0;
    *jx = draw(&s, (uint32_t)J);
    *jy = draw(&s, (uint32_t)J);
}

void gd_tiling_halo(const gd_tile_plan *plan, int ty0, int ty1, int *y0, int *y1)
{
    assert(ty0 >= 0 && ty0 < ty1 && ty1 <= plan->ny);
    /* Extents grow with the row index at both ends (a cut first row still
     * starts at or before -M, a cut last row still ends at or past h + M). */
    int first[8], last[8];
    axis_ranges(&plan->ay, ty0, first);
    axis_ranges(&plan->ay, ty1 - 1, last);
    *y0 = first[4];
    *y1 = last[5];
}

void gd_tiling_rows_touching(const gd_tile_plan *plan, int y0, int y1, int *ty0, int *ty1)
{
    int first = -1, last = -1;
    for (int i = 0; i < plan->ny && y0 < y1; i++) {
        int r[8];
        axis_ranges(&plan->ay, i, r);
        if (r[6] < y1 && y0 < r[7]) {
            if (first < 0)
                first = i;
            last = i;
        }
    }
    *ty0 = first < 0 ? 0 : first;
    *ty1 = first < 0 ? 0 : last + 1;
}

static int axis_stride_ok(const gd_tile_axis *a, int stride)
{
    if (!a->tiled)
        return a->offset % stride == 0;
    if (a->torus || a->quantum > 0)
        for (int i = 0; i < a->count; i++) {
            int r[8];
            axis_ranges(a, i, r);
            if (r[4] % stride != 0)
                return 0;
        }
    /* Origins are i*S - j - M: all multiples iff S and j + M are. */
    return a->core % stride == 0 && (a->offset + a->margin) % stride == 0;
}

int gd_tiling_stride_ok(const gd_tile_plan *plan, int stride)
{
    assert(stride >= 1);
    return axis_stride_ok(&plan->ax, stride) && axis_stride_ok(&plan->ay, stride);
}

/*
 * One axis of an iteration's plan, averaged over the jitter offsets: the
 * pixels its tiles see (sides summed), the distinct sides summed, how often
 * the full side is among them, and the full side.
 */
typedef struct axis_stats {
    double pixels, distinct, full, side;
} axis_stats;

static axis_stats axis_cost(int n, int size, int margin, int jitter, int torus, int quantum)
{
    const int J = gd_tiling_jitter_range(size, jitter < 0 ? size : jitter);
    gd_tile_axis a;
    if (n <= size)
        return (axis_stats){n, n, 1, n};
    if (torus && J > 0 && axis_init_torus(&a, n, size, margin, 0))
        return (axis_stats){(double)a.count * a.side, a.side, 1, a.side};
    const double side = size + 2.0 * margin;
    if (!torus && quantum > 0) {
        /* Cut edge tiles: every offset (J is at most the size). */
        axis_stats sum = {0, 0, 0, side};
        const int nj = J > 0 ? J : 1;
        for (int j = 0; j < nj; j++) {
            axis_init(&a, n, size, margin, j, quantum);
            const int s0 = gd_tiling_axis_side(&a, 0), s1 = gd_tiling_axis_side(&a, a.count - 1);
            const int full = a.count > 2 || s0 == a.side || s1 == a.side;
            sum.pixels += axis_pixels(&a);
            sum.distinct +=
                (full ? a.side : 0) + (s0 != a.side ? s0 : 0) + (s1 != a.side && s1 != s0 ? s1 : 0);
            sum.full += full;
        }
        return (axis_stats){sum.pixels / nj, sum.distinct / nj, sum.full / nj, side};
    }
    /* count = ceil((n + j) / size): one more from j >= count(0) * size - n + 1. */
    const int64_t c0 = ((int64_t)n + size - 1) / size, first = c0 * size - n + 1;
    const double more = J > first ? (double)(J - first) / J : 0.0;
    return (axis_stats){((double)c0 + more) * side, side, 1, side};
}

int gd_tiling_auto_size(int w, int h, int margin, int jitter, int torus, int quantum)
{
    static const int sizes[] = {GD_TILING_AUTO_SMALL, 640, 768, GD_TILING_AUTO_LARGE};
    int best = sizes[0];
    double best_cost = 0;
    for (int k = 0; k < (int)(sizeof sizes / sizeof sizes[0]); k++) {
        const axis_stats x = axis_cost(w, sizes[k], margin, jitter, torus, quantum);
        const axis_stats y = axis_cost(h, sizes[k], margin, jitter, torus, quantum);
        /* The extents of an iteration are the products of the axes' distinct
         * sides (jx and jy independent); each but the full one (its engine
         * is kept between iterations) costs a new engine. */
        const double fresh = x.distinct * y.distinct - x.full * y.full * x.side * y.side;
        const double cost = x.pixels * y.pixels + GD_TILING_ENGINE_COST * fresh;
        if (k == 0 || cost < best_cost) {
            best = sizes[k];
            best_cost = cost;
        }
    }
    return best;
}

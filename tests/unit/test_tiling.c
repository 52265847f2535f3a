/*
 * test_tiling.c: tile geometry, exact partition of unity, jitter, halos.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"
#include "gigadream/tiling.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Point 3 along one axis of a plan cut by quantum q: tile i's extent [e0, e1)
 * holds its core clipped to the image grown by the margin (so at least M of
 * context beyond an image edge), differs from the full extent by whole
 * quanta at one end at most, only on the first or last tile, and is never
 * narrower than a quantum unless the full side is.
 */
static void check_cut_axis(const gd_tile_axis *a, int i, int e0, int e1, int c0, int c1, int q)
{
    const int full0 = gd_tiling_core_lo(a, i) - a->margin, full1 = full0 + a->side;
    assert_true(e0 >= full0 && e1 <= full1);
    assert_int_equal(e1 - e0, gd_tiling_axis_side(a, i));
    if (q == 0 || !a->tiled) {
        assert_int_equal(e0, full0);
        assert_int_equal(e1, full1);
        return;
    }
    assert_true(e0 <= c0 - a->margin && e1 >= c1 + a->margin);
    assert_int_equal((e0 - full0) % q, 0);
    assert_int_equal((full1 - e1) % q, 0);
    const int lo = gd_tiling_core_lo(a, i), hi = lo + a->core;
    if (e0 != full0 || e1 != full1)
        assert_true(e1 - e0 >= q);
    /* Cut only where the core sticks out, and as far as allowed. */
    if (lo >= 0)
        assert_int_equal(e0, full0);
    else
        assert_true(e0 + q > -a->margin || e1 - e0 - q < q);
    if (hi <= a->n)
        assert_int_equal(e1, full1);
    else
        assert_true(e1 - q < a->n + a->margin || e1 - e0 - q < q);
}

/*
 * Blends every tile's weights into a w x h sum in tile-id order (the
 * renderer's order) and checks, at every pixel, that the sum is exactly
 * 1.0f and that exactly one clipped core covers it.  Also checks the shape
 * of every tile (cut by quantum q as point 3 says; 0: the plain plan) and
 * that no weight falls outside the tile's support, and that the plan's
 * pixel count is the sum of its extents.
 */
static void check_plan_cut(int w, int h, int size, int margin, int jx, int jy, int q)
{
    gd_err err;
    gd_tile_plan p;
    if (q == 0)
        GDTEST_OK(gd_tiling_plan(w, h, size, margin, jx, jy, &p, &err), &err);
    else
        GDTEST_OK(gd_tiling_plan_cut(w, h, size, margin, jx, jy, q, &p, &err), &err);
    float *sum = calloc((size_t)w * h, sizeof *sum);
    int *cover = calloc((size_t)w * h, sizeof *cover);
    float *wx = malloc((size_t)p.tile_w * sizeof *wx);
    float *wy = malloc((size_t)p.tile_h * sizeof *wy);
    assert_non_null(sum);
    assert_non_null(cover);
    assert_non_null(wx);
    assert_non_null(wy);
    assert_int_equal(p.n_tiles, p.nx * p.ny);
    double pixels = 0;
    for (int id = 0; id < p.n_tiles; id++) {
        gd_tile t;
        gd_tiling_tile(&p, id, &t);
        assert_int_equal(t.id, id);
        assert_int_equal(t.ty * p.nx + t.tx, id);
        const int ew = t.extent.x1 - t.extent.x0, eh = t.extent.y1 - t.extent.y0;
        pixels += (double)ew * eh;
        /* The full extent unless cut; a cut one keeps its context. */
        check_cut_axis(&p.ax, t.tx, t.extent.x0, t.extent.x1, t.core_in.x0, t.core_in.x1, q);
        check_cut_axis(&p.ay, t.ty, t.extent.y0, t.extent.y1, t.core_in.y0, t.core_in.y1, q);
        if (q == 0) {
            assert_int_equal(ew, p.tile_w);
            assert_int_equal(eh, p.tile_h);
            assert_int_equal(t.core.x0 - t.extent.x0, p.ax.margin);
            assert_int_equal(t.core.y0 - t.extent.y0, p.ay.margin);
        }
        /* The support (where the weight may be > 0) lies in the extent. */
        assert_true(t.support.x0 >= t.extent.x0 && t.support.x1 <= t.extent.x1);
        assert_true(t.support.y0 >= t.extent.y0 && t.support.y1 <= t.extent.y1);
        gd_tiling_weights_x(&p, t.tx, wx);
        gd_tiling_weights_y(&p, t.ty, wy);
        for (int y = t.core_in.y0; y < t.core_in.y1; y++)
            for (int x = t.core_in.x0; x < t.core_in.x1; x++)
                cover[(size_t)y * w + x]++;
        for (int l = 0; l < eh; l++) {
            int y = t.extent.y0 + l;
            assert_true(wy[l] == gd_tiling_axis_weight(&p.ay, t.ty, y));
            for (int k = 0; k < ew; k++) {
                int x = t.extent.x0 + k;
                float v = wx[k] * wy[l];
                int inside = x >= 0 && x < w && y >= 0 && y < h;
                if (inside && v != 0.0f &&
                    (x < t.support.x0 || x >= t.support.x1 || y < t.support.y0 ||
                     y >= t.support.y1))
                    fail_msg("tile %d weighs %g at (%d, %d) outside its support", id, v, x, y);
                if (inside)
                    sum[(size_t)y * w + x] += v;
            }
        }
        for (int k = 0; k < ew; k++)
            assert_true(wx[k] == gd_tiling_axis_weight(&p.ax, t.tx, t.extent.x0 + k));
    }
    assert_true(gd_tiling_pixels(&p) == pixels);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (sum[(size_t)y * w + x] != 1.0f)
                fail_msg("w=%d h=%d S=%d M=%d j=(%d,%d) q=%d: weights sum to %.9g at (%d, %d)", w,
                         h, size, margin, jx, jy, q, sum[(size_t)y * w + x], x, y);
            if (cover[(size_t)y * w + x] != 1)
                fail_msg("w=%d h=%d S=%d M=%d j=(%d,%d) q=%d: %d cores cover (%d, %d)", w, h, size,
                         margin, jx, jy, q, cover[(size_t)y * w + x], x, y);
        }
    free(sum);
    free(cover);
    free(wx);
    free(wy);
}

static void check_plan(int w, int h, int size, int margin, int jx, int jy)
{
    check_plan_cut(w, h, size, margin, jx, jy, 0);
}

static void test_partition_of_unity_random(void **state)
{
    (void)state;
    gdtest_rng r = {42};
    for (int trial = 0; trial < 300; trial++) {
        int size = 16 + (int)(gdtest_next(&r) % 100);
        int w = 1 + (int)(gdtest_next(&r) % 400);
        int h = 1 + (int)(gdtest_next(&r) % 400);
        int margin;
        switch (trial % 4) {
        case 0:
            margin = 0;
            break;
        case 1:
            margin = size / 2; /* 2M = S when S is even */
            break;
        default:
            margin = (int)(gdtest_next(&r) % (size / 2 + 1));
        }
        int jx = 0, jy = 0;
        if (trial % 3 != 0) {
            jx = (int)(gdtest_next(&r) % (uint64_t)size);
            jy = (int)(gdtest_next(&r) % (uint64_t)size);
        }
        check_plan(w, h, size, margin, jx, jy);
        /* Point 3: the same plan with its edge tiles cut, by quanta from 1 up. */
        check_plan_cut(w, h, size, margin, jx, jy, 1 + (int)(gdtest_next(&r) % 80));
    }
}

static void test_partition_of_unity_edges(void **state)
{
    (void)state;
    check_plan(100, 80, 0, 0, 0, 0);          /* no tiling */
    check_plan(50, 60, 64, 16, 5, 7);         /* both sides <= S: untiled */
    check_plan(64, 64, 64, 32, 63, 63);       /* n == S is untiled */
    check_plan(65, 64, 64, 32, 63, 0);        /* just over: two tiles along x */
    check_plan(300, 40, 64, 32, 0, 0);        /* tiled x, untiled y, 2M = S */
    check_plan(17, 400, 16, 8, 15, 15);       /* tiny tiles */
    check_plan(257, 255, 16, 7, 3, 11);       /* odd margin */
    check_plan(1000, 3, 100, 50, 99, 2);      /* largest jitter */
    check_plan(5000, 1, 16, 8, 1, 0);         /* many tiles, 1-row image */
    check_plan(3000, 20, 1024, 512, 1000, 0); /* M = 512 (ramp steps < 4096) */
    check_plan(9000, 20, 6000, 3000, 123, 0); /* M > 2048: ramps start at 0 */
}

static void test_known_geometry(void **state)
{
    (void)state;
    gd_err err;
    gd_tile_plan p;
    GDTEST_OK(gd_tiling_plan(1000, 600, 256, 32, 0, 0, &p, &err), &err);
    assert_int_equal(p.nx, 4); /* 4 * 256 = 1024 >= 1000 */
    assert_int_equal(p.ny, 3); /* 3 * 256 = 768 >= 600 */
    assert_int_equal(p.n_tiles, 12);
    assert_int_equal(p.tile_w, 320);
    assert_int_equal(p.tile_h, 320);
    for (int id = 0; id < p.n_tiles; id++) {
        gd_tile t;
        gd_tiling_tile(&p, id, &t);
        /* Jitter 0: cores at multiples of S. */
        assert_int_equal(t.core.x0, t.tx * 256);
        assert_int_equal(t.core.y0, t.ty * 256);
        assert_int_equal(t.extent.x0, t.tx * 256 - 32);
    }
    gd_tile t;
    gd_tiling_tile(&p, 7, &t); /* tx = 3, ty = 1 */
    assert_int_equal(t.tx, 3);
    assert_int_equal(t.ty, 1);
    assert_int_equal(t.core.x1, 1024);
    assert_int_equal(t.core_in.x1, 1000);
    assert_int_equal(t.support.x0, 768 - 32);
    assert_int_equal(t.support.x1, 1000);
    assert_int_equal(t.support.y0, 256 - 32);
    assert_int_equal(t.support.y1, 512 + 32);

    /* Ramp values: r = (t + 0.5) / 64 is a multiple of 2^-12 here. */
    assert_true(gd_tiling_axis_weight(&p.ax, 1, 224) == 0.5f / 64.0f);
    assert_true(gd_tiling_axis_weight(&p.ax, 1, 255) == 31.5f / 64.0f);
    assert_true(gd_tiling_axis_weight(&p.ax, 1, 256) == 32.5f / 64.0f);
    assert_true(gd_tiling_axis_weight(&p.ax, 1, 287) == 63.5f / 64.0f);
    assert_true(gd_tiling_axis_weight(&p.ax, 1, 288) == 1.0f);
    assert_true(gd_tiling_axis_weight(&p.ax, 0, 255) == 1.0f - 31.5f / 64.0f);
    assert_true(gd_tiling_axis_weight(&p.ax, 1, 223) == 0.0f);
    assert_true(gd_tiling_axis_weight(&p.ax, 0, 288) == 0.0f);
    /* Outer sides: 1 up to the core edge, 0 beyond, no ramp. */
    assert_true(gd_tiling_axis_weight(&p.ax, 0, 0) == 1.0f);
    assert_true(gd_tiling_axis_weight(&p.ax, 0, -1) == 0.0f);
    assert_true(gd_tiling_axis_weight(&p.ax, 3, 1023) == 1.0f);
    assert_true(gd_tiling_axis_weight(&p.ax, 3, 1024) == 0.0f);

    /* Weights over the extent of tile column 1 match the point function. */
    float wx[320];
    gd_tiling_weights_x(&p, 1, wx);
    for (int k = 0; k < 320; k++)
        assert_true(wx[k] == gd_tiling_axis_weight(&p.ax, 1, 224 + k));

    /* Jitter j shifts the cores left by j: the first core starts at -j. */
    GDTEST_OK(gd_tiling_plan(1000, 600, 256, 32, 100, 7, &p, &err), &err);
    assert_int_equal(p.nx, 5); /* 5 * 256 - 100 = 1180 >= 1000 > 924 */
    assert_int_equal(p.ny, 3); /* 3 * 256 - 7 = 761 >= 600 */
    gd_tiling_tile(&p, 0, &t);
    assert_int_equal(t.core.x0, -100);
    assert_int_equal(t.core_in.x0, 0);
    assert_int_equal(t.core_in.x1, 156);
    assert_int_equal(t.extent.x0, -132);
    assert_int_equal(t.core.y0, -7);
}

static void test_ramp_close_to_linear(void **state)
{
    (void)state;
    /* Quantization moves a weight by at most half a step, 2^-13. */
    for (int m = 1; m <= 300; m += 7) {
        gd_err err;
        gd_tile_plan p;
        GDTEST_OK(gd_tiling_plan(10 * m + 5, 1, 2 * m, m, 0, 0, &p, &err), &err);
        for (int t = 0; t < 2 * m; t++) {
            double exact = (t + 0.5) / (2.0 * m);
            double got = gd_tiling_axis_weight(&p.ax, 1, 2 * m - m + t);
            assert_true(fabs(got - exact) <= 1.0 / 8192.0);
        }
    }
}

static void test_untiled_axes(void **state)
{
    (void)state;
    gd_err err;
    gd_tile_plan p;
    /* Smaller than a tile: one tile, the whole image, no margin, jitter ignored. */
    GDTEST_OK(gd_tiling_plan(300, 200, 512, 64, 77, 300, &p, &err), &err);
    assert_int_equal(p.n_tiles, 1);
    assert_int_equal(p.tile_w, 300);
    assert_int_equal(p.tile_h, 200);
    assert_int_equal(p.ax.tiled, 0);
    assert_int_equal(p.ax.offset, 0);
    gd_tile t;
    gd_tiling_tile(&p, 0, &t);
    assert_int_equal(t.extent.x0, 0);
    assert_int_equal(t.extent.y0, 0);
    assert_int_equal(t.extent.x1, 300);
    assert_int_equal(t.extent.y1, 200);
    float wx[300];
    gd_tiling_weights_x(&p, 0, wx);
    for (int k = 0; k < 300; k++)
        assert_true(wx[k] == 1.0f);

    /* Mixed: tiled along x, untiled along y. */
    GDTEST_OK(gd_tiling_plan(2000, 300, 512, 64, 10, 20, &p, &err), &err);
    assert_int_equal(p.ax.tiled, 1);
    assert_int_equal(p.ay.tiled, 0);
    assert_int_equal(p.nx, 4); /* 4 * 512 - 10 = 2038 >= 2000 */
    assert_int_equal(p.ny, 1);
    assert_int_equal(p.tile_w, 640);
    assert_int_equal(p.tile_h, 300);
    gd_tiling_tile(&p, 2, &t);
    assert_int_equal(t.extent.y0, 0);
    assert_int_equal(t.extent.x0, 2 * 512 - 10 - 64);

    /* size 0: no tiling at all. */
    GDTEST_OK(gd_tiling_plan(5000, 4000, 0, 64, 0, 0, &p, &err), &err);
    assert_int_equal(p.n_tiles, 1);
    assert_int_equal(p.tile_w, 5000);
    assert_int_equal(p.tile_h, 4000);
}

/*
 * Point 3 on the default job's grid: 2048 x 2048, S = 512, M = 32, q = 16.
 * Jitter 100 puts a core [-100, 412) first, which drops 96 columns (6
 * quanta: the extent then starts at -36, 4 short of a seventh), and a core
 * [1948, 2460) last, which sticks out 412 and drops 400.
 */
static void test_cut_geometry(void **state)
{
    (void)state;
    gd_err err;
    gd_tile_plan p;
    GDTEST_OK(gd_tiling_plan_cut(2048, 2048, 512, 32, 100, 0, 16, &p, &err), &err);
    assert_int_equal(p.nx, 5);
    assert_int_equal(p.ny, 4); /* jitter 0: 4 cores fill 2048 exactly, nothing cut */
    assert_int_equal(p.tile_w, 576);
    assert_int_equal(p.tile_h, 576);
    gd_tile t;
    gd_tiling_tile(&p, 0, &t);
    assert_int_equal(t.extent.x0, -36);
    assert_int_equal(t.extent.x1, 444);
    assert_int_equal(t.extent.y0, -32);
    assert_int_equal(t.extent.y1, 544);
    assert_int_equal(t.core_in.x1, 412);
    assert_int_equal(t.support.x0, 0);
    assert_int_equal(t.support.x1, 444);
    gd_tiling_tile(&p, 4, &t);
    assert_int_equal(t.core.x0, 1948);
    assert_int_equal(t.extent.x0, 1916);
    assert_int_equal(t.extent.x1, 2092); /* 2048 + 44 */
    gd_tiling_tile(&p, 2, &t);
    assert_int_equal(t.extent.x1 - t.extent.x0, 576);
    assert_int_equal(gd_tiling_axis_side(&p.ax, 0), 480);
    assert_int_equal(gd_tiling_axis_side(&p.ax, 4), 176);
    assert_true(gd_tiling_pixels(&p) == (480.0 + 3 * 576 + 176) * (4 * 576));
    /* The cut tile's weights: 1 over its core (outside the image too, where
     * the support stops them), the usual ramp at 412. */
    float wx[576];
    gd_tiling_weights_x(&p, 0, wx);
    assert_true(wx[36] == 1.0f);
    assert_true(wx[0] == 1.0f); /* x = -36, in the core [-100, 412) */
    assert_true(wx[36 + 412 - 32] == 1.0f - 0.5f / 64.0f);
    /* Halo rows and the column extents follow the cut. */
    GDTEST_OK(gd_tiling_plan_cut(2048, 2048, 512, 32, 0, 100, 16, &p, &err), &err);
    int y0, y1;
    gd_tiling_halo(&p, 0, 1, &y0, &y1);
    assert_int_equal(y0, -36);
    assert_int_equal(y1, 444);
    gd_tiling_halo(&p, 0, p.ny, &y0, &y1);
    assert_int_equal(y1, 2092);
    gd_tiling_halo(&p, 1, 3, &y0, &y1);
    assert_int_equal(y0, 412 - 32);
    assert_int_equal(y1, 412 + 1024 + 32);
    /* A core sticking out less than a quantum is not cut; a side never
     * drops under one quantum. */
    GDTEST_OK(gd_tiling_plan_cut(2048, 100, 512, 32, 10, 0, 16, &p, &err), &err);
    assert_int_equal(gd_tiling_axis_side(&p.ax, 0), 576);
    GDTEST_OK(gd_tiling_plan_cut(1000, 100, 256, 0, 255, 0, 64, &p, &err), &err);
    assert_int_equal(gd_tiling_axis_side(&p.ax, 0), 64); /* core_in [0, 1) */
    GDTEST_OK(gd_tiling_plan_cut(1000, 100, 256, 0, 255, 0, 300, &p, &err), &err);
    assert_int_equal(gd_tiling_axis_side(&p.ax, 0), 256); /* no whole quantum fits */
    /* The torus never cuts; a bad quantum is refused. */
    GDTEST_OK(gd_tiling_plan_torus(2048, 2048, 512, 32, 100, 7, &p, &err), &err);
    assert_int_equal(p.ax.quantum, 0);
    assert_int_equal(gd_tiling_plan_cut(100, 100, 64, 8, 0, 0, -1, &p, &err), GD_EINPUT);
    check_plan_cut(2048, 300, 512, 32, 100, 0, 16);
    check_plan_cut(2048, 2048, 512, 32, 511, 1, 16);
    check_plan_cut(1000, 700, 256, 0, 255, 17, 64);
    check_plan_cut(3001, 1499, 1024, 512, 1023, 1000, 64);
}

static void test_plan_rejects_bad_arguments(void **state)
{
    (void)state;
    gd_err err;
    gd_tile_plan p;
    assert_int_equal(gd_tiling_plan(100, 100, 64, 33, 0, 0, &p, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "half the tile size"));
    assert_int_equal(gd_tiling_plan(100, 100, 64, -1, 0, 0, &p, &err), GD_EINPUT);
    assert_int_equal(gd_tiling_plan(100, 100, 64, 8, 64, 0, &p, &err), GD_EINPUT);
    assert_int_equal(gd_tiling_plan(100, 100, 64, 8, 0, -1, &p, &err), GD_EINPUT);
    assert_int_equal(gd_tiling_plan(0, 100, 64, 8, 0, 0, &p, &err), GD_EINPUT);
    assert_int_equal(gd_tiling_plan(100, 100, -5, 0, 0, 0, &p, &err), GD_EINPUT);
    assert_int_equal(gd_tiling_plan(100, 100, 0, 0, 3, 0, &p, &err), GD_EINPUT);
    assert_int_equal(gd_tiling_plan(100, 100, 64, 8, 0, 0, &p, NULL), GD_OK);
}

static void test_jitter_known_answer(void **state)
{
    (void)state;
    /*
     * For J = 2^30 the multiply-high draw is the word's top 30 bits, so the
     * offsets of seed 0, octave 0, iteration 0 are the published Philox4x32-10
     * known answer for key 0, counter 0 (Random123 kat_vectors:
     * 6627e8d5 e169c58d bc57ac4c 9b00dbd8), shifted right by 2.
     */
    int jx, jy;
    gd_tiling_jitter(0, 0, 0, 1 << 30, &jx, &jy);
    assert_int_equal(jx, 0x6627e8d5u >> 2);
    assert_int_equal(jy, 0xe169c58du >> 2);
}

static void test_jitter_deterministic_and_keyed(void **state)
{
    (void)state;
    int a, b, c, d;
    gd_tiling_jitter(12345, 2, 7, 512, &a, &b);
    gd_tiling_jitter(12345, 2, 7, 512, &c, &d);
    assert_int_equal(a, c);
    assert_int_equal(b, d);
    assert_true(a >= 0 && a < 512 && b >= 0 && b < 512);

    /* Every argument changes the draw: count distinct pairs over small grids. */
    int base_x, base_y, diff_seed = 0, diff_oct = 0, diff_it = 0, diff_hi = 0;
    gd_tiling_jitter(1, 0, 0, 512, &base_x, &base_y);
    for (int k = 1; k <= 20; k++) {
        int x, y;
        gd_tiling_jitter(1 + (uint64_t)k, 0, 0, 512, &x, &y);
        diff_seed += (x != base_x || y != base_y);
        gd_tiling_jitter(1, k, 0, 512, &x, &y);
        diff_oct += (x != base_x || y != base_y);
        gd_tiling_jitter(1, 0, k, 512, &x, &y);
        diff_it += (x != base_x || y != base_y);
        /* The high word of the seed is part of the key too. */
        gd_tiling_jitter(1 + ((uint64_t)k << 32), 0, 0, 512, &x, &y);
        diff_hi += (x != base_x || y != base_y);
    }
    assert_int_equal(diff_seed, 20);
    assert_int_equal(diff_oct, 20);
    assert_int_equal(diff_it, 20);
    assert_int_equal(diff_hi, 20);

    /* Octave and iteration are not interchangeable. */
    int x1, y1, x2, y2;
    gd_tiling_jitter(9, 1, 2, 512, &x1, &y1);
    gd_tiling_jitter(9, 2, 1, 512, &x2, &y2);
    assert_true(x1 != x2 || y1 != y2);

    /* J <= 0 and J == 1 give 0. */
    gd_tiling_jitter(9, 1, 2, 0, &x1, &y1);
    assert_int_equal(x1 + y1, 0);
    gd_tiling_jitter(9, 1, 2, 1, &x1, &y1);
    assert_int_equal(x1 + y1, 0);
    assert_int_equal(gd_tiling_jitter_range(512, 512), 512);
    assert_int_equal(gd_tiling_jitter_range(512, 1000), 512);
    assert_int_equal(gd_tiling_jitter_range(512, 100), 100);
    assert_int_equal(gd_tiling_jitter_range(0, 100), 0);
    assert_int_equal(gd_tiling_jitter_range(512, 0), 0);
}

/* Chi-square statistic of counts against a uniform expectation. */
static double chi_square(const long *counts, int bins, long n)
{
    double e = (double)n / bins, s = 0;
    for (int i = 0; i < bins; i++)
        s += (counts[i] - e) * (counts[i] - e) / e;
    return s;
}

static void test_jitter_uniform(void **state)
{
    (void)state;
    /*
     * 200000 draws into J bins, for a small J, a J that leaves a large
     * rejection zone (3 * 2^30 makes 1/4 of the words rejected) and a
     * typical tile size.  The bounds are the chi-square 99.99% quantiles for
     * J - 1 degrees of freedom, so a correct generator fails ~1 in 10^4 runs
     * -- and never, since the draws are deterministic.
     */
    const long n = 200000;
    static long cx[512], cy[512], cxy[100];
    struct {
        int J, bins;
        double bound;
    } cases[] = {{10, 10, 33.7}, {3 << 29, 16, 44.3}, {512, 512, 660.0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int J = cases[c].J, bins = cases[c].bins;
        memset(cx, 0, sizeof cx);
        memset(cy, 0, sizeof cy);
        memset(cxy, 0, sizeof cxy);
        for (long i = 0; i < n; i++) {
            int x, y;
            gd_tiling_jitter(777, (int)(i % 7), (int)(i / 7), J, &x, &y);
            assert_true(x >= 0 && x < J && y >= 0 && y < J);
            /* Bins of equal width (J is a multiple of bins). */
            int bx = (int)((int64_t)x * bins / J), by = (int)((int64_t)y * bins / J);
            cx[bx]++;
            cy[by]++;
            if (bins == 10)
                cxy[bx * 10 + by]++;
        }
        double sx = chi_square(cx, bins, n), sy = chi_square(cy, bins, n);
        print_message("J=%d: chi-square x %.1f, y %.1f (%d bins, bound %.1f)\n", J, sx, sy, bins,
                      cases[c].bound);
        assert_true(sx < cases[c].bound);
        assert_true(sy < cases[c].bound);
        if (bins == 10) {
            /* Independence of jx and jy: the joint distribution is uniform too (99 dof). */
            double sxy = chi_square(cxy, 100, n);
            print_message("J=%d: joint chi-square %.1f (100 bins, bound 157.0)\n", J, sxy);
            assert_true(sxy < 157.0);
        }
    }
}

static void test_halo_rows(void **state)
{
    (void)state;
    gd_err err;
    gd_tile_plan p;
    GDTEST_OK(gd_tiling_plan(800, 1000, 256, 32, 0, 100, &p, &err), &err);
    assert_int_equal(p.ny, 5); /* 5 * 256 - 100 = 1180 >= 1000 > 924 */
    int y0, y1;
    gd_tiling_halo(&p, 1, 3, &y0, &y1);
    assert_int_equal(y0, 256 - 100 - 32);
    assert_int_equal(y1, 3 * 256 - 100 + 32);
    gd_tiling_halo(&p, 0, 5, &y0, &y1);
    assert_int_equal(y0, -100 - 32); /* reaches above the image: the border rule fills it */
    assert_int_equal(y1, 5 * 256 - 100 + 32);

    /* The halo covers every extent row of the tiles in the range. */
    for (int ty0 = 0; ty0 < p.ny; ty0++)
        for (int ty1 = ty0 + 1; ty1 <= p.ny; ty1++) {
            gd_tiling_halo(&p, ty0, ty1, &y0, &y1);
            for (int id = 0; id < p.n_tiles; id++) {
                gd_tile t;
                gd_tiling_tile(&p, id, &t);
                if (t.ty >= ty0 && t.ty < ty1)
                    assert_true(t.extent.y0 >= y0 && t.extent.y1 <= y1);
            }
        }

    /* Tile rows blending into a band: compare with a brute-force scan of weights. */
    for (int a = 0; a < 1000; a += 37)
        for (int b = a; b <= 1000; b += 91) {
            int ty0, ty1;
            gd_tiling_rows_touching(&p, a, b, &ty0, &ty1);
            for (int ty = 0; ty < p.ny; ty++) {
                int touches = 0;
                for (int y = a; y < b && !touches; y++)
                    touches = gd_tiling_axis_weight(&p.ay, ty, y) != 0.0f;
                if (touches)
                    assert_true(ty >= ty0 && ty < ty1);
            }
            if (b > a)
                assert_true(ty1 > ty0);
            else
                assert_int_equal(ty1, ty0);
        }
    int ty0, ty1;
    gd_tiling_rows_touching(&p, 0, 1, &ty0, &ty1);
    assert_int_equal(ty0, 0);
    assert_int_equal(ty1, 1);
    gd_tiling_rows_touching(&p, 156 - 32, 156 - 31, &ty0, &ty1); /* first ramp row */
    assert_int_equal(ty0, 0);
    assert_int_equal(ty1, 2);
}

static void test_stride_check(void **state)
{
    (void)state;
    gd_err err;
    gd_tile_plan p;
    GDTEST_OK(gd_tiling_plan(1000, 1000, 256, 32, 0, 0, &p, &err), &err);
    assert_true(gd_tiling_stride_ok(&p, 16));
    assert_true(gd_tiling_stride_ok(&p, 32));
    assert_false(gd_tiling_stride_ok(&p, 64)); /* origins -32, 224, ... */
    GDTEST_OK(gd_tiling_plan(1000, 1000, 256, 64, 0, 0, &p, &err), &err);
    assert_true(gd_tiling_stride_ok(&p, 64));
    GDTEST_OK(gd_tiling_plan(1000, 1000, 256, 32, 16, 0, &p, &err), &err);
    assert_true(gd_tiling_stride_ok(&p, 16));
    assert_false(gd_tiling_stride_ok(&p, 32)); /* origins -48, 208, ... */
    GDTEST_OK(gd_tiling_plan(1000, 1000, 200, 32, 0, 0, &p, &err), &err);
    assert_false(gd_tiling_stride_ok(&p, 16)); /* 200 is no multiple of 16 */
    /* Untiled axes always start at 0. */
    GDTEST_OK(gd_tiling_plan(100, 100, 200, 30, 7, 9, &p, &err), &err);
    assert_true(gd_tiling_stride_ok(&p, 32));
    /* Point 8 with cuts: jitter 0 cuts only the ends of the last tiles; a
     * quantum that is a multiple of the stride keeps jittered origins on the
     * full grid's phase; one that is not moves the first tile's origin. */
    GDTEST_OK(gd_tiling_plan_cut(1000, 1000, 256, 32, 0, 0, 16, &p, &err), &err);
    assert_true(gd_tiling_axis_side(&p.ax, 3) < p.tile_w);
    assert_true(gd_tiling_stride_ok(&p, 16));
    assert_true(gd_tiling_stride_ok(&p, 32));
    assert_false(gd_tiling_stride_ok(&p, 64));
    GDTEST_OK(gd_tiling_plan_cut(1000, 1000, 256, 32, 64, 0, 32, &p, &err), &err);
    assert_true(gd_tiling_axis_side(&p.ax, 0) < p.tile_w);
    assert_true(gd_tiling_stride_ok(&p, 32));
    GDTEST_OK(gd_tiling_plan_cut(1000, 1000, 256, 32, 64, 0, 48, &p, &err), &err);
    assert_true(gd_tiling_axis_side(&p.ax, 0) < p.tile_w);
    assert_false(gd_tiling_stride_ok(&p, 32));
    for (int j = 0; j < 256; j += 16) {
        GDTEST_OK(gd_tiling_plan_cut(1000, 1000, 256, 32, j, j, 32, &p, &err), &err);
        gd_tile_plan full;
        GDTEST_OK(gd_tiling_plan(1000, 1000, 256, 32, j, j, &full, &err), &err);
        assert_int_equal(gd_tiling_stride_ok(&p, 32), gd_tiling_stride_ok(&full, 32));
    }
}

/*
 * Point 7b: on a torus, at every image pixel, the weights of the tiles whose
 * extent holds one of its representatives (x + k n) sum to exactly 1.0f,
 * cores (mod n) cover each pixel exactly once, cores are at most S wide,
 * counts are even, no weight falls outside a tile's (unwrapped) support, and
 * at most two tiles of one tile row touch a pixel (the renderer's
 * order-independence rule), as do at most two tile rows.
 */
/* A coordinate's pixel along an axis: mod n on a torus, -1 off a plain axis. */
static int pixel_of(const gd_tile_axis *a, int x)
{
    if (a->torus) {
        int r = x % a->n;
        return r < 0 ? r + a->n : r;
    }
    return x >= 0 && x < a->n ? x : -1;
}

static void check_torus(int w, int h, int size, int margin, int jx, int jy)
{
    gd_err err;
    gd_tile_plan p;
    GDTEST_OK(gd_tiling_plan_torus(w, h, size, margin, jx, jy, &p, &err), &err);
    float *sum = calloc((size_t)w * h, sizeof *sum);
    int *cover = calloc((size_t)w * h, sizeof *cover);
    unsigned char *rows = calloc((size_t)h * p.ny, 1);
    int *per_row = calloc((size_t)w * h * (size_t)p.ny, sizeof *per_row);
    float *wx = malloc((size_t)p.tile_w * sizeof *wx);
    float *wy = malloc((size_t)p.tile_h * sizeof *wy);
    assert_true(sum && cover && rows && per_row && wx && wy);
    const gd_tile_axis *axes[2] = {&p.ax, &p.ay};
    for (int a = 0; a < 2; a++) {
        if (axes[a]->tiled && axes[a]->torus) {
            assert_int_equal(axes[a]->count % 2, 0);
            assert_true(axes[a]->core <= size);
            assert_true(axes[a]->side <= axes[a]->n || axes[a]->count == 1);
        }
    }
    for (int id = 0; id < p.n_tiles; id++) {
        gd_tile t;
        gd_tiling_tile(&p, id, &t);
        assert_int_equal(t.extent.x1 - t.extent.x0, p.tile_w);
        assert_int_equal(t.extent.y1 - t.extent.y0, p.tile_h);
        gd_tiling_weights_x(&p, t.tx, wx);
        gd_tiling_weights_y(&p, t.ty, wy);
        for (int y = t.core_in.y0; y < t.core_in.y1; y++)
            for (int x = t.core_in.x0; x < t.core_in.x1; x++)
                cover[(size_t)pixel_of(&p.ay, y) * w + pixel_of(&p.ax, x)]++;
        for (int l = 0; l < p.tile_h; l++) {
            int y = t.extent.y0 + l;
            for (int k = 0; k < p.tile_w; k++) {
                int x = t.extent.x0 + k;
                float v = wx[k] * wy[l];
                if (v == 0.0f || pixel_of(&p.ax, x) < 0 || pixel_of(&p.ay, y) < 0)
                    continue;
                if (x < t.support.x0 || x >= t.support.x1 || y < t.support.y0 || y >= t.support.y1)
                    fail_msg("torus %dx%d S=%d M=%d j=(%d,%d): tile %d weighs %g at (%d, %d) "
                             "outside its support [%d,%d)x[%d,%d)",
                             w, h, size, margin, jx, jy, id, v, x, y, t.support.x0, t.support.x1,
                             t.support.y0, t.support.y1);
                size_t at = (size_t)pixel_of(&p.ay, y) * w + pixel_of(&p.ax, x);
                sum[at] += v;
                per_row[at * p.ny + t.ty]++;
                rows[(size_t)pixel_of(&p.ay, y) * p.ny + t.ty] = 1;
            }
        }
    }
    for (int y = 0; y < h; y++) {
        int n_rows = 0;
        for (int ty = 0; ty < p.ny; ty++)
            n_rows += rows[(size_t)y * p.ny + ty];
        if (n_rows > 2)
            fail_msg("torus %dx%d S=%d M=%d j=(%d,%d): row %d touched by %d tile rows", w, h, size,
                     margin, jx, jy, y, n_rows);
        for (int x = 0; x < w; x++) {
            size_t at = (size_t)y * w + x;
            if (sum[at] != 1.0f || cover[at] != 1)
                fail_msg("torus %dx%d S=%d M=%d j=(%d,%d): pixel (%d,%d) sums to %.9g, covered "
                         "%d times",
                         w, h, size, margin, jx, jy, x, y, (double)sum[at], cover[at]);
            for (int ty = 0; ty < p.ny; ty++)
                if (per_row[at * p.ny + ty] > 2)
                    fail_msg("torus: pixel (%d,%d) gets %d tiles of row %d", x, y,
                             per_row[at * p.ny + ty], ty);
        }
    }
    free(sum);
    free(cover);
    free(rows);
    free(per_row);
    free(wx);
    free(wy);
}

static void test_torus(void **state)
{
    (void)state;
    gdtest_rng r = {2024};
    /* The notebook's case: 2048 = 4 x 512, no partial tile at all. */
    gd_tile_plan p;
    gd_err err;
    GDTEST_OK(gd_tiling_plan_torus(2048, 2048, 512, 32, 300, 17, &p, &err), &err);
    assert_int_equal(p.nx, 4);
    assert_int_equal(p.ny, 4);
    assert_int_equal(p.tile_w, 576);
    /* Jitter 0: the plain grid (origins on multiples of S). */
    GDTEST_OK(gd_tiling_plan_torus(2048, 2048, 512, 32, 0, 0, &p, &err), &err);
    assert_int_equal(p.ax.torus, 0);
    /* A small image: one tile rolled by the jitter, no margin. */
    GDTEST_OK(gd_tiling_plan_torus(300, 200, 512, 64, 350, 7, &p, &err), &err);
    assert_int_equal(p.n_tiles, 1);
    assert_int_equal(p.tile_w, 300);
    assert_int_equal(p.ax.offset, 50);
    check_torus(2048, 2048, 512, 32, 300, 17);
    check_torus(300, 200, 512, 64, 350, 7);
    check_torus(1000, 333, 256, 64, 1, 255);
    check_torus(513, 1025, 512, 128, 511, 3);
    for (int i = 0; i < 60; i++) {
        int size = 16 + (int)(gdtest_next(&r) % 300);
        int margin = (int)(gdtest_next(&r) % (size / 2 + 1));
        int w = 1 + (int)(gdtest_next(&r) % 1200), h = 1 + (int)(gdtest_next(&r) % 700);
        int jx = 1 + (int)(gdtest_next(&r) % (size - 1)), jy = (int)(gdtest_next(&r) % size);
        check_torus(w, h, size, margin, jx, jy);
    }
}

/*
 * The pixels a plan's tiles see per image pixel, averaged over the jitter
 * offsets (every offset with step 1; jx and jy are independent and the grid
 * is a product, so the mean is the product of the axes' means), with the
 * edge tiles cut by quantum q (0: not cut).
 */
static double seen(int w, int h, int size, int margin, int torus, int q, int step)
{
    double sx = 0, sy = 0;
    int n = 0;
    for (int j = 0; j < size; j += step, n++) {
        gd_tile_plan p;
        gd_err err;
        if (torus)
            GDTEST_OK(gd_tiling_plan_torus(w, h, size, margin, j, j, &p, &err), &err);
        else
            GDTEST_OK(gd_tiling_plan_cut(w, h, size, margin, j, j, q, &p, &err), &err);
        /* Per axis: the sides summed (one tile row's widths, one column's heights). */
        double ax = 0, ay = 0;
        for (int i = 0; i < p.nx; i++)
            ax += gd_tiling_axis_side(&p.ax, i);
        for (int i = 0; i < p.ny; i++)
            ay += gd_tiling_axis_side(&p.ay, i);
        assert_true(ax * ay == gd_tiling_pixels(&p));
        sx += ax;
        sy += ay;
    }
    return (sx / n) * (sy / n) / ((double)w * h);
}

static void test_auto_size(void **state)
{
    (void)state;
    /* The benchmark job (2048 wrapped): 1024's 4 tiles of 1088 against 512's
     * 16 of 576.  Reflected without cuts, 1024 pays a partial tile of 1088
     * per axis. */
    assert_int_equal(gd_tiling_auto_size(2048, 2048, 32, -1, 1, 0), 1024);
    assert_int_equal(gd_tiling_auto_size(2048, 2048, 32, -1, 0, 0), 512);
    assert_int_equal(gd_tiling_auto_size(4096, 4096, 32, -1, 0, 0), 512);
    /* A wrapped job is never cut: the quantum changes nothing. */
    assert_int_equal(gd_tiling_auto_size(2048, 2048, 32, -1, 1, 16), 1024);
    /* Gigapixel: the partial tile hardly counts, the halo does. */
    assert_int_equal(gd_tiling_auto_size(40000, 30000, 32, -1, 0, 0), 1024);
    assert_int_equal(gd_tiling_auto_size(40000, 25000, 32, -1, 0, 16), 1024);
    /* Up to 1024 pixels a side, one untiled tile beats any grid. */
    assert_int_equal(gd_tiling_auto_size(800, 600, 32, -1, 0, 0), 1024);
    assert_int_equal(gd_tiling_auto_size(800, 600, 32, -1, 0, 16), 1024);
    /* Both untiled: a tie, the smaller. */
    assert_int_equal(gd_tiling_auto_size(500, 300, 32, -1, 1, 0), 512);

    /* Point 3 at the defaults (overlap 32, jitter = size, reflect, MobileNet
     * V1 to Conv2d_9_pointwise: stride 16, so the renderer cuts by 16), on
     * average over every jitter offset.  8192 x 8192 takes 1024 and sees at
     * most 1.15x its pixels (1.43x uncut).  2048 x 2048 takes 640: 1.30x
     * (1.98x uncut at 512); 512 would see 1.354x and 1024 1.21x, but 8 of
     * 1024's 9 extents need an engine of their own every iteration. */
    const int a2 = gd_tiling_auto_size(2048, 2048, 32, -1, 0, 16);
    assert_int_equal(a2, 640);
    assert_int_equal(gd_tiling_auto_size(8192, 8192, 32, -1, 0, 16), 1024);
    const double r2 = seen(2048, 2048, a2, 32, 0, 16, 1), r2s = seen(2048, 2048, 512, 32, 0, 16, 1),
                 r2l = seen(2048, 2048, 1024, 32, 0, 16, 1);
    const double r8 = seen(8192, 8192, 1024, 32, 0, 16, 1);
    printf("pixels seen per image pixel at tiles auto: 2048^2 %.4fx (tiles %d; %.4fx at 512, "
           "%.4fx at 1024), 8192^2 %.4fx (tiles 1024); uncut %.4fx, %.4fx\n",
           r2, a2, r2s, r2l, r8, seen(2048, 2048, 512, 32, 0, 0, 1),
           seen(8192, 8192, 1024, 32, 0, 0, 1));
    assert_true(r2 <= 1.35 && r2l <= r2 && r2 <= r2s);
    assert_true(r8 <= 1.15);

    /* Without cuts every extent is the full one, so the cost is the pixels
     * seen: whatever auto picks sees no more (on average over the jitter)
     * than the other size would. */
    static const int sides[][2] = {{2048, 2048}, {3000, 2000}, {1500, 1100}, {6000, 4000}};
    for (size_t k = 0; k < sizeof sides / sizeof sides[0]; k++)
        for (int torus = 0; torus < 2; torus++) {
            const int w = sides[k][0], h = sides[k][1];
            const int pick = gd_tiling_auto_size(w, h, 32, -1, torus, 0);
            const int other = pick == 512 ? 1024 : 512;
            const double a = seen(w, h, pick, 32, torus, 0, 7),
                         b = seen(w, h, other, 32, torus, 0, 7);
            if (a > b * 1.02)
                fail_msg("%dx%d %s: auto took %d (%.3fx pixels seen) over %d (%.3fx)", w, h,
                         torus ? "wrap" : "reflect", pick, a, other, b);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partition_of_unity_random),
        cmocka_unit_test(test_partition_of_unity_edges),
        cmocka_unit_test(test_known_geometry),
        cmocka_unit_test(test_ramp_close_to_linear),
        cmocka_unit_test(test_untiled_axes),
        cmocka_unit_test(test_cut_geometry),
        cmocka_unit_test(test_plan_rejects_bad_arguments),
        cmocka_unit_test(test_jitter_known_answer),
        cmocka_unit_test(test_jitter_deterministic_and_keyed),
        cmocka_unit_test(test_jitter_uniform),
        cmocka_unit_test(test_halo_rows),
        cmocka_unit_test(test_stride_check),
        cmocka_unit_test(test_torus),
        cmocka_unit_test(test_auto_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

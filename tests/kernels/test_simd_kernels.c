/*
 * test_simd_kernels.c: one ISA's kernel table (src/engine/simd/) called
 * directly on small tile shapes against the double-precision reference
 * (tests/support/ref_ops.c), in the layouts the table states (its cblk):
 * the 1x1 forward (whole and a row, with the 16 channels past the last
 * register group) and backward, the stride-2 and stride-1 depthwise
 * convolutions and the first convolution both ways, and the derivative
 * mask (backward references: the forward's terms summed in double, by
 * their adjoint).  Each
 * result within 1e-5 relative RMS of the reference and every element within
 * 1e-4 of the largest; derivative bits and masks exactly those of the
 * kernel's own outputs.
 *
 * The bf16 table (AVX-512-BF16: bf16 tensors, f32 sums, kernels_int.h)
 * is called the same way, its inputs and 1x1 weights made bf16 (the reference gets the
 * same bf16 values, in double): what is left is each output's one
 * rounding to bf16 when stored (8 significant bits), at most 2^-8 = 3.9e-3
 * of it and about 1e-3 relative RMS over many (f32 sums add 1e-6 at most
 * here), so the bounds are 2.5e-3 relative RMS and 4e-3 of the largest for
 * every element.  A pair summed with the wrong weight, a lost term or a
 * value rounded twice is off by far more.
 *
 * Plain C (no CMocka): it also runs under qemu-aarch64 for the NEON table,
 * cross-compiled by tests/kernels/neon.sh.  Usage: test_simd_kernels ISA
 * (AVX-512, AVX2 or NEON); exits 77 when this CPU lacks the ISA, 1 on a
 * failure.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels_int.h"
#include "ref_ops.h"

#define SKIP 77

static int failures;
static int bf16; /* the table's tensors are bf16 (kernels_int.h) */

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL: %s\n", what);
        failures++;
    }
}

/* A fixed LCG: the same numbers on every ISA. */
static uint64_t rng = 88172645463325252ull;
static float uniform(float lo, float hi)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((rng >> 40) / 16777216.0);
}

static void *alloc(size_t n)
{
    void *p = calloc(n, 1);
    if (!p) {
        printf("FAIL: out of memory\n");
        exit(1);
    }
    return p;
}

/* f32 -> bf16, nearest even (no NaNs here), and back. */
static uint16_t to_bf(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
static float from_bf(uint16_t b)
{
    const uint32_t u = (uint32_t)b << 16;
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* v as the table's tensors hold it (bf16 values for a bf16 table). */
static float rep(float v)
{
    return bf16 ? from_bf(to_bf(v)) : v;
}

/* A kernel's tensor of n elements (room for n floats, whatever the type):
 * element i set, read; a copy of n floats in the table's type. */
static void kset(float *k, size_t i, float v)
{
    if (bf16)
        ((uint16_t *)(void *)k)[i] = to_bf(v);
    else
        k[i] = v;
}
static float kget(const float *k, size_t i)
{
    return bf16 ? from_bf(((const uint16_t *)(const void *)k)[i]) : k[i];
}
static float *kcopy(const float *v, size_t n)
{
    float *k = alloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        kset(k, i, v[i]);
    return k;
}
static void kread(float *v, const float *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = kget(k, i);
}
/* The 1x1 kernel W[o][c] (wm) as the table takes it: forward [c][o] f32 or
 * bf16 [c / 2][o][2]; backward (fwd 0) [o][c] f32 or bf16 [o / 2][c][2]. */
static float *pw_weights(const float *wm, int c, int o, int fwd)
{
    float *k = alloc(sizeof(float) * c * o);
    for (int q = 0; q < o; q++)
        for (int ch = 0; ch < c; ch++) {
            const float v = wm[(size_t)q * c + ch];
            if (!bf16)
                k[fwd ? (size_t)ch * o + q : (size_t)q * c + ch] = v;
            else
                kset(k,
                     fwd ? ((size_t)(ch / 2) * o + q) * 2 + ch % 2
                         : ((size_t)(q / 2) * c + ch) * 2 + q % 2,
                     v);
        }
    return k;
}

/* A c x h x w tensor in blocks of B channels, dense rows, of the table's type. */
static eng_layout blocked(int B, int h, int w)
{
    return (eng_layout){.off0 = 0,
                        .sc = (int64_t)h * w * B,
                        .sy = (int64_t)w * B,
                        .sx = B,
                        .cblk = B,
                        .bf16 = bf16};
}

static size_t at(eng_layout l, int c, int y, int x)
{
    return (size_t)(l.off0 + c / l.cblk * l.sc + y * l.sy + x * l.sx + c % l.cblk);
}

/* Blocked floats -> NCHW doubles. */
static double *to_nchw(const float *v, eng_layout l, int c, int h, int w)
{
    double *d = alloc(sizeof(double) * c * h * w);
    for (int q = 0; q < c; q++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                d[((size_t)q * h + y) * w + x] = v[at(l, q, y, x)];
    return d;
}

/* got (blocked) against ref (NCHW): relative RMS <= 1e-5, worst <= 1e-4 of
 * the largest; 2.5e-3 and 4e-3 for a bf16 table (above). */
static void compare(const char *what, const float *got, eng_layout l, const double *ref, int c,
                    int h, int w)
{
    double num = 0, den = 0, worst = 0, big = 0;
    for (int q = 0; q < c; q++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const double r = ref[((size_t)q * h + y) * w + x], d = got[at(l, q, y, x)] - r;
                num += d * d;
                den += r * r;
                worst = fabs(d) > worst ? fabs(d) : worst;
                big = fabs(r) > big ? fabs(r) : big;
            }
    const double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    printf("%-34s %dx%dx%d: relative RMS %.2e, worst %.2e of the largest\n", what, c, h, w, rel,
           big > 0 ? worst / big : worst);
    char msg[128];
    snprintf(msg, sizeof msg, "%s: relative RMS %.2e or worst element off", what, rel);
    const double rms = bf16 ? 2.5e-3 : 1e-5, most = bf16 ? 4e-3 : 1e-4;
    check(big > 0 && rel <= rms && worst <= most * big, msg);
}

static int inside(float v, float lo, float hi)
{
    return v > lo && v < hi;
}

/* A ReLU6 kernel's mask: 1 exactly where its output y is inside (0, 6). */
static void check_mask(const char *what, const uint8_t *mask, const float *y, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += mask[i] != inside(y[i], 0, 6);
    if (bad)
        printf("%s: %d mask entries differ from the outputs'\n", what, bad);
    check(bad == 0, what);
}

/* A convolution node for the reference: weights [o][c / groups][k][k]. */
static gd_node conv_node(int c, int o, int k, int s, int groups, gd_act act, float *wts,
                         float *bias)
{
    gd_node n = gd_node_default(GD_OP_CONV, "k");
    n.n_inputs = 1;
    n.out_c = o;
    n.kh = n.kw = k;
    n.sh = n.sw = s;
    n.groups = groups;
    n.pad = GD_PAD_SAME;
    n.act = act;
    n.weights = wts;
    n.n_weights = (size_t)o * (c / groups) * k * k;
    n.bias = bias;
    n.n_bias = bias ? (size_t)o : 0;
    return n;
}

/* The 1x1 forward, whole and one row: C = 32 -> O = 48, ReLU6, a 5 x 7 tile. */
static void test_pw_fwd(const eng_kernels *k)
{
    const int B = k->cblk, C = 32, O = 48, H = 5, W = 7;
    const size_t hw = (size_t)H * W;
    eng_layout lx = blocked(B, H, W), ly = blocked(B, H, W);
    float *x = alloc(sizeof(float) * C * hw), *y = alloc(sizeof(float) * O * hw);
    float *wm = alloc(sizeof(float) * O * C), *yk = alloc(sizeof(float) * O * hw);
    float *bias = alloc(sizeof(float) * O), *rowk = alloc(sizeof(float) * O * W);
    uint16_t *bits = alloc(sizeof(uint16_t) * (O / 16) * hw);
    uint16_t *jbits = alloc(sizeof(uint16_t) * (C / 16) * hw);
    for (size_t i = 0; i < (size_t)C * hw; i++)
        x[i] = rep(uniform(-1, 7));
    for (int q = 0; q < O; q++) {
        bias[q] = uniform(-1, 1);
        for (int c = 0; c < C; c++)
            wm[(size_t)q * C + c] = rep(uniform(-0.5f, 0.5f));
    }
    float *xk = kcopy(x, (size_t)C * hw), *wt = pw_weights(wm, C, O, 1);
    eng_pw_fwd_args a = {.x = xk,
                         .wt = wt,
                         .bias = bias,
                         .y = yk,
                         .w = (size_t)W,
                         .bits = bits,
                         .jbits = jbits,
                         .lx = lx,
                         .ly = ly,
                         .o = O,
                         .c = C,
                         .hw = hw,
                         .hi = 6,
                         .jhi = 6};
    k->pw_fwd(&a);
    kread(y, yk, (size_t)O * hw);
    gd_node n = conv_node(C, O, 1, 1, 1, GD_ACT_RELU6, wm, bias);
    double *xd = to_nchw(x, lx, C, H, W), *ref = alloc(sizeof(double) * O * hw);
    gdref_conv(&n, (gd_shape){C, H, W}, xd, (gd_shape){O, H, W}, ref);
    compare("1x1 forward", y, ly, ref, O, H, W);
    int bad = 0;
    for (int q = 0; q < O; q++)
        for (size_t p = 0; p < hw; p++)
            bad += (bits[q / 16 * hw + p] >> (q % 16) & 1) !=
                   inside(y[at(ly, q, (int)(p / W), (int)(p % W))], 0, 6);
    for (int c = 0; c < C; c++)
        for (size_t p = 0; p < hw; p++)
            bad += (jbits[c / 16 * hw + p] >> (c % 16) & 1) !=
                   inside(x[at(lx, c, (int)(p / W), (int)(p % W))], 0, 6);
    check(bad == 0, "1x1 forward: derivative bits differ from the outputs'");
    /* Row 3 alone, into a row buffer: the same bytes. */
    k->pw_fwd_row(&a, 3, NULL, rowk, 0);
    eng_layout lr = blocked(B, 1, W);
    for (int q = 0; q < O; q++)
        for (int xx = 0; xx < W; xx++) {
            /* A row buffer holds floats whatever the table; rounded, the activation's bytes. */
            const float r = rep(rowk[at(lr, q, 0, xx)]);
            bad += memcmp(&r, &y[at(ly, q, 3, xx)], sizeof(float)) != 0;
        }
    check(bad == 0, "1x1 forward row: bytes differ from the whole forward's");
    free(x), free(y), free(wm), free(wt), free(bias), free(bits), free(jbits);
    free(xd), free(ref), free(xk), free(yk), free(rowk);
}

/* The 1x1 backward-data with its ReLU6's backward and the input's derivative bits:
 * O = 48 -> C = 32, a 3 x 13 tile (blocks and single pixels). */
static void test_pw_bwd(const eng_kernels *k)
{
    const int B = k->cblk, C = 32, O = 48, H = 3, W = 13;
    const size_t hw = (size_t)H * W;
    eng_layout lo = blocked(B, H, W), lc = blocked(B, H, W);
    float *dy = alloc(sizeof(float) * O * hw), *y = alloc(sizeof(float) * O * hw);
    float *dx = alloc(sizeof(float) * C * hw), *wm = alloc(sizeof(float) * O * C);
    float *wtr = alloc(sizeof(float) * C * O), *dxk = alloc(sizeof(float) * C * hw);
    uint16_t *jbits = alloc(sizeof(uint16_t) * (C / 16) * hw);
    for (size_t i = 0; i < (size_t)O * hw; i++) {
        dy[i] = rep(uniform(-1, 1));
        y[i] = rep(fminf(fmaxf(uniform(-0.5f, 6.5f), 0), 6));
    }
    for (size_t i = 0; i < (size_t)(C / 16) * hw; i++)
        jbits[i] = (uint16_t)(uniform(0, 65536));
    for (int q = 0; q < O; q++)
        for (int c = 0; c < C; c++)
            wtr[(size_t)c * O + q] = wm[(size_t)q * C + c] = rep(uniform(-0.5f, 0.5f));
    float *dyk = kcopy(dy, (size_t)O * hw), *yk = kcopy(y, (size_t)O * hw);
    float *wk = pw_weights(wm, C, O, 0);
    eng_pw_bwd_args a = {.dy = dyk,
                         .y = yk,
                         .w = wk,
                         .jbits = jbits,
                         .dx = dxk,
                         .ldy = lo,
                         .ly = lo,
                         .ldx = lc,
                         .o = O,
                         .c = C,
                         .hw = hw,
                         .hi = 6};
    k->pw_bwd(&a);
    kread(dx, dxk, (size_t)C * hw);
    /* Reference: the masked gradient through the transposed 1x1, then the input's bits. */
    double *g = alloc(sizeof(double) * O * hw), *ref = alloc(sizeof(double) * C * hw);
    for (int q = 0; q < O; q++)
        for (size_t p = 0; p < hw; p++) {
            const size_t i = at(lo, q, (int)(p / W), (int)(p % W));
            g[q * hw + p] = inside(y[i], 0, 6) ? dy[i] : 0.0;
        }
    gd_node n = conv_node(O, C, 1, 1, 1, GD_ACT_NONE, wtr, NULL);
    gdref_conv(&n, (gd_shape){O, H, W}, g, (gd_shape){C, H, W}, ref);
    for (int c = 0; c < C; c++)
        for (size_t p = 0; p < hw; p++)
            if (!(jbits[c / 16 * hw + p] >> (c % 16) & 1))
                ref[c * hw + p] = 0;
    compare("1x1 backward", dx, lc, ref, C, H, W);
    free(dy), free(y), free(dx), free(wm), free(wtr), free(jbits), free(g), free(ref);
    free(dxk), free(dyk), free(yk), free(wk);
}

/* The stride-2 depthwise forward from a ring of 1x1 rows: 32 channels,
 * 9 x 10 in (one padding row before, no column), ReLU6 and its mask. */
static void test_dw_fwd(const eng_kernels *k)
{
    const int B = k->cblk, O = 32, H1 = 9, W1 = 10, H2 = 5, W2 = 5;
    eng_layout l1 = blocked(B, H1, W1), l2 = blocked(B, H2, W2), lr = blocked(B, 1, W1);
    float *x = alloc(sizeof(float) * O * H1 * W1), *y = alloc(sizeof(float) * O * H2 * W2);
    float *ring = alloc(sizeof(float) * 3 * O * W1), *taps = alloc(sizeof(float) * 9 * O);
    float *wm = alloc(sizeof(float) * 9 * O), *bias = alloc(sizeof(float) * O);
    uint8_t *mask = alloc((size_t)O * H2 * W2);
    float *yk = alloc(sizeof(float) * O * H2 * W2);
    for (size_t i = 0; i < (size_t)O * H1 * W1; i++)
        x[i] = rep(uniform(0, 6));
    for (int q = 0; q < O; q++) {
        bias[q] = uniform(-1, 1);
        for (int t = 0; t < 9; t++)
            taps[t * O + q] = wm[q * 9 + t] = uniform(-1, 1);
    }
    gd_node n = conv_node(O, O, 3, 2, O, GD_ACT_RELU6, wm, bias);
    int pt, pb, pl, pr;
    gd_node_padding(&n, (gd_shape){O, H1, W1}, &pt, &pb, &pl, &pr);
    eng_dw_args a = {.h1 = H1,
                     .w1 = W1,
                     .o = O,
                     .h2 = H2,
                     .w2 = W2,
                     .pt = pt,
                     .pl = pl,
                     .taps = taps,
                     .bias = bias,
                     .lo = 0,
                     .hi = 6,
                     .y = yk,
                     .mask = mask,
                     .ly = l2};
    for (int oy = 0; oy < H2; oy++) {
        for (int iy = 2 * oy - pt; iy <= 2 * oy - pt + 2; iy++)
            if (iy >= 0 && iy < H1)
                for (int q = 0; q < O; q++)
                    for (int xx = 0; xx < W1; xx++)
                        ring[(size_t)(iy % 3) * W1 * O + at(lr, q, 0, xx)] = x[at(l1, q, iy, xx)];
        k->dw_fwd_row(&a, ring, oy);
    }
    kread(y, yk, (size_t)O * H2 * W2);
    double *xd = to_nchw(x, l1, O, H1, W1), *ref = alloc(sizeof(double) * O * H2 * W2);
    gdref_conv(&n, (gd_shape){O, H1, W1}, xd, (gd_shape){O, H2, W2}, ref);
    compare("stride-2 depthwise forward", y, l2, ref, O, H2, W2);
    check_mask("stride-2 depthwise forward", mask, y, (size_t)O * H2 * W2);
    free(x), free(y), free(ring), free(taps), free(wm), free(bias), free(mask), free(xd), free(ref);
    free(yk);
}

/* The stride-1 depthwise forward, a row at a time: 32 channels, 6 x 11, ReLU6. */
static void test_dw1_fwd(const eng_kernels *k)
{
    const int B = k->cblk, C = 32, H = 6, W = 11;
    eng_layout l = blocked(B, H, W), lr = blocked(B, 1, W);
    float *x = alloc(sizeof(float) * C * H * W), *y = alloc(sizeof(float) * C * H * W);
    float *row = alloc(sizeof(float) * C * W), *taps = alloc(sizeof(float) * 9 * C);
    float *wm = alloc(sizeof(float) * 9 * C), *bias = alloc(sizeof(float) * C);
    for (size_t i = 0; i < (size_t)C * H * W; i++)
        x[i] = rep(uniform(0, 6));
    for (int q = 0; q < C; q++) {
        bias[q] = uniform(-1, 1);
        for (int t = 0; t < 9; t++)
            taps[t * C + q] = wm[q * 9 + t] = uniform(-1, 1);
    }
    float *xk = kcopy(x, (size_t)C * H * W);
    eng_dw1_args a = {
        .h = H, .w = W, .c = C, .taps = taps, .bias = bias, .hi = 6, .x = xk, .lx = l};
    for (int yy = 0; yy < H; yy++) {
        k->dw1_fwd_row(&a, NULL, yy, row);
        for (int q = 0; q < C; q++)
            for (int xx = 0; xx < W; xx++)
                y[at(l, q, yy, xx)] = kget(row, at(lr, q, 0, xx));
    }
    gd_node n = conv_node(C, C, 3, 1, C, GD_ACT_RELU6, wm, bias);
    double *xd = to_nchw(x, l, C, H, W), *ref = alloc(sizeof(double) * C * H * W);
    gdref_conv(&n, (gd_shape){C, H, W}, xd, (gd_shape){C, H, W}, ref);
    compare("stride-1 depthwise forward", y, l, ref, C, H, W);
    free(x), free(y), free(row), free(taps), free(wm), free(bias), free(xd), free(ref), free(xk);
}

/* The first convolution: 3 planar channels, 6 x 26 -> 48 channels, 3 x 13
 * (a register block, the last column's padding, channels past the last
 * group, a row's tail), ReLU6 and its mask. */
static void test_stem_fwd(const eng_kernels *k)
{
    const int B = k->cblk, C = 3, O = 48, IH = 6, IW = 26, OH = 3, OW = 13;
    eng_layout lx = {.off0 = 0, .sc = IH * IW, .sy = IW, .sx = 1, .cblk = 1};
    eng_layout ly = blocked(B, OH, OW);
    float *x = alloc(sizeof(float) * C * IH * IW), *y = alloc(sizeof(float) * O * OH * OW);
    float *w = alloc(sizeof(float) * 9 * C * O), *wm = alloc(sizeof(float) * 9 * C * O);
    float *bias = alloc(sizeof(float) * O);
    uint8_t *mask = alloc((size_t)O * OH * OW);
    float *yk = alloc(sizeof(float) * O * OH * OW);
    for (size_t i = 0; i < (size_t)C * IH * IW; i++)
        x[i] = rep(uniform(-1, 1));
    float *xk = kcopy(x, (size_t)C * IH * IW);
    for (int q = 0; q < O; q++) {
        bias[q] = uniform(-0.5f, 0.5f);
        for (int c = 0; c < C; c++)
            for (int t = 0; t < 9; t++)
                w[((size_t)t * C + c) * O + q] = wm[((size_t)q * C + c) * 9 + t] = uniform(-1, 1);
    }
    eng_stem_fwd_args a = {.x = xk,
                           .w = w,
                           .bias = bias,
                           .y = yk,
                           .mask = mask,
                           .lx = lx,
                           .ly = ly,
                           .lm = ly,
                           .c = C,
                           .o = O,
                           .oh = OH,
                           .ow = OW,
                           .ih = IH,
                           .iw = IW,
                           .lo = 0,
                           .hi = 6};
    for (int oy = 0; oy < OH; oy++)
        k->stem_fwd_row(&a, oy, NULL, 1);
    kread(y, yk, (size_t)O * OH * OW);
    gd_node n = conv_node(C, O, 3, 2, 1, GD_ACT_RELU6, wm, bias);
    double *xd = alloc(sizeof(double) * C * IH * IW), *ref = alloc(sizeof(double) * O * OH * OW);
    for (size_t i = 0; i < (size_t)C * IH * IW; i++)
        xd[i] = x[i];
    gdref_conv(&n, (gd_shape){C, IH, IW}, xd, (gd_shape){O, OH, OW}, ref);
    compare("first convolution forward", y, ly, ref, O, OH, OW);
    check_mask("first convolution forward", mask, y, (size_t)O * OH * OW);
    free(x), free(y), free(w), free(wm), free(bias), free(mask), free(xd), free(ref), free(xk);
    free(yk);
}

/* The stride-2 depthwise backward-data into a row of the 1x1's gradient,
 * times its derivative bits: 32 channels, 9 x 10 <- 5 x 5.  Reference:
 * the adjoint of the forward's sum, term by term in double. */
static void test_dw_bwd(const eng_kernels *k)
{
    const int B = k->cblk, O = 32, H1 = 9, W1 = 10, H2 = 5, W2 = 5, pt = 1, pl = 0;
    const size_t hw = (size_t)H1 * W1, S = (size_t)eng_pwdw_stride(O);
    eng_layout l2 = blocked(B, H2, W2);
    float *g = alloc(sizeof(float) * O * H2 * W2), *taps = alloc(sizeof(float) * 9 * O);
    float *stage = alloc(sizeof(float) * S * W1), *got = alloc(sizeof(float) * O * hw);
    uint16_t *bits = alloc(sizeof(uint16_t) * (O / 16) * hw);
    for (size_t i = 0; i < (size_t)O * H2 * W2; i++)
        g[i] = rep(uniform(-1, 1));
    for (size_t i = 0; i < (size_t)9 * O; i++)
        taps[i] = uniform(-1, 1);
    for (size_t i = 0; i < (size_t)(O / 16) * hw; i++)
        bits[i] = (uint16_t)uniform(0, 65535);
    float *gk = kcopy(g, (size_t)O * H2 * W2);
    eng_dw_args a = {.h1 = H1,
                     .w1 = W1,
                     .o = O,
                     .h2 = H2,
                     .w2 = W2,
                     .pt = pt,
                     .pl = pl,
                     .taps = taps,
                     .g = gk,
                     .lg = l2,
                     .bits = bits};
    eng_layout l1 = blocked(B, H1, W1);
    for (int iy = 0; iy < H1; iy++) {
        k->dw_bwd_row(&a, iy, stage);
        for (int q = 0; q < O; q++)
            for (int x = 0; x < W1; x++)
                got[at(l1, q, iy, x)] = kget(stage, (size_t)x * S + q);
    }
    double *ref = alloc(sizeof(double) * O * hw);
    for (int q = 0; q < O; q++)
        for (int oy = 0; oy < H2; oy++)
            for (int ox = 0; ox < W2; ox++)
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        const int iy = 2 * oy - pt + ky, ix = 2 * ox - pl + kx;
                        if (iy >= 0 && iy < H1 && ix >= 0 && ix < W1)
                            ref[((size_t)q * H1 + iy) * W1 + ix] +=
                                (double)g[at(l2, q, oy, ox)] * taps[(ky * 3 + kx) * O + q];
                    }
    for (int q = 0; q < O; q++)
        for (size_t p = 0; p < hw; p++)
            if (!(bits[q / 16 * hw + p] >> (q % 16) & 1))
                ref[q * hw + p] = 0;
    compare("stride-2 depthwise backward", got, l1, ref, O, H1, W1);
    free(g), free(taps), free(stage), free(got), free(bits), free(ref), free(gk);
}

/* The stride-1 depthwise backward-data from a ring of gradient rows, times
 * the input's byte mask: 32 channels, 6 x 11. */
static void test_dw1_bwd(const eng_kernels *k)
{
    const int B = k->cblk, C = 32, H = 6, W = 11;
    eng_layout l = blocked(B, H, W), lr = blocked(B, 1, W);
    float *g = alloc(sizeof(float) * C * H * W), *gx = alloc(sizeof(float) * C * H * W);
    float *ring = alloc(sizeof(float) * 3 * C * W), *taps = alloc(sizeof(float) * 9 * C);
    uint8_t *mask = alloc((size_t)C * H * W);
    float *gxk = alloc(sizeof(float) * C * H * W);
    for (size_t i = 0; i < (size_t)C * H * W; i++) {
        g[i] = rep(uniform(-1, 1));
        mask[i] = uniform(0, 1) < 0.7f;
    }
    for (size_t i = 0; i < (size_t)9 * C; i++)
        taps[i] = uniform(-1, 1);
    eng_dw1_args a = {
        .h = H, .w = W, .c = C, .taps = taps, .hi = 6, .lx = l, .gx = gxk, .lgx = l, .mask = mask};
    for (int y = 0; y < H; y++) {
        for (int r = y - 1; r <= y + 1; r++)
            if (r >= 0 && r < H)
                for (int q = 0; q < C; q++)
                    for (int x = 0; x < W; x++)
                        ring[(size_t)(r % 3) * W * C + at(lr, q, 0, x)] = g[at(l, q, r, x)];
        k->dw1_bwd_row(&a, ring, y, NULL, 0, 0);
    }
    kread(gx, gxk, (size_t)C * H * W);
    double *ref = alloc(sizeof(double) * C * H * W);
    for (int q = 0; q < C; q++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        const int iy = y - 1 + ky, ix = x - 1 + kx;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                            ref[((size_t)q * H + iy) * W + ix] +=
                                (double)g[at(l, q, y, x)] * taps[(ky * 3 + kx) * C + q];
                    }
    for (int q = 0; q < C; q++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                if (!mask[at(l, q, y, x)])
                    ref[((size_t)q * H + y) * W + x] = 0;
    compare("stride-1 depthwise backward", gx, l, ref, C, H, W);
    free(g), free(gx), free(ring), free(taps), free(mask), free(ref), free(gxk);
}

/* The first convolution's backward-data into the (scaled) pixel gradient,
 * a row of Z at a time: 48 channels, 3 x 13 -> 3 channels, 6 x 26 (NHWC). */
static void test_stem_bwd(const eng_kernels *k)
{
    const int B = k->cblk, C = 3, O = 48, OH = 3, OW = 13, IH = 6, IW = 26;
    eng_layout lg = blocked(B, OH, OW);
    float *g = alloc(sizeof(float) * O * OH * OW), *w = alloc(sizeof(float) * O * ENG_STEM_Z);
    float *px = alloc(sizeof(float) * IH * IW * C), scale[3] = {0.5f, -2, 1.25f};
    float *zs = alloc(sizeof(float) * 2 * OW * ENG_STEM_Z), *z = zs, *zp = zs + OW * ENG_STEM_Z;
    for (size_t i = 0; i < (size_t)O * OH * OW; i++)
        g[i] = rep(uniform(-1, 1));
    for (int q = 0; q < O; q++)
        for (int t = 0; t < 9 * C; t++)
            w[(size_t)q * ENG_STEM_Z + t] = uniform(-1, 1);
    float *gk = kcopy(g, (size_t)O * OH * OW);
    eng_stem_bwd_args a = {
        .g = gk, .w = w, .scale = scale, .px = px, .lg = lg, .o = O, .c = C, .ow = OW, .iw = IW};
    for (int oy = 0; oy < OH; oy++) {
        k->stem_bwd_row(&a, oy, z, zp, 1);
        float *t = z;
        z = zp;
        zp = t;
    }
    double *ref = alloc(sizeof(double) * C * IH * IW);
    for (int q = 0; q < O; q++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++)
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++)
                        for (int ch = 0; ch < C; ch++) {
                            const int iy = 2 * oy + ky, ix = 2 * ox + kx;
                            if (iy < IH && ix < IW)
                                ref[((size_t)ch * IH + iy) * IW + ix] +=
                                    (double)g[at(lg, q, oy, ox)] * scale[ch] *
                                    w[(size_t)q * ENG_STEM_Z + (ky * 3 + kx) * C + ch];
                        }
    eng_layout lp = {.off0 = 0, .sc = 1, .sy = (int64_t)IW * C, .sx = C, .cblk = 1};
    compare("first convolution backward", px, lp, ref, C, IH, IW);
    free(g), free(w), free(px), free(zs), free(ref), free(gk);
}

/* The derivative mask of 200 floats (ReLU6): the first k the kernel takes. */
static void test_mask(const eng_kernels *k)
{
    float y[200], yk[200];
    uint8_t m[200];
    for (int i = 0; i < 200; i++)
        y[i] = rep(i % 7 == 0 ? (float)(i % 2) * 6 : uniform(-1, 7));
    for (int i = 0; i < 200; i++)
        kset(yk, (size_t)i, y[i]);
    const size_t n = k->mask(yk, bf16, 6, m, 200);
    int bad = n != 192;
    for (size_t i = 0; i < n; i++)
        bad += m[i] != inside(y[i], 0, 6);
    check(bad == 0, "mask: bytes differ from 0 < y < 6");
    printf("%-34s %zu of 200 elements, %s\n", "derivative mask", n, bad ? "WRONG" : "exact");
}

int main(int argc, char **argv)
{
    const char *isa = argc > 1 ? argv[1] : "";
    const eng_kernels *k = NULL;
    int have = 0;
#if defined(GD_TEST_X86)
    if (!strcmp(isa, "AVX-512")) {
        k = &eng_kernels_avx512;
        have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
    } else if (!strcmp(isa, "AVX2")) {
        k = &eng_kernels_avx2;
        have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    } else if (!strcmp(isa, "AVX-512-BF16")) {
        k = &eng_kernels_avx512bf16;
        have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("avx512bf16");
    }
#elif defined(GD_TEST_NEON)
    if (!strcmp(isa, "NEON")) {
        k = &eng_kernels_neon;
        have = 1;
    }
#endif
    if (!k) {
        printf("usage: test_simd_kernels ISA (no table '%s' in this build)\n", isa);
        return 1;
    }
    if (!have) {
        printf("this CPU has no %s: nothing to test\n", isa);
        return SKIP;
    }
    bf16 = k->bf16;
    printf("kernel table %s, %d-channel blocks, %s\n", k->isa, k->cblk, bf16 ? "bf16" : "f32");
    check(!strcmp(k->isa, isa), "the table names another ISA");
    test_pw_fwd(k);
    test_pw_bwd(k);
    test_dw_fwd(k);
    test_dw1_fwd(k);
    test_stem_fwd(k);
    test_dw_bwd(k);
    test_dw1_bwd(k);
    test_stem_bwd(k);
    test_mask(k);
    printf("%s\n", failures ? "FAILED" : "all kernels agree with the reference");
    return failures ? 1 : 0;
}

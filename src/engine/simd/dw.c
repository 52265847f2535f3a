/*
 * simd/dw.c: the 3x3 depthwise convolutions' row kernels, stride 2 (after
 * a 1x1) and stride 1 (before it), forward and backward-data (contracts in
 * kernels_int.h; the fused steps that run them a row at a time in
 * pwdw.c).  Every sum is bias first (forward), then the taps in (ky, kx)
 * order, skipping the padding.
 *
 * Each block of SIMD_CB channels is taken SIMD_W channels (one vector) at
 * a time, its 9 taps in 9 registers (off: channels into the block).
 * Activations and gradients are act_t (f32, or bf16 on the bf16 table,
 * summed in f32: simd_int.h); the rings' rows (the 1x1's activation, a
 * head's, the 1x1's gradient: never stored, so never rounded) and the taps
 * are floats either way.
 */
#include <stdint.h>

#include "simd_int.h"

/* The 9 taps of SIMD_W channels from c of a [9][channels] kernel. */
static inline void dw_taps_of(const float *taps, int channels, int c, vf w[9])
{
    for (int k = 0; k < 9; k++)
        w[k] = vf_load(taps + (size_t)k * channels + c);
}

/* [*x0, *x1) clipped to [0, n) (x0 <= x1). */
static inline void clip_range(int *x0, int *x1, int n)
{
    *x1 = *x1 < n ? *x1 : n;
    *x0 = *x0 < *x1 ? *x0 : *x1;
}

/* Output pixel ox, every tap checked (the row's edges). */
static inline vf dw_fwd_edge(const eng_dw_args *a, const float *const r[3], const vf *w, vf acc,
                             int ox)
{
    const int ix0 = 2 * ox - a->pl;
    for (int ky = 0; ky < 3; ky++) {
        if (!r[ky])
            continue;
        for (int kx = 0; kx < 3; kx++) {
            const int ix = ix0 + kx;
            if (ix >= 0 && ix < a->w1)
                acc = vf_fma(vf_load(r[ky] + (size_t)ix * SIMD_CB), w[ky * 3 + kx], acc);
        }
    }
    return acc;
}

/* Clipped, stored, and its mask on the way. */
static inline void dw_fwd_store(const eng_dw_args *a, int64_t at, vf acc)
{
    const vf zero = vf_zero(), hi = vf_set1(a->hi);
    acc = vf_min(vf_max(acc, vf_set1(a->lo)), hi);
    act_store((act_t *)a->y + at, acc);
    acc = act_round(acc);
    if (a->mask)
        vf_store_bytes(a->mask + at, vf_inside(acc, zero, hi));
}

/* Output row oy of the depthwise forward, from the ring's rows of the 1x1
 * activation (row r at ring + (r % 3) * w1 * o, [o / SIMD_CB][w1][SIMD_CB]): per
 * pixel, the bias, then the taps in (ky, kx) order, skipping the padding. */
void SIMD_FN(dw_fwd_row)(const eng_dw_args *a, const float *ring, int oy)
{
    const size_t row = (size_t)a->w1 * a->o;
    /* Pixels whose 3 columns are all inside: [x0, x1). */
    int x0 = (a->pl + 1) / 2, x1 = (a->w1 - 3 + a->pl) / 2 + 1;
    clip_range(&x0, &x1, a->w2);
    for (int cb = 0; cb < a->o / SIMD_CB; cb++)
        for (int off = 0; off < SIMD_CB; off += SIMD_W) {
            vf w[9];
            dw_taps_of(a->taps, a->o, cb * SIMD_CB + off, w);
            const vf b = vf_load(a->bias + cb * SIMD_CB + off);
            const float *r[3], *rv[3];
            const vf *wv[3];
            int nr = 0;
            for (int ky = 0; ky < 3; ky++) {
                int iy = 2 * oy - a->pt + ky;
                r[ky] = iy >= 0 && iy < a->h1
                            ? ring + (size_t)(iy % 3) * row + (size_t)cb * a->w1 * SIMD_CB + off
                            : NULL;
                if (r[ky]) {
                    rv[nr] = r[ky];
                    wv[nr++] = w + ky * 3;
                }
            }
            const int64_t at = a->ly.off0 + cb * a->ly.sc + (int64_t)oy * a->ly.sy + off;
            for (int ox = 0; ox < x0; ox++)
                dw_fwd_store(a, at + (int64_t)ox * SIMD_CB, dw_fwd_edge(a, r, w, b, ox));
            int ox = x0;
            for (; ox + 4 <= x1; ox += 4) {
                vf q0 = b, q1 = b, q2 = b, q3 = b;
                for (int k = 0; k < nr; k++) {
                    const float *s = rv[k] + (size_t)(2 * ox - a->pl) * SIMD_CB;
                    for (int kx = 0; kx < 3; kx++) {
                        const vf t = wv[k][kx];
                        q0 = vf_fma(vf_load(s + (0 + kx) * SIMD_CB), t, q0);
                        q1 = vf_fma(vf_load(s + (2 + kx) * SIMD_CB), t, q1);
                        q2 = vf_fma(vf_load(s + (4 + kx) * SIMD_CB), t, q2);
                        q3 = vf_fma(vf_load(s + (6 + kx) * SIMD_CB), t, q3);
                    }
                }
                dw_fwd_store(a, at + (int64_t)ox * SIMD_CB, q0);
                dw_fwd_store(a, at + (int64_t)(ox + 1) * SIMD_CB, q1);
                dw_fwd_store(a, at + (int64_t)(ox + 2) * SIMD_CB, q2);
                dw_fwd_store(a, at + (int64_t)(ox + 3) * SIMD_CB, q3);
            }
            for (; ox < a->w2; ox++)
                dw_fwd_store(a, at + (int64_t)ox * SIMD_CB, dw_fwd_edge(a, r, w, b, ox));
        }
}

/* Input column ix's gradient, every tap checked (the edges). */
static inline vf dw_bwd_edge(const eng_dw_args *a, const act_t *const g[3], const vf *w, int ix)
{
    vf acc = vf_zero();
    for (int ky = 0; ky < 3; ky++) {
        if (!g[ky])
            continue;
        for (int kx = 0; kx < 3; kx++) {
            const int u = ix + a->pl - kx;
            if (u >= 0 && u % 2 == 0 && u / 2 < a->w2)
                acc = vf_fma(act_load(g[ky] + (size_t)(u / 2) * SIMD_CB), w[ky * 3 + kx], acc);
        }
    }
    return acc;
}

/* Row iy of the 1x1 activation's gradient, pixel-major in stage
 * (eng_pwdw_stride(o) floats a pixel): the depthwise backward-data of d's
 * gradient, summed over the taps (ky, kx) that reach each pixel in that
 * order, times the 1x1 activation's derivative. */
void SIMD_FN(dw_bwd_row)(const eng_dw_args *a, int iy, float *restrict stage)
{
    const size_t hw = (size_t)a->h1 * a->w1, S = (size_t)eng_pwdw_stride(a->o);
    /* Kernel rows reaching row iy: oy = (iy + pt - ky) / 2 when whole and inside. */
    int oy[3];
    for (int ky = 0; ky < 3; ky++) {
        int t = iy + a->pt - ky;
        oy[ky] = t >= 0 && t % 2 == 0 && t / 2 < a->h2 ? t / 2 : -1;
    }
    /* Columns whose taps all land inside: u = ix + pl in [2, 2 w2), starting even. */
    int x0 = 2 - a->pl, x1 = 2 * a->w2 - a->pl;
    clip_range(&x0, &x1, a->w1);
    for (int cb = 0; cb < a->o / SIMD_CB; cb++)
        for (int off = 0; off < SIMD_CB; off += SIMD_W) {
            const int c = cb * SIMD_CB + off;
            vf w[9];
            dw_taps_of(a->taps, a->o, cb * SIMD_CB + off, w);
            const act_t *g[3], *gv[3];
            const vf *wv[3];
            int nr = 0;
            for (int ky = 0; ky < 3; ky++) {
                g[ky] = oy[ky] >= 0 ? (const act_t *)a->g + a->lg.off0 + cb * a->lg.sc +
                                          (int64_t)oy[ky] * a->lg.sy + off
                                    : NULL;
                if (g[ky]) {
                    gv[nr] = g[ky];
                    wv[nr++] = w + ky * 3;
                }
            }
            const uint16_t *bits = a->bits + c / 16 * hw + (size_t)iy * a->w1;
            act_t *out = (act_t *)stage + c;
            for (int ix = 0; ix < x0; ix++)
                act_store(out + (size_t)ix * S,
                          vf_keep(simd_bits(bits[ix], c), dw_bwd_edge(a, g, w, ix)));
            int ix = x0;
            /* Pairs: ix (u even) takes kx 0 at u / 2 and kx 2 at u / 2 - 1;
             * ix + 1 (u odd) takes kx 1 at u / 2. */
            for (; ix + 4 <= x1; ix += 4) {
                const int u = (ix + a->pl) / 2;
                vf q0 = vf_zero(), q1 = q0, q2 = q0, q3 = q0;
                for (int k = 0; k < nr; k++) {
                    const act_t *s = gv[k] + (size_t)(u - 1) * SIMD_CB;
                    const vf s0 = act_load(s), s1 = act_load(s + SIMD_CB),
                             s2 = act_load(s + 2 * SIMD_CB);
                    q0 = vf_fma(s1, wv[k][0], q0);
                    q0 = vf_fma(s0, wv[k][2], q0);
                    q1 = vf_fma(s1, wv[k][1], q1);
                    q2 = vf_fma(s2, wv[k][0], q2);
                    q2 = vf_fma(s1, wv[k][2], q2);
                    q3 = vf_fma(s2, wv[k][1], q3);
                }
                act_store(out + (size_t)ix * S, vf_keep(simd_bits(bits[ix], c), q0));
                act_store(out + (size_t)(ix + 1) * S, vf_keep(simd_bits(bits[ix + 1], c), q1));
                act_store(out + (size_t)(ix + 2) * S, vf_keep(simd_bits(bits[ix + 2], c), q2));
                act_store(out + (size_t)(ix + 3) * S, vf_keep(simd_bits(bits[ix + 3], c), q3));
            }
            for (; ix < a->w1; ix++)
                act_store(out + (size_t)ix * S,
                          vf_keep(simd_bits(bits[ix], c), dw_bwd_edge(a, g, w, ix)));
        }
}

/*
 * Four output pixels x .. x + 3 of a 3x3 stride-1 sum over rows r[0..2]
 * (NULL: outside), every column inside: q[k] += r[ky][x + k + dir (kx - 1)]
 * w[ky * 3 + kx] in (ky, kx) order; dir 1 is the forward's correlation,
 * -1 the backward-data's.
 */
static inline __attribute__((always_inline)) vf s1_load(const void *row, size_t at,
                                                        const int f32rows)
{
    return f32rows ? vf_load((const float *)row + at) : act_load((const act_t *)row + at);
}

static inline __attribute__((always_inline)) void
s1_four(const void *const r[3], const vf w[9], int x, const int dir, const int f32rows, vf q[4])
{
    for (int ky = 0; ky < 3; ky++) {
        if (!r[ky])
            continue;
        for (int kx = 0; kx < 3; kx++) {
            const size_t s = (size_t)(x + dir * (kx - 1)) * SIMD_CB;
            const vf t = w[ky * 3 + kx];
            q[0] = vf_fma(s1_load(r[ky], s, f32rows), t, q[0]);
            q[1] = vf_fma(s1_load(r[ky], s + SIMD_CB, f32rows), t, q[1]);
            q[2] = vf_fma(s1_load(r[ky], s + 2 * SIMD_CB, f32rows), t, q[2]);
            q[3] = vf_fma(s1_load(r[ky], s + 3 * SIMD_CB, f32rows), t, q[3]);
        }
    }
}

/* One output pixel x, columns checked against [0, w). */
static inline __attribute__((always_inline)) vf s1_one(const void *const r[3], const vf w[9], int x,
                                                       int width, const int dir, const int f32rows,
                                                       vf q)
{
    for (int ky = 0; ky < 3; ky++) {
        if (!r[ky])
            continue;
        for (int kx = 0; kx < 3; kx++) {
            const int u = x + dir * (kx - 1);
            if (u >= 0 && u < width)
                q = vf_fma(s1_load(r[ky], (size_t)u * SIMD_CB, f32rows), w[ky * 3 + kx], q);
        }
    }
    return q;
}

/* One channel vector of j's row from rows r (f32rows: a ring's floats,
 * else act_t) into out: bias b, taps w, clipped. */
static inline __attribute__((always_inline)) void dw1_fwd_vec(const eng_dw1_args *a,
                                                              const void *const r[3], const vf w[9],
                                                              vf b, act_t *out, const int f32rows)
{
    const vf zero = vf_zero(), hi = vf_set1(a->hi);
    int x = 0;
    for (; x < 1 && x < a->w; x++)
        act_store(out, vf_min(vf_max(s1_one(r, w, 0, a->w, 1, f32rows, b), zero), hi));
    for (; x + 4 <= a->w - 1; x += 4) {
        vf q[4] = {b, b, b, b};
        s1_four(r, w, x, 1, f32rows, q);
        for (int k = 0; k < 4; k++)
            act_store(out + (size_t)(x + k) * SIMD_CB, vf_min(vf_max(q[k], zero), hi));
    }
    for (; x < a->w; x++)
        act_store(out + (size_t)x * SIMD_CB,
                  vf_min(vf_max(s1_one(r, w, x, a->w, 1, f32rows, b), zero), hi));
}

/* Row y of j's activation into xrow ([c / SIMD_CB][w][SIMD_CB]): bias, taps, clip;
 * its input's rows from s's activation or, when set, the head's ring (row
 * r at ring + (r % 3) * w * c, [c / SIMD_CB][w][SIMD_CB], floats). */
void SIMD_FN(dw1_fwd_row)(const eng_dw1_args *a, const float *ring, int y, float *restrict xrow)
{
    for (int cb = 0; cb < a->c / SIMD_CB; cb++)
        for (int off = 0; off < SIMD_CB; off += SIMD_W) {
            vf w[9];
            dw_taps_of(a->taps, a->c, cb * SIMD_CB + off, w);
            const vf b = vf_load(a->bias + cb * SIMD_CB + off);
            const void *r[3];
            for (int ky = 0; ky < 3; ky++) {
                const int iy = y - 1 + ky;
                if (iy < 0 || iy >= a->h)
                    r[ky] = NULL;
                else if (ring)
                    r[ky] = ring + ((size_t)(iy % 3) * a->c + (size_t)cb * SIMD_CB) * a->w + off;
                else
                    r[ky] = (const act_t *)a->x + a->lx.off0 + cb * a->lx.sc +
                            (int64_t)iy * a->lx.sy + off;
            }
            act_t *out = (act_t *)xrow + (size_t)cb * a->w * SIMD_CB + off;
            if (ring)
                dw1_fwd_vec(a, r, w, b, out, 1);
            else
                dw1_fwd_vec(a, r, w, b, out, 0);
        }
}

/* Row y of s's gradient: j's backward-data from the ring's rows of j's
 * gradient (row r at ring + (r % 3) * w * c, [c / SIMD_CB][w][SIMD_CB], floats), times s's
 * derivative; stored, or, when out is set, put there for a head's backward:
 * pixel x's channel block cb at out + x * px + cb * cs. */
void SIMD_FN(dw1_bwd_row)(const eng_dw1_args *a, const float *ring, int y, float *restrict out,
                          size_t px, size_t cs)
{
    const size_t row = (size_t)a->w * a->c;
    const uint16_t *bits = a->bits ? a->bits + (size_t)y * a->w : NULL;
    for (int cb = 0; cb < a->c / SIMD_CB; cb++)
        for (int off = 0; off < SIMD_CB; off += SIMD_W) {
            vf w[9];
            dw_taps_of(a->taps, a->c, cb * SIMD_CB + off, w);
            const void *r[3];
            for (int ky = 0; ky < 3; ky++) {
                const int gy = y + 1 - ky;
                r[ky] = gy >= 0 && gy < a->h
                            ? ring + (size_t)(gy % 3) * row + (size_t)cb * a->w * SIMD_CB + off
                            : NULL;
            }
            const int64_t at = a->lgx.off0 + cb * a->lgx.sc + (int64_t)y * a->lgx.sy + off;
            const int64_t am = a->lx.off0 + cb * a->lx.sc + (int64_t)y * a->lx.sy + off;
            vf q[4];
            for (int x = 0; x < a->w;) {
                int n = 1;
                if (x >= 1 && x + 4 <= a->w - 1) {
                    q[0] = q[1] = q[2] = q[3] = vf_zero();
                    s1_four(r, w, x, -1, 1, q);
                    n = 4;
                } else {
                    q[0] = s1_one(r, w, x, a->w, -1, 1, vf_zero());
                }
                for (int k = 0; k < n; k++, x++) {
                    vf v = q[k];
                    const int c = cb * SIMD_CB + off;
                    if (bits)
                        v = vf_keep(simd_bits(bits[(size_t)(c / 16) * a->h * a->w + x], c), v);
                    else if (a->mask)
                        v = vf_keep(vf_bytes_bits(a->mask + am + (int64_t)x * SIMD_CB), v);
                    if (out)
                        act_store((act_t *)out + (size_t)x * px + cb * cs + off, v);
                    else
                        act_store((act_t *)a->gx + at + (int64_t)x * SIMD_CB, v);
                }
            }
        }
}

/*
 * kernels_int.h: the seam between the engine's plan and its hand-written
 * kernels: what each kernel reads and writes (one struct per kernel, filled
 * from the plan by the step that runs it), and the table of kernel
 * functions one ISA provides.
 *
 * The kernels (src/engine/simd/) see this header only: no gd_engine, no
 * oneDNN.  CMake compiles them once per ISA with that ISA's flags, so the
 * compiler may use its instructions anywhere in those objects; their
 * functions are therefore reached only through the table kernels.c picked
 * for this CPU when the engine was created (gd_engine.kern), never by name
 * from the rest of the engine.  A NULL table means no own kernels: every
 * layer runs on oneDNN.
 *
 * Every kernel sums in a fixed order that does not depend on the thread
 * count or on how rows are split between threads (contracts below and in
 * the steps that call them: mask.c, pw.c, pwdw.c, stem.c).
 *
 * The kernels address channel-blocked f32 layouts, B = eng_kernels.cblk
 * channels a block: the block oneDNN itself picks on that ISA (16 on
 * AVX-512, 8 on AVX2; 8 on NEON), so the layers around ours need no
 * reorders; the steps' planners ask for it (eng_blocked).  Derivative bits
 * are [C / 16][pixels] uint16_t words whatever B: channel c is bit c % 16
 * of word c / 16.  Row buffers below are [C / B][w][B].
 *
 * A bf16 table (eng_kernels.bf16) runs a bf16 engine: the nodes'
 * activations and gradients its kernels read or write are bf16 (uint16_t,
 * oneDNN's bf16; their layouts say bf16), and so are the rows the 1x1
 * kernels take (xrow, and the stages, pixel-major as in f32 with the
 * stride counted in elements), the pointers typed float * only to keep one
 * set of structs; but the rings and rows that hold a step's tensors that
 * are never stored (yrow, dxrow, a ring of three, a first convolution's
 * dst: rows of the 1x1's activation, of a head's, of the 1x1's gradient)
 * stay floats, unrounded, so the depthwise kernels read them without
 * conversions.  Sums are f32.  A
 * 1x1's weights are bf16 in channel pairs, the pairs vdpbf16ps takes:
 * forward wt [C / 2][O][2], backward w [O / 2][C][2] (own.c prepares
 * both); the depthwise and first convolution's weights stay f32.
 */
#ifndef GIGADREAM_ENGINE_KERNELS_INT_H
#define GIGADREAM_ENGINE_KERNELS_INT_H

#include <stddef.h>
#include <stdint.h>

/* A 4-D layout our loops can address: element (c, y, x) at
 * off0 + (c / cblk) * sc + y * sy + x * sx + c % cblk, in elements. */
typedef struct eng_layout {
    int64_t off0, sc, sy, sx; /* sc: stride between channel blocks */
    int cblk;                 /* channels per innermost block (1 = plain) */
    int bf16;                 /* elements are bf16 (uint16_t), else f32 */
} eng_layout;

#define ENG_PW_MAX_O 1024  /* most output channels of an own 1x1 (its staged gradient) */
#define ENG_PWDW_MAX_O 256 /* most channels a fused step's 1x1 may read and write */
/* Floats between staged pixels of a fused step's 1x1 backward for O
 * channels: O rounded up to 64, 128 or 256, plus 16 (rows not a multiple
 * of 4 KB apart). */
#define ENG_PWDW_STRIDE_64 80
#define ENG_PWDW_STRIDE_128 144
#define ENG_PWDW_STRIDE_256 272
static inline int eng_pwdw_stride(int o)
{
    return o <= 64 ? ENG_PWDW_STRIDE_64 : o <= 128 ? ENG_PWDW_STRIDE_128 : ENG_PWDW_STRIDE_256;
}
#define ENG_STEM_Z                                                                                 \
    32 /* floats of Z per pixel in the first convolution's backward: 27 taps, padded */

/*
 * The 1x1 convolution i's forward (pw.c, pwdw.c): y = clip(bias + x W),
 * for each output element the bias, then x[c] W[c][o] for c in order,
 * clipped to [0, hi], and i's derivative written as bits on the way.
 */
typedef struct eng_pw_fwd_args {
    const float *x, *wt, *bias; /* j's activation (C), weights [C][O], bias [O] */
    const float *xrow;          /* or, when set, one row of it, laid out as yrow */
    float *y;                   /* i's activation (O) */
    float *yrow;                /* or, when set, one row of it: [O / B][w][B] from pixel row0 */
    size_t row0, w;
    uint16_t *bits;  /* its derivative, [O / 16][hw], or NULL: not kept */
    uint16_t *jbits; /* j's derivative, [C / 16][hw], or NULL */
    eng_layout lx, ly;
    int o, c;
    size_t hw;
    float hi, jhi; /* 6 (relu6) or infinity (relu): i's, j's */
} eng_pw_fwd_args;

/*
 * The 1x1 convolution i's backward-data with its own ReLU / ReLU6 backward
 * (pw.c, pwdw.c): dx[c] = sum over o = 0..O-1, in that order, of
 * (dy[o] times i's derivative) W[o][c] (fused multiply-adds), times the
 * input's derivative where it is folded.
 */
typedef struct eng_pw_bwd_args {
    const float *dy, *y, *w; /* i's gradient, activation (O channels), weights [O][C] */
    const uint16_t *bits;    /* i's derivative as bits ([O / 16][hw]), or NULL: from y */
    const uint8_t *mask;     /* input j's derivative (dx's layout), or NULL */
    const uint16_t *jbits;   /* or as bits ([C / 16][hw]), or NULL */
    float *dx;               /* j's gradient (C channels) */
    float *dxrow;            /* or, when set, one row of it: [C / B][rw][B] from pixel row0 */
    size_t row0, rw;
    eng_layout ldy, ly, ldx;
    int o, c;
    size_t hw; /* pixels */
    float hi;
} eng_pw_bwd_args;

/* The stride-2 3x3 depthwise convolution d read from 1x1 node p, both
 * directions (pwdw.c). */
typedef struct eng_dw_args {
    int h1, w1, o; /* the 1x1 layer's rows, columns, channels */
    int h2, w2;    /* the depthwise layer's */
    int pt, pl;    /* its padding before */
    const float *taps, *bias;
    float lo, hi;  /* the activation's clip (-inf, inf for none) */
    float *y;      /* d's activation, layout ly */
    uint8_t *mask; /* its byte mask (same layout), or NULL */
    eng_layout ly;
    const float *g; /* d's gradient, layout lg */
    eng_layout lg;
    const uint16_t *bits; /* p's derivative bits, [o / 16][h1 * w1] */
} eng_dw_args;

/* The stride-1 3x3 depthwise convolution j before the 1x1, both directions
 * (pwdw.c: fuse_fwd.pre, fuse_bwd.pre). */
typedef struct eng_dw1_args {
    int h, w, c; /* j's rows, columns, channels (= its input s's) */
    const float *taps, *bias;
    float hi;       /* ReLU6: 6, ReLU: infinity */
    const float *x; /* s's activation, layout lx (unless a head makes its rows) */
    eng_layout lx;
    float *gx; /* s's gradient, layout lgx (unless a head takes its rows) */
    eng_layout lgx;
    const uint8_t *mask;  /* s's derivative as bytes (s's activation layout), */
    const uint16_t *bits; /* or as bits ([c / 16][h * w]), or neither */
} eng_dw1_args;

/* The first convolution's forward (stem.c, pwdw.c): 3x3 stride 2 over the
 * planar input, bias first, then the 9 c taps in order, clipped. */
typedef struct eng_stem_fwd_args {
    const float *x, *w, *bias; /* node 0 (planar), weights [9 c][o], bias [o] */
    float *y;                  /* i's activation, layout ly */
    uint8_t *mask;             /* its derivative (i's activation layout lm), or NULL */
    eng_layout lx, ly, lm;
    int c, o, oh, ow, ih, iw;
    float lo, hi; /* the activation's clip: [0, 6], [0, inf) or none */
} eng_stem_fwd_args;

/* The first convolution's backward-data into the pixel gradient (stem.c,
 * pwdw.c): per output row oy, Z[ox][t] = sum over o of g[o][oy][ox] W[o][t],
 * gathered into image rows 2 oy and 2 oy + 1 (see stem.c). */
typedef struct eng_stem_bwd_args {
    const float *g, *w, *scale; /* node i's gradient, weights [o][ENG_STEM_Z], per channel scale */
    float *px;                  /* pixel gradient, NHWC */
    eng_layout lg;
    int o, c, ow, iw;
} eng_stem_bwd_args;

/*
 * One ISA's kernels.  Rows are output rows of the layer named; a "row"
 * kernel touches that row only (and the derivative bits or mask of it), so
 * callers may split rows between threads.
 */
typedef struct eng_kernels {
    const char *isa; /* "AVX-512", "AVX2", "NEON", "AVX-512-BF16": messages, checkpoints */
    int cblk;        /* B: channels a layout block (16, 8) */
    int bf16;        /* its tensors are bf16 (above), for a bf16 engine; else f32 */
    /* Elements [0, k) of the ReLU / ReLU6 derivative mask of y (f32, or
     * bf16 when bf16) into m (1 or 0, y in (0, hi)), threaded; returns k,
     * the caller does the rest. */
    size_t (*mask)(const void *y, int bf16, float hi, uint8_t *m, size_t n);
    /* The whole 1x1 forward, threaded. */
    void (*pw_fwd)(const eng_pw_fwd_args *a);
    /* Row y of it from src (NULL: from a->x) into dst, the bits kept only
     * when keep_bits. */
    void (*pw_fwd_row)(const eng_pw_fwd_args *a, int y, const float *src, float *dst,
                       int keep_bits);
    /* The whole 1x1 backward, threaded. */
    void (*pw_bwd)(const eng_pw_bwd_args *a);
    /* Row y of it from stage (the row's gradient times i's derivative,
     * pixel-major, eng_pwdw_stride(O) floats a pixel) into a->dx or, when
     * dst is set, into dst ([C / B][w][B]). */
    void (*pw_bwd_row)(const eng_pw_bwd_args *a, int y, const float *stage, float *dst);
    /* Output row oy of the stride-2 depthwise from a ring of three 1x1 rows
     * (row r at ring + (r % 3) * w1 * o, [o / B][w1][B]). */
    void (*dw_fwd_row)(const eng_dw_args *a, const float *ring, int oy);
    /* Row iy of the 1x1 activation's gradient from d's, times the 1x1's
     * derivative, pixel-major into stage (eng_pwdw_stride(o) floats a pixel). */
    void (*dw_bwd_row)(const eng_dw_args *a, int iy, float *stage);
    /* Row y of j's activation into xrow ([c / B][w][B]), its input's rows
     * from a->x or, when ring is set, from a head's ring of three. */
    void (*dw1_fwd_row)(const eng_dw1_args *a, const float *ring, int y, float *xrow);
    /* Row y of s's gradient from a ring of three rows of j's, times s's
     * derivative; into a->gx or, when out is set, pixel x's channel block
     * cb at out + x * px + cb * cs. */
    void (*dw1_bwd_row)(const eng_dw1_args *a, const float *ring, int y, float *out, size_t px,
                        size_t cs);
    /* Output row oy of the first convolution into a->y or, when dst is
     * set, into dst ([O / B][ow][B]), its mask written only when
     * keep_mask. */
    void (*stem_fwd_row)(const eng_stem_fwd_args *a, int oy, float *dst, int keep_mask);
    /* Row oy's Z (ow x ENG_STEM_Z floats) into z and, when write, image
     * rows 2 oy and 2 oy + 1 of the pixel gradient (zp: row oy - 1's Z,
     * read when oy > 0). */
    void (*stem_bwd_row)(const eng_stem_bwd_args *a, int oy, float *z, const float *zp, int write);
} eng_kernels;

/* The tables CMake built (kernels.c says which). */
extern const eng_kernels eng_kernels_avx512; /* simd/: AVX-512 F, BW, VL with FMA */
extern const eng_kernels eng_kernels_avx2;   /* simd/: AVX2 with FMA */
extern const eng_kernels eng_kernels_neon;   /* simd/: AArch64 NEON */
/* simd/: AVX-512 with BF16, for bf16 engines (pw_bf16.c for the 1x1s) */
extern const eng_kernels eng_kernels_avx512bf16;

#endif

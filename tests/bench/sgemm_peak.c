/*
 * sgemm_peak.c: the machine's single-precision matrix multiply peak, the
 * yardstick of scripts/bench.sh (issue 6): OpenBLAS cblas_sgemm on N x N
 * matrices, C = A * B, 2 * N^3 FLOPs per call; one warm-up call, then the
 * best and the median of R timed calls.
 *
 *   sgemm_peak [N]... [--reps R]        (default: 2048 4096, R = 10)
 *
 * Threads: OpenBLAS's own, OPENBLAS_NUM_THREADS (bench.sh sets 2).  Prints
 * one line per size:
 *   sgemm N=2048 threads=2 core=Cooperlake reps=10 best 195.4 GFLOP/s median 193.6 GFLOP/s
 * Not linked with gigadream; built only when OpenBLAS is found
 * (tests/CMakeLists.txt), or directly: cc -O2 sgemm_peak.c -lopenblas.
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *matrix(size_t n, unsigned seed)
{
    float *m = NULL;
    if (posix_memalign((void **)&m, 64, n * n * sizeof(float)) != 0)
        return NULL;
    for (size_t i = 0; i < n * n; i++) {
        seed = seed * 1664525u + 1013904223u;
        m[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
    return m;
}

static int run(int n, int reps)
{
    float *a = matrix((size_t)n, 1), *b = matrix((size_t)n, 2), *c = matrix((size_t)n, 3);
    double *t = calloc((size_t)reps, sizeof *t);
    if (!a || !b || !c || !t) {
        fprintf(stderr, "sgemm_peak: out of memory for N=%d\n", n);
        return 1;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                n); /* warm-up: threads started, pages touched */
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                    n);
        t[r] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    double flops = 2.0 * (double)n * n * n;
    double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    printf("sgemm N=%d threads=%d core=%s reps=%d best %.1f GFLOP/s median %.1f GFLOP/s\n", n,
           openblas_get_num_threads(), openblas_get_corename(), reps, flops / t[0] / 1e9,
           flops / med / 1e9);
    fflush(stdout);
    free(a);
    free(b);
    free(c);
    free(t);
    return 0;
}

int main(int argc, char **argv)
{
    int sizes[16], n_sizes = 0, reps = 10;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: sgemm_peak [N]... [--reps R]   (default 2048 4096, R = 10)\n");
            return 0;
        } else if (argv[i][0] != '-' && atoi(argv[i]) > 0 && n_sizes < 16) {
            sizes[n_sizes++] = atoi(argv[i]);
        } else {
            fprintf(stderr, "sgemm_peak: bad argument '%s' (try --help)\n", argv[i]);
            return 1;
        }
    }
    if (reps < 1) {
        fprintf(stderr, "sgemm_peak: --reps must be >= 1\n");
        return 1;
    }
    if (n_sizes == 0) {
        sizes[n_sizes++] = 2048;
        sizes[n_sizes++] = 4096;
    }
    for (int i = 0; i < n_sizes; i++)
        if (run(sizes[i], reps) != 0)
            return 1;
    return 0;
}

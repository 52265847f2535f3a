/*
 * bench_checkpoint.c: what a checkpoint of a large octave costs: size, write
 * time (collective HDF5 write, fsync, rename, retention), the time to find
 * and validate it (Fletcher32 check of every chunk) and to read it back,
 * from a cold page cache.
 *
 *   mpirun -n 2 bench_checkpoint DIR [WIDTH HEIGHT [REPEATS]]
 *
 * Defaults: 12500 x 8000 (100 megapixels, 1.2 GB of float RGB), 3 repeats.
 * DIR must exist; the benchmark leaves at most two checkpoints there
 * (keep = 2) and removes them at the end.  Times are the slowest rank's.
 * scripts/bench-checkpoint.sh runs it from a Release build.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gigadream/checkpoint.h"
#include "gigadream/dist.h"
#include "gigadream/job.h"

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* Drops path's pages from the page cache, so the next read comes from the disk. */
static void uncache(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

/* The test pattern: every sample differs from its neighbours, and rows differ. */
static float value(int x, int y)
{
    return (float)((x * 7 + y * 13) % 4099) + (float)(y % 97) * 0.125f;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        if ((st = (call)) != GD_OK) {                                                              \
            if (rank == 0)                                                                         \
                fprintf(stderr, "bench_checkpoint: %s\n", err.msg);                                \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* Collective: seconds since t0, the slowest rank's. */
static double elapsed(gd_dist *d, double t0)
{
    gd_err err;
    double mx = 0;
    gd_dist_max(d, gd_dist_now() - t0, &mx, &err);
    return mx;
}

int main(int argc, char **argv)
{
    gd_err err;
    gd_dist *d = NULL;
    gd_job job = {0};
    gd_image band = {0};
    gd_status st = gd_dist_init(&argc, &argv, &d, &err);
    if (st != GD_OK) {
        fprintf(stderr, "bench_checkpoint: %s\n", err.msg);
        return 2;
    }
    int rank = gd_dist_rank(d), n = gd_dist_size(d);
    if (argc != 2 && argc != 4 && argc != 5) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -n N bench_checkpoint DIR [WIDTH HEIGHT [REPEATS]]\n");
        gd_dist_free(d);
        return 1;
    }
    const char *dir = argv[1];
    int w = argc > 2 ? atoi(argv[2]) : 12500, h = argc > 2 ? atoi(argv[3]) : 8000;
    int reps = argc > 4 ? atoi(argv[4]) : 3;
    int done_writes = 0;
    double writes[64], mb_before = 0, mb_after = 0, t;
    char path[4096], written[64][4096];
    if (reps < 1 || reps > 64 || w < 1 || h < 1) {
        if (rank == 0)
            fprintf(stderr, "bench_checkpoint: bad size or repeat count\n");
        gd_dist_free(d);
        return 1;
    }

    CHECK(gd_job_parse("[input]\nimage = seed.png\n[model]\nfile = model.h5\nlayer = conv\n"
                       "[output]\nfile = out.tif\n",
                       "bench job", dir, NULL, 0, &job, &err));
    int y0, y1;
    gd_dist_band(h, n, rank, &y0, &y1);
    CHECK(gd_image_alloc(&band, w, h, 3, y0, y1, &err));
    for (int y = y0; y < y1; y++) {
        float *row = gd_image_row(&band, y);
        for (int x = 0; x < w * 3; x++)
            row[x] = value(x, y);
    }
    double bytes = (double)w * h * 3 * sizeof(float);
    char b[32];
    if (rank == 0)
        printf("bench_checkpoint: %d x %d RGB float32 (%.1f MP, %s) on %d rank%s\n", w, h,
               w * (double)h / 1e6, gd_bytes_str(bytes, b), n, n == 1 ? "" : "s");

    gd_checkpoint_pos pos = {job.octaves - 1, 0, job.octaves, w, h, NULL};
    mb_before = peak_rss_mb();
    for (int k = 0; k < reps; k++) {
        pos.iteration = k;
        CHECK(gd_dist_barrier(d, &err));
        t = gd_dist_now();
        CHECK(
            gd_checkpoint_write(d, dir, &job, &pos, &band, NULL, 2, NULL, path, sizeof path, &err));
        writes[k] = elapsed(d, t);
        snprintf(written[k], sizeof written[k], "%s", path);
        done_writes = k + 1;
        if (rank == 0)
            printf("  write %d: %.2f s (%.2f GB/s)\n", k + 1, writes[k], bytes / writes[k] / 1e9);
    }
    mb_after = peak_rss_mb();
    qsort(writes, (size_t)reps, sizeof writes[0], cmp_double);
    if (rank == 0) {
        struct stat sb;
        printf("  checkpoint file: %s (%.0f bytes), %s\n", path,
               stat(path, &sb) == 0 ? (double)sb.st_size : -1.0,
               gd_bytes_str(stat(path, &sb) == 0 ? (double)sb.st_size : 0, b));
        printf("  write: min %.2f s, median %.2f s, max %.2f s\n", writes[0], writes[reps / 2],
               writes[reps - 1]);
    }
    double rss[2] = {mb_before, mb_after}, mx[2];
    CHECK(gd_dist_max(d, rss[0], &mx[0], &err));
    CHECK(gd_dist_max(d, rss[1], &mx[1], &err));
    if (rank == 0)
        printf("  peak RSS per rank: %.0f MB before writing (the band: %.0f MB), %.0f MB after\n",
               mx[0], bytes / n / 1048576.0, mx[1]);

    /* The band is read back into poisoned memory, then compared. */
    for (int y = y0; y < y1; y++)
        memset(gd_image_row(&band, y), 0xff, sizeof(float) * 3 * (size_t)w);
    if (rank == 0)
        uncache(path);
    CHECK(gd_dist_barrier(d, &err));
    t = gd_dist_now();
    gd_checkpoint_found found;
    CHECK(gd_checkpoint_find(d, dir, &job, &found, NULL, NULL, &err));
    double tf = elapsed(d, t);
    if (rank == 0)
        uncache(path);
    CHECK(gd_dist_barrier(d, &err));
    t = gd_dist_now();
    CHECK(gd_checkpoint_read(d, found.path, &band, NULL, &err));
    double tr = elapsed(d, t);
    long bad = 0;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < w * 3; x++)
            bad += gd_image_row(&band, y)[x] != value(x, y);
    double all_bad = 0;
    CHECK(gd_dist_sum(d, (double)bad, &all_bad, &err));
    if (all_bad > 0) {
        if (rank == 0)
            fprintf(stderr, "bench_checkpoint: %.0f samples read back differ\n", all_bad);
        st = GD_ELIB;
        goto done;
    }
    if (rank == 0)
        printf("  find + validate (every chunk's Fletcher32): %.2f s; read: %.2f s (cold cache)\n",
               tf, tr);
done:
    /* Leave the folder as found (retention removed all but the last two). */
    for (int k = 0; rank == 0 && k < done_writes; k++)
        unlink(written[k]);
    gd_image_free(&band);
    gd_job_free(&job);
    gd_dist_free(d);
    return st == GD_OK ? 0 : gd_status_exit_code(st);
}

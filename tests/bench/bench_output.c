/*
 * bench_output.c: times writing a distributed image to a tiled TIFF with its
 * pyramid, and measures each rank's memory, under mpirun.
 *
 *   mpirun -n N bench_output W H OUT.tif [--bits 8|16] [--compression NAME]
 *                            [--no-pyramid] [--gather]
 *
 * Every rank makes its band of a synthetic W x H image (smooth waves plus
 * noise, rounded to the output's levels as a render leaves it), then writes
 * it with gd_output (every rank compresses a share of the tiles, rank 0
 * appends them).  --gather times the former path instead: rank 0 fetches the
 * image 256 rows at a time and streams it to gd_writer_write_rows, which
 * compresses and builds the pyramid alone.
 *
 * Prints, per rank: the band it owns, its resident memory before writing,
 * its peak resident memory (getrusage) after, the difference (what writing
 * cost it at most), and the wall time of the write including commit.
 * Figures, not pass/fail.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gigadream/dist.h"
#include "gigadream/imageio.h"
#include "gigadream/output.h"

static double rss_now(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static double rss_peak(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss * 1024.0 : 0.0;
}

static uint32_t mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    return x ^ (x >> 16);
}

/* A render's last octave, cheaply: separable waves plus noise, rounded to the levels. */
static void fill(gd_image *b, int bits)
{
    float *col = malloc(sizeof(float) * (size_t)b->w * 3);
    if (!col)
        return;
    for (int x = 0; x < b->w; x++)
        for (int k = 0; k < 3; k++)
            col[3 * x + k] = 80.0f * sinf(0.0031f * (float)x + (float)k);
    const float back = bits == 16 ? 255.0f / 65535.0f : 1.0f;
#pragma omp parallel for schedule(static)
    for (int y = b->y0; y < b->y1; y++) {
        float *p = gd_image_row(b, y);
        const float r = 128.0f + 40.0f * cosf(0.0023f * (float)y);
        for (size_t i = 0; i < (size_t)b->w * 3; i++) {
            float v = r + col[i] + (float)(mix((uint32_t)y * 2654435761U ^ (uint32_t)i) % 9) - 4;
            p[i] = (float)gd_quantize(v, bits) * back;
        }
    }
    free(col);
}

/* The former path: rank 0 gathers rows and the single writer does everything. */
static gd_status write_gathered(gd_dist *d, const char *path, const gd_write_opts *o,
                                const gd_image *band, gd_err *err)
{
    gd_status st, local = GD_OK;
    const int rank = gd_dist_rank(d), w = band->w, h = band->full_h, rows = 256;
    gd_writer *wr = NULL;
    gd_image chunk = {0};
    if (rank == 0) {
        local = gd_writer_open(path, w, h, o, &wr, err);
        if (local == GD_OK)
            local = gd_image_alloc(&chunk, w, h, 3, 0, rows < h ? rows : h, err);
    }
    if ((st = gd_dist_agree(d, local, err)) != GD_OK)
        goto done;
    for (int c0 = 0; c0 < h; c0 += rows) {
        gd_image dst = chunk;
        if (rank == 0) {
            dst.y0 = c0;
            dst.y1 = c0 + rows < h ? c0 + rows : h;
        } else {
            dst = *band;
            dst.y1 = dst.y0;
        }
        if ((st = gd_dist_fetch_rows(d, band, &dst, err)) != GD_OK)
            goto done;
        local = rank == 0 ? gd_writer_write_rows(wr, &dst, err) : GD_OK;
        if ((st = gd_dist_agree(d, local, err)) != GD_OK)
            goto done;
    }
    local = rank == 0 ? gd_writer_commit(wr, err) : GD_OK;
    wr = NULL;
    st = gd_dist_agree(d, local, err);
done:
    gd_writer_abort(wr);
    gd_image_free(&chunk);
    return st;
}

static gd_status write_distributed(gd_dist *d, const char *path, const gd_write_opts *o,
                                   const gd_image *band, gd_err *err)
{
    gd_output *out = NULL;
    gd_status st = gd_output_begin(d, path, band->w, band->full_h, o, NULL, &out, err);
    if (st == GD_OK)
        st = gd_output_write(out, band, NULL, err);
    if (st == GD_OK)
        return gd_output_commit(out, err);
    gd_output_abort(out);
    return st;
}

int main(int argc, char **argv)
{
    gd_dist *d;
    gd_err err;
    gd_err_clear(&err);
    if (gd_dist_init(&argc, &argv, &d, &err) != GD_OK) {
        fprintf(stderr, "bench_output: %s\n", err.msg);
        return 2;
    }
    int w = 0, h = 0, gather = 0;
    const char *path = NULL;
    gd_write_opts o = {.bits = 8,
                       .compression = GD_COMPRESS_DEFLATE,
                       .pyramid = 1,
                       .overwrite = 1,
                       .tile = 256,
                       .dpi = 300};
    int bad = argc < 4;
    for (int i = 1; i < argc && !bad; i++) {
        if (strcmp(argv[i], "--bits") == 0 && i + 1 < argc)
            o.bits = atoi(argv[++i]);
        else if (strcmp(argv[i], "--compression") == 0 && i + 1 < argc)
            bad = (o.compression = gd_compression_from_name(argv[++i])) == GD_COMPRESS_COUNT;
        else if (strcmp(argv[i], "--no-pyramid") == 0)
            o.pyramid = 0;
        else if (strcmp(argv[i], "--gather") == 0)
            gather = 1;
        else if (!w)
            w = atoi(argv[i]);
        else if (!h)
            h = atoi(argv[i]);
        else if (!path)
            path = argv[i];
        else
            bad = 1;
    }
    if (bad || w < 1 || h < 1 || !path) {
        if (gd_dist_rank(d) == 0)
            fprintf(stderr, "usage: bench_output W H OUT.tif [--bits 8|16] [--compression "
                            "NAME] [--no-pyramid] [--gather]\n");
        gd_dist_free(d);
        return 1;
    }
    const int rank = gd_dist_rank(d), n = gd_dist_size(d);
    int y0, y1;
    gd_dist_band(h, n, rank, &y0, &y1);
    gd_image band;
    gd_status st = gd_image_alloc(&band, w, h, 3, y0, y1, &err);
    if (st == GD_OK)
        fill(&band, o.bits);
    if ((st = gd_dist_agree(d, st, &err)) != GD_OK)
        goto out;
    const double before = rss_now();
    gd_dist_barrier(d, &err);
    const double t0 = gd_dist_now();
    st = gather ? write_gathered(d, path, &o, &band, &err)
                : write_distributed(d, path, &o, &band, &err);
    const double secs = gd_dist_now() - t0;
    const double peak = rss_peak();
    if (st != GD_OK)
        goto out;
    char line[512], a[32], b[32], c[32], e[32];
    int len = snprintf(line, sizeof line,
                       "rank %d: band %d rows (%s of floats), resident before %s, peak %s, "
                       "write cost at most %s, %.2f s\n",
                       rank, y1 - y0, gd_bytes_str((double)gd_image_bytes(w, y1 - y0, 3), a),
                       gd_bytes_str(before, b), gd_bytes_str(peak, c),
                       gd_bytes_str(peak > before ? peak - before : 0, e), secs);
    unsigned char *all = NULL;
    size_t cap = 0, *lens = calloc((size_t)n, sizeof *lens);
    if ((st = gd_dist_gather_bytes(d, line, (size_t)len, &all, &cap, lens, &err)) == GD_OK &&
        rank == 0) {
        char whole[32];
        printf("%s %dx%d %d-bit %s%s on %d rank%s: %s of 8/16-bit samples\n",
               gather ? "gathered to rank 0" : "distributed", w, h, o.bits,
               gd_compression_name(o.compression), o.pyramid ? " + pyramid" : "", n,
               n == 1 ? "" : "s", gd_bytes_str((double)w * h * 3 * (o.bits / 8), whole));
        size_t total = 0;
        for (int r = 0; r < n; r++)
            total += lens[r];
        fwrite(all, 1, total, stdout);
        fflush(stdout);
    }
    free(all);
    free(lens);
out:
    if (st != GD_OK && rank == 0)
        fprintf(stderr, "bench_output: %s\n", err.msg);
    gd_image_free(&band);
    gd_dist_free(d);
    return st == GD_OK ? 0 : 2;
}

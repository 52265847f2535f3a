/*
 * dist.c: MPI ranks, row bands, halo exchange and deterministic reductions.
 *
 * Invariants:
 *   1. Every function taking a gd_dist and documented as collective is
 *      entered by every rank in the same order; none returns early on one
 *      rank only (local argument errors are reported after the collective).
 *   2. Rows travel as an MPI datatype of one image row, so counts stay small
 *      integers even for gigapixel images.
 *   3. Sums that reach pixels or normalization factors are formed in a fixed
 *      order that does not depend on the rank count (row order, rank order).
 */
#include "gigadream/dist.h"

#include <assert.h>
#include <limits.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gd_dist {
    MPI_Comm comm;
    int rank;
    int size;
    int local_size; /* ranks on this node */
    int finalize;   /* 1 if we initialized MPI and must finalize it */
    double sent;    /* bytes sent by the row exchanges (gd_dist_sent) */
};

/* Adds an exchange's outgoing rows (counts per rank, rows of row_bytes) to d->sent. */
static void count_sent(gd_dist *d, const int *sc, size_t row_bytes)
{
    for (int r = 0; r < d->size; r++)
        d->sent += (double)sc[r] * (double)row_bytes;
}

double gd_dist_sent(const gd_dist *d)
{
    return d->sent;
}

/* Converts an MPI failure into a message naming the call. */
static gd_status mpi_fail(int rc, const char *call, gd_err *err)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS)
        snprintf(s, sizeof s, "error %d", rc);
    return gd_err_set(err, GD_ELIB, "MPI: %s failed: %s", call, s);
}

#define MPI_CHECK(call)                                                                            \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != MPI_SUCCESS) {                                                                  \
            st = mpi_fail(rc_, #call, err);                                                        \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* The number of processes the launcher says it started, or 0 if it says nothing. */
static long launcher_size(const char **who)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atol(v) > 0) {
            *who = vars[i];
            return atol(v);
        }
    }
    /* Inside an srun step (not merely an sbatch allocation), Slurm says how
     * many tasks the step has. */
    if (getenv("SLURM_STEP_ID")) {
        const char *v = getenv("SLURM_STEP_NUM_TASKS");
        if (v && atol(v) > 0) {
            *who = "SLURM_STEP_NUM_TASKS";
            return atol(v);
        }
    }
    return 0;
}

const char *gd_dist_library_version(char *buf, size_t len)
{
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;
    if (MPI_Get_library_version(v, &n) != MPI_SUCCESS || n <= 0) {
        snprintf(buf, len, "MPI (version unknown)");
        return buf;
    }
    v[n < MPI_MAX_LIBRARY_VERSION_STRING ? n : MPI_MAX_LIBRARY_VERSION_STRING - 1] = '\0';
    v[strcspn(v, ",\n")] = '\0';
    snprintf(buf, len, "%s", v);
    return buf;
}

gd_status gd_dist_init(int *argc, char ***argv, gd_dist **out, gd_err *err)
{
    gd_status st = GD_OK;
    *out = NULL;
    gd_dist *d = gd_calloc(1, sizeof *d, "MPI state", err);
    if (!d)
        return err->status;
    d->comm = MPI_COMM_NULL;
    int inited = 0, provided = 0;
    MPI_CHECK(MPI_Initialized(&inited));
    if (!inited) {
        MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
        d->finalize = 1;
    }
    MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &d->comm));
    MPI_CHECK(MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(d->comm, &d->rank));
    MPI_CHECK(MPI_Comm_size(d->comm, &d->size));
    MPI_Comm node;
    MPI_CHECK(MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node));
    int rc = MPI_Comm_size(node, &d->local_size);
    MPI_Comm_free(&node);
    if (rc != MPI_SUCCESS) {
        st = mpi_fail(rc, "MPI_Comm_size", err);
        goto done;
    }
    const char *who = NULL;
    long said = launcher_size(&who);
    if (said > 1 && said != d->size) {
        st = gd_err_set(err, GD_EINPUT,
                        "the launcher started %ld processes (%s) but MPI sees %d: the launcher "
                        "and this MPI library do not talk (no working PMI); with srun try "
                        "--mpi=pmix, or use this MPI's own mpirun",
                        said, who, d->size);
        goto done;
    }
done:
    if (st != GD_OK) {
        gd_dist_free(d);
        return st;
    }
    *out = d;
    return GD_OK;
}

void gd_dist_free(gd_dist *d)
{
    if (!d)
        return;
    if (d->comm != MPI_COMM_NULL)
        MPI_Comm_free(&d->comm);
    if (d->finalize)
        MPI_Finalize();
    free(d);
}

int gd_dist_rank(const gd_dist *d)
{
    return d->rank;
}

int gd_dist_size(const gd_dist *d)
{
    return d->size;
}

int gd_dist_local_size(const gd_dist *d)
{
    return d->local_size > 0 ? d->local_size : 1;
}

void *gd_dist_comm(const gd_dist *d)
{
    return (void *)&d->comm;
}

gd_status gd_dist_split(gd_dist *d, int color, gd_dist **out, gd_err *err)
{
    gd_status st = GD_OK;
    MPI_Comm node = MPI_COMM_NULL;
    *out = NULL;
    gd_dist *s = gd_calloc(1, sizeof *s, "MPI state", err);
    gd_status local = s ? GD_OK : err->status;
    if (s)
        s->comm = MPI_COMM_NULL;
    /* Every rank must enter MPI_Comm_split, even one that could not allocate. */
    MPI_Comm comm = MPI_COMM_NULL;
    MPI_CHECK(MPI_Comm_split(d->comm, color < 0 || !s ? MPI_UNDEFINED : color, d->rank, &comm));
    if (!s || comm == MPI_COMM_NULL) {
        free(s);
        return local;
    }
    s->comm = comm;
    MPI_CHECK(MPI_Comm_set_errhandler(s->comm, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(s->comm, &s->rank));
    MPI_CHECK(MPI_Comm_size(s->comm, &s->size));
    MPI_CHECK(MPI_Comm_split_type(s->comm, MPI_COMM_TYPE_SHARED, s->rank, MPI_INFO_NULL, &node));
    MPI_CHECK(MPI_Comm_size(node, &s->local_size));
done:
    if (node != MPI_COMM_NULL)
        MPI_Comm_free(&node);
    if (st != GD_OK) {
        gd_dist_free(s);
        return st;
    }
    *out = s;
    return GD_OK;
}

void gd_dist_band(int h, int n, int r, int *y0, int *y1)
{
    *y0 = (int)((int64_t)r * h / n);
    *y1 = (int)((int64_t)(r + 1) * h / n);
}

int gd_dist_owner(int h, int n, int y)
{
    /* The largest r with floor(r*h/n) <= y. */
    int r = (int)(((int64_t)y * n + n - 1) / h);
    if (r >= n)
        r = n - 1;
    while (r > 0 && (int64_t)r * h / n > y)
        r--;
    while (r + 1 < n && (int64_t)(r + 1) * h / n <= y)
        r++;
    return r;
}

static void overlap(int a0, int a1, int b0, int b1, int *lo, int *hi)
{
    *lo = a0 > b0 ? a0 : b0;
    *hi = a1 < b1 ? a1 : b1;
    if (*hi < *lo)
        *hi = *lo;
}

static gd_status row_type(const gd_image *im, MPI_Datatype *t, gd_err *err)
{
    gd_status st = GD_OK;
    size_t n = (size_t)im->w * (size_t)im->c;
    if (n > INT_MAX)
        return gd_err_set(err, GD_EINPUT, "image rows of %zu samples are too wide for MPI", n);
    MPI_CHECK(MPI_Type_contiguous((int)n, MPI_FLOAT, t));
    MPI_CHECK(MPI_Type_commit(t));
done:
    return st;
}

/* Checks the band a rank passes is the one gd_dist_band gives it. */
static gd_status check_band(const gd_dist *d, const gd_image *band, gd_err *err)
{
    int y0, y1;
    gd_dist_band(band->full_h, d->size, d->rank, &y0, &y1);
    if (band->y0 != y0 || band->y1 != y1 || band->stride != (size_t)band->w * band->c)
        return gd_err_set(err, GD_EINPUT,
                          "internal: rank %d band rows [%d,%d) stride %zu, expected [%d,%d) "
                          "packed",
                          d->rank, band->y0, band->y1, band->stride, y0, y1);
    return GD_OK;
}

/*
 * The common start of a row exchange: checks the rows img names against the
 * caller's band, shares every rank's row range (x->req[2r], x->req[2r + 1]),
 * and zeroes four count arrays of n ints (send counts and displacements,
 * receive counts and displacements).  A bad request takes part with an empty
 * range and its error comes back in x->local.  Collective.
 */
typedef struct exchange {
    int mine[2];
    int *req, *sc, *sd, *rc, *rd;
    gd_status local;
} exchange;

static void exchange_end(exchange *x)
{
    free(x->req);
    free(x->sc);
}

static gd_status exchange_begin(gd_dist *d, const gd_image *band, const gd_image *img, exchange *x,
                                gd_err *err)
{
    gd_status st = GD_OK;
    int n = d->size;
    memset(x, 0, sizeof *x);
    x->mine[0] = img->y0;
    x->mine[1] = img->y1;
    x->local = check_band(d, band, err);
    if (x->local == GD_OK &&
        (img->w != band->w || img->c != band->c || img->stride != (size_t)img->w * img->c ||
         img->y0 < 0 || img->y1 > band->full_h || img->y1 < img->y0))
        x->local = gd_err_set(err, GD_EINPUT, "internal: bad exchange of rows [%d,%d) of %dx%d",
                              img->y0, img->y1, band->w, band->full_h);
    if (x->local != GD_OK)
        x->mine[0] = x->mine[1] = 0;
    x->req = gd_malloc(sizeof(int) * 2 * (size_t)n, "row exchange", err);
    x->sc = gd_calloc((size_t)n * 4, sizeof(int), "row exchange", err);
    if (!x->req || !x->sc) {
        /* Cannot take part: the job cannot continue either. */
        exchange_end(x);
        return err->status;
    }
    x->sd = x->sc + n;
    x->rc = x->sc + 2 * n;
    x->rd = x->sc + 3 * n;
    MPI_CHECK(MPI_Allgather(x->mine, 2, MPI_INT, x->req, 2, MPI_INT, d->comm));
done:
    if (st != GD_OK)
        exchange_end(x);
    return st;
}

gd_status gd_dist_fetch_rows(gd_dist *d, const gd_image *band, gd_image *dst, gd_err *err)
{
    gd_status st = GD_OK;
    int n = d->size;
    exchange x;
    MPI_Datatype t = MPI_DATATYPE_NULL;
    if ((st = exchange_begin(d, band, dst, &x, err)) != GD_OK)
        return st;
    for (int r = 0; r < n; r++) {
        int lo, hi;
        if (r == d->rank)
            continue;
        overlap(x.req[2 * r], x.req[2 * r + 1], band->y0, band->y1, &lo, &hi);
        x.sc[r] = hi - lo;
        x.sd[r] = lo - band->y0;
        int q0, q1;
        gd_dist_band(band->full_h, n, r, &q0, &q1);
        overlap(x.mine[0], x.mine[1], q0, q1, &lo, &hi);
        x.rc[r] = hi - lo;
        x.rd[r] = lo - dst->y0;
    }
    if ((st = row_type(band, &t, err)) != GD_OK)
        goto done;
    MPI_CHECK(MPI_Alltoallv(band->data, x.sc, x.sd, t, dst->data, x.rc, x.rd, t, d->comm));
    count_sent(d, x.sc, sizeof(float) * (size_t)band->w * band->c);
    /* Own rows, unless dst already is the band there. */
    int lo, hi;
    overlap(x.mine[0], x.mine[1], band->y0, band->y1, &lo, &hi);
    for (int y = lo; y < hi; y++) {
        float *to = gd_image_row(dst, y);
        const float *from = gd_image_row(band, y);
        if (to != from)
            memcpy(to, from, sizeof(float) * (size_t)band->w * band->c);
    }
done:
    if (t != MPI_DATATYPE_NULL)
        MPI_Type_free(&t);
    exchange_end(&x);
    return st != GD_OK ? st : x.local;
}

gd_status gd_dist_add_rows(gd_dist *d, gd_image *band, const gd_image *src, gd_err *err)
{
    gd_status st = GD_OK;
    int n = d->size;
    exchange x;
    float *recv = NULL;
    MPI_Datatype t = MPI_DATATYPE_NULL;
    size_t row = (size_t)band->w * band->c;
    if ((st = exchange_begin(d, band, src, &x, err)) != GD_OK)
        return st;
    int total = 0;
    for (int r = 0; r < n; r++) {
        int lo, hi, q0, q1;
        gd_dist_band(band->full_h, n, r, &q0, &q1);
        if (r != d->rank) {
            overlap(x.mine[0], x.mine[1], q0, q1, &lo, &hi);
            x.sc[r] = hi - lo;
            x.sd[r] = lo - x.mine[0];
            overlap(x.req[2 * r], x.req[2 * r + 1], band->y0, band->y1, &lo, &hi);
            x.rc[r] = hi - lo;
            x.rd[r] = total;
            total += x.rc[r];
        }
    }
    recv =
        gd_malloc(sizeof(float) * row * (size_t)(total ? total : 1), "received gradient rows", err);
    /* A failed allocation must still take part in the exchange: it receives
     * nothing, and reports after. */
    if (!recv) {
        x.local = err->status;
        memset(x.rc, 0, sizeof(int) * (size_t)n);
    }
    if ((st = row_type(band, &t, err)) != GD_OK)
        goto done;
    MPI_CHECK(MPI_Alltoallv(src->data, x.sc, x.sd, t, recv, x.rc, x.rd, t, d->comm));
    count_sent(d, x.sc, sizeof(float) * row);
    if (!recv)
        goto done;
    for (int r = 0; r < n; r++) {
        int lo, hi;
        const float *from;
        if (r == d->rank) {
            overlap(x.mine[0], x.mine[1], band->y0, band->y1, &lo, &hi);
            /* Contributions computed in place (src sharing the band's memory) are there. */
            if (hi > lo && gd_image_row(src, lo) == gd_image_row(band, lo))
                continue;
            from = hi > lo ? gd_image_row(src, lo) : NULL;
        } else {
            overlap(x.req[2 * r], x.req[2 * r + 1], band->y0, band->y1, &lo, &hi);
            from = recv + (size_t)x.rd[r] * row;
        }
        for (int y = lo; y < hi; y++) {
            float *to = gd_image_row(band, y);
            const float *f = from + (size_t)(y - lo) * row;
            for (size_t i = 0; i < row; i++)
                to[i] += f[i];
        }
    }
done:
    if (t != MPI_DATATYPE_NULL)
        MPI_Type_free(&t);
    free(recv);
    exchange_end(&x);
    return st != GD_OK ? st : x.local;
}

gd_status gd_dist_fetch_bytes(gd_dist *d, int h, size_t row_bytes, const void *band, int a, int b,
                              void *dst, gd_err *err)
{
    gd_status st = GD_OK, local = GD_OK;
    int n = d->size, y0, y1;
    int *req = NULL, *sc = NULL, *sd = NULL, *rc = NULL, *rd = NULL;
    MPI_Datatype t = MPI_DATATYPE_NULL;
    /* The same on every rank (they describe one image): no collective is entered. */
    if (h < 0 || row_bytes == 0 || row_bytes > INT_MAX)
        return gd_err_set(err, GD_EINPUT, "internal: rows of %zu bytes, %d rows", row_bytes, h);
    gd_dist_band(h, n, d->rank, &y0, &y1);
    int mine[2] = {a, b};
    if (a < 0 || b > h || b < a) {
        local = gd_err_set(err, GD_EINPUT, "internal: bad row request [%d,%d) of %d", a, b, h);
        mine[0] = mine[1] = 0;
    }
    req = gd_malloc(sizeof(int) * 2 * (size_t)n, "row exchange", err);
    sc = gd_calloc((size_t)n * 4, sizeof(int), "row exchange", err);
    if (!req || !sc) {
        st = err->status; /* cannot take part; the job cannot continue either */
        goto done;
    }
    sd = sc + n;
    rc = sc + 2 * n;
    rd = sc + 3 * n;
    MPI_CHECK(MPI_Allgather(mine, 2, MPI_INT, req, 2, MPI_INT, d->comm));
    for (int r = 0; r < n; r++) {
        int lo, hi, q0, q1;
        if (r == d->rank)
            continue;
        overlap(req[2 * r], req[2 * r + 1], y0, y1, &lo, &hi);
        sc[r] = hi - lo;
        sd[r] = lo - y0;
        gd_dist_band(h, n, r, &q0, &q1);
        overlap(mine[0], mine[1], q0, q1, &lo, &hi);
        rc[r] = hi - lo;
        rd[r] = lo - mine[0];
    }
    MPI_CHECK(MPI_Type_contiguous((int)row_bytes, MPI_BYTE, &t));
    MPI_CHECK(MPI_Type_commit(&t));
    MPI_CHECK(MPI_Alltoallv(band, sc, sd, t, dst, rc, rd, t, d->comm));
    count_sent(d, sc, row_bytes);
    /* Own rows, unless dst already is the band there. */
    int lo, hi;
    overlap(mine[0], mine[1], y0, y1, &lo, &hi);
    if (hi > lo) {
        unsigned char *to = (unsigned char *)dst + (size_t)(lo - mine[0]) * row_bytes;
        const unsigned char *from = (const unsigned char *)band + (size_t)(lo - y0) * row_bytes;
        if (to != from)
            memmove(to, from, (size_t)(hi - lo) * row_bytes);
    }
done:
    if (t != MPI_DATATYPE_NULL)
        MPI_Type_free(&t);
    free(req);
    free(sc);
    return st != GD_OK ? st : local;
}

/* Bytes per message of gd_dist_gather_bytes: MPI counts are ints. */
#define GATHER_CHUNK ((size_t)1 << 30)

_Static_assert(sizeof(size_t) == sizeof(uint64_t), "gd_dist_gather_bytes sends size_t as uint64");

gd_status gd_dist_gather_bytes(gd_dist *d, const void *mine, size_t len, unsigned char **all,
                               size_t *cap, size_t *lens, gd_err *err)
{
    gd_status st = GD_OK;
    uint64_t my = len;
    size_t total = 0;
    int ok = 1;
    MPI_CHECK(
        MPI_Gather(&my, 1, MPI_UINT64_T, d->rank == 0 ? lens : NULL, 1, MPI_UINT64_T, 0, d->comm));
    if (d->rank == 0) {
        for (int r = 0; r < d->size; r++)
            total += lens[r];
        if (total > *cap) {
            unsigned char *p = realloc(*all, total);
            if (p) {
                *all = p;
                *cap = total;
            } else {
                ok = 0;
            }
        }
    }
    /* Nobody sends into a buffer that is not there. */
    MPI_CHECK(MPI_Bcast(&ok, 1, MPI_INT, 0, d->comm));
    if (!ok)
        return gd_err_set(err, GD_ENOMEM,
                          "rank 0 is out of memory for %zu bytes gathered from the ranks", total);
    if (d->rank != 0) {
        for (size_t off = 0, k = 0; off < len; off += GATHER_CHUNK, k++) {
            size_t m = len - off < GATHER_CHUNK ? len - off : GATHER_CHUNK;
            MPI_CHECK(
                MPI_Send((const unsigned char *)mine + off, (int)m, MPI_BYTE, 0, (int)k, d->comm));
        }
        return GD_OK;
    }
    if (len)
        memcpy(*all, mine, len);
    size_t at = len;
    for (int r = 1; r < d->size; r++) {
        for (size_t off = 0, k = 0; off < lens[r]; off += GATHER_CHUNK, k++) {
            size_t m = lens[r] - off < GATHER_CHUNK ? lens[r] - off : GATHER_CHUNK;
            MPI_CHECK(
                MPI_Recv(*all + at + off, (int)m, MPI_BYTE, r, (int)k, d->comm, MPI_STATUS_IGNORE));
        }
        at += lens[r];
    }
done:
    return st;
}

gd_status gd_dist_sum_rows(gd_dist *d, int h, int k, const double *mine, double *total, gd_err *err)
{
    gd_status st = GD_OK;
    int n = d->size;
    int *counts = NULL, *displs = NULL;
    double *all = NULL;
    if ((int64_t)h * k > INT_MAX)
        return gd_err_set(err, GD_EINPUT, "internal: %d rows x %d sums is too many", h, k);
    counts = gd_malloc(sizeof(int) * 2 * (size_t)n, "row sums", err);
    all = gd_malloc(sizeof(double) * (size_t)h * (size_t)k, "row sums", err);
    if (!counts || !all) {
        st = err->status;
        goto done;
    }
    displs = counts + n;
    for (int r = 0; r < n; r++) {
        int y0, y1;
        gd_dist_band(h, n, r, &y0, &y1);
        counts[r] = (y1 - y0) * k;
        displs[r] = y0 * k;
    }
    MPI_CHECK(MPI_Allgatherv(mine, counts[d->rank], MPI_DOUBLE, all, counts, displs, MPI_DOUBLE,
                             d->comm));
    for (int j = 0; j < k; j++)
        total[j] = 0.0;
    for (int y = 0; y < h; y++)
        for (int j = 0; j < k; j++)
            total[j] += all[(size_t)y * k + j];
done:
    free(counts);
    free(all);
    return st;
}

gd_status gd_dist_gather_ids(gd_dist *d, int n_ids, int first, int count, double *values,
                             gd_err *err)
{
    gd_status st = GD_OK;
    int n = d->size;
    int *counts = NULL, *displs = NULL;
    double *mine = NULL;
    counts = gd_malloc(sizeof(int) * 2 * (size_t)n, "id gather", err);
    mine = gd_malloc(sizeof(double) * (size_t)(count > 0 ? count : 1), "id gather", err);
    if (!counts || !mine) {
        st = err->status;
        goto done;
    }
    displs = counts + n;
    int range[2] = {first, count};
    int *ranges = NULL;
    ranges = gd_malloc(sizeof(int) * 2 * (size_t)n, "id gather", err);
    if (!ranges) {
        st = err->status;
        goto done;
    }
    MPI_CHECK(MPI_Allgather(range, 2, MPI_INT, ranges, 2, MPI_INT, d->comm));
    for (int r = 0; r < n; r++) {
        displs[r] = ranges[2 * r];
        counts[r] = ranges[2 * r + 1];
        if (displs[r] < 0 || counts[r] < 0 || displs[r] + counts[r] > n_ids) {
            free(ranges);
            st = gd_err_set(err, GD_EINPUT, "internal: rank %d gathers ids [%d,%d) of %d", r,
                            displs[r], displs[r] + counts[r], n_ids);
            goto done;
        }
    }
    free(ranges);
    if (count > 0)
        memcpy(mine, values + first, sizeof(double) * (size_t)count);
    MPI_CHECK(MPI_Allgatherv(mine, count, MPI_DOUBLE, values, counts, displs, MPI_DOUBLE, d->comm));
done:
    free(counts);
    free(mine);
    return st;
}

gd_status gd_dist_agree(gd_dist *d, gd_status local, gd_err *err)
{
    gd_status st = GD_OK;
    struct {
        int status;
        char msg[GD_ERR_MSG_MAX];
    } m;
    int flag = local != GD_OK ? d->rank : d->size, first = d->size;
    MPI_CHECK(MPI_Allreduce(&flag, &first, 1, MPI_INT, MPI_MIN, d->comm));
    if (first == d->size)
        return GD_OK;
    memset(&m, 0, sizeof m);
    if (d->rank == first) {
        m.status = (int)local;
        snprintf(m.msg, sizeof m.msg, "%s", err->msg);
    }
    MPI_CHECK(MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, first, d->comm));
    gd_err_set(err, (gd_status)m.status, "%s", m.msg);
    if (d->size > 1)
        gd_err_prefix(err, "rank %d", first);
    return (gd_status)m.status;
done:
    return st;
}

gd_status gd_dist_bcast(gd_dist *d, void *buf, size_t bytes, int root, gd_err *err)
{
    gd_status st = GD_OK;
    char *p = buf;
    while (bytes > 0) {
        int chunk = bytes > (1u << 30) ? (1 << 30) : (int)bytes;
        MPI_CHECK(MPI_Bcast(p, chunk, MPI_BYTE, root, d->comm));
        p += chunk;
        bytes -= (size_t)chunk;
    }
done:
    return st;
}

gd_status gd_dist_max(gd_dist *d, double local, double *max, gd_err *err)
{
    gd_status st = GD_OK;
    MPI_CHECK(MPI_Allreduce(&local, max, 1, MPI_DOUBLE, MPI_MAX, d->comm));
done:
    return st;
}

gd_status gd_dist_sum(gd_dist *d, double local, double *sum, gd_err *err)
{
    gd_status st = GD_OK;
    double *all = gd_malloc(sizeof(double) * (size_t)d->size, "sum", err);
    if (!all)
        return err->status;
    MPI_CHECK(MPI_Allgather(&local, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, d->comm));
    *sum = 0;
    for (int r = 0; r < d->size; r++)
        *sum += all[r];
done:
    free(all);
    return st;
}

gd_status gd_dist_barrier(gd_dist *d, gd_err *err)
{
    gd_status st = GD_OK;
    MPI_CHECK(MPI_Barrier(d->comm));
done:
    return st;
}

double gd_dist_now(void)
{
    return MPI_Wtime();
}

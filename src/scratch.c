/*
 * scratch.c: file-backed mappings (see scratch.h).
 */
#define _GNU_SOURCE
#include "gigadream/scratch.h"

#include "gigadream/image.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* One mapping: its address, size and the file behind it (kept open so
 * ranges can be zeroed in the file). */
typedef struct sc_map {
    void *p;
    size_t bytes;
    int fd;
} sc_map;

struct gd_scratch {
    char *dir;
    sc_map *maps;
    int n_maps, cap;
    size_t bytes, peak;
};

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* A new file in dir that no other process can open, or -1 with errno. */
static int hidden_file(const char *dir)
{
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
#endif
    size_t n = strlen(dir) + 32;
    char *name = malloc(n);
    if (!name) {
        errno = ENOMEM;
        return -1;
    }
    snprintf(name, n, "%s/.gigadream-scratch-XXXXXX", dir);
    int fd2 = mkstemp(name);
    if (fd2 >= 0)
        unlink(name);
    free(name);
    return fd2;
}

gd_status gd_scratch_open(const char *dir, gd_scratch **out, gd_err *err)
{
    *out = NULL;
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return gd_err_set(err, GD_EIO, "scratch folder %s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return gd_err_set(err, GD_EIO, "scratch folder %s: not a folder", dir);
    int fd = hidden_file(dir);
    if (fd < 0)
        return gd_err_set(err, GD_EIO, "scratch folder %s: cannot create a file: %s", dir,
                          strerror(errno));
    close(fd);
    gd_scratch *s = gd_calloc(1, sizeof *s, "scratch folder", err);
    if (!s)
        return err->status;
    if (!(s->dir = strdup(dir))) {
        free(s);
        return gd_err_set(err, GD_ENOMEM, "out of memory for a folder name");
    }
    *out = s;
    return GD_OK;
}

void gd_scratch_close(gd_scratch *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_maps; i++) {
        munmap(s->maps[i].p, s->maps[i].bytes);
        close(s->maps[i].fd);
    }
    free(s->maps);
    free(s->dir);
    free(s);
}

double gd_scratch_room(const gd_scratch *s)
{
    struct statvfs v;
    if (statvfs(s->dir, &v) != 0)
        return -1;
    return (double)v.f_bavail * (double)v.f_frsize;
}

const char *gd_scratch_dir(const gd_scratch *s)
{
    return s->dir;
}

void *gd_scratch_map(gd_scratch *s, size_t bytes, const char *what, gd_err *err)
{
    char b[32];
    if (bytes == 0) {
        gd_err_set(err, GD_EINPUT, "internal: empty scratch mapping for %s", what);
        return NULL;
    }
    if (s->n_maps == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        sc_map *m = realloc(s->maps, sizeof *m * (size_t)cap);
        if (!m) {
            gd_err_set(err, GD_ENOMEM, "out of memory for the scratch list");
            return NULL;
        }
        s->maps = m;
        s->cap = cap;
    }
    int fd = hidden_file(s->dir);
    if (fd < 0) {
        gd_err_set(err, GD_EIO, "scratch folder %s: cannot create a file for the %s: %s", s->dir,
                   what, strerror(errno));
        return NULL;
    }
    /* posix_fallocate returns the error (it does not set errno). */
    int e = posix_fallocate(fd, 0, (off_t)bytes);
    if (e != 0) {
        close(fd);
        gd_err_set(err, GD_EIO, "scratch folder %s: cannot reserve %s for the %s: %s", s->dir,
                   gd_bytes_str((double)bytes, b), what, strerror(e));
        return NULL;
    }
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        e = errno;
        close(fd);
        gd_err_set(err, GD_ENOMEM, "scratch folder %s: cannot map %s for the %s: %s", s->dir,
                   gd_bytes_str((double)bytes, b), what, strerror(e));
        return NULL;
    }
    s->maps[s->n_maps++] = (sc_map){.p = p, .bytes = bytes, .fd = fd};
    s->bytes += bytes;
    if (s->bytes > s->peak)
        s->peak = s->bytes;
    return p;
}

static int find_map(const gd_scratch *s, const void *p)
{
    for (int i = 0; i < s->n_maps; i++) {
        const char *lo = s->maps[i].p;
        if ((const char *)p >= lo && (const char *)p < lo + s->maps[i].bytes)
            return i;
    }
    return -1;
}

void gd_scratch_unmap(gd_scratch *s, void *p, size_t bytes)
{
    int i = p ? find_map(s, p) : -1;
    if (i < 0)
        return;
    (void)bytes;
    munmap(s->maps[i].p, s->maps[i].bytes);
    close(s->maps[i].fd);
    s->bytes -= s->maps[i].bytes;
    s->maps[i] = s->maps[--s->n_maps];
}

/* The whole pages inside [p, p + bytes): [*a, *z), empty when none. */
static void inner_pages(void *p, size_t bytes, char **a, char **z)
{
    size_t pg = page_size();
    uintptr_t lo = ((uintptr_t)p + pg - 1) / pg * pg, hi = ((uintptr_t)p + bytes) / pg * pg;
    *a = (char *)lo;
    *z = hi > lo ? (char *)hi : (char *)lo;
}

void gd_scratch_zero(void *p, size_t bytes)
{
    /* Writes, a slice at a time, each slice released behind: the file
     * system's own zeroing (fallocate ZERO_RANGE, PUNCH_HOLE) first writes
     * the range's dirty pages back to disk, which made every iteration wait
     * for the disk (measured: 3x slower on a 1.5 MPix render). */
    const size_t slice = (size_t)16 << 20;
    for (size_t off = 0; off < bytes; off += slice) {
        size_t n = bytes - off < slice ? bytes - off : slice;
        char *q = (char *)p + off;
        gd_zero_floats((float *)q, n / sizeof(float));
        memset(q + n / sizeof(float) * sizeof(float), 0, n % sizeof(float));
        gd_scratch_release(q, n);
    }
}

void gd_scratch_release(void *p, size_t bytes)
{
    char *a, *z;
    inner_pages(p, bytes, &a, &z);
    /* Advice only: a failure leaves the pages resident, never loses data. */
    if (z > a)
        (void)madvise(a, (size_t)(z - a), MADV_DONTNEED);
}

void gd_scratch_populate(void *p, size_t bytes, int write)
{
    /* Outer pages: the range's first and last partial pages are touched too. */
    size_t pg = page_size();
    uintptr_t lo = (uintptr_t)p / pg * pg, hi = ((uintptr_t)p + bytes + pg - 1) / pg * pg;
#if defined(MADV_POPULATE_WRITE) && defined(MADV_POPULATE_READ)
    /* Advice only: where it fails (an old kernel), the first touches fault as before. */
    if (hi > lo)
        (void)madvise((void *)lo, (size_t)(hi - lo),
                      write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
#else
    (void)lo;
    (void)hi;
    (void)write;
#endif
}

size_t gd_scratch_bytes(const gd_scratch *s)
{
    return s ? s->bytes : 0;
}

size_t gd_scratch_peak(const gd_scratch *s)
{
    return s ? s->peak : 0;
}

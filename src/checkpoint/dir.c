/*
 * dir.c: checkpoint names, the folder listing, fsync and
 * retention (checkpoint.c, invariants 8 to 11).  Runs on one rank (rank 0
 * in a write or a find); never calls MPI.
 */
#include "checkpoint_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ck_name_make(char *buf, size_t len, long long counter, int octave, int iteration)
{
    snprintf(buf, len, "ckpt-%06lld-o%02d-i%06d.h5", counter, octave, iteration);
}

/* Digits at *s into *v (at most 18, so no overflow); advances *s.  0 when none. */
static int digits(const char **s, long long *v)
{
    int n = 0;
    *v = 0;
    while (**s >= '0' && **s <= '9' && n < 18) {
        *v = *v * 10 + (**s - '0');
        (*s)++;
        n++;
    }
    return n > 0 && !(**s >= '0' && **s <= '9');
}

int ck_name_parse(const char *name, ck_entry *e)
{
    const char *s = name;
    long long c, o, i;
    memset(e, 0, sizeof e[0]);
    if (strncmp(s, "ckpt-", 5) != 0)
        return 0;
    s += 5;
    if (!digits(&s, &c) || strncmp(s, "-o", 2) != 0)
        return 0;
    s += 2;
    if (!digits(&s, &o) || o > 1000 || strncmp(s, "-i", 2) != 0)
        return 0;
    s += 2;
    if (!digits(&s, &i) || i > 1000000000 || strncmp(s, ".h5", 3) != 0)
        return 0;
    s += 3;
    if (strcmp(s, ".tmp") == 0)
        e->tmp = 1;
    else if (*s)
        return 0;
    /* Only the canonical spelling counts: no other file can pass for a checkpoint. */
    ck_name_make(e->name, sizeof e->name, c, (int)o, (int)i);
    if (strncmp(e->name, name, strlen(e->name)) != 0 ||
        strlen(name) != strlen(e->name) + 4 * e->tmp)
        return 0;
    if (e->tmp)
        strcat(e->name, ".tmp");
    e->counter = c;
    e->octave = (int)o;
    e->iteration = (int)i;
    return 1;
}

static int newest_first(const void *pa, const void *pb)
{
    const ck_entry *a = pa, *b = pb;
    if (a->counter != b->counter)
        return a->counter > b->counter ? -1 : 1;
    if (a->tmp != b->tmp)
        return a->tmp - b->tmp;
    return strcmp(a->name, b->name);
}

gd_status ck_dir_list(const char *dir, ck_entry **out, int *n, gd_err *err)
{
    gd_status st = GD_OK;
    int cap = 16;
    ck_entry *v = NULL;
    struct dirent *de;
    *out = NULL;
    *n = 0;
    DIR *dp = opendir(dir);
    if (!dp) {
        if (errno == ENOENT)
            return GD_OK;
        return gd_err_set(err, GD_EIO, "cannot list checkpoint folder %s: %s", dir,
                          strerror(errno));
    }
    if (!(v = gd_malloc(sizeof *v * (size_t)cap, "checkpoint list", err))) {
        st = err->status;
        goto done;
    }
    errno = 0;
    while ((de = readdir(dp)) != NULL) {
        ck_entry e;
        if (!ck_name_parse(de->d_name, &e))
            continue;
        if (*n == cap) {
            ck_entry *w = realloc(v, sizeof *v * (size_t)cap * 2);
            if (!w) {
                st = gd_err_set(err, GD_ENOMEM, "out of memory listing checkpoints");
                goto done;
            }
            v = w;
            cap *= 2;
        }
        v[(*n)++] = e;
        errno = 0;
    }
    if (errno != 0) {
        st = gd_err_set(err, GD_EIO, "cannot list checkpoint folder %s: %s", dir, strerror(errno));
        goto done;
    }
    qsort(v, (size_t)*n, sizeof *v, newest_first);
done:
    closedir(dp);
    if (st != GD_OK) {
        free(v);
        *n = 0;
        return st;
    }
    *out = v;
    return GD_OK;
}

gd_status ck_path_join(char *buf, size_t len, const char *dir, const char *name, gd_err *err)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= len)
        return gd_err_set(err, GD_EINPUT, "checkpoint path %s/%s is too long", dir, name);
    return GD_OK;
}

gd_status ck_sync_path(const char *path, int is_dir, gd_err *err)
{
    int fd = open(path, O_RDONLY | (is_dir ? O_DIRECTORY : 0));
    if (fd < 0)
        return gd_err_set(err, GD_EIO, "cannot open %s to sync it: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    /* A synced checkpoint's pages are clean: drop them from the page cache, so the next
     * checkpoint reuses them instead of claiming as much fresh memory again (and nobody
     * reads a checkpoint soon).  Advice only: its failure changes nothing. */
    if (rc == 0 && !is_dir)
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    /* Some file systems cannot sync a folder (EINVAL); their renames are then as durable
     * as they get. */
    if (rc != 0 && !(is_dir && (e == EINVAL || e == ENOTSUP)))
        return gd_err_set(err, GD_EIO, "fsync %s: %s", path, strerror(e));
    return GD_OK;
}

/* Whose checkpoint a file is: 1 this job's and complete, 0 this job's but incomplete,
 * 2 another job's, -1 unreadable. */
static int owner(const char *path, const char *job_hash)
{
    gd_err e;
    int who = -1;
    hid_t f = ck_open_serial(path, &e);
    if (f < 0)
        return -1;
    char hash[64] = "";
    if (h5io_get_str(f, "job_hash", hash, sizeof hash, &e) == GD_OK) {
        if (strcmp(hash, job_hash) != 0)
            who = 2;
        else
            who = H5Aexists(f, CK_MARKER) > 0 ? 1 : 0;
    }
    H5Eclear2(H5E_DEFAULT);
    H5Fclose(f);
    return who;
}

static gd_status remove_file(const char *path, gd_err *err)
{
    if (unlink(path) != 0 && errno != ENOENT)
        return gd_err_set(err, GD_EIO, "cannot remove old checkpoint %s: %s", path,
                          strerror(errno));
    return GD_OK;
}

gd_status ck_retain(const char *dir, const char *newest_name, const char *job_hash, int keep,
                    gd_err *err)
{
    ck_entry *v = NULL;
    int n = 0, kept = 0, removed = 0;
    char path[GD_CKPT_PATH_MAX];
    gd_status st = ck_dir_list(dir, &v, &n, err);
    for (int k = 0; k < n && st == GD_OK; k++) {
        if ((st = ck_path_join(path, sizeof path, dir, v[k].name, err)) != GD_OK)
            break;
        if (strcmp(v[k].name, newest_name) == 0) {
            kept++;
            continue;
        }
        /* Every .tmp is a dead run's: ours has been renamed. */
        int who = v[k].tmp ? -1 : owner(path, job_hash);
        if (who == 2 || (who == 1 && kept < keep)) {
            kept += who == 1;
            continue;
        }
        if ((st = remove_file(path, err)) == GD_OK)
            removed++;
    }
    if (st == GD_OK && removed > 0)
        st = ck_sync_path(dir, 1, err);
    free(v);
    return st;
}

/*
 * cache.c: keeps a checkpoint being written from filling the page cache
 * (see checkpoint_int.h, ck_dropper).  It knows nothing of HDF5 or of the
 * checkpoint's contents, and never changes them.
 *
 * Parallel HDF5 writes a filtered dataset twice: at creation it fills every
 * chunk (a filtered fill value: there is no opting out with filters), then
 * the data overwrite it.  Buffered, a 1.2 GB checkpoint thus claims 1.2 GB of
 * page cache at once, and claiming memory the machine has not used before is
 * slow on some systems (virtual machines back their memory lazily; there the
 * fill can cost most of the write: scripts/bench-checkpoint.sh measures it).
 * Nobody reads a checkpoint soon, so a thread asks the kernel every few
 * milliseconds to drop the file's pages (POSIX_FADV_DONTNEED starts writeback
 * of dirty pages and frees clean ones): the write recycles a small set of
 * warm pages instead.  Advice only: the file's contents and the write's
 * outcome do not depend on it.
 */
#include "checkpoint_int.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* How often the file's pages are dropped while it is written. */
#define CK_DROP_PERIOD_NS (10 * 1000 * 1000)

struct ck_dropper {
    int fd;
    atomic_int stop;
    pthread_t thread;
};

static void *drop_loop(void *arg)
{
    ck_dropper *d = arg;
    const struct timespec period = {0, CK_DROP_PERIOD_NS};
    while (!atomic_load(&d->stop)) {
        (void)posix_fadvise(d->fd, 0, 0, POSIX_FADV_DONTNEED); /* advice: may fail harmlessly */
        nanosleep(&period, NULL);
    }
    return NULL;
}

ck_dropper *ck_dropper_start(const char *path)
{
    ck_dropper *d = malloc(sizeof *d);
    if (!d)
        return NULL;
    d->fd = open(path, O_RDONLY);
    atomic_init(&d->stop, 0);
    if (d->fd < 0 || pthread_create(&d->thread, NULL, drop_loop, d) != 0) {
        if (d->fd >= 0)
            close(d->fd);
        free(d);
        return NULL;
    }
    return d;
}

void ck_dropper_stop(ck_dropper *d)
{
    if (!d)
        return;
    atomic_store(&d->stop, 1);
    pthread_join(d->thread, NULL);
    (void)posix_fadvise(d->fd, 0, 0, POSIX_FADV_DONTNEED);
    close(d->fd);
    free(d);
}

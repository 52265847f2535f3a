/*
 * scratch.h: memory that lives in files, for renders larger than memory.
 *
 * A gd_scratch is a folder in which mappings are made: each gd_scratch_map
 * creates a file nobody else can see (O_TMPFILE, or a name unlinked at
 * once), reserves its whole size on disk up front (posix_fallocate, so a
 * full disk fails here, at the start, with the folder named, not with a
 * SIGBUS hours later) and maps it shared.  The file vanishes when it is
 * unmapped or the process dies: a killed render leaves no scratch behind.
 *
 * Why files and not swap: the kernel writes a shared file mapping's dirty
 * pages back to the file and drops clean ones, so what a render holds
 * between passes is bounded by what it keeps mapped, not by the image.
 * gd_scratch_release tells the kernel a range is not needed for now
 * (MADV_DONTNEED on a shared mapping: the pages leave the process, the data
 * stays in the file and the page cache); the next touch maps it back.  The
 * renderer releases each window of rows behind it as it streams through a
 * pass, which is what keeps a rank's resident memory within its budget.
 *
 * Never calls MPI; never prints.
 */
#ifndef GIGADREAM_SCRATCH_H
#define GIGADREAM_SCRATCH_H

#include <stddef.h>

#include "gigadream/error.h"

typedef struct gd_scratch gd_scratch;

/*
 * Opens folder dir for scratch mappings: it must exist and take a file (a
 * probe file is made and removed).  GD_EIO naming dir when it cannot.
 */
gd_status gd_scratch_open(const char *dir, gd_scratch **out, gd_err *err);
void gd_scratch_close(gd_scratch *s);

/* Bytes the folder's file system has free for us, or -1 when unknown. */
double gd_scratch_room(const gd_scratch *s);

/* The folder (as given). */
const char *gd_scratch_dir(const gd_scratch *s);

/*
 * A zero-filled shared mapping of `bytes` (> 0) in a new file of the folder,
 * reserved on disk in full.  `what` names it in errors ("image band").
 * Returns NULL with err set (GD_EIO: no room or no file; GD_ENOMEM: no
 * address space).  Free with gd_scratch_unmap.
 */
void *gd_scratch_map(gd_scratch *s, size_t bytes, const char *what, gd_err *err);
void gd_scratch_unmap(gd_scratch *s, void *p, size_t bytes);

/*
 * Zeroes [p, p + bytes) of a mapping made here, releasing it from memory
 * (gd_scratch_release) as it goes.
 */
void gd_scratch_zero(void *p, size_t bytes);

/*
 * Drops the whole pages of [p, p + bytes) from the process's resident
 * memory; their contents stay in the file.  p must lie in a mapping made by
 * gd_scratch_map.
 */
void gd_scratch_release(void *p, size_t bytes);

/*
 * Brings the pages of [p, p + bytes) of a mapping made here into memory in
 * one call, before a pass reads them or, when write, writes them
 * (MADV_POPULATE_READ / _WRITE: the latter marks them dirty, so a pass
 * that only reads must not ask for it):
 * one trap per 4 KB page on first touch was what made streaming through
 * the files cost more than computing (measured: a pass over an accumulator
 * window took 15x its in-memory time in a paravirtualized VM).
 * Advice only: values are unchanged; a kernel without it faults as before.
 */
void gd_scratch_populate(void *p, size_t bytes, int write);
/* Bytes of the folder's files now, and at most so far. */
size_t gd_scratch_bytes(const gd_scratch *s);
size_t gd_scratch_peak(const gd_scratch *s);

#endif

/*
 * error.c: status codes and error messages with context.
 */
#include "gigadream/error.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {
    [GD_OK] = "ok",
    [GD_EINPUT] = "bad input",
    [GD_EIO] = "I/O error",
    [GD_ENOMEM] = "out of memory",
    [GD_ELIB] = "library failure",
    [GD_ESTOPPED] = "stopped",
};
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) == GD_STATUS_COUNT,
               "status_names must name every gd_status");

void gd_err_clear(gd_err *err)
{
    if (err) {
        err->status = GD_OK;
        err->msg[0] = '\0';
    }
}

gd_status gd_err_set(gd_err *err, gd_status st, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = st;
    }
    return st;
}

gd_status gd_err_prefix(gd_err *err, const char *fmt, ...)
{
    if (!err)
        return GD_OK;
    char prefix[GD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return err->status;
    size_t plen = strlen(prefix);
    memcpy(prefix + plen, ": ", 3);
    plen += 2;
    /* Shift the old message right to make room, truncating its tail. */
    size_t olen = strnlen(err->msg, sizeof err->msg - 1);
    if (plen + olen > sizeof err->msg - 1)
        olen = sizeof err->msg - 1 - plen;
    memmove(err->msg + plen, err->msg, olen);
    memcpy(err->msg, prefix, plen);
    err->msg[plen + olen] = '\0';
    return err->status;
}

int gd_status_exit_code(gd_status st)
{
    switch (st) {
    case GD_OK:
        return 0;
    case GD_EINPUT:
        return 1;
    case GD_ESTOPPED:
        return 3;
    case GD_EIO:
    case GD_ENOMEM:
    case GD_ELIB:
    case GD_STATUS_COUNT:
        break;
    }
    return 2;
}

const char *gd_status_name(gd_status st)
{
    if ((unsigned)st >= GD_STATUS_COUNT)
        return "unknown status";
    return status_names[st];
}

const char *gd_bytes_str(double bytes, char buf[32])
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 5) {
        bytes /= 1024.0;
        u++;
    }
    snprintf(buf, 32, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
    return buf;
}

void *gd_malloc(size_t bytes, const char *what, gd_err *err)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        char b[32];
        gd_err_set(err, GD_ENOMEM, "out of memory allocating %s for %s",
                   gd_bytes_str((double)bytes, b), what);
    }
    return p;
}

void *gd_calloc(size_t count, size_t size, const char *what, gd_err *err)
{
    if (size && count > SIZE_MAX / size) {
        gd_err_set(err, GD_ENOMEM, "%s: size overflow (%zu x %zu bytes)", what, count, size);
        return NULL;
    }
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        char b[32];
        gd_err_set(err, GD_ENOMEM, "out of memory allocating %s for %s",
                   gd_bytes_str((double)count * (double)size, b), what);
    }
    return p;
}

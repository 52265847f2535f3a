/*
 * file.c: a model file read whole (see file_int.h).
 */
#include "file_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

gd_status imp_read_file(const char *path, size_t max, const char *what, uint8_t **data,
                        size_t *size, gd_err *err)
{
    gd_status st = GD_OK;
    struct stat sb;
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return gd_err_set(err, GD_EINPUT, "cannot open: %s", strerror(errno));
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = gd_err_set(err, GD_EINPUT, "not a regular file");
        goto done;
    }
    if (sb.st_size == 0) {
        st = gd_err_set(err, GD_EINPUT, "empty file, not a %s", what);
        goto done;
    }
    if ((unsigned long long)sb.st_size > (unsigned long long)max) {
        char b[32];
        st = gd_err_set(err, GD_EINPUT, "%lld bytes is too large for a %s (at most %s)",
                        (long long)sb.st_size, what, gd_bytes_str((double)max, b));
        goto done;
    }
    *size = (size_t)sb.st_size;
    if (!(*data = gd_malloc(*size, what, err))) {
        st = err->status;
        *size = 0;
        goto done;
    }
    if (fread(*data, 1, *size, f) != *size) {
        st = gd_err_set(err, GD_EIO, "read error: %s", ferror(f) ? strerror(errno) : "short read");
        free(*data);
        *data = NULL;
        *size = 0;
    }
done:
    fclose(f);
    return st;
}

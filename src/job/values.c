/*
 * values.c: strict parsing of job values: integers, numbers, booleans,
 * layer specs and channel lists, and the edit distance behind "did you
 * mean".  No value is accepted with trailing garbage, a hex or inf/nan
 * spelling, or out of its type's range.
 *
 * The job module's bottom layer: it knows no key, no section and no gd_job,
 * and calls no other file of the module.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "job_int.h"

/* Optimal string alignment distance (edits and adjacent swaps), case-insensitive. */
int job_distance(const char *a, const char *b)
{
    enum { MAXL = 40 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAXL || lb >= MAXL)
        return 99;
    int d[MAXL + 1][MAXL + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int cost = ca != cb;
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

/* Close enough to be a typo: one edit in a short word, two in a longer one. */
int job_close(const char *typed, const char *known)
{
    int d = job_distance(typed, known);
    return d <= (strlen(known) <= 5 ? 1 : 2);
}

char *job_strdup(const char *s, gd_err *err)
{
    size_t n = strlen(s) + 1;
    char *d = gd_malloc(n, "job text", err);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* An optionally signed decimal integer and nothing else. */
int job_parse_int(const char *s, long long *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return 0;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return 0;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end)
        return 0;
    *out = v;
    return 1;
}

int job_parse_u64(const char *s, uint64_t *out)
{
    if (!*s)
        return 0;
    for (const char *q = s; *q; q++)
        if (!isdigit((unsigned char)*q))
            return 0;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE || *end || v > UINT64_MAX)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

/* A finite decimal number (no hex, inf or nan) and nothing else. */
int job_parse_number(const char *s, double *out)
{
    int digits = 0;
    for (const char *q = s; *q; q++) {
        if (isdigit((unsigned char)*q))
            digits = 1;
        else if (!strchr("+-.eE", *q))
            return 0;
    }
    if (!digits)
        return 0;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (*end || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

int job_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 1;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 1;
        }
    }
    return 0;
}

/*
 * Copies s[0..n) without surrounding blanks into buf (NUL-terminated);
 * returns its length.  buf may be s itself (trimming in place).
 */
size_t job_trim(const char *s, size_t n, char *buf, size_t len)
{
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= len)
        n = len - 1;
    memmove(buf, s, n);
    buf[n] = '\0';
    return n;
}

void job_fmt_float(float f, char *buf, size_t len)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, len, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            return;
    }
}

/*
 * "name[:weight][, name[:weight]]..." -> the normalized form "name, name:w"
 * (weight 1 dropped unless the name holds a ':').  why gets the reason on
 * GD_EINPUT.
 */
gd_status job_parse_layers(const char *value, char **out, int *n_out, char *why, size_t wlen,
                           gd_err *err)
{
    char names[GD_OBJ_MAX_LAYERS][GD_NAME_MAX];
    char norm[GD_OBJ_MAX_LAYERS * (GD_NAME_MAX + 24)];
    size_t used = 0;
    int n = 0;
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[512];
        if (len >= sizeof item) {
            snprintf(why, wlen, "layer entry '%.40s...' is too long", p);
            return GD_EINPUT;
        }
        job_trim(p, len, item, sizeof item);
        if (!item[0]) {
            snprintf(why, wlen, "%s",
                     n == 0 && !comma ? "must name a layer" : "has an empty entry");
            return GD_EINPUT;
        }
        if (n == GD_OBJ_MAX_LAYERS) {
            snprintf(why, wlen, "names more than %d layers", GD_OBJ_MAX_LAYERS);
            return GD_EINPUT;
        }
        float weight = 1.0f;
        char *colon = strrchr(item, ':');
        if (colon) {
            char wtext[64];
            job_trim(colon + 1, strlen(colon + 1), wtext, sizeof wtext);
            double w;
            if (!job_parse_number(wtext, &w) || !isfinite((float)w)) {
                snprintf(why, wlen, "weight '%s' of layer '%.*s' is not a finite number", wtext,
                         (int)(colon - item), item);
                return GD_EINPUT;
            }
            weight = (float)w;
            *colon = '\0';
            job_trim(item, strlen(item), item, sizeof item);
            if (!item[0]) {
                snprintf(why, wlen, "weight '%s' has no layer name", wtext);
                return GD_EINPUT;
            }
        }
        if (strlen(item) >= GD_NAME_MAX) {
            snprintf(why, wlen, "layer name '%.40s...' is longer than %d characters", item,
                     GD_NAME_MAX - 1);
            return GD_EINPUT;
        }
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], item) == 0) {
                snprintf(why, wlen, "names layer '%s' twice", item);
                return GD_EINPUT;
            }
        memcpy(names[n], item, strlen(item) + 1);
        used += (size_t)snprintf(norm + used, sizeof norm - used, "%s%s", n ? ", " : "", item);
        if (weight != 1.0f || strchr(item, ':')) {
            char wbuf[32];
            job_fmt_float(weight, wbuf, sizeof wbuf);
            used += (size_t)snprintf(norm + used, sizeof norm - used, ":%s", wbuf);
        }
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    char *s = job_strdup(norm, err);
    if (!s)
        return err->status;
    free(*out);
    *out = s;
    *n_out = n;
    return GD_OK;
}

/* "all" -> NULL; "3, 17, 42" -> the normalized list. */
gd_status job_parse_channels(const char *value, char **out, int *n_out, char *why, size_t wlen,
                             gd_err *err)
{
    enum { MAX_CHANNELS = 4096 };
    if (strcasecmp(value, "all") == 0) {
        free(*out);
        *out = NULL;
        *n_out = 0;
        return GD_OK;
    }
    int n = 1;
    for (const char *q = value; *q; q++)
        n += *q == ',';
    if (n > MAX_CHANNELS) {
        snprintf(why, wlen, "lists more than %d channels", MAX_CHANNELS);
        return GD_EINPUT;
    }
    gd_status st = GD_OK;
    int *list = gd_calloc((size_t)n, sizeof *list, "channel list", err);
    char *norm = gd_calloc((size_t)n, 12, "channel list", err);
    if (!list || !norm) {
        st = GD_ENOMEM;
        goto done;
    }
    size_t used = 0;
    const char *p = value;
    for (int i = 0; i < n; i++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[32];
        long long v;
        if (len >= sizeof item || !job_trim(p, len, item, sizeof item) ||
            !job_parse_int(item, &v) || v < 0 || v > INT_MAX) {
            snprintf(why, wlen, "must be 'all' or a list of channel indices (integers >= 0)");
            st = GD_EINPUT;
            goto done;
        }
        for (int j = 0; j < i; j++)
            if (list[j] == (int)v) {
                snprintf(why, wlen, "lists channel %lld twice", v);
                st = GD_EINPUT;
                goto done;
            }
        list[i] = (int)v;
        used +=
            (size_t)snprintf(norm + used, (size_t)n * 12 - used, "%s%d", i ? ", " : "", list[i]);
        p = comma ? comma + 1 : p + len;
    }
    free(*out);
    *out = norm;
    norm = NULL;
    *n_out = n;
done:
    free(list);
    free(norm);
    return st;
}

int job_parse_bytes(const char *text, double *bytes)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno || !isfinite(v) || v < 0)
        return 0;
    while (isspace((unsigned char)*end))
        end++;
    double mul = 1;
    const char *units = "KMGT";
    const char *u = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
    if (u) {
        for (const char *q = units; q <= u; q++)
            mul *= 1024.0;
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
    } else if (*end == 'b' || *end == 'B') {
        end++;
    }
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return 0;
    *bytes = floor(v * mul);
    return 1;
}

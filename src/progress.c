/*
 * progress.c: log lines and the TTY progress bar (contract in progress.h).
 *
 * Every line is formatted into a buffer first and written with one fputs, so
 * a line is never interleaved with other output of this process mid-way.
 */
#include "gigadream/progress.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { LINE_MAX_LEN = 1024, DEFAULT_BAR = 30, MAX_BAR = 200 };

struct gd_progress {
    FILE *out;
    int tty;
    gd_clock_fn clock;
    void *clock_ctx;
    gd_clock_fn wall; /* seconds since the Unix epoch, for the ISO 8601 stamp */
    double t0;        /* clock at creation */
    double total;     /* work units of the whole run */
    double done0;     /* work done before this run */
    double done;      /* work done, including done0 */
    int bar_width;
    int bar_len; /* characters of the bar on screen now; 0 = none drawn */
    char bar[LINE_MAX_LEN];
};

static double epoch_seconds(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double monotonic_seconds(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

gd_status gd_progress_create(double total, const gd_progress_opts *opts, gd_progress **out,
                             gd_err *err)
{
    *out = NULL;
    if (!(total > 0) || !isfinite(total))
        return gd_err_set(err, GD_EINPUT, "progress: total work must be > 0, got %g", total);
    gd_progress *p = gd_calloc(1, sizeof *p, "progress", err);
    if (!p)
        return GD_ENOMEM;
    gd_progress_opts o = {0};
    o.tty = -1;
    if (opts)
        o = *opts;
    p->out = o.out ? o.out : stderr;
    p->clock = o.clock ? o.clock : monotonic_seconds;
    p->clock_ctx = o.clock_ctx;
    p->wall = o.wall ? o.wall : epoch_seconds;
    p->tty = o.tty < 0 ? isatty(fileno(p->out)) : o.tty != 0;
    p->bar_width = o.bar_width > 0 ? (o.bar_width < MAX_BAR ? o.bar_width : MAX_BAR) : DEFAULT_BAR;
    p->total = total;
    p->done0 = p->done = o.done > 0 ? o.done : 0;
    p->t0 = p->clock(p->clock_ctx);
    *out = p;
    return GD_OK;
}

const char *gd_progress_hms(double seconds, char buf[32])
{
    if (!(seconds >= 0) || !isfinite(seconds) || seconds > 1e12) {
        snprintf(buf, 32, "-:--:--");
        return buf;
    }
    long long s = (long long)(seconds + 0.5);
    snprintf(buf, 32, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    return buf;
}

double gd_progress_done(const gd_progress *p)
{
    return p->done;
}

double gd_progress_total(const int *w, const int *h, int n, int iterations)
{
    double t = 0;
    for (int k = 0; k < n; k++)
        t += (double)iterations * w[k] * h[k];
    return t;
}

/* Overwrites the bar with blanks and returns the cursor to the line's start. */
static void erase_bar(gd_progress *p)
{
    if (p->bar_len == 0)
        return;
    char blank[LINE_MAX_LEN + 3];
    blank[0] = '\r';
    memset(blank + 1, ' ', (size_t)p->bar_len);
    blank[p->bar_len + 1] = '\r';
    blank[p->bar_len + 2] = '\0';
    fputs(blank, p->out);
    p->bar_len = 0;
}

static void draw_bar(gd_progress *p)
{
    if (!p->bar[0])
        return;
    fputc('\r', p->out);
    fputs(p->bar, p->out);
    p->bar_len = (int)strlen(p->bar);
    fflush(p->out);
}

const char *gd_progress_iso8601(double epoch, char buf[32])
{
    struct tm tm;
    time_t t = (time_t)floor(epoch);
    if (!isfinite(epoch) || !gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, 32, "0000-00-00T00:00:00Z");
    return buf;
}

/*
 * "[YYYY-MM-DDTHH:MM:SSZ H:MM:SS] " for now: the wall clock in UTC, so the
 * logs of a requeued job (whose elapsed time restarts at 0:00:00) and of
 * several nodes line up, then the time elapsed since creation.
 */
static void stamp(const gd_progress *p, char buf[80])
{
    char hms[32], iso[32];
    gd_progress_hms(p->clock(p->clock_ctx) - p->t0, hms);
    gd_progress_iso8601(p->wall(p->clock_ctx), iso);
    snprintf(buf, 80, "[%s %s] ", iso, hms);
}

/* Writes one finished log line (with its newline) above the bar. */
static void put_line(gd_progress *p, const char *line)
{
    erase_bar(p);
    fputs(line, p->out);
    if (p->tty)
        draw_bar(p);
    fflush(p->out);
}

void gd_progress_log(gd_progress *p, const char *fmt, ...)
{
    char line[LINE_MAX_LEN];
    stamp(p, line);
    size_t n = strlen(line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    n = strlen(line);
    line[n] = '\n';
    line[n + 1] = '\0';
    put_line(p, line);
}

void gd_progress_iteration(gd_progress *p, const gd_progress_step *s)
{
    p->done += s->mpix * 1e6;
    double elapsed = p->clock(p->clock_ctx) - p->t0;
    double rate = elapsed > 0 ? (p->done - p->done0) / elapsed : 0; /* units per second */
    double left = p->total - p->done;
    double eta = rate > 0 ? (left > 0 ? left : 0) / rate : -1;
    char hms[32];
    gd_progress_hms(eta, hms);

    char line[LINE_MAX_LEN];
    stamp(p, line);
    size_t n = strlen(line);
    snprintf(line + n, sizeof line - n,
             "octave %d/%d iteration %d/%d: %d tiles, %.2f MPix/s, objective %.4g, ETA %s\n",
             s->octave + 1, s->octaves, s->iteration + 1, s->iterations, s->tiles, rate / 1e6,
             s->objective, hms);

    if (p->tty) {
        double frac = p->done / p->total;
        frac = frac < 0 ? 0 : (frac > 1 ? 1 : frac);
        int fill = (int)(frac * p->bar_width + 0.5);
        char cells[MAX_BAR + 1];
        memset(cells, '#', (size_t)fill);
        memset(cells + fill, '-', (size_t)(p->bar_width - fill));
        cells[p->bar_width] = '\0';
        snprintf(p->bar, sizeof p->bar, "[%s] %5.1f%%  octave %d/%d  iteration %d/%d  ETA %s",
                 cells, 100.0 * frac, s->octave + 1, s->octaves, s->iteration + 1, s->iterations,
                 hms);
    }
    put_line(p, line);
}

void gd_progress_finish(gd_progress *p)
{
    if (!p)
        return;
    erase_bar(p);
    p->bar[0] = '\0';
    fflush(p->out);
}

void gd_progress_free(gd_progress *p)
{
    if (!p)
        return;
    gd_progress_finish(p);
    free(p);
}

/*
 * gallery.c: the layer gallery (see gallery.h).
 *
 * Each cell is an ordinary render of one job file written here, with the
 * cell's layer, channel and output given as overrides, so a cell is exactly
 * what `gigadream render` makes of that job.  Rank 0 then draws the sheet
 * with cairo (cells, labels) and writes it through imageio.
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include "gigadream/gallery.h"

#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gigadream/image.h"
#include "gigadream/imageio.h"
#include "gigadream/model.h"
#include "gigadream/render.h"
#include "gigadream/resample.h"

#define GL_BASE 96   /* the seed's side: lapnorm's 3 octaves end at 1.4^2 x 96 = 188 */
#define GL_CELL 160  /* a cell's side on the sheet */
#define GL_GAP 6     /* between cells */
#define GL_STRIP 16  /* the channel label above a cell */
#define GL_LABEL 200 /* the layer names' column */
#define GL_MAX_ROWS 256

typedef struct cell {
    int layer; /* node index */
    int channel;
} cell;

/* The layers' node indices: the names given, or every convolution. */
static gd_status pick_layers(const gd_model *m, const char *names, int *idx, int *n, gd_err *err)
{
    *n = 0;
    if (!names) {
        for (int i = 0; i < m->n_nodes && *n < GL_MAX_ROWS; i++)
            if (m->nodes[i].op == GD_OP_CONV)
                idx[(*n)++] = i;
        return GD_OK;
    }
    char buf[4096];
    if (strlen(names) >= sizeof buf)
        return gd_err_set(err, GD_EINPUT, "--layers: list too long");
    strcpy(buf, names);
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (*n == GL_MAX_ROWS)
            return gd_err_set(err, GD_EINPUT, "--layers: more than %d layers", GL_MAX_ROWS);
        gd_status st = gd_model_find(m, t, &idx[*n], err);
        if (st != GD_OK)
            return st;
        (*n)++;
    }
    if (*n == 0)
        return gd_err_set(err, GD_EINPUT, "--layers: no layer named");
    return GD_OK;
}

/* The job every cell renders, with its overrides. */
static gd_status write_job(const char *path, const gd_gallery_opts *o, gd_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return gd_err_set(err, GD_EIO, "%s: %s", path, strerror(errno));
    fprintf(f,
            "# gigadream gallery: one cell (layer, channel and output come as --set)\n"
            "[input]\nimage = %s\nwidth = %d\nheight = %d\n"
            "[model]\nfile = %s\nlayer = %s\n"
            "[dream]\nmode = lapnorm\n"
            "[output]\nfile = cell.png\noverwrite = true\npreview = 0\n",
            o->seed ? o->seed : "noise", GL_BASE, GL_BASE, o->model, "unset");
    if (fclose(f) != 0)
        return gd_err_set(err, GD_EIO, "%s: cannot write: %s", path, strerror(errno));
    return GD_OK;
}

/* ---- The sheet (rank 0) ---------------------------------------------------- */

static void cell_origin(int row, int col, int *x, int *y)
{
    *x = GL_LABEL + col * (GL_CELL + GL_GAP);
    *y = GL_GAP + row * (GL_CELL + GL_STRIP + GL_GAP) + GL_STRIP;
}

/* Puts a float RGB image (GL_CELL square) into the cairo surface at (x, y). */
static void blit(unsigned char *px, int stride, const gd_image *im, int x, int y)
{
    for (int j = 0; j < im->full_h; j++) {
        const float *s = gd_image_row(im, j);
        uint32_t *d = (uint32_t *)(px + (size_t)(y + j) * stride) + x;
        for (int i = 0; i < im->w; i++) {
            uint32_t c = 0xff000000u;
            for (int k = 0; k < 3; k++)
                c |= (uint32_t)gd_quantize(s[3 * i + k], 8) << (16 - 8 * k);
            d[i] = c;
        }
    }
}

static gd_status draw_sheet(const gd_gallery_opts *o, const gd_model *m, const cell *cells,
                            int rows, int cols, const char *dir, gd_gallery_result *res,
                            gd_err *err)
{
    gd_status st = GD_OK;
    const int w = GL_LABEL + cols * (GL_CELL + GL_GAP),
              h = GL_GAP + rows * (GL_CELL + GL_STRIP + GL_GAP);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_t *cr = cairo_create(s);
    gd_image im = {0}, small = {0}, sheet = {0};
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        st = gd_err_set(err, GD_ENOMEM, "cairo: %s", cairo_status_to_string(cairo_status(cr)));
        goto done;
    }
    cairo_set_source_rgb(cr, 0.08, 0.08, 0.08);
    cairo_paint(cr);
    cairo_surface_flush(s);
    if ((st = gd_image_alloc_full(&small, GL_CELL, GL_CELL, 3, err)) != GD_OK)
        goto done;
    unsigned char *px = cairo_image_surface_get_data(s);
    const int stride = cairo_image_surface_get_stride(s);
    for (int i = 0; i < rows * cols; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/cell-%04d.png", dir, i);
        if ((st = gd_image_read(path, &im, NULL, err)) != GD_OK ||
            (st = gd_resample(&im, &small, GD_FILTER_TRIANGLE, err)) != GD_OK)
            goto done;
        gd_image_free(&im);
        int x, y;
        cell_origin(i / cols, i % cols, &x, &y);
        blit(px, stride, &small, x, y);
    }
    cairo_surface_mark_dirty(s);
    /* Labels: the layer's name left of its row, the channel above each cell. */
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr, 0.92, 0.92, 0.92);
    for (int r = 0; r < rows; r++) {
        int x, y;
        cell_origin(r, 0, &x, &y);
        cairo_set_font_size(cr, 13);
        cairo_move_to(cr, 8, y + GL_CELL / 2 + 5);
        cairo_show_text(cr, m->nodes[cells[r * cols].layer].name);
        cairo_set_font_size(cr, 11);
        for (int c = 0; c < cols; c++) {
            char text[32];
            cell_origin(r, c, &x, &y);
            snprintf(text, sizeof text, "channel %d", cells[r * cols + c].channel);
            cairo_move_to(cr, x + 2, y - 4);
            cairo_show_text(cr, text);
        }
    }
    cairo_surface_flush(s);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        st = gd_err_set(err, GD_EIO, "cairo: %s", cairo_status_to_string(cairo_status(cr)));
        goto done;
    }
    /* Back to floats, written by imageio like any output. */
    if ((st = gd_image_alloc_full(&sheet, w, h, 3, err)) != GD_OK)
        goto done;
    for (int y = 0; y < h; y++) {
        const uint32_t *sp = (const uint32_t *)(px + (size_t)y * stride);
        float *d = gd_image_row(&sheet, y);
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
                d[3 * x + k] = (float)((sp[x] >> (16 - 8 * k)) & 0xff);
    }
    gd_write_opts wo = {.bits = 8, .overwrite = 1, .description = "gigadream gallery"};
    gd_writer *wr = NULL;
    if ((st = gd_writer_open(o->out, w, h, &wo, &wr, err)) != GD_OK)
        goto done;
    if ((st = gd_writer_write_rows(wr, &sheet, err)) != GD_OK) {
        gd_writer_abort(wr);
        goto done;
    }
    if ((st = gd_writer_commit(wr, err)) != GD_OK)
        goto done;
    res->w = w;
    res->h = h;
done:
    gd_image_free(&im);
    gd_image_free(&small);
    gd_image_free(&sheet);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    return st;
}

/* ---- The gallery ------------------------------------------------------------ */

gd_status gd_gallery(const gd_gallery_opts *o, gd_dist *d, gd_gallery_result *res, gd_err *err)
{
    gd_status st, local = GD_OK;
    gd_model *m = NULL;
    gd_shape *shapes = NULL;
    cell *cells = NULL;
    int idx[GL_MAX_ROWS], rows = 0;
    const int rank = gd_dist_rank(d), cols = o->channels;
    char dir[4096], job[4200];
    memset(res, 0, sizeof *res);
    const double t0 = gd_dist_now();
    /* The job's paths resolve against its own folder: give it absolute ones. */
    char model[4096], seed[4096], cwd[2048];
    if (!realpath(o->model, model))
        return gd_err_set(err, GD_EINPUT, "%s: %s", o->model, strerror(errno));
    if (o->seed && !realpath(o->seed, seed))
        return gd_err_set(err, GD_EINPUT, "%s: %s", o->seed, strerror(errno));
    if (!getcwd(cwd, sizeof cwd))
        return gd_err_set(err, GD_EIO, "cannot name the current folder: %s", strerror(errno));
    gd_gallery_opts abs = *o;
    abs.model = model;
    abs.seed = o->seed ? seed : NULL;
    int n = o->out[0] == '/' ? snprintf(dir, sizeof dir, "%s.cells", o->out)
                             : snprintf(dir, sizeof dir, "%s/%s.cells", cwd, o->out);
    if (n < 0 || (size_t)n >= sizeof dir)
        return gd_err_set(err, GD_EINPUT, "%s: path too long", o->out);
    snprintf(job, sizeof job, "%s/cell.ini", dir);

    if (cols < 1 || cols > 1024)
        local = gd_err_set(err, GD_EINPUT, "--channels %d: expected 1 to 1024", cols);
    if (local == GD_OK)
        local = gd_model_load(o->model, &m, err);
    if (local == GD_OK)
        local = pick_layers(m, o->layers, idx, &rows, err);
    if (local == GD_OK &&
        !(shapes = gd_calloc((size_t)m->n_nodes, sizeof *shapes, "layer shapes", err)))
        local = GD_ENOMEM;
    if (local == GD_OK)
        local = gd_model_shapes(m, m->in_h, m->in_w, shapes, err); /* for channel counts */
    if (local == GD_OK && !(cells = gd_calloc((size_t)rows * cols, sizeof *cells, "cells", err)))
        local = GD_ENOMEM;
    for (int r = 0; local == GD_OK && r < rows; r++)
        for (int c = 0; c < cols; c++)
            cells[r * cols + c] = (cell){idx[r], (int)((long)c * shapes[idx[r]].c / cols)};
    if (local == GD_OK && rank == 0) {
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            local = gd_err_set(err, GD_EIO, "%s: cannot create: %s", dir, strerror(errno));
        else
            local = write_job(job, &abs, err);
    }
    if ((st = gd_dist_agree(d, local, err)) != GD_OK)
        goto done;

    res->rows = rows;
    res->cols = cols;
    res->min_gain = INFINITY;
    for (int i = 0; i < rows * cols; i++) {
        char set_layer[600], set_ch[64], set_out[4300];
        snprintf(set_layer, sizeof set_layer, "model.layer=%s", m->nodes[cells[i].layer].name);
        snprintf(set_ch, sizeof set_ch, "model.channels=%d", cells[i].channel);
        snprintf(set_out, sizeof set_out, "output.file=%s/cell-%04d.png", dir, i);
        const char *sets[] = {set_layer, set_ch, set_out};
        gd_render_opts ro = {.job_path = job, .overrides = sets, .n_overrides = 3, .quiet = 1};
        gd_render_result rr;
        if ((st = gd_render(&ro, d, &rr, err)) != GD_OK) {
            gd_err_prefix(err, "gallery cell %s channel %d", m->nodes[cells[i].layer].name,
                          cells[i].channel);
            goto done;
        }
        double gain = rr.objective_seed != 0 ? rr.objective_out / rr.objective_seed : 0;
        if (gain < res->min_gain)
            res->min_gain = gain;
        if (rank == 0)
            fprintf(stderr,
                    "gallery: %d/%d %s channel %d: objective %.3g (%.2fx the seed's), %.1f s\n",
                    i + 1, rows * cols, m->nodes[cells[i].layer].name, cells[i].channel,
                    rr.objective_out, gain, rr.seconds);
    }
    local = rank == 0 ? draw_sheet(o, m, cells, rows, cols, dir, res, err) : GD_OK;
    st = gd_dist_agree(d, local, err);
    res->seconds = gd_dist_now() - t0;
done:
    if (rank == 0) {
        /* The cells and the job are scratch: removed whatever happened. */
        char path[4300];
        for (int i = 0; cells && i < rows * cols; i++) {
            snprintf(path, sizeof path, "%s/cell-%04d.png", dir, i);
            unlink(path);
        }
        unlink(job);
        rmdir(dir);
    }
    free(cells);
    free(shapes);
    gd_model_free(m);
    return st;
}

/*
 * gallery.h: a contact sheet of what each layer of a model paints.
 *
 * One row per layer (every convolution, depthwise ones included, by
 * default: "show all layers"), `channels` cells per row, each the lapnorm
 * dream (render.h, mode lapnorm: 3 octaves x 10 iterations from a 96 x 96
 * seed) of one channel of that layer, from noise or from a photo, shrunk to
 * a 160-pixel cell and labelled with its layer and channel (libcairo, with
 * the system's sans-serif font).  The channels of a layer with C channels
 * are k * C / channels for k = 0..channels-1, spread over the layer.
 * Every cell is a whole render on every rank (each split into row bands as
 * any render is), so the sheet's bytes are the same on any number of ranks.
 */
#ifndef GIGADREAM_GALLERY_H
#define GIGADREAM_GALLERY_H

#include "gigadream/dist.h"
#include "gigadream/error.h"

typedef struct gd_gallery_opts {
    const char *model;  /* a gigadream .h5 model */
    const char *layers; /* comma-separated layer names, or NULL: every convolution */
    int channels;       /* cells per layer, >= 1 */
    const char *seed;   /* a photo to dream on, or NULL: noise */
    const char *out;    /* the sheet, a .png (replaced if it exists) */
} gd_gallery_opts;

/* What the sheet holds, on rank 0. */
typedef struct gd_gallery_result {
    int rows, cols;  /* layers, channels */
    int w, h;        /* the sheet's size */
    double min_gain; /* the smallest objective gain (output / seed) of any cell */
    double seconds;  /* wall time */
} gd_gallery_result;

/* Collective.  Renders the cells in a folder beside out (removed at the
 * end) and writes the sheet. */
gd_status gd_gallery(const gd_gallery_opts *o, gd_dist *d, gd_gallery_result *res, gd_err *err);

#endif

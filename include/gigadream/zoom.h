/*
 * zoom.h: a deep-zoom viewer for a rendered TIFF.
 *
 * gd_zoom_write turns a gigadream TIFF (tiled, with its pyramid) into a
 * folder a browser opens with no server:
 *   DIR/index.html          OpenSeadragon, the tile source given inline (a
 *                           file:// page may not fetch the .dzi)
 *   DIR/image.dzi           the Deep Zoom descriptor (for other viewers)
 *   DIR/image_files/L/C_R.jpg  256 x 256 JPEG tiles, no overlap; level L of
 *                           maxL = ceil(log2(max(w, h))) is the image shrunk
 *                           2^(maxL - L) times, ceil(w / 2^(maxL - L)) wide
 *   DIR/openseadragon/      openseadragon.min.js and its button images,
 *                           copied from osd_dir
 * Deep Zoom level maxL - k is the TIFF's own directory k (the same
 * ceil-halving), read a band of 256 rows at a time; levels smaller than the
 * TIFF's smallest directory (at most a tile) are 2x2 box averages of it made
 * in memory.  So memory is one band of 256 rows of the widest level, for any
 * image size.  The folder is written under DIR.tmp.PID and renamed to DIR
 * when complete; DIR must not exist.
 */
#ifndef GIGADREAM_ZOOM_H
#define GIGADREAM_ZOOM_H

#include "gigadream/error.h"

typedef struct gd_zoom_result {
    int w, h;         /* the image */
    int levels;       /* Deep Zoom levels (maxL + 1) */
    int from_tiff;    /* of which read from the TIFF's directories */
    long tiles;       /* tiles written */
    double peak_band; /* bytes of the largest band held */
} gd_zoom_result;

/*
 * Writes the viewer for `tiff` into `dir` (see above).  osd_dir holds
 * OpenSeadragon's build (openseadragon.min.js, images/).  GD_EINPUT for a
 * file that is not a gigadream TIFF with its pyramid down to one tile, an
 * existing dir, or an osd_dir without OpenSeadragon; GD_EIO when writing
 * fails (nothing is left at dir then).
 */
gd_status gd_zoom_write(const char *tiff, const char *dir, const char *osd_dir, gd_zoom_result *res,
                        gd_err *err);

#endif

/*
 * zoom.c: the deep-zoom viewer of a rendered TIFF (see zoom.h).
 *
 * Deep Zoom level L of maxL is ceil(w / 2^k) x ceil(h / 2^k) with
 * k = maxL - L, which is exactly the size of gigadream's pyramid directory k
 * (each level ((w + 1) / 2) of the last).  So the tiles of level maxL - k are
 * cut from directory k as it is read, 256 rows at a time, and nothing is
 * resampled except below the TIFF's smallest directory.
 */
#define _XOPEN_SOURCE 700 /* nftw, to remove a half-written folder */

#include "gigadream/zoom.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gigadream/image.h"
#include "gigadream/imageio.h"

#define ZOOM_TILE 256
/* The smallest directory is held whole to make the levels below it: at most this side. */
#define ZOOM_MAX_TAIL 2048

/* ---- Files -------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Removes a folder and everything in it (a failed zoom's temporary). */
static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static gd_status make_dir(const char *path, gd_err *err)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return gd_err_set(err, GD_EIO, "%s: cannot create the folder: %s", path, strerror(errno));
    return GD_OK;
}

static gd_status copy_file(const char *from, const char *to, gd_err *err)
{
    gd_status st = GD_OK;
    char buf[65536];
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    if (!in || !out) {
        st = gd_err_set(err, in ? GD_EIO : GD_EINPUT, "%s: %s", in ? to : from, strerror(errno));
        goto done;
    }
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) {
            st = gd_err_set(err, GD_EIO, "%s: cannot write: %s", to, strerror(errno));
            goto done;
        }
    if (ferror(in))
        st = gd_err_set(err, GD_EIO, "%s: cannot read: %s", from, strerror(errno));
done:
    if (out && fclose(out) != 0 && st == GD_OK)
        st = gd_err_set(err, GD_EIO, "%s: cannot write: %s", to, strerror(errno));
    if (in)
        fclose(in);
    return st;
}

/* "a/b" into buf, or GD_EINPUT when it does not fit. */
static gd_status join(char *buf, size_t len, const char *a, const char *b, gd_err *err)
{
    int n = snprintf(buf, len, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= len)
        return gd_err_set(err, GD_EINPUT, "%s/%s: path too long", a, b);
    return GD_OK;
}

/* OpenSeadragon's script and button images into out/openseadragon. */
static gd_status copy_osd(const char *osd, const char *out, gd_err *err)
{
    char dst[PATH_MAX], src[PATH_MAX], img[PATH_MAX], dimg[PATH_MAX];
    gd_status st;
    if ((st = join(dst, sizeof dst, out, "openseadragon", err)) != GD_OK ||
        (st = make_dir(dst, err)) != GD_OK || (st = join(src, sizeof src, osd, "", err)) != GD_OK)
        return st;
    if ((st = join(src, sizeof src, osd, "openseadragon.min.js", err)) != GD_OK ||
        (st = join(img, sizeof img, dst, "openseadragon.min.js", err)) != GD_OK ||
        (st = copy_file(src, img, err)) != GD_OK)
        return st;
    if ((st = join(img, sizeof img, osd, "images", err)) != GD_OK ||
        (st = join(dimg, sizeof dimg, dst, "images", err)) != GD_OK ||
        (st = make_dir(dimg, err)) != GD_OK)
        return st;
    DIR *d = opendir(img);
    if (!d)
        return gd_err_set(err, GD_EINPUT, "%s: %s (OpenSeadragon's button images)", img,
                          strerror(errno));
    struct dirent *e;
    while (st == GD_OK && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".png") != 0)
            continue;
        if ((st = join(src, sizeof src, img, e->d_name, err)) == GD_OK &&
            (st = join(dst, sizeof dst, dimg, e->d_name, err)) == GD_OK)
            st = copy_file(src, dst, err);
    }
    closedir(d);
    return st;
}

/* ---- Pages -------------------------------------------------------------------- */

static gd_status write_text(const char *path, const char *text, gd_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return gd_err_set(err, GD_EIO, "%s: %s", path, strerror(errno));
    int bad = fputs(text, f) == EOF;
    if (fclose(f) != 0 || bad)
        return gd_err_set(err, GD_EIO, "%s: cannot write: %s", path, strerror(errno));
    return GD_OK;
}

static gd_status write_pages(const char *out, const char *name, int w, int h, gd_err *err)
{
    char path[PATH_MAX], text[8192];
    gd_status st;
    snprintf(text, sizeof text,
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<Image xmlns=\"http://schemas.microsoft.com/deepzoom/2008\" Format=\"jpg\" "
             "Overlap=\"0\" TileSize=\"%d\">\n  <Size Width=\"%d\" Height=\"%d\"/>\n</Image>\n",
             ZOOM_TILE, w, h);
    if ((st = join(path, sizeof path, out, "image.dzi", err)) != GD_OK ||
        (st = write_text(path, text, err)) != GD_OK)
        return st;
    /* The tile source is given inline: a page opened from file:// may load
     * images but not fetch image.dzi.  "#still=WxH" (the tests' screenshot)
     * shows the whole image at once, without controls or animation, in a
     * viewer of W x H pixels: headless Chromium lays the page out in a
     * window smaller than the screenshot (by a margin that varies) and
     * enlarges it after drawing, which would stretch a canvas that follows
     * the window. */
    snprintf(text, sizeof text,
             "<!doctype html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
             "<title>%.200s (gigadream)</title>\n"
             "<style>html, body { margin: 0; height: 100%%; background: #000; }\n"
             "#view { width: 100%%; height: 100%%; }</style>\n"
             "<script src=\"openseadragon/openseadragon.min.js\"></script>\n</head>\n<body>\n"
             "<div id=\"view\"></div>\n<script>\n"
             "var still = /^#still=([0-9]+)x([0-9]+)$/.exec(location.hash);\n"
             "if (still) {\n"
             "  var v = document.getElementById(\"view\");\n"
             "  v.style.width = still[1] + \"px\";\n"
             "  v.style.height = still[2] + \"px\";\n"
             "}\n"
             "OpenSeadragon({\n  id: \"view\",\n  prefixUrl: \"openseadragon/images/\",\n"
             "  drawer: \"canvas\",\n  showNavigator: !still,\n"
             "  showNavigationControl: !still,\n  animationTime: still ? 0 : 1.2,\n"
             "  blendTime: 0,\n  immediateRender: true,\n  maxZoomPixelRatio: 2,\n"
             "  tileSources: { Image: { xmlns: \"http://schemas.microsoft.com/deepzoom/2008\",\n"
             "    Url: \"image_files/\", Format: \"jpg\", Overlap: \"0\", TileSize: \"%d\",\n"
             "    Size: { Width: \"%d\", Height: \"%d\" } } }\n});\n</script>\n</body>\n</html>\n",
             name, ZOOM_TILE, w, h);
    if ((st = join(path, sizeof path, out, "index.html", err)) != GD_OK)
        return st;
    return write_text(path, text, err);
}

/* ---- Tiles -------------------------------------------------------------------- */

/* Writes the tiles of one tile row (rows [band->y0, band->y1) of level L). */
static gd_status write_tile_row(const char *level_dir, const gd_image *band, int row,
                                gd_image *tile, long *count, gd_err *err)
{
    const int th = band->y1 - band->y0;
    for (int col = 0; col * ZOOM_TILE < band->w; col++) {
        const int x0 = col * ZOOM_TILE;
        const int tw = band->w - x0 < ZOOM_TILE ? band->w - x0 : ZOOM_TILE;
        gd_image t = *tile;
        t.w = tw;
        t.full_h = th;
        t.y0 = 0;
        t.y1 = th;
        t.stride = (size_t)tw * 3;
        for (int y = 0; y < th; y++)
            memcpy(t.data + (size_t)y * t.stride, gd_image_row(band, band->y0 + y) + 3 * x0,
                   (size_t)tw * 3 * sizeof(float));
        char path[PATH_MAX], name[32];
        snprintf(name, sizeof name, "%d_%d.jpg", col, row);
        gd_status st = join(path, sizeof path, level_dir, name, err);
        gd_writer *wr = NULL;
        gd_write_opts o = {.bits = 8};
        if (st == GD_OK)
            st = gd_writer_open(path, tw, th, &o, &wr, err);
        if (st == GD_OK && (st = gd_writer_write_rows(wr, &t, err)) != GD_OK)
            gd_writer_abort(wr);
        else if (st == GD_OK)
            st = gd_writer_commit(wr, err);
        if (st != GD_OK)
            return st;
        (*count)++;
    }
    return GD_OK;
}

/* The 2x2 box average of a whole image (ceil halving, as the TIFF pyramid). */
static gd_status shrink_whole(const gd_image *a, gd_image *b, gd_err *err)
{
    const int w = (a->w + 1) / 2, h = (a->full_h + 1) / 2;
    gd_status st = gd_image_alloc_full(b, w, h, 3, err);
    if (st != GD_OK)
        return st;
    for (int y = 0; y < h; y++) {
        const float *r0 = gd_image_row(a, 2 * y);
        const float *r1 = gd_image_row(a, 2 * y + 1 < a->full_h ? 2 * y + 1 : a->full_h - 1);
        float *o = gd_image_row(b, y);
        for (int x = 0; x < w; x++) {
            const int x1 = 2 * x + 1 < a->w ? 2 * x + 1 : a->w - 1;
            for (int k = 0; k < 3; k++)
                o[3 * x + k] =
                    0.25f * (r0[6 * x + k] + r0[3 * x1 + k] + r1[6 * x + k] + r1[3 * x1 + k]);
        }
    }
    return GD_OK;
}

static gd_status level_dir(const char *files, int level, char *buf, size_t len, gd_err *err)
{
    char name[16];
    snprintf(name, sizeof name, "%d", level);
    gd_status st = join(buf, len, files, name, err);
    return st == GD_OK ? make_dir(buf, err) : st;
}

/* The base name of a path without its extension, for the page's title. */
static void base_name(const char *path, char *buf, size_t len)
{
    const char *s = strrchr(path, '/');
    snprintf(buf, len, "%s", s ? s + 1 : path);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf)
        *dot = '\0';
}

static gd_status write_levels(gd_reader *r, const char *files, gd_zoom_result *res, gd_err *err)
{
    gd_status st = GD_OK;
    gd_image band = {0}, tile = {0}, tail = {0}, next = {0};
    const int n = gd_reader_levels(r), w = res->w, h = res->h;
    int max_level = 0;
    while ((1L << max_level) < (w > h ? w : h))
        max_level++;
    res->levels = max_level + 1;
    /* Check the directories are the pyramid before writing anything. */
    int k = 0;
    for (; k < n && k <= max_level; k++) {
        if ((st = gd_reader_select_level(r, k, err)) != GD_OK)
            return st;
        const gd_image_info *in = gd_reader_info(r);
        long ew = ((long)w + (1L << k) - 1) >> k, eh = ((long)h + (1L << k) - 1) >> k;
        if (in->w != ew || in->h != eh)
            break;
    }
    res->from_tiff = k;
    {
        long sw = ((long)w + (1L << (k - 1)) - 1) >> (k - 1);
        long sh = ((long)h + (1L << (k - 1)) - 1) >> (k - 1);
        if (k < res->levels && (sw > ZOOM_MAX_TAIL || sh > ZOOM_MAX_TAIL))
            return gd_err_set(err, GD_EINPUT,
                              "its smallest pyramid level is %ld x %ld, larger than %d: render it "
                              "with [output] pyramid = true",
                              sw, sh, ZOOM_MAX_TAIL);
    }
    if ((st = gd_image_alloc_full(&tile, ZOOM_TILE, ZOOM_TILE, 3, err)) != GD_OK)
        return st;
    char dir[PATH_MAX];
    for (int j = 0; j < res->from_tiff; j++) {
        if ((st = gd_reader_select_level(r, j, err)) != GD_OK)
            goto done;
        const gd_image_info *in = gd_reader_info(r);
        const int lw = in->w, lh = in->h, rows = lh < ZOOM_TILE ? lh : ZOOM_TILE;
        if ((st = level_dir(files, max_level - j, dir, sizeof dir, err)) != GD_OK)
            goto done;
        gd_image_free(&band);
        if ((st = gd_image_alloc(&band, lw, lh, 3, 0, rows, err)) != GD_OK)
            goto done;
        if ((double)band.stride * rows * sizeof(float) > res->peak_band)
            res->peak_band = (double)band.stride * rows * sizeof(float);
        for (int row = 0; row * ZOOM_TILE < lh; row++) {
            /* The band's memory holds rows [y0, y1) of the level in turn. */
            band.y0 = row * ZOOM_TILE;
            band.y1 = band.y0 + ZOOM_TILE < lh ? band.y0 + ZOOM_TILE : lh;
            if ((st = gd_reader_read_rows(r, &band, err)) != GD_OK ||
                (st = write_tile_row(dir, &band, row, &tile, &res->tiles, err)) != GD_OK)
                goto done;
        }
        if (j + 1 == res->from_tiff && j < max_level) {
            /* The levels below the TIFF's: from this one, small, held whole. */
            gd_image_free(&band);
            if ((st = gd_image_alloc_full(&tail, lw, lh, 3, err)) != GD_OK ||
                (st = gd_reader_read_rows(r, &tail, err)) != GD_OK)
                goto done;
        }
    }
    for (int j = res->from_tiff; j <= max_level; j++) {
        if ((st = shrink_whole(&tail, &next, err)) != GD_OK)
            goto done;
        gd_image_free(&tail);
        tail = next;
        next = (gd_image){0};
        if ((st = level_dir(files, max_level - j, dir, sizeof dir, err)) != GD_OK)
            goto done;
        for (int row = 0; row * ZOOM_TILE < tail.full_h; row++) {
            gd_image b = tail;
            b.y0 = row * ZOOM_TILE;
            b.y1 = b.y0 + ZOOM_TILE < tail.full_h ? b.y0 + ZOOM_TILE : tail.full_h;
            b.data = tail.data + (size_t)b.y0 * tail.stride;
            if ((st = write_tile_row(dir, &b, row, &tile, &res->tiles, err)) != GD_OK)
                goto done;
        }
    }
done:
    gd_image_free(&band);
    gd_image_free(&tile);
    gd_image_free(&tail);
    gd_image_free(&next);
    return st;
}

gd_status gd_zoom_write(const char *tiff, const char *dir, const char *osd_dir, gd_zoom_result *res,
                        gd_err *err)
{
    gd_status st;
    gd_reader *r = NULL;
    char tmp[PATH_MAX], files[PATH_MAX], js[PATH_MAX], name[256];
    memset(res, 0, sizeof *res);
    struct stat sb;
    if (stat(dir, &sb) == 0)
        return gd_err_set(err, GD_EINPUT, "%s exists: give a new folder for the viewer", dir);
    if ((st = join(js, sizeof js, osd_dir, "openseadragon.min.js", err)) != GD_OK)
        return st;
    if (access(js, R_OK) != 0)
        return gd_err_set(err, GD_EINPUT,
                          "%s: no OpenSeadragon there (scripts/setup.sh installs it from npm "
                          "into scripts/viewer/node_modules/; or set GIGADREAM_OSD_DIR)",
                          js);
    if ((st = gd_reader_open(tiff, &r, err)) != GD_OK)
        return st;
    const gd_image_info *in = gd_reader_info(r);
    if (in->format != GD_FORMAT_TIFF) {
        st = gd_err_set(err, GD_EINPUT, "%s: a %s file; zoom reads a TIFF with its pyramid", tiff,
                        gd_format_name(in->format));
        goto done;
    }
    res->w = in->w;
    res->h = in->h;
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dir, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        st = gd_err_set(err, GD_EINPUT, "%s: path too long", dir);
        goto done;
    }
    remove_tree(tmp);
    if (mkdir(tmp, 0777) != 0) {
        st = gd_err_set(err, GD_EIO, "%s: cannot create the folder: %s", tmp, strerror(errno));
        goto done;
    }
    base_name(tiff, name, sizeof name);
    if ((st = join(files, sizeof files, tmp, "image_files", err)) != GD_OK ||
        (st = make_dir(files, err)) != GD_OK)
        goto fail;
    if ((st = write_levels(r, files, res, err)) != GD_OK) {
        gd_err_prefix(err, "%s", tiff);
        goto fail;
    }
    if ((st = copy_osd(osd_dir, tmp, err)) != GD_OK ||
        (st = write_pages(tmp, name, res->w, res->h, err)) != GD_OK)
        goto fail;
    if (rename(tmp, dir) != 0) {
        st = gd_err_set(err, GD_EIO, "cannot rename %s to %s: %s", tmp, dir, strerror(errno));
        goto fail;
    }
    goto done;
fail:
    remove_tree(tmp);
done:
    gd_reader_close(r);
    return st;
}

/*
 * tiff_read.c: the TIFF reader, by row region.
 *
 * A band read decodes only the strips or tiles that intersect the band, one
 * at a time, into one scratch buffer the reader owns and reuses (one strip or
 * one tile, never the image).  A rank of a gigapixel render therefore reads
 * its band at the cost of its band.
 *
 * Accepted: 8- and 16-bit unsigned samples; gray (min-is-black or
 * min-is-white), gray + alpha, RGB, RGBA (extra samples are ignored); YCbCr
 * when JPEG-compressed (libjpeg converts to RGB); contiguous or separate
 * planes; strips or tiles; classic or BigTIFF; any compression libtiff
 * decodes.  Refused with a message: palette, CMYK, Lab, float or signed
 * samples, other bit depths.  Only the first directory (full resolution) is
 * read; the Orientation tag is ignored.
 *
 * libtiff reports errors through per-handle handlers (TIFFOpenOptions, libtiff
 * >= 4.5) into the reader's io_msgs; nothing global is touched.
 */
#include "tiff_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct tiff_reader {
    TIFF *tif;
    io_msgs msgs;
    int tiled;
    uint32_t cw, ch; /* chunk (tile, or strip = full width x rows per strip) size */
    int spp, bits;
    int separate;     /* PLANARCONFIG_SEPARATE */
    int gray;         /* one color sample, replicated to RGB */
    int invert;       /* min-is-white */
    uint8_t *scratch; /* one decoded chunk */
    tmsize_t scratch_size;
    uint32_t cached; /* chunk index held in scratch, if cache_valid */
    int cache_valid;
} tiff_reader;

static gd_status tr_read_rows(gd_reader *r, gd_image *dst, gd_err *err);
static void tr_close(gd_reader *r);
static int tr_levels(const gd_reader *r);
static gd_status tr_select_level(gd_reader *r, int k, gd_err *err);
static const io_reader_ops tiff_reader_ops = {.read_rows = tr_read_rows,
                                              .close = tr_close,
                                              .levels = tr_levels,
                                              .select_level = tr_select_level};

static void tr_close(gd_reader *r)
{
    tiff_reader *t = r->impl;
    if (t->tif)
        TIFFClose(t->tif);
    free(t->scratch);
    free(t);
    r->impl = NULL;
}

static const char *photometric_name(uint16_t p)
{
    switch (p) {
    case PHOTOMETRIC_PALETTE:
        return "palette color";
    case PHOTOMETRIC_SEPARATED:
        return "separated (CMYK)";
    case PHOTOMETRIC_CIELAB:
    case PHOTOMETRIC_ICCLAB:
    case PHOTOMETRIC_ITULAB:
        return "Lab";
    case PHOTOMETRIC_YCBCR:
        return "YCbCr (other than 8-bit contiguous JPEG-compressed)";
    case PHOTOMETRIC_MASK:
        return "transparency mask";
    case PHOTOMETRIC_LOGL:
    case PHOTOMETRIC_LOGLUV:
        return "LogLuv";
    default:
        return "unknown";
    }
}

/* Checks the layout and fills t's geometry and r->info. */
static gd_status read_header(gd_reader *r, tiff_reader *t, gd_err *err)
{
    TIFF *tif = t->tif;
    uint32_t w = 0, h = 0;
    uint16_t spp = 1, bits = 1, fmt = SAMPLEFORMAT_UINT, photo = 0, planar = PLANARCONFIG_CONTIG;
    uint16_t compression = COMPRESSION_NONE;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h))
        return gd_err_set(err, GD_EINPUT, "%s: TIFF has no image size", r->path);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bits);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &compression);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo))
        photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    if (w < 1 || h < 1 || w > INT32_MAX || h > INT32_MAX)
        return gd_err_set(err, GD_EINPUT, "%s: TIFF image size %u x %u is not supported", r->path,
                          w, h);
    if (bits != 8 && bits != 16)
        return gd_err_set(err, GD_EINPUT,
                          "%s: TIFF with %u bits per sample is not supported (8 or 16 only)",
                          r->path, bits);
    if (fmt != SAMPLEFORMAT_UINT)
        return gd_err_set(err, GD_EINPUT,
                          "%s: TIFF with %s samples is not supported (unsigned integers only)",
                          r->path,
                          fmt == SAMPLEFORMAT_IEEEFP ? "floating-point"
                          : fmt == SAMPLEFORMAT_INT  ? "signed"
                                                     : "complex or unknown");
    int gray;
    switch (photo) {
    case PHOTOMETRIC_MINISBLACK:
    case PHOTOMETRIC_MINISWHITE:
        gray = 1;
        break;
    case PHOTOMETRIC_RGB:
        gray = 0;
        break;
    case PHOTOMETRIC_YCBCR:
        if (compression == COMPRESSION_JPEG && bits == 8 && planar == PLANARCONFIG_CONTIG) {
            /* libjpeg upsamples and converts; the buffers are then RGB. */
            if (!TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB))
                return gd_err_set(err, GD_EINPUT, "%s: cannot read JPEG-compressed YCbCr: %s",
                                  r->path, io_msgs_text(&t->msgs, "libtiff refused"));
            gray = 0;
            break;
        }
        /* fall through */
    default:
        return gd_err_set(err, GD_EINPUT,
                          "%s: TIFF with %s pixels (photometric %u) is not supported; gigadream "
                          "reads gray and RGB",
                          r->path, photometric_name(photo), photo);
    }
    if ((gray && spp < 1) || (!gray && spp < 3))
        return gd_err_set(err, GD_EINPUT, "%s: TIFF says %s with %u samples per pixel", r->path,
                          gray ? "gray" : "RGB", spp);

    t->spp = spp;
    t->bits = bits;
    t->gray = gray;
    t->invert = photo == PHOTOMETRIC_MINISWHITE;
    t->separate = planar == PLANARCONFIG_SEPARATE && spp > 1;
    t->tiled = TIFFIsTiled(tif);
    if (t->tiled) {
        if (!TIFFGetField(tif, TIFFTAG_TILEWIDTH, &t->cw) ||
            !TIFFGetField(tif, TIFFTAG_TILELENGTH, &t->ch) || t->cw == 0 || t->ch == 0)
            return gd_err_set(err, GD_EINPUT, "%s: tiled TIFF without a valid tile size", r->path);
        t->scratch_size = TIFFTileSize(tif);
    } else {
        uint32_t rps = h;
        TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
        t->cw = w;
        t->ch = rps == 0 || rps > h ? h : rps;
        t->scratch_size = TIFFStripSize(tif);
    }
    if (t->scratch_size <= 0)
        return gd_err_set(err, GD_EINPUT, "%s: TIFF %s size is invalid: %s", r->path,
                          t->tiled ? "tile" : "strip",
                          io_msgs_text(&t->msgs, "libtiff computed 0"));
    /* The decode buffer must hold what our conversion reads: a whole chunk. */
    uint64_t need = (uint64_t)t->cw * t->ch * (t->separate ? 1 : spp) * (bits / 8);
    if ((uint64_t)t->scratch_size < need)
        return gd_err_set(err, GD_EINPUT, "%s: TIFF %s size %lld is smaller than %u x %u pixels",
                          r->path, t->tiled ? "tile" : "strip", (long long)t->scratch_size, t->cw,
                          t->ch);

    gd_image_info *in = &r->info;
    in->w = (int)w;
    in->h = (int)h;
    in->channels = spp;
    in->bits = bits;
    in->tiled = t->tiled;
    in->bigtiff = TIFFIsBigTIFF(tif);
    float xres = 0;
    uint16_t unit = RESUNIT_INCH;
    if (TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xres) && xres > 0) {
        TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &unit);
        in->dpi = unit == RESUNIT_INCH ? xres : unit == RESUNIT_CENTIMETER ? xres * 2.54 : 0.0;
    }
    uint32_t icc_len = 0;
    void *icc = NULL;
    if (TIFFGetField(tif, TIFFTAG_ICCPROFILE, &icc_len, &icc) && icc && icc_len > 0) {
        in->icc = gd_malloc(icc_len, "an ICC profile", err);
        if (!in->icc)
            return GD_ENOMEM;
        memcpy(in->icc, icc, icc_len);
        in->icc_len = icc_len;
    }
    return GD_OK;
}

gd_status io_tiff_reader_open(gd_reader *r, gd_err *err)
{
    gd_status st;
    tiff_reader *t = gd_calloc(1, sizeof *t, "a TIFF reader", err);
    if (!t)
        return GD_ENOMEM;
    io_msgs_clear(&t->msgs);
    r->impl = t;
    r->ops = NULL;
    TIFFOpenOptions *o = io_tiff_open_options(&t->msgs);
    if (!o) {
        st = gd_err_set(err, GD_ENOMEM, "%s: out of memory opening the TIFF", r->path);
        goto fail;
    }
    /* "m": no memory mapping, so a file truncated under us is a read error,
     * not a SIGBUS. */
    t->tif = TIFFOpenExt(r->path, "rm", o);
    TIFFOpenOptionsFree(o);
    if (!t->tif) {
        st = gd_err_set(err, GD_EINPUT, "%s: not a readable TIFF (truncated or corrupt?): %s",
                        r->path, io_msgs_text(&t->msgs, "libtiff could not open it"));
        goto fail;
    }
    if ((st = read_header(r, t, err)) != GD_OK)
        goto fail;
    t->scratch = gd_malloc((size_t)t->scratch_size, "a TIFF decode buffer", err);
    if (!t->scratch) {
        st = GD_ENOMEM;
        goto fail;
    }
    r->ops = &tiff_reader_ops;
    return GD_OK;
fail:
    tr_close(r);
    return st;
}

static int tr_levels(const gd_reader *r)
{
    const tiff_reader *t = r->impl;
    tdir_t n = TIFFNumberOfDirectories(t->tif);
    return n > 0 ? (int)n : 1;
}

/* Directory k, read as the first one is: its header replaces r->info. */
static gd_status tr_select_level(gd_reader *r, int k, gd_err *err)
{
    tiff_reader *t = r->impl;
    if (k < 0 || k >= tr_levels(r))
        return gd_err_set(err, GD_EINPUT, "%s: no level %d (the TIFF has %d)", r->path, k,
                          tr_levels(r));
    if (!TIFFSetDirectory(t->tif, (tdir_t)k))
        return gd_err_set(err, GD_EINPUT, "%s: cannot read TIFF directory %d: %s", r->path, k,
                          io_msgs_text(&t->msgs, "libtiff refused"));
    t->cache_valid = 0;
    free(r->info.icc);
    gd_image_info keep = r->info;
    memset(&r->info, 0, sizeof r->info);
    r->info.format = keep.format;
    gd_status st = read_header(r, t, err);
    if (st != GD_OK)
        return st;
    free(t->scratch);
    t->scratch = gd_malloc((size_t)t->scratch_size, "a TIFF decode buffer", err);
    return t->scratch ? GD_OK : GD_ENOMEM;
}

/* Sample i of a decoded chunk as a float in [0, 255]. */
static inline float sample_at(const tiff_reader *t, const uint8_t *chunk, size_t i)
{
    if (t->bits == 16) {
        unsigned v = ((const uint16_t *)chunk)[i];
        return (float)(t->invert ? 65535u - v : v) * (255.0f / 65535.0f);
    }
    unsigned v = chunk[i];
    return (float)(t->invert ? 255u - v : v);
}

/*
 * Converts rows [ya, yb) x columns [xa, xb) of a decoded chunk whose top-left
 * pixel is (cx, cy) into dst.  plane is the sample plane held in the chunk
 * for separate planes, -1 for contiguous samples.
 */
static void convert_chunk(const tiff_reader *t, const uint8_t *chunk, int cx, int cy, int xa,
                          int xb, int ya, int yb, int plane, gd_image *dst)
{
    const size_t step = plane >= 0 ? 1 : (size_t)t->spp; /* samples between pixels */
    const size_t row_samples = (size_t)t->cw * step;     /* samples between chunk rows */
    for (int y = ya; y < yb; y++) {
        const size_t base = (size_t)(y - cy) * row_samples + (size_t)(xa - cx) * step;
        float *out = gd_image_row(dst, y) + (size_t)xa * 3;
        const int n = xb - xa;
        if (t->gray) { /* plane is -1 or 0: the gray sample is first */
            for (int x = 0; x < n; x++) {
                float v = sample_at(t, chunk, base + (size_t)x * step);
                out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = v;
            }
        } else if (plane >= 0) {
            for (int x = 0; x < n; x++)
                out[3 * x + plane] = sample_at(t, chunk, base + (size_t)x);
        } else {
            for (int x = 0; x < n; x++)
                for (int k = 0; k < 3; k++)
                    out[3 * x + k] = sample_at(t, chunk, base + (size_t)x * step + (size_t)k);
        }
    }
}

/* Decodes chunk index `idx` into the scratch buffer (unless it is there). */
static gd_status decode(gd_reader *r, tiff_reader *t, uint32_t idx, uint32_t cx, uint32_t cy,
                        gd_err *err)
{
    if (t->cache_valid && t->cached == idx)
        return GD_OK;
    t->cache_valid = 0;
    io_msgs_clear(&t->msgs);
    tmsize_t n = t->tiled ? TIFFReadEncodedTile(t->tif, idx, t->scratch, t->scratch_size)
                          : TIFFReadEncodedStrip(t->tif, idx, t->scratch, t->scratch_size);
    if (n < 0 || t->msgs.errors) {
        uint32_t total = t->tiled ? TIFFNumberOfTiles(t->tif) : TIFFNumberOfStrips(t->tif);
        uint32_t last_row = cy + t->ch > (uint32_t)r->info.h ? (uint32_t)r->info.h : cy + t->ch;
        if (t->tiled)
            return gd_err_set(err, GD_EINPUT,
                              "%s: corrupt or truncated TIFF: tile %u of %u (columns %u-%u, rows "
                              "%u-%u) cannot be decoded: %s",
                              r->path, idx + 1, total, cx, cx + t->cw - 1, cy, last_row - 1,
                              io_msgs_text(&t->msgs, "libtiff failed"));
        return gd_err_set(err, GD_EINPUT,
                          "%s: corrupt or truncated TIFF: strip %u of %u (rows %u-%u) cannot be "
                          "decoded: %s",
                          r->path, idx + 1, total, cy, last_row - 1,
                          io_msgs_text(&t->msgs, "libtiff failed"));
    }
    if (!t->tiled) {
        /* A short last strip decodes to fewer bytes; anything else is an error. */
        uint32_t rows = cy + t->ch > (uint32_t)r->info.h ? (uint32_t)r->info.h - cy : t->ch;
        uint64_t want = (uint64_t)rows * t->cw * (t->separate ? 1 : t->spp) * (t->bits / 8);
        if ((uint64_t)n < want)
            return gd_err_set(err, GD_EINPUT,
                              "%s: truncated TIFF: strip %u decodes to %lld bytes, expected %llu",
                              r->path, idx + 1, (long long)n, (unsigned long long)want);
    }
    t->cached = idx;
    t->cache_valid = 1;
    return GD_OK;
}

static gd_status tr_read_rows(gd_reader *r, gd_image *dst, gd_err *err)
{
    tiff_reader *t = r->impl;
    const int w = r->info.w, h = r->info.h;
    /* Planes to decode: contiguous is one pass; separate planes skip alpha. */
    const int passes = t->separate ? (t->gray ? 1 : 3) : 1;
    const uint32_t across = t->tiled ? (uint32_t)((w + t->cw - 1) / t->cw) : 1;
    const uint32_t down = (uint32_t)((h + t->ch - 1) / t->ch);
    const uint32_t per_plane = across * down;
    for (uint32_t cyi = (uint32_t)dst->y0 / t->ch; cyi * t->ch < (uint32_t)dst->y1; cyi++) {
        uint32_t cy = cyi * t->ch;
        int ya = dst->y0 > (int)cy ? dst->y0 : (int)cy;
        int yb = (int)(cy + t->ch) < dst->y1 ? (int)(cy + t->ch) : dst->y1;
        for (uint32_t cxi = 0; cxi < across; cxi++) {
            uint32_t cx = cxi * t->cw;
            int xb = (int)(cx + t->cw) < w ? (int)(cx + t->cw) : w;
            for (int p = 0; p < passes; p++) {
                uint32_t idx = (uint32_t)p * per_plane + cyi * across + cxi;
                gd_status st = decode(r, t, idx, cx, cy, err);
                if (st != GD_OK)
                    return st;
                convert_chunk(t, t->scratch, (int)cx, (int)cy, (int)cx, xb, ya, yb,
                              t->separate ? p : -1, dst);
            }
        }
    }
    return GD_OK;
}

/*
 * png.c: PNG input and output (libpng), for small images.
 *
 * Reading: the header at open; the whole image is decoded on the first band
 * read (PNG inputs are seed photos) and bands are served from it.  Palette,
 * low bit depths and tRNS are expanded, gray becomes RGB, alpha is dropped,
 * 16 bits stay 16 bits.
 *
 * Writing: RGB, 8 or 16 bits, rows streamed to libpng as they arrive (so a
 * PNG costs one row of memory), pHYs from the dpi, iCCP, and tEXt
 * "Description" and "Software".  libpng refuses ICC profiles it finds
 * malformed; the writer then fails at open, before any work is done.
 *
 * libpng reports errors through png_error, which calls our handler with the
 * png_struct; the handler finds the reader or writer through the error
 * pointer given at creation (no globals), records the message and longjmps
 * back to the setjmp of the function that called libpng.
 */
#include "imageio_int.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What a libpng error handler needs: where to write and where to jump. */
typedef struct png_ctx {
    io_msgs msgs;
    jmp_buf jb;
} png_ctx;

static void say(io_msgs *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    io_msgs_error(m, NULL, fmt, ap);
    va_end(ap);
}

static void on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    say(&c->msgs, "%s", msg);
    longjmp(c->jb, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)msg;
    png_ctx *c = png_get_error_ptr(png);
    c->msgs.warnings++;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* ---- Reader ------------------------------------------------------------------------ */

typedef struct png_reader {
    png_ctx ctx; /* first: libpng's error pointer */
    FILE *f;
    png_structp png;
    png_infop info;
    int bits;     /* of the decoded samples: 8 or 16 */
    void *pixels; /* the decoded image, after the first read */
    png_bytep *rows;
} png_reader;

static gd_status pr_read_rows(gd_reader *r, gd_image *dst, gd_err *err);
static void pr_close(gd_reader *r);
static const io_reader_ops png_reader_ops = {.read_rows = pr_read_rows, .close = pr_close};

static void pr_close(gd_reader *r)
{
    png_reader *p = r->impl;
    if (p->png)
        png_destroy_read_struct(&p->png, p->info ? &p->info : NULL, NULL);
    if (p->f)
        fclose(p->f);
    free(p->rows);
    free(p->pixels);
    free(p);
    r->impl = NULL;
}

/* libpng's default reader says only "Read Error"; this one tells truncation apart. */
static void read_fn(png_structp png, png_bytep data, size_t n)
{
    FILE *f = png_get_io_ptr(png);
    if (fread(data, 1, n, f) != n)
        png_error(png, feof(f) ? "the file is truncated" : "read error");
}

/* Everything libpng does at open, under one setjmp.  Returns 0 after a longjmp. */
static int read_header(gd_reader *r, png_reader *p)
{
    if (setjmp(p->ctx.jb))
        return 0;
    png_set_read_fn(p->png, p->f, read_fn);
    png_read_info(p->png, p->info);
    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(p->png, p->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    gd_image_info *in = &r->info;
    in->w = (int)w;
    in->h = (int)h;
    in->bits = depth == 16 ? 16 : 8;
    switch (color) {
    case PNG_COLOR_TYPE_GRAY:
        in->channels = png_get_valid(p->png, p->info, PNG_INFO_tRNS) ? 2 : 1;
        break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        in->channels = 2;
        break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        in->channels = 4;
        break;
    default: /* RGB, palette */
        in->channels = png_get_valid(p->png, p->info, PNG_INFO_tRNS) ? 4 : 3;
        break;
    }
    png_uint_32 xres, yres;
    int unit;
    if (png_get_pHYs(p->png, p->info, &xres, &yres, &unit) && unit == PNG_RESOLUTION_METER)
        in->dpi = xres * 0.0254;
    png_charp name;
    int ctype;
    png_bytep prof;
    png_uint_32 plen;
    if (png_get_iCCP(p->png, p->info, &name, &ctype, &prof, &plen) && prof && plen) {
        in->icc = malloc(plen);
        if (!in->icc) {
            say(&p->ctx.msgs, "out of memory for the ICC profile (%u bytes)", (unsigned)plen);
            return 0;
        }
        memcpy(in->icc, prof, plen);
        in->icc_len = plen;
    }
    /* To 8- or 16-bit RGB, whatever the file holds. */
    png_set_expand(p->png);
    png_set_strip_alpha(p->png);
    png_set_gray_to_rgb(p->png);
    if (depth == 16 && host_is_little_endian())
        png_set_swap(p->png);
    png_set_interlace_handling(p->png);
    png_read_update_info(p->png, p->info);
    p->bits = in->bits;
    if (png_get_rowbytes(p->png, p->info) != (size_t)w * 3 * (p->bits / 8)) {
        say(&p->ctx.msgs, "unexpected row size after conversion to RGB");
        return 0;
    }
    return 1;
}

gd_status io_png_reader_open(gd_reader *r, gd_err *err)
{
    gd_status st;
    png_reader *p = gd_calloc(1, sizeof *p, "a PNG reader", err);
    if (!p)
        return GD_ENOMEM;
    r->impl = p;
    r->ops = &png_reader_ops;
    io_msgs_clear(&p->ctx.msgs);
    p->f = fopen(r->path, "rb");
    if (!p->f) {
        st = gd_err_set(err, GD_EINPUT, "%s: cannot open: %s", r->path, strerror(errno));
        goto fail;
    }
    p->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &p->ctx, on_error, on_warning);
    if (p->png)
        p->info = png_create_info_struct(p->png);
    if (!p->png || !p->info) {
        st = gd_err_set(err, GD_ENOMEM, "%s: out of memory starting libpng", r->path);
        goto fail;
    }
    if (!read_header(r, p)) {
        st = gd_err_set(err, GD_EINPUT, "%s: not a readable PNG (%s)", r->path,
                        io_msgs_text(&p->ctx.msgs, "libpng failed"));
        goto fail;
    }
    return GD_OK;
fail:
    pr_close(r);
    return st;
}

/* Decodes the whole image under one setjmp.  Returns 0 after a longjmp. */
static int decode(png_reader *p)
{
    if (setjmp(p->ctx.jb))
        return 0;
    png_read_image(p->png, p->rows);
    return 1;
}

static gd_status pr_read_rows(gd_reader *r, gd_image *dst, gd_err *err)
{
    png_reader *p = r->impl;
    if (!p->pixels) {
        if (!p->png)
            return gd_err_set(err, GD_EINPUT, "%s: an earlier read failed", r->path);
        const size_t row = (size_t)r->info.w * 3 * (p->bits / 8);
        if ((size_t)r->info.h > SIZE_MAX / row)
            return gd_err_set(err, GD_ENOMEM, "%s: image too large to decode", r->path);
        p->pixels = gd_malloc(row * (size_t)r->info.h, "decoded PNG pixels", err);
        p->rows = gd_calloc((size_t)r->info.h, sizeof *p->rows, "PNG row pointers", err);
        if (!p->pixels || !p->rows) {
            free(p->pixels);
            p->pixels = NULL;
            return GD_ENOMEM;
        }
        for (int y = 0; y < r->info.h; y++)
            p->rows[y] = (png_bytep)p->pixels + (size_t)y * row;
        io_msgs_clear(&p->ctx.msgs);
        if (!decode(p)) {
            free(p->pixels);
            p->pixels = NULL;
            /* libpng's state is undefined after an error: no second attempt. */
            png_destroy_read_struct(&p->png, &p->info, NULL);
            return gd_err_set(err, GD_EINPUT, "%s: PNG data is corrupt (%s)", r->path,
                              io_msgs_text(&p->ctx.msgs, "libpng failed"));
        }
        /* The file is no longer needed. */
        png_destroy_read_struct(&p->png, &p->info, NULL);
        fclose(p->f);
        p->f = NULL;
    }
    io_serve_rows(p->pixels, p->bits, r->info.w, dst);
    return GD_OK;
}

/* ---- Writer ----------------------------------------------------------------------- */

typedef struct png_writer {
    png_ctx ctx;
    FILE *f;
    png_structp png;
    png_infop info;
    const char *stage; /* what was being written, for messages */
    uint8_t *row;
} png_writer;

static gd_status pw_write_rows(gd_writer *wr, const gd_image *band, gd_err *err);
static gd_status pw_finish(gd_writer *wr, gd_err *err);
static void pw_discard(gd_writer *wr);
static const io_writer_ops png_writer_ops = {
    .write_rows = pw_write_rows, .finish = pw_finish, .discard = pw_discard};

static void pw_discard(gd_writer *wr)
{
    png_writer *p = wr->impl;
    if (p->png)
        png_destroy_write_struct(&p->png, p->info ? &p->info : NULL);
    if (p->f)
        fclose(p->f);
    free(p->row);
    free(p);
    wr->impl = NULL;
}

static gd_status pw_fail(gd_writer *wr, png_writer *p, gd_err *err)
{
    return gd_err_set(err, GD_EIO, "%s: cannot write %s: %s", wr->tmp, p->stage,
                      io_msgs_text(&p->ctx.msgs, "libpng failed"));
}

/* The header and metadata chunks, under one setjmp. */
static int write_header(gd_writer *wr, png_writer *p)
{
    if (setjmp(p->ctx.jb))
        return 0;
    const gd_write_opts *o = &wr->opts;
    p->stage = "the PNG header";
    png_init_io(p->png, p->f);
    png_set_IHDR(p->png, p->info, (png_uint_32)wr->w, (png_uint_32)wr->h, o->bits,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (o->dpi > 0) {
        double ppm = o->dpi / 0.0254 + 0.5;
        png_uint_32 v = ppm > 2147483647.0 ? 2147483647u : (png_uint_32)ppm;
        png_set_pHYs(p->png, p->info, v, v, PNG_RESOLUTION_METER);
    }
    if (o->icc_len) {
        p->stage = "the ICC profile (libpng checks it)";
        png_set_iCCP(p->png, p->info, "ICC profile", PNG_COMPRESSION_TYPE_BASE,
                     (png_const_bytep)o->icc, (png_uint_32)o->icc_len);
        if (!png_get_valid(p->png, p->info, PNG_INFO_iCCP)) {
            say(&p->ctx.msgs, "libpng did not accept the profile");
            return 0;
        }
    }
    p->stage = "the PNG text chunks";
    png_text text[2];
    memset(text, 0, sizeof text);
    int nt = 0;
    text[nt].compression = PNG_TEXT_COMPRESSION_NONE;
    text[nt].key = "Software";
    text[nt++].text = "gigadream " GD_VERSION;
    if (o->description) {
        text[nt].compression = PNG_TEXT_COMPRESSION_NONE;
        text[nt].key = "Description";
        text[nt++].text = (png_charp)o->description;
    }
    png_set_text(p->png, p->info, text, nt);
    p->stage = "the PNG header";
    png_write_info(p->png, p->info);
    return 1;
}

gd_status io_png_writer_start(gd_writer *wr, gd_err *err)
{
    png_writer *p = gd_calloc(1, sizeof *p, "a PNG writer", err);
    if (!p)
        return GD_ENOMEM;
    wr->impl = p;
    wr->ops = &png_writer_ops;
    io_msgs_clear(&p->ctx.msgs);
    p->stage = "the PNG file";
    if (wr->opts.icc_len > 0x7fffffff)
        return gd_err_set(err, GD_EINPUT, "%s: ICC profile of %zu bytes is too large", wr->path,
                          wr->opts.icc_len);
    p->row = gd_malloc((size_t)wr->w * 3 * (wr->opts.bits / 8), "a PNG row", err);
    if (!p->row)
        return GD_ENOMEM;
    p->f = fdopen(wr->fd, "wb");
    if (!p->f)
        return gd_err_set(err, GD_EIO, "%s: cannot open for writing: %s", wr->tmp, strerror(errno));
    wr->fd = -1;
    p->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &p->ctx, on_error, on_warning);
    if (p->png)
        p->info = png_create_info_struct(p->png);
    if (!p->png || !p->info)
        return gd_err_set(err, GD_ENOMEM, "%s: out of memory starting libpng", wr->path);
    if (!write_header(wr, p)) {
        if (strstr(p->stage, "ICC"))
            return gd_err_set(err, GD_EINPUT, "%s: cannot write the ICC profile (%zu bytes): %s",
                              wr->path, wr->opts.icc_len,
                              io_msgs_text(&p->ctx.msgs, "libpng refused it"));
        return pw_fail(wr, p, err);
    }
    return GD_OK;
}

static int write_row(png_writer *p)
{
    if (setjmp(p->ctx.jb))
        return 0;
    png_write_row(p->png, p->row);
    return 1;
}

static gd_status pw_write_rows(gd_writer *wr, const gd_image *band, gd_err *err)
{
    png_writer *p = wr->impl;
    p->stage = "PNG rows";
    for (int y = band->y0; y < band->y1; y++) {
        io_quantize_row(gd_image_row(band, y), (size_t)wr->w, wr->opts.bits, 1, p->row);
        if (!write_row(p))
            return pw_fail(wr, p, err);
    }
    return GD_OK;
}

static int write_end(png_writer *p)
{
    if (setjmp(p->ctx.jb))
        return 0;
    png_write_end(p->png, NULL);
    return 1;
}

static gd_status pw_finish(gd_writer *wr, gd_err *err)
{
    png_writer *p = wr->impl;
    p->stage = "the end of the PNG";
    if (!write_end(p))
        return pw_fail(wr, p, err);
    if (fflush(p->f) != 0)
        return gd_err_set(err, GD_EIO, "%s: cannot write: %s", wr->tmp, strerror(errno));
    gd_status st = io_fsync(fileno(p->f), wr->tmp, err);
    if (st != GD_OK)
        return st;
    FILE *f = p->f;
    p->f = NULL;
    if (fclose(f) != 0)
        return gd_err_set(err, GD_EIO, "%s: cannot close: %s", wr->tmp, strerror(errno));
    return GD_OK;
}

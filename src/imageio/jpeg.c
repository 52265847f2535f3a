/*
 * jpeg.c: JPEG input and output (libjpeg; Debian's libjpeg-turbo),
 * for small images.
 *
 * Reading: the header at open (size, JFIF density, ICC profile from the APP2
 * markers); the whole image is decoded on the first band read and bands are
 * served from it.  Gray becomes RGB; CMYK/YCCK are refused.  libjpeg only
 * warns about a truncated or damaged entropy stream and fills the rest with
 * gray; we treat those warnings (premature end of file or of a data segment,
 * a lost restart marker) as errors, and ignore the harmless ones (extraneous
 * bytes between markers, which many real files have).
 *
 * Writing: baseline JPEG, quality 95, no chroma subsampling, JFIF density
 * from the dpi, ICC profile in APP2 markers, description in a COM marker;
 * rows streamed to libjpeg as they arrive.
 *
 * libjpeg's error manager is embedded in a per-reader/per-writer struct; the
 * error_exit handler finds it from the cinfo it is given (no globals),
 * formats the message into it and longjmps to the calling function's setjmp.
 */
#include "imageio_int.h"

#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <jerror.h>

#define JPEG_OUT_QUALITY 95

typedef struct jpeg_ctx {
    struct jpeg_error_mgr pub; /* first: libjpeg's cinfo->err points here */
    jmp_buf jb;
    io_msgs msgs;
    int corrupt; /* a data-losing warning was seen */
    char corrupt_msg[JMSG_LENGTH_MAX];
} jpeg_ctx;

static void on_error_exit(j_common_ptr cinfo)
{
    jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
    char buf[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buf);
    if (c->msgs.errors++ == 0)
        snprintf(c->msgs.first, sizeof c->msgs.first, "%s", buf);
    longjmp(c->jb, 1);
}

static void on_emit_message(j_common_ptr cinfo, int level)
{
    jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
    if (level >= 0)
        return; /* trace messages */
    c->msgs.warnings++;
    int code = cinfo->err->msg_code;
    if (!c->corrupt &&
        (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_MUST_RESYNC)) {
        c->corrupt = 1;
        (*cinfo->err->format_message)(cinfo, c->corrupt_msg);
    }
}

static void ctx_init(jpeg_ctx *c)
{
    jpeg_std_error(&c->pub);
    c->pub.error_exit = on_error_exit;
    c->pub.emit_message = on_emit_message;
    io_msgs_clear(&c->msgs);
    c->corrupt = 0;
    c->corrupt_msg[0] = '\0';
}

/* ---- Reader ------------------------------------------------------------------------ */

typedef struct jpeg_reader {
    jpeg_ctx ctx;
    struct jpeg_decompress_struct cinfo;
    int created;
    FILE *f;
    uint8_t *pixels; /* the decoded image, after the first read */
} jpeg_reader;

static gd_status jr_read_rows(gd_reader *r, gd_image *dst, gd_err *err);
static void jr_close(gd_reader *r);
static const io_reader_ops jpeg_reader_ops = {.read_rows = jr_read_rows, .close = jr_close};

static void jr_close(gd_reader *r)
{
    jpeg_reader *j = r->impl;
    if (j->created)
        jpeg_destroy_decompress(&j->cinfo);
    if (j->f)
        fclose(j->f);
    free(j->pixels);
    free(j);
    r->impl = NULL;
}

/* Everything libjpeg does at open, under one setjmp.  Returns 0 after a longjmp. */
static int read_header(gd_reader *r, jpeg_reader *j)
{
    if (setjmp(j->ctx.jb))
        return 0;
    jpeg_create_decompress(&j->cinfo);
    j->created = 1;
    jpeg_stdio_src(&j->cinfo, j->f);
    jpeg_save_markers(&j->cinfo, JPEG_APP0 + 2, 0xffff); /* ICC profile chunks */
    jpeg_read_header(&j->cinfo, TRUE);
    gd_image_info *in = &r->info;
    in->w = (int)j->cinfo.image_width;
    in->h = (int)j->cinfo.image_height;
    in->channels = j->cinfo.num_components;
    in->bits = 8;
    if (j->cinfo.saw_JFIF_marker && j->cinfo.X_density > 0) {
        if (j->cinfo.density_unit == 1)
            in->dpi = j->cinfo.X_density;
        else if (j->cinfo.density_unit == 2)
            in->dpi = j->cinfo.X_density * 2.54;
    }
    JOCTET *icc = NULL;
    unsigned int icc_len = 0;
    if (jpeg_read_icc_profile(&j->cinfo, &icc, &icc_len) && icc && icc_len) {
        in->icc = icc; /* malloc'd by libjpeg: ours to free() */
        in->icc_len = icc_len;
    }
    return 1;
}

gd_status io_jpeg_reader_open(gd_reader *r, gd_err *err)
{
    gd_status st;
    jpeg_reader *j = gd_calloc(1, sizeof *j, "a JPEG reader", err);
    if (!j)
        return GD_ENOMEM;
    r->impl = j;
    r->ops = &jpeg_reader_ops;
    ctx_init(&j->ctx);
    j->cinfo.err = &j->ctx.pub;
    j->f = fopen(r->path, "rb");
    if (!j->f) {
        st = gd_err_set(err, GD_EINPUT, "%s: cannot open: %s", r->path, strerror(errno));
        goto fail;
    }
    if (!read_header(r, j)) {
        st = gd_err_set(err, GD_EINPUT, "%s: not a readable JPEG (%s)", r->path,
                        io_msgs_text(&j->ctx.msgs, "libjpeg failed"));
        goto fail;
    }
    if (j->ctx.corrupt) {
        st = gd_err_set(err, GD_EINPUT, "%s: JPEG is truncated or corrupt (%s)", r->path,
                        j->ctx.corrupt_msg);
        goto fail;
    }
    J_COLOR_SPACE cs = j->cinfo.jpeg_color_space;
    if (cs != JCS_GRAYSCALE && cs != JCS_YCbCr && cs != JCS_RGB) {
        st = gd_err_set(err, GD_EINPUT,
                        "%s: JPEG with %s color is not supported; gigadream reads gray and RGB",
                        r->path, cs == JCS_CMYK || cs == JCS_YCCK ? "CMYK" : "unknown");
        goto fail;
    }
    return GD_OK;
fail:
    jr_close(r);
    return st;
}

/* Decodes the whole image under one setjmp.  Returns 0 after a longjmp. */
static int decode(jpeg_reader *j)
{
    if (setjmp(j->ctx.jb))
        return 0;
    j->cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&j->cinfo);
    if (j->cinfo.output_components != 3) {
        if (j->ctx.msgs.errors++ == 0)
            snprintf(j->ctx.msgs.first, sizeof j->ctx.msgs.first,
                     "decoder gives %d components, not RGB", j->cinfo.output_components);
        return 0;
    }
    const size_t row = (size_t)j->cinfo.output_width * 3;
    while (j->cinfo.output_scanline < j->cinfo.output_height) {
        JSAMPROW p = j->pixels + (size_t)j->cinfo.output_scanline * row;
        jpeg_read_scanlines(&j->cinfo, &p, 1);
    }
    return 1;
}

static gd_status jr_read_rows(gd_reader *r, gd_image *dst, gd_err *err)
{
    jpeg_reader *j = r->impl;
    if (!j->pixels) {
        if (!j->f)
            return gd_err_set(err, GD_EINPUT, "%s: an earlier read failed", r->path);
        const size_t row = (size_t)r->info.w * 3;
        if ((size_t)r->info.h > SIZE_MAX / row)
            return gd_err_set(err, GD_ENOMEM, "%s: image too large to decode", r->path);
        j->pixels = gd_malloc(row * (size_t)r->info.h, "decoded JPEG pixels", err);
        if (!j->pixels)
            return GD_ENOMEM;
        int ok = decode(j);
        /* Either way libjpeg and the file are done with. */
        jpeg_destroy_decompress(&j->cinfo);
        j->created = 0;
        fclose(j->f);
        j->f = NULL;
        if (!ok || j->ctx.corrupt) {
            free(j->pixels);
            j->pixels = NULL;
            if (!ok)
                return gd_err_set(err, GD_EINPUT, "%s: JPEG data is corrupt (%s)", r->path,
                                  io_msgs_text(&j->ctx.msgs, "libjpeg failed"));
            return gd_err_set(err, GD_EINPUT, "%s: JPEG is truncated or corrupt (%s)", r->path,
                              j->ctx.corrupt_msg);
        }
    }
    io_serve_rows(j->pixels, 8, r->info.w, dst);
    return GD_OK;
}

/* ---- Writer ----------------------------------------------------------------------- */

typedef struct jpeg_writer {
    jpeg_ctx ctx;
    struct jpeg_compress_struct cinfo;
    int created;
    FILE *f;
    uint8_t *row;
} jpeg_writer;

static gd_status jw_write_rows(gd_writer *wr, const gd_image *band, gd_err *err);
static gd_status jw_finish(gd_writer *wr, gd_err *err);
static void jw_discard(gd_writer *wr);
static const io_writer_ops jpeg_writer_ops = {
    .write_rows = jw_write_rows, .finish = jw_finish, .discard = jw_discard};

static void jw_discard(gd_writer *wr)
{
    jpeg_writer *j = wr->impl;
    if (j->created)
        jpeg_destroy_compress(&j->cinfo);
    if (j->f)
        fclose(j->f);
    free(j->row);
    free(j);
    wr->impl = NULL;
}

static gd_status jw_fail(gd_writer *wr, jpeg_writer *j, const char *what, gd_err *err)
{
    return gd_err_set(err, GD_EIO, "%s: cannot write %s: %s", wr->tmp, what,
                      io_msgs_text(&j->ctx.msgs, "libjpeg failed"));
}

static int write_header(gd_writer *wr, jpeg_writer *j)
{
    if (setjmp(j->ctx.jb))
        return 0;
    const gd_write_opts *o = &wr->opts;
    jpeg_create_compress(&j->cinfo);
    j->created = 1;
    jpeg_stdio_dest(&j->cinfo, j->f);
    j->cinfo.image_width = (JDIMENSION)wr->w;
    j->cinfo.image_height = (JDIMENSION)wr->h;
    j->cinfo.input_components = 3;
    j->cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&j->cinfo);
    jpeg_set_quality(&j->cinfo, JPEG_OUT_QUALITY, TRUE);
    j->cinfo.comp_info[0].h_samp_factor = 1; /* 4:4:4, no chroma subsampling */
    j->cinfo.comp_info[0].v_samp_factor = 1;
    j->cinfo.write_JFIF_header = TRUE;
    if (o->dpi > 0) {
        double d = o->dpi + 0.5;
        j->cinfo.density_unit = 1;
        j->cinfo.X_density = j->cinfo.Y_density = (UINT16)(d > 65535.0 ? 65535.0 : d);
    }
    jpeg_start_compress(&j->cinfo, TRUE);
    if (o->icc_len)
        jpeg_write_icc_profile(&j->cinfo, (const JOCTET *)o->icc, (unsigned int)o->icc_len);
    if (o->description) {
        size_t n = strlen(o->description);
        jpeg_write_marker(&j->cinfo, JPEG_COM, (const JOCTET *)o->description,
                          (unsigned int)(n > 65533 ? 65533 : n));
    }
    return 1;
}

gd_status io_jpeg_writer_start(gd_writer *wr, gd_err *err)
{
    jpeg_writer *j = gd_calloc(1, sizeof *j, "a JPEG writer", err);
    if (!j)
        return GD_ENOMEM;
    wr->impl = j;
    wr->ops = &jpeg_writer_ops;
    ctx_init(&j->ctx);
    j->cinfo.err = &j->ctx.pub;
    if (wr->opts.icc_len > 255u * 65519u)
        return gd_err_set(err, GD_EINPUT, "%s: ICC profile of %zu bytes is too large for JPEG",
                          wr->path, wr->opts.icc_len);
    j->row = gd_malloc((size_t)wr->w * 3, "a JPEG row", err);
    if (!j->row)
        return GD_ENOMEM;
    j->f = fdopen(wr->fd, "wb");
    if (!j->f)
        return gd_err_set(err, GD_EIO, "%s: cannot open for writing: %s", wr->tmp, strerror(errno));
    wr->fd = -1;
    if (!write_header(wr, j))
        return jw_fail(wr, j, "the JPEG header", err);
    return GD_OK;
}

static int write_row(jpeg_writer *j)
{
    if (setjmp(j->ctx.jb))
        return 0;
    JSAMPROW p = j->row;
    jpeg_write_scanlines(&j->cinfo, &p, 1);
    return 1;
}

static gd_status jw_write_rows(gd_writer *wr, const gd_image *band, gd_err *err)
{
    jpeg_writer *j = wr->impl;
    for (int y = band->y0; y < band->y1; y++) {
        io_quantize_row(gd_image_row(band, y), (size_t)wr->w, 8, 0, j->row);
        if (!write_row(j))
            return jw_fail(wr, j, "JPEG rows", err);
    }
    return GD_OK;
}

static int write_end(jpeg_writer *j)
{
    if (setjmp(j->ctx.jb))
        return 0;
    jpeg_finish_compress(&j->cinfo);
    return 1;
}

static gd_status jw_finish(gd_writer *wr, gd_err *err)
{
    jpeg_writer *j = wr->impl;
    if (!write_end(j))
        return jw_fail(wr, j, "the end of the JPEG", err);
    if (fflush(j->f) != 0)
        return gd_err_set(err, GD_EIO, "%s: cannot write: %s", wr->tmp, strerror(errno));
    gd_status st = io_fsync(fileno(j->f), wr->tmp, err);
    if (st != GD_OK)
        return st;
    FILE *f = j->f;
    j->f = NULL;
    if (fclose(f) != 0)
        return gd_err_set(err, GD_EIO, "%s: cannot close: %s", wr->tmp, strerror(errno));
    return GD_OK;
}

/*
 * cli.c: the gigadream subcommands and their usage text.
 *
 * Each subcommand is a function taking its own arguments and an error
 * context; gd_cli_main dispatches, prints the one-line error and maps the
 * status to the exit code.  Nothing here computes: it parses arguments and
 * calls the modules.
 */
#include "gigadream/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gigadream/checkpoint.h"
#include "gigadream/dist.h"
#include "gigadream/engine.h"
#include "gigadream/error.h"
#include "gigadream/gallery.h"
#include "gigadream/image.h"
#include "gigadream/imageio.h"
#include "gigadream/import_graphdef.h"
#include "gigadream/import_onnx.h"
#include "gigadream/import_tflite.h"
#include "gigadream/model.h"
#include "gigadream/render.h"
#include "gigadream/resample.h"
#include "gigadream/zoom.h"
#include "gigadream/zoom.h"

/*
 * Each command's usage, shown by "gigadream --help" (all of them) and by
 * "gigadream COMMAND --help" (its own), so the two never disagree.
 */
#define USAGE_RENDER                                                                               \
    "  render JOB.ini [--set SECTION.KEY=VALUE]... [--restart | --resume CKPT.h5] [--quiet]\n"     \
    "        dream as the job file says and write its [output] file; runs the same\n"              \
    "        alone, under mpirun -n N or srun (see jobs/ and README.md).  With a\n"                \
    "        [checkpoint] dir it resumes from the newest valid checkpoint there\n"                 \
    "        (--restart: start from the seed; --resume: from this checkpoint), and on\n"           \
    "        SIGTERM, SIGUSR1 or Ctrl-C writes a checkpoint and exits 3.\n"                        \
    "        --allow-other-cpu: resume even a checkpoint written on another kernel\n"              \
    "        path (CPU ISA, own kernels or oneDNN, precision), which is otherwise\n"               \
    "        refused: the output's bytes then differ from an uninterrupted run's\n"
#define USAGE_IMPORT                                                                               \
    "  import SRC.tflite|SRC.onnx|SRC.pb OUT.h5 [--labels FILE] [--force]\n"                       \
    "         [--mean R,G,B] [--std R,G,B] [--scale 255|1] [--bgr]\n"                              \
    "        convert a TensorFlow Lite, ONNX or frozen TensorFlow GraphDef model into\n"           \
    "        gigadream's HDF5 model file (--labels: class names, one per line; --force:\n"         \
    "        replace OUT.h5; ONNX and GraphDef only:\n"                                            \
    "        the network sees (pixel * scale / 255 - mean) / std, in BGR with --bgr)\n"
#define USAGE_CLASSIFY                                                                             \
    "  classify MODEL.h5 IMAGE [--top K]\n"                                                        \
    "        resize IMAGE to the model's input size (antialiased bilinear) and print\n"            \
    "        the top K classes (default 5) as: rank index probability label\n"
#define USAGE_LAYERS                                                                               \
    "  layers MODEL.h5 [--size WxH]\n"                                                             \
    "        list every layer: index, name, op, channels, output shape for a WxH input\n"          \
    "        (default: the model's native size), total stride and receptive field\n"
#define USAGE_INFO                                                                                 \
    "  info FILE\n"                                                                                \
    "        describe a model or a checkpoint (.h5; for a checkpoint, whether it is\n"             \
    "        valid) or an image (TIFF, PNG, JPEG); for an image also\n"                            \
    "        a checksum of its decoded pixels (\"pixels: fnv1a64 HEX\", see imageio.h)\n"
#define USAGE_ZOOM                                                                                 \
    "  zoom OUT.tif DIR\n"                                                                         \
    "        write DIR/index.html, a deep-zoom viewer (OpenSeadragon, no server needed:\n"         \
    "        open it in a browser) of a rendered TIFF, its Deep Zoom tiles cut from the\n"         \
    "        TIFF's own pyramid; DIR must not exist\n"
#define USAGE_GALLERY                                                                              \
    "  gallery MODEL.h5 [--layers A,B,...] [--channels N] [--seed IMAGE] [-o SHEET.png]\n"         \
    "        a contact sheet of what each layer paints: one row per layer (default:\n"             \
    "        every convolution), N channels each (default 4), every cell a lapnorm\n"              \
    "        dream from noise (or of IMAGE), labelled; runs under mpirun like render;\n"           \
    "        writes SHEET.png (default gallery.png, replaced if it exists)\n"

static const char usage[] =
    "usage: gigadream <command> [arguments]\n"
    "\n"
    "commands (each also answers COMMAND --help):\n" USAGE_RENDER USAGE_IMPORT USAGE_CLASSIFY
        USAGE_LAYERS USAGE_INFO USAGE_ZOOM USAGE_GALLERY "  --help, -h        this text\n"
    "  --version         the gigadream version and the oneDNN, MPI and HDF5 it runs with\n"
    "\n"
    "exit codes: 0 done, 1 bad input or usage, 2 runtime failure (I/O, memory),\n"
    "3 stopped by a signal after writing a checkpoint.\n";

/* ---- Argument helpers --------------------------------------------------- */

/* Parses a positive int option value, naming the option on error. */
static gd_status parse_int(const char *opt, const char *s, int lo, int hi, int *out, gd_err *err)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi)
        return gd_err_set(err, GD_EINPUT, "%s: expected an integer from %d to %d, got '%s'", opt,
                          lo, hi, s);
    *out = (int)v;
    return GD_OK;
}

static gd_status parse_size(const char *opt, const char *s, int *w, int *h, gd_err *err)
{
    int a, b, n = 0;
    if (sscanf(s, "%dx%d%n", &a, &b, &n) != 2 || s[n] != '\0' || a < 1 || b < 1 || a > 100000 ||
        b > 100000)
        return gd_err_set(err, GD_EINPUT, "%s: expected WIDTHxHEIGHT like 224x224, got '%s'", opt,
                          s);
    *w = a;
    *h = b;
    return GD_OK;
}

/* Collects positional arguments; unknown options are errors naming them. */
typedef struct args {
    int n;
    char *pos[8];
} args;

static gd_status need_value(int i, int argc, char **argv, gd_err *err)
{
    if (i + 1 >= argc)
        return gd_err_set(err, GD_EINPUT, "%s needs a value", argv[i]);
    return GD_OK;
}

static gd_status add_positional(args *a, const char *cmd, char *arg, gd_err *err)
{
    if (arg[0] == '-' && arg[1] != '\0')
        return gd_err_set(err, GD_EINPUT, "%s: unknown option '%s' (gigadream --help)", cmd, arg);
    if (a->n == 8)
        return gd_err_set(err, GD_EINPUT, "%s: too many arguments", cmd);
    a->pos[a->n++] = arg;
    return GD_OK;
}

static gd_status expect_positional(const args *a, int n, const char *cmd, const char *form,
                                   gd_err *err)
{
    if (a->n != n)
        return gd_err_set(err, GD_EINPUT, "usage: gigadream %s %s", cmd, form);
    return GD_OK;
}

/* ---- import -------------------------------------------------------------- */

/* Three comma-separated numbers (--mean, --std). */
static gd_status parse_rgb(const char *opt, const char *s, float v[3], gd_err *err)
{
    char *end = NULL;
    const char *p = s;
    for (int c = 0; c < 3; c++) {
        v[c] = strtof(p, &end);
        if (end == p || (c < 2 && *end != ',') || (c == 2 && *end != '\0') || !isfinite(v[c]))
            return gd_err_set(err, GD_EINPUT, "%s '%s': expected three numbers R,G,B", opt, s);
        p = end + 1;
    }
    return GD_OK;
}

/* Whether path ends in ext. */
static int has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), e = strlen(ext);
    return n > e && strcmp(path + n - e, ext) == 0;
}

static gd_status cmd_import(int argc, char **argv, const gd_cli_env *env, gd_err *err)
{
    (void)env;
    args a = {0};
    const char *labels = NULL;
    int force = 0, conv_set = 0;
    gd_input_convention conv = gd_input_convention_default();
    gd_model *m = NULL;
    gd_status st = GD_OK;
    for (int i = 0; i < argc && st == GD_OK; i++) {
        if (strcmp(argv[i], "--mean") == 0 || strcmp(argv[i], "--std") == 0) {
            if ((st = need_value(i, argc, argv, err)) == GD_OK)
                st = parse_rgb(argv[i], argv[i + 1], argv[i][2] == 'm' ? conv.mean : conv.std, err);
            i++;
            conv_set = 1;
        } else if (strcmp(argv[i], "--scale") == 0) {
            int scale = 0;
            if ((st = need_value(i, argc, argv, err)) == GD_OK)
                st = parse_int("--scale", argv[++i], 1, 255, &scale, err);
            if (st == GD_OK && scale != 1 && scale != 255)
                st = gd_err_set(err, GD_EINPUT, "--scale must be 255 or 1, got %d", scale);
            conv.scale = (float)scale;
            conv_set = 1;
        } else if (strcmp(argv[i], "--bgr") == 0) {
            conv.bgr = 1;
            conv_set = 1;
        } else if (strcmp(argv[i], "--labels") == 0) {
            if ((st = need_value(i, argc, argv, err)) == GD_OK)
                labels = argv[++i];
        } else if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else {
            st = add_positional(&a, "import", argv[i], err);
        }
    }
    if (st != GD_OK)
        return st;
    if ((st = expect_positional(&a, 2, "import",
                                "SRC.tflite|SRC.onnx|SRC.pb OUT.h5 [--labels FILE] [--force] "
                                "[--mean R,G,B] [--std R,G,B] [--scale 255|1] [--bgr]",
                                err)) != GD_OK)
        return st;
    const char *src = a.pos[0], *out = a.pos[1];
    int onnx = has_ext(src, ".onnx"), graphdef = has_ext(src, ".pb");
    if (conv_set && !onnx && !graphdef)
        return gd_err_set(
            err, GD_EINPUT,
            "%s: --mean, --std, --scale and --bgr apply to ONNX and GraphDef models only "
            "(a TFLite model carries its input quantization)",
            src);
    if (!force && access(out, F_OK) == 0)
        return gd_err_set(err, GD_EINPUT, "%s exists; pass --force to replace it", out);
    if ((st = onnx       ? gd_onnx_import(src, &conv, &m, err)
              : graphdef ? gd_graphdef_import(src, &conv, &m, err)
                         : gd_tflite_import(src, &m, err)) != GD_OK)
        goto done;
    if (labels && (st = gd_model_load_labels(m, labels, err)) != GD_OK)
        goto done;
    if ((st = gd_model_save(m, out, err)) != GD_OK)
        goto done;
    printf("imported %s: %d nodes, input %dx%dx%d%s -> %s\n", src, m->n_nodes, m->in_w, m->in_h,
           m->in_c, m->n_labels ? ", with labels" : "", out);
done:
    gd_model_free(m);
    return st;
}

/* ---- classify ------------------------------------------------------------ */

typedef struct scored {
    int index;
    float p;
} scored;

static int by_probability(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->p != y->p)
        return x->p < y->p ? 1 : -1;
    return x->index - y->index;
}

static gd_status cmd_classify(int argc, char **argv, const gd_cli_env *env, gd_err *err)
{
    (void)env;
    args a = {0};
    int top = 5;
    gd_status st = GD_OK;
    gd_model *m = NULL;
    gd_engine *e = NULL;
    gd_image img = {0}, small = {0};
    scored *sc = NULL;
    for (int i = 0; i < argc && st == GD_OK; i++) {
        if (strcmp(argv[i], "--top") == 0) {
            if ((st = need_value(i, argc, argv, err)) == GD_OK)
                st = parse_int("--top", argv[++i], 1, 100000, &top, err);
        } else {
            st = add_positional(&a, "classify", argv[i], err);
        }
    }
    if (st != GD_OK)
        return st;
    if ((st = expect_positional(&a, 2, "classify", "MODEL.h5 IMAGE [--top K]", err)) != GD_OK)
        return st;
    if ((st = gd_model_load(a.pos[0], &m, err)) != GD_OK)
        goto done;
    int last = m->n_nodes - 1;
    if (m->nodes[last].op != GD_OP_SOFTMAX) {
        st = gd_err_set(err, GD_EINPUT,
                        "%s: model %s has no classifier (its last layer '%s' is %s, not softmax)",
                        a.pos[0], m->name, m->nodes[last].name, gd_op_name(m->nodes[last].op));
        goto done;
    }
    if ((st = gd_image_read(a.pos[1], &img, NULL, err)) != GD_OK)
        goto done;
    if ((st = gd_image_alloc_full(&small, m->in_w, m->in_h, 3, err)) != GD_OK)
        goto done;
    /* Shrinking a photo to the network's size must antialias: the triangle
     * filter is bilinear when enlarging and averages when shrinking. */
    if ((st = gd_resample(&img, &small, GD_FILTER_TRIANGLE, err)) != GD_OK)
        goto done;
    gd_engine_opts opts = {.backward = 0};
    if ((st = gd_engine_create(m, m->in_h, m->in_w, &last, 1, &opts, &e, err)) != GD_OK)
        goto done;
    if ((st = gd_engine_forward(e, small.data, err)) != GD_OK)
        goto done;
    gd_shape shape;
    const float *prob = gd_engine_output(e, 0, &shape);
    int n = shape.c;
    sc = gd_calloc((size_t)n, sizeof *sc, "class scores", err);
    if (!sc) {
        st = err->status;
        goto done;
    }
    for (int i = 0; i < n; i++)
        sc[i] = (scored){i, prob[i]};
    qsort(sc, (size_t)n, sizeof *sc, by_probability);
    if (top > n)
        top = n;
    for (int r = 0; r < top; r++) {
        int i = sc[r].index;
        printf("%d %d %.4f %s\n", r + 1, i, sc[r].p, i < m->n_labels ? m->labels[i] : "(no label)");
    }
done:
    free(sc);
    gd_engine_free(e);
    gd_image_free(&small);
    gd_image_free(&img);
    gd_model_free(m);
    return st;
}

/* ---- layers -------------------------------------------------------------- */

static gd_status cmd_layers(int argc, char **argv, const gd_cli_env *env, gd_err *err)
{
    (void)env;
    args a = {0};
    int w = 0, h = 0;
    gd_status st = GD_OK;
    gd_model *m = NULL;
    gd_shape *shapes = NULL;
    for (int i = 0; i < argc && st == GD_OK; i++) {
        if (strcmp(argv[i], "--size") == 0) {
            if ((st = need_value(i, argc, argv, err)) == GD_OK)
                st = parse_size("--size", argv[++i], &w, &h, err);
        } else {
            st = add_positional(&a, "layers", argv[i], err);
        }
    }
    if (st != GD_OK)
        return st;
    if ((st = expect_positional(&a, 1, "layers", "MODEL.h5 [--size WxH]", err)) != GD_OK)
        return st;
    if ((st = gd_model_load(a.pos[0], &m, err)) != GD_OK)
        goto done;
    if (w == 0) {
        w = m->in_w;
        h = m->in_h;
    }
    shapes = gd_calloc((size_t)m->n_nodes, sizeof *shapes, "layer shapes", err);
    if (!shapes) {
        st = err->status;
        goto done;
    }
    if ((st = gd_model_shapes(m, h, w, shapes, err)) != GD_OK) {
        gd_err_prefix(err, "%s at %dx%d", a.pos[0], w, h);
        goto done;
    }
    printf("# %s (%s): input %dx%dx%d, shapes for %dx%d\n", m->name, m->source, m->in_w, m->in_h,
           m->in_c, w, h);
    printf("%5s  %-36s %-8s %6s  %-14s %6s %6s\n", "index", "name", "op", "chans", "output WxHxC",
           "stride", "rf");
    for (int i = 0; i < m->n_nodes; i++) {
        const gd_node *n = &m->nodes[i];
        int stride, rf;
        gd_model_stride_rf(m, i, &stride, &rf);
        char shape[48], rfs[16], op[24];
        snprintf(shape, sizeof shape, "%dx%dx%d", shapes[i].w, shapes[i].h, shapes[i].c);
        if (rf > 0)
            snprintf(rfs, sizeof rfs, "%d", rf);
        else
            snprintf(rfs, sizeof rfs, "global");
        if (n->op == GD_OP_CONV && n->groups > 1)
            snprintf(op, sizeof op, "%s", n->groups == shapes[n->inputs[0]].c ? "dwconv" : "gconv");
        else
            snprintf(op, sizeof op, "%s", gd_op_name(n->op));
        printf("%5d  %-36s %-8s %6d  %-14s %6d %6s\n", i, n->name, op, shapes[i].c, shape, stride,
               rfs);
    }
done:
    free(shapes);
    gd_model_free(m);
    return st;
}

/* ---- info ---------------------------------------------------------------- */

static int has_hdf5_signature(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char buf[8];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return n == sizeof buf && memcmp(buf, sig, sizeof sig) == 0;
}

static gd_status info_model(const char *path, gd_err *err)
{
    gd_model *m = NULL;
    gd_status st = gd_model_load(path, &m, err);
    if (st != GD_OK)
        return st;
    size_t weights = 0;
    int convs = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        weights += m->nodes[i].n_weights + m->nodes[i].n_bias;
        convs += m->nodes[i].op == GD_OP_CONV;
    }
    printf("%s: gigadream model '%s' (from %s)\n", path, m->name, m->source);
    printf("  input: %dx%dx%d, x = pixel * %g + %g\n", m->in_w, m->in_h, m->in_c,
           (double)m->norm_scale[0], (double)m->norm_offset[0]);
    printf("  nodes: %d (%d convolutions), %zu parameters\n", m->n_nodes, convs, weights);
    printf("  labels: %d\n", m->n_labels);
    printf("  last layer: %s (%s)\n", m->nodes[m->n_nodes - 1].name,
           gd_op_name(m->nodes[m->n_nodes - 1].op));
    gd_model_free(m);
    return GD_OK;
}

static gd_status info_image(const char *path, gd_err *err)
{
    static const char *const formats[] = {"TIFF", "PNG", "JPEG"};
    gd_reader *r = NULL;
    uint64_t sum;
    /* The checksum decodes every pixel, so a corrupt strip fails before anything is printed. */
    gd_status st = gd_image_checksum(path, &sum, err);
    if (st != GD_OK || (st = gd_reader_open(path, &r, err)) != GD_OK)
        return st;
    const gd_image_info *in = gd_reader_info(r);
    printf("%s: %s image %dx%d, %d channel%s, %d bits", path,
           (unsigned)in->format < GD_FORMAT_COUNT ? formats[in->format] : "?", in->w, in->h,
           in->channels, in->channels == 1 ? "" : "s", in->bits);
    if (in->format == GD_FORMAT_TIFF)
        printf(", %s%s", in->tiled ? "tiled" : "strips", in->bigtiff ? ", BigTIFF" : "");
    if (in->dpi > 0)
        printf(", %g dpi", in->dpi);
    if (in->icc_len)
        printf(", ICC profile (%zu bytes)", in->icc_len);
    printf("\n");
    /* Unindented and fixed: scripts compare images by this line (gd_image_checksum). */
    printf("pixels: fnv1a64 %016" PRIx64 "\n", sum);
    gd_reader_close(r);
    return GD_OK;
}

static gd_status cmd_info(int argc, char **argv, const gd_cli_env *env, gd_err *err)
{
    (void)env;
    args a = {0};
    gd_status st = GD_OK;
    for (int i = 0; i < argc && st == GD_OK; i++)
        st = add_positional(&a, "info", argv[i], err);
    if (st != GD_OK)
        return st;
    if ((st = expect_positional(&a, 1, "info", "FILE", err)) != GD_OK)
        return st;
    if (access(a.pos[0], R_OK) != 0)
        return gd_err_set(err, GD_EINPUT, "%s: %s", a.pos[0], strerror(errno));
    if (has_hdf5_signature(a.pos[0])) {
        if (gd_checkpoint_probe(a.pos[0]))
            return gd_checkpoint_info(a.pos[0], stdout, err);
        return info_model(a.pos[0], err);
    }
    return info_image(a.pos[0], err);
}

/* ---- zoom ---------------------------------------------------------------- */

/* Where OpenSeadragon is: $GIGADREAM_OSD_DIR, else the source tree's
 * scripts/viewer/node_modules (scripts/setup.sh), else the installed copy. */
static const char *osd_dir(void)
{
    const char *env = getenv("GIGADREAM_OSD_DIR");
    if (env && *env)
        return env;
    if (access(GD_OSD_SOURCE_DIR "/openseadragon.min.js", R_OK) == 0)
        return GD_OSD_SOURCE_DIR;
    return GD_OSD_INSTALL_DIR;
}

static gd_status cmd_zoom(int argc, char **argv, const gd_cli_env *env, gd_err *err)
{
    (void)env;
    args a = {0};
    gd_status st = GD_OK;
    for (int i = 0; i < argc && st == GD_OK; i++)
        st = add_positional(&a, "zoom", argv[i], err);
    if (st != GD_OK)
        return st;
    if ((st = expect_positional(&a, 2, "zoom", "OUT.tif DIR", err)) != GD_OK)
        return st;
    gd_zoom_result res;
    if ((st = gd_zoom_write(a.pos[0], a.pos[1], osd_dir(), &res, err)) != GD_OK)
        return st;
    printf("%s: %dx%d, %d Deep Zoom levels (%d from the TIFF's pyramid), %ld tiles; open "
           "%s/index.html\n",
           a.pos[0], res.w, res.h, res.levels, res.from_tiff, res.tiles, a.pos[1]);
    return GD_OK;
}

/* ---- gallery ------------------------------------------------------------- */

static gd_status cmd_gallery(int argc, char **argv, const gd_cli_env *env, gd_err *err)
{
    (void)env;
    args a = {0};
    gd_gallery_opts o = {.channels = 4, .out = "gallery.png"};
    gd_status st = GD_OK;
    for (int i = 0; i < argc && st == GD_OK; i++) {
        if (strcmp(argv[i], "--layers") == 0) {
            if ((st = need_value(i, argc, argv, err)) == GD_OK)
                o.layers = argv[++i];
        } else if (strcmp(argv[i], "--channels") == 0) {
            if ((st = need_value(i, argc, argv, err)) == GD_OK)
                st = parse_int("--channels", argv[++i], 1, 1024, &o.channels, err);
        } else if (strcmp(argv[i], "--seed") == 0) {
            if ((st = need_value(i, argc, argv, err)) == GD_OK)
                o.seed = argv[++i];
        } else if (strcmp(argv[i], "-o") == 0) {
            if ((st = need_value(i, argc, argv, err)) == GD_OK)
                o.out = argv[++i];
        } else {
            st = add_positional(&a, "gallery", argv[i], err);
        }
    }
    if (st != GD_OK)
        return st;
    if ((st = expect_positional(
             &a, 1, "gallery",
             "MODEL.h5 [--layers A,B,...] [--channels N] [--seed IMAGE] [-o SHEET.png]", err)) !=
        GD_OK)
        return st;
    o.model = a.pos[0];
    gd_dist *dist = NULL;
    if ((st = gd_dist_init(NULL, NULL, &dist, err)) != GD_OK)
        return st;
    gd_gallery_result res;
    st = gd_gallery(&o, dist, &res, err);
    if (st == GD_OK && gd_dist_rank(dist) == 0)
        printf("wrote %s: %d layers x %d channels, %dx%d, in %.1f s; smallest objective gain "
               "%.2fx\n",
               o.out, res.rows, res.cols, res.w, res.h, res.seconds, res.min_gain);
    /* Every rank holds the same agreed message: only rank 0 prints it. */
    if (st != GD_OK && gd_dist_rank(dist) != 0)
        err->msg[0] = '\0';
    gd_dist_free(dist);
    return st;
}

/* ---- render -------------------------------------------------------------- */

#define MAX_OVERRIDES 256

static gd_status cmd_render(int argc, char **argv, const gd_cli_env *env, gd_err *err)
{
    args a = {0};
    const char *overrides[MAX_OVERRIDES];
    gd_render_opts ro = {0};
    gd_status st = GD_OK;
    for (int i = 0; i < argc && st == GD_OK; i++) {
        if (strcmp(argv[i], "--set") == 0) {
            if ((st = need_value(i, argc, argv, err)) != GD_OK)
                break;
            if (ro.n_overrides == MAX_OVERRIDES)
                st =
                    gd_err_set(err, GD_EINPUT, "render: more than %d --set options", MAX_OVERRIDES);
            else
                overrides[ro.n_overrides++] = argv[++i];
        } else if (strcmp(argv[i], "--quiet") == 0) {
            ro.quiet = 1;
        } else if (strcmp(argv[i], "--restart") == 0) {
            ro.restart = 1;
        } else if (strcmp(argv[i], "--allow-other-cpu") == 0) {
            ro.allow_other_cpu = 1;
        } else if (strcmp(argv[i], "--resume") == 0) {
            if ((st = need_value(i, argc, argv, err)) == GD_OK)
                ro.resume = argv[++i];
        } else {
            st = add_positional(&a, "render", argv[i], err);
        }
    }
    if (st != GD_OK)
        return st;
    if ((st = expect_positional(&a, 1, "render",
                                "JOB.ini [--set SECTION.KEY=VALUE]... [--restart | --resume "
                                "CKPT.h5] [--quiet]",
                                err)) != GD_OK)
        return st;
    if (ro.restart && ro.resume)
        return gd_err_set(err, GD_EINPUT, "render: --restart and --resume exclude each other");
    ro.job_path = a.pos[0];
    ro.overrides = overrides;
    gd_dist *dist = NULL;
    if ((st = gd_dist_init(NULL, NULL, &dist, err)) != GD_OK)
        return st;
    if (env && env->catch_signals)
        env->catch_signals();
    ro.stop = env ? env->stop : NULL;
    st = gd_render(&ro, dist, NULL, err);
    /* Every rank holds the same agreed message: only rank 0 prints it. */
    if (st != GD_OK && gd_dist_rank(dist) != 0)
        err->msg[0] = '\0';
    gd_dist_free(dist);
    return st;
}

/* ---- dispatch ------------------------------------------------------------ */

typedef struct command {
    const char *name;
    gd_status (*run)(int argc, char **argv, const gd_cli_env *env, gd_err *err);
    const char *usage; /* Its USAGE_ block: "  name ARGS\n        what...\n". */
} command;

static const command commands[] = {
    {"render", cmd_render, USAGE_RENDER},
    {"import", cmd_import, USAGE_IMPORT},
    {"classify", cmd_classify, USAGE_CLASSIFY},
    {"layers", cmd_layers, USAGE_LAYERS},
    {"info", cmd_info, USAGE_INFO},
    {"zoom", cmd_zoom, USAGE_ZOOM},
    {"gallery", cmd_gallery, USAGE_GALLERY},
};

/* True when a command's arguments ask for its help: "--help" or "-h" anywhere. */
static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

/* The program's version and the versions of the libraries it runs with, as
 * each library reports itself at run time (a binary built against one
 * version may be run with another). */
static void print_version(void)
{
    char dnnl[96], mpi[128], hdf5[64];
    printf("gigadream %s\n", GD_VERSION);
    printf("runs with: %s; %s; %s\n", gd_engine_library_version(dnnl, sizeof dnnl),
           gd_dist_library_version(mpi, sizeof mpi), gd_model_hdf5_version(hdf5, sizeof hdf5));
}

int gd_cli_main(int argc, char **argv, const gd_cli_env *env)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 1;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        print_version();
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            if (wants_help(argc - 2, argv + 2)) {
                /* The block's two-space indent gives way to "usage: gigadream ". */
                printf("usage: gigadream %s", commands[i].usage + 2);
                return 0;
            }
            gd_err err;
            gd_err_clear(&err);
            gd_status st = commands[i].run(argc - 2, argv + 2, env, &err);
            if (st != GD_OK) {
                /* An empty message means another rank reports it. */
                if (err.msg[0])
                    fprintf(stderr, "gigadream: %s\n", err.msg);
            } else if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "gigadream: error writing to standard output\n");
                st = GD_EIO;
            }
            return gd_status_exit_code(st);
        }
    }
    fprintf(stderr, "gigadream: unknown command '%s' (gigadream --help lists them)\n", argv[1]);
    return 1;
}

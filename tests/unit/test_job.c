/*
 * test_job.c: job files: defaults, every key, errors with file:line and key,
 * overrides, path resolution, canonical text, hash and diff.
 */
#define _XOPEN_SOURCE 700 /* realpath, chdir */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"
#include "gigadream/job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The folder the test jobs live in: $GD_TEST_TMP/jobs, made absolute. */
static const char *jobs_dir(char *buf, size_t len)
{
    char tmp[4096];
    gdtest_tmp("jobs", tmp, sizeof tmp);
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", tmp, strerror(errno));
    char *real = realpath(tmp, NULL);
    assert_non_null(real);
    snprintf(buf, len, "%s", real);
    free(real);
    return buf;
}

/* Writes body to jobs_dir()/name and returns its path in path. */
static const char *write_job(const char *name, const char *body, char *path, size_t len)
{
    char dir[4096];
    jobs_dir(dir, sizeof dir);
    snprintf(path, len, "%s/%s", dir, name);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0777); /* for names with a subfolder; may exist */
    *slash = '/';
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("cannot write %s: %s", path, strerror(errno));
    fputs(body, f);
    fclose(f);
    return path;
}

/* Loads body (written as name) and fails the test on error. */
static void load_ok(const char *name, const char *body, const char *const *ov, int n_ov,
                    gd_job *job)
{
    char path[4096];
    gd_err err;
    write_job(name, body, path, sizeof path);
    GDTEST_OK(gd_job_load(path, ov, n_ov, job, &err), &err);
}

/* Loads body and checks it fails with GD_EINPUT and a message containing want. */
static void load_fails(const char *name, const char *body, const char *const *ov, int n_ov,
                       const char *want)
{
    char path[4096];
    gd_err err;
    gd_job job;
    write_job(name, body, path, sizeof path);
    gd_status st = gd_job_load(path, ov, n_ov, &job, &err);
    if (st != GD_EINPUT)
        fail_msg("expected GD_EINPUT for %s (want \"%s\"), got %s: %s", name, want,
                 gd_status_name(st), st == GD_OK ? job.canon : err.msg);
    if (!strstr(err.msg, want))
        fail_msg("message \"%s\"\n  does not contain \"%s\"", err.msg, want);
    /* A failed load leaves nothing to free. */
    assert_null(job.text);
    assert_null(job.canon);
    assert_null(job.layer);
}

#define BASE                                                                                       \
    "[input]\n"                                                                                    \
    "image = cat.png\n"                                                                            \
    "[model]\n"                                                                                    \
    "file = m.h5\n"                                                                                \
    "layer = conv\n"                                                                               \
    "[output]\n"                                                                                   \
    "file = out.tif\n"
/* BASE has 7 lines: appended lines start at line 8. */

static void test_minimal_job_defaults(void **state)
{
    (void)state;
    gd_job job;
    char dir[4096], want[8192];
    jobs_dir(dir, sizeof dir);
    const char *body = "; a minimal job\n"
                       "[input]\n"
                       "image = seeds/cat.png\n"
                       "[model]\n"
                       "file = ../models/mobilenet.h5\n"
                       "layer = Conv2d_9_pointwise\n"
                       "[output]\n"
                       "file = /abs/out/dream.tif\n";
    load_ok("minimal.ini", body, NULL, 0, &job);

    assert_string_equal(job.text, body);
    assert_string_equal(job.dir, dir);
    assert_string_equal(job.image.text, "seeds/cat.png");
    snprintf(want, sizeof want, "%s/seeds/cat.png", dir);
    assert_string_equal(job.image.path, want);
    assert_int_equal(job.noise, 0);
    snprintf(want, sizeof want, "%s/../models/mobilenet.h5", dir);
    assert_string_equal(job.model.path, want);
    assert_string_equal(job.output.path, "/abs/out/dream.tif");
    assert_string_equal(job.layer, "Conv2d_9_pointwise");
    assert_int_equal(job.n_layers, 1);

    /* Every default. */
    assert_int_equal(job.width, 0);
    assert_int_equal(job.height, 0);
    assert_null(job.channels);
    assert_int_equal(job.n_channels, 0);
    assert_int_equal(job.objective, GD_OBJ_MEAN);
    assert_null(job.guide.text);
    assert_null(job.guide.path);
    assert_int_equal(job.mode, GD_MODE_DEEPDREAM);
    assert_int_equal(job.octaves, 4);
    assert_true(job.octave_scale == 1.4f);
    assert_int_equal(job.iterations, 10);
    assert_true(job.step == 1.5f);
    assert_true(job.seed == 0);
    assert_int_equal(job.lap_levels, 4);
    assert_int_equal(job.tile_size, GD_TILING_AUTO);
    assert_int_equal(job.tile_overlap, 32);
    assert_int_equal(job.tile_jitter, -1); /* the size auto takes */
    assert_int_equal(job.border, GD_BORDER_REFLECT);
    assert_int_equal(job.compression, GD_COMPRESS_DEFLATE);
    assert_int_equal(job.bits, 8);
    assert_true(job.dpi == 300.0);
    assert_int_equal(job.pyramid, 1);
    assert_int_equal(job.overwrite, 0);
    assert_int_equal(job.bigtiff, 0);
    assert_null(job.checkpoint_dir.path);
    assert_int_equal(job.every_iterations, 0);
    assert_true(job.every_seconds == 0.0);
    assert_int_equal(job.keep, 2);
    assert_int_equal(job.threads, 0);
    assert_int_equal(job.precision, GD_ENGINE_F32);

    /* Which keys the file set, and where. */
    assert_int_equal(job.line[GD_JOB_KEY_INPUT_IMAGE], 3);
    assert_int_equal(job.line[GD_JOB_KEY_OUTPUT_FILE], 8);
    assert_true(gd_job_is_set(&job, GD_JOB_KEY_MODEL_LAYER));
    assert_false(gd_job_is_set(&job, GD_JOB_KEY_DREAM_STEP));
    assert_false(gd_job_is_set(&job, GD_JOB_KEY_TILES_JITTER));
    char where[4200];
    snprintf(want, sizeof want, "%s/minimal.ini:6", dir);
    assert_string_equal(gd_job_where(&job, GD_JOB_KEY_MODEL_LAYER, where, sizeof where), want);
    snprintf(want, sizeof want, "%s/minimal.ini", dir);
    assert_string_equal(gd_job_where(&job, GD_JOB_KEY_DREAM_STEP, where, sizeof where), want);
    assert_string_equal(gd_job_key_section(GD_JOB_KEY_CHECKPOINT_EVERY_SECONDS), "checkpoint");
    assert_string_equal(gd_job_key_name(GD_JOB_KEY_CHECKPOINT_EVERY_SECONDS), "every_seconds");
    gd_job_free(&job);
    gd_job_free(&job); /* freeing twice (a zeroed job) is harmless */
    gd_job_free(NULL);
}

static void test_mode_defaults(void **state)
{
    (void)state;
    static const struct {
        const char *mode;
        gd_dream_mode m;
        int octaves, iterations;
        float step;
    } cases[] = {
        {"deepdream", GD_MODE_DEEPDREAM, 4, 10, 1.5f},
        {"naive", GD_MODE_NAIVE, 1, 20, 1.0f},
        {"multiscale", GD_MODE_MULTISCALE, 3, 10, 1.0f},
        {"lapnorm", GD_MODE_LAPNORM, 3, 10, 1.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[1024];
        gd_job job;
        snprintf(body, sizeof body, BASE "[dream]\nmode = %s\n", cases[i].mode);
        load_ok("mode.ini", body, NULL, 0, &job);
        assert_int_equal(job.mode, cases[i].m);
        assert_int_equal(job.octaves, cases[i].octaves);
        assert_int_equal(job.iterations, cases[i].iterations);
        assert_true(job.step == cases[i].step);
        assert_true(job.octave_scale == 1.4f);
        assert_int_equal(job.lap_levels, 4);
        assert_string_equal(gd_dream_mode_name(job.mode), cases[i].mode);
        gd_job_free(&job);
    }
    /* Keys the job sets keep their values; the others take the mode's. */
    gd_job job;
    load_ok("mode.ini", BASE "[dream]\nmode = multiscale\noctaves = 2\n", NULL, 0, &job);
    assert_int_equal(job.octaves, 2);
    assert_int_equal(job.iterations, 10);
    assert_true(job.step == 1.0f);
    gd_job_free(&job);
    /* naive dreams at one scale: more octaves are refused, naming the key. */
    gd_err err;
    memset(&job, 0, sizeof job);
    char path[1024];
    FILE *f = fopen(gdtest_tmp("naive.ini", path, sizeof path), "w");
    assert_non_null(f);
    fputs(BASE "[dream]\nmode = naive\noctaves = 2\n", f);
    fclose(f);
    assert_int_equal(gd_job_load(path, NULL, 0, &job, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "naive.ini:"));
    assert_non_null(strstr(err.msg, "[dream] octaves: naive mode dreams at one scale"));
    gd_job_free(&job);
    /* A mode given by --set picks the defaults too. */
    const char *ov[] = {"dream.mode=lapnorm"};
    load_ok("mode.ini", BASE "[dream]\niterations = 7\n", ov, 1, &job);
    assert_int_equal(job.mode, GD_MODE_LAPNORM);
    assert_int_equal(job.octaves, 3);
    assert_int_equal(job.iterations, 7);
    assert_true(job.step == 1.0f);
    gd_job_free(&job);
}

static void test_every_key(void **state)
{
    (void)state;
    gd_job job;
    char dir[4096], want[8192];
    jobs_dir(dir, sizeof dir);
    /* Indented keys, comments, inline comments, CRLF lines, "key: value". */
    const char *body = "# every key\r\n"
                       "[input]\r\n"
                       "  image = ./seeds/cat.png ; the seed\n"
                       "  width = 4000\n"
                       "  height: 0\n"
                       "[model]\n"
                       "\tfile = m.h5\n"
                       "\tlayer = mixed4c:2, mixed4d : 0.50 ,mixed5a:1\n"
                       "\tchannels = 3, 17,42\n"
                       "\tobjective = guide\n"
                       "\tguide = guides/flower.png\n"
                       "[dream]\n"
                       "mode = multiscale\n"
                       "octaves = 5\n"
                       "octave_scale = 1.25\n"
                       "iterations = 30\n"
                       "step = 0.75\n"
                       "seed = 18446744073709551615\n"
                       "lap_levels = 6\n"
                       "[tiles]\n"
                       "size = 256\n"
                       "overlap = 32\n"
                       "jitter = 100\n"
                       "border = wrap\n"
                       "[output]\n"
                       "file = out/dream.tif\n"
                       "compression = zstd\n"
                       "bits = 16\n"
                       "dpi = 600.5\n"
                       "pyramid = off\n"
                       "overwrite = YES\n"
                       "bigtiff = true\n"
                       "preview = 800\n"
                       "[checkpoint]\n"
                       "dir = /scratch/ckpt\n"
                       "every_iterations = 5\n"
                       "every_seconds = 1800\n"
                       "keep = 3\n"
                       "[engine]\n"
                       "threads = 8\n"
                       "precision = bf16\n"
                       "memory = 1.5 GiB\n"
                       "scratch = /scratch/tmp\n";
    load_ok("every.ini", body, NULL, 0, &job);
    snprintf(want, sizeof want, "%s/seeds/cat.png", dir);
    assert_string_equal(job.image.path, want);
    assert_string_equal(job.image.text, "./seeds/cat.png");
    assert_int_equal(job.width, 4000);
    assert_int_equal(job.height, 0);
    assert_string_equal(job.layer, "mixed4c:2, mixed4d:0.5, mixed5a");
    assert_int_equal(job.n_layers, 3);
    assert_string_equal(job.channels, "3, 17, 42");
    assert_int_equal(job.n_channels, 3);
    assert_int_equal(job.objective, GD_OBJ_GUIDE);
    snprintf(want, sizeof want, "%s/guides/flower.png", dir);
    assert_string_equal(job.guide.path, want);
    assert_int_equal(job.mode, GD_MODE_MULTISCALE);
    assert_int_equal(job.octaves, 5);
    assert_true(job.octave_scale == 1.25f);
    assert_int_equal(job.iterations, 30);
    assert_true(job.step == 0.75f);
    assert_true(job.seed == UINT64_MAX);
    assert_int_equal(job.lap_levels, 6);
    assert_int_equal(job.tile_size, 256);
    assert_int_equal(job.tile_overlap, 32);
    assert_int_equal(job.tile_jitter, 100);
    assert_int_equal(job.border, GD_BORDER_WRAP);
    snprintf(want, sizeof want, "%s/out/dream.tif", dir);
    assert_string_equal(job.output.path, want);
    assert_int_equal(job.compression, GD_COMPRESS_ZSTD);
    assert_int_equal(job.bits, 16);
    assert_true(job.dpi == 600.5);
    assert_int_equal(job.pyramid, 0);
    assert_int_equal(job.overwrite, 1);
    assert_int_equal(job.bigtiff, 1);
    assert_int_equal(job.preview, 800);
    assert_string_equal(job.checkpoint_dir.path, "/scratch/ckpt");
    assert_int_equal(job.every_iterations, 5);
    assert_true(job.every_seconds == 1800.0);
    assert_int_equal(job.keep, 3);
    assert_int_equal(job.threads, 8);
    assert_int_equal(job.precision, GD_ENGINE_BF16);
    assert_true(job.memory == 1.5 * 1024 * 1024 * 1024);
    assert_string_equal(job.scratch.path, "/scratch/tmp");
    assert_int_equal(job.line[GD_JOB_KEY_INPUT_IMAGE], 3);
    assert_int_equal(job.line[GD_JOB_KEY_OUTPUT_BIGTIFF], 32);
    assert_int_equal(job.line[GD_JOB_KEY_ENGINE_PRECISION], 41);
    for (int k = 0; k < GD_JOB_KEY_COUNT; k++)
        assert_true(gd_job_is_set(&job, (gd_job_key)k));
    gd_job_free(&job);
}

static void test_noise_seed(void **state)
{
    (void)state;
    gd_job job;
    const char *body = "[input]\nimage = noise\nwidth = 224\nheight = 224\n"
                       "[model]\nfile = m.h5\nlayer = conv\n[output]\nfile = o.tif\n"
                       "[dream]\nmode = naive\n";
    load_ok("noise.ini", body, NULL, 0, &job);
    assert_int_equal(job.noise, 1);
    assert_null(job.image.path);
    assert_string_equal(job.image.text, "noise");
    assert_non_null(strstr(job.canon, "input.image=noise\n"));
    gd_job_free(&job);
    /* "./noise" is a file called noise. */
    const char *ov[] = {"input.image=./noise"};
    load_ok("noise.ini", BASE, ov, 1, &job);
    assert_int_equal(job.noise, 0);
    assert_non_null(job.image.path);
    gd_job_free(&job);

    load_fails("noise.ini",
               "[input]\nimage = noise\nwidth = 224\n[model]\nfile = m.h5\n"
               "layer = conv\n[output]\nfile = o.tif\n",
               NULL, 0, "noise.ini:2: [input] image = noise needs [input] width and height");
}

/* A value error: BASE + extra, and the message expected from "e.ini:". */
typedef struct bad_case {
    const char *extra;
    const char *want;
} bad_case;

static void test_value_errors(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"[dream]\nstep = -1\n", "e.ini:9: [dream] step: must be > 0 and <= 1000000, got '-1'"},
        {"[engine]\nmemory = lots\n", "e.ini:9: [engine] memory: must be auto or bytes with a "
                                      "unit from 1MB up, e.g. 8GB, 512MiB, got 'lots'"},
        {"[engine]\nmemory = 8 GX\n", "e.ini:9: [engine] memory: must be auto or bytes"},
        {"[engine]\nmemory = 1000\n", "e.ini:9: [engine] memory: must be auto or bytes"},
        {"[engine]\nmemory = -8GB\n", "e.ini:9: [engine] memory: must be auto or bytes"},
        {"[dream]\nstep = 0\n", "e.ini:9: [dream] step: must be > 0"},
        {"[dream]\nstep = 1.5x\n", "e.ini:9: [dream] step: must be > 0 and <= 1000000, got '1.5x'"},
        {"[dream]\nstep = 0x10\n", "e.ini:9: [dream] step: must be > 0 and <= 1000000, got '0x10'"},
        {"[dream]\nstep = 1e999\n", "e.ini:9: [dream] step: "},
        {"[dream]\nstep = nan\n", "e.ini:9: [dream] step: "},
        {"[dream]\nstep = 1e-50\n", "e.ini:9: [dream] step: "}, /* 0 as a float */
        {"[dream]\nstep = 2 # two\n", "got '2 # two' (a comment after a value starts with ' ;')"},
        {"[dream]\noctaves = 21\n", "e.ini:9: [dream] octaves: must be an integer from 1 to 20, "
                                    "got '21'"},
        {"[dream]\noctaves = 0\n", "e.ini:9: [dream] octaves: must be an integer from 1 to 20"},
        {"[dream]\noctaves = 3.5\n", "e.ini:9: [dream] octaves: must be an integer"},
        {"[dream]\noctaves = 99999999999999999999\n", "e.ini:9: [dream] octaves: must be"},
        {"[dream]\noctave_scale = 1\n", "e.ini:9: [dream] octave_scale: must be > 1 and <= 4, "
                                        "got '1'"},
        {"[dream]\noctave_scale = 4.5\n", "e.ini:9: [dream] octave_scale: must be > 1 and <= 4"},
        {"[dream]\niterations = 0\n", "e.ini:9: [dream] iterations: must be an integer from 1 "
                                      "to 100000"},
        {"[dream]\niterations = 100001\n", "e.ini:9: [dream] iterations:"},
        {"[dream]\nseed = -1\n", "e.ini:9: [dream] seed: must be an integer from 0 to "
                                 "18446744073709551615, got '-1'"},
        {"[dream]\nseed = 18446744073709551616\n", "e.ini:9: [dream] seed:"},
        {"[dream]\nlap_levels = 0\n", "e.ini:9: [dream] lap_levels:"},
        {"[dream]\nmode = dream\n", "e.ini:9: [dream] mode: must be one of deepdream, naive, "
                                    "multiscale, lapnorm, got 'dream'"},
        {"[tiles]\nsize = 8\n", "e.ini:9: [tiles] size: must be 'auto', 0 (no tiling) or an "
                                "integer from 16 to 32768, got '8'"},
        {"[tiles]\nsize = automatic\n", "e.ini:9: [tiles] size: must be 'auto', 0"},
        {"[tiles]\noverlap = -1\n", "e.ini:9: [tiles] overlap: must be an integer from 0"},
        {"[tiles]\nborder = clamp\n", "e.ini:9: [tiles] border: must be one of reflect, wrap"},
        {"[input]\nwidth = 1000001\n", "e.ini:9: [input] width: must be an integer from 0 (keep) "
                                       "to 1000000"},
        {"[input]\nheight = -3\n", "e.ini:9: [input] height:"},
        {"[output]\nbits = 12\n", "e.ini:9: [output] bits: must be 8 or 16, got '12'"},
        {"[output]\ndpi = 0\n", "e.ini:9: [output] dpi: must be > 0"},
        {"[output]\ncompression = zip\n", "e.ini:9: [output] compression: must be one of "
                                          "deflate, zstd, lzw, jpeg, none, got 'zip'"},
        {"[output]\npyramid = maybe\n", "e.ini:9: [output] pyramid: must be true or false, "
                                        "got 'maybe'"},
        {"[output]\nbigtiff = false\n", "e.ini:9: [output] bigtiff: must be auto or true; "
                                        "classic TIFF cannot be forced (auto writes it whenever "
                                        "the file stays under 4 GB), got 'false'"},
        {"[output]\nbigtiff = off\n", "e.ini:9: [output] bigtiff: must be auto or true; "
                                      "classic TIFF cannot be forced"},
        {"[output]\nbigtiff = always\n", "e.ini:9: [output] bigtiff: must be auto (BigTIFF only "
                                         "when the file could pass 4 GB) or true (always "
                                         "BigTIFF), got 'always'"},
        {"[output]\nbigtiff =\n", "e.ini:9: [output] bigtiff: must be auto"},
        {"[checkpoint]\nkeep = 0\n", "e.ini:9: [checkpoint] keep: must be an integer from 1"},
        {"[checkpoint]\nevery_iterations = -1\n", "e.ini:9: [checkpoint] every_iterations:"},
        {"[checkpoint]\nevery_seconds = -5\n", "e.ini:9: [checkpoint] every_seconds: must be "
                                               "a number >= 0"},
        {"[engine]\nthreads = 5000\n", "e.ini:9: [engine] threads:"},
        {"[engine]\nprecision = fp16\n", "e.ini:9: [engine] precision: must be one of fp32, "
                                         "bf16, got 'fp16'"},
        {"[model]\nchannels = 3, -1\n", "e.ini:9: [model] channels: must be 'all' or a list of "
                                        "channel indices"},
        {"[model]\nchannels = 3, x\n", "e.ini:9: [model] channels:"},
        {"[model]\nchannels = 1, 2, 1\n", "e.ini:9: [model] channels: lists channel 1 twice"},
        {"[model]\nchannels = 1,,2\n", "e.ini:9: [model] channels:"},
        {"[model]\nobjective = max\n", "e.ini:9: [model] objective: must be one of mean, "
                                       "square, guide"},
        {"[input]\nimage =\n", "e.ini:9: [input] image: must be a path, not empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[2048];
        /* A later section repeats one of BASE's or adds one; keys stay unique. */
        if (strstr(cases[i].extra, "image ="))
            snprintf(body, sizeof body,
                     "[model]\nfile = m.h5\nlayer = conv\n[output]\nfile = out.tif\n"
                     "[dream]\nmode = naive\n%s",
                     cases[i].extra); /* 7 lines before, like BASE */
        else
            snprintf(body, sizeof body, "%s%s", BASE, cases[i].extra);
        load_fails("e.ini", body, NULL, 0, cases[i].want);
    }
}

static void test_layer_errors(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"layer = a:inf\n", "e.ini:3: [model] layer: weight 'inf' of layer 'a' is not a finite "
                            "number"},
        {"layer = a:nan\n", "e.ini:3: [model] layer: weight 'nan' of layer 'a'"},
        {"layer = a:\n", "e.ini:3: [model] layer: weight '' of layer 'a'"},
        {"layer = a:1e40\n", "e.ini:3: [model] layer: weight '1e40'"},
        {"layer = a,,b\n", "e.ini:3: [model] layer: has an empty entry, got 'a,,b'"},
        {"layer = a, b,\n", "e.ini:3: [model] layer: has an empty entry"},
        {"layer = :2\n", "e.ini:3: [model] layer: weight '2' has no layer name"},
        {"layer = a, b:2, a:3\n", "e.ini:3: [model] layer: names layer 'a' twice"},
        {"layer = a,b,c,d,e,f,g,h,i\n", "e.ini:3: [model] layer: names more than 8 layers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body,
                 "[model]\nfile = m.h5\n%s[input]\nimage = c.png\n"
                 "[output]\nfile = o.tif\n",
                 cases[i].extra);
        load_fails("e.ini", body, NULL, 0, cases[i].want);
    }
    /* Names may hold ':' when a weight follows; the normalized form keeps it unambiguous. */
    gd_job job;
    load_ok("layer.ini",
            "[model]\nfile = m.h5\nlayer = conv:0:1, x : -2.5\n[input]\n"
            "image = c.png\n[output]\nfile = o.tif\n",
            NULL, 0, &job);
    assert_string_equal(job.layer, "conv:0:1, x:-2.5");
    assert_int_equal(job.n_layers, 2);
    gd_job_free(&job);
}

static void test_structure_errors(void **state)
{
    (void)state;
    /* Unknown keys, with suggestions. */
    load_fails("e.ini", BASE "[dream]\nstep = 2\nstpe = 2\n", NULL, 0,
               "e.ini:10: unknown key 'stpe' in [dream] (did you mean 'step'?)");
    load_fails("e.ini", BASE "[dream]\nsize = 256\n", NULL, 0,
               "e.ini:9: unknown key 'size' in [dream] (did you mean 'size' in [tiles]?)");
    load_fails("e.ini", BASE "[dream]\nitertions = 5\n", NULL, 0,
               "e.ini:9: unknown key 'itertions' in [dream] (did you mean 'iterations'?)");
    load_fails("e.ini", BASE "[dream]\nfoo = 5\n", NULL, 0,
               "e.ini:9: unknown key 'foo' in [dream] ([dream] has mode octaves octave_scale "
               "iterations step seed lap_levels)");
    /* Unknown sections, at their own line even with no key under them. */
    load_fails("e.ini", BASE "\n[tile]\n", NULL, 0,
               "e.ini:9: unknown section [tile] (did you mean [tiles]?)");
    load_fails("e.ini", "[render]\n" BASE, NULL, 0,
               "e.ini:1: unknown section [render] (sections are [input], [model]");
    /* Duplicates name both lines, even across repeated sections. */
    load_fails("e.ini", BASE "[dream]\nstep = 2\nseed = 1\nstep = 3\n", NULL, 0,
               "e.ini:11: duplicate key 'step' in [dream] (first set at line 9)");
    load_fails("e.ini", BASE "[input]\nimage = dog.png\n", NULL, 0,
               "e.ini:9: duplicate key 'image' in [input] (first set at line 2)");
    /* Outside any section. */
    load_fails("e.ini", "step = 1\n" BASE, NULL, 0, "e.ini:1: key 'step' is outside any section");
    /* inih's syntax errors, with the right line even after indented and blank lines. */
    load_fails("e.ini", BASE "\n  \n[dream]\n  just words\n", NULL, 0,
               "e.ini:11: expected 'key = value' or '[section]', got 'just words'");
    load_fails("e.ini", BASE "[dream\nstep = 2\n", NULL, 0,
               "e.ini:8: section header without a closing ']': '[dream'");
    /* A syntax error before a bad value is the one reported. */
    load_fails("e.ini", BASE "oops\n[dream]\nstep = -1\n", NULL, 0,
               "e.ini:8: expected 'key = value' or '[section]', got 'oops'");
    /* Lines longer than inih's buffer are refused, not split. */
    char body[1024];
    snprintf(body, sizeof body, BASE "[model]\nguide = %0250d\n", 7);
    load_fails("e.ini", body, NULL, 0, "e.ini:9: line is longer than 198 characters");
    /* A line of exactly the limit is fine (then fails later on a rule, not its length). */
    char path[191];
    memset(path, 'p', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    snprintf(body, sizeof body, BASE "[model]\nguide = %s\n", path);
    assert_int_equal(strlen("guide = ") + strlen(path), 198);
    load_fails("e.ini", body, NULL, 0, "e.ini:9: [model] guide: only used with objective = guide");
    /* A file that is not there. */
    char dir[4096], missing[4200];
    jobs_dir(dir, sizeof dir);
    snprintf(missing, sizeof missing, "%s/missing.ini", dir);
    gd_job job;
    gd_err err;
    assert_int_equal(gd_job_load(missing, NULL, 0, &job, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "cannot open job file"));
    assert_non_null(strstr(err.msg, "missing.ini"));
}

static void test_rule_errors(void **state)
{
    (void)state;
    /* Required keys name the file, no line. */
    load_fails("e.ini", "[input]\nimage = c.png\n[model]\nfile = m.h5\nlayer = conv\n", NULL, 0,
               "e.ini: [output] file is required");
    load_fails("e.ini", "[input]\nimage = c.png\n[model]\nfile = m.h5\n[output]\nfile = o.tif\n",
               NULL, 0, "e.ini: [model] layer is required");
    load_fails("e.ini", "[input]\nimage = c.png\n[model]\nlayer = x\n[output]\nfile = o.tif\n",
               NULL, 0, "e.ini: [model] file is required");
    load_fails("e.ini", "[model]\nfile = m.h5\nlayer = x\n[output]\nfile = o.tif\n", NULL, 0,
               "e.ini: [input] image is required (a path, or 'noise')");
    /* 2 x overlap <= size: blame the key that was set. */
    load_fails("e.ini", BASE "[tiles]\nsize = 100\noverlap = 60\n", NULL, 0,
               "e.ini:10: [tiles] overlap: 2 x overlap must be <= size (the blend ramps span "
               "2 x overlap pixels across each core boundary");
    load_fails("e.ini", BASE "[tiles]\nsize = 50\n", NULL, 0,
               "e.ini:9: [tiles] size: 2 x overlap must be <= size");
    /* 2 x overlap == size is fine, and size 0 ignores overlap. */
    gd_job job;
    load_ok("ok.ini", BASE "[tiles]\nsize = 128\noverlap = 64\n", NULL, 0, &job);
    gd_job_free(&job);
    load_ok("ok.ini", BASE "[tiles]\nsize = 0\n", NULL, 0, &job);
    assert_int_equal(job.tile_jitter, 0);
    gd_job_free(&job);
    /* jitter 0..size (with auto, up to its larger size; each octave takes
     * at most its own). */
    load_fails("e.ini", BASE "[tiles]\nsize = 512\njitter = 600\n", NULL, 0,
               "e.ini:10: [tiles] jitter: jitter must be from 0 to size, got jitter 600 with "
               "size 512");
    load_fails("e.ini", BASE "[tiles]\njitter = 1100\n", NULL, 0,
               "e.ini:9: [tiles] jitter: jitter must be from 0 to size, got jitter 1100 with "
               "size auto (512 or 1024)");
    load_ok("ok.ini", BASE "[tiles]\njitter = 600\n", NULL, 0, &job);
    gd_job_free(&job);
    /* 2 x overlap must fit auto's smaller size. */
    load_fails("e.ini", BASE "[tiles]\noverlap = 300\n", NULL, 0,
               "e.ini:9: [tiles] overlap: 2 x overlap must be <= size (the blend ramps span "
               "2 x overlap pixels across each core boundary and must fit in a core), got "
               "overlap 300 with size auto (512 or 1024)");
    /* jpeg holds 8 bits. */
    load_fails("e.ini", BASE "[output]\ncompression = jpeg\nbits = 16\n", NULL, 0,
               "e.ini:9: [output] compression: jpeg compression holds 8 bits only, got bits = 16");
    /* guide iff objective = guide. */
    load_fails("e.ini", BASE "[model]\nobjective = guide\n", NULL, 0,
               "e.ini:9: [model] guide is required when objective = guide");
    load_fails("e.ini", BASE "[model]\nguide = g.png\n", NULL, 0,
               "e.ini:9: [model] guide: only used with objective = guide (objective is 'mean'), "
               "got 'g.png'");
    /* bigtiff = true needs a TIFF output; an unknown extension is left to the renderer. */
    load_fails("e.ini", BASE "[output]\nbigtiff = true\n", (const char *[]){"output.file=o.png"}, 1,
               "e.ini:9: [output] bigtiff = true needs a TIFF output (.tif, .tiff), but [output] "
               "file 'o.png' is PNG");
    load_fails("e.ini", BASE, (const char *[]){"output.file=o.JPEG", "output.bigtiff=yes"}, 2,
               "--set output.bigtiff=yes: [output] bigtiff = true needs a TIFF output");
    load_ok("ok.ini", BASE "[output]\nbigtiff = auto\n", (const char *[]){"output.file=o.png"}, 1,
            &job);
    assert_int_equal(job.bigtiff, 0);
    gd_job_free(&job);
    load_ok("ok.ini", BASE "[output]\nbigtiff = On\n", (const char *[]){"output.file=o.TIFF"}, 1,
            &job);
    assert_int_equal(job.bigtiff, 1);
    gd_job_free(&job);
    load_ok("ok.ini", BASE "[output]\nbigtiff = AUTO\n", (const char *[]){"output.bigtiff=1"}, 1,
            &job);
    assert_int_equal(job.bigtiff, 1);
    assert_int_equal(job.line[GD_JOB_KEY_OUTPUT_BIGTIFF], -1);
    gd_job_free(&job);
    load_ok("ok.ini", BASE "[output]\nbigtiff = true\n", (const char *[]){"output.file=o.bmp"}, 1,
            &job);
    gd_job_free(&job);
    /* Periodic checkpoints need a folder. */
    load_fails("e.ini", BASE "[checkpoint]\nevery_seconds = 600\n", NULL, 0,
               "e.ini:9: [checkpoint] dir is required when every_seconds is set");
}

static void test_overrides(void **state)
{
    (void)state;
    gd_job job;
    char where[4200], cwd_path[8192];
    const char *ov[] = {"dream.step=2", " tiles.size = 256 ", "output.file=rel/out.tif",
                        "model.layer=a:1", "dream.step=3"};
    load_ok("ov.ini", BASE "[dream]\nstep = 1.5\n", ov, 5, &job);
    /* Overrides win over the file; a later override wins over an earlier one. */
    assert_true(job.step == 3.0f);
    assert_int_equal(job.line[GD_JOB_KEY_DREAM_STEP], -5);
    assert_string_equal(gd_job_where(&job, GD_JOB_KEY_DREAM_STEP, where, sizeof where),
                        "--set dream.step=3");
    /* Defaults that depend on an overridden key follow it. */
    assert_int_equal(job.tile_size, 256);
    assert_int_equal(job.tile_jitter, 256);
    assert_string_equal(job.layer, "a");
    /* A --set path is relative to the current directory, like any command-line path. */
    char *cwd = realpath(".", NULL);
    assert_non_null(cwd);
    snprintf(cwd_path, sizeof cwd_path, "%s/rel/out.tif", cwd);
    free(cwd);
    assert_string_equal(job.output.path, cwd_path);
    assert_string_equal(job.output.text, "rel/out.tif");
    gd_job_free(&job);

    /* Errors name the --set argument. */
    const char *bad1[] = {"dream.step=-1"};
    load_fails("ov.ini", BASE, bad1, 1,
               "--set dream.step=-1: [dream] step: must be > 0 and <= 1000000, got '-1'");
    const char *bad2[] = {"dream.step=2", "dream.stpe=2"};
    load_fails("ov.ini", BASE, bad2, 2,
               "--set dream.stpe=2: unknown key 'stpe' in [dream] (did you mean 'step'?)");
    const char *bad3[] = {"dreams.step=2"};
    load_fails("ov.ini", BASE, bad3, 1,
               "--set dreams.step=2: unknown section [dreams] (did you mean [dream]?)");
    const char *bad4[] = {"step=2"};
    load_fails("ov.ini", BASE, bad4, 1, "--set step=2: expected section.key=value");
    const char *bad5[] = {"dream.step"};
    load_fails("ov.ini", BASE, bad5, 1, "--set dream.step: expected section.key=value");
    const char *bad6[] = {"tiles.overlap=300"};
    load_fails("ov.ini", BASE, bad6, 1,
               "--set tiles.overlap=300: [tiles] overlap: 2 x overlap must be <= size");
    const char *bad7[] = {"output.bits=16"};
    load_fails("ov.ini", BASE "[output]\ncompression = jpeg\n", bad7, 1,
               "ov.ini:9: [output] compression: jpeg compression holds 8 bits only, got bits = 16");
    /* A file error comes before the overrides are looked at. */
    load_fails("ov.ini", BASE "[dream]\nstep = -1\n", bad3, 1, "ov.ini:9: [dream] step:");
}

static void test_relative_paths(void **state)
{
    (void)state;
    char dir[4096], want[8192], old[4096];
    jobs_dir(dir, sizeof dir);
    const char *body = "[input]\nimage = ../img/cat.png\n[model]\nfile = /abs/m.h5\nlayer = c\n"
                       "[output]\nfile = ./out.tif\n[checkpoint]\ndir = ckpt\n";
    char path[4200];
    write_job("sub/rel.ini", body, path, sizeof path);
    assert_non_null(getcwd(old, sizeof old));

    /* The same job loaded from two working directories by two relative names. */
    gd_job a, b;
    gd_err err;
    assert_int_equal(chdir(dir), 0);
    GDTEST_OK(gd_job_load("sub/rel.ini", NULL, 0, &a, &err), &err);
    assert_int_equal(chdir("sub"), 0);
    GDTEST_OK(gd_job_load("rel.ini", NULL, 0, &b, &err), &err);
    assert_int_equal(chdir(old), 0);

    snprintf(want, sizeof want, "%s/sub/../img/cat.png", dir);
    assert_string_equal(a.image.path, want);
    assert_string_equal(b.image.path, want);
    assert_string_equal(a.model.path, "/abs/m.h5");
    snprintf(want, sizeof want, "%s/sub/out.tif", dir);
    assert_string_equal(a.output.path, want);
    snprintf(want, sizeof want, "%s/sub/ckpt", dir);
    assert_string_equal(a.checkpoint_dir.path, want);
    assert_string_equal(a.checkpoint_dir.text, "ckpt");
    /* Messages use the name as given. */
    assert_string_equal(a.file, "sub/rel.ini");
    assert_string_equal(b.file, "rel.ini");
    assert_string_equal(a.canon, b.canon);
    assert_true(a.hash == b.hash);
    gd_job_free(&a);
    gd_job_free(&b);

    /* gd_job_parse takes the folder explicitly. */
    GDTEST_OK(gd_job_parse(body, "stored job", "/data/jobs", NULL, 0, &a, &err), &err);
    assert_string_equal(a.image.path, "/data/jobs/../img/cat.png");
    assert_string_equal(a.output.path, "/data/jobs/out.tif");
    gd_job_free(&a);
    assert_int_equal(gd_job_parse("[dream]\nstep = 0\n", "stored job", "/data", NULL, 0, &a, &err),
                     GD_EINPUT);
    assert_non_null(strstr(err.msg, "stored job:2: [dream] step:"));
}

static void test_canonical_text(void **state)
{
    (void)state;
    gd_job job;
    char dir[4096], want[16384];
    jobs_dir(dir, sizeof dir);
    load_ok("canon.ini",
            "[input]\nimage = cat.png\nwidth = 2000\n[model]\nfile = m.h5\n"
            "layer = mixed4c:1, mixed4d:0.5\nchannels = 7, 3\n[output]\nfile = out.tif\n"
            "[dream]\noctave_scale = 1.4\nstep = 3.14159265358979\nseed = 42\n"
            "[engine]\nthreads = 4\n[checkpoint]\nkeep = 5\n",
            NULL, 0, &job);
    snprintf(want, sizeof want,
             "dream.iterations=10\n"
             "dream.lap_levels=4\n"
             "dream.mode=deepdream\n"
             "dream.octave_scale=1.4\n"
             "dream.octaves=4\n"
             "dream.seed=42\n"
             "dream.step=3.1415927\n"
             "engine.precision=fp32\n"
             "input.height=0\n"
             "input.image=%s/cat.png\n"
             "input.width=2000\n"
             "model.channels=7, 3\n"
             "model.file=%s/m.h5\n"
             "model.guide=\n"
             "model.layer=mixed4c, mixed4d:0.5\n"
             "model.objective=mean\n"
             "tiles.border=reflect\n"
             "tiles.jitter=size\n"
             "tiles.overlap=32\n"
             "tiles.size=auto\n",
             dir, dir);
    assert_string_equal(job.canon, want);
    assert_true(job.hash == gd_job_hash_text(job.canon));
    assert_true(gd_job_hash(&job) == job.hash);
    char hex[17];
    gd_job_hash_hex(job.hash, hex);
    assert_int_equal(strlen(hex), 16);
    assert_true(strtoull(hex, NULL, 16) == job.hash);
    gd_job_free(&job);

    /* FNV-1a 64 known answers. */
    assert_true(gd_job_hash_text("") == 0xcbf29ce484222325ULL);
    assert_true(gd_job_hash_text("a") == 0xaf63dc4c8601ec8cULL);
    assert_string_equal(gd_job_hash_hex(0xaf63dc4c8601ec8cULL, hex), "af63dc4c8601ec8c");
    assert_string_equal(gd_job_hash_hex(0x1, hex), "0000000000000001");
}

/* The hash of BASE plus extra, with overrides. */
static uint64_t hash_of(const char *extra, const char *const *ov, int n_ov)
{
    char body[2048];
    gd_job job;
    snprintf(body, sizeof body, "%s%s", BASE, extra);
    load_ok("h.ini", body, ov, n_ov, &job);
    uint64_t h = job.hash;
    gd_job_free(&job);
    return h;
}

static void test_hash_stability(void **state)
{
    (void)state;
    uint64_t h = hash_of("", NULL, 0);
    assert_true(hash_of("", NULL, 0) == h);
    /* The same dream, spelled differently or with output-only changes: same hash. */
    assert_true(
        hash_of("[dream]\nstep = 1.50\noctave_scale = 1.4000\nmode = DeepDream\n", NULL, 0) == h);
    assert_true(hash_of("[dream]\noctaves = 4\niterations = 10\nseed = 0\n[tiles]\nsize = Auto\n",
                        NULL, 0) == h);
    /* A jitter of 512 is not auto's (which is the size it takes, 1024 where it takes that). */
    assert_true(hash_of("[tiles]\njitter = 512\n", NULL, 0) != h);
    assert_true(hash_of("[output]\ncompression = lzw\nbits = 16\ndpi = 72\npyramid = no\n"
                        "overwrite = yes\nbigtiff = true\n",
                        NULL, 0) == h);
    assert_true(hash_of("[checkpoint]\ndir = c\nevery_iterations = 3\nkeep = 9\n"
                        "[engine]\nthreads = 3\n",
                        NULL, 0) == h);
    assert_true(hash_of("[model]\nchannels = all\n", NULL, 0) == h);
    const char *same[] = {"output.compression=none", "model.layer=conv:1"};
    assert_true(hash_of("", same, 2) == h);
    /* Anything that changes the pixels changes it. */
    const char *changes[] = {
        "[dream]\nstep = 2\n",           "[dream]\nseed = 1\n",
        "[dream]\nmode = naive\n",       "[dream]\nlap_levels = 5\n",
        "[tiles]\nsize = 256\n",         "[tiles]\nsize = 512\n",
        "[tiles]\noverlap = 48\n",       "[tiles]\njitter = 0\n",
        "[tiles]\nborder = wrap\n",      "[engine]\nprecision = bf16\n",
        "[input]\nwidth = 10\n",         "[model]\nchannels = 1\n",
        "[model]\nobjective = square\n", "[dream]\noctave_scale = 1.5\n",
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++)
        if (hash_of(changes[i], NULL, 0) == h)
            fail_msg("'%s' did not change the hash", changes[i]);
    const char *step[] = {"dream.step=1.6"};
    assert_true(hash_of("", step, 1) != h);
}

static void test_diff(void **state)
{
    (void)state;
    gd_job a, b;
    load_ok("d.ini", BASE, NULL, 0, &a);
    const char *ov[] = {"dream.step=2", "tiles.size=256", "output.bits=16", "engine.threads=2"};
    load_ok("d.ini", BASE, ov, 4, &b);
    char buf[1024];
    /* The jitter default follows the size: three keys differ, output and threads do not count. */
    assert_int_equal(gd_job_diff(a.canon, b.canon, buf, sizeof buf), 3);
    assert_string_equal(buf, "dream.step: 1.5 -> 2; tiles.jitter: size -> 256; "
                             "tiles.size: auto -> 256");
    assert_int_equal(gd_job_diff(a.canon, a.canon, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(gd_job_diff(b.canon, a.canon, NULL, 0), 3);
    /* Keys present on one side only. */
    assert_int_equal(gd_job_diff("a.x=1\nb.y=2\n", "b.y=2\nc.z=3\n", buf, sizeof buf), 2);
    assert_string_equal(buf, "a.x: 1 -> (absent); c.z: (absent) -> 3");
    /* A short buffer is cut with "..." but the count stays exact. */
    char small[24];
    assert_int_equal(gd_job_diff(a.canon, b.canon, small, sizeof small), 3);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_string_equal(small + sizeof small - 4, "...");
    gd_job_free(&a);
    gd_job_free(&b);
}

static void test_check_tiles(void **state)
{
    (void)state;
    gd_job job;
    gd_err err;
    load_ok("t.ini", BASE "[tiles]\njitter = 0\noverlap = 40\n", NULL, 0, &job);
    GDTEST_OK(gd_job_check_tiles(&job, 8, &err), &err);
    assert_int_equal(gd_job_check_tiles(&job, 16, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "t.ini:10: [tiles] overlap: must be a multiple of the "
                                    "layer's total stride 16 when jitter = 0"));
    assert_non_null(strstr(err.msg, "got 40"));
    assert_int_equal(gd_job_check_tiles(&job, 1024, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "t.ini: [tiles] size: must be at least the layer's total "
                                    "stride 1024 (or 0 for no tiling), got the default auto (512 "
                                    "or 1024)"));
    gd_job_free(&job);

    load_ok("t.ini", BASE "[tiles]\nsize = 500\njitter = 0\n", NULL, 0, &job);
    assert_int_equal(gd_job_check_tiles(&job, 16, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "t.ini:9: [tiles] size: must be a multiple of the layer's "
                                    "total stride 16"));
    gd_job_free(&job);

    /* With jitter the phase moves every iteration: only size >= stride matters. */
    load_ok("t.ini", BASE "[tiles]\nsize = 500\noverlap = 40\n", NULL, 0, &job);
    GDTEST_OK(gd_job_check_tiles(&job, 32, &err), &err);
    gd_job_free(&job);
    /* No tiling: nothing to check. */
    load_ok("t.ini", BASE "[tiles]\nsize = 0\n", NULL, 0, &job);
    GDTEST_OK(gd_job_check_tiles(&job, 64, &err), &err);
    gd_job_free(&job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_job_defaults),
        cmocka_unit_test(test_mode_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_noise_seed),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_layer_errors),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_rule_errors),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_hash_stability),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_check_tiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

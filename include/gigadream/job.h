/*
 * job.h: INI job files: parsing with line numbers, validation, --set
 * overrides, defaults, the canonical text and the job hash.
 *
 * A job file (parsed with inih) has these sections and keys; defaults in
 * brackets, "[mode]" where the default depends on [dream] mode:
 *
 *   [input]      image       path of the seed photo, or "noise": the notebook's
 *                            img_noise, uniform(0, 1) + 100 per channel, of
 *                            width x height (both then required; a file
 *                            named "noise" is written "./noise")
 *                width [0], height [0]   resize the seed first; 0 = keep,
 *                            one 0 keeps the aspect ratio; 0..1000000
 *   [model]      file        the model (.h5)
 *                layer       "name" or "name:weight, name:weight" (at most
 *                            GD_OBJ_MAX_LAYERS; the weight follows the last
 *                            ':', so a name containing ':' needs a weight)
 *                channels [all]   "all" or a list "3, 17, 42" of distinct
 *                            non-negative channel indices
 *                objective [mean]  mean | square | guide
 *                guide       guide image; required iff objective = guide
 *   [dream]      mode [deepdream]  deepdream | naive | multiscale | lapnorm
 *                octaves [mode] 1..20, octave_scale [1.4] > 1 and <= 4,
 *                iterations [mode] 1..100000, step [mode] > 0,
 *                seed [0] 0..2^64-1, lap_levels [4] 1..16
 *   [tiles]      size [auto]  a tile's core: auto (per octave 512 or 1024,
 *                            whichever has the network see fewer pixels:
 *                            gd_tiling_auto_size), 0 = no tiling, else
 *                            16..32768
 *                overlap [32]  context margin on each side, >= 0 and
 *                            2 * overlap <= size (the blend ramps span
 *                            2 * overlap pixels across each core boundary;
 *                            with auto, the smaller size)
 *                jitter [= size]  0..size; 0 puts cores at multiples of size
 *                border [reflect]  reflect | wrap
 *   [output]     file        the output image
 *                compression [deflate]  deflate | zstd | lzw | jpeg | none
 *                            (jpeg needs bits = 8)
 *                bits [8]    8 | 16;  dpi [300] > 0
 *                pyramid [true], overwrite [false]   booleans: true/false,
 *                            yes/no, on/off, 1/0
 *                bigtiff [auto]  auto | true (or yes/on/1): auto writes
 *                            classic TIFF, and BigTIFF only when the file
 *                            could pass 4 GB (imageio.h); true always writes
 *                            BigTIFF.  false is refused: classic TIFF cannot
 *                            be forced, auto already writes it whenever it
 *                            can hold the image.  true needs a TIFF [output]
 *                            file (.tif/.tiff); PNG and JPEG are refused.
 *                preview [1024]  longest side of OUT.preview.png, written
 *                            beside the output from its pyramid; 0 = none
 *   [checkpoint] dir         folder for checkpoints; required when an every_*
 *                            key is > 0, otherwise optional (NULL = none)
 *                every_iterations [0 = off] >= 0, every_seconds [0 = off] >= 0,
 *                keep [2] 1..1000
 *   [engine]     threads [0 = OpenMP default] 0..4096,
 *                precision [fp32]  fp32 | bf16 (the engine may refuse bf16)
 *                memory [auto]  bytes per rank with a unit (8GB, 512MiB: powers
 *                            of 1024) or auto: two thirds of the memory the
 *                            node has available, shared by its ranks.  A render whose
 *                            state does not fit goes out of core (dream.h).
 *                scratch   folder for out-of-core files; default the
 *                            checkpoint dir, else the output's folder
 *
 * Mode-specific defaults (the notebook's), applied to keys the job does not
 * set, after the file and the overrides:
 *   deepdream:  octaves 4, iterations 10, step 1.5
 *   naive:      octaves 1, iterations 20, step 1.0
 *   multiscale: octaves 3, iterations 10, step 1.0
 *   lapnorm:    octaves 3, iterations 10, step 1.0   (lap_levels 4)
 * gd_job_is_set tells which keys were set explicitly.
 *
 * Syntax: inih's (';' or '#' starts a comment line, " ;" an inline comment,
 * "key = value" or "key: value").  Leading whitespace is ignored, so indented
 * keys are ordinary keys; multi-line values are not supported.  A line may
 * hold at most GD_JOB_MAX_LINE characters (inih's fixed line buffer).  Every
 * error names the place: "FILE:LINE: ..." for the file, "--set KEY=VALUE:
 * ..." for an override, "FILE: ..." for a missing key.  Unknown sections and
 * keys, duplicate keys and malformed values are errors, never ignored.
 *
 * Paths ([input] image, [model] file and guide, [output] file,
 * [checkpoint] dir): relative paths in the file resolve against the job
 * file's folder (made absolute); relative paths given by --set resolve
 * against the current directory, like any command-line path; absolute paths
 * stay.  Both the text as written and the resolved path are kept.
 *
 * The canonical text lists, one "section.key=value" line each, sorted, every
 * key that affects the dream's pixels: all of [input], [model], [dream],
 * [tiles], and engine.precision; not [output] (written once at the end),
 * [checkpoint] or engine.threads.  Defaults are filled in and values
 * normalized: floats in the shortest form that reads back as the same float
 * (they are used as float32), enums and booleans by their names, paths
 * resolved, layer weights of 1 dropped, lists as "a, b".  Unset optional
 * strings are empty.  The job hash is the 64-bit FNV-1a of that text.
 *
 * Numbers are parsed, and the canonical text printed, in the C locale
 * whatever the process's locale is (per thread, with uselocale).
 *
 * This module never reads anything but the job file, and never prints.
 */
#ifndef GIGADREAM_JOB_H
#define GIGADREAM_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "gigadream/error.h"
#include "gigadream/image.h"     /* gd_border */
#include "gigadream/imageio.h"   /* gd_compression */
#include "gigadream/objective.h" /* gd_obj_kind, GD_OBJ_MAX_LAYERS */
#include "gigadream/tiling.h"    /* GD_TILING_AUTO */

/* Longest line (without its newline) inih's line buffer holds. */
#define GD_JOB_MAX_LINE 198
/* Largest job file accepted. */
#define GD_JOB_MAX_BYTES (1 << 20)

typedef enum gd_dream_mode {
    GD_MODE_DEEPDREAM = 0, /* octaves of detail, mean |g| normalization */
    GD_MODE_NAIVE,         /* one scale, std normalization */
    GD_MODE_MULTISCALE,    /* upscale between octaves, std normalization */
    GD_MODE_LAPNORM,       /* Laplacian pyramid gradient normalization */
    GD_MODE_COUNT
} gd_dream_mode;

/* Every key, in file order.  gd_job_key_section/name give its spelling. */
typedef enum gd_job_key {
    GD_JOB_KEY_INPUT_IMAGE = 0,
    GD_JOB_KEY_INPUT_WIDTH,
    GD_JOB_KEY_INPUT_HEIGHT,
    GD_JOB_KEY_MODEL_FILE,
    GD_JOB_KEY_MODEL_LAYER,
    GD_JOB_KEY_MODEL_CHANNELS,
    GD_JOB_KEY_MODEL_OBJECTIVE,
    GD_JOB_KEY_MODEL_GUIDE,
    GD_JOB_KEY_DREAM_MODE,
    GD_JOB_KEY_DREAM_OCTAVES,
    GD_JOB_KEY_DREAM_OCTAVE_SCALE,
    GD_JOB_KEY_DREAM_ITERATIONS,
    GD_JOB_KEY_DREAM_STEP,
    GD_JOB_KEY_DREAM_SEED,
    GD_JOB_KEY_DREAM_LAP_LEVELS,
    GD_JOB_KEY_TILES_SIZE,
    GD_JOB_KEY_TILES_OVERLAP,
    GD_JOB_KEY_TILES_JITTER,
    GD_JOB_KEY_TILES_BORDER,
    GD_JOB_KEY_OUTPUT_FILE,
    GD_JOB_KEY_OUTPUT_COMPRESSION,
    GD_JOB_KEY_OUTPUT_BITS,
    GD_JOB_KEY_OUTPUT_DPI,
    GD_JOB_KEY_OUTPUT_PYRAMID,
    GD_JOB_KEY_OUTPUT_OVERWRITE,
    GD_JOB_KEY_OUTPUT_BIGTIFF,
    GD_JOB_KEY_OUTPUT_PREVIEW,
    GD_JOB_KEY_CHECKPOINT_DIR,
    GD_JOB_KEY_CHECKPOINT_EVERY_ITERATIONS,
    GD_JOB_KEY_CHECKPOINT_EVERY_SECONDS,
    GD_JOB_KEY_CHECKPOINT_KEEP,
    GD_JOB_KEY_ENGINE_THREADS,
    GD_JOB_KEY_ENGINE_PRECISION,
    GD_JOB_KEY_ENGINE_MEMORY,
    GD_JOB_KEY_ENGINE_SCRATCH,
    GD_JOB_KEY_COUNT
} gd_job_key;

/* A path as written in the job (text) and resolved (path); both NULL when unset. */
typedef struct gd_job_path {
    char *text;
    char *path;
} gd_job_path;

/*
 * A parsed, validated job with every default filled in.  All strings are
 * owned by the job; gd_job_free releases them.
 */
typedef struct gd_job {
    /* [input] */
    gd_job_path image; /* unset (NULL path) when noise */
    int noise;         /* 1: image = noise */
    int width, height; /* 0 = keep */
    /* [model] */
    gd_job_path model;
    char *layer; /* normalized: "a, b:0.5" */
    int n_layers;
    char *channels; /* normalized "3, 17, 42", or NULL for all */
    int n_channels; /* 0 = all */
    gd_obj_kind objective;
    gd_job_path guide; /* set iff objective == GD_OBJ_GUIDE */
    /* [dream] */
    gd_dream_mode mode;
    int octaves;
    float octave_scale;
    int iterations;
    float step;
    uint64_t seed;
    int lap_levels;
    /* [tiles] */
    int tile_size; /* 0 = no tiling; GD_TILING_AUTO (tiling.h) = auto, per octave */
    int tile_overlap;
    int tile_jitter; /* < 0: the size (per octave, with size = auto) */
    gd_border border;
    /* [output] */
    gd_job_path output;
    gd_compression compression;
    int bits;
    double dpi;
    int pyramid;
    int overwrite;
    int bigtiff; /* 1: always BigTIFF; 0: auto (BigTIFF only when needed) */
    int preview; /* longest side of the preview PNG beside the output; 0 = none */
    /* [checkpoint] */
    gd_job_path checkpoint_dir; /* NULL path: no checkpoints */
    int every_iterations;
    double every_seconds;
    int keep;
    /* [engine] */
    int threads;
    gd_engine_precision precision; /* the engine's own enum; spelled fp32 | bf16 here */
    double memory;       /* bytes per rank; 0 = auto (what the node has, shared by its ranks) */
    gd_job_path scratch; /* folder for out-of-core scratch; NULL path = the default */

    /* Provenance. */
    char *file;    /* the job file's name as given (used in messages) */
    char *dir;     /* absolute folder relative paths resolved against */
    char *text;    /* the job file's text, unmodified */
    char *canon;   /* canonical text (see above) */
    uint64_t hash; /* FNV-1a 64 of canon */
    /*
     * Where each key got its value: > 0 the file line, 0 the default,
     * < 0 override number -line - 1 (overrides[-line - 1]).
     */
    int line[GD_JOB_KEY_COUNT];
    char **overrides; /* copies of the --set strings */
    int n_overrides;
} gd_job;

/*
 * Reads, parses and validates the job file at path, then applies overrides
 * ("section.key=value" strings, the arguments of --set, in order; a later one
 * wins) and fills defaults.  On success *job owns everything; free it with
 * gd_job_free.  On failure *job is left empty (safe to free) and err names
 * the file and line, the override, or the missing key: GD_EINPUT for any
 * problem with the job or overrides (including a missing or unreadable job
 * file), GD_ENOMEM or GD_EIO otherwise.
 */
gd_status gd_job_load(const char *path, const char *const *overrides, int n_overrides, gd_job *job,
                      gd_err *err);

/*
 * The same from text in memory (a checkpoint's stored job, tests): name is
 * used in messages and as job->file, base_dir (absolute, or relative to the
 * current directory) is the folder relative paths resolve against.
 */
gd_status gd_job_parse(const char *text, const char *name, const char *base_dir,
                       const char *const *overrides, int n_overrides, gd_job *job, gd_err *err);

/* Frees everything the job owns and zeroes it.  job may be NULL. */
void gd_job_free(gd_job *job);

/* Nonzero when key k was set by the file or an override (not defaulted). */
int gd_job_is_set(const gd_job *job, gd_job_key k);

/*
 * Where key k got its value, for messages: "FILE:LINE", "--set KEY=VALUE",
 * or "FILE" for a default.  Returns buf.
 */
const char *gd_job_where(const gd_job *job, gd_job_key k, char *buf, size_t len);

/* The key's section ("dream") and name ("step"). */
const char *gd_job_key_section(gd_job_key k);
const char *gd_job_key_name(gd_job_key k);

/*
 * Checks the tile geometry against the total stride of the layers the
 * objective reads (gd_model_stride_rf), which the job alone does not know:
 * a nonzero tile size must be >= stride, and with jitter 0 the tile size and
 * overlap must be multiples of stride (tile origins i*size - overlap stay on
 * the layer's sampling grid; tiling.h point 8).  GD_EINPUT names the key,
 * where it was set and the stride.
 */
gd_status gd_job_check_tiles(const gd_job *job, int stride, gd_err *err);

/* The job hash (FNV-1a 64 of the canonical text). */
uint64_t gd_job_hash(const gd_job *job);
/* FNV-1a 64 of any canonical text (e.g. one stored in a checkpoint). */
uint64_t gd_job_hash_text(const char *canon);
/* The hash as 16 lowercase hex digits; returns buf. */
const char *gd_job_hash_hex(uint64_t hash, char buf[17]);

/*
 * Compares two canonical texts key by key.  Writes the differing keys to buf
 * as "dream.step: 1.5 -> 2; tiles.size: 512 -> 256" (a key missing on one
 * side shows as "(absent)"; truncated with "..." when buf is short) and
 * returns how many keys differ (0: same job).  buf may be NULL when len is 0.
 */
int gd_job_diff(const char *canon_a, const char *canon_b, char *buf, size_t len);

/* Names of the job's enums, as the job file spells them. */
const char *gd_dream_mode_name(gd_dream_mode m);
/* The job file's spelling of the engine's precision: "fp32", "bf16". */
const char *gd_job_precision_name(gd_engine_precision p);

#endif

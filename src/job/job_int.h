/*
 * job_int.h: what the files of the job module share.  Not part of the
 * module's contract (job.h); nothing outside src/job/ includes it.
 *
 * The files form layers, and calls only go down:
 *   job.c      parsing (inih), overrides, the entry points
 *   canon.c    canonical text, hash, diff         rules.c   defaults, rules, paths
 *   keys.c     the key table: names, sections, lookup, where a value came from
 *   values.c   strict parsing of one value; edit distance; small string helpers
 */
#ifndef GIGADREAM_JOB_INT_H
#define GIGADREAM_JOB_INT_H

#include <stddef.h>
#include <stdint.h>

#include "gigadream/job.h"

/* ---- keys.c: the key table ---- */

/* How a key's value is parsed and stored (job.c's set_value switches over it). */
typedef enum job_vtype {
    JOB_V_IMAGE,    /* a path or "noise" */
    JOB_V_PATH,     /* gd_job_path */
    JOB_V_INT,      /* int in [lo, hi] (JOB_ZERO_OK: or 0) */
    JOB_V_U64,      /* uint64_t, any */
    JOB_V_FLOAT,    /* float in (lo or [lo, hi] */
    JOB_V_DOUBLE,   /* double in (lo or [lo, hi] */
    JOB_V_BOOL,     /* int 0/1 */
    JOB_V_BIGTIFF,  /* int: "auto" 0, a true boolean 1 */
    JOB_V_ENUM,     /* one of names[] */
    JOB_V_LAYER,    /* layer spec */
    JOB_V_CHANNELS, /* "all" or index list */
    JOB_V_BYTES,    /* double: bytes with a unit (scratch.h), or "auto" 0 */
} job_vtype;

enum {
    JOB_LO_OPEN = 1, /* lo itself is out of range */
    JOB_ZERO_OK = 2, /* 0 is accepted besides [lo, hi] */
    JOB_CANON = 4,   /* the key enters the canonical text */
    JOB_AUTO_OK = 8, /* JOB_V_INT: or "auto" (GD_TILING_AUTO) */
};

typedef struct job_key_desc {
    int section; /* index into the section names (job_section_name) */
    const char *name;
    job_vtype type;
    size_t offset; /* of the field in gd_job */
    double lo, hi;
    int flags;
    const char *const *names; /* JOB_V_ENUM: the spellings, indexed by the enum's value */
    int n_names;
    const char *rule; /* what a value must be, for messages */
} job_key_desc;

/* The description of key k, which must be < GD_JOB_KEY_COUNT. */
const job_key_desc *job_key(gd_job_key k);

/* The job file's spelling of objective.h's and image.h's enums. */
extern const char *const job_objective_names[];
extern const char *const job_border_names[];

/* Nonzero for the keys that enter the canonical text. */
int job_key_in_canon(gd_job_key k);

/* Section s's name ("dream"), s a job_key_desc's section. */
const char *job_section_name(int s);

/*
 * Lookups by name: the section index, or the key in section s; -1 when there
 * is none.  Case-sensitive, as the file's keys are.
 */
int job_find_section(const char *name);
int job_find_key(int section, const char *name);

/* For an unknown section or key: " (did you mean ...?)", or the list of what exists. */
void job_section_hint(const char *typed, char *buf, size_t len);
void job_key_hint(int section, const char *typed, char *buf, size_t len);

/* ---- values.c: strict value parsing ---- */

/* strdup through gd_malloc (err says what failed). */
char *job_strdup(const char *s, gd_err *err);

/* The shortest decimal text that reads back (strtof) as exactly f. */
void job_fmt_float(float f, char *buf, size_t len);

/* An optionally signed decimal integer and nothing else (no blanks, no hex). */
int job_parse_int(const char *s, long long *out);
/* An unsigned decimal integer up to 2^64 - 1. */
int job_parse_u64(const char *s, uint64_t *out);
/* A finite decimal number: no hex, inf, nan or trailing text. */
int job_parse_number(const char *s, double *out);
/* true/yes/on/1 or false/no/off/0, any case. */
int job_parse_bool(const char *s, int *out);

/*
 * A byte count with an optional unit: "123", "8GB", "512 MiB", "1.5T".
 * K, M, G, T (with or without B or iB, any case) are powers of 1024, as
 * gd_bytes_str prints them.  Returns 1 and *bytes, or 0 on bad text.
 */
int job_parse_bytes(const char *s, double *bytes);
/* Copies s[0..n) without surrounding blanks into buf (may be s); returns its length. */
size_t job_trim(const char *s, size_t n, char *buf, size_t len);
/*
 * "name[:weight][, ...]" -> *out = the normalized spec (replacing the old
 * one), *n = the number of layers.  GD_EINPUT: why says what is wrong.
 */
gd_status job_parse_layers(const char *value, char **out, int *n, char *why, size_t wlen,
                           gd_err *err);
/* "all" -> *out = NULL; "3, 17" -> the normalized list.  As above. */
gd_status job_parse_channels(const char *value, char **out, int *n, char *why, size_t wlen,
                             gd_err *err);
/* Edit distance (with adjacent swaps), case-insensitive; and "close enough to be a typo". */
int job_distance(const char *a, const char *b);
int job_close(const char *typed, const char *known);

/* ---- rules.c: defaults, rules, paths ---- */

/* Zeroes job and sets the defaults that depend on no other key. */
void job_init(gd_job *job);
/* Fills the defaults that depend on other keys (mode, tile size) for unset keys. */
void job_fill_defaults(gd_job *job);
/* Required keys and rules between keys; messages name the key set explicitly. */
gd_status job_check(gd_job *job, gd_err *err);
/* base + "/" + text for a relative text; a copy of text when absolute. */
char *job_join_path(const char *base, const char *text, gd_err *err);
/* Resolves every path key (job->dir for the file's, the current directory for --set's). */
gd_status job_resolve_paths(gd_job *job, gd_err *err);

/* ---- canon.c ---- */

/* Builds job->canon and job->hash from a complete, validated, resolved job. */
gd_status job_canon_build(gd_job *job, gd_err *err);

#endif

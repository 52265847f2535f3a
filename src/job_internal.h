/*
 * job_internal.h: what job.c (parsing, validation) and job_canon.c
 * (canonical text, hash, diff) share.  Not part of the job module's contract;
 * nothing outside those two files includes it.
 */
#ifndef GIGADREAM_JOB_INTERNAL_H
#define GIGADREAM_JOB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gigadream/job.h"

/* The job file's spelling of objective.h's and image.h's enums. */
extern const char *const gd_job_objective_names[];
extern const char *const gd_job_border_names[];

/* Nonzero for the keys that enter the canonical text. */
int gd_job_key_in_canon(gd_job_key k);

/* strdup through gd_malloc (err says what failed). */
char *gd_job_strdup(const char *s, gd_err *err);

/* The shortest decimal text that reads back (strtof) as exactly f. */
void gd_job_fmt_float(float f, char *buf, size_t len);

/* ---- job_values.c: strict value parsing ---- */

/* An optionally signed decimal integer and nothing else (no blanks, no hex). */
int gd_job_parse_int(const char *s, long long *out);
/* An unsigned decimal integer up to 2^64 - 1. */
int gd_job_parse_u64(const char *s, uint64_t *out);
/* A finite decimal number: no hex, inf, nan or trailing text. */
int gd_job_parse_number(const char *s, double *out);
/* true/yes/on/1 or false/no/off/0, any case. */
int gd_job_parse_bool(const char *s, int *out);
/* Copies s[0..n) without surrounding blanks into buf (may be s); returns its length. */
size_t gd_job_trim(const char *s, size_t n, char *buf, size_t len);
/*
 * "name[:weight][, ...]" -> *out = the normalized spec (replacing the old
 * one), *n = the number of layers.  GD_EINPUT: why says what is wrong.
 */
gd_status gd_job_parse_layers(const char *value, char **out, int *n, char *why, size_t wlen,
                              gd_err *err);
/* "all" -> *out = NULL; "3, 17" -> the normalized list.  As above. */
gd_status gd_job_parse_channels(const char *value, char **out, int *n, char *why, size_t wlen,
                                gd_err *err);
/* Edit distance (with adjacent swaps), case-insensitive; and "close enough to be a typo". */
int gd_job_distance(const char *a, const char *b);
int gd_job_close(const char *typed, const char *known);

/* ---- job_rules.c: defaults, rules, paths ---- */

/* Zeroes job and sets the defaults that depend on no other key. */
void gd_job_init(gd_job *job);
/* Fills the defaults that depend on other keys (mode, tile size) for unset keys. */
void gd_job_fill_defaults(gd_job *job);
/* Required keys and rules between keys; messages name the key set explicitly. */
gd_status gd_job_check(gd_job *job, gd_err *err);
/* base + "/" + text for a relative text; a copy of text when absolute. */
char *gd_job_join_path(const char *base, const char *text, gd_err *err);
/* Resolves every path key (job->dir for the file's, the current directory for --set's). */
gd_status gd_job_resolve_paths(gd_job *job, gd_err *err);

/* ---- job_canon.c ---- */

/* Builds job->canon and job->hash from a complete, validated, resolved job. */
gd_status gd_job_canon_build(gd_job *job, gd_err *err);

#endif

/*
 * test_tables.c: every name table of every enum has a name for every value.
 *
 * The tables are arrays with designated initializers ([GD_OP_CONV] = "conv"),
 * their length checked by _Static_assert against the enum's COUNT.  That
 * check passes when an entry in the middle is forgotten: the hole is a NULL,
 * which a name function hands to printf or a lookup hands to strcmp.  So for
 * each enum this test asks the module's own functions, for every value below
 * COUNT, that the name is set (not NULL, not empty, not the marker the
 * function gives an out-of-range value), that no two values share a name,
 * and that the name reads back to the value through the module's reverse
 * lookup where it has one.  The job's keys and the job file's spellings of
 * enums are read back through gd_job_parse, the way a job file reads them.
 *
 * No models, files or MPI needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"
#include "gigadream/checkpoint.h"
#include "gigadream/engine.h"
#include "gigadream/error.h"
#include "gigadream/imageio.h"
#include "gigadream/job.h"
#include "gigadream/model.h"
#include "gigadream/objective.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- One enum's table, through int-typed wrappers -------------------------- */

typedef struct enum_table {
    const char *what; /* for messages: "gd_op_name" */
    int count;        /* the enum's COUNT */
    const char *(*name)(int v);
    int (*from_name)(const char *s); /* NULL when the module has no reverse lookup */
} enum_table;

/* Wrappers with one signature, so no function is called through a cast pointer. */
#define NAME_OF(fn, type)                                                                          \
    static const char *fn##_int(int v)                                                             \
    {                                                                                              \
        return fn((type)v);                                                                        \
    }
#define FROM_NAME(fn)                                                                              \
    static int fn##_int(const char *s)                                                             \
    {                                                                                              \
        return (int)fn(s);                                                                         \
    }

NAME_OF(gd_op_name, gd_op)
NAME_OF(gd_act_name, gd_act)
NAME_OF(gd_pad_name, gd_pad)
NAME_OF(gd_format_name, gd_format)
NAME_OF(gd_compression_name, gd_compression)
NAME_OF(gd_obj_kind_name, gd_obj_kind)
NAME_OF(gd_checkpoint_verdict_name, gd_checkpoint_verdict)
NAME_OF(gd_checkpoint_step_name, gd_checkpoint_step)
NAME_OF(gd_status_name, gd_status)
NAME_OF(gd_engine_precision_name, gd_engine_precision)
NAME_OF(gd_job_precision_name, gd_engine_precision)
NAME_OF(gd_dream_mode_name, gd_dream_mode)
NAME_OF(gd_job_key_name, gd_job_key)
NAME_OF(gd_job_key_section, gd_job_key)
FROM_NAME(gd_op_from_name)
FROM_NAME(gd_act_from_name)
FROM_NAME(gd_pad_from_name)
FROM_NAME(gd_compression_from_name)
FROM_NAME(gd_obj_kind_from_name)

/* gd_format has no reverse lookup by name, but a file named after a format is in it. */
static int format_from_name(const char *s)
{
    char path[64];
    size_t n = (size_t)snprintf(path, sizeof path, "x.%s", s);
    for (size_t i = 2; i < n; i++)
        path[i] = (char)tolower((unsigned char)path[i]);
    gd_format f;
    gd_err err;
    return gd_format_from_path(path, &f, &err) == GD_OK ? (int)f : -1;
}

static const enum_table tables[] = {
    {"gd_op_name", GD_OP_COUNT, gd_op_name_int, gd_op_from_name_int},
    {"gd_act_name", GD_ACT_COUNT, gd_act_name_int, gd_act_from_name_int},
    {"gd_pad_name", GD_PAD_COUNT, gd_pad_name_int, gd_pad_from_name_int},
    {"gd_format_name", GD_FORMAT_COUNT, gd_format_name_int, format_from_name},
    {"gd_compression_name", GD_COMPRESS_COUNT, gd_compression_name_int,
     gd_compression_from_name_int},
    {"gd_obj_kind_name", GD_OBJ_COUNT, gd_obj_kind_name_int, gd_obj_kind_from_name_int},
    {"gd_checkpoint_verdict_name", GD_CKPT_VERDICT_COUNT, gd_checkpoint_verdict_name_int, NULL},
    {"gd_checkpoint_step_name", GD_CKPT_STEP_COUNT, gd_checkpoint_step_name_int, NULL},
    {"gd_status_name", GD_STATUS_COUNT, gd_status_name_int, NULL},
    {"gd_engine_precision_name", GD_ENGINE_PRECISION_COUNT, gd_engine_precision_name_int, NULL},
    {"gd_job_precision_name", GD_ENGINE_PRECISION_COUNT, gd_job_precision_name_int, NULL},
    {"gd_dream_mode_name", GD_MODE_COUNT, gd_dream_mode_name_int, NULL},
    {"gd_job_key_name", GD_JOB_KEY_COUNT, gd_job_key_name_int, NULL},
    {"gd_job_key_section", GD_JOB_KEY_COUNT, gd_job_key_section_int, NULL},
};

/*
 * Every value below count has a name: not NULL, not empty, and not what the
 * function answers for an out-of-range value ("?", "unknown status", ...).
 */
static void check_set(const enum_table *t)
{
    const char *marker = t->name(t->count);
    assert_non_null(marker);
    for (int v = 0; v < t->count; v++) {
        const char *n = t->name(v);
        if (!n)
            fail_msg("%s(%d) is NULL: a hole in its designated-initializer table", t->what, v);
        if (!n[0])
            fail_msg("%s(%d) is empty", t->what, v);
        if (strcmp(n, "?") == 0 || strcmp(n, marker) == 0)
            fail_msg("%s(%d) is \"%s\", the out-of-range marker: a hole in its table", t->what, v,
                     n);
    }
}

/* No two values share a name (ignoring case: lookups may ignore it). */
static void check_distinct(const enum_table *t)
{
    for (int v = 0; v < t->count; v++)
        for (int u = v + 1; u < t->count; u++)
            if (strcasecmp(t->name(v), t->name(u)) == 0)
                fail_msg("%s(%d) and %s(%d) are both \"%s\"", t->what, v, t->what, u, t->name(v));
}

/* Each name reads back to its value; an unknown name reads as no value. */
static void check_round_trip(const enum_table *t)
{
    if (!t->from_name)
        return;
    for (int v = 0; v < t->count; v++) {
        int back = t->from_name(t->name(v));
        if (back != v)
            fail_msg("%s(%d) is \"%s\", which reads back as %d", t->what, v, t->name(v), back);
    }
    int none = t->from_name("no such name");
    if (none >= 0 && none < t->count)
        fail_msg("%s: \"no such name\" reads back as %d", t->what, none);
}

static void test_every_table(void **state)
{
    (void)state;
    /* All names first: a reverse lookup over a table with a hole would itself
     * pass the NULL to strcmp. */
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        check_set(&tables[i]);
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        /* Key names repeat across sections ([model] file, [output] file), and
         * sections across keys: those two are checked as pairs below. */
        if (tables[i].name != gd_job_key_name_int && tables[i].name != gd_job_key_section_int)
            check_distinct(&tables[i]);
        check_round_trip(&tables[i]);
    }
}

/* ---- The job: keys and the job file's spellings ------------------------------ */

/* The smallest valid job: the required keys (paths are not opened by parsing). */
static const char min_job[] = "[input]\n"
                              "image = noise\n"
                              "width = 64\n"
                              "height = 64\n"
                              "[model]\n"
                              "file = m.h5\n"
                              "layer = conv\n"
                              "[output]\n"
                              "file = out.tif\n";

/* Parses min_job with up to two overrides (NULL = none). */
static gd_status parse_with(const char *ov1, const char *ov2, gd_job *job, gd_err *err)
{
    const char *ov[2] = {ov1, ov2};
    int n = ov2 ? 2 : (ov1 ? 1 : 0);
    return gd_job_parse(min_job, "tables.ini", "/", ov, n, job, err);
}

/* Every key's section.name pair is distinct, and finds that key again. */
static void test_job_keys(void **state)
{
    (void)state;
    for (int k = 0; k < GD_JOB_KEY_COUNT; k++) {
        const char *s = gd_job_key_section((gd_job_key)k), *n = gd_job_key_name((gd_job_key)k);
        for (int j = 0; j < k; j++)
            if (strcmp(s, gd_job_key_section((gd_job_key)j)) == 0 &&
                strcmp(n, gd_job_key_name((gd_job_key)j)) == 0)
                fail_msg("keys %d and %d are both [%s] %s", j, k, s, n);
    }
    /*
     * Lookup by name: "--set section.key=" (an empty value, which no key
     * accepts) must be refused by key k's own value check, never reported as
     * an unknown key or section.
     */
    for (int k = 0; k < GD_JOB_KEY_COUNT; k++) {
        const char *s = gd_job_key_section((gd_job_key)k), *n = gd_job_key_name((gd_job_key)k);
        char ov[128], want[128];
        snprintf(ov, sizeof ov, "%s.%s=", s, n);
        snprintf(want, sizeof want, "[%s] %s: ", s, n);
        gd_job job;
        gd_err err;
        gd_status st = parse_with(ov, NULL, &job, &err);
        if (st != GD_EINPUT || !strstr(err.msg, want) || strstr(err.msg, "unknown"))
            fail_msg("--set %s: expected key %d's own value error (\"%s\"), got %s: %s", ov, k,
                     want, gd_status_name(st), st == GD_OK ? "(accepted)" : err.msg);
        gd_job_free(&job);
    }
}

/*
 * The job file's spelling of each value of an enum key reads back as that
 * value and, for a canonical key, appears in the canonical text.  got reads
 * the field from the job.
 */
static void check_spellings(const char *key, int count, const char *(*name)(int),
                            int (*got)(const gd_job *), int canonical)
{
    for (int v = 0; v < count; v++) {
        char ov[128], line[160];
        snprintf(ov, sizeof ov, "%s=%s", key, name(v));
        /* A guide objective needs its guide image. */
        const char *extra = strcmp(ov, "model.objective=guide") == 0 ? "model.guide=g.png" : NULL;
        gd_job job;
        gd_err err;
        GDTEST_OK(parse_with(ov, extra, &job, &err), &err);
        if (got(&job) != v)
            fail_msg("--set %s reads as %d, not %d", ov, got(&job), v);
        snprintf(line, sizeof line, "%s\n", ov);
        if (canonical && !strstr(job.canon, line))
            fail_msg("--set %s: the canonical text has no line \"%s\":\n%s", ov, ov, job.canon);
        gd_job_free(&job);
    }
}

/* The job spells gd_border (which has no name function) this way. */
static const char *const border_spelling[] = {
    [GD_BORDER_REFLECT] = "reflect",
    [GD_BORDER_WRAP] = "wrap",
};
_Static_assert(sizeof border_spelling / sizeof border_spelling[0] == GD_BORDER_COUNT,
               "spell every border here");
static const char *border_name_int(int v)
{
    return border_spelling[v];
}

static int got_mode(const gd_job *j)
{
    return (int)j->mode;
}
static int got_precision(const gd_job *j)
{
    return (int)j->precision;
}
static int got_objective(const gd_job *j)
{
    return (int)j->objective;
}
static int got_compression(const gd_job *j)
{
    return (int)j->compression;
}
static int got_border(const gd_job *j)
{
    return (int)j->border;
}

static void test_job_spellings(void **state)
{
    (void)state;
    for (int v = 0; v < GD_BORDER_COUNT; v++)
        assert_non_null(border_spelling[v]);
    check_spellings("dream.mode", GD_MODE_COUNT, gd_dream_mode_name_int, got_mode, 1);
    check_spellings("engine.precision", GD_ENGINE_PRECISION_COUNT, gd_job_precision_name_int,
                    got_precision, 1);
    /* The job file spells these as their own modules name them. */
    check_spellings("model.objective", GD_OBJ_COUNT, gd_obj_kind_name_int, got_objective, 1);
    check_spellings("output.compression", GD_COMPRESS_COUNT, gd_compression_name_int,
                    got_compression, 0);
    check_spellings("tiles.border", GD_BORDER_COUNT, border_name_int, got_border, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_table),
        cmocka_unit_test(test_job_keys),
        cmocka_unit_test(test_job_spellings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

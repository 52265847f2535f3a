/*
 * test_model_h5.c: HDF5 model files: exact round trips of the imported shared
 * models, and clean failures for files that are not models, truncated or
 * damaged, and for saves that cannot happen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gigadream/import_tflite.h"
#include "gigadream/model.h"

#define V1 "mobilenet_v1_1.0_224_quant_embedding_extractor"
#define V2 "mobilenet_v2_1.0_224_quant"
#define BIRD "mobilenet_v2_1.0_224_inat_bird_quant"

static gd_model *import(const char *name, const char *labels)
{
    char path[1024], file[256];
    gd_err err;
    gd_model *m = NULL;
    snprintf(file, sizeof file, "%s.tflite", name);
    GDTEST_OK(gd_tflite_import(gdtest_mirror(file, path, sizeof path), &m, &err), &err);
    if (labels)
        GDTEST_OK(gd_model_load_labels(m, gdtest_mirror(labels, path, sizeof path), &err), &err);
    return m;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    uint8_t *b = malloc((size_t)n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

static void write_all(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

/* Every field, weight and label bit-equal. */
static void assert_same_model(const gd_model *a, const gd_model *b)
{
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->source, b->source);
    assert_int_equal(a->in_c, b->in_c);
    assert_int_equal(a->in_h, b->in_h);
    assert_int_equal(a->in_w, b->in_w);
    assert_memory_equal(a->norm_scale, b->norm_scale, sizeof a->norm_scale);
    assert_memory_equal(a->norm_offset, b->norm_offset, sizeof a->norm_offset);
    assert_int_equal(a->n_nodes, b->n_nodes);
    for (int i = 0; i < a->n_nodes; i++) {
        const gd_node *x = &a->nodes[i], *y = &b->nodes[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->op, y->op);
        assert_int_equal(x->n_inputs, y->n_inputs);
        assert_memory_equal(x->inputs, y->inputs, sizeof(int) * (size_t)x->n_inputs);
        assert_int_equal(x->act, y->act);
        assert_int_equal(x->out_c, y->out_c);
        assert_int_equal(x->kh, y->kh);
        assert_int_equal(x->kw, y->kw);
        assert_int_equal(x->sh, y->sh);
        assert_int_equal(x->sw, y->sw);
        assert_int_equal(x->dh, y->dh);
        assert_int_equal(x->dw, y->dw);
        assert_int_equal(x->groups, y->groups);
        assert_int_equal(x->pad, y->pad);
        assert_int_equal(x->pad_t, y->pad_t);
        assert_int_equal(x->pad_b, y->pad_b);
        assert_int_equal(x->pad_l, y->pad_l);
        assert_int_equal(x->pad_r, y->pad_r);
        assert_int_equal(x->lrn_size, y->lrn_size);
        assert_memory_equal(&x->lrn_alpha, &y->lrn_alpha, sizeof(float));
        assert_memory_equal(&x->lrn_beta, &y->lrn_beta, sizeof(float));
        assert_memory_equal(&x->lrn_bias, &y->lrn_bias, sizeof(float));
        assert_memory_equal(&x->softmax_beta, &y->softmax_beta, sizeof(float));
        assert_int_equal(x->n_weights, y->n_weights);
        assert_int_equal(x->n_bias, y->n_bias);
        assert_int_equal(x->weights == NULL, y->weights == NULL);
        assert_int_equal(x->bias == NULL, y->bias == NULL);
        if (x->n_weights)
            assert_memory_equal(x->weights, y->weights, x->n_weights * sizeof(float));
        if (x->n_bias)
            assert_memory_equal(x->bias, y->bias, x->n_bias * sizeof(float));
    }
    assert_int_equal(a->n_labels, b->n_labels);
    for (int i = 0; i < a->n_labels; i++)
        assert_string_equal(a->labels[i], b->labels[i]);
}

static void round_trip(const char *name, const char *labels, int n_labels)
{
    char path[1024], tmp[1100], file[256];
    gd_err err;
    gd_model *m = import(name, labels), *l = NULL;
    assert_int_equal(m->n_labels, n_labels);
    snprintf(file, sizeof file, "h5_roundtrip_%s.h5", name);
    gdtest_tmp(file, path, sizeof path);
    unlink(path);
    GDTEST_OK(gd_model_save(m, path, &err), &err);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_false(exists(tmp));
    GDTEST_OK(gd_model_load(path, &l, &err), &err);
    assert_same_model(m, l);
    /* Saving again over the file replaces it; the copy loads the same. */
    GDTEST_OK(gd_model_save(l, path, &err), &err);
    gd_model_free(l);
    GDTEST_OK(gd_model_load(path, &l, &err), &err);
    assert_same_model(m, l);
    gd_model_free(l);
    gd_model_free(m);
}

static void test_round_trip_v1(void **state)
{
    (void)state;
    round_trip(V1, NULL, 0);
}

static void test_round_trip_v2(void **state)
{
    (void)state;
    round_trip(V2, "imagenet_labels.txt", 1001);
}

static void test_round_trip_bird(void **state)
{
    (void)state;
    round_trip(BIRD, "inat_bird_labels.txt", 965);
}

/* A small hand-made model using every op and field, so the round trip covers them all. */
static void test_round_trip_all_ops(void **state)
{
    (void)state;
    char path[1024];
    gd_err err;
    gd_model *m = NULL, *l = NULL;
    GDTEST_OK(gd_model_create("all_ops", 3, 16, 16, &m, &err), &err);
    m->norm_scale[1] = 0.25f;
    m->norm_offset[2] = -3.5f;
    gd_node c = gd_node_default(GD_OP_CONV, "conv");
    c.n_inputs = 1;
    c.out_c = 4;
    c.kh = 3;
    c.kw = 2;
    c.dh = 2;
    c.pad = GD_PAD_EXPLICIT;
    c.pad_t = 1, c.pad_b = 2, c.pad_l = 0, c.pad_r = 1;
    c.act = GD_ACT_RELU;
    c.n_weights = 4 * 3 * 3 * 2;
    c.weights = malloc(c.n_weights * sizeof(float));
    assert_non_null(c.weights);
    for (size_t i = 0; i < c.n_weights; i++)
        c.weights[i] = (float)i / 7.0f - 1.0f;
    GDTEST_OK(gd_model_add(m, &c, NULL, &err), &err);
    gd_node lrn = gd_node_default(GD_OP_LRN, "lrn");
    lrn.n_inputs = 1, lrn.inputs[0] = 1, lrn.lrn_size = 3, lrn.lrn_alpha = 2e-5f;
    lrn.lrn_beta = 0.5f, lrn.lrn_bias = 2.0f;
    GDTEST_OK(gd_model_add(m, &lrn, NULL, &err), &err);
    gd_node mp = gd_node_default(GD_OP_MAXPOOL, "pool");
    mp.n_inputs = 1, mp.inputs[0] = 2, mp.kh = mp.kw = 3, mp.sh = mp.sw = 2, mp.pad = GD_PAD_VALID;
    GDTEST_OK(gd_model_add(m, &mp, NULL, &err), &err);
    gd_node cat = gd_node_default(GD_OP_CONCAT, "cat");
    cat.n_inputs = 3, cat.inputs[0] = 3, cat.inputs[1] = 3, cat.inputs[2] = 3;
    GDTEST_OK(gd_model_add(m, &cat, NULL, &err), &err);
    gd_node act = gd_node_default(GD_OP_ACT, "act");
    act.n_inputs = 1, act.inputs[0] = 4, act.act = GD_ACT_RELU6;
    GDTEST_OK(gd_model_add(m, &act, NULL, &err), &err);
    gd_node ap = gd_node_default(GD_OP_AVGPOOL, "avg");
    ap.n_inputs = 1, ap.inputs[0] = 5, ap.kh = ap.kw = 2;
    GDTEST_OK(gd_model_add(m, &ap, NULL, &err), &err);
    gd_shape sh[16];
    GDTEST_OK(gd_model_shapes(m, 16, 16, sh, &err), &err);
    gd_node fc = gd_node_default(GD_OP_FC, "fc");
    fc.n_inputs = 1, fc.inputs[0] = 6, fc.out_c = 5;
    fc.n_weights = (size_t)5 * sh[6].c * sh[6].h * sh[6].w;
    fc.weights = calloc(fc.n_weights, sizeof(float));
    fc.n_bias = 5;
    fc.bias = calloc(5, sizeof(float));
    assert_true(fc.weights && fc.bias);
    fc.weights[fc.n_weights - 1] = -0.0f;
    fc.bias[4] = 1e-30f;
    GDTEST_OK(gd_model_add(m, &fc, NULL, &err), &err);
    gd_node sm = gd_node_default(GD_OP_SOFTMAX, "prob");
    sm.n_inputs = 1, sm.inputs[0] = 7, sm.softmax_beta = 0.5f;
    GDTEST_OK(gd_model_add(m, &sm, NULL, &err), &err);
    gd_node add = gd_node_default(GD_OP_ADD, "add");
    add.n_inputs = 2, add.inputs[0] = 8, add.inputs[1] = 7;
    GDTEST_OK(gd_model_add(m, &add, NULL, &err), &err);
    gd_node rs = gd_node_default(GD_OP_RESHAPE, "flat");
    rs.n_inputs = 1, rs.inputs[0] = 5;
    GDTEST_OK(gd_model_add(m, &rs, NULL, &err), &err);
    m->labels = calloc(5, sizeof(char *));
    assert_non_null(m->labels);
    const char *names[5] = {"a", "", "two words", "long label with \xc3\xa9 UTF-8", "z"};
    for (int i = 0; i < 5; i++)
        m->labels[i] = strdup(names[i]);
    m->n_labels = 5;
    GDTEST_OK(gd_model_validate(m, &err), &err);

    gdtest_tmp("h5_all_ops.h5", path, sizeof path);
    GDTEST_OK(gd_model_save(m, path, &err), &err);
    GDTEST_OK(gd_model_load(path, &l, &err), &err);
    assert_same_model(m, l);
    assert_int_equal(l->nodes[1].pad_b, 2);
    assert_true(l->nodes[9].inputs[1] == 7);
    gd_model_free(l);
    gd_model_free(m);
}

static void expect_load_fails(const char *path, const char *want)
{
    gd_err err;
    gd_model *m = NULL;
    gd_status st = gd_model_load(path, &m, &err);
    if (st != GD_EINPUT)
        fail_msg("%s: expected GD_EINPUT, got %s: %s", path, gd_status_name(st),
                 st ? err.msg : "(loaded)");
    assert_null(m);
    if (strncmp(err.msg, path, strlen(path)) != 0 || (want && !strstr(err.msg, want)))
        fail_msg("message '%s' should start with '%s' and contain '%s'", err.msg, path,
                 want ? want : "");
    assert_null(strchr(err.msg, '\n'));
}

static void test_not_a_model(void **state)
{
    (void)state;
    char path[1024];
    expect_load_fails(gdtest_tmp("h5_missing.h5", path, sizeof path), "cannot open");
    expect_load_fails(gdtest_mirror(V1 ".tflite", path, sizeof path), "not an HDF5 file");
    expect_load_fails(gdtest_mirror("imagenet_labels.txt", path, sizeof path), "not an HDF5 file");
    gdtest_tmp("h5_empty.h5", path, sizeof path);
    write_all(path, "", 0);
    expect_load_fails(path, "not an HDF5 file");
    gdtest_tmp("", path, sizeof path);
    expect_load_fails(path, "not a regular file");
}

/* Saves V1 to name in the test folder; returns its bytes. */
static uint8_t *saved_v1(const char *name, char *path, size_t cap, gd_model **model, size_t *size)
{
    gd_err err;
    *model = import(V1, NULL);
    gdtest_tmp(name, path, cap);
    GDTEST_OK(gd_model_save(*model, path, &err), &err);
    return read_all(path, size);
}

static void test_truncated(void **state)
{
    (void)state;
    char path[1024], cut[1024];
    size_t size;
    gd_model *m;
    uint8_t *b = saved_v1("h5_full.h5", path, sizeof path, &m, &size);
    const size_t cuts[] = {7, 8, 100, 2048, size / 2, size - 1};
    gdtest_tmp("h5_truncated.h5", cut, sizeof cut);
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        write_all(cut, b, cuts[k]);
        /* 8 bytes hold the signature but no superblock: damaged, in HDF5's words. */
        expect_load_fails(cut, cuts[k] < 8    ? "not an HDF5 file"
                               : cuts[k] == 8 ? "damaged HDF5 file"
                                              : "truncated file");
    }
    free(b);
    gd_model_free(m);
}

static void test_corrupt_weight(void **state)
{
    (void)state;
    char path[1024], bad[1024];
    size_t size;
    gd_model *m;
    gd_err err;
    uint8_t *b = saved_v1("h5_good.h5", path, sizeof path, &m, &size);
    int i = -1;
    GDTEST_OK(gd_model_find(m, "Conv2d_9_pointwise", &i, &err), &err);
    /* 32 weights from the middle of the layer, as stored (float32 little-endian, raw). */
    const uint8_t *pattern = (const uint8_t *)(m->nodes[i].weights + 100000);
    size_t plen = 32 * sizeof(float), at = 0;
    int found = 0;
    for (size_t p = 0; p + plen <= size; p++) {
        if (b[p] == pattern[0] && memcmp(b + p, pattern, plen) == 0) {
            at = p;
            found++;
        }
    }
    assert_int_equal(found, 1);
    b[at + plen / 2] ^= 0x01; /* one bit of one weight */
    gdtest_tmp("h5_bad_weight.h5", bad, sizeof bad);
    write_all(bad, b, size);
    expect_load_fails(bad, "node 19 'Conv2d_9_pointwise': cannot read dataset 'weights'");
    expect_load_fails(bad, "Fletcher32");
    /* The untouched file still loads. */
    gd_model *l = NULL;
    GDTEST_OK(gd_model_load(path, &l, &err), &err);
    gd_model_free(l);
    free(b);
    gd_model_free(m);
}

/* Random damage to a small model's file (mostly metadata) is a clean error or a same model. */
static void test_random_damage(void **state)
{
    (void)state;
    char path[1024], bad[1024];
    gd_err err;
    gd_model *m = NULL;
    gdtest_rng rng = {2024};
    GDTEST_OK(gd_model_create("tiny", 3, 8, 8, &m, &err), &err);
    gd_node c = gd_node_default(GD_OP_CONV, "conv");
    c.n_inputs = 1, c.out_c = 2, c.kh = c.kw = 3, c.act = GD_ACT_RELU6;
    c.n_weights = 54;
    c.weights = calloc(54, sizeof(float));
    c.n_bias = 2;
    c.bias = calloc(2, sizeof(float));
    assert_true(c.weights && c.bias);
    for (int k = 0; k < 54; k++)
        c.weights[k] = gdtest_uniform(&rng, -1, 1);
    GDTEST_OK(gd_model_add(m, &c, NULL, &err), &err);
    gd_node p = gd_node_default(GD_OP_MAXPOOL, "pool");
    p.n_inputs = 1, p.inputs[0] = 1, p.kh = p.kw = 2, p.sh = p.sw = 2;
    GDTEST_OK(gd_model_add(m, &p, NULL, &err), &err);
    gdtest_tmp("h5_tiny.h5", path, sizeof path);
    GDTEST_OK(gd_model_save(m, path, &err), &err);
    size_t size;
    uint8_t *orig = read_all(path, &size), *b = malloc(size);
    assert_non_null(b);
    gdtest_tmp("h5_tiny_damaged.h5", bad, sizeof bad);
    int failed = 0;
    for (int it = 0; it < 200; it++) {
        memcpy(b, orig, size);
        int flips = 1 + (int)(gdtest_next(&rng) % 3);
        for (int k = 0; k < flips; k++) {
            uint64_t r = gdtest_next(&rng);
            b[(r >> 8) % size] ^= (uint8_t)(1u << (r % 8));
        }
        write_all(bad, b, size);
        gd_model *l = NULL;
        gd_status st = gd_model_load(bad, &l, &err);
        if (st == GD_OK) {
            assert_same_model(m, l); /* the flips hit unused bytes */
            gd_model_free(l);
        } else {
            failed++;
            if (st != GD_EINPUT || strncmp(err.msg, bad, strlen(bad)) != 0)
                fail_msg("damage %d: %s: %s", it, gd_status_name(st), err.msg);
        }
    }
    assert_true(failed > 100);
    free(b);
    free(orig);
    gd_model_free(m);
}

static void test_save_failures(void **state)
{
    (void)state;
    char path[1024], tmp[1100];
    gd_err err;
    gd_model *m = import(V1, NULL);
    gdtest_tmp("h5_no_such_folder/model.h5", path, sizeof path);
    assert_int_equal(gd_model_save(m, path, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "does not exist"));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_false(exists(path));
    assert_false(exists(tmp));
    gdtest_tmp("h5_no_such_folder", path, sizeof path);
    assert_false(exists(path));

    /* Into a folder's own name: refused, nothing written. */
    gdtest_tmp("", path, sizeof path);
    assert_int_equal(gd_model_save(m, path, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "is a folder"));

    /* An invalid model is not saved, and an existing file at the path is kept. */
    gdtest_tmp("h5_keep.h5", path, sizeof path);
    write_all(path, "precious", 8);
    m->nodes[19].n_weights--;
    assert_int_equal(gd_model_save(m, path, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "Conv2d_9_pointwise"));
    m->nodes[19].n_weights++;
    size_t size;
    uint8_t *b = read_all(path, &size);
    assert_int_equal(size, 8);
    assert_memory_equal(b, "precious", 8);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_false(exists(tmp));
    free(b);
    gd_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_v1),   cmocka_unit_test(test_round_trip_v2),
        cmocka_unit_test(test_round_trip_bird), cmocka_unit_test(test_round_trip_all_ops),
        cmocka_unit_test(test_not_a_model),     cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt_weight),  cmocka_unit_test(test_random_damage),
        cmocka_unit_test(test_save_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

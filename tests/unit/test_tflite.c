/*
 * test_tflite.c: the TFLite importer on the three shared MobileNets (read from
 * $GIGADREAM_MODEL_MIRROR, never copied), and on broken files made from them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gigadream/flatbuf.h"
#include "gigadream/import_tflite.h"
#include "gigadream/model.h"

#define V1 "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
#define V2 "mobilenet_v2_1.0_224_quant.tflite"
#define BIRD "mobilenet_v2_1.0_224_inat_bird_quant.tflite"

static gd_model *import(const char *file)
{
    char path[1024];
    gd_err err;
    gd_model *m = NULL;
    GDTEST_OK(gd_tflite_import(gdtest_mirror(file, path, sizeof path), &m, &err), &err);
    return m;
}

static const gd_node *node(const gd_model *m, const char *name)
{
    gd_err err;
    int i = -1;
    GDTEST_OK(gd_model_find(m, name, &i, &err), &err);
    return &m->nodes[i];
}

static int node_index(const gd_model *m, const char *name)
{
    return (int)(node(m, name) - m->nodes);
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

/* Imports path, which must fail with GD_EINPUT and a message naming it and containing want. */
static void expect_bad(const char *path, const char *want)
{
    gd_err err;
    gd_model *m = NULL;
    gd_status st = gd_tflite_import(path, &m, &err);
    if (st != GD_EINPUT)
        fail_msg("%s: expected GD_EINPUT, got %s: %s", path, gd_status_name(st),
                 st ? err.msg : "(imported)");
    assert_null(m);
    if (strncmp(err.msg, path, strlen(path)) != 0 || (want && !strstr(err.msg, want)))
        fail_msg("message '%s' should start with '%s' and contain '%s'", err.msg, path,
                 want ? want : "");
    assert_null(strchr(err.msg, '\n'));
}

static void test_v1_graph(void **state)
{
    (void)state;
    static const char *const names[] = {
        "input",
        "Conv2d_0",
        "Conv2d_1_depthwise",
        "Conv2d_1_pointwise",
        "Conv2d_2_depthwise",
        "Conv2d_2_pointwise",
        "Conv2d_3_depthwise",
        "Conv2d_3_pointwise",
        "Conv2d_4_depthwise",
        "Conv2d_4_pointwise",
        "Conv2d_5_depthwise",
        "Conv2d_5_pointwise",
        "Conv2d_6_depthwise",
        "Conv2d_6_pointwise",
        "Conv2d_7_depthwise",
        "Conv2d_7_pointwise",
        "Conv2d_8_depthwise",
        "Conv2d_8_pointwise",
        "Conv2d_9_depthwise",
        "Conv2d_9_pointwise",
        "Conv2d_10_depthwise",
        "Conv2d_10_pointwise",
        "Conv2d_11_depthwise",
        "Conv2d_11_pointwise",
        "Conv2d_12_depthwise",
        "Conv2d_12_pointwise",
        "Conv2d_13_depthwise",
        "Conv2d_13_pointwise",
        "Logits/AvgPool_1a",
    };
    gd_model *m = import(V1);
    assert_int_equal(m->n_nodes, (int)(sizeof names / sizeof names[0]));
    for (int i = 0; i < m->n_nodes; i++)
        assert_string_equal(m->nodes[i].name, names[i]);
    assert_string_equal(m->name, "mobilenet_v1_1.0_224_quant_embedding_extractor");
    assert_string_equal(m->source, V1);
    assert_int_equal(m->in_c, 3);
    assert_int_equal(m->in_h, 224);
    assert_int_equal(m->in_w, 224);
    for (int c = 0; c < 3; c++) {
        assert_true(m->norm_scale[c] == 1.0f / 128.0f); /* (pixel - 128) / 128 */
        assert_true(m->norm_offset[c] == -1.0f);
    }
    assert_int_equal(m->n_labels, 0);

    const gd_node *c0 = node(m, "Conv2d_0");
    assert_int_equal(c0->op, GD_OP_CONV);
    assert_int_equal(c0->kh, 3);
    assert_int_equal(c0->sh, 2);
    assert_int_equal(c0->sw, 2);
    assert_int_equal(c0->pad, GD_PAD_SAME);
    assert_int_equal(c0->out_c, 32);
    assert_int_equal(c0->groups, 1);
    assert_int_equal(c0->n_weights, 32 * 3 * 3 * 3);

    const gd_node *dw = node(m, "Conv2d_9_depthwise");
    assert_int_equal(dw->op, GD_OP_CONV);
    assert_int_equal(dw->groups, 512);
    assert_int_equal(dw->out_c, 512);
    assert_int_equal(dw->kh, 3);
    assert_int_equal(dw->kw, 3);
    assert_int_equal(dw->sh, 1);
    assert_int_equal(dw->act, GD_ACT_RELU6);
    assert_int_equal(dw->n_weights, 512 * 9);

    const gd_node *pw = node(m, "Conv2d_9_pointwise");
    assert_int_equal(pw->op, GD_OP_CONV);
    assert_int_equal(pw->kh, 1);
    assert_int_equal(pw->kw, 1);
    assert_int_equal(pw->out_c, 512);
    assert_int_equal(pw->groups, 1);
    assert_int_equal(pw->act, GD_ACT_RELU6);
    assert_int_equal(pw->n_weights, 512 * 512);
    assert_int_equal(pw->n_bias, 512);
    assert_int_equal(pw->n_inputs, 1);
    assert_int_equal(pw->inputs[0], node_index(m, "Conv2d_9_depthwise"));
    assert_int_equal(node(m, "Conv2d_3_pointwise")->out_c, 128);

    /* Every conv of MobileNet V1 states RELU6; the pool has no activation. */
    for (int i = 1; i < m->n_nodes - 1; i++)
        assert_int_equal(m->nodes[i].act, GD_ACT_RELU6);
    const gd_node *pool = node(m, "Logits/AvgPool_1a");
    assert_int_equal(pool->op, GD_OP_AVGPOOL);
    assert_int_equal(pool->kh, 7);
    assert_int_equal(pool->pad, GD_PAD_VALID);

    gd_err err;
    gd_shape sh[64];
    GDTEST_OK(gd_model_shapes(m, 224, 224, sh, &err), &err);
    gd_shape s = sh[node_index(m, "Conv2d_9_pointwise")];
    assert_int_equal(s.c, 512);
    assert_int_equal(s.h, 14);
    assert_int_equal(s.w, 14);
    s = sh[node_index(m, "Conv2d_0")];
    assert_int_equal(s.c, 32);
    assert_int_equal(s.h, 112);
    s = sh[m->n_nodes - 1];
    assert_int_equal(s.c, 1024);
    assert_int_equal(s.h, 1);
    assert_int_equal(s.w, 1);
    int stride, rf;
    gd_model_stride_rf(m, node_index(m, "Conv2d_9_pointwise"), &stride, &rf);
    assert_int_equal(stride, 16);
    gd_model_free(m);
}

static void test_v2_graph(void **state)
{
    (void)state;
    gd_model *m = import(V2);
    gd_err err;
    gd_shape sh[128];
    assert_int_equal(m->n_nodes, 67);
    assert_string_equal(m->name, "mobilenet_v2_1.0_224_quant");
    assert_true(m->norm_scale[0] == 1.0f / 128.0f && m->norm_offset[2] == -1.0f);

    const gd_node *p = node(m, "expanded_conv_4/project");
    assert_int_equal(p->op, GD_OP_CONV);
    assert_int_equal(p->kh, 1);
    assert_int_equal(p->out_c, 32);
    assert_int_equal(p->act, GD_ACT_NONE); /* linear bottleneck */
    const gd_node *e = node(m, "expanded_conv_10/expand");
    assert_int_equal(e->out_c, 384);
    assert_int_equal(e->act, GD_ACT_RELU6);
    const gd_node *d = node(m, "expanded_conv_10/depthwise");
    assert_int_equal(d->groups, 384);
    assert_int_equal(d->inputs[0], node_index(m, "expanded_conv_10/expand"));
    const gd_node *add = node(m, "expanded_conv_4/add");
    assert_int_equal(add->op, GD_OP_ADD);
    assert_int_equal(add->n_inputs, 2);
    assert_int_equal(add->inputs[0], node_index(m, "expanded_conv_4/project"));
    assert_int_equal(add->inputs[1], node_index(m, "expanded_conv_3/project"));
    node(m, "expanded_conv/depthwise");
    node(m, "Conv");
    node(m, "Conv_1");

    const gd_node *logits = node(m, "Logits/Conv2d_1c_1x1");
    assert_int_equal(logits->op, GD_OP_CONV);
    assert_int_equal(logits->out_c, 1001);
    assert_int_equal(logits->act, GD_ACT_NONE);
    const gd_node *last = &m->nodes[m->n_nodes - 1];
    assert_string_equal(last->name, "Predictions/Softmax");
    assert_int_equal(last->op, GD_OP_SOFTMAX);
    assert_true(last->softmax_beta == 1.0f);
    assert_int_equal(m->nodes[last->inputs[0]].op, GD_OP_RESHAPE);
    assert_string_equal(m->nodes[last->inputs[0]].name, "Logits/Squeeze");
    GDTEST_OK(gd_model_shapes(m, 224, 224, sh, &err), &err);
    assert_int_equal(sh[m->n_nodes - 1].c, 1001);
    assert_int_equal(sh[m->n_nodes - 1].h, 1);
    assert_int_equal(sh[node_index(m, "expanded_conv_10/expand")].h, 14);
    /* The convolutions work on any size: a 512x341 photo needs no resize for dreaming. */
    GDTEST_OK(gd_model_shapes(m, 341, 512, sh, &err), &err);
    assert_int_equal(sh[node_index(m, "expanded_conv_4/project")].h, 43);
    assert_int_equal(sh[node_index(m, "expanded_conv_4/project")].w, 64);
    gd_model_free(m);
}

static void test_bird_graph(void **state)
{
    (void)state;
    gd_model *m = import(BIRD);
    assert_int_equal(m->n_nodes, 66);
    const gd_node *fc = node(m, "Logits");
    assert_int_equal(fc->op, GD_OP_FC);
    assert_int_equal(fc->out_c, 965);
    assert_int_equal(fc->n_weights, 965 * 1280);
    assert_int_equal(fc->n_bias, 965);
    assert_int_equal(m->nodes[fc->inputs[0]].op, GD_OP_AVGPOOL);
    const gd_node *last = &m->nodes[m->n_nodes - 1];
    assert_string_equal(last->name, "prediction");
    assert_int_equal(last->op, GD_OP_SOFTMAX);
    node(m, "expanded_conv_16/project");
    gd_model_free(m);
}

/* A tensor of subgraph 0 found by name prefix, read independently of the importer. */
typedef struct raw_tensor {
    const uint8_t *q;
    size_t n;
    int nscale;
    float scale[1024];
    int64_t zp[1024];
} raw_tensor;

static void find_tensor(const gd_fb *fb, const char *prefix, raw_tensor *rt)
{
    gd_err err;
    gd_fb_table root, sg, t, q, b;
    gd_fb_vec subs, tensors, buffers, sc, zp, data;
    const char *name;
    size_t len;
    uint32_t buf;
    int has_q;
    GDTEST_OK(gd_fb_root(fb, &root, &err), &err);
    GDTEST_OK(gd_fb_vec_field(&root, 2, 4, &subs, &err), &err);
    GDTEST_OK(gd_fb_vec_field(&root, 4, 4, &buffers, &err), &err);
    GDTEST_OK(gd_fb_vec_table(&subs, 0, &sg, &err), &err);
    GDTEST_OK(gd_fb_vec_field(&sg, 0, 4, &tensors, &err), &err);
    for (uint32_t i = 0; i < tensors.n; i++) {
        GDTEST_OK(gd_fb_vec_table(&tensors, i, &t, &err), &err);
        GDTEST_OK(gd_fb_string_field(&t, 3, &name, &len, &err), &err);
        if (len < strlen(prefix) || memcmp(name, prefix, strlen(prefix)) != 0)
            continue;
        GDTEST_OK(gd_fb_u32(&t, 2, 0, &buf, &err), &err);
        GDTEST_OK(gd_fb_vec_table(&buffers, buf, &b, &err), &err);
        GDTEST_OK(gd_fb_vec_field(&b, 0, 1, &data, &err), &err);
        GDTEST_OK(gd_fb_table_field(&t, 4, &q, &has_q, &err), &err);
        assert_true(has_q);
        GDTEST_OK(gd_fb_vec_field(&q, 2, 4, &sc, &err), &err);
        GDTEST_OK(gd_fb_vec_field(&q, 3, 8, &zp, &err), &err);
        assert_true(sc.n >= 1 && sc.n <= 1024 && zp.n == sc.n);
        rt->q = gd_fb_vec_data(&data);
        rt->n = data.n;
        rt->nscale = (int)sc.n;
        for (uint32_t k = 0; k < sc.n; k++) {
            rt->scale[k] = gd_fb_vec_f32(&sc, k);
            rt->zp[k] = gd_fb_vec_i64(&zp, k);
        }
        return;
    }
    fail_msg("no tensor named %s...", prefix);
}

static float deq(const raw_tensor *rt, size_t e, int ch)
{
    return (float)((double)rt->scale[ch] * ((double)rt->q[e] - (double)rt->zp[ch]));
}

static void test_dequantization(void **state)
{
    (void)state;
    char path[1024];
    size_t size;
    raw_tensor *rt = calloc(1, sizeof *rt);
    assert_non_null(rt);
    uint8_t *bytes = read_all(gdtest_mirror(V1, path, sizeof path), &size);
    gd_fb fb = {bytes, size};
    gd_model *m = import(V1);

    /* CONV_2D: OHWI [32][3][3][3] uint8 becomes OIHW. */
    find_tensor(&fb, "MobilenetV1/MobilenetV1/Conv2d_0/Conv2D_Fold;", rt);
    assert_int_equal(rt->n, 32 * 27);
    assert_int_equal(rt->nscale, 1);
    assert_int_equal(rt->zp[0], 151);
    const gd_node *c0 = node(m, "Conv2d_0");
    int checked = 0;
    for (int o = 0; o < 32; o += 7)
        for (int i = 0; i < 3; i++)
            for (int y = 0; y < 3; y++)
                for (int x = 0; x < 3; x++) {
                    size_t ohwi = (((size_t)o * 3 + y) * 3 + x) * 3 + i;
                    float want = deq(rt, ohwi, 0);
                    assert_true(c0->weights[((o * 3 + i) * 3 + y) * 3 + x] == want);
                    checked++;
                }
    assert_int_equal(checked, 5 * 27);
    /* By hand: the first filter byte q, w = 0.0218267 * (q - 151) (scale as h5dump prints it). */
    assert_true(fabs(c0->weights[0] - 0.0218267 * ((double)rt->q[0] - 151)) < 1e-5);

    /* DEPTHWISE_CONV_2D: 1HWC [1][3][3][512] becomes [512][1][3][3]. */
    find_tensor(&fb, "MobilenetV1/MobilenetV1/Conv2d_9_depthwise/depthwise_Fold;", rt);
    assert_int_equal(rt->n, 9 * 512);
    const gd_node *dw = node(m, "Conv2d_9_depthwise");
    for (int c = 0; c < 512; c += 37)
        for (int k = 0; k < 9; k++)
            assert_true(dw->weights[c * 9 + k] == deq(rt, (size_t)k * 512 + c, 0));

    /* 1x1 CONV_2D: [512][1][1][512] keeps its order. */
    find_tensor(&fb, "MobilenetV1/MobilenetV1/Conv2d_9_pointwise/Conv2D_Fold;", rt);
    const gd_node *pw = node(m, "Conv2d_9_pointwise");
    for (size_t e = 0; e < rt->n; e += 4093)
        assert_true(pw->weights[e] == deq(rt, e, 0));

    /* INT32 bias with its own scale and zero point 0. */
    find_tensor(&fb, "MobilenetV1/MobilenetV1/Conv2d_9_pointwise/BatchNorm_Fold/bias", rt);
    assert_int_equal(rt->n, 512 * 4);
    for (int c = 0; c < 512; c++) {
        const uint8_t *p = rt->q + 4 * c;
        int32_t q = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                              (uint32_t)p[3] << 24);
        assert_true(pw->bias[c] == (float)((double)rt->scale[0] * (double)q));
    }
    /* The weights are not all zero or all equal: a real decode happened. */
    assert_true(pw->weights[0] != pw->weights[1] || pw->weights[1] != pw->weights[2]);
    gd_model_free(m);
    free(bytes);
    free(rt);
}

static void test_missing_empty_garbage(void **state)
{
    (void)state;
    char path[1024];
    uint8_t junk[4096];
    gdtest_rng rng = {42};
    expect_bad(gdtest_tmp("tflite_no_such_file.tflite", path, sizeof path), "cannot open");
    gdtest_tmp("tflite_empty.tflite", path, sizeof path);
    write_all(path, "", 0);
    expect_bad(path, "empty");
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)gdtest_next(&rng);
    gdtest_tmp("tflite_garbage.tflite", path, sizeof path);
    write_all(path, junk, sizeof junk);
    expect_bad(path, "not a TensorFlow Lite model");
    /* Garbage that claims to be TFLite must fail as corrupt, not crash. */
    memcpy(junk + 4, "TFL3", 4);
    for (int k = 0; k < 50; k++) {
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = i >= 4 && i < 8 ? junk[i] : (uint8_t)gdtest_next(&rng);
        junk[0] = (uint8_t)(k * 8), junk[1] = junk[2] = junk[3] = 0; /* root inside */
        write_all(path, junk, sizeof junk);
        expect_bad(path, NULL);
    }
    expect_bad(gdtest_image("cat.png", path, sizeof path), "not a TensorFlow Lite model");
}

static void test_truncated(void **state)
{
    (void)state;
    char src[1024], path[1024];
    size_t size;
    gd_err err;
    gd_model *m = NULL;
    uint8_t *bytes = read_all(gdtest_mirror(V1, src, sizeof src), &size);
    /* V1 ends with its tensor tables: every cut here removes something the model needs. */
    const size_t cuts[] = {1, 7, 8, 64, 700, 4096, size / 2, size - 65536, size - 100, size - 40};
    gdtest_tmp("tflite_truncated.tflite", path, sizeof path);
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        write_all(path, bytes, cuts[k]);
        expect_bad(path, cuts[k] < 8 ? "not a TensorFlow Lite model" : "truncated");
    }
    free(bytes);
    /* V2 carries a ZIP of metadata after its flatbuffer: that tail is not the model. */
    bytes = read_all(gdtest_mirror(V2, src, sizeof src), &size);
    write_all(path, bytes, size - 100);
    GDTEST_OK(gd_tflite_import(path, &m, &err), &err);
    assert_int_equal(m->n_nodes, 67);
    gd_model_free(m);
    free(bytes);
}

/* Writes a copy of the V1 model whose operator code `which` says builtin `code`. */
static void patch_opcode(const char *path, uint32_t which, int8_t dep, int32_t code)
{
    char src[1024];
    size_t size;
    gd_err err;
    gd_fb_table root, oc;
    gd_fb_vec codes;
    uint8_t *bytes = read_all(gdtest_mirror(V1, src, sizeof src), &size);
    gd_fb fb = {bytes, size};
    GDTEST_OK(gd_fb_root(&fb, &root, &err), &err);
    GDTEST_OK(gd_fb_vec_field(&root, 1, 4, &codes, &err), &err);
    assert_true(which < codes.n);
    GDTEST_OK(gd_fb_vec_table(&codes, which, &oc, &err), &err);
    /* The fields' offsets come from the table's vtable: slots 4 (byte) and 10 (int). */
    uint16_t off_dep = (uint16_t)(bytes[oc.vt + 4] | bytes[oc.vt + 5] << 8);
    uint16_t off_code = (uint16_t)(bytes[oc.vt + 10] | bytes[oc.vt + 11] << 8);
    assert_true(off_dep != 0 && off_code != 0);
    assert_int_equal(bytes[oc.pos + off_dep], 4); /* DEPTHWISE_CONV_2D before the patch */
    bytes[oc.pos + off_dep] = (uint8_t)dep;
    for (int k = 0; k < 4; k++)
        bytes[oc.pos + off_code + k] = (uint8_t)((uint32_t)code >> (8 * k));
    write_all(path, bytes, size);
    free(bytes);
}

static void test_unsupported_op(void **state)
{
    (void)state;
    char path[1024];
    gdtest_tmp("tflite_lstm.tflite", path, sizeof path);
    /* Operator code 1 is DEPTHWISE_CONV_2D, first used by operator 1. */
    patch_opcode(path, 1, 16, 16);
    expect_bad(path, "operator 1 (output 'MobilenetV1/MobilenetV1/Conv2d_1_depthwise/Relu6'): "
                     "unsupported op LSTM");
    patch_opcode(path, 1, 127, 200);
    expect_bad(path, "operator 1 (output 'MobilenetV1/MobilenetV1/Conv2d_1_depthwise/Relu6'): "
                     "unsupported builtin op 200");
    patch_opcode(path, 1, 20, 20);
    expect_bad(path, "unsupported op RELU_N1_TO_1");
    patch_opcode(path, 1, 32, 32);
    expect_bad(path, "operator 1 (output 'MobilenetV1/MobilenetV1/Conv2d_1_depthwise/Relu6'): "
                     "unsupported custom op ''");
    /* Back to DEPTHWISE_CONV_2D through the int field alone: imports again. */
    patch_opcode(path, 1, 0, 4);
    gd_err err;
    gd_model *m = NULL;
    GDTEST_OK(gd_tflite_import(path, &m, &err), &err);
    assert_int_equal(m->n_nodes, 29);
    gd_model_free(m);
}

/*
 * Zeroes the fused activation of every CONV_2D (field 3) and DEPTHWISE_CONV_2D
 * (field 4) of the V1 model; returns how many were RELU6 before.
 */
static int strip_activations(const char *path)
{
    char src[1024];
    size_t size;
    gd_err err;
    gd_fb_table root, sg, op, opts;
    gd_fb_vec subs, ops;
    int has, stripped = 0;
    uint8_t *bytes = read_all(gdtest_mirror(V1, src, sizeof src), &size);
    gd_fb fb = {bytes, size};
    GDTEST_OK(gd_fb_root(&fb, &root, &err), &err);
    GDTEST_OK(gd_fb_vec_field(&root, 2, 4, &subs, &err), &err);
    GDTEST_OK(gd_fb_vec_table(&subs, 0, &sg, &err), &err);
    GDTEST_OK(gd_fb_vec_field(&sg, 3, 4, &ops, &err), &err);
    for (uint32_t i = 0; i < ops.n; i++) {
        uint8_t type;
        GDTEST_OK(gd_fb_vec_table(&ops, i, &op, &err), &err);
        GDTEST_OK(gd_fb_u8(&op, 3, 0, &type, &err), &err);
        GDTEST_OK(gd_fb_table_field(&op, 4, &opts, &has, &err), &err);
        if (!has || (type != 1 && type != 2))
            continue;
        int field = type == 1 ? 3 : 4; /* Conv2DOptions, DepthwiseConv2DOptions */
        uint16_t off =
            (uint16_t)(bytes[opts.vt + 4 + 2 * field] | bytes[opts.vt + 5 + 2 * field] << 8);
        assert_true(off != 0);
        stripped += bytes[opts.pos + off] == 3;
        bytes[opts.pos + off] = 0;
    }
    write_all(path, bytes, size);
    free(bytes);
    return stripped;
}

/* Without stated activations, the [0, 6] output ranges still make every conv a RELU6. */
static void test_activation_from_range(void **state)
{
    (void)state;
    char path[1024];
    gd_err err;
    gd_model *m = NULL;
    gdtest_tmp("tflite_no_fused_act.tflite", path, sizeof path);
    assert_int_equal(strip_activations(path), 27);
    GDTEST_OK(gd_tflite_import(path, &m, &err), &err);
    assert_int_equal(m->n_nodes, 29);
    for (int i = 1; i < 28; i++) {
        assert_int_equal(m->nodes[i].op, GD_OP_CONV);
        if (m->nodes[i].act != GD_ACT_RELU6)
            fail_msg("node '%s': %s, expected relu6 from its range", m->nodes[i].name,
                     gd_act_name(m->nodes[i].act));
    }
    gd_model_free(m);
    /* And ranges that do not start at 0 add nothing: V2's projections and adds stay linear. */
    m = import(V2);
    for (int i = 1; i < m->n_nodes; i++) {
        const gd_node *n = &m->nodes[i];
        if (strstr(n->name, "/project") || n->op == GD_OP_ADD)
            assert_int_equal(n->act, GD_ACT_NONE);
    }
    gd_model_free(m);
}

/* Byte flips, mostly in the flatbuffer's tables, never crash: OK or a clean GD_EINPUT. */
static void test_byte_flips(void **state)
{
    (void)state;
    static const char *const files[] = {V1, V2};
    char src[1024], path[1024];
    gdtest_rng rng = {7};
    int ok = 0, bad = 0;
    gdtest_tmp("tflite_flipped.tflite", path, sizeof path);
    for (int f = 0; f < 2; f++) {
        size_t size;
        uint8_t *orig = read_all(gdtest_mirror(files[f], src, sizeof src), &size);
        uint8_t *b = malloc(size);
        assert_non_null(b);
        /* Tables live before the first and after the last weight buffer (see test output). */
        size_t head = 1024, tail = f == 0 ? 400 : 65536;
        for (int it = 0; it < 40; it++) {
            memcpy(b, orig, size);
            int flips = 1 + (int)(gdtest_next(&rng) % 6);
            for (int k = 0; k < flips; k++) {
                uint64_t r = gdtest_next(&rng);
                size_t pos = r % 4 == 0   ? (size_t)(r >> 8) % size
                             : r % 4 == 1 ? (size_t)(r >> 8) % head
                                          : size - 1 - (size_t)(r >> 8) % tail;
                b[pos] ^= (uint8_t)(1u << (r >> 40) % 8);
            }
            write_all(path, b, size);
            gd_err err;
            gd_model *m = NULL;
            gd_status st = gd_tflite_import(path, &m, &err);
            if (st == GD_OK) {
                ok++;
                GDTEST_OK(gd_model_validate(m, &err), &err);
                gd_model_free(m);
            } else {
                bad++;
                if (st != GD_EINPUT || strncmp(err.msg, path, strlen(path)) != 0)
                    fail_msg("flip %d: %s: %s", it, gd_status_name(st), err.msg);
            }
        }
        free(b);
        free(orig);
    }
    assert_int_equal(ok + bad, 80);
    assert_true(bad > 20); /* the flips did hit structure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_graph),
        cmocka_unit_test(test_v2_graph),
        cmocka_unit_test(test_bird_graph),
        cmocka_unit_test(test_dequantization),
        cmocka_unit_test(test_missing_empty_garbage),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_unsupported_op),
        cmocka_unit_test(test_activation_from_range),
        cmocka_unit_test(test_byte_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

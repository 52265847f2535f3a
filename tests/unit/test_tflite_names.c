/*
 * test_tflite_names.c: short layer names from TensorFlow tensor names, the
 * model scope vote, and builtin operator names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"

#include <string.h>

#include "gigadream/tflite_names.h"

static void expect_name(const char *tensor, const char *scope, const char *want)
{
    char out[128];
    gd_tflite_layer_name(tensor, strlen(tensor), scope, out, sizeof out);
    if (strcmp(out, want) != 0)
        fail_msg("'%s' (scope '%s') -> '%s', expected '%s'", tensor, scope, out, want);
}

static void test_real_names(void **state)
{
    (void)state;
    /* Output tensor names of the shared MobileNets, as the MLIR converter wrote them. */
    expect_name("MobilenetV1/MobilenetV1/Conv2d_9_pointwise/Relu6;MobilenetV1/MobilenetV1/"
                "Conv2d_9_pointwise/add_fold;MobilenetV1/MobilenetV1/Conv2d_12_depthwise/"
                "depthwise_Fold",
                "MobilenetV1", "Conv2d_9_pointwise");
    expect_name("MobilenetV1/MobilenetV1/Conv2d_1_depthwise/Relu6;MobilenetV1/MobilenetV1/"
                "Conv2d_1_depthwise/add_fold",
                "MobilenetV1", "Conv2d_1_depthwise");
    expect_name("MobilenetV1/Logits/AvgPool_1a/AvgPool", "MobilenetV1", "Logits/AvgPool_1a");
    expect_name("MobilenetV2/expanded_conv_10/expand/Relu6;MobilenetV2/expanded_conv_10/expand/"
                "add_fold",
                "MobilenetV2", "expanded_conv_10/expand");
    expect_name("MobilenetV2/expanded_conv_10/depthwise/Relu6", "MobilenetV2",
                "expanded_conv_10/depthwise");
    expect_name("MobilenetV2/expanded_conv_4/project/add_fold;MobilenetV2/expanded_conv_5/"
                "project/Conv2D_Fold;MobilenetV2/expanded_conv_4/project/BatchNorm_Fold/bias1",
                "MobilenetV2", "expanded_conv_4/project");
    expect_name("MobilenetV2/expanded_conv_10/add", "MobilenetV2", "expanded_conv_10/add");
    expect_name("MobilenetV2/Conv/Relu6;MobilenetV2/Conv/add_fold", "MobilenetV2", "Conv");
    expect_name("MobilenetV2/Logits/AvgPool", "MobilenetV2", "Logits/AvgPool");
    expect_name("MobilenetV2/Logits/Conv2d_1c_1x1/BiasAdd;MobilenetV2/Logits/Conv2d_1c_1x1/Conv2D",
                "MobilenetV2", "Logits/Conv2d_1c_1x1");
    expect_name("MobilenetV2/Logits/Squeeze1", "MobilenetV2", "Logits/Squeeze");
    expect_name("MobilenetV2/Predictions/Softmax", "MobilenetV2", "Predictions/Softmax");
    expect_name("AvgPool/AvgPool", "MobilenetV2", "AvgPool");
    expect_name("Logits/MatMul;Logits/BiasAdd", "MobilenetV2", "Logits");
    expect_name("prediction", "MobilenetV2", "prediction");
}

static void test_edge_names(void **state)
{
    (void)state;
    char out[16];
    expect_name("", "X", "");
    expect_name("Relu6", "X", "Relu6"); /* never drop the last component */
    expect_name("MobilenetV1", "MobilenetV1", "MobilenetV1");
    expect_name("a//b/", "", "a/b"); /* empty components skipped */
    expect_name("net/block/FusedBatchNormV3", "net", "block");
    expect_name("net/block/act_quant/FakeQuantWithMinMaxVars", "net", "block");
    expect_name("net/block_2/block", "net", "block_2");       /* "_X" suffix repeat */
    expect_name("net/Conv2d_1c_1x1", "net", "Conv2d_1c_1x1"); /* digits kept on real names */
    expect_name("net/b l\x01\xff", "net", "b_l__");           /* unprintable bytes */
    expect_name("x;y/z", "", "x");
    /* Truncation to the buffer, always NUL-terminated. */
    gd_tflite_layer_name("abcdefghijklmnopqrstuvwxyz", 26, "", out, sizeof out);
    assert_string_equal(out, "abcdefghijklmno");
    /* The length is honored: no read past it. */
    gd_tflite_layer_name("net/conv1/Relu6XYZ", 15, "net", out, sizeof out);
    assert_string_equal(out, "conv1");
}

static void test_scope(void **state)
{
    (void)state;
    char scope[32];
    const char *names[] = {"MobilenetV2/Conv/Relu6", "MobilenetV2/expanded_conv/add",
                           "AvgPool/AvgPool", "MobilenetV2/x/y;Other/z", "prediction"};
    size_t lens[5];
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(names[i]);
    gd_tflite_model_scope(names, lens, 5, scope, sizeof scope);
    assert_string_equal(scope, "MobilenetV2");
    gd_tflite_model_scope(names + 2, lens + 2, 3, scope, sizeof scope); /* no majority */
    assert_string_equal(scope, "");
    gd_tflite_model_scope(names, lens, 0, scope, sizeof scope);
    assert_string_equal(scope, "");
}

static void test_op_names(void **state)
{
    (void)state;
    assert_string_equal(gd_tflite_op_name(0), "ADD");
    assert_string_equal(gd_tflite_op_name(3), "CONV_2D");
    assert_string_equal(gd_tflite_op_name(16), "LSTM");
    assert_string_equal(gd_tflite_op_name(22), "RESHAPE");
    assert_string_equal(gd_tflite_op_name(114), "QUANTIZE");
    assert_string_equal(gd_tflite_op_name(117), "HARD_SWISH");
    assert_string_equal(gd_tflite_op_name(161), "RIGHT_SHIFT");
    assert_null(gd_tflite_op_name(162));
    assert_null(gd_tflite_op_name(-1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_names),
        cmocka_unit_test(test_edge_names),
        cmocka_unit_test(test_scope),
        cmocka_unit_test(test_op_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

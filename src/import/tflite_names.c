/*
 * tflite_names.c: TFLite builtin operator names and short layer names
 * (contract and rules in gigadream/tflite_names.h).  Pure string functions:
 * they never allocate, do I/O or call the rest of the importer.
 */
#include "gigadream/tflite_names.h"

#include <string.h>

/* BuiltinOperator codes of the TFLite schema (tensorflow/lite/schema/schema.fbs). */
/* clang-format off */
static const char *const op_names[] = {
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
    "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION",
    "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR",
    "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL",
    "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER",
    "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP",
    "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU",
    "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL",
    "LESS_EQUAL", "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE",
    "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN",
    "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND",
    "LOGICAL_NOT", "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE",
    "FILL", "FLOOR_MOD", "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE",
    "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS",
    "WHERE", "RANK", "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG",
    "ROUND", "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D", "CONV_3D",
    "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND", "HASHTABLE_IMPORT",
    "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE", "READ_VARIABLE",
    "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL", "BUCKETIZE", "RANDOM_UNIFORM",
    "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD",
    "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM", "ATAN2", "UNSORTED_SEGMENT_MIN", "SIGN",
    "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT",
};
/* clang-format on */
_Static_assert(sizeof(op_names) / sizeof(op_names[0]) == 162, "BuiltinOperator 0..161");

const char *gd_tflite_op_name(int builtin_code)
{
    if (builtin_code < 0 || builtin_code >= (int)(sizeof(op_names) / sizeof(op_names[0])))
        return NULL;
    return op_names[builtin_code];
}

/* A component of a name: [s, s + n). */
typedef struct span {
    const char *s;
    size_t n;
} span;

static int span_is(span c, const char *word)
{
    return strlen(word) == c.n && memcmp(c.s, word, c.n) == 0;
}

static int span_starts(span c, const char *prefix)
{
    size_t k = strlen(prefix);
    return c.n >= k && memcmp(c.s, prefix, k) == 0;
}

/* The component without the decimal digits MLIR appends ("bias1" -> "bias"). */
static span strip_digits(span c)
{
    while (c.n > 1 && c.s[c.n - 1] >= '0' && c.s[c.n - 1] <= '9')
        c.n--;
    return c;
}

/* Parts of a layer that TensorFlow names but that are not the layer itself. */
static const char *const impl_words[] = {
    "Relu",           "Relu6",    "BiasAdd",       "Conv2D",    "Conv2D_Fold",
    "depthwise_Fold", "add_fold", "mul_fold",      "MatMul",    "bias",
    "biases",         "weights",  "weights_quant", "act_quant", "Identity",
};
static const char *const impl_prefixes[] = {"BatchNorm", "FusedBatchNorm", "FakeQuant"};

/* Op words that name a layer (kept), listed to strip MLIR's digits from them. */
static const char *const layer_words[] = {
    "Squeeze", "Reshape", "Softmax", "AvgPool",  "MaxPool", "add",
    "Add",     "AddV2",   "concat",  "ConcatV2", "Mean",    "LRN",
};

static int in_list(span c, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (span_is(c, words[i]))
            return 1;
    return 0;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int is_impl(span c)
{
    span d = strip_digits(c);
    for (size_t i = 0; i < COUNT(impl_prefixes); i++)
        if (span_starts(c, impl_prefixes[i]))
            return 1;
    return in_list(c, impl_words, COUNT(impl_words)) || in_list(d, impl_words, COUNT(impl_words));
}

/* Whether last repeats prev: equal, prev = "last_...", or prev = "..._last". */
static int repeats(span prev, span last)
{
    if (prev.n == last.n)
        return memcmp(prev.s, last.s, last.n) == 0;
    if (prev.n <= last.n)
        return 0;
    if (memcmp(prev.s, last.s, last.n) == 0 && prev.s[last.n] == '_')
        return 1;
    return memcmp(prev.s + prev.n - last.n, last.s, last.n) == 0 &&
           prev.s[prev.n - last.n - 1] == '_';
}

/* The part of a name before the first ';'. */
static size_t first_part(const char *s, size_t len)
{
    const char *semi = memchr(s, ';', len);
    return semi ? (size_t)(semi - s) : len;
}

void gd_tflite_model_scope(const char *const *names, const size_t *lens, size_t n, char *scope,
                           size_t cap)
{
    /* Boyer-Moore majority vote over the first components of multi-part names. */
    span cand = {"", 0};
    size_t votes = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t hits = 0;
        for (size_t i = 0; i < n; i++) {
            size_t len = first_part(names[i], lens[i]);
            const char *slash = memchr(names[i], '/', len);
            if (!slash)
                continue;
            span c = {names[i], (size_t)(slash - names[i])};
            if (pass == 0) {
                if (votes == 0) {
                    cand = c;
                    votes = 1;
                } else if (c.n == cand.n && memcmp(c.s, cand.s, c.n) == 0) {
                    votes++;
                } else {
                    votes--;
                }
            } else if (c.n == cand.n && memcmp(c.s, cand.s, c.n) == 0) {
                hits++;
            }
        }
        if (pass == 1 && 2 * hits <= n)
            cand.n = 0;
    }
    if (cap == 0)
        return;
    size_t k = cand.n < cap - 1 ? cand.n : cap - 1;
    memcpy(scope, cand.s, k);
    scope[k] = '\0';
}

void gd_tflite_layer_name(const char *tensor_name, size_t len, const char *scope, char *out,
                          size_t cap)
{
    enum { MAXC = 64 };
    span c[MAXC];
    size_t n = 0;
    if (cap == 0)
        return;
    out[0] = '\0';
    len = first_part(tensor_name, len);
    /* Split on '/', skipping empty components. */
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && tensor_name[j] != '/')
            j++;
        if (j > i) {
            if (n == MAXC) { /* keep the last MAXC - 1 components */
                memmove(c + 1, c + 2, (MAXC - 2) * sizeof c[0]);
                n--;
            }
            c[n++] = (span){tensor_name + i, j - i};
        }
        i = j + 1;
    }
    size_t first = 0;
    if (scope && *scope)
        while (first + 1 < n && span_is(c[first], scope))
            first++;
    while (n - first > 1) {
        span last = c[n - 1];
        if (is_impl(last) || repeats(c[n - 2], last))
            n--;
        else
            break;
    }
    if (n > first) {
        span last = c[n - 1], d = strip_digits(last);
        if (d.n < last.n && in_list(d, layer_words, COUNT(layer_words)))
            c[n - 1] = d;
    }
    size_t o = 0;
    for (size_t k = first; k < n && o + 1 < cap; k++) {
        if (k > first)
            out[o++] = '/';
        for (size_t i = 0; i < c[k].n && o + 1 < cap; i++) {
            unsigned char ch = (unsigned char)c[k].s[i];
            out[o++] = (ch >= 0x21 && ch < 0x7f) ? (char)ch : '_';
        }
    }
    out[o] = '\0';
}

/*
 * onnx_helpers.h: what test_onnx.c and test_onnx_torch.c share: the files
 * of the ONNX fixtures ($GD_TEST_TMP/onnx, tests/fixtures/onnx_fixtures.py)
 * and a forward pass to one node.  Include after cmocka.h.
 */
#ifndef ONNX_HELPERS_H
#define ONNX_HELPERS_H

#include <stddef.h>

#include "gigadream/model.h"

/* "$GD_TEST_TMP/onnx/<name>" */
const char *onnx_file(const char *name, char *buf, size_t len);
/* Exactly n floats from path (fails the test otherwise); caller frees. */
float *read_floats(const char *path, size_t n);
/* The forward pass of m at its native size on pixels, to node `node`: a copy (caller frees). */
float *engine_out(const gd_model *m, int node, const float *pixels, gd_shape *shape);

#endif

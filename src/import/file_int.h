/*
 * file_int.h: reading a model file whole, shared by the importers of
 * src/import/ (TFLite, ONNX, GraphDef).  Not part of any contract.
 */
#ifndef GIGADREAM_IMPORT_FILE_INT_H
#define GIGADREAM_IMPORT_FILE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "gigadream/error.h"

/*
 * Reads the regular file at path, of 1 to max bytes, into *data (the
 * caller frees it) and *size.  `what` names the format in messages ("ONNX
 * model").  GD_EINPUT: cannot open, not a regular file, empty, too large;
 * GD_EIO: a read error.  The caller prefixes the path.
 */
gd_status imp_read_file(const char *path, size_t max, const char *what, uint8_t **data,
                        size_t *size, gd_err *err);

#endif

/*
 * fuzz_import.c: libFuzzer harnesses for the model readers (issue 19): one
 * program per reader, chosen at build time by GD_FUZZ_READER (1 ONNX,
 * 2 GraphDef, 3 TFLite).  The importers read files, so each input is
 * written to a private temporary file first.  A reader must return GD_OK
 * or an error, never crash, leak or read out of bounds (AddressSanitizer,
 * UndefinedBehaviorSanitizer); a model it accepts must validate and save.
 * Run with scripts/fuzz.sh NAME SECONDS.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gigadream/import_graphdef.h"
#include "gigadream/import_onnx.h"
#include "gigadream/import_tflite.h"
#include "gigadream/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/gd-fuzz-%d.model", (int)getpid());
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size) {
        perror(path);
        abort();
    }
    fclose(f);
    gd_err err;
    gd_model *m = NULL;
    gd_status st;
#if GD_FUZZ_READER == 1
    st = gd_onnx_import(path, NULL, &m, &err);
#elif GD_FUZZ_READER == 2
    st = gd_graphdef_import(path, NULL, &m, &err);
#else
    st = gd_tflite_import(path, &m, &err);
#endif
    if (st == GD_OK) {
        /* What an importer accepts is a valid model. */
        if (gd_model_validate(m, &err) != GD_OK) {
            fprintf(stderr, "accepted an invalid model: %s\n", err.msg);
            abort();
        }
        gd_model_free(m);
    }
    return 0;
}

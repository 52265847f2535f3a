/*
 * test_output_n4.c: test_output.c on 4 ranks (the same file, the same reference).
 *
 * gd-test: mpi 4
 * gd-test: timeout 300
 */
#include "test_output.c"

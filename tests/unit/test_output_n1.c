/*
 * test_output_n1.c: test_output.c on 1 rank (the same file, the same reference).
 *
 * gd-test: mpi 1
 * gd-test: timeout 300
 */
#include "test_output.c"

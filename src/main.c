/*
 * main.c: the gigadream program.  All behaviour lives in cli.c; main only
 * owns the process (its exit code).
 */
#include "gigadream/cli.h"

int main(int argc, char **argv)
{
    return gd_cli_main(argc, argv);
}

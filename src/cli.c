/*
 * cli.c: the gigadream subcommands and their usage text.
 */
#include "gigadream/cli.h"

#include <stdio.h>
#include <string.h>

#include "gigadream/error.h"

static const char usage[] =
    "usage: gigadream <command> [arguments]\n"
    "\n"
    "commands:\n"
    "  --help, -h                      this text\n"
    "  --version                       the gigadream version\n";

int gd_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 1;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("gigadream %s\n", GD_VERSION);
        return 0;
    }
    fprintf(stderr, "gigadream: unknown command '%s' (gigadream --help lists them)\n", argv[1]);
    return 1;
}

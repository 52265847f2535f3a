/*
 * cli.h: the gigadream subcommands.
 *
 * gd_cli_main parses the command line, runs one subcommand and returns the
 * process exit code (0 done, 1 bad input or usage, 2 runtime failure,
 * 3 stopped by a signal after a checkpoint).  Errors are printed here, once,
 * as one line on stderr: "gigadream: <message>".
 */
#ifndef GIGADREAM_CLI_H
#define GIGADREAM_CLI_H

int gd_cli_main(int argc, char **argv);

#endif

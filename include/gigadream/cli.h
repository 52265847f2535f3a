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

#include <signal.h>

/* What the process (main) provides: the only process-wide state there is. */
typedef struct gd_cli_env {
    /* Set to the signal's number by the handlers catch_signals installs. */
    volatile sig_atomic_t *stop;
    /* Installs handlers for SIGTERM, SIGUSR1 and SIGINT that set *stop
     * (a second SIGINT kills the process as usual). */
    void (*catch_signals)(void);
} gd_cli_env;

int gd_cli_main(int argc, char **argv, const gd_cli_env *env);

#endif

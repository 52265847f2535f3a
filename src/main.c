/*
 * main.c: the gigadream program.  All behaviour lives in cli.c; main owns
 * what belongs to the process: the exit code and the signal flag.
 */
#include <signal.h>
#include <string.h>

#include "gigadream/cli.h"

/*
 * The one piece of process-wide mutable state: which stop signal arrived.
 * A render checks it between tiles, writes a checkpoint and exits 3.
 */
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    /* A second Ctrl-C means "now": fall back to the default action. */
    if (sig == SIGINT && stop_signal == SIGINT) {
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
        return;
    }
    stop_signal = sig;
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

int main(int argc, char **argv)
{
    gd_cli_env env = {.stop = &stop_signal, .catch_signals = catch_signals};
    return gd_cli_main(argc, argv, &env);
}

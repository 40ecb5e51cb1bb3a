/* latchkey events: the webhook deliverer (SPEC §11), long-running. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "deliver.h"

static const char USAGE[] = "usage: latchkey events\n"
                            "  Delivers webhooks until SIGTERM or SIGINT (the delivery under way is\n"
                            "  finished first). Wakes on NOTIFY latchkey_events, when a retry falls due,\n"
                            "  and every 30 s. Run as many as you like, on any machines: they share the\n"
                            "  outbox without delivering one event twice in the normal case.\n";

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
    (void)sig;
    stop = 1;
}

/* SIGTERM and SIGINT set stop. They are blocked from here on, and let in
 * (with the mask in *was) only where the deliverer waits. */
static void catch_stop(sigset_t *was)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, was);
}

int cli_events(cli *c, int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (argc != 1)
        return cli_usage(USAGE);
    sigset_t was;
    catch_stop(&was);
    lk_deliverer *d = lk_deliverer_new(&c->cfg);
    lk_deliverer_run(d, &stop, &was);
    lk_deliverer_free(d);
    return 0;
}

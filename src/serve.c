#include "serve.h"

#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "upstream.h"

extern char **environ;

static ssize_t fcgi_read(void *ctx, char *buf, size_t n)
{
    FCGX_Request *rq = ctx;
    int got = FCGX_GetStr(buf, (int)(n > 1 << 20 ? 1 << 20 : n), rq->in);
    if (got < 0 || (got == 0 && FCGX_GetError(rq->in) != 0))
        return -1;
    return got;
}

static int fcgi_write(void *ctx, const char *buf, size_t n)
{
    FCGX_Request *rq = ctx;
    while (n > 0) {
        int chunk = n > 1 << 20 ? 1 << 20 : (int)n;
        if (FCGX_PutStr(buf, chunk, rq->out) != chunk)
            return -1;
        buf += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

static int fcgi_flush(void *ctx)
{
    FCGX_Request *rq = ctx;
    return FCGX_FFlush(rq->out) == 0 ? 0 : -1;
}

static ssize_t cgi_read(void *ctx, char *buf, size_t n)
{
    (void)ctx;
    for (;;) {
        ssize_t got = read(STDIN_FILENO, buf, n);
        if (got >= 0 || errno != EINTR)
            return got;
    }
}

static int cgi_write(void *ctx, const char *buf, size_t n)
{
    (void)ctx;
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static int cgi_flush(void *ctx)
{
    (void)ctx;
    return 0;
}

/* Reads what is left of the request body, up to cap bytes; true when the
 * end was reached (nothing unread is left in the socket). */
static bool drain(FCGX_Request *rq, size_t cap)
{
    char buf[4096];
    size_t total = 0;
    for (;;) {
        int got = FCGX_GetStr(buf, (int)sizeof(buf), rq->in);
        if (got <= 0)
            return got == 0 && FCGX_GetError(rq->in) == 0;
        total += (size_t)got;
        if (total > cap)
            return false;
    }
}

/* Ends a FastCGI request. libfcgi closes a connection gracefully: it
 * shuts down its side and waits for the web server to close first, so
 * that unread input cannot turn the close into a reset. That wait is a
 * round trip per request. When the body was read to its end (or there was
 * none), only the end-of-input record can be left: read it, and close at
 * once. */
static void finish_fcgi(FCGX_Request *rq, bool input_done)
{
    bool clean = input_done && drain(rq, (size_t)64 * 1024);
    if (clean)
        rq->keepConnection = 1; /* keeps libfcgi from its graceful close */
    FCGX_Finish_r(rq);
    if (clean && rq->ipcFd >= 0) {
        close(rq->ipcFd);
        rq->ipcFd = -1;
    }
}

void lk_finish(lk_req *r)
{
    if (!r->sent) {
        if (!r->err)
            lk_fail(r, LK_EINTERNAL, "The request could not be served.");
        lk_resp_error(r);
    }
    /* Paths only: query strings carry links, codes and states. */
    if (r->status >= 500 && r->err)
        lk_warn("%s %s -> %d %s", r->method, r->path, r->status, lk_err_code(r->err));
    else
        lk_debug("%s %s -> %d", r->method, r->path, r->status);
}

static bool one(lk_arena *a, const lk_config *cfg, lk_db *db, lk_upstream *up, const char *prog, char *const *env,
                lk_io io, lk_handler handle)
{
    lk_req r;
    lk_db_poll(db);
    lk_err rc = lk_req_init(&r, a, cfg, env, io);
    r.db = db;
    r.up = up;
    r.prog = prog;
    if (rc != LK_OK) {
        if (!r.method)
            r.method = "GET";
        lk_fail(&r, LK_EINVAL, "The request line or query string is malformed.");
    } else {
        handle(&r);
    }
    lk_finish(&r);
    bool done = r.input_done;
    lk_arena_reset(a);
    return done;
}

/* SIGTERM: finish the request in hand, then leave the accept loop (libfcgi
 * returns from a blocked accept once shutdown is pending). */
static volatile sig_atomic_t terminating;

/* The FastCGI listening socket (fd 0), once this process serves FastCGI. */
static volatile sig_atomic_t listening = 0;

static void on_term(int sig)
{
    (void)sig;
    terminating = 1;
    FCGX_ShutdownPending();
    /* Accept nothing more, at once: a web server that starts a new process
     * on this socket's path must find it unanswered (lighttpd will not
     * spawn on a socket that still accepts). A request in hand finishes. */
    if (listening)
        close(0);
}

/* True when a worker's wait status says it ended well. */
static bool exited_well(int status)
{
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* With workers > 1 (a listening socket handed over by systemd, spawn-fcgi
 * or lighttpd's bin-path), this process forks that many workers that all
 * accept on the socket, starts a new one when one dies, and passes SIGTERM
 * on. Returns -1 in each worker; in the supervisor, when it is time to
 * exit, its exit status: 0 when every worker it stopped exited 0 (so that
 * whoever reaps the supervisor learns how its workers ended, a
 * LeakSanitizer report included). */
static int supervise(long workers)
{
    pid_t *pids = calloc((size_t)workers, sizeof(pid_t));
    if (!pids)
        abort();
    int code = 0;
    for (;;) {
        for (long i = 0; i < workers && !terminating; i++) {
            if (pids[i] > 0)
                continue;
            pid_t parent = getpid();
            pid_t pid = fork();
            if (pid == 0) {
                /* A supervisor killed outright (SIGKILL, a crash) takes its
                 * workers along. */
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != parent)
                    raise(SIGTERM);
                free(pids);
                return -1;
            }
            if (pid < 0) {
                lk_error("fork failed: %s", strerror(errno));
                sleep(1);
                continue;
            }
            pids[i] = pid;
        }
        int status;
        pid_t dead = wait(&status);
        if (dead < 0 && errno != EINTR)
            break;
        for (long i = 0; i < workers; i++)
            if (pids[i] == dead)
                pids[i] = 0;
        if (terminating) {
            if (dead > 0 && !exited_well(status))
                code = 1;
            for (long i = 0; i < workers; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGTERM);
            for (;;) {
                dead = wait(&status);
                if (dead < 0 && errno == EINTR)
                    continue;
                if (dead < 0)
                    break;
                if (!exited_well(status))
                    code = 1;
            }
            break;
        }
        if (dead > 0 && !WIFEXITED(status))
            lk_warn("a worker died (signal %d); starting another", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    free(pids);
    if (code)
        lk_warn("a worker did not exit cleanly");
    return code;
}

int lk_serve(const char *prog, lk_handler handle)
{
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocked accept must return */
    sigaction(SIGTERM, &sa, NULL);
    lk_config cfg;
    char err[512];
    if (lk_config_load(&cfg, NULL, false, err, sizeof(err)) != LK_OK) {
        fprintf(stderr, "latchkey %s: %s\n", prog, err);
        return 1;
    }
    if (!*cfg.public_base_url) {
        fprintf(stderr, "latchkey %s: public_base_url is not configured\n", prog);
        return 1;
    }
    lk_log_setup(prog, cfg.log_level);
    char app[64];
    snprintf(app, sizeof(app), "latchkey-%s", prog);
    lk_db *db = lk_db_new(cfg.database, app, cfg.connect_timeout_ms, cfg.db_timeout_ms, lk_config_tx_idle_ms(&cfg));
    lk_db_enable_cache(db);
    lk_upstream *up = lk_upstream_new(&cfg);
    lk_arena *a = lk_arena_new();
    int exit_code = 0;
    if (FCGX_Init() != 0) {
        fprintf(stderr, "latchkey %s: FCGX_Init failed\n", prog);
        return 1;
    }
    if (FCGX_IsCGI()) {
        lk_io io = {cgi_read, cgi_write, cgi_flush, NULL};
        if (!one(a, &cfg, db, up, prog, environ, io, handle)) {
            /* An answer sent before the body was read: read the rest, so
             * that closing with unread input does not reset the connection
             * and lose the answer (mod_cgid shares one socket both ways). */
            char sink[8192];
            size_t total = 0;
            while (total < (16u << 20)) {
                ssize_t got = cgi_read(NULL, sink, sizeof(sink));
                if (got <= 0)
                    break;
                total += (size_t)got;
            }
        }
    } else {
        listening = 1;
        int code = cfg.workers > 1 ? supervise(cfg.workers) : -1;
        if (code >= 0) {
            lk_info("supervisor leaving");
            exit_code = code;
        } else {
            FCGX_Request rq;
            FCGX_InitRequest(&rq, 0, 0);
            lk_info("FastCGI worker ready");
            while (FCGX_Accept_r(&rq) >= 0) {
                lk_io io = {fcgi_read, fcgi_write, fcgi_flush, &rq};
                bool input_done = one(a, &cfg, db, up, prog, rq.envp, io, handle);
                finish_fcgi(&rq, input_done);
            }
        }
    }
    lk_info("leaving");
    lk_arena_free(a);
    lk_upstream_free(up);
    lk_db_free(db);
    lk_config_free(&cfg);
    return exit_code;
}

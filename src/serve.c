#include "serve.h"

#include <errno.h>
#include <fastcgi.h>
#include <fcgiapp.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "touch.h"
#include "upstream.h"

extern char **environ;

/* The most handed to libfcgi in one call (its counts are ints). */
#define IO_CHUNK_MAX (1 << 20)
/* The most unread body read to keep a FastCGI connection from a reset. */
#define DRAIN_MAX ((size_t)64 * 1024)
/* The most unread body a CGI request reads after an early answer. */
#define CGI_SINK_MAX ((size_t)16 << 20)

static ssize_t fcgi_read(void *ctx, char *buf, size_t n)
{
    FCGX_Request *rq = ctx;
    int got = FCGX_GetStr(buf, (int)(n > IO_CHUNK_MAX ? IO_CHUNK_MAX : n), rq->in);
    if (got < 0 || (got == 0 && FCGX_GetError(rq->in) != 0))
        return -1;
    return got;
}

static int fcgi_write(void *ctx, const char *buf, size_t n)
{
    FCGX_Request *rq = ctx;
    while (n > 0) {
        int chunk = n > IO_CHUNK_MAX ? IO_CHUNK_MAX : (int)n;
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
    bool clean = input_done && drain(rq, DRAIN_MAX);
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

/* What one process serves with: set up once, shared by every request. */
typedef struct process {
    const char *prog;
    lk_config cfg;
    lk_db *db;
    lk_upstream *up;
    lk_arena *a;
    lk_handler handle;               /* the main's handler, or */
    lk_profile_handler handle_route; /* one for /{prog}/{profile} */
} process;

/* Calls the main's handler; a path other than /{prog}/{profile} is a 404
 * for a route-guarded program. */
static void dispatch(const process *ps, lk_req *r)
{
    if (ps->handle) {
        ps->handle(r);
        return;
    }
    const char *profile;
    if (!lk_route_profile(r, ps->prog, &profile)) {
        lk_fail(r, LK_ENOPROFILE, "No such route.");
        return;
    }
    ps->handle_route(r, profile);
}

/* Serves one request from env over io; true when its body was read to
 * the end. What it allocated stays in ps->a until the caller resets it
 * (after the uses noted are written). */
static bool serve_request(process *ps, char *const *env, lk_io io)
{
    lk_req r;
    lk_db_poll(ps->db);
    lk_err rc = lk_req_init(&r, ps->a, &ps->cfg, env, io);
    r.db = ps->db;
    r.up = ps->up;
    r.prog = ps->prog;
    if (rc != LK_OK) {
        if (!r.method)
            r.method = "GET";
        lk_fail(&r, LK_EINVAL, "The request line or query string is malformed.");
    } else {
        dispatch(ps, &r);
    }
    lk_finish(&r);
    return r.input_done;
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

/* Forks a worker into every empty slot of pids. Returns true in a new
 * worker (which must go serve), false in the supervisor. */
static bool start_workers(pid_t *pids, long workers)
{
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
            return true;
        }
        if (pid < 0) {
            lk_error("fork failed: %s", strerror(errno));
            sleep(1);
            continue;
        }
        pids[i] = pid;
    }
    return false;
}

/* Passes SIGTERM on to every live worker and reaps them all; 0 when each
 * exited 0. */
static int stop_workers(const pid_t *pids, long workers)
{
    int code = 0;
    for (long i = 0; i < workers; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    for (;;) {
        int status;
        pid_t dead = wait(&status);
        if (dead < 0 && errno == EINTR)
            continue;
        if (dead < 0)
            break;
        if (!exited_well(status))
            code = 1;
    }
    return code;
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
        if (start_workers(pids, workers)) {
            code = -1;
            break;
        }
        int status;
        pid_t dead = wait(&status);
        if (dead < 0 && errno != EINTR)
            break;
        for (long i = 0; i < workers; i++)
            if (pids[i] == dead)
                pids[i] = 0;
        if (terminating) {
            bool died_badly = dead > 0 && !exited_well(status);
            code = stop_workers(pids, workers) || died_badly ? 1 : 0;
            break;
        }
        if (dead > 0 && !WIFEXITED(status))
            lk_warn("a worker died (signal %d); starting another", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    free(pids);
    if (code > 0)
        lk_warn("a worker did not exit cleanly");
    return code;
}

static void catch_term(void)
{
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocked accept must return */
    sigaction(SIGTERM, &sa, NULL);
}

/* Loads the configuration and opens the database, the upstream client and
 * the arena; false (with the reason on stderr) when the process cannot
 * serve. */
/* Memory a request freed stays with the process for the next one (up to
 * LK_HEAP_KEEP) instead of going back to the kernel to be faulted in
 * again: glibc trims the heap past 128 KB by default, which one 50 KB page
 * converted to Markdown crosses on every request. Blocks past
 * LK_HEAP_MMAP (a large body) are still mapped apart and given back. */
#define LK_HEAP_KEEP (16 << 20)
#define LK_HEAP_MMAP (4 << 20)

static bool process_open(process *ps)
{
    char err[512];
    mallopt(M_TRIM_THRESHOLD, LK_HEAP_KEEP);
    mallopt(M_MMAP_THRESHOLD, LK_HEAP_MMAP);
    if (lk_config_load(&ps->cfg, NULL, false, err, sizeof(err)) != LK_OK) {
        fprintf(stderr, "latchkey %s: %s\n", ps->prog, err);
        return false;
    }
    if (!*ps->cfg.public_base_url) {
        fprintf(stderr, "latchkey %s: public_base_url is not configured\n", ps->prog);
        lk_config_free(&ps->cfg);
        return false;
    }
    lk_log_setup(ps->prog, ps->cfg.log_level);
    char app[64];
    snprintf(app, sizeof(app), "latchkey-%s", ps->prog);
    ps->db = lk_db_new(ps->cfg.database, app, ps->cfg.connect_timeout_ms, ps->cfg.db_timeout_ms,
                       lk_config_tx_idle_ms(&ps->cfg));
    lk_db_enable_cache(ps->db, (size_t)ps->cfg.cache_entries);
    ps->up = lk_upstream_new(&ps->cfg);
    ps->a = lk_arena_new();
    return true;
}

static void process_close(process *ps)
{
    lk_arena_free(ps->a);
    lk_upstream_free(ps->up);
    lk_db_free(ps->db);
    lk_config_free(&ps->cfg);
}

/* Plain CGI: exactly one request. */
static void serve_cgi(process *ps)
{
    lk_io io = {cgi_read, cgi_write, cgi_flush, NULL};
    bool input_done = serve_request(ps, environ, io);
    lk_touch_flush(ps->db, ps->a, true);
    if (input_done)
        return;
    /* An answer sent before the body was read: read the rest, so that
     * closing with unread input does not reset the connection and lose the
     * answer (mod_cgid shares one socket both ways). */
    char sink[8192];
    size_t total = 0;
    while (total < CGI_SINK_MAX) {
        ssize_t got = cgi_read(NULL, sink, sizeof(sink));
        if (got <= 0)
            break;
        total += (size_t)got;
    }
}

/* True when a connection waits on the listening socket (fd 0): the uses
 * noted are then written later, in a batch, not between two requests. */
static bool requests_waiting(void)
{
    struct pollfd p = {.fd = FCGI_LISTENSOCK_FILENO, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* FastCGI: a supervisor of workers, or the accept loop of one; returns the
 * exit status. */
static int serve_fastcgi(process *ps)
{
    listening = 1;
    int code = ps->cfg.workers > 1 ? supervise(ps->cfg.workers) : -1;
    if (code >= 0) {
        lk_info("supervisor leaving");
        return code;
    }
    FCGX_Request rq;
    FCGX_InitRequest(&rq, 0, 0);
    lk_info("FastCGI worker ready");
    while (FCGX_Accept_r(&rq) >= 0) {
        lk_io io = {fcgi_read, fcgi_write, fcgi_flush, &rq};
        bool input_done = serve_request(ps, rq.envp, io);
        finish_fcgi(&rq, input_done);
        lk_touch_flush(ps->db, ps->a, !requests_waiting());
        lk_arena_reset(ps->a);
    }
    lk_touch_flush(ps->db, ps->a, true);
    return 0;
}

static int serve(process *ps)
{
    catch_term();
    if (!process_open(ps))
        return 1;
    int exit_code = 0;
    if (FCGX_Init() != 0) {
        fprintf(stderr, "latchkey %s: FCGX_Init failed\n", ps->prog);
        exit_code = 1;
    } else if (FCGX_IsCGI()) {
        serve_cgi(ps);
    } else {
        exit_code = serve_fastcgi(ps);
    }
    lk_info("leaving");
    process_close(ps);
    return exit_code;
}

int lk_serve(const char *prog, lk_handler handle)
{
    process ps = {.prog = prog, .handle = handle};
    return serve(&ps);
}

int lk_serve_profile(const char *prog, lk_profile_handler handle)
{
    process ps = {.prog = prog, .handle_route = handle};
    return serve(&ps);
}

/* latchkey sweep's idle refreshes (sweep.h): one connection through
 * lk_refresh, and --parallel's worker processes, each reporting "row
 * bucket error" lines on one pipe (each line one write, shorter than
 * PIPE_BUF, so lines never interleave). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conn.h"
#include "lk.h"
#include "log.h"
#include "profile.h"
#include "refresh.h"
#include "sweep.h"
#include "text.h"

sweep_bucket sweep_one(lk_db *db, lk_arena *a, const lk_config *cfg, lk_upstream *up, long idle_days,
                       const char *profile, const char *instance, const char **error)
{
    const lk_profile *p;
    lk_conn *conn;
    lk_err rc = lk_profile_load(db, a, profile, &p);
    if (rc == LK_OK)
        rc = lk_conn_load(db, a, profile, instance, &conn);
    lk_refresh_out ro = {0};
    if (rc == LK_OK) {
        /* Under the row lock the idle check is made again, so a sweep on
         * another machine or a bot's refresh in between wins. */
        lk_refresh_ctx cx = {db, a, cfg, up, "sweep", idle_days * 86400};
        rc = lk_refresh(&cx, p, conn, true, 0, &ro);
    }
    /* Others refreshing it right now: their refresh counts. The provider
     * failing while the old token was still valid (the stored token
     * served, refresh_failed): the refresh token was not kept alive, so
     * that is a failure, never a refresh. */
    if (rc == LK_OK && ro.refresh_failed && !ro.refresh_in_progress)
        rc = LK_EUNAVAILABLE;
    *error = NULL;
    if (rc == LK_OK && ro.refreshed && !ro.refresh_in_progress)
        return SWEEP_REFRESHED;
    if (rc == LK_OK || rc == LK_ENOTCONN || ro.refresh_in_progress)
        return SWEEP_SKIPPED;
    *error = lk_err_code(rc);
    return SWEEP_FAILED;
}

/* Writes all of line to fd; false when the pipe is gone. */
static bool write_line(int fd, const char *line, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, line, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        line += w;
        len -= (size_t)w;
    }
    return true;
}

/* A worker's life: its own database connection and curl handle, its share
 * of the rows, one line per row on fd; never returns. */
static void worker(const lk_config *cfg, const sweep_list *list, int k, int workers, int fd)
{
    lk_db *db = lk_db_new(cfg->database, "latchkey-sweep", cfg->connect_timeout_ms, cfg->db_timeout_ms,
                          lk_config_tx_idle_ms(cfg));
    lk_upstream *up = lk_upstream_new(cfg);
    int status = 0;
    for (int i = k; i < PQntuples(list->rows) && status == 0; i += workers) {
        lk_arena *a = lk_arena_new();
        const char *error = NULL;
        sweep_bucket b = sweep_one(db, a, cfg, up, list->idle_days, lk_db_val(list->rows, i, 0),
                                   lk_db_val(list->rows, i, 1), &error);
        char line[128];
        int len = snprintf(line, sizeof(line), "%d %d %s\n", i, (int)b, error ? error : "-");
        if (len <= 0 || (size_t)len >= sizeof(line) || !write_line(fd, line, (size_t)len))
            status = 1;
        lk_arena_free(a);
    }
    lk_upstream_free(up);
    lk_db_free(db);
    _exit(status); /* never the parent's atexit handlers nor its database connection */
}

/* Files one worker's line ("row bucket error", changed in place); false
 * when it is not one. */
static bool file_line(char *line, int rows, lk_arena *a, sweep_bucket *bucket, const char **error)
{
    line[strcspn(line, "\n")] = '\0';
    char *b = strchr(line, ' ');
    char *err = b ? strchr(b + 1, ' ') : NULL;
    if (!err || !err[1])
        return false;
    *b++ = '\0';
    *err++ = '\0';
    long long i, k;
    if (!lk_parse_int(line, 0, rows - 1, &i) || !lk_parse_int(b, SWEEP_REFRESHED, SWEEP_FAILED, &k))
        return false;
    bucket[i] = (sweep_bucket)k;
    error[i] = strcmp(err, "-") ? lk_strdup(a, err) : NULL;
    return true;
}

/* Reads the workers' lines until every worker has closed the pipe. */
static void collect(FILE *in, int rows, lk_arena *a, sweep_bucket *bucket, const char **error)
{
    char line[128];
    while (fgets(line, sizeof(line), in))
        if (!file_line(line, rows, a, bucket, error))
            lk_warn("sweep: a worker's line was not understood");
}

void sweep_parallel(const lk_config *cfg, const sweep_list *list, int workers, lk_arena *a, sweep_bucket *bucket,
                    const char **error)
{
    int rows = PQntuples(list->rows);
    for (int i = 0; i < rows; i++) {
        bucket[i] = SWEEP_FAILED;
        error[i] = lk_err_code(LK_EINTERNAL);
    }
    int fds[2];
    if (pipe(fds) != 0) {
        lk_warn("sweep: pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL); /* nothing buffered is written twice */
    pid_t pids[SWEEP_PARALLEL_MAX];
    int started = 0;
    for (int k = 0; k < workers && k < rows; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            worker(cfg, list, k, workers, fds[1]);
        }
        if (pid < 0) {
            lk_warn("sweep: fork: %s", strerror(errno));
            break;
        }
        pids[started++] = pid;
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    if (in) {
        collect(in, rows, a, bucket, error);
        fclose(in);
    } else {
        close(fds[0]);
    }
    for (int k = 0; k < started; k++) {
        int st;
        while (waitpid(pids[k], &st, 0) < 0 && errno == EINTR)
            ;
    }
}

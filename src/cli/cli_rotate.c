/* latchkey rotate-key NEW_KEY_FILE: adds a key to the ring and re-seals
 * every secret under it, row by row under the row's lock, while running
 * processes keep working (they load a key they do not know yet when they
 * meet a value sealed under it). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "crypto.h"
#include "text.h"

static const char USAGE[] = "usage: latchkey rotate-key NEW_KEY_FILE\n"
                            "  Adds the key (base64 of 32 random bytes, mode 0600) to the key ring\n"
                            "  as the newest, which seals from now on, and re-seals every stored\n"
                            "  secret under it. Older keys stay in the ring (they still open what a\n"
                            "  running process seals before it is restarted); remove one only after\n"
                            "  restarting the programs and rotating again.\n";

/* One sealed column: its rows, one row locked, and the update. */
typedef struct column {
    const char *table, *name;
    lk_stmt list, lock, update;
} column;

/* split_part(value, '.', 2) is the key id of "lk1.<kid>.<blob>". */
#define COLUMN(t, c)                                                                                                   \
    {                                                                                                                  \
        t, c,                                                                                                          \
            LK_STMT("rk_list_" t "_" c,                                                                                \
                    "SELECT id FROM " t " WHERE " c " IS NOT NULL AND split_part(" c ", '.', 2) <> $1 "                \
                    "ORDER BY id",                                                                                     \
                    1),                                                                                                \
            LK_STMT("rk_lock_" t "_" c, "SELECT " c " FROM " t " WHERE id = $1 FOR UPDATE", 1),                        \
            LK_STMT("rk_update_" t "_" c, "UPDATE " t " SET " c " = $2 WHERE id = $1", 2)                              \
    }

static column columns[] = {
    COLUMN("profiles", "client_secret"),
    COLUMN("profiles", "credential"),
    COLUMN("profile_clients", "client_secret"),
    COLUMN("connections", "access_token"),
    COLUMN("connections", "refresh_token"),
    COLUMN("flows", "pkce_verifier"),
    COLUMN("webhooks", "secret"),
    COLUMN("webhooks", "previous_secret"),
};

/* Writes the key as <next id>.key in the ring's directory, owned like the
 * directory (the programs' user) and readable by it alone. */
static int add_key_file(cli *c, const unsigned char key[LK_KEY_LEN], unsigned *id)
{
    const lk_keyring *kr = &c->cfg.keys;
    *id = kr->n ? kr->keys[kr->n - 1].id + 1 : 1;
    for (size_t i = 0; i < kr->n; i++)
        if (!memcmp(kr->keys[i].key, key, LK_KEY_LEN))
            return cli_fail("rotate-key: this key is in the ring already (id %u)", kr->keys[i].id);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%u.key", c->cfg.keyring, *id);
    struct stat dir;
    if (stat(c->cfg.keyring, &dir) != 0)
        return cli_fail("rotate-key: cannot read %s", c->cfg.keyring);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return cli_fail("rotate-key: cannot create %s: %s", path, strerror(errno));
    char *text = lk_printf(c->a, "%s\n", lk_b64_encode(c->a, key, LK_KEY_LEN));
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0;
    if (ok && geteuid() == 0)
        ok = fchown(fd, dir.st_uid, dir.st_gid) == 0;
    close(fd);
    if (!ok) {
        unlink(path);
        return cli_fail("rotate-key: cannot write %s", path);
    }
    return 0;
}

static lk_err reseal_row(cli *c, column *col, const char *id, long *done)
{
    lk_arena *a = c->a;
    PGresult *res = NULL;
    lk_err rc = lk_db_begin(c->db);
    if (rc == LK_OK) {
        const char *params[] = {id};
        rc = lk_db_exec(c->db, a, &col->lock, params, &res);
    }
    const char *sealed = rc == LK_OK && PQntuples(res) == 1 ? lk_db_val(res, 0, 0) : NULL;
    const lk_keyring *kr = &c->cfg.keys;
    if (rc == LK_OK && sealed && lk_sealed_kid(sealed) != kr->keys[kr->n - 1].id) {
        char *plain = NULL, *resealed = NULL;
        size_t n = 0;
        rc = lk_unseal(a, kr, col->table, col->name, id, sealed, &plain, &n);
        if (rc == LK_OK)
            rc = lk_seal(a, kr, col->table, col->name, id, plain, n, &resealed);
        if (rc == LK_OK) {
            const char *up[] = {id, resealed};
            rc = lk_db_exec(c->db, a, &col->update, up, NULL);
        }
        if (rc == LK_OK)
            (*done)++;
    }
    if (rc == LK_OK)
        rc = lk_db_commit(c->db);
    else
        lk_db_rollback(c->db);
    return rc;
}

int cli_rotate_key(cli *c, int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(USAGE, argc == 2 ? stdout : stderr);
        return argc == 2 ? 0 : 2;
    }
    unsigned char key[LK_KEY_LEN];
    char err[512];
    if (lk_key_file_read(argv[1], key, err, sizeof(err)) != LK_OK)
        return cli_fail("rotate-key: %s", err);
    if (cli_db(c))
        return 1;
    unsigned id;
    if (add_key_file(c, key, &id))
        return 1;
    /* From here on the new key seals: load the ring again with it. */
    lk_keyring_clear(&c->cfg.keys);
    if (lk_keyring_load(&c->cfg.keys, c->cfg.keyring, err, sizeof(err)) != LK_OK)
        return cli_fail("rotate-key: %s", err);
    if (c->cfg.keys.keys[c->cfg.keys.n - 1].id != id)
        return cli_fail("rotate-key: the new key is not the newest in the ring");
    long done = 0, failed = 0;
    const char *kid = lk_printf(c->a, "%u", id);
    for (size_t i = 0; i < LK_ARRAY_LEN(columns); i++) {
        const char *params[] = {kid};
        PGresult *res;
        lk_err rc = lk_db_exec(c->db, c->a, &columns[i].list, params, &res);
        if (rc != LK_OK)
            return cli_fail("rotate-key: %s", cli_reason(rc));
        for (int r = 0; r < PQntuples(res); r++) {
            rc = reseal_row(c, &columns[i], lk_db_val(res, r, 0), &done);
            if (rc != LK_OK) {
                failed++;
                fprintf(stderr, "latchkey: rotate-key: %s row %s: %s\n", columns[i].table, lk_db_val(res, r, 0),
                        cli_reason(rc));
            }
        }
    }
    if (c->json) {
        json_object *o = lk_json_object(c->a);
        lk_json_set_int(o, "key_id", id);
        lk_json_set_int(o, "resealed", done);
        lk_json_set_int(o, "failed", failed);
        cli_print_json(o);
    } else {
        printf("key %u added; %ld secrets re-sealed under it%s\n", id, done, failed ? " (some failed)" : "");
    }
    return failed ? 1 : 0;
}

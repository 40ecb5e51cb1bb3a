/* lk_storage_to_md on any storage text: it answers LK_OK, LK_EINVAL (not
 * well-formed) or LK_ETOOBIG, reads no byte out of bounds (ASan) and ends
 * in time (libFuzzer's -timeout); it accepts only what the independent
 * libxml2 parse accepts; its Markdown writes back as well-formed storage,
 * after which storage -> Markdown -> storage changes nothing. */
#include "fuzz.h"

#include "arena.h"
#include "markdown.h"
#include "storage_oracle.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    oracle_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lk_arena *a = lk_arena_new();
    char *x = fuzz_str(data, size);
    char *m = NULL, *s = NULL;
    lk_err rc = lk_storage_to_md(a, x, size, &m);
    FUZZ_CHECK(rc == LK_OK || rc == LK_EINVAL || rc == LK_ETOOBIG, "rc %d", rc);
    if (rc != LK_ETOOBIG)
        FUZZ_CHECK((rc == LK_OK) == oracle_well_formed(x, size), "rc %d differs from the reference parse", rc);
    if (rc == LK_OK) {
        rc = lk_md_to_storage(a, m, strlen(m), &s);
        FUZZ_CHECK(rc == LK_OK || rc == LK_ETOOBIG, "own Markdown unwritable (%d): %s", rc, m);
    }
    if (rc == LK_OK && s) {
        FUZZ_CHECK(oracle_well_formed(s, strlen(s)), "not well-formed: %s", s);
        oracle_fixed_point(a, s);
    }
    free(x);
    lk_arena_free(a);
    return 0;
}

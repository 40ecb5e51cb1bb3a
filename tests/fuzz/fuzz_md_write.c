/* lk_md_to_storage on any Markdown: it answers LK_OK, LK_EINVAL (a raw
 * block that is not storage, nesting too deep) or LK_ETOOBIG; what it
 * writes is well-formed XML inside the storage wrapper (an independent
 * libxml2 parse), reads back as Markdown, and from the second round on
 * storage -> Markdown -> storage changes nothing. */
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
    char *md = fuzz_str(data, size);
    char *s1 = NULL, *m1 = NULL, *s2 = NULL;
    lk_err rc = lk_md_to_storage(a, md, size, &s1);
    FUZZ_CHECK(rc == LK_OK || rc == LK_EINVAL || rc == LK_ETOOBIG, "rc %d", rc);
    if (rc == LK_OK) {
        FUZZ_CHECK(oracle_well_formed(s1, strlen(s1)), "not well-formed: %s", s1);
        rc = lk_storage_to_md(a, s1, strlen(s1), &m1);
        FUZZ_CHECK(rc == LK_OK || rc == LK_ETOOBIG, "own storage unreadable (%d): %s", rc, s1);
    }
    if (rc == LK_OK && m1) {
        rc = lk_md_to_storage(a, m1, strlen(m1), &s2);
        FUZZ_CHECK(rc == LK_OK || rc == LK_ETOOBIG, "own Markdown unwritable (%d): %s", rc, m1);
        if (rc == LK_OK)
            oracle_fixed_point(a, s2);
    }
    free(md);
    lk_arena_free(a);
    return 0;
}

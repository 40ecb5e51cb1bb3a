/* For the Markdown fuzz targets: an independent check that a text is
 * well-formed storage format (libxml2 with a DOCTYPE that declares every
 * HTML 4 named entity and a root that declares Confluence's prefixes), and
 * the round trip both targets end with. */
#ifndef LK_STORAGE_ORACLE_H
#define LK_STORAGE_ORACLE_H

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>

#include "fuzz.h"
#include "markdown.h"

static char *oracle_head;
static size_t oracle_head_len;

/* The DOCTYPE and root start, once: libxml2's entity table read back by
 * code point (no entity names over U+2666). */
static void oracle_init(void)
{
    size_t cap = 64 * 1024, n = 0;
    oracle_head = malloc(cap);
    if (!oracle_head)
        abort();
    n += (size_t)snprintf(oracle_head + n, cap - n, "<!DOCTYPE r [");
    for (unsigned c = 1; c < 0x2667; c++) {
        const htmlEntityDesc *e = htmlEntityValueLookup(c);
        if (e && !strchr("&<>\"'", (int)c)) /* XML's own five */
            n += (size_t)snprintf(oracle_head + n, cap - n, "<!ENTITY %s \"&#%u;\">", e->name, c);
    }
    n += (size_t)snprintf(oracle_head + n, cap - n, "]><r xmlns:ac=\"a\" xmlns:ri=\"b\" xmlns:at=\"c\">");
    FUZZ_CHECK(n < cap, "entity table too large");
    oracle_head_len = n;
}

static bool oracle_well_formed(const char *s, size_t n)
{
    /* XML 1.0 §2.2: no document holds U+0000, and libxml2 takes a NUL
     * after the root element for the end of the input: "b</r>\0..."
     * closed this root and passed. */
    if (memchr(s, '\0', n))
        return false;
    size_t len = oracle_head_len + n + 4;
    char *t = malloc(len);
    if (!t)
        abort();
    memcpy(t, oracle_head, oracle_head_len);
    memcpy(t + oracle_head_len, s, n);
    memcpy(t + oracle_head_len + n, "</r>", 4);
    xmlDocPtr doc =
        xmlReadMemory(t, (int)len, NULL, "UTF-8", XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    free(t);
    bool ok = doc != NULL;
    xmlFreeDoc(doc);
    return ok;
}

/* storage -> md -> storage from s1 (our own storage): each step succeeds
 * (or hits the size cap), and the second storage is the first. */
static void oracle_fixed_point(lk_arena *a, const char *s1)
{
    char *m = NULL, *s2 = NULL;
    lk_err rc = lk_storage_to_md(a, s1, strlen(s1), &m);
    if (rc == LK_ETOOBIG)
        return;
    FUZZ_CHECK(rc == LK_OK, "own storage unreadable (%d): %s", rc, s1);
    rc = lk_md_to_storage(a, m, strlen(m), &s2);
    if (rc == LK_ETOOBIG)
        return;
    FUZZ_CHECK(rc == LK_OK, "own Markdown unwritable (%d): %s", rc, m);
    FUZZ_CHECK(!strcmp(s1, s2), "not a fixed point:\n%s\n---md---\n%s\n---\n%s", s1, m, s2);
}

#endif

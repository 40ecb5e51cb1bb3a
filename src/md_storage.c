/* Storage format, parsed (markdown.h has the rules): libxml2 reads the
 * storage text inside a root element that declares Confluence's prefixes;
 * HTML named entities come from libxml2's own table. Each element
 * remembers where its bytes lie in the input, so that what Markdown cannot
 * carry is written out exactly as it came. */
#include <libxml/HTMLparser.h>
#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <stdio.h>
#include <string.h>

#include "md_read_int.h"

static const char WRAP_OPEN[] = "<lk-storage xmlns:ac=\"http://atlassian.com/content\" "
                                "xmlns:ri=\"http://atlassian.com/resource/identifier\" "
                                "xmlns:at=\"http://atlassian.com/template\">";
static const char WRAP_CLOSE[] = "</lk-storage>";

/* The parser is past the start tag's name and attributes: the tag starts
 * at the '<' before, as no '<' can stand inside a tag (XML 1.0 §3.1). */
static void on_start(void *ctx, const xmlChar *name, const xmlChar *prefix, const xmlChar *uri, int nns,
                     const xmlChar **ns, int nattr, int ndef, const xmlChar **attrs)
{
    xmlParserCtxtPtr ctxt = ctx;
    xmlNodePtr parent = ctxt->node;
    xmlSAX2StartElementNs(ctx, name, prefix, uri, nns, ns, nattr, ndef, attrs);
    const mdr_src *p = ctxt->_private;
    /* cppcheck-suppress knownConditionTrueFalse ; the SAX2 call pushed the new node */
    if (!p || !ctxt->node || ctxt->node == parent || ctxt->inputNr != 1)
        return;
    long at = xmlByteConsumed(ctxt);
    if (at < 0 || (size_t)at >= p->n)
        return;
    size_t s = (size_t)at;
    while (s > 0 && p->text[s] != '<')
        s--;
    mdr_span *sp = lk_alloc(p->a, sizeof *sp);
    sp->start = s;
    sp->end = s;
    ctxt->node->_private = sp;
}

/* The parser is just past the end tag (or the "/>" of an empty one). */
static void on_end(void *ctx, const xmlChar *name, const xmlChar *prefix, const xmlChar *uri)
{
    xmlParserCtxtPtr ctxt = ctx;
    const mdr_src *p = ctxt->_private;
    if (p && ctxt->node && ctxt->node->_private && ctxt->inputNr == 1) {
        mdr_span *sp = ctxt->node->_private;
        long at = xmlByteConsumed(ctxt);
        if (at > 0 && (size_t)at <= p->n && (size_t)at > sp->start)
            sp->end = (size_t)at;
    }
    xmlSAX2EndElementNs(ctx, name, prefix, uri);
}

/* Storage uses HTML's named entities without declaring them: each one met
 * is declared on the fly as its character reference. */
static xmlEntityPtr on_entity(void *ctx, const xmlChar *name)
{
    xmlParserCtxtPtr ctxt = ctx;
    xmlEntityPtr e = xmlSAX2GetEntity(ctx, name);
    if (e || !ctxt->myDoc)
        return e;
    const htmlEntityDesc *h = htmlEntityLookup(name);
    if (!h)
        return NULL;
    if (!ctxt->myDoc->intSubset && !xmlCreateIntSubset(ctxt->myDoc, BAD_CAST "lk-storage", NULL, NULL))
        return NULL;
    char ref[16];
    snprintf(ref, sizeof ref, "&#%u;", h->value);
    return xmlAddDocEntity(ctxt->myDoc, name, XML_INTERNAL_GENERAL_ENTITY, NULL, NULL, BAD_CAST ref);
}

static void on_error(void *ctx, xmlErrorPtr err)
{
    (void)ctx;
    (void)err;
}

/* Parses x[0..n) inside the wrapper; *doc is the caller's to free. */
lk_err mdr_storage_parse(lk_arena *a, const char *x, size_t n, mdr_src *p, xmlDocPtr *doc)
{
    *doc = NULL;
    if (n > LK_STORAGE_MAX)
        return LK_ETOOBIG;
    lk_buf w;
    lk_buf_init(&w, a, LK_STORAGE_MAX + sizeof WRAP_OPEN + sizeof WRAP_CLOSE);
    if (lk_buf_adds(&w, WRAP_OPEN) != LK_OK || lk_buf_add(&w, x, n) != LK_OK || lk_buf_adds(&w, WRAP_CLOSE) != LK_OK)
        return LK_ETOOBIG;
    p->a = a;
    p->text = lk_buf_str(&w);
    p->n = w.len;
    xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(p->text, (int)p->n);
    if (!ctxt)
        return LK_EINTERNAL;
    xmlCtxtUseOptions(ctxt,
                      XML_PARSE_NOENT | XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    ctxt->sax->startElementNs = on_start;
    ctxt->sax->endElementNs = on_end;
    ctxt->sax->getEntity = on_entity;
    ctxt->sax->serror = on_error;
    ctxt->_private = p;
    xmlParseDocument(ctxt);
    lk_err rc = ctxt->wellFormed && ctxt->myDoc ? LK_OK : LK_EINVAL;
    if (rc == LK_OK)
        *doc = ctxt->myDoc;
    else if (ctxt->myDoc)
        xmlFreeDoc(ctxt->myDoc);
    ctxt->myDoc = NULL;
    xmlFreeParserCtxt(ctxt);
    return rc;
}

lk_err lk_storage_check(const char *xhtml, size_t n)
{
    lk_arena *a = lk_arena_new();
    mdr_src p;
    xmlDocPtr doc;
    lk_err rc = mdr_storage_parse(a, xhtml, n, &p, &doc);
    if (doc)
        xmlFreeDoc(doc);
    lk_arena_free(a);
    return rc;
}

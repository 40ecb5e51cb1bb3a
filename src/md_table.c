/* Storage tables as GFM tables, when Markdown can carry them: one header
 * row (or none, read as an empty one), cells of inline content without
 * spans; else the table stays verbatim. */
#include <string.h>

#include "md_read_int.h"

/* A cell's inline content in *body: its children, or those of its one <p>;
 * false when it holds blocks. */
static bool cell_inline(mdr_rd *r, const xmlNode *cell, const xmlNode **body)
{
    const xmlNode *only = mdr_skip_blank(cell->children);
    if (mdr_is_el(only, NULL, "p") && !mdr_skip_blank(only->next)) {
        *body = only->children;
        return true;
    }
    for (const xmlNode *c = cell->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && mdr_is_block(r, c))
            return false;
    *body = cell->children;
    return true;
}

static bool is_cell(const xmlNode *c)
{
    if (!mdr_is_el(c, NULL, "th") && !mdr_is_el(c, NULL, "td"))
        return false;
    static const char *const span_attrs[] = {"colspan", "rowspan"};
    for (size_t i = 0; i < LK_ARRAY_LEN(span_attrs); i++) {
        xmlChar *v = xmlGetNoNsProp(c, BAD_CAST span_attrs[i]);
        bool one = !v || !strcmp((const char *)v, "1");
        xmlFree(v);
        if (!one)
            return false;
    }
    return true;
}

/* The rows of a table (directly or in thead/tbody/tfoot), colgroups aside. */
static size_t table_rows(const xmlNode *t, const xmlNode **rows, size_t max)
{
    size_t n = 0;
    for (const xmlNode *c = mdr_skip_blank(t->children); c; c = mdr_skip_blank(c->next)) {
        if (mdr_is_el(c, NULL, "colgroup"))
            continue;
        bool section = mdr_is_el(c, NULL, "thead") || mdr_is_el(c, NULL, "tbody") || mdr_is_el(c, NULL, "tfoot");
        const xmlNode *tr = section ? mdr_skip_blank(c->children) : c;
        for (; tr; tr = section ? mdr_skip_blank(tr->next) : NULL) {
            if (!mdr_is_el(tr, NULL, "tr") || n == max)
                return 0;
            rows[n++] = tr;
        }
    }
    return n;
}

/* One row's cells rendered; false when the row cannot be a Markdown row
 * (its header cells are not all th or all td as asked, a cell holds blocks). */
static bool table_row(mdr_rd *r, const xmlNode *tr, bool th, const char **cells, size_t ncols, int depth)
{
    size_t i = 0;
    for (const xmlNode *c = mdr_skip_blank(tr->children); c; c = mdr_skip_blank(c->next)) {
        if (!is_cell(c) || i == ncols || mdr_is_el(c, NULL, "th") != th)
            return false;
        const xmlNode *body;
        if (!cell_inline(r, c, &body))
            return false;
        mdr_inl in;
        mdr_inl_init(&in, r, MDR_IN_ONE_LINE | MDR_IN_CELL, false);
        mdr_inline_nodes(&in, body, NULL, depth + 1);
        size_t len;
        cells[i++] = mdr_inline_done(&in, &len);
        if (in.fail)
            return false;
    }
    return i == ncols;
}

static void table_line(mdr_rd *r, const char **cells, size_t ncols)
{
    mdr_line_start(r);
    for (size_t i = 0; i < ncols; i++) {
        mdr_puts(r, &r->out, i ? " | " : "| ");
        mdr_puts(r, &r->out, cells[i]);
    }
    mdr_puts(r, &r->out, " |\n");
}

/* A GFM table: its first row of th is the header; without one, the header
 * row is empty (and writes back as none). */
bool mdr_table(mdr_rd *r, const xmlNode *t, int depth)
{
    size_t max = 1;
    for (const xmlNode *c = t->children; c; c = c->next) {
        max++;
        for (const xmlNode *g = c->children; g; g = g->next)
            max++;
    }
    const xmlNode **rows = lk_alloc(r->a, max * sizeof(const xmlNode *)); // NOLINT(bugprone-sizeof-expression)
    size_t nrows = table_rows(t, rows, max);
    size_t ncols = 0;
    for (const xmlNode *c = nrows ? mdr_skip_blank(rows[0]->children) : NULL; c; c = mdr_skip_blank(c->next))
        ncols++;
    if (!nrows || !ncols)
        return false;
    const xmlNode *first = mdr_skip_blank(rows[0]->children);
    bool header = mdr_is_el(first, NULL, "th");
    const char ***cells = lk_alloc(r->a, (nrows + 1) * sizeof *cells);
    for (size_t i = 0; i <= nrows; i++)
        cells[i] = lk_alloc(r->a, ncols * sizeof **cells);
    for (size_t i = 0; i < ncols; i++)
        cells[0][i] = "";
    bool empty_head = true;
    for (size_t i = 0; i < nrows; i++) {
        bool th = header && i == 0;
        if (!table_row(r, rows[i], th, cells[header ? i : i + 1], ncols, depth))
            return false;
        for (size_t j = 0; th && j < ncols; j++)
            empty_head = empty_head && !*cells[0][j];
    }
    if (header && empty_head)
        return false; /* an empty header row would write back as none */
    mdr_begin_block(r);
    table_line(r, cells[0], ncols);
    mdr_line_start(r);
    for (size_t i = 0; i < ncols; i++)
        mdr_puts(r, &r->out, i ? " | ---" : "| ---");
    mdr_puts(r, &r->out, " |\n");
    for (size_t i = 1; i < nrows + (header ? 0 : 1); i++)
        table_line(r, cells[i], ncols);
    mdr_end_block(r);
    return true;
}

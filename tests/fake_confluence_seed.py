"""Seeded Confluence data for tests/fake_confluence.py (standard library only).

Every wiki (one per cloud id, one for the Data Center server) starts with the
same spaces, pages, a blog post, footer comments and labels, with the same
ids, so tests can name them.  Everything here is deterministic.
"""

SEED_WHEN = "2024-05-01T10:00:00.000Z"
SEED_AUTHOR = "5b10a2844c20165700ede21g"

# Spaces: ENG and OPS first (the proxy tests list two and expect these), DOCS last.
SPACES = [
    {"id": "98306", "key": "ENG", "name": "Engineering", "homepageId": "65537"},
    {"id": "98307", "key": "OPS", "name": "Operations", "homepageId": "65545"},
    {"id": "98308", "key": "DOCS", "name": "Documentation", "homepageId": "65541"},
]

# Ids of the seeded content, for tests.
ENG_HOME = "65537"
CONSTRUCTS = "65538"      # a page with every storage construct
RUNBOOK = "65539"
BIG = "65540"             # a page of at least BIG_MIN bytes of storage format
DOCS_HOME = "65541"
STYLE_GUIDE = "65542"
BLOG = "65543"
COMMENTS = ("65544", "65546")
OPS_HOME = "65545"
FIRST_FREE_ID = 70000
BIG_MIN = 50 * 1024

CONSTRUCTS_BODY = (
    "<h1>Architecture</h1>"
    "<p>Intro with <strong>bold</strong>, <em>italic</em>, <code>inline code</code>, "
    "an entity &amp; a &lt;tag&gt; and a <a href=\"https://example.com/docs?a=1&amp;b=2\">link</a>.</p>"
    "<h2>Lists</h2>"
    "<ul><li>one<ul><li>nested one</li><li>nested two</li></ul></li><li>two</li></ul>"
    "<ol><li>first</li><li>second</li></ol>"
    "<h2>Code</h2>"
    "<ac:structured-macro ac:name=\"code\" ac:schema-version=\"1\" "
    "ac:macro-id=\"3c2f1a9e-0b1d-4c55-9a51-6f3e0c2b7d10\">"
    "<ac:parameter ac:name=\"language\">python</ac:parameter>"
    "<ac:plain-text-body><![CDATA[def check(x):\n    return x < 1 and \"a&b\" != '<p>'\n]]>"
    "</ac:plain-text-body></ac:structured-macro>"
    "<h2>Table</h2>"
    "<table><tbody><tr><th><p>Name</p></th><th><p>Value</p></th></tr>"
    "<tr><td><p>alpha</p></td><td><p>1</p></td></tr>"
    "<tr><td><p>beta</p></td><td><p>2</p></td></tr></tbody></table>"
    "<h2>Images</h2>"
    "<p><ac:image ac:alt=\"diagram\"><ri:url ri:value=\"https://example.com/diagram.png\" /></ac:image></p>"
    "<p><ac:image><ri:attachment ri:filename=\"arch.png\" /></ac:image></p>"
    "<ac:structured-macro ac:name=\"toc\" ac:schema-version=\"1\" "
    "ac:macro-id=\"7a9d4c1e-55b2-4e0f-8d6a-0c1b2a3d4e5f\">"
    "<ac:parameter ac:name=\"maxLevel\">2</ac:parameter></ac:structured-macro>"
    "<ac:structured-macro ac:name=\"info\" ac:schema-version=\"1\" "
    "ac:macro-id=\"b1e2c3d4-a5b6-4c7d-8e9f-0a1b2c3d4e5f\">"
    "<ac:rich-text-body><p>Note: deploys freeze on Fridays.</p></ac:rich-text-body>"
    "</ac:structured-macro>"
)


def big_body():
    """At least BIG_MIN bytes of ordinary storage format: sections of
    headings, paragraphs, lists, a table and a code macro."""
    parts = ["<h1>Big page</h1>"]
    i = 0
    while sum(len(p) for p in parts) < BIG_MIN:
        i += 1
        parts.append(
            "<h2>Section %d</h2><p>Paragraph %d with <strong>bold</strong> and <em>italic</em> "
            "text, a <a href=\"https://example.com/s/%d\">link</a> and some filler words to make "
            "the page long enough for a benchmark.</p>"
            "<ul><li>item %d.1</li><li>item %d.2<ul><li>nested %d</li></ul></li></ul>"
            "<table><tbody><tr><th><p>k</p></th><th><p>v</p></th></tr>"
            "<tr><td><p>row %d</p></td><td><p>%d</p></td></tr></tbody></table>"
            "<ac:structured-macro ac:name=\"code\" ac:schema-version=\"1\">"
            "<ac:parameter ac:name=\"language\">bash</ac:parameter>"
            "<ac:plain-text-body><![CDATA[echo section %d && exit 0]]></ac:plain-text-body>"
            "</ac:structured-macro>" % ((i,) * 9))
    return "".join(parts)


def _page(pid, space, title, body, parent=None, ctype="page", labels=()):
    return {"id": pid, "type": ctype, "status": "current", "title": title, "spaceKey": space,
            "parentId": parent, "createdAt": SEED_WHEN, "authorId": SEED_AUTHOR,
            "versions": [{"number": 1, "title": title, "body": body, "when": SEED_WHEN,
                          "message": "", "minorEdit": False}],
            "labels": [{"id": str(900000 + int(pid) * 10 + n), "name": name, "prefix": "global"}
                       for n, name in enumerate(labels)]}


def content():
    """{id: item}: the seeded pages, blog post and footer comments."""
    items = [
        _page(ENG_HOME, "ENG", "Engineering Home", "<p>Welcome to Engineering.</p>"),
        _page(CONSTRUCTS, "ENG", "Architecture Overview", CONSTRUCTS_BODY, ENG_HOME,
              labels=("architecture", "design")),
        _page(RUNBOOK, "ENG", "On-call Runbook",
              "<h2>Paging</h2><p>Check the dashboard, then the logs.</p>", ENG_HOME, labels=("runbook",)),
        _page(BIG, "ENG", "Big Page", big_body(), ENG_HOME),
        _page(DOCS_HOME, "DOCS", "Documentation Home", "<p>All the docs.</p>"),
        _page(STYLE_GUIDE, "DOCS", "Style Guide", "<p>Write short sentences. Use the active voice.</p>",
              DOCS_HOME, labels=("style",)),
        _page(OPS_HOME, "OPS", "Operations Home", "<p>Operations.</p>"),
        _page(BLOG, "ENG", "Release notes 1.0", "<p>We shipped 1.0.</p>", ctype="blogpost"),
        _page(COMMENTS[0], "ENG", "Re: Architecture Overview", "<p>Looks good to me.</p>", CONSTRUCTS,
              ctype="comment"),
        _page(COMMENTS[1], "ENG", "Re: Architecture Overview", "<p>What about the cache?</p>", CONSTRUCTS,
              ctype="comment"),
    ]
    return {i["id"]: i for i in items}

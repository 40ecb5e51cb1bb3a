"""Confluence's REST API for tests/fake_provider.py (standard library only).

Atlassian Cloud's v2 (/wiki/api/v2) and v1 (/wiki/rest/api) routes that the
MCP tools use, and the same v1 routes as Data Center serves them (/rest/api).
One Wiki per cloud id (and one for the Data Center server), seeded from
fake_confluence_seed.  handle() checks the scopes Atlassian's API reference
gives for each operation (the "Current" classic scope or the granular set on
v1, granular only on v2) and answers (status, JSON object or None, headers),
or None for a path it does not serve.  The caller holds the provider's lock.
"""

import base64
import html
import json
import re
import time
import urllib.parse

import fake_confluence_seed as seed

SCOPE_MISMATCH = {"code": 401, "message": "Unauthorized; scope does not match"}
CONTENT_SUMMARY = [["read:confluence-content.summary"], ["read:confluence-content.all"]]
V1_READ = (CONTENT_SUMMARY, ["read:content-details:confluence"])
V1_WRITE = ([["write:confluence-content"]], ["read:content-details:confluence", "write:content:confluence"])

# (method, path pattern, handler, (classic alternatives or None, granular scopes))
V2_ROUTES = [
    ("GET", r"spaces", "v2_spaces", (None, ["read:space:confluence"])),
    ("GET", r"spaces/(\d+)", "v2_space", (None, ["read:space:confluence"])),
    ("GET", r"pages", "v2_pages", (None, ["read:page:confluence"])),
    ("POST", r"pages", "v2_create_page", (None, ["write:page:confluence"])),
    ("GET", r"pages/(\d+)", "v2_page", (None, ["read:page:confluence"])),
    ("PUT", r"pages/(\d+)", "v2_update_page", (None, ["write:page:confluence"])),
    ("DELETE", r"pages/(\d+)", "v2_delete_page", (None, ["delete:page:confluence"])),
    ("GET", r"pages/(\d+)/children", "v2_children", (None, ["read:page:confluence"])),
    ("GET", r"pages/(\d+)/footer-comments", "v2_comments", (None, ["read:comment:confluence"])),
    ("POST", r"footer-comments", "v2_add_comment", (None, ["write:comment:confluence"])),
    ("GET", r"pages/(\d+)/labels", "v2_labels", (None, ["read:label:confluence"])),
    ("POST", r"blogposts", "v2_create_blogpost", (None, ["write:blogpost:confluence"])),
    ("GET", r"blogposts/(\d+)", "v2_blogpost", (None, ["read:blogpost:confluence"])),
]
V1_ROUTES = [
    ("GET", r"space", "v1_spaces", ([["read:confluence-space.summary"]], ["read:content-details:confluence"])),
    ("GET", r"space/([^/]+)", "v1_space", ([["read:confluence-space.summary"]],
                                            ["read:content-details:confluence"])),
    ("GET", r"content", "v1_list", V1_READ),
    ("POST", r"content", "v1_create", V1_WRITE),
    ("GET", r"content/search", "v1_search", ([["search:confluence"]], ["read:content-details:confluence"])),
    ("GET", r"search", "v1_search_results", ([["search:confluence"]], ["read:content-details:confluence"])),
    ("GET", r"content/(\d+)", "v1_get", V1_READ),
    ("PUT", r"content/(\d+)", "v1_update", V1_WRITE),
    ("DELETE", r"content/(\d+)", "v1_delete", ([["write:confluence-content"]], ["delete:content:confluence"])),
    ("GET", r"content/(\d+)/child/(page|comment|blogpost)", "v1_children", V1_READ),
    ("GET", r"content/(\d+)/label", "v1_labels", (CONTENT_SUMMARY, ["read:label:confluence"])),
    ("POST", r"content/(\d+)/label", "v1_add_labels", ([["write:confluence-content"]],
                                                        ["read:label:confluence", "write:label:confluence"])),
]
CQL_CLAUSE = re.compile(
    r'\s*(type|space|space\.key|title|text)\s*(=|~|\bin\b)\s*'
    r'("(?:[^"\\]|\\.)*"|\((?:[^)"]|"[^"]*")*\)|[^\s()"]+)\s*', re.I)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def scope_ok(rule, scopes):
    """scopes None: an unscoped credential (API token, PAT). Else the
    granular set, all of it, or (v1) one classic alternative."""
    if scopes is None:
        return True
    classic, granular = rule
    if all(s in scopes for s in granular):
        return True
    return any(all(s in scopes for s in alt) for alt in classic or [])


def v2_error(status, title, code=None):
    codes = {400: "INVALID_REQUEST_PARAMETER", 404: "NOT_FOUND", 409: "CONFLICT"}
    return status, {"errors": [{"status": status, "code": code or codes.get(status, "ERROR"),
                                "title": title, "detail": None}]}, []


def v1_error(status, message):
    return status, {"statusCode": status, "data": {"authorized": status != 403, "valid": status != 400,
                                                   "errors": [], "successful": False},
                    "message": message}, []


class BadRequest(Exception):
    pass


class Wiki:
    """One site's spaces and content: items with every stored version."""

    def __init__(self, base, dc=False):
        self.base = base            # _links.base: https://host/wiki (Cloud) or https://host (DC)
        self.dc = dc
        self.spaces = [dict(s, type="global", status="current") for s in seed.SPACES]
        self.items = seed.content()
        self.seq = seed.FIRST_FREE_ID

    # -- lookups -------------------------------------------------------------
    def space_by_key(self, key):
        return next((s for s in self.spaces if s["key"] == key), None)

    def space_by_id(self, sid):
        return next((s for s in self.spaces if s["id"] == str(sid)), None)

    def live(self, cid, ctype=None):
        it = self.items.get(str(cid))
        if it is None or it["status"] != "current" or (ctype and it["type"] != ctype):
            return None
        return it

    def listing(self, pred):
        return [it for _, it in sorted(self.items.items(), key=lambda kv: int(kv[0]))
                if it["status"] == "current" and pred(it)]

    def webui(self, it):
        if self.dc:
            return "/display/%s/%s" % (it["spaceKey"], urllib.parse.quote_plus(it["title"]))
        kind = {"page": "pages", "blogpost": "blog"}.get(it["type"], "pages")
        return "/spaces/%s/%s/%s/%s" % (it["spaceKey"], kind, it["id"], urllib.parse.quote_plus(it["title"]))

    # -- writes --------------------------------------------------------------
    def create(self, ctype, space, title, body, parent, now):
        self.seq += 1
        it = {"id": str(self.seq), "type": ctype, "status": "current", "title": title, "spaceKey": space["key"],
              "parentId": parent, "createdAt": iso(now), "authorId": seed.SEED_AUTHOR, "labels": [],
              "versions": [{"number": 1, "title": title, "body": body, "when": iso(now), "message": "",
                            "minorEdit": False}]}
        self.items[it["id"]] = it
        return it

    def update(self, it, number, title, body, message, now):
        """Stores version number; False when it is not the current + 1."""
        if number != it["versions"][-1]["number"] + 1:
            return False
        it["title"] = title
        it["versions"].append({"number": number, "title": title, "body": body, "when": iso(now),
                               "message": message or "", "minorEdit": False})
        return True

    def add_label(self, it, name, prefix="global"):
        if not any(lb["name"] == name for lb in it["labels"]):
            self.seq += 1
            it["labels"].append({"id": str(self.seq), "name": name, "prefix": prefix})

    def view(self):
        """What the admin switches show: everything stored."""
        return {"base": self.base, "spaces": self.spaces, "content": self.items}


# ------------------------------------------------------------------ v2 shapes
def v2_version(it):
    v = it["versions"][-1]
    return {"createdAt": v["when"], "message": v["message"], "number": v["number"],
            "minorEdit": v["minorEdit"], "authorId": it["authorId"]}


def v2_item(w, it, body_format=None):
    sp = w.space_by_key(it["spaceKey"])
    out = {"id": it["id"], "status": it["status"], "title": it["title"], "spaceId": sp["id"],
           "authorId": it["authorId"], "createdAt": it["createdAt"], "version": v2_version(it), "body": {},
           "_links": {"webui": w.webui(it), "editui": "/pages/resumedraft.action?draftId=" + it["id"],
                      "tinyui": "/x/" + it["id"], "base": w.base}}
    if it["type"] == "page":
        out.update(parentId=it["parentId"], parentType="page" if it["parentId"] else None)
    if it["type"] == "comment":
        out = {"id": it["id"], "status": it["status"], "title": it["title"], "pageId": it["parentId"],
               "version": v2_version(it), "body": {}, "_links": {"webui": w.webui(it)}}
    if body_format == "storage":
        out["body"] = {"storage": {"representation": "storage", "value": it["versions"][-1]["body"]}}
    return out


def v2_space(w, sp):
    return {"id": sp["id"], "key": sp["key"], "name": sp["name"], "type": sp["type"], "status": sp["status"],
            "authorId": seed.SEED_AUTHOR, "createdAt": seed.SEED_WHEN, "homepageId": sp["homepageId"],
            "description": None, "icon": None, "_links": {"webui": "/spaces/" + sp["key"]}}


def paged(path, q, rows, base):
    """v2 cursor paging: (results, _links, Link headers)."""
    try:
        limit = max(1, min(250, int(q.get("limit", ["25"])[0])))
        start = int(base64.urlsafe_b64decode(q["cursor"][0].encode()).decode()) if "cursor" in q else 0
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Invalid cursor or limit")
    page = rows[start:start + limit]
    links, headers = {"base": base}, []
    if start + limit < len(rows):
        nq = {k: v for k, v in q.items() if k != "cursor"}
        nq["cursor"] = [base64.urlsafe_b64encode(str(start + limit).encode()).decode()]
        nq["limit"] = [str(limit)]
        links["next"] = "/wiki/api/v2/%s?%s" % (path, urllib.parse.urlencode(nq, doseq=True))
        headers.append(("Link", '<%s>; rel="next"' % links["next"]))
    return page, links, headers


def qlist(q, name):
    return [x for v in q.get(name, []) for x in v.split(",") if x]


def storage_body(obj):
    b = obj.get("body")
    if not isinstance(b, dict) or b.get("representation") != "storage" or not isinstance(b.get("value"), str):
        raise BadRequest("body must be {\"representation\": \"storage\", \"value\": ...}")
    return b["value"]


class Api:
    """One request: the wiki, the parsed query, the JSON body and the clock."""

    def __init__(self, wiki, q, raw, now):
        self.w, self.q, self.raw, self.now = wiki, q, raw, now

    def json(self):
        try:
            obj = json.loads(self.raw.decode("utf-8") or "null")
        except ValueError:
            raise BadRequest("Invalid JSON body")
        if obj is None:
            raise BadRequest("A request body is required")
        return obj

    def arg(self, name, default=None):
        return self.q.get(name, [default])[0]

    # -- v2 ------------------------------------------------------------------
    def v2_spaces(self):
        keys = qlist(self.q, "keys")
        rows = [v2_space(self.w, s) for s in self.w.spaces if not keys or s["key"] in keys]
        res, links, hdrs = paged("spaces", self.q, rows, self.w.base)
        return 200, {"results": res, "_links": links}, hdrs

    def v2_space(self, sid):
        sp = self.w.space_by_id(sid)
        if sp is None:
            return v2_error(404, "Not Found")
        return 200, v2_space(self.w, sp), []

    def v2_pages(self, ctype="page", path="pages"):
        sids, title, status = qlist(self.q, "space-id"), self.arg("title"), qlist(self.q, "status")
        if status and "current" not in status:
            return 200, {"results": [], "_links": {"base": self.w.base}}, []
        fmt = self.arg("body-format")
        rows = self.w.listing(lambda it: it["type"] == ctype and
                              (not sids or self.w.space_by_key(it["spaceKey"])["id"] in sids) and
                              (title is None or it["title"] == title))
        res, links, hdrs = paged(path, self.q, rows, self.w.base)
        return 200, {"results": [v2_item(self.w, it, fmt) for it in res], "_links": links}, hdrs

    def v2_page(self, pid, ctype="page"):
        it = self.w.live(pid, ctype)
        if it is None:
            return v2_error(404, "Cannot find a %s with id [%s]" % (ctype, pid))
        return 200, v2_item(self.w, it, self.arg("body-format")), []

    def v2_blogpost(self, pid):
        return self.v2_page(pid, "blogpost")

    def v2_create_page(self, ctype="page"):
        obj = self.json()
        sp = self.w.space_by_id(obj.get("spaceId"))
        if sp is None:
            return v2_error(400, "Invalid spaceId: %s" % obj.get("spaceId"))
        if not isinstance(obj.get("title"), str) or not obj["title"].strip():
            return v2_error(400, "Title is required")
        parent = obj.get("parentId") if ctype == "page" else None
        if parent is not None and self.w.live(parent, "page") is None:
            return v2_error(400, "Invalid parentId: %s" % parent)
        if ctype == "page" and parent is None:
            parent = sp["homepageId"]
        it = self.w.create(ctype, sp, obj["title"], storage_body(obj), parent, self.now)
        return 200, v2_item(self.w, it, "storage"), []

    def v2_create_blogpost(self):
        return self.v2_create_page("blogpost")

    def v2_update_page(self, pid):
        obj = self.json()
        it = self.w.live(pid, "page")
        if it is None:
            return v2_error(404, "Cannot find a page with id [%s]" % pid)
        ver = obj.get("version") if isinstance(obj.get("version"), dict) else {}
        if str(obj.get("id")) != pid or obj.get("status") != "current" or not isinstance(ver.get("number"), int):
            return v2_error(400, "id, status (current), title, body and version.number are required")
        if not isinstance(obj.get("title"), str) or not obj["title"].strip():
            return v2_error(400, "Title is required")
        if not self.w.update(it, ver["number"], obj["title"], storage_body(obj), ver.get("message"), self.now):
            return v2_error(409, "Version must be incremented on update. Current version is: %d"
                            % it["versions"][-1]["number"])
        return 200, v2_item(self.w, it, "storage"), []

    def v2_delete_page(self, pid):
        it = self.w.live(pid, "page")
        if it is None:
            return v2_error(404, "Cannot find a page with id [%s]" % pid)
        it["status"] = "trashed"
        return 204, None, []

    def v2_children(self, pid):
        if self.w.live(pid, "page") is None:
            return v2_error(404, "Cannot find a page with id [%s]" % pid)
        rows = self.w.listing(lambda it: it["type"] == "page" and it["parentId"] == pid)
        res, links, hdrs = paged("pages/%s/children" % pid, self.q, rows, self.w.base)
        out = [{"id": it["id"], "status": it["status"], "title": it["title"],
                "spaceId": self.w.space_by_key(it["spaceKey"])["id"], "childPosition": n}
               for n, it in enumerate(res)]
        return 200, {"results": out, "_links": links}, hdrs

    def v2_comments(self, pid):
        if self.w.live(pid, "page") is None:
            return v2_error(404, "Cannot find a page with id [%s]" % pid)
        rows = self.w.listing(lambda it: it["type"] == "comment" and it["parentId"] == pid)
        res, links, hdrs = paged("pages/%s/footer-comments" % pid, self.q, rows, self.w.base)
        return 200, {"results": [v2_item(self.w, it, self.arg("body-format")) for it in res],
                     "_links": links}, hdrs

    def v2_add_comment(self):
        obj = self.json()
        page = self.w.live(obj.get("pageId") or "", "page")
        if page is None:
            return v2_error(400, "A pageId of an existing page is required")
        sp = self.w.space_by_key(page["spaceKey"])
        it = self.w.create("comment", sp, "Re: " + page["title"], storage_body(obj), page["id"], self.now)
        return 201, v2_item(self.w, it, "storage"), []

    def v2_labels(self, pid):
        it = self.w.live(pid, "page")
        if it is None:
            return v2_error(404, "Cannot find a page with id [%s]" % pid)
        res, links, hdrs = paged("pages/%s/labels" % pid, self.q, list(it["labels"]), self.w.base)
        return 200, {"results": res, "_links": links}, hdrs

    # -- v1 ------------------------------------------------------------------
    def expand(self):
        return set(x.strip() for x in (self.arg("expand") or "").split(",") if x.strip())

    def v1_links(self, path):
        ctx = "" if self.w.dc else "/wiki"
        return {"base": self.w.base, "context": ctx, "self": self.w.base + "/rest/api/" + path}

    def v1_page(self, path, rows, render, max_limit=200):
        try:
            start, limit = int(self.arg("start", "0")), int(self.arg("limit", "25"))
        except ValueError:
            raise BadRequest("start and limit must be integers")
        start, limit = max(0, start), max(1, min(max_limit, limit))
        res = rows[start:start + limit]
        links = self.v1_links(path)
        if start + limit < len(rows):
            nq = {k: v for k, v in self.q.items() if k not in ("start", "limit")}
            nq.update(start=[str(start + limit)], limit=[str(limit)])
            links["next"] = "/rest/api/%s?%s" % (path, urllib.parse.urlencode(nq, doseq=True))
        return {"results": [render(it) for it in res], "start": start, "limit": limit, "size": len(res),
                "_links": links}

    def v1_space_obj(self, sp):
        return {"id": int(sp["id"]), "key": sp["key"], "name": sp["name"], "type": sp["type"],
                "status": sp["status"], "_links": {"webui": ("/display/" if self.w.dc else "/spaces/") + sp["key"],
                                                   "self": self.w.base + "/rest/api/space/" + sp["key"]},
                "_expandable": {"homepage": "/rest/api/content/" + sp["homepageId"]}}

    def v1_item(self, it, expand):
        v = it["versions"][-1]
        out = {"id": it["id"], "type": it["type"], "status": it["status"], "title": it["title"],
               "version": {"number": v["number"]},
               "_links": {"webui": self.w.webui(it), "tinyui": "/x/" + it["id"],
                          "self": self.w.base + "/rest/api/content/" + it["id"]},
               "_expandable": {"children": "/rest/api/content/%s/child" % it["id"],
                               "history": "/rest/api/content/%s/history" % it["id"]}}
        if "version" in expand:
            out["version"] = {"by": {"type": "known", "accountId": it["authorId"]}, "when": v["when"],
                              "number": v["number"], "message": v["message"], "minorEdit": v["minorEdit"]}
        if "space" in expand:
            out["space"] = self.v1_space_obj(self.w.space_by_key(it["spaceKey"]))
        if "body.storage" in expand:
            out["body"] = {"storage": {"value": v["body"], "representation": "storage", "embeddedContent": []}}
        if "ancestors" in expand and it["type"] == "page":
            out["ancestors"], p = [], self.w.items.get(it["parentId"] or "")
            while p is not None:
                out["ancestors"].insert(0, {"id": p["id"], "type": p["type"], "status": p["status"],
                                            "title": p["title"]})
                p = self.w.items.get(p["parentId"] or "")
        if "container" in expand or it["type"] == "comment":
            c = self.w.items.get(it["parentId"] or "") if it["type"] == "comment" else None
            out["container"] = ({"id": c["id"], "type": c["type"], "title": c["title"]} if c else
                                self.v1_space_obj(self.w.space_by_key(it["spaceKey"])))
        if "metadata.labels" in expand:
            out["metadata"] = {"labels": self.v1_labels_obj(it, it["labels"])}
        return out

    def v1_labels_obj(self, it, labels):
        return {"results": [dict(lb, label=lb["name"]) for lb in labels], "start": 0, "limit": 200,
                "size": len(labels), "_links": self.v1_links("content/%s/label" % it["id"])}

    def v1_spaces(self):
        keys = qlist(self.q, "spaceKey")
        rows = [s for s in self.w.spaces if not keys or s["key"] in keys]
        return 200, self.v1_page("space", rows, self.v1_space_obj, 250), []

    def v1_space(self, key):
        sp = self.w.space_by_key(key)
        if sp is None:
            return v1_error(404, "No space with key : " + key)
        return 200, self.v1_space_obj(sp), []

    def v1_list(self):
        ctype, key, title = self.arg("type", "page"), self.arg("spaceKey"), self.arg("title")
        ex = self.expand()
        rows = self.w.listing(lambda it: it["type"] == ctype and (key is None or it["spaceKey"] == key) and
                              (title is None or it["title"] == title))
        return 200, self.v1_page("content", rows, lambda it: self.v1_item(it, ex)), []

    def v1_get(self, cid):
        it = self.w.live(cid)
        if it is None:
            return v1_error(404, "Content not found")
        return 200, self.v1_item(it, self.expand()), []

    def v1_body(self, obj, required):
        b = (obj.get("body") or {}).get("storage") if isinstance(obj.get("body"), dict) else None
        if b is None and not required:
            return None
        if not isinstance(b, dict) or b.get("representation") != "storage" or not isinstance(b.get("value"), str):
            raise BadRequest("body.storage {value, representation: storage} is required")
        return b["value"]

    def v1_create(self):
        obj = self.json()
        if not isinstance(obj, dict):
            raise BadRequest("Content must be a JSON object")
        ctype = obj.get("type")
        if ctype not in ("page", "blogpost", "comment"):
            return v1_error(400, "Unsupported content type: %s" % ctype)
        if ctype == "comment":
            c = self.w.live(((obj.get("container") or {}).get("id")) or "")
            if c is None:
                return v1_error(400, "A comment needs the container of an existing page or blog post")
            it = self.w.create("comment", self.w.space_by_key(c["spaceKey"]), "Re: " + c["title"],
                               self.v1_body(obj, True), c["id"], self.now)
            return 200, self.v1_item(it, {"body.storage", "version", "container"}), []
        sp = self.w.space_by_key(((obj.get("space") or {}).get("key")) or "")
        if sp is None:
            return v1_error(400, "Could not create content with type %s: a space key is required" % ctype)
        if not isinstance(obj.get("title"), str) or not obj["title"].strip():
            return v1_error(400, "A title is required")
        parent = None
        if ctype == "page":
            anc = obj.get("ancestors") or []
            parent = str(anc[-1].get("id")) if anc and isinstance(anc[-1], dict) else sp["homepageId"]
            if self.w.live(parent, "page") is None:
                return v1_error(400, "No parent page with id %s" % parent)
        it = self.w.create(ctype, sp, obj["title"], self.v1_body(obj, False) or "", parent, self.now)
        return 200, self.v1_item(it, {"body.storage", "version", "space", "ancestors"}), []

    def v1_update(self, cid):
        obj = self.json()
        it = self.w.live(cid)
        if it is None:
            return v1_error(404, "Content not found")
        ver = obj.get("version") if isinstance(obj, dict) else None
        if not isinstance(ver, dict) or not isinstance(ver.get("number"), int):
            return v1_error(400, "Must supply an incremented version when updating Content. No version supplied.")
        title = obj.get("title") or it["title"]
        body = self.v1_body(obj, False)
        body = it["versions"][-1]["body"] if body is None else body
        if not self.w.update(it, ver["number"], title, body, ver.get("message"), self.now):
            return v1_error(409, "com.atlassian.confluence.api.service.exceptions.ConflictException: "
                            "Version must be incremented on update. Current version is: %d"
                            % it["versions"][-1]["number"])
        return 200, self.v1_item(it, {"body.storage", "version", "space"}), []

    def v1_delete(self, cid):
        it = self.w.live(cid)
        if it is None:
            return v1_error(404, "Content not found")
        it["status"] = "trashed"
        return 204, None, []

    def v1_children(self, cid, ctype):
        if self.w.live(cid) is None:
            return v1_error(404, "Content not found")
        ex = self.expand()
        rows = self.w.listing(lambda it: it["type"] == ctype and it["parentId"] == cid)
        return 200, self.v1_page("content/%s/child/%s" % (cid, ctype), rows, lambda it: self.v1_item(it, ex)), []

    def v1_labels(self, cid):
        it = self.w.live(cid)
        if it is None:
            return v1_error(404, "Content not found")
        return 200, self.v1_labels_obj(it, it["labels"]), []

    def v1_add_labels(self, cid):
        obj = self.json()
        it = self.w.live(cid)
        if it is None:
            return v1_error(404, "Content not found")
        rows = obj if isinstance(obj, list) else [obj]
        if not rows or not all(isinstance(r, dict) and isinstance(r.get("name"), str) and r["name"]
                               and not re.search(r"[\s:]", r["name"]) for r in rows):
            return v1_error(400, "Labels need a name without spaces or colons")
        for r in rows:
            self.w.add_label(it, r["name"].lower(), r.get("prefix") or "global")
        return 200, self.v1_labels_obj(it, it["labels"]), []

    # -- CQL -----------------------------------------------------------------
    def cql_rows(self):
        cql = self.arg("cql") or ""
        preds = parse_cql(cql)
        return cql, self.w.listing(lambda it: all(p(self.w, it) for p in preds))

    def v1_search(self):
        cql, rows = self.cql_rows()
        ex = self.expand()
        out = self.v1_page("content/search", rows, lambda it: self.v1_item(it, ex), 100)
        out.update(totalSize=len(rows), cqlQuery=cql, searchDuration=7)
        return 200, out, []

    def v1_search_results(self):
        cql, rows = self.cql_rows()
        ex = self.expand()

        def render(it):
            sp = self.w.space_by_key(it["spaceKey"])
            text = strip_tags(it["versions"][-1]["body"])
            return {"content": self.v1_item(it, ex), "title": it["title"], "excerpt": text[:200],
                    "url": self.w.webui(it), "entityType": "content", "lastModified": it["versions"][-1]["when"],
                    "resultGlobalContainer": {"title": sp["name"], "displayUrl": "/spaces/" + sp["key"]}}
        out = self.v1_page("search", rows, render, 100)
        out.update(totalSize=len(rows), cqlQuery=cql, searchDuration=7)
        return 200, out, []


def strip_tags(storage):
    return html.unescape(re.sub(r"<[^>]*>", " ", re.sub(r"<!\[CDATA\[(.*?)\]\]>", r" \1 ", storage, flags=re.S)))


def cql_values(raw):
    if raw.startswith("("):
        return [cql_values(v.strip())[0] for v in raw[1:-1].split(",") if v.strip()]
    if raw.startswith('"'):
        return [re.sub(r"\\(.)", r"\1", raw[1:-1])]
    return [raw]


def cql_pred(field, op, vals):
    """One clause: type, space (space.key), title, text with =, ~ or in."""
    words = [w.lower() for w in " ".join(vals).split()]
    if field == "type" and op in ("=", "in"):
        return lambda w, it: it["type"] in vals
    if field in ("space", "space.key") and op in ("=", "in"):
        return lambda w, it: it["spaceKey"] in vals
    if field == "title" and op == "=":
        return lambda w, it: it["title"] == vals[0]
    if field == "title" and op == "~":
        return lambda w, it: all(x in it["title"].lower() for x in words)
    if field == "text" and op == "~":
        return lambda w, it: all(x in (it["title"] + " " + strip_tags(it["versions"][-1]["body"])).lower()
                                 for x in words)
    return None


def parse_cql(cql):
    """The clauses (joined by AND, an ORDER BY ignored) as predicates;
    anything else is Atlassian's 400."""
    s = re.sub(r"\s+order\s+by\s+[\w.]+(\s+(asc|desc))?\s*$", "", cql.strip(), flags=re.I)
    preds, pos = [], 0
    while True:
        m = CQL_CLAUSE.match(s, pos)
        p = cql_pred(m.group(1).lower(), m.group(2).lower(), cql_values(m.group(3))) if m else None
        if p is None:
            raise CqlError(cql)
        preds.append(p)
        pos = m.end()
        if pos == len(s):
            return preds
        a = re.compile(r"and\s+", re.I).match(s, pos)
        if a is None:
            raise CqlError(cql)
        pos = a.end()


class CqlError(Exception):
    pass


def handle(get_wiki, method, sub, query, raw, scopes, now, dc=False):
    """Serves sub (the path below the site: /wiki/... on Cloud, /rest/api/...
    on Data Center) when it is one of the routes above: (status, obj, headers).
    None otherwise.  get_wiki() gives the site's Wiki."""
    tables = [("/rest/api/", V1_ROUTES, False)] if dc else [
        ("/wiki/api/v2/", V2_ROUTES, True), ("/wiki/rest/api/", V1_ROUTES, False)]
    for prefix, routes, v2 in tables:
        if not (sub + "/").startswith(prefix):
            continue
        rest = sub[len(prefix):].strip("/")
        hits = [(m, re.fullmatch(pat, rest), name, rule) for m, pat, name, rule in routes]
        hits = [h for h in hits if h[1]]
        for m, mt, name, rule in hits:
            if m != method:
                continue
            if not scope_ok(rule, scopes):
                return 401, dict(SCOPE_MISMATCH), []
            api = Api(get_wiki(), urllib.parse.parse_qs(query, keep_blank_values=True), raw, now)
            try:
                return getattr(api, name)(*mt.groups())
            except BadRequest as e:
                return v2_error(400, str(e)) if v2 else v1_error(400, str(e))
            except CqlError as e:
                return v1_error(400, "com.atlassian.confluence.api.service.exceptions.BadRequestException: "
                                "Could not parse cql : %s" % e)
        if hits:
            return (v2_error if v2 else v1_error)(405, "Method %s not allowed" % method)
    return None

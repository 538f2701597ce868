#!/usr/bin/python3
"""openapi_paths.py — the routes of an OpenAPI document, as "METHOD /path" lines.

  openapi_paths.py [DOC]                   prints the (method, path template)
                                           pairs of DOC, one per line, sorted
                                           as bytes (like LC_ALL=C sort), e.g.
                                           "GET /v1/jobs/{id}"
  openapi_paths.py [DOC] --query           prints each route with the query
                                           parameters it takes (its own and
                                           its path's, $refs followed), in
                                           the document's order:
                                           "GET /v1/jobs state,limit,cursor"
                                           ("-" for none)
  openapi_paths.py [DOC] --expect FILE     compares them with FILE (same
                                           format; "-" reads standard input;
                                           blank lines and "#" comments are
                                           skipped, order does not matter):
                                           exits 0 when the sets are equal,
                                           else prints the difference and
                                           exits 1

DOC defaults to schema/openapi.yaml of the repository ($TRAIND_SRCDIR, else
this file's parent directory).  The expected list of the API is
tests/data/routes.txt (docs/api.md); the router's test compares the routing
table with the same file, and each route's list of query parameters with
--query.  Exit 2: a file cannot be read or is not in the
format.  Needs python3-yaml.
"""
import argparse
import os
import re
import sys

try:
    import yaml
except ImportError:
    sys.stderr.write("openapi_paths: python3-yaml is missing (apt-get install python3-yaml)\n")
    sys.exit(2)

ROOT = os.environ.get("TRAIND_SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The operations of a Path Item Object (OpenAPI 3.0 and 3.1).
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

LINE = re.compile(r"^(GET|PUT|POST|DELETE|OPTIONS|HEAD|PATCH|TRACE) (/[^\s]*)$")


def fail(msg):
    sys.stderr.write("openapi_paths: " + msg + "\n")
    sys.exit(2)


def doc_routes(path):
    """The set of "METHOD /path" strings of the OpenAPI document at path."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        fail("%s: %s" % (path, e))
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        fail("%s: not an OpenAPI document (no paths object)" % path)
    routes = set()
    for template, item in doc["paths"].items():
        if not isinstance(item, dict):
            fail("%s: paths[%r] is not an object" % (path, template))
        if "$ref" in item:
            # A referenced Path Item would hide its methods from this list.
            fail("%s: paths[%r] is a $ref, which this script does not follow" % (path, template))
        for key in item:
            if key in METHODS:
                routes.add("%s %s" % (key.upper(), template))
    return routes


def resolve(doc, obj, path):
    """obj, or what its "$ref" (a local "#/..." reference) points at."""
    while isinstance(obj, dict) and "$ref" in obj:
        ref = obj["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            fail("%s: only local references are followed, not %r" % (path, ref))
        target = doc
        for part in ref[2:].split("/"):
            if not isinstance(target, dict) or part not in target:
                fail("%s: %s points at nothing" % (path, ref))
            target = target[part]
        obj = target
    return obj


def doc_queries(path):
    """{"METHOD /path": [query parameter names]} of the document at path."""
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    out = {}
    for template, item in doc["paths"].items():
        shared = item.get("parameters", [])
        for key, op in item.items():
            if key not in METHODS:
                continue
            names = []
            for p in list(shared) + list(op.get("parameters", [])):
                p = resolve(doc, p, path)
                if p.get("in") == "query" and p.get("name") not in names:
                    names.append(p.get("name"))
            out["%s %s" % (key.upper(), template)] = names
    return out


def file_routes(path):
    """The set of "METHOD /path" lines of FILE ("-": standard input)."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except OSError as e:
        fail("%s: %s" % (path, e))
    routes = set()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not LINE.match(line):
            fail('%s:%d: expected "METHOD /path", found %r' % (path, n, raw))
        if line in routes:
            fail("%s:%d: %s is listed twice" % (path, n, line))
        routes.add(line)
    return routes


def by_bytes(routes):
    return sorted(routes, key=lambda s: s.encode("utf-8"))


def main():
    ap = argparse.ArgumentParser(description="The (method, path) pairs of an OpenAPI document.")
    ap.add_argument("doc", nargs="?", default=os.path.join(ROOT, "schema", "openapi.yaml"),
                    help="the OpenAPI document (default: schema/openapi.yaml)")
    ap.add_argument("--expect", metavar="FILE",
                    help='compare with FILE ("METHOD /path" per line; "-": standard input)')
    ap.add_argument("--query", action="store_true",
                    help="print each route with its query parameters")
    args = ap.parse_args()

    have = doc_routes(args.doc)
    if args.query:
        q = doc_queries(args.doc)
        for r in by_bytes(have):
            print("%s %s" % (r, ",".join(q[r]) or "-"))
        return 0
    if args.expect is None:
        for r in by_bytes(have):
            print(r)
        return 0

    want = file_routes(args.expect)
    missing = want - have
    extra = have - want
    if not missing and not extra:
        print("openapi_paths: %d routes, as in %s" % (len(have), args.expect))
        return 0
    for r in by_bytes(missing):
        print("- %s    (in %s, not in %s)" % (r, args.expect, args.doc))
    for r in by_bytes(extra):
        print("+ %s    (in %s, not in %s)" % (r, args.doc, args.expect))
    print("openapi_paths: %d missing, %d extra" % (len(missing), len(extra)))
    return 1


if __name__ == "__main__":
    sys.exit(main())

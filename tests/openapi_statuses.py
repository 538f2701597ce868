#!/usr/bin/python3
"""openapi_statuses.py — every status the end-to-end suites saw is in the OpenAPI document.

  openapi_statuses.py OBSERVED [DOC]

OBSERVED holds lines "METHOD ROUTE STATUS COUNT" ("GET /v1/jobs/{id} 404 2"),
appended by tests/common/e2e.c from each daemon's /metrics before it stops
(the Makefile's release run points $TRAIND_E2E_STATUSES at it).  DOC defaults
to schema/openapi.yaml of the repository ($TRAIND_SRCDIR, else this file's
parent directory).

The check runs one way: each (method, route, status) seen must be a response
of that operation in DOC (its own "NNN" entry, or an "NXX" range, or
"default").  A status the document lists and no suite saw is fine.  Requests
that matched no route are counted by /metrics as method "other", route
"unmatched"; they must be 404 (no such path), 405 (no such method), 400 (a
path that is not text), 403 (a Host or Origin refused) or 414 (too many
query parameters), which the document describes once for all paths.  Exit 0 when all is documented;
1 naming what is not (or when OBSERVED has no line: a run that recorded
nothing checks nothing); 2 when a file cannot be read.  Needs python3-yaml.
"""
import argparse
import os
import sys

try:
    import yaml
except ImportError:
    sys.stderr.write("openapi_statuses: python3-yaml is missing (apt-get install python3-yaml)\n")
    sys.exit(2)

ROOT = os.environ.get("TRAIND_SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNMATCHED = ("other", "unmatched")
UNMATCHED_STATUSES = {400, 403, 404, 405, 414}


def fail(msg):
    sys.stderr.write("openapi_statuses: " + msg + "\n")
    sys.exit(2)


def observed(path):
    """{(METHOD, route, status): count} summed over the lines of path."""
    seen = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        fail("%s: %s" % (path, e))
    for n, line in enumerate(lines, 1):
        parts = line.split(" ")
        if len(parts) != 4 or not parts[2].isdigit() or not parts[3].isdigit():
            fail('%s:%d: expected "METHOD ROUTE STATUS COUNT", found %r' % (path, n, line))
        key = (parts[0], parts[1], int(parts[2]))
        seen[key] = seen.get(key, 0) + int(parts[3])
    return seen


def documented(doc, method, route, status):
    """Whether DOC lists status among the responses of method on route;
    None when DOC has no such operation."""
    op = doc.get("paths", {}).get(route, {}).get(method.lower())
    if not isinstance(op, dict):
        return None
    responses = op.get("responses") or {}
    keys = {str(k).upper() for k in responses}
    return str(status) in keys or ("%dXX" % (status // 100)) in keys or "DEFAULT" in keys


def main():
    ap = argparse.ArgumentParser(description="Observed statuses against the OpenAPI document.")
    ap.add_argument("observed", help='"METHOD ROUTE STATUS COUNT" lines')
    ap.add_argument("doc", nargs="?", default=os.path.join(ROOT, "schema", "openapi.yaml"),
                    help="the OpenAPI document (default: schema/openapi.yaml)")
    args = ap.parse_args()
    seen = observed(args.observed)
    if not seen:
        print("openapi_statuses: %s records no answer: nothing was checked "
              "(is TRAIND_E2E_STATUSES passed to the suites?)" % args.observed)
        return 1
    try:
        with open(args.doc, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        fail("%s: %s" % (args.doc, e))

    bad = []
    for (method, route, status), count in sorted(seen.items()):
        if (method, route) == UNMATCHED:
            if status not in UNMATCHED_STATUSES:
                bad.append("a request that matched no route answered %d (%d times): only 404 "
                           "405, 400, 403 or 414 may" % (status, count))
            continue
        ok = documented(doc, method, route, status)
        if ok is None:
            bad.append("%s %s answered %d (%d times), and the document has no such operation"
                       % (method, route, status, count))
        elif not ok:
            bad.append("%s %s answered %d (%d times), which its responses do not list"
                       % (method, route, status, count))
    answers = sum(seen.values())
    ops = len({(m, r) for m, r, _ in seen} - {UNMATCHED})
    if bad:
        for b in bad:
            print("- " + b)
        print("openapi_statuses: %d undocumented in %s (of %d answers seen)"
              % (len(bad), args.doc, answers))
        return 1
    print("openapi_statuses: %d answers to %d operations, %d (route, status) pairs: all in %s"
          % (answers, ops, len(seen), os.path.relpath(args.doc)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

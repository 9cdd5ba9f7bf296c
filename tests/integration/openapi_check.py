#!/usr/bin/env python3
"""openapi_check.py - test helper for tests/integration/openapi.sh.

  openapi_check.py structure OPENAPI_YAML
      the document itself: OpenAPI 3.1, mutual TLS, every $ref resolves, every operation has
      an operationId, x-portseal-access, responses with x-request-id and the error schema,
      path parameters declared
  openapi_check.py live OPENAPI_YAML CASES_JSON
      runs each case (a request with curl against a running appliance) and checks the answer
      against the document: the status is one the operation lists, the content type one that
      status lists, the body valid against its schema, the x-request-id header there; every
      operation not marked planned is exercised by at least one case

Prints "ok - ..." / "not ok - ..." lines (TAP-style, as tests/run counts them).
"""
import json
import re
import subprocess
import sys

import yaml

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
failed = 0


def ok(cond, what):
    global failed
    print(("ok - " if cond else "not ok - ") + what)
    if not cond:
        failed += 1
    return cond


def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise KeyError(ref)
        cur = doc
        for part in ref[2:].split("/"):
            cur = cur[part]
        node = cur
    return node


def operations(doc):
    for path, item in doc["paths"].items():
        for m in METHODS:
            if m in item:
                yield path, m, item[m], item


# ---- a small JSON Schema (2020-12 subset) validator for the schemas in openapi.yaml ----

def types_of(v):
    if v is None:
        return {"null"}
    if isinstance(v, bool):
        return {"boolean"}
    if isinstance(v, int):
        return {"integer", "number"}
    if isinstance(v, float):
        return {"number"}
    if isinstance(v, str):
        return {"string"}
    if isinstance(v, list):
        return {"array"}
    if isinstance(v, dict):
        return {"object"}
    return set()


def validate(doc, schema, v, where="$"):
    """A list of error strings (empty when v is valid)."""
    schema = resolve(doc, schema)
    errs = []
    if "type" in schema:
        want = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not types_of(v) & set(want):
            return ["%s: %r is not of type %s" % (where, v, want)]
    if "const" in schema and v != schema["const"]:
        errs.append("%s: %r is not %r" % (where, v, schema["const"]))
    if "enum" in schema and v not in schema["enum"]:
        errs.append("%s: %r is not one of %s" % (where, v, schema["enum"]))
    if isinstance(v, str) and "pattern" in schema and not re.search(schema["pattern"], v):
        errs.append("%s: %r does not match %s" % (where, v, schema["pattern"]))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "minimum" in schema and v < schema["minimum"]:
            errs.append("%s: %r < %r" % (where, v, schema["minimum"]))
        if "maximum" in schema and v > schema["maximum"]:
            errs.append("%s: %r > %r" % (where, v, schema["maximum"]))
    if isinstance(v, dict):
        props = schema.get("properties", {})
        for r in schema.get("required", []):
            if r not in v:
                errs.append("%s: member %s is missing" % (where, r))
        for k, sub in v.items():
            if k in props:
                errs += validate(doc, props[k], sub, where + "." + k)
            elif schema.get("additionalProperties") is False:
                errs.append("%s: member %s is not in the schema" % (where, k))
            elif isinstance(schema.get("additionalProperties"), dict):
                errs += validate(doc, schema["additionalProperties"], sub, where + "." + k)
    if isinstance(v, list):
        if "minItems" in schema and len(v) < schema["minItems"]:
            errs.append("%s: fewer than %d items" % (where, schema["minItems"]))
        if "maxItems" in schema and len(v) > schema["maxItems"]:
            errs.append("%s: more than %d items" % (where, schema["maxItems"]))
        if "items" in schema:
            for i, sub in enumerate(v):
                errs += validate(doc, schema["items"], sub, "%s[%d]" % (where, i))
    for sub in schema.get("allOf", []):
        errs += validate(doc, sub, v, where)
    if "oneOf" in schema:
        n = sum(1 for sub in schema["oneOf"] if not validate(doc, sub, v, where))
        if n != 1:
            errs.append("%s: matches %d of the oneOf schemas, not 1" % (where, n))
    return errs


# ---- structure ----

def check_structure(doc):
    ok(str(doc.get("openapi", "")).startswith("3.1."), "openapi 3.1.x (%s)" % doc.get("openapi"))
    ok(doc.get("info", {}).get("title") and doc["info"].get("version"), "info has title and version")
    schemes = doc.get("components", {}).get("securitySchemes", {})
    ok(schemes.get("clientCertificate", {}).get("type") == "mutualTLS",
       "the security scheme is mutualTLS")
    ok(doc.get("security") == [{"clientCertificate": []}], "mutual TLS applies to every operation by default")

    bad = []

    def walk(node, where):
        if isinstance(node, dict):
            if "$ref" in node:
                try:
                    resolve(doc, node)
                except (KeyError, TypeError):
                    bad.append("%s: %s" % (where, node["$ref"]))
            for k, v in node.items():
                walk(v, where + "/" + str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s/%d" % (where, i))
    walk(doc, "#")
    ok(not bad, "every $ref resolves" + ("" if not bad else ": " + "; ".join(bad[:5])))

    tags = {t["name"] for t in doc.get("tags", [])}
    ids = {}
    for path, m, op, item in operations(doc):
        name = "%s %s" % (m.upper(), path)
        ids.setdefault(op.get("operationId"), []).append(name)
        access = op.get("x-portseal-access")
        ok(isinstance(access, list) and access, "%s: x-portseal-access" % name)
        public = access == ["public"]
        ok((op.get("security") == []) == public,
           "%s: security [] exactly when public (%s)" % (name, access))
        ok(set(op.get("tags", [])) <= tags and op.get("tags"), "%s: tags declared" % name)
        responses = op.get("responses", {})
        ok(responses, "%s: has responses" % name)
        if not public:
            ok("401" in responses and "403" in responses, "%s: lists 401 and 403" % name)
        problems = []
        for status, resp in responses.items():
            resp = resolve(doc, resp)
            if "x-request-id" not in resp.get("headers", {}):
                problems.append("%s without x-request-id" % status)
            js = resp.get("content", {}).get("application/json")
            if str(status)[0] in "45" and js is not None and \
                    js.get("schema", {}).get("$ref") != "#/components/schemas/Error" and \
                    not resp.get("x-portseal-not-an-error"):
                problems.append("%s is not the Error schema" % status)
            if str(status)[0] in "45" and js is None:
                problems.append("%s has no application/json error body" % status)
        ok(not problems, "%s: responses carry x-request-id, errors the Error schema%s" %
           (name, "" if not problems else " (" + ", ".join(problems) + ")"))
        declared = set()
        for p in item.get("parameters", []) + op.get("parameters", []):
            p = resolve(doc, p)
            if p.get("in") == "path":
                declared.add(p["name"])
        in_path = set(re.findall(r"\{([^}]+)\}", path))
        ok(declared == in_path, "%s: path parameters %s declared (%s)" %
           (name, sorted(in_path), sorted(declared)))
    dup = {k: v for k, v in ids.items() if k is None or len(v) > 1}
    ok(not dup, "operationIds are present and unique" + ("" if not dup else ": %s" % dup))


# ---- live ----

def template_of(doc, method, path):
    """The documented path template that the concrete path matches, or None."""
    best = None
    for tpl, item in doc["paths"].items():
        if method not in item:
            continue
        rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(tpl)) + "$"
        if re.match(rx, path) and (best is None or "{" not in tpl):
            best = tpl
    return best


def run_case(doc, case, env, seen):
    method = case["method"].lower()
    url_path = case["path"].split("?")[0]
    tpl = template_of(doc, method, url_path)
    what = "%s %s (%s)" % (case["method"], case["path"], case.get("why", case.get("as", "")))
    if not ok(tpl is not None, "%s: a documented operation" % what):
        return
    seen.add((method, tpl))
    op = doc["paths"][tpl][method]
    cmd = ["curl", "-sS", "--http2", "--max-time", "30", "--cacert", env["CA_FILE"],
           "-X", case["method"], "-D", env["TMP"] + "/oa.headers", "-o", env["TMP"] + "/oa.body",
           "-w", "%{http_code}"]
    ident = case.get("as", "none")
    if ident != "none":
        cmd += ["--cert", env[ident.upper() + "_CERT"], "--key", env[ident.upper() + "_KEY"]]
    cmd += case.get("args", [])
    cmd.append(env["URL"] + case["path"])
    r = subprocess.run(cmd, capture_output=True, text=True)
    status = r.stdout.strip()
    with open(env["TMP"] + "/oa.body", "rb") as f:
        body = f.read()
    headers = {}
    with open(env["TMP"] + "/oa.headers", encoding="latin-1") as f:
        for line in f:
            if ":" in line and not line.startswith("HTTP/"):
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
    if "save" in case:
        with open(env["TMP"] + "/" + case["save"], "wb") as f:
            f.write(body)
    if "expect" in case:
        ok(status == str(case["expect"]), "%s: status %s (expected %s)%s" %
           (what, status, case["expect"], "" if status == str(case["expect"]) else
            " body: " + body[:200].decode("utf-8", "replace")))
    responses = op["responses"]
    if not ok(status in responses, "%s: status %s is documented for %s %s" %
              (what, status, method.upper(), tpl)):
        return
    resp = resolve(doc, responses[status])
    ok(re.fullmatch(r"[0-9a-f]{16}", headers.get("x-request-id", "")) is not None,
       "%s: x-request-id header" % what)
    ctype = headers.get("content-type", "")
    content = resp.get("content", {})
    media = next((m for m in content if m.lower() == ctype.lower()), None)
    if not ok(media is not None, "%s: content type %r is documented for %s (%s)" %
              (what, ctype, status, ", ".join(content))):
        return
    if media == "application/json" or media.endswith("+json"):
        try:
            j = json.loads(body)
        except ValueError as e:
            ok(False, "%s: the body is JSON (%s)" % (what, e))
            return
        errs = validate(doc, content[media].get("schema", {}), j)
        ok(not errs, "%s: the body is valid against the documented schema%s" %
           (what, "" if not errs else ": " + "; ".join(errs[:4])))
        if status[0] in "45" and "code" in case:
            ok(j.get("error", {}).get("code") == case["code"],
               "%s: error code %s" % (what, case["code"]))


def check_live(doc, cases_file, env):
    with open(cases_file) as f:
        cases = json.load(f)
    seen = set()
    for c in cases:
        run_case(doc, c, env, seen)
    for path, m, op, item in operations(doc):
        if op.get("x-portseal-status") == "planned":
            print("ok - # %s %s is planned: not exercised" % (m.upper(), path))
            continue
        ok((m, path) in seen, "%s %s is exercised by a case" % (m.upper(), path))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with open(sys.argv[2]) as f:
        doc = yaml.safe_load(f)
    if sys.argv[1] == "structure":
        check_structure(doc)
    elif sys.argv[1] == "live":
        import os
        check_live(doc, sys.argv[3], os.environ)
    else:
        sys.exit(__doc__)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

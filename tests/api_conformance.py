#!/usr/bin/env python3
"""Holds certmint's REST API against its OpenAPI document (src/http/openapi.json).

    api_conformance.py DOC BASE CACERT --cred ROLE=CERT,KEY ... --param NAME=VALUE ...
                       [--csr FILE]

For every path and method of the document, in document order, it calls the
real server (BASE, e.g. https://127.0.0.1:8443) once with a client
certificate of the first role the operation's x-certmint-roles admits (no
certificate for "anonymous"), path parameters from --param NAME=VALUE
(OPERATIONID.NAME=VALUE wins over NAME=VALUE), the JSON body from the
document's example (the submit operation sends --csr as application/pkcs10),
and checks:
  - the status is a documented one and a success (2xx): the caller prepares
    the state (a pending request to approve, one to deny, a held certificate
    to release);
  - the Content-Type is one the response documents; a JSON body validates
    against the documented schema (required properties, types, enums,
    nullable types, arrays, $ref and allOf);
  - without a client certificate an operation that needs one answers 401,
    and with a certificate of a role it does not admit ("--cred none=..."),
    403: both documented, both application/problem+json with the RFC 9457
    members;
  - every method the document does not list for a path answers 405
    (documented), and a path next to the documented ones that the document
    lacks answers 404 (every route the server answers is in the document; the
    unit test tests/unit/test_api.c checks the route table itself).
Prints "ok - ..." / "not ok - ..." lines; exits 1 on any failure.
Only python3's standard library (no pip)."""
import json
import re
import ssl
import sys
import urllib.error
import urllib.request

FAILS = 0


def ok(msg):
    print("ok - api_conformance: " + msg)


def bad(msg):
    global FAILS
    FAILS += 1
    print("not ok - api_conformance: " + msg)


def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        parts = node["$ref"].lstrip("#/").split("/")
        node = doc
        for p in parts:
            node = node[p]
    return node


TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def type_ok(t, v):
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return isinstance(v, TYPES[t])


def validate(doc, schema, v, where):
    """Errors of v against schema (the subset the document uses)."""
    schema = resolve(doc, schema)
    errs = []
    for sub in schema.get("allOf", []):
        errs += validate(doc, sub, v, where)
    if "oneOf" in schema:
        if not any(not validate(doc, s, v, where) for s in schema["oneOf"]):
            errs.append("%s: matches none of oneOf" % where)
    t = schema.get("type")
    if t is not None:
        ts = t if isinstance(t, list) else [t]
        if not any(type_ok(x, v) for x in ts):
            return errs + ["%s: %r is not %s" % (where, v, "|".join(ts))]
    if "enum" in schema and v not in schema["enum"]:
        errs.append("%s: %r not in %s" % (where, v, schema["enum"]))
    if isinstance(v, dict):
        for r in schema.get("required", []):
            if r not in v:
                errs.append("%s: required property %r missing" % (where, r))
        for k, s in schema.get("properties", {}).items():
            if k in v:
                errs += validate(doc, s, v[k], where + "." + k)
    if isinstance(v, list) and "items" in schema:
        for i, x in enumerate(v):
            errs += validate(doc, schema["items"], x, "%s[%d]" % (where, i))
    return errs


class Client:
    def __init__(self, base, cacert, creds):
        self.base, self.cacert, self.creds = base, cacert, creds

    def call(self, method, path, role=None, body=None, ctype=None):
        ctx = ssl.create_default_context(cafile=self.cacert)
        if role is not None:
            cert, key = self.creds[role]
            ctx.load_cert_chain(cert, key)
        req = urllib.request.Request(self.base + path, data=body, method=method)
        if ctype:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read()


def check_body(doc, op_name, responses, status, ctype, body):
    """The answer against the documented response of its status."""
    resp = resolve(doc, responses.get(str(status), {}))
    content = resp.get("content")
    if not content:
        return
    base = ctype.split(";")[0].strip()
    if base not in content:
        bad("%s %d: Content-Type %r not documented (%s)" % (op_name, status, ctype, ", ".join(content)))
        return
    schema = content[base].get("schema")
    if base.endswith("json") and schema is not None:
        try:
            v = json.loads(body)
        except ValueError as e:
            bad("%s %d: body is not JSON: %s" % (op_name, status, e))
            return
        errs = validate(doc, schema, v, "body")
        if errs:
            bad("%s %d: %s" % (op_name, status, "; ".join(errs[:5])))
        else:
            ok("%s %d: body matches the schema" % (op_name, status))


def fill(path, op_id, params):
    def sub(m):
        name = m.group(1)
        for k in (op_id + "." + name, name):
            if k in params:
                return params[k]
        raise KeyError("no --param for {%s} of %s" % (name, op_id))
    return re.sub(r"\{([^}]+)\}", sub, path)


def request_body(doc, op, op_id, csr):
    rb = resolve(doc, op.get("requestBody", {}))
    content = rb.get("content", {})
    if "application/pkcs10" in content and csr is not None:
        with open(csr, "rb") as f:
            return f.read(), "application/pkcs10"
    if "application/json" in content:
        ex = content["application/json"].get("example")
        if ex is not None:
            return json.dumps(ex).encode(), "application/json"
    return None, None


def check_operation(doc, cl, path, method, op, params, csr):
    op_id = op.get("operationId", method + " " + path)
    roles = op.get("x-certmint-roles", [])
    url = fill(path, op_id, params)
    body, ctype = request_body(doc, op, op_id, csr)
    responses = op["responses"]
    real = [r for r in roles if r != "anonymous"]
    role = real[0] if real and "anonymous" not in roles else None
    if real and "anonymous" in roles:
        role = real[0]
    st, ct, data = cl.call(method.upper(), url, role, body, ctype)
    if str(st) not in responses or not 200 <= st < 300:
        bad("%s %s as %s: status %d (%s)" % (method.upper(), url, role or "anonymous", st, data[:300]))
    else:
        ok("%s %s as %s: %d documented" % (method.upper(), path, role or "anonymous", st))
    check_body(doc, op_id, responses, st, ct, data)
    if roles and "anonymous" not in roles:
        expect_problem(doc, cl, op_id, method, url, None, body, ctype, responses, 401)
        if "none" in cl.creds:
            expect_problem(doc, cl, op_id, method, url, "none", body, ctype, responses, 403)


def expect_problem(doc, cl, op_id, method, url, role, body, ctype, responses, want):
    st, ct, data = cl.call(method.upper(), url, role, body, ctype)
    what = "%s without a client certificate" % op_id if role is None else "%s with no role" % op_id
    if st != want or str(want) not in responses:
        bad("%s: %d (expected %d, documented: %s)" % (what, st, want, str(want) in responses))
        return
    ok("%s: %d" % (what, st))
    check_body(doc, op_id, responses, st, ct, data)


def check_unlisted(doc, cl, role):
    """405 for undocumented methods, 404 for undocumented paths."""
    for path, item in doc["paths"].items():
        url = fill(path, "", {"id": "1", "serial": "01"})
        for m in ("get", "post"):
            if m in item:
                continue
            st, ct, data = cl.call(m.upper(), url, role, b"{}" if m == "post" else None,
                                   "application/json" if m == "post" else None)
            if st == 405 and ct.startswith("application/problem+json"):
                ok("%s %s (not documented): 405 problem" % (m.upper(), path))
            else:
                bad("%s %s (not documented): %d %s" % (m.upper(), path, st, ct))
    for extra in ("/api/v1/", "/api/v1/nothing", "/api/v1/requests/1/nothing",
                  "/api/v1/certificates/01/nothing", "/api/v1/crl/1", "/api/v1/exit-modules/x"):
        st, ct, _ = cl.call("GET", extra, role)
        if st == 404 and ct.startswith("application/problem+json"):
            ok("GET %s (not in the document): 404 problem" % extra)
        else:
            bad("GET %s (not in the document): %d %s" % (extra, st, ct))


def main(argv):
    args, creds, params, csr = [], {}, {}, None
    it = iter(argv[1:])
    for a in it:
        if a == "--cred":
            role, files = next(it).split("=", 1)
            creds[role] = tuple(files.split(",", 1))
        elif a == "--param":
            k, v = next(it).split("=", 1)
            params[k] = v
        elif a == "--csr":
            csr = next(it)
        else:
            args.append(a)
    docpath, base, cacert = args
    with open(docpath) as f:
        doc = json.load(f)
    if not doc.get("openapi", "").startswith("3."):
        bad("not an OpenAPI 3 document")
    cl = Client(base, cacert, creds)
    st, ct, data = cl.call("GET", "/api/v1/openapi.json")
    if st == 200 and json.loads(data) == doc:
        ok("the server serves this document at /api/v1/openapi.json")
    else:
        bad("/api/v1/openapi.json: %d, not the document" % st)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            try:
                check_operation(doc, cl, path, method, op, params, csr)
            except KeyError as e:
                bad(str(e))
    check_unlisted(doc, cl, "admin" if "admin" in creds else None)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

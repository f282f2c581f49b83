#!/usr/bin/env python3
"""Checks docs/openapi.json (GET /openapi.json) three ways; nothing is downloaded.

  openapi_check.py structure DOC
      OpenAPI 3.1's rules that can be checked offline: the version, info,
      paths that start with '/', every {name} of a path declared as a required
      path parameter (and no other), responses keyed by status code with a
      description, every $ref resolved, operationIds unique, security schemes
      declared, and every schema a valid JSON Schema 2020-12 (python3-jsonschema).
  openapi_check.py routes DOC < ROUTES
      ROUTES: the server's route table (`serve --list-routes`, METHOD PATTERN
      per line). Every route is described, and every described operation is a
      route.
  openapi_check.py live DOC PORT TOKEN
      Calls every described operation on the server at 127.0.0.1:PORT with the
      document's own examples (parameters and bodies): each answers a status
      the document lists for it (never 405, never 404 "no such path") with a
      documented content type.
Exits 1 with one line per problem.
"""
import http.client
import json
import re
import sys

METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]


def resolve(doc, node, problems, where):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        seen += 1
        if not ref.startswith("#/") or seen > 10:
            problems.append(f"{where}: $ref {ref} is not a local reference")
            return {}
        target = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                problems.append(f"{where}: $ref {ref} does not resolve")
                return {}
            target = target[part]
        node = target
    return node


def all_refs(node, path, out):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            out.append((path, node))
        for k, v in node.items():
            all_refs(v, f"{path}/{k}", out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            all_refs(v, f"{path}/{i}", out)


def operations(doc):
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method], item.get("parameters", [])


def structure(doc):
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    problems = []
    if not re.fullmatch(r"3\.1\.\d+", str(doc.get("openapi", ""))):
        problems.append(f"openapi is {doc.get('openapi')!r}, not 3.1.x")
    info = doc.get("info", {})
    if not isinstance(info.get("title"), str) or not isinstance(info.get("version"), str):
        problems.append("info needs a title and a version (strings)")
    for path, node in (lambda l: (all_refs(doc, "", l), l)[1])([]):
        resolve(doc, node, problems, path)
    schemes = doc.get("components", {}).get("securitySchemes", {})
    for name, scheme in schemes.items():
        if scheme.get("type") not in ("apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"):
            problems.append(f"security scheme {name}: unknown type {scheme.get('type')!r}")
        if scheme.get("type") == "apiKey" and (scheme.get("in") not in ("query", "header", "cookie") or "name" not in scheme):
            problems.append(f"security scheme {name}: an apiKey needs name and in")
        if scheme.get("type") == "http" and "scheme" not in scheme:
            problems.append(f"security scheme {name}: http needs a scheme")

    def check_security(reqs, where):
        for req in reqs:
            for name in req:
                if name not in schemes:
                    problems.append(f"{where}: security scheme {name} is not declared")

    check_security(doc.get("security", []), "the document")

    def check_schema(schema, where):
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as e:
            problems.append(f"{where}: not a valid JSON Schema: {e.message}")

    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        check_schema(schema, f"components/schemas/{name}")
    ids = {}
    for path, method, op, shared in operations(doc):
        where = f"{method.upper()} {path}"
        if not path.startswith("/"):
            problems.append(f"{where}: a path must start with '/'")
        if "operationId" in op:
            if op["operationId"] in ids:
                problems.append(f"{where}: operationId {op['operationId']} also names {ids[op['operationId']]}")
            ids[op["operationId"]] = where
        check_security(op.get("security", []), where)
        params = [resolve(doc, p, problems, where) for p in shared + op.get("parameters", [])]
        in_path = {p.get("name") for p in params if p.get("in") == "path"}
        for p in params:
            if p.get("in") not in ("path", "query", "header", "cookie") or not p.get("name"):
                problems.append(f"{where}: parameter {p.get('name')!r} needs a name and in path/query/header/cookie")
            if p.get("in") == "path" and p.get("required") is not True:
                problems.append(f"{where}: path parameter {p.get('name')} must be required")
            if "schema" in p:
                check_schema(p["schema"], f"{where} parameter {p.get('name')}")
        template = set(re.findall(r"\{([^}]+)\}", path))
        if template != in_path:
            problems.append(f"{where}: path names {sorted(template)}, path parameters declared {sorted(in_path)}")
        responses = op.get("responses")
        if not isinstance(responses, dict) or not responses:
            problems.append(f"{where}: no responses")
            continue
        for code, response in responses.items():
            if not re.fullmatch(r"[1-5](\d\d|XX)|default", code):
                problems.append(f"{where}: response key {code} is not a status code")
            r = resolve(doc, response, problems, f"{where} {code}")
            if not isinstance(r.get("description"), str):
                problems.append(f"{where} {code}: a response needs a description")
            for media, content in r.get("content", {}).items():
                if "schema" in content:
                    check_schema(content["schema"], f"{where} {code} {media}")
        body = resolve(doc, op.get("requestBody", {}), problems, where)
        for media, content in body.get("content", {}).items():
            if "schema" in content:
                check_schema(content["schema"], f"{where} body {media}")
                if "example" in content:
                    # References point into the document: it is the root they resolve against.
                    schema = {**content["schema"], "components": doc.get("components", {})}
                    for e in Draft202012Validator(schema).iter_errors(content["example"]):
                        problems.append(f"{where}: the body's example does not fit its schema: {e.message}")
    return problems


def described(doc):
    return {(m.upper(), p) for p, m, _, _ in operations(doc)}


def read_routes(lines):
    out = set()
    for line in lines:
        if line.strip():
            method, pattern = line.split()
            out.add((method, pattern))
    return out


def routes(doc, table):
    problems = [f"{m} {p} is a route of the server, not described" for m, p in sorted(table - described(doc))]
    problems += [f"{m} {p} is described, not a route of the server" for m, p in sorted(described(doc) - table)]
    if not table:
        problems.append("the server listed no routes")
    return problems


def example_of(doc, param, problems, where):
    p = resolve(doc, param, problems, where)
    if "example" not in p:
        problems.append(f"{where}: parameter {p.get('name')} has no example to call it with")
        return p, ""
    return p, str(p["example"])


def call(port, token, method, path, headers, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    hs = {"Authorization": "Bearer " + token, **headers}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hs["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=hs)
    r = conn.getresponse()
    kind = r.getheader("Content-Type", "")
    text = "" if kind.startswith("text/event-stream") else r.read(1 << 20).decode("utf-8", "replace")
    conn.close()  # a stream ends here: only its status and type are looked at
    return r.status, kind, text


def live(doc, port, token):
    problems = []
    ops = list(operations(doc))
    # The pipeline the examples name exists first: its creation is an operation too.
    ops.sort(key=lambda o: (o[2].get("operationId") != "createPipeline"))
    for path, method, op, shared in ops:
        where = f"{method.upper()} {path}"
        url, query, headers = path, [], {}
        for param in shared + op.get("parameters", []):
            p, value = example_of(doc, param, problems, where)
            if p.get("in") == "path":
                url = url.replace("{" + p["name"] + "}", value)
            elif p.get("in") == "query":
                query.append(f"{p['name']}={value}")
            elif p.get("in") == "header":
                headers[p["name"]] = value
        if query:
            url += "?" + "&".join(query)
        body = None
        rb = resolve(doc, op.get("requestBody", {}), problems, where)
        if rb:
            content = rb.get("content", {}).get("application/json", {})
            if "example" not in content:
                problems.append(f"{where}: the body has no example to call it with")
            body = content.get("example", {})
        status, kind, text = call(port, token, method.upper(), url, headers, body)
        unknown_route = status == 404 and "no such path" in text
        if status == 405 or unknown_route:
            problems.append(f"{where} ({url}): {status} {text.strip()[:200]}: the server does not answer it")
            continue
        documented = op.get("responses", {})
        if str(status) not in documented:
            problems.append(f"{where} ({url}): {status} is not a documented status ({', '.join(documented)}): {text.strip()[:200]}")
            continue
        r = resolve(doc, documented[str(status)], problems, where)
        media = list(r.get("content", {}))
        if media and not any(m == "*/*" or kind.replace(" ", "").startswith(m.replace(" ", "")) for m in media):
            problems.append(f"{where} ({url}): {status} answered {kind!r}, documented {media}")
    return problems


def main():
    mode, doc = sys.argv[1], json.load(open(sys.argv[2]))
    if mode == "structure":
        problems = structure(doc)
    elif mode == "routes":
        problems = routes(doc, read_routes(sys.stdin))
    else:
        problems = live(doc, int(sys.argv[3]), sys.argv[4])
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

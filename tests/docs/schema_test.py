#!/usr/bin/env python3
"""docs.schema: docs/spec.schema.json and `dairector check` agree.

Every spec of tests/docs/spec_corpus.json, every example in examples/, every
full spec shown in docs/spec.md and a few generated at the limits is judged
twice: by `dairector check` (exit 0 or 2, and for a refusal the sentence the
case names) and by a real JSON Schema validator (python3-jsonschema, draft
2020-12). The verdicts must be the same, except for the cases the corpus
marks `schema_blind` (a rule a schema cannot express: duplicate names,
unknown names, cycles, upstream, 5.0 as a count): there the schema must
accept the spec, so a mark that turns stale is noticed. The canonical form
that `check --json` prints of every valid spec must be valid too.

JSON Schema regular expressions are ECMA-262, where `$` is the end of the
input; Python's `re` also lets `$` match before a final newline, so the
validator used here reads `$` as ECMA-262 does.

Usage: schema_test.py DAIRECTOR SOURCE_DIR
"""
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

from tally import bad, finish, ok  # tests/docs/tally.py


def ecma_pattern(pattern):
    """The pattern with `$` outside a character class made `\\Z` (ECMA-262's end of input)."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        elif c == "$" and not in_class:
            c = r"\Z"
        out.append(c)
        i += 1
    return "".join(out)


def make_validator(schema):
    import jsonschema
    from jsonschema import validators

    def pattern(validator, patrn, instance, _schema):
        if validator.is_type(instance, "string") and not re.search(ecma_pattern(patrn), instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {patrn!r}")

    cls = validators.extend(jsonschema.Draft202012Validator, {"pattern": pattern})
    cls.check_schema(schema)  # the schema itself is a valid draft 2020-12 schema
    return cls(schema)


def load_json(text):
    """The document, or None when the text is not JSON (NaN and Infinity are not JSON)."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    try:
        return json.loads(text, parse_constant=refuse)
    except ValueError:
        return None


def schema_verdict(validator, text):
    """("valid" | "refused", why)."""
    doc = load_json(text)
    if doc is None:
        return "refused", "not JSON"
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return "valid", ""
    e = errors[0]
    return "refused", f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:160]}"


def pointer_parts(pointer):
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def walk(doc, parts):
    for p in parts:
        doc = doc[int(p)] if isinstance(doc, list) else doc[p]
    return doc


def build_text(case, base):
    if "text" in case:
        return case["text"]
    spec = copy.deepcopy(case["spec"] if "spec" in case else base)
    for pointer, value in case.get("set", {}).items():
        *parent, last = pointer_parts(pointer)
        target = walk(spec, parent)
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    for pointer in case.get("remove", []):
        *parent, last = pointer_parts(pointer)
        target = walk(spec, parent)
        del target[int(last) if isinstance(target, list) else last]
    return json.dumps(spec, ensure_ascii=False)


class checker:
    """Runs `dairector check` on spec texts written to a scratch folder."""

    def __init__(self, dairector, folder):
        self.dairector, self.folder, self.n = dairector, folder, 0

    def run(self, text, json_out=False):
        self.n += 1
        path = os.path.join(self.folder, f"spec-{self.n}.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        args = [self.dairector, "check"] + (["--json"] if json_out else []) + [path]
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr


def judge(name, text, want, says, blind, validator, check):
    """One spec: check's verdict as wanted, the schema's the same (or blind)."""
    code, out, err = check.run(text)
    verdict = {0: "valid", 2: "refused"}.get(code)
    if verdict != want:
        return bad(name, f"dairector check exited {code}, expected {want}: {(out + err).strip()[:300]}")
    if says and says not in err:
        return bad(name, f"dairector check refused it, but not saying {says!r}: {err.strip()}")
    got, why = schema_verdict(validator, text)
    if blind:
        if got != "valid":
            return bad(name, f"marked schema_blind, yet the schema refuses it ({why}): drop the mark")
    elif got != want:
        return bad(name, f"dairector check says {want}, the schema says {got} {why}".rstrip())
    if want == "valid":
        # The canonical form (what pipeline_created stores) is a valid spec too.
        code, out, err = check.run(text, json_out=True)
        canonical = json.loads(out) if code == 0 else None
        if canonical is None:
            return bad(name, f"check --json exited {code}: {err.strip()}")
        for stage in canonical["stages"]:
            stage.pop("before", None)
        canonical_text = json.dumps(canonical)
        got, why = schema_verdict(validator, canonical_text)
        if got != "valid":
            return bad(name, f"the schema refuses the canonical form: {why}")
        if check.run(canonical_text)[0] != 0:
            return bad(name, "dairector check refuses the canonical form")
    ok(name + (" (schema blind)" if blind else ""))


def doc_specs(path):
    """Every ```json block of a Markdown file that is a whole spec (it has stages)."""
    with open(path, encoding="utf-8") as f:
        blocks = re.findall(r"^```json\n(.*?)^```", f.read(), re.M | re.S)
    for i, block in enumerate(blocks):
        doc = load_json(block)
        if isinstance(doc, dict) and "stages" in doc:
            yield i, block


def chain(n):
    stages = [{"name": f"s{i}", "run": {"builtin": "echo"}} for i in range(n)]
    for i in range(1, n):
        stages[i]["after"] = [f"s{i - 1}"]
    return json.dumps({"name": "long", "stages": stages})


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1])
        return 2
    dairector, root = sys.argv[1], sys.argv[2]
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        print(f"FAIL setup: {sys.executable} has no jsonschema module: install python3-jsonschema (tools/deps.sh)")
        return 1
    with open(os.path.join(root, "docs", "spec.schema.json"), encoding="utf-8") as f:
        validator = make_validator(json.load(f))
    with open(os.path.join(root, "tests", "docs", "spec_corpus.json"), encoding="utf-8") as f:
        corpus = json.load(f)
    with tempfile.TemporaryDirectory() as folder:
        check = checker(dairector, folder)
        names = set()
        for case in corpus["cases"]:
            name = case["case"]
            if name in names:
                bad(name, "two cases of the corpus have this name")
            names.add(name)
            judge(name, build_text(case, corpus["base"]), case["check"], case.get("says"),
                  case.get("schema_blind"), validator, check)
        examples = os.path.join(root, "examples")
        for file in sorted(os.listdir(examples)):
            if file.endswith(".json"):
                with open(os.path.join(examples, file), encoding="utf-8") as f:
                    judge(f"examples/{file}", f.read(), "valid", None, None, validator, check)
        for i, text in doc_specs(os.path.join(root, "docs", "spec.md")):
            judge(f"docs/spec.md json block {i + 1}", text, "valid", None, None, validator, check)
        judge("generated: 1000 stages", chain(1000), "valid", None, None, validator, check)
        judge("generated: 1001 stages", chain(1001), "refused", "more than the limit of 1000", None, validator, check)
    blind = sum(1 for c in corpus["cases"] if c.get("schema_blind"))
    print(f"({blind} corpus cases are beyond what a schema can express; see docs/spec.md#what-the-schema-cannot-say)")
    return finish()


if __name__ == "__main__":
    sys.exit(main())

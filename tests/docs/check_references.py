#!/usr/bin/env python3
"""docs.references: every reference to the documentation points somewhere.

Reads every file of the repository (the ones git tracks, or every file but
build output when this is not a git checkout) and checks:
- a path under docs/ (with or without `#` and an anchor) and the README with
  an anchor, anywhere (code, comments, scripts, docs): the file exists and
  has that anchor;
- in Markdown, every relative link `[text](path#anchor)` and `(#anchor)`;
- no file cites the design notes that were never part of the repository
  (the contract, design, style and CAF notes by their old file names).
An anchor is a heading's GitHub slug (lowercase, punctuation dropped, spaces
as '-', '-1', '-2' for repeats) or an explicit <a id="...">.

Usage: check_references.py SOURCE_DIR
"""
import os
import re
import subprocess
import sys

# The old file names, spelt so that this file does not cite them itself.
LEGACY = re.compile(r"\b(?:" + "CONTRACT" + r"|" + "DESIGN" + r"|" + "STYLE" + r")\.md\b|\bCAF-0\.17\.md\b")
DOC_REF = re.compile(r"(?<![\w/.$-])((?:docs/[\w./-]*[\w-]\.(?:md|json|png))|README\.md)(#[\w-]+)?")
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")
# Generated files whose links are not ours to fix here, with why.
SKIP_LINKS = {
    "docs/performance/report.md": "written by tools/bench.sh (bench_report); its image links are relative to the "
                                  "repository root, not to the report's folder",
}
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
EXPLICIT = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


def repository_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True, check=True).stdout
        files = [f for f in out.decode().split("\0") if f]
        if files:
            return files
    except (OSError, subprocess.CalledProcessError):
        pass
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(("build", ".git", "bench-results"))]
        found += [os.path.relpath(os.path.join(folder, n), root) for n in names]
    return found


def slug(text):
    text = re.sub(r"`([^`]*)`", r"\1", text)               # code spans keep their text
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text)                     # inline HTML goes
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors_of(path, cache={}):
    if path not in cache:
        found, seen, fenced = set(), {}, False
        with open(path, encoding="utf-8") as f:
            for line in f:
                if FENCE.match(line):
                    fenced = not fenced
                    continue
                if fenced:
                    continue
                found.update(EXPLICIT.findall(line))
                m = HEADING.match(line)
                if m:
                    s = slug(m.group(2))
                    n = seen.get(s, 0)
                    seen[s] = n + 1
                    found.add(s if n == 0 else f"{s}-{n}")
        cache[path] = found
    return cache[path]


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1])
        return 2
    root = os.path.abspath(sys.argv[1])
    problems, good = [], 0

    def target(where, path, anchor):
        nonlocal good
        full = os.path.normpath(os.path.join(root, path))
        if not os.path.exists(full):
            problems.append(f"{where}: {path}{anchor or ''}: no such file")
        elif anchor and (not full.endswith(".md") or anchor[1:] not in anchors_of(full)):
            problems.append(f"{where}: {path}{anchor}: no such section in {path}")
        else:
            good += 1

    for rel in sorted(repository_files(root)):
        full = os.path.join(root, rel)
        try:
            with open(full, encoding="utf-8") as f:
                lines = f.read().split("\n")
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue  # binary files hold no references
        markdown, fenced = rel.endswith(".md"), False
        for number, line in enumerate(lines, 1):
            where = f"{rel}:{number}"
            for m in LEGACY.finditer(line):
                problems.append(f"{where}: cites {m.group(0)}, which is not in the repository "
                                "(the documentation is docs/)")
            for m in DOC_REF.finditer(line):
                target(where, m.group(1), m.group(2))
            if not markdown or rel in SKIP_LINKS:
                continue
            if FENCE.match(line):
                fenced = not fenced
            if fenced:
                continue
            for m in MD_LINK.finditer(line):
                link = m.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", link):
                    continue  # http:, mailto: ...
                path, _, anchor = link.partition("#")
                rel_path = os.path.relpath(os.path.normpath(os.path.join(os.path.dirname(rel), path)), ".") \
                    if path else rel
                target(where, rel_path, "#" + anchor if anchor else None)
    for rel, why in SKIP_LINKS.items():
        print(f"skipped the Markdown links of {rel}: {why}")
    for p in problems:
        print(f"FAIL {p}")
    print(f"{good} passed, {len(problems)} failed")
    return 0 if not problems and good > 0 else 1


if __name__ == "__main__":
    sys.exit(main())

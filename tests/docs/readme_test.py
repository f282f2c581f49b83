#!/usr/bin/env python3
"""docs.readme: the README's commands run exactly as written.

Every ```sh block of README.md right after a `<!-- docs.readme -->` line is
run by bash, as written, in a fresh folder laid out like the repository's
root after the two setup commands (build/apps/dairector and examples/), with
TMPDIR inside the test's scratch folder and neither DAIRECTOR_JOURNAL nor
DAIRECTOR_SERVER set. The block is split into commands
(a command ends where bash says it is complete; a here-document runs to its
delimiter). Each command must exit 0, and the comment lines right under it
are output it must print: each, with runs of spaces made one, is part of a
line of its standard output or standard error, in the order given.

Usage: readme_test.py DAIRECTOR SOURCE_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from tally import bad, finish, ok  # tests/docs/tally.py

MARKER = "<!-- docs.readme -->"
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
block_timeout_s = 240  # the whole block; a command that hangs fails the test, it does not hold CI


def blocks(readme):
    """The marked blocks: a list of (first line number, lines)."""
    lines = readme.split("\n")
    out = []
    for i, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j >= len(lines) or lines[j].strip() != "```sh":
            raise SystemExit(f"README.md:{i + 1}: {MARKER} must be followed by a ```sh block")
        end = j + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        out.append((j + 2, lines[j + 1:end]))
    return out


def complete(text):
    return subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True).returncode == 0


def steps(first_line, lines):
    """[(line number, command text, [expected output lines])]."""
    out, pending, start, delimiter = [], [], 0, None
    for n, line in enumerate(lines, first_line):
        if not pending and line.startswith("#"):
            if not out:
                raise SystemExit(f"README.md:{n}: output expected before any command")
            out[-1][2].append(line[1:].strip())
            continue
        if not pending and not line.strip():
            continue
        if not pending:
            start = n
        pending.append(line)
        if delimiter:
            if line == delimiter:
                delimiter = None
            else:
                continue
        elif (m := HEREDOC.search(line)) and len(pending) == 1:
            delimiter = m.group(2)
            continue
        if complete("\n".join(pending) + "\n"):
            out.append((start, "\n".join(pending), []))
            pending = []
    if pending:
        raise SystemExit(f"README.md:{start}: the command never ends")
    return out


def squeeze(text):
    return " ".join(text.split())


def matches(expected, out_lines, err_lines):
    """Each expected line in one of the two streams, in order within each stream."""
    cursors = {"out": 0, "err": 0}
    streams = {"out": [squeeze(x) for x in out_lines], "err": [squeeze(x) for x in err_lines]}
    for want in map(squeeze, expected):
        for name in ("out", "err"):
            lines = streams[name]
            hit = next((k for k in range(cursors[name], len(lines)) if want in lines[k]), None)
            if hit is not None:
                cursors[name] = hit + 1
                break
        else:
            return want
    return None


def run_block(index, first_line, lines, dairector, root, scratch):
    folder = os.path.join(scratch, f"block-{index}")
    os.makedirs(os.path.join(folder, "build", "apps"))
    os.symlink(dairector, os.path.join(folder, "build", "apps", "dairector"))
    shutil.copytree(os.path.join(root, "examples"), os.path.join(folder, "examples"))
    tmp = os.path.join(scratch, f"tmp-{index}")
    os.makedirs(tmp)
    results = os.path.join(scratch, f"results-{index}")
    os.makedirs(results)
    plan = steps(first_line, lines)
    script = []
    for k, (_, command, _) in enumerate(plan):
        base = os.path.join(results, str(k))
        script.append(f"{{\n{command}\n}} >'{base}.out' 2>'{base}.err' </dev/null; echo $? >'{base}.rc'")
    env = dict(os.environ, TMPDIR=tmp)
    for name in ("DAIRECTOR_JOURNAL", "DAIRECTOR_SERVER"):  # a reader's shell has neither set
        env.pop(name, None)
    try:
        subprocess.run(["bash", "-c", "\n".join(script)], cwd=folder, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=block_timeout_s)
    except subprocess.TimeoutExpired:
        pass  # the command that did not finish has no exit code: reported below
    for k, (number, command, expected) in enumerate(plan):
        name = f"README.md:{number} {command.splitlines()[0][:70]}"
        base = os.path.join(results, str(k))
        if not os.path.exists(base + ".rc"):
            bad(name, f"did not finish within {block_timeout_s} s (with the commands before it)")
            break
        with open(base + ".rc") as f:
            rc = int(f.read())
        with open(base + ".out", errors="replace") as f:
            out = f.read().split("\n")
        with open(base + ".err", errors="replace") as f:
            err = f.read().split("\n")
        shown = lambda: " | ".join(x for x in (out + err) if x.strip())[-400:]  # noqa: E731
        if rc != 0:
            bad(name, f"exit {rc}: {shown()}")
            continue
        missing = matches(expected, out, err)
        if missing is not None:
            bad(name, f"does not print {missing!r}; it printed: {shown()}")
            continue
        ok(name)
    return len(plan)


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1])
        return 2
    dairector, root = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        found = blocks(f.read())
    if len(found) < 2:
        bad("README.md", f"{len(found)} blocks marked {MARKER}: the tour and the crash walk-through must be")
    with tempfile.TemporaryDirectory() as scratch:
        for index, (first_line, lines) in enumerate(found):
            run_block(index, first_line, lines, dairector, root, scratch)
    return finish()


if __name__ == "__main__":
    sys.exit(main())

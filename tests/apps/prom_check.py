#!/usr/bin/env python3
"""A strict reader of the Prometheus text format 0.0.4 (docs/http.md#metrics).

Reads an exposition on stdin; exits 1 with a sentence naming the line when
it breaks a rule, else prints each sample as `KEY<TAB>VALUE`, KEY being the
name and the labels sorted by name: name{a="x",b="y"}. Rules checked:
  - only `# HELP NAME TEXT` and `# TYPE NAME TYPE` comments, each once per
    family, TYPE before the family's first sample, families not interleaved;
  - every sample belongs to a family with a TYPE (a histogram's samples are
    NAME_bucket, NAME_sum and NAME_count); counters end in _total;
  - names and label names are legal, label values escape only \\\\, \\" and \\n,
    no label twice, no series twice, values are numbers;
  - a histogram has le buckets in increasing order, cumulative counts,
    a last bucket le="+Inf" equal to _count, and a _sum.
"""
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class Bad(Exception):
    pass


def parse_labels(text, at):
    """Parses `{a="x",...}` from text[at]; returns (labels, index after)."""
    labels = {}
    i = at + 1
    while True:
        if text[i] == "}":
            return labels, i + 1
        m = LABEL.match(text, i)
        if not m:
            raise Bad("a label name is malformed")
        name = m.group(0)
        i = m.end()
        if text[i:i + 2] != '="':
            raise Bad(f"label {name} has no =\"")
        i += 2
        value = []
        while True:
            if i >= len(text):
                raise Bad(f"label {name}'s value is not closed")
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise Bad(f"label {name}'s value has an escape \\{nxt} that is not \\\\, \\\" or \\n")
                value.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise Bad(f"label {name}'s value holds a raw newline")
            else:
                value.append(c)
                i += 1
        if name in labels:
            raise Bad(f"label {name} given twice")
        labels[name] = "".join(value)
        if text[i] == ",":
            i += 1
        elif text[i] != "}":
            raise Bad("labels are not separated by ','")


def number(text):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise Bad(f"'{text}' is not a number")
    return float(text)


def key(name, labels):
    return name + ("{" + ",".join(f'{k}="{labels[k]}"' for k in sorted(labels)) + "}" if labels else "")


def family_of(name, types):
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
            return name[: -len(suffix)]
    return None


def check(text):
    types, helps, samples = {}, {}, {}
    done, current = set(), None  # families finished, the one being read
    hist = {}  # family -> {"buckets": [(le, v)], "sum": v, "count": v} per label set without le
    if not text.endswith("\n"):
        raise Bad("the exposition does not end with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        try:
            if line.startswith("#"):
                m = re.fullmatch(r"# (HELP|TYPE) ([^ ]+) (.*)", line)
                if not m:
                    raise Bad("a comment that is neither HELP nor TYPE")
                what, name, rest = m.groups()
                if not NAME.fullmatch(name):
                    raise Bad(f"'{name}' is not a metric name")
                if name in done:
                    raise Bad(f"family {name} appears again after another one")
                if what == "TYPE":
                    if name in types:
                        raise Bad(f"a second TYPE for {name}")
                    if rest not in TYPES:
                        raise Bad(f"unknown type '{rest}'")
                    if rest == "counter" and not name.endswith("_total"):
                        raise Bad(f"counter {name} does not end in _total")
                    if any(family_of(s.split("{")[0], {name: rest}) == name for s in samples):
                        raise Bad(f"TYPE of {name} after its samples")
                    types[name] = rest
                else:
                    if name in helps:
                        raise Bad(f"a second HELP for {name}")
                    helps[name] = rest
                if current and current != name:
                    done.add(current)
                current = name
                continue
            if not line:
                raise Bad("an empty line")
            m = NAME.match(line)
            if not m:
                raise Bad("a sample without a metric name")
            name, i = m.group(0), m.end()
            labels = {}
            if i < len(line) and line[i] == "{":
                labels, i = parse_labels(line, i)
            parts = line[i:].split(" ")
            if len(parts) not in (2, 3) or parts[0] != "":
                raise Bad("a sample is not NAME{LABELS} VALUE [TIMESTAMP]")
            value = number(parts[1])
            fam = family_of(name, types)
            if fam is None:
                raise Bad(f"sample {name} has no TYPE")
            if fam in done:
                raise Bad(f"family {fam} appears again after another one")
            if current and current != fam:
                done.add(current)
            current = fam
            k = key(name, labels)
            if k in samples:
                raise Bad(f"series {k} given twice")
            samples[k] = value
            if types[fam] == "histogram":
                if name == fam:
                    raise Bad(f"histogram {fam} has a sample without _bucket, _sum or _count")
                rest = {a: b for a, b in labels.items() if a != "le"}
                h = hist.setdefault(fam, {}).setdefault(key("", rest), {"buckets": []})
                if name.endswith("_bucket"):
                    if "le" not in labels:
                        raise Bad(f"{name} without le")
                    h["buckets"].append((number(labels["le"]), value))
                else:
                    h[name[len(fam) + 1:]] = value
        except Bad as e:
            raise Bad(f"line {n}: {e}: {line[:200]}")
        except IndexError:
            raise Bad(f"line {n}: cut short: {line[:200]}")
    for fam, series in hist.items():
        for labels, h in series.items():
            b = h["buckets"]
            where = f"histogram {fam}{labels}"
            if not b or b[-1][0] != math.inf:
                raise Bad(f"{where}: the last bucket is not le=\"+Inf\"")
            if any(b[j][0] >= b[j + 1][0] for j in range(len(b) - 1)):
                raise Bad(f"{where}: le bounds are not increasing")
            if any(b[j][1] > b[j + 1][1] for j in range(len(b) - 1)):
                raise Bad(f"{where}: bucket counts are not cumulative")
            if "count" not in h or "sum" not in h:
                raise Bad(f"{where}: no _count or no _sum")
            if b[-1][1] != h["count"]:
                raise Bad(f"{where}: le=\"+Inf\" is {b[-1][1]}, _count is {h['count']}")
    return samples


def main():
    try:
        samples = check(sys.stdin.read())
    except Bad as e:
        print(f"prom_check: {e}", file=sys.stderr)
        return 1
    for k, v in samples.items():
        print(f"{k}\t{int(v) if math.isfinite(v) and v == int(v) else v!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Helpers for events_test.sh (no timing: every wait is bounded and polled).

  sse_tool.py check FILE [PIPELINE=SEQ ...]
      FILE is what `curl -N .../events` wrote. Checks that the ids (journal-wide
      positions) strictly increase, that each data line is one JSON event whose
      pipeline's seqs arrive 1, 2, 3, ... exactly once, and, for each
      PIPELINE=SEQ given, that the pipeline's events run up to exactly SEQ.
      Prints the number of events and the last id.

  sse_tool.py hold PORT TOKEN N OUT STOP PATH...
      Opens N event streams (cycling PATHs) on one process's sockets, each
      until its head and first bytes (an event or a keepalive) arrived, then
      one more, and writes "open N extra=STATUS" to OUT (STATUS: what the
      extra stream was answered). Holds them open until the file STOP exists
      (at most 120 s), then closes them.
"""
import json
import os
import socket
import sys
import time


def parse(path):
    ids, events = [], []
    cur = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("id: "):
                cur = int(line[4:])
            elif line.startswith("data: "):
                ids.append(cur)
                events.append(json.loads(line[6:]))
    return ids, events


def check(path, wants):
    ids, events = parse(path)
    problems = []
    for a, b in zip(ids, ids[1:]):
        if b <= a:
            problems.append(f"id {b} after {a}")
    seqs = {}
    for e in events:
        p, s = e["pipeline"], e["seq"]
        want = seqs.get(p, 0) + 1
        if s != want:
            problems.append(f"{p}: seq {s} where {want} was due")
        seqs[p] = max(seqs.get(p, 0), s)
    for w in wants:
        p, s = w.split("=")
        if seqs.get(p, 0) != int(s):
            problems.append(f"{p}: last seq {seqs.get(p, 0)}, expected {s}")
    if problems:
        print("; ".join(problems[:5]))
        return 1
    print(f"{len(events)} events, last id {ids[-1] if ids else 0}")
    return 0


def request(port, token, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode())
    return s


def first_bytes(s):
    """The status of the answer once its head and some body arrived."""
    got = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
        head, sep, body = got.partition(b"\r\n\r\n")
        if sep and (body or not head.startswith(b"HTTP/1.1 200")):
            break
    return got.split(b" ", 2)[1].decode() if got.startswith(b"HTTP/") else "none"


def hold(port, token, n, out, stop, paths):
    socks, statuses = [], []
    for i in range(n):
        s = request(port, token, paths[i % len(paths)])
        socks.append(s)
    for s in socks:
        statuses.append(first_bytes(s))
    opened = statuses.count("200")
    extra = request(port, token, paths[0])
    extra_status = first_bytes(extra)
    extra.close()
    with open(out + ".tmp", "w") as f:
        f.write(f"open {opened} extra={extra_status}\n")
    os.rename(out + ".tmp", out)
    deadline = time.monotonic() + 120
    while not os.path.exists(stop) and time.monotonic() < deadline:
        time.sleep(0.05)
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3:]))
    if sys.argv[1] == "hold":
        sys.exit(hold(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7:]))
    sys.exit(2)

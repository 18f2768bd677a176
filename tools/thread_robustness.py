#!/usr/bin/env python3
"""Storyline (thread) quality across plausible variants of one stream, as
../shared/tools/robustness.py measures stories: each set alone, then every
variant of ../shared/tools/stream_variants.py through `newsdedup cluster
--resolve-merges`, threads scored against gold topics with
score_threads.py (beside this file). Prints thread B-cubed F1 by set and
variant, and each set's worst row.

usage: thread_robustness.py NEWSDEDUP_BINARY [--half 0|1] [NAME=SET.jsonl ...] [-- EXTRA CLUSTER FLAGS]
default sets: the uci, ecb and gva dev files in ../shared/data.
--half H keeps only the topics (story labels without their -ecb/-plus
event suffix) whose md5 is H mod 2: a topic's look-alike events stay
together, so each half still has threads to find."""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_TOOLS = os.path.join(HERE, "..", "..", "shared", "tools")
DATA = os.path.join(HERE, "..", "..", "shared", "data")
DEFAULT_SETS = [f"uci={DATA}/uci-news-dev.jsonl",
                f"ecb={DATA}/ecbplus-dev.jsonl",
                f"gva={DATA}/gva-dev.jsonl"]
EVENT_SUFFIX = re.compile(r"-(ecb|plus)$")


def halve(spec, half, tmp):
    """NAME=PATH -> NAME=copy holding the topics of one half."""
    name, path = spec.split("=", 1)
    out = os.path.join(tmp, f"half{half}-{name}.jsonl")
    with open(path, encoding="utf-8") as src, \
            open(out, "w", encoding="utf-8") as dst:
        for line in src:
            if not line.strip():
                continue
            topic = EVENT_SUFFIX.sub("", json.loads(line)["story"])
            if int(hashlib.md5(topic.encode()).hexdigest(), 16) % 2 == half:
                dst.write(line)
    return f"{name}={out}"


def cluster_and_score(binary, stream, out, sets, extra):
    """Thread F1 by set name for one stream."""
    r = subprocess.run([binary, "cluster", "--resolve-merges", stream,
                        "-o", out] + extra, capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        sys.exit(f"cluster failed on {stream}: {r.stderr.strip()[-300:]}")
    score = subprocess.run(
        ["/usr/bin/python3", os.path.join(HERE, "score_threads.py"), out]
        + sets, capture_output=True, text=True, timeout=600)
    scores = {}
    for m in re.finditer(r"^(\S+): .*F1=([0-9.]+)", score.stdout, re.M):
        scores[m.group(1)] = float(m.group(2))
    return scores


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary, args = sys.argv[1], sys.argv[2:]
    extra = []
    if "--" in args:
        extra = args[args.index("--") + 1:]
        args = args[:args.index("--")]
    half = None
    if args[:1] == ["--half"]:
        half, args = int(args[1]), args[2:]
    sets = args or DEFAULT_SETS
    names = [s.split("=", 1)[0] for s in sets]
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        if half is not None:
            sets = [halve(s, half, tmp) for s in sets]
        for s in sets:
            name, path = s.split("=", 1)
            scores = cluster_and_score(
                binary, path, os.path.join(tmp, f"alone-{name}.out"), [path],
                extra)
            table.setdefault("alone", {})[name] = scores.get(path)
        listing = subprocess.run(
            ["/usr/bin/python3", os.path.join(SHARED_TOOLS,
                                              "stream_variants.py"), tmp]
            + sets, capture_output=True, text=True, timeout=600)
        if listing.returncode != 0:
            sys.exit(listing.stderr)
        for variant in listing.stdout.split():
            stream = os.path.join(tmp, variant + ".jsonl")
            present = set()
            with open(stream, encoding="utf-8") as f:
                for line in f:
                    present.add(json.loads(line)["id"].split(":", 1)[0])
            table[variant] = cluster_and_score(
                binary, stream, os.path.join(tmp, variant + ".out"),
                [s for s in sets if s.split("=", 1)[0] in present], extra)
    width = max(len(v) for v in table) + 2
    print("thread F1".ljust(width) + "".join(n.rjust(8) for n in names))
    for variant, row in table.items():
        print(variant.ljust(width) + "".join(
            (f"{row[n]:.3f}" if row.get(n) is not None else "-").rjust(8)
            for n in names))
    worst = {n: min(row[n] for row in table.values() if row.get(n) is not None)
             for n in names}
    print("worst".ljust(width) + "".join(f"{worst[n]:.3f}".rjust(8)
                                         for n in names))


main()

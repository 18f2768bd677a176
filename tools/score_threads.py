#!/usr/bin/env python3
"""B-cubed precision/recall/F1 of the threads (storylines) in a `newsdedup
cluster --resolve-merges` answer file against gold topics, per set and
overall, measured like ../shared/tools/bcubed.py measures stories.

A gold topic is the story label without its event suffix: ECB+ labels
"20-ecb" and "20-plus" are two look-alike events of topic "20". Labels
without such a suffix are their own topic, so for those sets the score
says how much threading costs story precision. Ids in the answers may
carry a 'NAME:' prefix (see ../shared/tools/mix.py); per-set precision
counts every member of the predicted thread, other sets' included.

usage: score_threads.py ANSWERS.jsonl NAME=SET.jsonl [...]   (NAME= optional)"""
import collections
import json
import re
import sys

EVENT_SUFFIX = re.compile(r"-(ecb|plus)$")


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    gold, set_of = {}, {}
    for arg in argv[2:]:
        name, path = arg.split("=", 1) if "=" in arg else ("", arg)
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                r = json.loads(line)
                i = f"{name}:{r['id']}" if name else r["id"]
                gold[i] = f"{name}:{EVENT_SUFFIX.sub('', r['story'])}"
                set_of[i] = name or path
    pred = {}
    with open(argv[1]) as f:
        for line in f:
            r = json.loads(line)
            if "threadId" not in r and "thread_id" not in r:
                sys.exit(f"answer without a thread id: {line.strip()[:120]}")
            pred[r.get("articleId") or r.get("article_id")] = (
                r.get("threadId") or r.get("thread_id"))
    missing = [i for i in gold if i not in pred]
    if missing:
        sys.exit(f"{len(missing)} articles have no answer, e.g. {missing[0]}")
    gold_sets, pred_sets = collections.defaultdict(set), collections.defaultdict(set)
    for i in gold:
        gold_sets[gold[i]].add(i)
        pred_sets[pred[i]].add(i)

    def score(ids):
        p = sum(len(gold_sets[gold[i]] & pred_sets[pred[i]]) / len(pred_sets[pred[i]])
                for i in ids) / len(ids)
        r = sum(len(gold_sets[gold[i]] & pred_sets[pred[i]]) / len(gold_sets[gold[i]])
                for i in ids) / len(ids)
        return p, r, 2 * p * r / (p + r)

    for s in sorted(set(set_of.values())):
        ids = [i for i in gold if set_of[i] == s]
        threads = len({pred[i] for i in ids})
        print("%s: P=%.3f R=%.3f F1=%.3f n=%d threads=%d topics=%d" % (
            (s,) + score(ids) + (len(ids), threads,
                                 len({gold[i] for i in ids}))))
    print("all: P=%.3f R=%.3f F1=%.3f n=%d" % (score(list(gold)) + (len(gold),)))


if __name__ == "__main__":
    main(sys.argv)

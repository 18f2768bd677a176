#!/usr/bin/env python3
"""The clusterer a user would otherwise write with scikit-learn: TF-IDF
vectors of the headlines, every pair at cosine >= --threshold linked,
stories = connected components. Used by bench/scale_benchmark.cc on the
same corpus; prints one line:

    reference: articles=N done=N seconds=S articles/s=R f1=F

The pair search runs in chunks of rows; past --max-seconds it stops, and
the throughput covers the rows done (f1 is then "nan": no full
clustering). Debian's python3-sklearn; run with /usr/bin/python3.

usage: reference_clusterer.py CORPUS.jsonl [--threshold 0.5] [--max-seconds 300]
"""
import argparse
import collections
import json
import time

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import TfidfVectorizer


def bcubed_f1(gold, pred):
    pair = collections.Counter(zip(gold, pred))
    g, p = collections.Counter(gold), collections.Counter(pred)
    P = sum(v * v / p[b] for (a, b), v in pair.items()) / len(gold)
    R = sum(v * v / g[a] for (a, b), v in pair.items()) / len(gold)
    return 2 * P * R / (P + R)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--chunk", type=int, default=2000)
    args = parser.parse_args()
    titles, gold = [], []
    with open(args.corpus, encoding="utf-8") as f:
        for line in f:
            a = json.loads(line)
            titles.append(a["title"])
            gold.append(a["story"])
    n = len(titles)
    start = time.monotonic()
    X = TfidfVectorizer().fit_transform(titles)  # rows L2-normalised
    XT = X.T.tocsr()
    rows, cols = [], []
    done = 0
    while done < n and time.monotonic() - start < args.max_seconds:
        block = X[done:done + args.chunk] @ XT
        block = block.tocoo()
        keep = block.data >= args.threshold
        rows.append(block.row[keep] + done)
        cols.append(block.col[keep])
        done = min(n, done + args.chunk)
    elapsed = time.monotonic() - start
    f1 = float("nan")
    if done == n:
        r, c = np.concatenate(rows), np.concatenate(cols)
        graph = coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        elapsed = time.monotonic() - start
        f1 = bcubed_f1(gold, labels.tolist())
    print(f"reference: articles={n} done={done} seconds={elapsed:.1f} "
          f"articles/s={done / elapsed:.0f} f1={f1:.3f}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Replication benchmark (not a test): articles/s through 3 replicas on a
3-node NATS JetStream cluster against one single-node server, in the same
run, and the catch-up speed of a new replica from an empty state.

Clients are `newsdedup client assign` processes (AssignStream, C++), each
with its share of the articles; against the replicas they are spread over
the three. Everything binds to loopback and stops by itself.

  PYTHONPATH=build/python /usr/bin/python3 tools/replication_benchmark.py
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from google.protobuf import json_format

from replication_harness import (Cluster, Process, add_arguments, free_port,
                                 load_articles, log)


def write_shares(articles, clients, workdir):
    paths = []
    for c in range(clients):
        path = os.path.join(workdir, f"share{c}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for a in articles[c::clients]:
                line = json_format.MessageToDict(a, preserving_proto_field_name=True)
                if "body" in line:
                    line["text"] = line.pop("body")
                f.write(json.dumps(line) + "\n")
        paths.append(path)
    return paths


def ingest(newsdedup, addresses, shares):
    """Runs one client per share, round-robin over `addresses`; seconds."""
    start = time.time()
    clients = [subprocess.Popen(
        [newsdedup, "client", "--server", addresses[i % len(addresses)],
         "assign", share], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True) for i, share in enumerate(shares)]
    for c in clients:
        _, err = c.communicate()
        if c.returncode != 0:
            raise RuntimeError(f"client failed: {err.strip()[-300:]}")
    return time.time() - start


def wait_serving(newsdedup, address, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if subprocess.run([newsdedup, "client", "--server", address,
                           "--timeout-seconds", "1", "health"],
                          capture_output=True).returncode == 0:
            return True
        time.sleep(0.1)
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--articles", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=6)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="newsdedup-replbench-")
    articles = load_articles(args.data, args.articles)
    shares = write_shares(articles, args.clients, workdir)
    log(f"{len(articles)} articles, {args.clients} clients")

    # One single-node server with its default store.
    port = free_port()
    single = Process("single", [
        args.newsdedup, "serve", "--listen", f"127.0.0.1:{port}",
        "--http-listen", "", "--data-dir", os.path.join(workdir, "single")],
        os.path.join(workdir, "single.log"))
    cluster = Cluster(args, workdir)
    try:
        single.start()
        if not wait_serving(args.newsdedup, f"127.0.0.1:{port}"):
            log("the single-node server did not start")
            return 2
        seconds = ingest(args.newsdedup, [f"127.0.0.1:{port}"], shares)
        single_rate = len(articles) / seconds
        log(f"single node: {single_rate:.0f} articles/s ({seconds:.1f} s)")
        single.stop()

        replicas = cluster.start(3)
        if replicas is None:
            return 2
        seconds = ingest(args.newsdedup, [r.address for r in replicas], shares)
        replicated_rate = len(articles) / seconds
        log(f"3 replicas: {replicated_rate:.0f} articles/s ({seconds:.1f} s)")

        entries = max(cluster.metrics(r).get(
            "newsdedup_replication_log_sequence", 0) for r in replicas)
        newcomer = cluster.add_replica()
        t0 = time.time()
        newcomer.start()
        while (cluster.metrics(newcomer).get(
                "newsdedup_replication_applied_sequence", -1) < entries
               and time.time() < t0 + 600):
            time.sleep(0.02)
        catchup = entries / (time.time() - t0)
        log(f"catch-up: {entries:.0f} entries in {time.time() - t0:.1f} s "
            "(process start included)")
        print(f"single_articles_per_s={single_rate:.0f} "
              f"replicated_articles_per_s={replicated_rate:.0f} "
              f"ratio={replicated_rate / single_rate:.2f} "
              f"catchup_entries_per_s={catchup:.0f}", flush=True)
        return 0
    finally:
        single.stop()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

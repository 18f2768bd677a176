#!/usr/bin/python3
"""Failover check of the replicated service (docs/replication.md).

Starts a 3-node NATS JetStream cluster and 3 newsdedup replicas on
loopback, streams articles from ../shared/data through all replicas from
several clients (a write refused with UNAVAILABLE is retried on another
replica), and meanwhile kill -9s one NATS node and one replica at random
moments, restarting each later. Then starts one more replica with an empty
state, lets it catch up, and checks every acknowledged article on every
replica. Kills only the processes it started; everything stops by itself.

The last line is:
  acknowledged=N lost=L divergent=D rounds=R failover_ms_p50=X
  failover_ms_max=Y catchup_entries_per_s=Z
Exit status 0 only when lost and divergent are 0.
"""

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import grpc

from newsdedup.v1 import dedup_pb2
from replication_harness import (RETRY_CODES, Cluster, add_arguments,
                                 load_articles, log)

class Ingest:
    """Clients streaming articles, each write retried on another replica."""

    def __init__(self, cluster, articles, clients):
        self.cluster, self.articles = cluster, articles
        self.next = 0
        self.lock = threading.Lock()
        self.acknowledged = {}
        self.rejected = 0
        self.gaps_ms = []
        self.threads = [threading.Thread(target=self.run, args=(i,))
                        for i in range(clients)]

    def take(self):
        with self.lock:
            if self.next >= len(self.articles):
                return None
            self.next += 1
            return self.articles[self.next - 1]

    def run(self, seed):
        rng = random.Random(seed)
        while True:
            article = self.take()
            if article is None:
                return
            failed_at = None
            deadline = time.time() + 120
            while time.time() < deadline:
                replica = rng.choice(self.cluster.replicas[:3])
                try:
                    replica.stub.Assign(dedup_pb2.AssignRequest(article=article),
                                        timeout=10)
                    with self.lock:
                        self.acknowledged[article.id] = True
                        if failed_at is not None:
                            self.gaps_ms.append((time.time() - failed_at) * 1000)
                    break
                except grpc.RpcError as e:
                    if e.code() not in RETRY_CODES:
                        with self.lock:
                            self.rejected += 1
                        break
                    if failed_at is None:
                        failed_at = time.time()
                    time.sleep(0.02)

    def start(self):
        for t in self.threads:
            t.start()

    def done(self):
        return all(not t.is_alive() for t in self.threads)

    def join(self):
        for t in self.threads:
            t.join()


def chaos(cluster, ingest, rounds, rng):
    """Kills one NATS node and one replica per round, restarting both."""
    done = 0
    while done < rounds:
        time.sleep(rng.uniform(0.3, 1.5))
        node = rng.choice(cluster.nats)
        replica = rng.choice(cluster.replicas[:3])
        log(f"round {done + 1}: kill -9 {node.name} and {replica.name}")
        node.kill9()
        time.sleep(rng.uniform(0.2, 1.0))
        replica.kill9()
        time.sleep(rng.uniform(1.0, 2.5))
        node.start()
        replica.start()
        if not cluster.wait_ready(replica, 120):
            log(f"{replica.name} did not come back ready")
        done += 1
    return done


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--articles", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--checkpoint-entries", type=int, default=3000,
                        help="replicas checkpoint every this many entries; "
                        "a restarted one replays only what follows its "
                        "newest")
    parser.add_argument("--one-window", action="store_true",
                        help="date all articles within one story window, so "
                        "that index shards become graphs")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (logs, NATS stores)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    workdir = tempfile.mkdtemp(prefix="newsdedup-failover-")
    cluster = Cluster(args, workdir)
    try:
        return run(cluster, args, rng)
    finally:
        cluster.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"logs in {workdir}")


def run(cluster, args, rng):
    replicas = cluster.start(3)
    if replicas is None:
        return 2
    articles = load_articles(args.data, args.articles, args.one_window)
    log(f"{len(articles)} articles, {args.clients} clients, {args.rounds} rounds")
    ingest = Ingest(cluster, articles, args.clients)
    started = time.time()
    ingest.start()
    rounds = chaos(cluster, ingest, args.rounds, rng)
    ingest.join()
    log(f"ingest done in {time.time() - started:.1f}s: "
        f"{len(ingest.acknowledged)} acknowledged, {ingest.rejected} refused")

    # A new replica with an empty state catches up from the log.
    log_entries = max(cluster.metrics(r).get(
        "newsdedup_replication_log_sequence", 0) for r in replicas)
    newcomer = cluster.add_replica()
    t0 = time.time()
    newcomer.start()
    deadline = t0 + 600
    while (cluster.metrics(newcomer).get(
            "newsdedup_replication_applied_sequence", -1) < log_entries
           and time.time() < deadline):
        time.sleep(0.02)
    catchup = log_entries / max(time.time() - t0, 1e-3)
    if not cluster.wait_ready(newcomer, 60):
        log("the new replica did not catch up")
        return 2
    with open(newcomer.log_path) as f:
        started = re.search(r"event=replica .*from_checkpoint=(\d+)", f.read())
    log(f"the new replica started from the shared checkpoint at entry "
        f"{started.group(1) if started else '?'} and caught up with "
        f"{log_entries:.0f} entries in {time.time() - t0:.1f}s")
    # And one bootstrapped from a peer's newest checkpoint.
    seeded = cluster.add_replica()
    seeded_from = cluster.seed(seeded, replicas[0])
    t0 = time.time()
    seeded.start()
    if not cluster.wait_ready(seeded, 600):
        log("the seeded replica did not catch up")
        return 2
    log(f"a replica seeded with a peer's checkpoint at entry {seeded_from} "
        f"caught up in {time.time() - t0:.1f}s")

    # Every replica has applied everything; then every acknowledged article
    # is checked on each.
    live = [r for r in cluster.replicas if r.alive()]
    final = max(cluster.metrics(r).get("newsdedup_replication_log_sequence", 0)
                for r in live)
    for r in live:
        deadline = time.time() + 120
        while (cluster.metrics(r).get("newsdedup_replication_applied_sequence",
                                      0) < final and time.time() < deadline):
            time.sleep(0.1)
    views = []
    for r in live:
        view = {}
        for article_id in ingest.acknowledged:
            try:
                a = r.stub.GetArticle(dedup_pb2.GetArticleRequest(
                    article_id=article_id), timeout=10).assignment
                view[article_id] = (a.cluster_id, a.representative_id)
            except grpc.RpcError:
                pass
        views.append(view)
    lost = sum(1 for i in ingest.acknowledged if any(i not in v for v in views))
    divergent = sum(1 for i in ingest.acknowledged
                    if all(i in v for v in views)
                    and len({v[i] for v in views}) > 1)
    digests = {cluster.metrics(r).get("newsdedup_state_digest") for r in live}
    log(f"{len(live)} replicas at entry {final:.0f}; state digests: "
        f"{len(digests)} distinct")
    stored_same = check_stored_digest(args.newsdedup, live)
    gaps = sorted(ingest.gaps_ms) or [0.0]
    print(f"acknowledged={len(ingest.acknowledged)} lost={lost} "
          f"divergent={divergent} rounds={rounds} "
          f"failover_ms_p50={gaps[len(gaps) // 2]:.0f} "
          f"failover_ms_max={gaps[-1]:.0f} "
          f"catchup_entries_per_s={catchup:.0f}", flush=True)
    return 0 if lost == 0 and divergent == 0 and stored_same else 1


def check_stored_digest(newsdedup, live):
    """Stops the last replica and has `admin check` read the state digest
    from its store: it must equal a running replica's (`admin state`)."""
    def run(*argv):
        return subprocess.run([newsdedup, *argv], capture_output=True,
                              text=True, timeout=300).stdout
    live[-1].stop()
    stored = re.search(r"state digest (\w+)", run(
        "admin", "check", "--data-dir", live[-1].data_dir))
    running = re.search(r"digest=(\w+)", run(
        "admin", "state", "--server", live[0].address))
    same = bool(stored and running and stored.group(1) == running.group(1))
    log(f"admin check of {live[-1].name}'s store: digest "
        f"{stored.group(1) if stored else '?'}; {live[0].name} answers "
        f"{running.group(1) if running else '?'}: "
        f"{'the same' if same else 'DIFFERENT'}")
    return same


if __name__ == "__main__":
    sys.exit(main())

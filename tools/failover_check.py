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
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import grpc

from newsdedup.v1 import dedup_pb2, dedup_pb2_grpc

RETRY_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
               grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Process:
    """A child process this script started, killed only by its pid."""

    def __init__(self, name, argv, log_path):
        self.name, self.argv, self.log_path = name, argv, log_path
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=open(self.log_path, "a"),
                                     stderr=subprocess.STDOUT)

    def kill9(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    def __init__(self, args, workdir):
        self.args, self.workdir = args, workdir
        self.nats = []
        client_ports = [free_port() for _ in range(3)]
        route_ports = [free_port() for _ in range(3)]
        self.nats_urls = [f"nats://127.0.0.1:{p}" for p in client_ports]
        for i in range(3):
            routes = ",".join(f"nats://127.0.0.1:{route_ports[j]}"
                              for j in range(3) if j != i)
            self.nats.append(Process(f"nats{i}", [
                args.nats_server, "-a", "127.0.0.1", "-p", str(client_ports[i]),
                "--server_name", f"n{i}", "--cluster_name", "newsdedup-check",
                "--cluster", f"nats://127.0.0.1:{route_ports[i]}",
                "--routes", routes, "-js",
                "-sd", os.path.join(workdir, f"nats{i}")],
                os.path.join(workdir, f"nats{i}.log")))
        self.replicas = []
        self.stream = "check"

    def add_replica(self):
        i = len(self.replicas)
        port, http = free_port(), free_port()
        # Each replica lists the NATS servers in its own order, so that they
        # do not all sit on the same one.
        urls = self.nats_urls[i % 3:] + self.nats_urls[:i % 3]
        r = Process(f"replica{i}", [
            self.args.newsdedup, "serve", "--listen", f"127.0.0.1:{port}",
            "--http-listen", f"127.0.0.1:{http}",
            "--replication-url", ",".join(urls),
            "--replication-stream", self.stream],
            os.path.join(self.workdir, f"replica{i}.log"))
        r.address, r.http = f"127.0.0.1:{port}", http
        # Reconnect within a fraction of a second of a restart (gRPC's
        # default backoff grows to two minutes).
        r.channel = grpc.insecure_channel(r.address, options=[
            ("grpc.initial_reconnect_backoff_ms", 50),
            ("grpc.min_reconnect_backoff_ms", 50),
            ("grpc.max_reconnect_backoff_ms", 250)])
        r.stub = dedup_pb2_grpc.DedupServiceStub(r.channel)
        self.replicas.append(r)
        return r

    def metrics(self, replica):
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{replica.http}/metrics", timeout=5) as f:
                text = f.read().decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            m = re.match(r"^(newsdedup_(?:replication_\w+|state_digest\w*)) (\S+)$",
                         line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def ready(self, replica):
        """grpc.health.v1 Check: SERVING (status 1) once caught up."""
        check = replica.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda _: b"",
            response_deserializer=lambda b: b)
        try:
            return check(None, timeout=2) == b"\x08\x01"
        except grpc.RpcError:
            return False

    def wait_ready(self, replica, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if replica.alive() and self.ready(replica):
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        for p in self.replicas + self.nats:
            p.stop()


def load_articles(data_dir, count, one_window=False):
    base = []
    for path in sorted(glob.glob(os.path.join(data_dir, "*.jsonl"))):
        if "pairs" in path:
            continue
        with open(path, encoding="utf-8") as f:
            for line in f:
                a = json.loads(line)
                if a.get("id") and (a.get("title") or a.get("text")):
                    base.append(a)
    random.Random(7).shuffle(base)
    articles = []
    copy = 0
    while len(articles) < count and base:
        for a in base:
            if len(articles) == count:
                break
            # Later passes are syndicated copies under new ids.
            article = dedup_pb2.Article(
                id=a["id"] if copy == 0 else f"{a['id']}~{copy}",
                title=a.get("title", ""), body=a.get("text", ""),
                url=a.get("url", ""), source=a.get("source", ""))
            if one_window:
                # All in one story window: the index's shards grow past the
                # point where they become HNSW graphs (8,192 vectors).
                article.published.FromSeconds(1761091200 + len(articles))
            elif a.get("published"):
                article.published.FromJsonString(a["published"])
            articles.append(article)
        copy += 1
    return articles


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
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--newsdedup", default=os.path.join(
        root, "build", "bin", "newsdedup"))
    parser.add_argument("--nats-server", default=shutil.which("nats-server")
                        or "/usr/bin/nats-server")
    parser.add_argument("--data", default=os.path.join(root, "..", "shared",
                                                       "data"))
    parser.add_argument("--articles", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
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
    for n in cluster.nats:
        n.start()
    replicas = [cluster.add_replica() for _ in range(3)]
    for r in replicas:
        r.start()
    for r in replicas:
        if not cluster.wait_ready(r, 120):
            log(f"{r.name} did not start; see {r.log_path}")
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
    gaps = sorted(ingest.gaps_ms) or [0.0]
    print(f"acknowledged={len(ingest.acknowledged)} lost={lost} "
          f"divergent={divergent} rounds={rounds} "
          f"failover_ms_p50={gaps[len(gaps) // 2]:.0f} "
          f"failover_ms_max={gaps[-1]:.0f} "
          f"catchup_entries_per_s={catchup:.0f}", flush=True)
    return 0 if lost == 0 and divergent == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Failover check of the replicated service (docs/replication.md).

Starts a 3-node NATS JetStream cluster and 3 newsdedup replicas on
loopback, streams articles from ../shared/data through all replicas from
several clients (a write refused with UNAVAILABLE is retried on another
replica), and meanwhile kill -9s one NATS node and one replica at random
moments, restarting each later. With --disk-round (the default where the
check may mount a tmpfs: as root), one replica's data directory sits on a
small disk of its own that a filler first takes below --min-free-mb, then
fills, while the clients stream: that replica must hold (NOT_SERVING) and
catch up once space is back, never skipping an entry. Then starts one more replica with an empty
state, lets it catch up, and checks every acknowledged article on every
replica. Kills only the processes it started; everything stops by itself.

The last line is:
  acknowledged=N lost=L divergent=D rounds=R failover_ms_p50=X
  failover_ms_max=Y catchup_entries_per_s=Z
Exit status 0 only when lost and divergent are 0, every replica ran to
the end (none exited by itself) and settled (SERVING, applied the log's
end as it sees it), and replicas at the same entry hold the same state
digest, as a stopped replica's store does.
"""

import argparse
import os
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
                                 load_articles, log, log_tail)

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
    """Kills one NATS node and one replica per round, restarting both.

    A round ends once the restarted NATS node is current again (/healthz):
    a three-node JetStream cluster survives one failure at a time, and
    killing a second node while the first still catches up is a double
    failure. (nats-server 2.9.10 then sometimes elected the lagging node
    leader of the checkpoint stream, which answered that it held no index:
    a newcomer found no checkpoint behind a purged log.)"""
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
        if not cluster.wait_nats_healthy(node, 60):
            log(f"{node.name} did not report healthy within 60 s")
        done += 1
    return done


class SmallDisk:
    """A tmpfs mounted on a replica's data directory, and a filler file."""

    def __init__(self, path, megabytes):
        self.path, self.filler = path, os.path.join(path, "filler")
        os.makedirs(path, exist_ok=True)
        self.mounted = os.geteuid() == 0 and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs",
             path], capture_output=True).returncode == 0

    def free_mb(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize / 2**20

    def fill_to(self, free_mb):
        """Grows the filler until at most `free_mb` MiB are free: most of
        it at once (fallocate), the rest in pages, since the replica
        writes meanwhile."""
        with open(self.filler, "ab") as f:
            bulk = int((self.free_mb() - free_mb - 8) * 2**20)
            if bulk > 0:
                try:
                    os.posix_fallocate(f.fileno(), os.fstat(f.fileno()).st_size,
                                       bulk)
                except OSError:
                    pass
            f.seek(0, os.SEEK_END)
            while self.free_mb() > free_mb:
                try:
                    f.write(b"\0" * max(4096, int(
                        min(1, self.free_mb() - free_mb) * 2**20)))
                    f.flush()
                except OSError:
                    break

    def empty(self):
        if os.path.exists(self.filler):
            os.remove(self.filler)

    def unmount(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.path], capture_output=True)


def disk_round(cluster, replica, disk, ingest):
    """Takes `replica`'s disk below --min-free-mb (64 MiB) for 20 s, then
    fills it, for 10 s more, while the clients stream (a checkpoint falls
    in that time at the check's rate); then frees it.
    Returns the seconds the replica reported SERVING while the log was
    ahead of it, and whether it caught up."""
    serving_behind = 0.0

    def watch(seconds):
        nonlocal serving_behind
        end = time.time() + seconds
        while time.time() < end:
            applied, logged = cluster.positions(replica)
            if cluster.ready(replica) and applied + 1000 < logged:
                serving_behind += 0.2
            time.sleep(0.2)

    log(f"disk round: {replica.name}'s disk below --min-free-mb "
        f"({disk.free_mb():.0f} MiB free before)")
    disk.fill_to(32)
    watch(20)
    log(f"disk round: {replica.name}'s disk full")
    disk.fill_to(0.5)
    watch(10)
    held = cluster.metrics(replica).get(
        "newsdedup_replication_applied_sequence", 0)
    disk.empty()
    log(f"disk round: space back ({replica.name} held at entry {held:.0f}, "
        f"{len(ingest.acknowledged)} acknowledged so far)")
    caught_up = cluster.wait_ready(replica, 180)
    log(f"disk round: {replica.name} "
        f"{'caught up' if caught_up else 'DID NOT CATCH UP'}")
    return serving_behind, caught_up


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
    parser.add_argument("--disk-round", choices=["auto", "on", "off"],
                        default="auto",
                        help="the small-disk round (auto: where a tmpfs can "
                        "be mounted, i.e. as root)")
    parser.add_argument("--time-limit", type=float, default=0,
                        help="seconds after which the check stops "
                        "everything it started, prints what it saw and "
                        "fails (exit status 3); 0: no limit. ctest's is a "
                        "little under its own timeout, which would kill the "
                        "check without a word and leave its servers running")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (logs, NATS stores); a "
                        "failed check always keeps it")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    workdir = tempfile.mkdtemp(prefix="newsdedup-failover-")
    cluster = Cluster(args, workdir)
    disk = None
    if args.disk_round != "off":
        # replica2's data directory, on a disk of its own.
        disk = SmallDisk(os.path.join(workdir, "replica2-data"), 1024)
        if not disk.mounted:
            log("disk round skipped: mounting a tmpfs needs root")
            if args.disk_round == "on":
                return 2
            disk = None
    result = 2
    timer = None
    if args.time_limit > 0:
        def out_of_time():
            log(f"time limit ({args.time_limit:.0f} s) reached")
            for r in cluster.replicas:
                log(f"  {r.name}: {'running' if r.alive() else 'exited'}, "
                    f"{cluster.metrics(r)}")
            log_stream_views(cluster)
            cluster.stop()
            if disk is not None:
                disk.unmount()
            log(f"logs in {workdir}")
            os._exit(3)
        timer = threading.Timer(args.time_limit, out_of_time)
        timer.daemon = True
        timer.start()
    try:
        result = run(cluster, args, rng, disk)
        return result
    finally:
        if timer is not None:
            timer.cancel()
        cluster.stop()
        if disk is not None:
            disk.unmount()
        # A failed check keeps its logs and NATS stores: a rare failure is
        # worth nothing without them.
        if args.keep or result != 0:
            log(f"logs in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run(cluster, args, rng, disk):
    replicas = cluster.start(3)
    if replicas is None:
        return 2
    articles = load_articles(args.data, args.articles, args.one_window)
    log(f"{len(articles)} articles, {args.clients} clients, {args.rounds} rounds")
    ingest = Ingest(cluster, articles, args.clients)
    started = time.time()
    ingest.start()
    disk_ok = True
    if disk is not None:
        serving_behind, caught_up = disk_round(cluster, replicas[2], disk,
                                               ingest)
        disk_ok = caught_up and serving_behind == 0
        if serving_behind:
            log(f"disk round: {replicas[2].name} reported SERVING "
                f"{serving_behind:.1f}s while far behind the log")
    rounds = chaos(cluster, ingest, args.rounds, rng)
    ingest.join()
    log(f"ingest done in {time.time() - started:.1f}s: "
        f"{len(ingest.acknowledged)} acknowledged, {ingest.rejected} refused")

    # A new replica with an empty state catches up from the log: it
    # reports SERVING once it has applied what the log held when it
    # started. (Each replica's own view of the log's end: after kill -9,
    # nats-server 2.9's followers can number the log differently from
    # their leader, and a replica reading through one may be a few entries
    # "ahead" for good; another's number is no target.)
    newcomer = cluster.add_replica()
    t0 = time.time()
    newcomer.start()
    # Timed by its metrics (applied its own view of the log's end); the
    # health check through a channel made before the server listened
    # sometimes lagged 15 s behind.
    deadline = t0 + 180
    while time.time() < deadline and newcomer.alive():
        applied, end = cluster.positions(newcomer)
        if applied > 0 and applied >= end:
            break
        time.sleep(0.02)
    caught_up_s = time.time() - t0
    if not cluster.wait_ready(newcomer, max(10, deadline - time.time())):
        log("the new replica did not catch up; its metrics: "
            f"{cluster.metrics(newcomer)}; NATS healthy: "
            f"{[cluster.nats_healthy(n) for n in cluster.nats]}")
        # What it said, for a CI log that keeps nothing else.
        with open(newcomer.log_path, errors="replace") as f:
            lines = f.readlines()
        log(f"its log ({len(lines)} lines), first and last 20:\n"
            + "".join(lines[:20]) + "...\n" + "".join(lines[-20:]))
        log_stream_views(cluster)
        return 2
    entries = cluster.metrics(newcomer).get(
        "newsdedup_replication_applied_sequence", 0)
    catchup = entries / max(caught_up_s, 1e-3)
    with open(newcomer.log_path) as f:
        started = re.search(r"event=replica .*from_checkpoint=(\d+)", f.read())
    log(f"the new replica started from the shared checkpoint at entry "
        f"{started.group(1) if started else '?'} and caught up with "
        f"{entries:.0f} entries in {caught_up_s:.1f}s")
    # And one bootstrapped from a peer's newest checkpoint.
    seeded = cluster.add_replica()
    seeded_from = cluster.seed(seeded, replicas[0])
    t0 = time.time()
    seeded.start()
    if not cluster.wait_ready(seeded, 180):
        log(f"the seeded replica did not catch up; its metrics: "
            f"{cluster.metrics(seeded)}; its log ends:\n{log_tail(seeded)}")
        return 2
    log(f"a replica seeded with a peer's checkpoint at entry {seeded_from} "
        f"caught up in {time.time() - t0:.1f}s")

    # Every replica runs (a killed one was restarted): one that exited by
    # itself crashed.
    crashed = [r for r in cluster.replicas if not r.alive()]
    for r in crashed:
        log(f"{r.name} exited by itself (status {r.proc.returncode}); its "
            f"log ends:\n{log_tail(r)}")
    live = [r for r in cluster.replicas if r.alive()]
    settled = settle(cluster, live, 120)
    if not settled:
        log_stream_views(cluster)
    # Then every acknowledged article is checked on each.
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
    # Replicas at the same entry hold the same state.
    metrics = [cluster.metrics(r) for r in live]
    at_entry = {}
    for m in metrics:
        at_entry.setdefault(m.get("newsdedup_state_digest_sequence"),
                            set()).add(m.get("newsdedup_state_digest"))
    same_state = all(len(d) == 1 for d in at_entry.values())
    log(f"{len(live)} replicas at "
        + ", ".join(f"entry {e:.0f}: {len(d)} state digest(s)"
                    for e, d in sorted(at_entry.items(),
                                       key=lambda x: x[0] or 0)))
    if len(at_entry) > 1:
        # Seen only after NATS servers were killed: the followers number
        # the log differently from the leader (nats-server 2.9 desync).
        log_stream_views(cluster)
    if not same_state or lost:
        # What differs, so that a failure in CI can be read from its log.
        for r, view, m in zip(live, views, metrics):
            missing = [i for i in ingest.acknowledged if i not in view][:5]
            log(f"  {r.name}: digest={m.get('newsdedup_state_digest')} "
                f"at={m.get('newsdedup_state_digest_sequence')} "
                f"applied={m.get('newsdedup_replication_applied_sequence')} "
                f"articles={len(view)} missing={missing}")
    stored_same = check_stored_digest(cluster, args.newsdedup, live[-1])
    gaps = sorted(ingest.gaps_ms) or [0.0]
    print(f"acknowledged={len(ingest.acknowledged)} lost={lost} "
          f"divergent={divergent} rounds={rounds} "
          f"failover_ms_p50={gaps[len(gaps) // 2]:.0f} "
          f"failover_ms_max={gaps[-1]:.0f} "
          f"catchup_entries_per_s={catchup:.0f}"
          f"{' disk_round=' + ('ok' if disk_ok else 'FAILED') if disk else ''}",
          flush=True)
    return 0 if (lost == 0 and divergent == 0 and stored_same and same_state
                 and settled and not crashed and disk_ok) else 1


def settle(cluster, live, seconds):
    """Waits until every replica is SERVING, has applied the log's end as
    it sees it, and applies nothing more for a second. False (each
    replica's figures logged) if that takes over `seconds`."""
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        now = []
        for r in live:
            now.append((*cluster.positions(r), cluster.ready(r)))
        if (now == last and all(applied >= end and ready
                                for applied, end, ready in now)):
            return True
        last = now
        time.sleep(1)
    for r, (applied, end, ready) in zip(live, last or []):
        log(f"  {r.name} did not settle: applied {applied:.0f} of "
            f"{end:.0f}, {'SERVING' if ready else 'NOT_SERVING'}")
    return False


def log_stream_views(cluster):
    log("the NATS servers' views of the log:\n  "
        + "\n  ".join(cluster.stream_views()))


def check_stored_digest(cluster, newsdedup, replica):
    """Stops `replica` and has `admin check` read the state digest from
    its store: it must equal the digest the replica answered running."""
    running = cluster.metrics(replica).get("newsdedup_state_digest")
    replica.stop()
    stored = re.search(r"state digest (\w+)", subprocess.run(
        [newsdedup, "admin", "check", "--data-dir", replica.data_dir],
        capture_output=True, text=True, timeout=120).stdout)
    # The metric holds the digest's low 52 bits (exact in a float);
    # admin check prints all 64 in hex.
    same = bool(stored and running is not None and
                int(stored.group(1), 16) & ((1 << 52) - 1) == int(running))
    log(f"admin check of {replica.name}'s store: digest "
        f"{stored.group(1) if stored else '?'}; running, it answered (low 52 "
        f"bits) "
        f"{'?' if running is None else f'{int(running):x}'}: "
        f"{'the same' if same else 'DIFFERENT'}")
    return same


if __name__ == "__main__":
    sys.exit(main())

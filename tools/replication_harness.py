"""Starts and stops the pieces of a replicated service on loopback for the
replication tools (failover_check.py, replication_benchmark.py,
replicated_cluster.py): NATS JetStream nodes routed into one cluster and
newsdedup replicas on it, each a child process killed only by its pid.
See docs/replication.md.
"""

import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import grpc

from newsdedup.v1 import dedup_pb2, dedup_pb2_grpc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def add_arguments(parser):
    """The binaries and data every replication tool needs."""
    parser.add_argument("--newsdedup", default=os.path.join(
        ROOT, "build", "bin", "newsdedup"))
    parser.add_argument("--nats-server", default=shutil.which("nats-server")
                        or "/usr/bin/nats-server")
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared",
                                                       "data"))


RETRY_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
               grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def log_tail(process, lines=20):
    """The last lines of a started process's log, for a failure message
    (the logs go with the work directory)."""
    try:
        with open(process.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"(no log: {e})"


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
        monitor_ports = [free_port() for _ in range(3)]
        self.nats_urls = [f"nats://127.0.0.1:{p}" for p in client_ports]
        for i in range(3):
            routes = ",".join(f"nats://127.0.0.1:{route_ports[j]}"
                              for j in range(3) if j != i)
            self.nats.append(Process(f"nats{i}", [
                args.nats_server, "-a", "127.0.0.1", "-p", str(client_ports[i]),
                "--server_name", f"n{i}", "--cluster_name", "newsdedup-check",
                "--cluster", f"nats://127.0.0.1:{route_ports[i]}",
                "--routes", routes, "-js",
                "-m", str(monitor_ports[i]),
                "-sd", os.path.join(workdir, f"nats{i}")],
                os.path.join(workdir, f"nats{i}.log")))
            self.nats[-1].monitor = monitor_ports[i]
        self.replicas = []
        self.stream = "check"

    def start(self, replicas=3):
        """Starts the NATS nodes and `replicas` replicas; the replicas, or
        None (logged, with the end of the process's log) if a NATS node
        was not healthy or a replica not ready within two minutes."""
        for n in self.nats:
            n.start()
        for n in self.nats:
            if not self.wait_nats_healthy(n, 120):
                log(f"{n.name} did not become healthy:\n{log_tail(n)}")
                return None
        started = [self.add_replica() for _ in range(replicas)]
        for r in started:
            r.start()
        for r in started:
            if not self.wait_ready(r, 120):
                log(f"{r.name} did not start:\n{log_tail(r)}")
                return None
        return started

    def add_replica(self):
        i = len(self.replicas)
        port, http = free_port(), free_port()
        # Each replica lists the NATS servers in its own order, so that they
        # do not all sit on the same one.
        urls = self.nats_urls[i % 3:] + self.nats_urls[:i % 3]
        # Each replica keeps its store and checkpoints in its own
        # directory, kept across its restarts.
        data_dir = os.path.join(self.workdir, f"replica{i}-data")
        r = Process(f"replica{i}", [
            self.args.newsdedup, "serve", "--listen", f"127.0.0.1:{port}",
            "--http-listen", f"127.0.0.1:{http}",
            "--data-dir", data_dir,
            "--replication-url", ",".join(urls),
            "--replication-stream", self.stream,
            "--replication-checkpoint-entries",
            str(getattr(self.args, "checkpoint_entries", 100000))],
            os.path.join(self.workdir, f"replica{i}.log"))
        r.address, r.http, r.data_dir = f"127.0.0.1:{port}", http, data_dir
        # Reconnect within a fraction of a second of a restart (gRPC's
        # default backoff grows to two minutes).
        r.channel = grpc.insecure_channel(r.address, options=[
            ("grpc.initial_reconnect_backoff_ms", 50),
            ("grpc.min_reconnect_backoff_ms", 50),
            ("grpc.max_reconnect_backoff_ms", 250)])
        r.stub = dedup_pb2_grpc.DedupServiceStub(r.channel)
        self.replicas.append(r)
        return r

    @staticmethod
    def seed(replica, source):
        """Gives a replica not yet started the newest checkpoint of
        `source` (running): a new replica then replays only the entries
        after it. Copies LATEST first and the directory it names after, so
        a checkpoint completed meanwhile leaves a consistent older pair."""
        src = os.path.join(source.data_dir, "checkpoints")
        dst = os.path.join(replica.data_dir, "checkpoints")
        for _ in range(5):
            shutil.rmtree(dst, ignore_errors=True)
            os.makedirs(dst)
            try:
                shutil.copy(os.path.join(src, "LATEST"), dst)
                with open(os.path.join(dst, "LATEST")) as f:
                    sequence = f.read().split()[0]
                shutil.copytree(os.path.join(src, sequence),
                                os.path.join(dst, sequence))
                return int(sequence)
            except OSError:
                time.sleep(0.2)  # a newer checkpoint replaced it; again
        shutil.rmtree(dst, ignore_errors=True)
        return 0

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

    def positions(self, replica):
        """The replica's applied entry and the log's end as it last saw
        it (-1 and 0 while its metrics do not answer)."""
        m = self.metrics(replica)
        return (m.get("newsdedup_replication_applied_sequence", -1),
                m.get("newsdedup_replication_log_sequence", 0))

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
        """True once `replica` answers its health check; False after
        `seconds`, or at once if its process has exited."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if replica.proc is not None and not replica.alive():
                return False
            if replica.alive() and self.ready(replica):
                return True
            time.sleep(0.05)
        return False

    @staticmethod
    def nats_healthy(node):
        """The node's /healthz: 200 once its JetStream streams and
        consumers are current (caught up with their peers)."""
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{node.monitor}/healthz",
                    timeout=2) as f:
                return f.status == 200
        except OSError:
            return False

    def stream_views(self):
        """Each running NATS node's view of the log stream, one line per
        node: its first and last entry and the leader it names. For
        failure messages: after kill -9, nats-server 2.9's followers can
        disagree with their leader about the log's numbers."""
        lines = []
        for n in self.nats:
            if not n.alive():
                lines.append(f"{n.name}: not running")
                continue
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{n.monitor}/jsz?streams=true",
                        timeout=2) as f:
                    jsz = json.load(f)
            except (OSError, ValueError) as e:
                lines.append(f"{n.name}: no answer ({e})")
                continue
            for account in jsz.get("account_details", []):
                for stream in account.get("stream_detail", []):
                    if stream.get("name") != self.stream:
                        continue
                    state = stream.get("state", {})
                    lines.append(
                        f"{n.name}: entries {state.get('first_seq')} to "
                        f"{state.get('last_seq')}, leader "
                        f"{stream.get('cluster', {}).get('leader')}")
        return lines

    def wait_nats_healthy(self, node, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if node.alive() and self.nats_healthy(node):
                return True
            time.sleep(0.1)
        return False

    def stop(self, timeout=15):
        """Stops the replicas, then the NATS nodes: each group is sent
        SIGTERM at once and waited for together (one after another, a
        replica cluster took ~15 s to stop), SIGKILL after `timeout`.
        Our channels are closed first: an idle channel does not read the
        server's GOAWAY, and a replica waits out its shutdown grace (10 s)
        for the connection to close."""
        for r in self.replicas:
            r.channel.close()
        for group in (self.replicas, self.nats):
            running = [p for p in group if p.alive()]
            for p in running:
                p.proc.terminate()
            deadline = time.time() + timeout
            for p in running:
                try:
                    p.proc.wait(timeout=max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    p.kill9()


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



#!/usr/bin/env python3
"""End-to-end test of the Python client: the real `newsdedup serve` on a
loopback port, called by the client package and by the streaming example.

Run by ctest with NEWSDEDUP_CLI and EXAMPLE set, after pip has installed
the package (build/python-package) into the only folder on PYTHONPATH:
the test uses the installed package, not the source tree."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import grpc

import newsdedup_client
from newsdedup_client import DedupClient
from newsdedup.v1 import dedup_pb2

CLI = os.environ["NEWSDEDUP_CLI"]
EXAMPLE = os.environ["EXAMPLE"]

ARTICLES = [
    {"id": "p1", "title": "Trump says Budapest summit with Putin is on hold",
     "published": "2025-10-22T08:00:00Z", "source": "Wire A"},
    {"id": "p2", "title": "Chile earthquake triggers tsunami warning",
     "published": "2025-10-22T08:30:00Z", "source": "Wire B"},
    {"id": "p3", "title": "Trump says Budapest summit with Putin is on hold",
     "published": "2025-10-22T09:00:00Z", "source": "Paper C"},
    {"id": "", "title": "an article without an id"},
    {"id": "p5", "title": "Budapest summit of Trump and Putin put on hold",
     "published": "2025-10-22T09:30:00Z", "source": "Site D"},
]


class PythonClientTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.log = open(os.path.join(self.dir.name, "server.log"), "w+")
        self.server = subprocess.Popen([CLI, "serve", "--listen", "127.0.0.1:0",
                                        "--http-listen", "127.0.0.1:0",
                                        "--data-dir",
                                        os.path.join(self.dir.name, "data")],
                                       stderr=self.log)
        port = None
        for _ in range(250):
            self.log.seek(0)
            m = re.search(r"event=serving .*port=(\d+)", self.log.read())
            if m:
                port = m.group(1)
                break
            time.sleep(0.02)
        self.assertIsNotNone(port, "server did not start")
        self.address = f"127.0.0.1:{port}"

    def tearDown(self):
        self.server.send_signal(signal.SIGTERM)
        self.assertEqual(self.server.wait(timeout=30), 0)
        self.log.close()
        self.dir.cleanup()

    def test_client_calls_every_rpc(self):
        with DedupClient(self.address) as client:
            first = client.assign(ARTICLES[0])
            self.assertEqual(first.relation, dedup_pb2.NEW_STORY)
            copy = client.assign(ARTICLES[2])
            self.assertEqual(copy.relation, dedup_pb2.EXACT_DUPLICATE)
            self.assertEqual(copy.duplicate_of, "p1")
            with self.assertRaises(grpc.RpcError) as error:
                client.assign(ARTICLES[3])
            self.assertEqual(error.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            # Issue 37: the client's own, public exception type.
            self.assertIsInstance(error.exception, newsdedup_client.DedupError)
            self.assertIn("id", error.exception.details())
            cluster = client.get_cluster(first.cluster_id)
            self.assertEqual(cluster.cluster.size, 2)
            self.assertEqual(cluster.cluster.num_sources, 2)
            self.assertEqual(client.list_clusters().total, 1)
            self.assertEqual(client.get_article("p3").cluster_id, first.cluster_id)
            similar = client.find_similar({"id": "q", "title": "Budapest summit on hold"})
            self.assertEqual(similar.neighbors[0].cluster_id, first.cluster_id)
            client.delete_article("p3")
            self.assertEqual(client.get_cluster(first.cluster_id).cluster.size, 1)

    def test_editorial_actions(self):
        with DedupClient(self.address) as client:
            summit = client.assign(ARTICLES[0]).cluster_id
            quake = client.assign(ARTICLES[1]).cluster_id
            client.assign(ARTICLES[4])
            pinned = client.pin_representative(summit, "p5", "clearest title")
            self.assertEqual(pinned.cluster.representative_id, "p5")
            event = pinned.cluster.history[-1]
            self.assertEqual(event.kind, dedup_pb2.ClusterEvent.EDITED)
            self.assertEqual((event.action, event.editor, event.reason),
                             ("pin", "anonymous", "clearest title"))
            split = client.split_cluster(summit, ["p5"], "another event")
            self.assertNotEqual(split.cluster_id, summit)
            with self.assertRaises(grpc.RpcError) as error:
                client.merge_clusters(split.cluster_id, summit, "undo")
            self.assertEqual(error.exception.code(),
                             grpc.StatusCode.FAILED_PRECONDITION)
            client.allow_merging(split.cluster_id, summit, "was right")
            merged = client.merge_clusters(split.cluster_id, summit, "undo")
            self.assertEqual(merged.cluster_id, summit)
            moved = client.move_article("p2", summit, "same summit")
            self.assertEqual(moved.cluster_id, summit)
            self.assertEqual(client.get_article("p2").cluster_id, summit)
            client.keep_apart(summit, quake, "never")
            # The pinned article left with the split: the pin went with it.
            with self.assertRaises(grpc.RpcError):
                client.unpin_representative(summit, "let it choose")
            client.pin_representative(summit, "p1", "the first report")
            client.unpin_representative(summit, "let it choose")
            with self.assertRaises(grpc.RpcError) as error:
                client.merge_clusters(summit, summit, "")
            self.assertEqual(error.exception.code(),
                             grpc.StatusCode.INVALID_ARGUMENT)

    def test_token_from_argument_or_environment(self):
        tokens = os.path.join(self.dir.name, "tokens")
        with open(tokens, "w") as f:
            f.write("python-token-0123456789 ingest pipeline\n")
        log = open(os.path.join(self.dir.name, "tokens.log"), "w+")
        server = subprocess.Popen([CLI, "serve", "--listen", "127.0.0.1:0",
                                   "--http-listen", "", "--in-memory",
                                   "--auth-tokens", tokens], stderr=log)
        try:
            port = None
            for _ in range(250):
                log.seek(0)
                m = re.search(r"event=serving .*port=(\d+)", log.read())
                if m:
                    port = m.group(1)
                    break
                time.sleep(0.02)
            address = f"127.0.0.1:{port}"
            with DedupClient(address, token="") as client:
                with self.assertRaises(grpc.RpcError) as error:
                    client.assign(ARTICLES[0])
                self.assertEqual(error.exception.code(),
                                 grpc.StatusCode.UNAUTHENTICATED)
                self.assertEqual(client.health(), "SERVING")  # open
            with DedupClient(address, token="python-token-0123456789") as c:
                self.assertEqual(c.assign(ARTICLES[0]).relation,
                                 dedup_pb2.NEW_STORY)
                with self.assertRaises(grpc.RpcError) as error:
                    c.merge_clusters("story-1", "story-1", "role too low")
                self.assertEqual(error.exception.code(),
                                 grpc.StatusCode.PERMISSION_DENIED)
            os.environ["NEWSDEDUP_TOKEN"] = "python-token-0123456789"
            try:
                with DedupClient(address) as client:
                    self.assertEqual(client.list_clusters().total, 1)
            finally:
                del os.environ["NEWSDEDUP_TOKEN"]
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            log.close()

    def test_package_is_the_installed_one(self):
        import newsdedup_client
        self.assertNotIn(os.path.join("tools", "python"), newsdedup_client.__file__)

    def test_batch_health_and_every_list_option(self):
        with DedupClient(self.address) as client:
            self.assertEqual(client.health(), "SERVING")
            self.assertEqual(client.health("no.such.Service"), "SERVICE_UNKNOWN")
            results = client.assign_batch(ARTICLES)
            self.assertEqual(len(results), len(ARTICLES))
            self.assertEqual(results[0].answer.relation, dedup_pb2.NEW_STORY)
            self.assertEqual(results[3].WhichOneof("result"), "error")
            self.assertIn("article.id", results[3].error.message)
            self.assertEqual(results[4].answer.cluster_id, results[0].answer.cluster_id)
            clusters = {}
            for sort in ("size", "last-update", "growth"):
                page = client.list_clusters(sort=sort, page_size=1)
                self.assertEqual(page.total, 2)
                self.assertEqual(len(page.clusters), 1)
                rest = client.list_clusters(sort=sort, page_size=1,
                                            page_token=page.next_page_token)
                self.assertEqual(len(rest.clusters), 1)
                self.assertEqual(rest.next_page_token, "")
                clusters[sort] = [page.clusters[0].cluster_id, rest.clusters[0].cluster_id]
            self.assertEqual(clusters["size"][0], results[0].answer.cluster_id)
            # Stories that changed since a time (the service's clock): a
            # backfilled summit article, published before everything else,
            # changes the summit's story only.
            # (A time in whole seconds, taken a second after the batch.)
            time.sleep(1.1)
            before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            client.assign({"id": "p0", "source": "Archive E",
                           "title": "Trump says Budapest summit with Putin is on hold",
                           "published": "2025-10-21T08:00:00Z"})
            since = client.list_clusters(updated_since=before)
            self.assertEqual([c.cluster_id for c in since.clusters],
                             [results[0].answer.cluster_id])
            self.assertEqual(client.list_clusters(include_expired=True).total, 2)
            with self.assertRaises(ValueError):
                client.list_clusters(sort="sideways")

    def test_streaming_example_answers_in_order(self):
        path = os.path.join(self.dir.name, "in.jsonl")
        with open(path, "w") as f:
            for a in ARTICLES:
                f.write(json.dumps(a) + "\n")
            f.write("{broken json\n")
        run = subprocess.run([sys.executable, EXAMPLE, "--server", self.address, path],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 3, run.stderr)  # two lines rejected
        answers = [json.loads(line) for line in run.stdout.splitlines()]
        self.assertEqual([a["article_id"] for a in answers], ["p1", "p2", "p3", "p5"])
        self.assertEqual(answers[2]["relation"], "EXACT_DUPLICATE")
        self.assertEqual(answers[3]["cluster_id"], answers[0]["cluster_id"])
        self.assertIn("article.id", run.stderr)
        self.assertIn("malformed JSON", run.stderr)
        self.assertIn("4 answered, 2 rejected", run.stderr)

    def test_feed_consumer_resumes_from_its_saved_cursor(self):
        follow = os.path.join(os.path.dirname(EXAMPLE), "follow_stories.py")
        state = os.path.join(self.dir.name, "cursor")

        def consume(n):
            run = subprocess.run(
                [sys.executable, follow, "--server", self.address,
                 "--state", state, "--max-events", str(n)],
                capture_output=True, text=True, timeout=60)
            self.assertEqual(run.returncode, 0, run.stderr)
            return [json.loads(line) for line in run.stdout.splitlines()]

        with DedupClient(self.address) as client:
            client.assign(ARTICLES[0])
            client.assign(ARTICLES[1])
            first = consume(1)
            client.assign(ARTICLES[4])
            events = list(first) + consume(2)
            # Every event once, in cursor order, across the two runs.
            self.assertEqual([int(e["cursor"]) for e in events], [1, 2, 3])
            self.assertEqual([e["kind"] for e in events],
                             ["CREATED", "CREATED", "GREW"])
            self.assertEqual(events[2]["article_id"], "p5")
            self.assertEqual(events[2]["relation"], "SAME_STORY")
            # The command line's watch prints the same events.
            run = subprocess.run(
                [CLI, "client", "watch", "--server", self.address,
                 "--after", "1", "--max-events", "2"],
                capture_output=True, text=True, timeout=60)
            self.assertEqual(run.returncode, 0, run.stderr)
            lines = [json.loads(line) for line in run.stdout.splitlines()]
            def key(e):
                return (e["cursor"], e["kind"], e["article_id"], e["cluster_id"])
            self.assertEqual([key(e) for e in lines], [key(e) for e in events[1:]])
            with self.assertRaises(ValueError):  # not a kind's name
                client.watch_events(kinds=["MERGE"])


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=30):
    """Waits until something accepts connections on 127.0.0.1:port."""
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class ReplicaClientTest(unittest.TestCase):
    """Two replicas on one NATS JetStream node: the client reads its own
    writes through the other replica. The first replica starts 2 s before
    its NATS server listens (as under compose or Kubernetes, which do not
    wait for readiness) and must wait for it instead of exiting."""

    def setUp(self):
        # Cleanups, not tearDown: they also run when setUp fails half-way,
        # so no nats-server or replica outlives the test.
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        nats_port = free_port()
        self.addresses = []
        for i in range(2):
            if i == 1:
                time.sleep(2)
                self.start(["nats-server", "-a", "127.0.0.1", "-p",
                            str(nats_port), "-js", "-sd",
                            os.path.join(self.dir.name, "nats")], "nats")
                self.assertTrue(wait_for_port(nats_port), "NATS did not start")
            port = free_port()
            self.start([CLI, "serve", "--listen", f"127.0.0.1:{port}",
                        "--http-listen", "",
                        "--data-dir", os.path.join(self.dir.name, f"r{i}"),
                        "--replication-url", f"nats://127.0.0.1:{nats_port}",
                        "--replication-replicas", "1",
                        "--replication-stream", "pytest"], f"replica{i}")
            self.addresses.append(f"127.0.0.1:{port}")
        for address in self.addresses:
            with DedupClient(address, timeout=2) as client:
                for _ in range(600):
                    try:
                        if client.health() == "SERVING":
                            break
                    except grpc.RpcError:
                        pass
                    time.sleep(0.05)
                self.assertEqual(client.health(), "SERVING", self.logs())

    def start(self, argv, name):
        log = open(os.path.join(self.dir.name, name + ".log"), "w")
        proc = subprocess.Popen(argv, stderr=log, stdout=log)

        def stop():
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
            log.close()
        self.addCleanup(stop)

    def logs(self):
        """The replicas' logs, for a failure message."""
        text = []
        for i in range(2):
            path = os.path.join(self.dir.name, f"replica{i}.log")
            if os.path.exists(path):
                with open(path) as f:
                    text.append(f"replica{i}:\n" + f.read()[-2000:])
        return "\n".join(text)

    def test_reads_its_writes_through_another_replica(self):
        with DedupClient(self.addresses[0]) as writer:
            first = writer.assign(ARTICLES[0])
            self.assertGreaterEqual(writer.applied_sequence, 1)
            written = writer.applied_sequence
        with DedupClient(self.addresses[1]) as reader:
            reader.applied_sequence = written
            self.assertEqual(reader.get_article("p1").cluster_id,
                             first.cluster_id)
        # An entry no replica has: the wait ends UNAVAILABLE.
        with DedupClient(self.addresses[1], timeout=1) as impatient:
            impatient.applied_sequence = written + 1000
            with self.assertRaises(grpc.RpcError) as raised:
                impatient.get_article("p1")
            self.assertEqual(raised.exception.code(),
                             grpc.StatusCode.UNAVAILABLE)
        with DedupClient(self.addresses[1], read_your_writes=False) as anyone:
            self.assertEqual(anyone.get_article("p1").cluster_id,
                             first.cluster_id)


class ReplicaTlsTest(unittest.TestCase):
    """--replication-tls-ca: a replica reaches a NATS server that requires
    TLS with a certificate signed by that CA; without the CA it stops with
    a message that says why."""

    def test_replica_speaks_tls_to_nats(self):
        with tempfile.TemporaryDirectory() as d:
            def openssl(*args):
                subprocess.run(["openssl", *args], cwd=d, check=True,
                               capture_output=True)
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                    "-subj", "/CN=newsdedup-test-ca")
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
            with open(os.path.join(d, "ext.cnf"), "w") as f:
                f.write("subjectAltName=IP:127.0.0.1\n")
            openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem",
                    "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
                    "-days", "2", "-extfile", "ext.cnf")
            port = free_port()
            nats = subprocess.Popen(
                ["nats-server", "-a", "127.0.0.1", "-p", str(port), "-js",
                 "-sd", os.path.join(d, "nats"), "--tls",
                 "--tlscert", os.path.join(d, "server.pem"),
                 "--tlskey", os.path.join(d, "server.key")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                self.assertTrue(wait_for_port(port), "NATS did not start")
                replica = [CLI, "serve", "--listen", "127.0.0.1:0",
                           "--http-listen", "",
                           "--data-dir", os.path.join(d, "replica"),
                           "--replication-url", f"nats://127.0.0.1:{port}",
                           "--replication-replicas", "1"]
                refused = subprocess.run(
                    replica + ["--replication-connect-timeout-seconds", "10"],
                    capture_output=True,
                                         text=True, timeout=60)
                self.assertEqual(refused.returncode, 1)
                self.assertIn("SSL", refused.stderr)
                served = subprocess.Popen(
                    replica + ["--replication-tls-ca",
                               os.path.join(d, "ca.pem")],
                    stderr=subprocess.PIPE, text=True)
                try:
                    line = ""
                    for line in served.stderr:
                        if "event=serving" in line or "engine_failed" in line:
                            break
                    self.assertIn("event=serving", line)
                finally:
                    served.terminate()
                    self.assertEqual(served.wait(timeout=30), 0)
                    served.stderr.close()
            finally:
                nats.terminate()
                nats.wait(timeout=30)


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/python3
"""Runs the replicated service on this machine until Ctrl-C: a 3-node NATS
JetStream cluster and 3 newsdedup replicas, all on loopback, NATS stores
in a temporary directory (removed at the end). Prints each replica's gRPC
and dashboard address. See docs/replication.md.

  PYTHONPATH=build/python /usr/bin/python3 tools/replicated_cluster.py
"""

import argparse
import shutil
import signal
import sys
import tempfile
import threading
import time

from replication_harness import Cluster, add_arguments, log


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--replicas", type=int, default=3)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="newsdedup-replicated-")
    cluster = Cluster(args, workdir)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        replicas = cluster.start(args.replicas)
        if replicas is None:
            return 1
        log("NATS: " + ",".join(cluster.nats_urls))
        for r in replicas:
            log(f"{r.name}: gRPC {r.address}, dashboard "
                f"http://127.0.0.1:{r.http}/")
        log(f"logs in {workdir}; Ctrl-C stops everything")
        stop.wait()
        return 0
    finally:
        log(f"stopping {len(cluster.replicas)} replicas, then "
            f"{len(cluster.nats)} NATS nodes ...")
        started = time.time()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        log(f"stopped in {time.time() - started:.1f}s")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Installs, builds, and runs the replicated service on this machine until
# Ctrl-C: 3 NATS JetStream nodes and 3 newsdedup replicas on loopback
# (docs/replication.md). Prints each replica's gRPC and dashboard address.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec env PYTHONPATH="$PWD/build/python" /usr/bin/python3 tools/replicated_cluster.py "$@"

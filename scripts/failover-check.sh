#!/usr/bin/env bash
# Failover check of the replicated service (issue 14, docs/replication.md):
# a 3-node NATS JetStream cluster and 3 newsdedup replicas on loopback,
# 20,000 articles from ../shared/data streamed through all replicas by
# several clients while one NATS node and one replica are kill -9'd and
# restarted (5 rounds), then a new replica with an empty state catches up
# and every acknowledged article is checked on every replica. Installs
# nothing beyond scripts/setup.sh; uses the binaries in build/ (run
# scripts/build.sh first). Extra arguments go to tools/failover_check.py
# (--articles, --clients, --rounds, --seed, --keep).
#
# Last line: acknowledged=N lost=L divergent=D rounds=R failover_ms_p50=X
#            failover_ms_max=Y catchup_entries_per_s=Z
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x build/bin/newsdedup || ! -f build/python/newsdedup/v1/dedup_pb2.py ]]; then
  echo "failover-check: build first (scripts/build.sh)" >&2
  exit 2
fi
exec env PYTHONPATH="$PWD/build/python" /usr/bin/python3 tools/failover_check.py \
  --articles 20000 --rounds 5 "$@"

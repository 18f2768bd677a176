#!/usr/bin/env bash
# The main job on embedded defaults: installs the packages, builds, starts
# the gRPC server on a free loopback port, streams the sample headlines
# (../shared/data/uci-news-dev.jsonl) through the client, prints the stories
# found (largest first, with each story's representative headline), and
# stops the server.
# Usage: scripts/demo.sh [input.jsonl]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
input="${1:-../shared/data/uci-news-dev.jsonl}"
bin=build/bin/newsdedup
log="$(mktemp -t newsdedup-server.XXXXXX.log)"
# A fresh store each run, so the summary shows this input only.
data_dir="$(mktemp -d -t newsdedup-data.XXXXXX)"
answers="$(mktemp -t newsdedup-answers.XXXXXX.jsonl)"

"$bin" serve --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
    --data-dir "$data_dir" 2>"$log" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
port=""
for _ in $(seq 100); do
  port="$(sed -n 's/.*event=serving .*port=\([0-9]*\).*/\1/p' "$log")"
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "server did not start:"; cat "$log"; exit 1; }

"$bin" client --server "127.0.0.1:$port" assign "$input" >"$answers"
# The 25 largest stories; the server stops below, so no next-page hint.
"$bin" client --server "127.0.0.1:$port" list-clusters --page-size 25 |
  sed '/^more clusters: add --page-token/d'
kill -TERM "$server"
wait "$server"
trap - EXIT
echo "per-article answers: $answers"
echo "server log: $log"
echo "server data: $data_dir"

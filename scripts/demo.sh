#!/usr/bin/env bash
# The main job on embedded defaults: installs the packages, builds, clusters
# the sample headlines (../shared/data/uci-news-dev.jsonl) and prints the
# stories found, largest first, with each story's representative headline.
# Usage: scripts/demo.sh [input.jsonl]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
input="${1:-../shared/data/uci-news-dev.jsonl}"
out="$(mktemp -t newsdedup-demo.XXXXXX.jsonl)"
build/bin/newsdedup cluster "$input" --resolve-merges --summary 25 -o "$out"
echo "per-article answers: $out"

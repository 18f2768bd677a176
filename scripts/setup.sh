#!/usr/bin/env bash
# Installs the Debian bookworm packages newsdedup needs to build, test and run.
# Idempotent: packages already present are left alone. Run as root (or with sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev
  libfaiss-dev libopenblas-dev libomp-dev
  libsentencepiece-dev sentencepiece
  libgtest-dev libgmock-dev libbenchmark-dev
  librocksdb-dev prometheus-cpp-dev
  nats-server libnats-dev openssl libssl-dev
  libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  libutf8proc-dev libxxhash-dev zlib1g-dev
  # Multilingual text: language identification, Snowball stemmers and the
  # FreeDict dictionaries into English.
  libcld2-dev libstemmer-dev
  dict-freedict-deu-eng dict-freedict-spa-eng dict-freedict-fra-eng
  dict-freedict-pol-eng dict-freedict-tur-eng dict-freedict-ara-eng
  python3 python3-numpy python3-sklearn python3-grpcio python3-protobuf
  python3-pip python3-setuptools python3-venv python3-wheel
  # Operations tests: the dashboard in a real browser, promtool for the
  # metrics and Prometheus config, YAML parsing of the Kubernetes manifests.
  chromium prometheus python3-yaml
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"

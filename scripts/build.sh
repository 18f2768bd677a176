#!/usr/bin/env bash
# Configures and builds newsdedup into ./build (Release, warnings as errors).
# Usage: scripts/build.sh [extra cmake -D options]
set -euo pipefail
cd "$(dirname "$0")/.."
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ -f build/CMakeCache.txt ] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${generator[1]:-Unix Makefiles}" build/CMakeCache.txt; then
  rm -rf build  # generator changed
fi
cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DNEWSDEDUP_WERROR=ON "$@"
cmake --build build --parallel "$(nproc)"

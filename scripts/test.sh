#!/usr/bin/env bash
# Runs mediagrep's whole test suite: installs the Debian dependencies (if
# missing), builds everything (Release, plus the ASan+UBSan builds of the
# parsers), and runs ctest. This is what .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure -j"$(nproc)"

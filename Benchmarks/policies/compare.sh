#!/usr/bin/env bash
# Policy comparison on the bundled LeNet example (docs/search.md).
#
#   Benchmarks/policies/compare.sh [--jobs N] [--pipeline FILE] [--policies a,b] [--thresholds x,y]
#
# Builds the release `shrink`, then runs every (policy, threshold) pair as its own generated
# pipeline in a fresh temporary copy (cold cache), and prints the Markdown table that
# docs/search.md shows. Extra arguments go to compare.py (see `compare.py --help`).
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product shrink >/dev/null
exec python3 Benchmarks/policies/compare.py --shrink .build/release/shrink "$@"

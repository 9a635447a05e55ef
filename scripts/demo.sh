#!/usr/bin/env bash
# Runs the bundled example with the release build of shrink.
set -euo pipefail
cd "$(dirname "$0")/.."
shrink=.build/release/shrink
$shrink --version
$shrink --help
$shrink demo

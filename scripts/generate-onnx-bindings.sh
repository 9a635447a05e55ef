#!/usr/bin/env bash
# Regenerates Sources/ShrinkGraph/ONNX/onnx.pb.swift from the committed onnx.proto.
#
# The committed onnx.proto is a verbatim copy of onnx/onnx.proto from the `onnx` Python package,
# version 1.23.2 (proto2 syntax; identical to onnx-ml.proto apart from a comment).
# To update it: pip install onnx==X.Y.Z, copy onnx/onnx.proto over it, change ONNX_VERSION below,
# run this script and commit both files.
#
# The generated file is committed, so a normal build needs neither protoc nor the plugin.
# Needs: protoc (Debian: apt-get install -y protobuf-compiler) and swift on PATH.
set -euo pipefail

ONNX_VERSION=1.23.2
SWIFT_PROTOBUF_VERSION=1.39.0   # must match Package.swift's exact pin
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/Sources/ShrinkGraph/ONNX"
PLUGIN_SRC="${PLUGIN_SRC:-/tmp/swift-protobuf-$SWIFT_PROTOBUF_VERSION}"
PLUGIN="$PLUGIN_SRC/.build/release/protoc-gen-swift"

command -v protoc >/dev/null || { echo "protoc not found: apt-get install -y protobuf-compiler" >&2; exit 1; }

if [[ ! -x "$PLUGIN" ]]; then
  # Only the plugin is built; swift-protobuf's bundled protoc is not needed.
  if [[ ! -d "$PLUGIN_SRC" ]]; then
    git clone https://github.com/apple/swift-protobuf.git "$PLUGIN_SRC"
  fi
  git -C "$PLUGIN_SRC" checkout -q "$SWIFT_PROTOBUF_VERSION"
  (cd "$PLUGIN_SRC" && swift build -c release --product protoc-gen-swift)
fi

protoc \
  --plugin=protoc-gen-swift="$PLUGIN" \
  --proto_path="$OUT" \
  --swift_out="$OUT" \
  --swift_opt=Visibility=Public \
  --swift_opt=FileNaming=DropPath \
  "$OUT/onnx.proto"

echo "wrote $OUT/onnx.pb.swift (onnx $ONNX_VERSION, protoc-gen-swift $SWIFT_PROTOBUF_VERSION)"

#!/usr/bin/env bash
# Runs the bundled example end to end with the release build: compress LeNet on MNIST within
# two points of top-1 on 500 images the search never saw, then re-measure the exported model
# independently (on all 1,000 images: the searched half and the unseen half together).
set -euo pipefail
cd "$(dirname "$0")/.."
shrink=.build/release/shrink
echo "== the model"
$shrink inspect Examples/lenet-mnist/model.onnx
echo
echo "== shrink run pipelines/lenet-mnist.yaml"
status=0
$shrink run pipelines/lenet-mnist.yaml || status=$?
echo
if [ -f out/lenet-mnist.onnx ]; then
  echo "== the exported model, re-measured"
  $shrink inspect out/lenet-mnist.onnx
  echo "(top-1 on all 1,000 images; the report's figure is the unseen half's)"
  $shrink eval out/lenet-mnist.onnx --data Examples/lenet-mnist/val.npz
  echo
  echo "report: out/lenet-mnist.md   lock file: pipelines/lenet-mnist.lock"
fi
echo "== a second run is a no-op"
$shrink run pipelines/lenet-mnist.yaml
exit $status

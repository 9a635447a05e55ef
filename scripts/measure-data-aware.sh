#!/bin/sh
# Measures what data-aware fitting buys over weight-only fitting at equal rank on the bundled
# LeNet example: top-1 on val.npz (1000 samples) and the layer's relative output error on the
# calibration set (calib.npz, 256 samples), for each choice below, fitted both ways.
# Prints the markdown table used in docs/decomposition.md.
#
#   scripts/measure-data-aware.sh [path/to/shrink]
set -eu
SHRINK=${1:-.build/debug/shrink}
EX=Examples/lenet-mnist
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

run() { # $1 = fit, remaining = --layer choices
    fit=$1; shift
    "$SHRINK" decompose "$EX/model.onnx" "$@" --data "$EX/calib.npz" --fit "$fit" \
        --eval "$EX/val.npz" -o "$TMP/out.onnx" --json 2>/dev/null
}

echo "| layers | MACs/sample | top-1 weights | top-1 activations | output err weights | output err activations |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
while read -r choices; do
    [ -z "$choices" ] && continue
    args=""
    for c in $choices; do args="$args --layer $c"; done
    # shellcheck disable=SC2086
    run weights $args > "$TMP/w.json"
    # shellcheck disable=SC2086
    run activations $args > "$TMP/a.json"
    python3 - "$TMP/w.json" "$TMP/a.json" "$choices" <<'PY'
import json, sys
w, a = (json.load(open(p)) for p in sys.argv[1:3])
errs = lambda r: ", ".join(f"{l['output_error']:.3f}" for l in r["layers"] if l["output_error"] is not None)
print(f"| `{sys.argv[3]}` | {a['macs_after']:,} | {100*w['eval']['top1_after']:.1f}% | "
      f"{100*a['eval']['top1_after']:.1f}% | {errs(w)} | {errs(a)} |")
PY
done <<'CHOICES'
fc1=svd:4
fc1=svd:8
fc1=svd:16
fc1=svd:32
conv2=cp:4
conv2=cp:8
conv2=cp:16
conv2=cp4:4
conv2=cp4:8
conv2=cp4:16
conv2=tucker2:4,4
conv2=tucker2:8,4
conv2=tucker2:16,8
conv2=spatial-svd:2
conv2=spatial-svd:4
conv2=spatial-svd:8
conv1=tucker2:3,1
conv1=spatial-svd:2
conv1=tucker2:4,1 conv2=cp4:8 fc1=svd:8 fc2=svd:4
conv1=spatial-svd:3 conv2=tucker2:8,4 fc1=svd:16
CHOICES

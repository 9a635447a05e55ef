#!/usr/bin/env python3
"""Sequential against independent data-aware fitting at equal ranks (docs/decomposition.md).

For each set of layer choices, runs `shrink decompose --fit activations` (every layer fitted to
the original model's inputs) and `--fit sequential` (every layer fitted to the original's
outputs from the inputs of the model compressed before it), then measures both exported models
with onnxruntime against the original on the evaluation inputs: relative L2 error of the first
output per sample (mean), top-1 agreement with the original, and top-1 against labels when the
data has `y`.

    python3 Benchmarks/python/sequential_fit.py SHRINK MODEL CALIB.npz EVAL.npz \
        "conv1=tucker2:4,1 conv2=tucker2:11,4 fc1=svd:11" ["..."] [--input-key x] [--samples N]
"""
import argparse
import os
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime as ort


def run_model(path, x):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    outs = [s.run(None, {name: x[i:i + 32]})[0] for i in range(0, len(x), 32)]
    return np.concatenate(outs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shrink")
    ap.add_argument("model")
    ap.add_argument("calib")
    ap.add_argument("eval")
    ap.add_argument("choices", nargs="+")
    ap.add_argument("--input-key", default="x")
    ap.add_argument("--samples", type=int, default=256)
    a = ap.parse_args()
    data = np.load(a.eval)
    x = data[a.input_key].astype(np.float32)
    y = data["y"] if "y" in data else None
    ref = run_model(a.model, x)
    axis = -1 if ref.ndim == 2 else 1
    print("| layers | fit | relative L2 of the output | agreement with the original | top-1 | fit time |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for choice in a.choices:
            for fit in ("activations", "sequential"):
                out = os.path.join(tmp, f"{fit}.onnx")
                args = [a.shrink, "decompose", a.model, "--fit", fit, "--data", a.calib, "--input-key", a.input_key,
                        "--samples", str(a.samples), "-o", out]
                for c in choice.split():
                    args += ["--layer", c]
                t0 = time.time()
                subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
                seconds = time.time() - t0
                got = run_model(out, x)
                diff = (got - ref).reshape(len(x), -1)
                rel = np.mean(np.linalg.norm(diff, axis=1) / np.maximum(np.linalg.norm(ref.reshape(len(x), -1), axis=1), 1e-12))
                agree = np.mean(got.argmax(axis) == ref.argmax(axis))
                top1 = f"{np.mean(got.argmax(-1) == y) * 100:.1f} %" if y is not None and ref.ndim == 2 else "—"
                label = choice if fit == "activations" else ""
                print(f"| {label} | {fit} | {rel:.4f} | {agree * 100:.1f} % | {top1} | {seconds:.1f} s |", flush=True)


if __name__ == "__main__":
    main()

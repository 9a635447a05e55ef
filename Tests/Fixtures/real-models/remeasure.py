"""Re-measures an exported model in onnxruntime, independently of Shrink: top-1 agreement of the
exported model's argmax (last axis) with the original model's on the samples of an .npz file.

    python remeasure.py ORIGINAL.onnx EXPORTED.onnx DATA.npz
prints {"agreement": A, "samples": N, "near_ties": T} — near_ties counts samples whose original
top-2 logits are within 1e-4 relative, where a different CPU may pick either class.

    python remeasure.py ORIGINAL.onnx EXPORTED.onnx DATA.npz --relative-l2 OUTPUT
prints {"relative_l2": R, "samples": N}: the mean over samples of ||y - y0|| / ||y0|| of output
OUTPUT. The model's first input is fed from `x`, every further input from the array of its name
(the whole file at once, so inputs with the samples on another axis need no slicing here).
Run by RealModelPipelineTests with the oracle environment scripts/fetch-models.sh installs.
"""
import json
import sys

import numpy as np
import onnxruntime as ort


def outputs(path, x):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 16]})[0] for i in range(0, len(x), 16)])


def relative_l2(original, exported, data, output):
    arrays = np.load(data)
    outs = []
    for path in (original, exported):
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [i.name for i in s.get_inputs()]
        feeds = {n: arrays["x"] if k == 0 else arrays[n] for k, n in enumerate(names)}
        outs.append(s.run([output], feeds)[0])
    a, b = (o.reshape(len(o), -1).astype(np.float64) for o in outs)
    r = np.linalg.norm(b - a, axis=1) / np.maximum(np.linalg.norm(a, axis=1), 1e-12)
    print(json.dumps({"relative_l2": float(r.mean()), "samples": len(a)}))


def main():
    if len(sys.argv) == 6 and sys.argv[4] == "--relative-l2":
        relative_l2(*sys.argv[1:4], sys.argv[5])
        return
    original, exported, data = sys.argv[1:4]
    x = np.load(data)["x"].astype(np.float32)
    a = outputs(original, x).reshape(len(x), -1)
    b = outputs(exported, x).reshape(len(x), -1)
    top = np.sort(a, axis=1)
    ties = int(np.sum(top[:, -1] - top[:, -2] <= 1e-4 * np.maximum(1.0, np.abs(top[:, -1]))))
    agreement = float(np.mean(a.argmax(axis=1) == b.argmax(axis=1)))
    print(json.dumps({"agreement": agreement, "samples": len(x), "near_ties": ties}))


if __name__ == "__main__":
    main()

"""Check Shrink's decomposed models with onnx.checker and onnxruntime.

    SHRINK_REGENERATE_FIXTURES=1 swift test --filter ShrinkCompressTests.OnnxFixtureTests
    python3 Tests/Fixtures/decompose/check_with_onnxruntime.py

For every models/<name>.onnx (written by the Swift test above, with models/<name>.input.npz
holding its input under the graph input's name):

  * onnx.checker.check_model(model, full_check=True) must pass (this includes strict shape
    inference); every node must be in the default domain and the model's default opset >= 13;
  * onnxruntime (CPU) runs the model on the input; its outputs are written to
    models/<name>.ort.npz (float32, keyed by output name).

models/results.json records per model the checker verdict, the opset, the operator types and
the output shapes. The Swift test `matchesOnnxruntime` compares Shrink's engine with the
committed ORT outputs (relative 1e-4), so CI needs no Python. Exits 1 if any model fails.
"""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "models")


def check(name):
    path = os.path.join(MODELS, name + ".onnx")
    model = onnx.load(path)
    entry = {}
    try:
        onnx.checker.check_model(model, full_check=True)
        opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        domains = sorted({n.domain for n in model.graph.node if n.domain not in ("", "ai.onnx")})
        if opset < 13:
            raise ValueError(f"default opset {opset} < 13")
        if domains:
            raise ValueError(f"non-standard domains {domains}")
        entry["checker"] = "ok"
        entry["opset"] = opset
    except Exception as e:  # noqa: BLE001 - record any checker failure verbatim
        entry["checker"] = f"failed: {e}"
    entry["ops"] = sorted({n.op_type for n in model.graph.node})
    feeds = dict(np.load(os.path.join(MODELS, name + ".input.npz")))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, feeds)
    np.savez(os.path.join(MODELS, name + ".ort.npz"), **{n: o.astype(np.float32) for n, o in zip(names, outs)})
    entry["outputs"] = {n: list(o.shape) for n, o in zip(names, outs)}
    return entry


def main():
    names = sorted(f[:-5] for f in os.listdir(MODELS) if f.endswith(".onnx"))
    results = {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "models": {}}
    failed = []
    for name in names:
        entry = check(name)
        results["models"][name] = entry
        if entry["checker"] != "ok":
            failed.append(name)
        print(f"{name:32s} {entry['checker']:6s} {' '.join(entry['ops'])}")
    with open(os.path.join(MODELS, "results.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write("\n")
    if failed:
        print("failed:", ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()

"""onnxruntime's outputs on Shrink's QDQ models of the bundled examples, for ShrinkDeviceTests.

    swift build --product shrink && python Tests/Fixtures/device/make_ort_fixtures.py [path/to/shrink]

For lenet-mnist and dscnn-mnist (and ocr-cls-mobile-v2 from scripts/fetch-models.sh, calibrated
and evaluated on ocr-cls-lines.npz, one sample per node) it runs `shrink device MODEL --int8 --calibration
Examples/lenet-mnist/calib.npz` (min/max calibration, the tests' settings), loads the written
model.qdq.onnx in onnxruntime (CPU) and saves, as int32 (NumPy has int8, Shrink's .npz reader
reads int32), into ort_<name>.npz:

  node|<tensor>   every QuantizeLinear output (the int8 activations) on the first K held-out
                  samples, with graph optimisations off so each node runs as written (float op,
                  then QuantizeLinear rounding half to even); '/' in tensor names becomes '|'.
  output          the final int8 output on all 1000 held-out samples, default optimisations.

The Swift tests quantise the model again (same code, same data) and compare per node (the
engine's layer on onnxruntime's input, within 1 step) and end to end (largest difference,
fraction of differing elements, top-1 agreement). onnxruntime 1.32, numpy 2.x.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
here = os.path.dirname(os.path.abspath(__file__))
shrink = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, ".build", "debug", "shrink")
val = np.load(os.path.join(root, "Examples", "lenet-mnist", "val.npz"))["x"]
calib = os.path.join(root, "Examples", "lenet-mnist", "calib.npz")

# ocr-cls-mobile-v2 (scripts/fetch-models.sh) is calibrated and evaluated on its 24 rendered lines.
models_dir = os.environ.get("SHRINK_MODELS", os.path.expanduser("~/.cache/shrink-models"))
lines = os.path.join(here, "ocr-cls-lines.npz")
runs = [("lenet-mnist", os.path.join(root, "Examples", "lenet-mnist", "model.onnx"), calib, val, 8),
        ("dscnn-mnist", os.path.join(root, "Examples", "dscnn-mnist", "model.onnx"), calib, val, 4),
        ("ocr-cls-mobile-v2", os.path.join(models_dir, "rapidocr-onnxruntime-1.4.4", "ocr-cls-mobile-v2.onnx"), lines,
         np.load(lines)["x"], 1)]

for name, path, calibration, val, per_node in runs:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([shrink, "device", path, "--int8", "--calibration", calibration, "-o", out], check=True,
                       stdout=subprocess.DEVNULL)
        model = onnx.load(os.path.join(out, "model.qdq.onnx"))
    feed = model.graph.input[0].name
    quantised = [n.output[0] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    inner = onnx.ModelProto()
    inner.CopyFrom(model)
    del inner.graph.output[:]
    for q in quantised:
        inner.graph.output.append(onnx.helper.make_tensor_value_info(q, onnx.TensorProto.INT8, None))
    plain = ort.SessionOptions()
    plain.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(inner.SerializeToString(), plain, providers=["CPUExecutionProvider"])
    values = s.run(None, {feed: val[:per_node]})
    arrays = {"node|" + q[:-2].replace("/", "|"): v.astype(np.int32) for q, v in zip(quantised, values)}
    # End to end, as a user runs it: default optimisations, the final int8 tensor.
    final = quantised[-1]
    outer = onnx.ModelProto()
    outer.CopyFrom(model)
    outer.graph.output.append(onnx.helper.make_tensor_value_info(final, onnx.TensorProto.INT8, None))
    s = ort.InferenceSession(outer.SerializeToString(), providers=["CPUExecutionProvider"])
    arrays["output"] = s.run([final], {feed: val})[0].astype(np.int32)
    np.savez_compressed(os.path.join(here, f"ort_{name}.npz"), **arrays)
    print(name, len(quantised), "quantised tensors;", arrays["output"].shape)

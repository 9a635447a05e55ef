"""Shape-inference fixtures for standard ops Shrink's engine does not run but its costing must
get past (exporters emit them around layers). Run from the repository root (numpy, onnx,
onnxruntime):

    python3 Tests/Fixtures/onnx-shapes/make_shape_fixtures.py

Writes <case>.onnx (one node, opset given, checked with onnx.checker full_check) and
manifest.json: per case the input shapes and onnxruntime's output shapes (and element types),
which ShrinkGraphTests compare with `Graph.inferShapes`.
"""

import json
import os
import zlib

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
N = helper.make_node
TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64}
NAMES = {TensorProto.FLOAT: "float", TensorProto.INT64: "int64", TensorProto.BOOL: "bool", TensorProto.UINT8: "uint8"}
CASES = []


def case(name, node, inputs, outputs, inits=None, opset=13):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    feeds = {}
    for n, shape, dtype in inputs:
        feeds[n] = (rng.standard_normal(shape) if dtype == np.float32 else rng.integers(0, 3, shape)).astype(dtype)
    def make(shapes):
        g = helper.make_graph([node], name,
                              [helper.make_tensor_value_info(n, TYPES[np.dtype(d)], list(s)) for n, s, d in inputs],
                              [helper.make_tensor_value_info(o, t, shapes.get(o)) for o, t in outputs],
                              initializer=[numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8,
                                 producer_name="shrink-fixtures")

    res = ort.InferenceSession(make({}).SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    m = make({o: list(r.shape) for (o, _), r in zip(outputs, res)})
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, os.path.join(HERE, f"{name}.onnx"))
    CASES.append({"case": name, "model": f"{name}.onnx", "op": node.op_type,
                  "inputs": {n: list(s) for n, s, _ in inputs},
                  "outputs": {o: {"shape": list(r.shape), "type": NAMES[t]} for (o, t), r in zip(outputs, res)}})


F, I = np.float32, np.int64
case("instance_norm", N("InstanceNormalization", ["X", "s", "b"], ["Y"]), [("X", (2, 3, 5, 7), F)], [("Y", 1)],
     {"s": np.ones(3, F), "b": np.zeros(3, F)})
case("depth_to_space", N("DepthToSpace", ["X"], ["Y"], blocksize=2, mode="CRD"), [("X", (1, 12, 3, 5), F)], [("Y", 1)])
case("space_to_depth", N("SpaceToDepth", ["X"], ["Y"], blocksize=3), [("X", (2, 2, 6, 9), F)], [("Y", 1)])
case("argmax_keep", N("ArgMax", ["X"], ["Y"], axis=1), [("X", (2, 7, 5), F)], [("Y", 7)])
case("argmin_nokeep", N("ArgMin", ["X"], ["Y"], axis=-1, keepdims=0), [("X", (2, 7, 5), F)], [("Y", 7)])
case("topk", N("TopK", ["X", "k"], ["V", "I"], axis=1), [("X", (3, 9, 2), F)], [("V", 1), ("I", 7)], {"k": np.array([4], I)})
case("sign", N("Sign", ["X"], ["Y"]), [("X", (4, 5), F)], [("Y", 1)])
case("round", N("Round", ["X"], ["Y"]), [("X", (4, 5), F)], [("Y", 1)])
case("isnan", N("IsNaN", ["X"], ["Y"]), [("X", (3, 2), F)], [("Y", 9)])
case("cumsum", N("CumSum", ["X", "a"], ["Y"]), [("X", (3, 4), F)], [("Y", 1)], {"a": np.array(1, I)})
case("hardmax", N("Hardmax", ["X"], ["Y"]), [("X", (3, 5), F)], [("Y", 1)])
case("lrn", N("LRN", ["X"], ["Y"], size=3), [("X", (1, 5, 4, 4), F)], [("Y", 1)])
case("gather_elements", N("GatherElements", ["X", "i"], ["Y"], axis=1), [("X", (3, 4), F)], [("Y", 1)],
     {"i": np.array([[0, 1], [2, 3], [1, 1]], I)})
case("greater_or", N("Or", ["A", "B"], ["Y"]), [], [("Y", 9)],
     {"A": np.array([True, False, True]), "B": np.array([[False], [True]])})
case("mod_broadcast", N("Mod", ["A", "B"], ["Y"]), [("A", (2, 3), I)], [("Y", 7)], {"B": np.array([2, 3, 5], I)})
case("trilu", N("Trilu", ["X"], ["Y"]), [("X", (4, 6), F)], [("Y", 1)], opset=14)
case("onehot", N("OneHot", ["i", "d", "v"], ["Y"], axis=1), [("i", (2, 3), I)], [("Y", 1)],
     {"d": np.array(5, I), "v": np.array([0, 1], F)})
case("quantize_dequantize", N("QuantizeLinear", ["X", "s", "z"], ["Y"]), [("X", (2, 3), F)], [("Y", 2)],
     {"s": np.array(0.1, F), "z": np.array(0, np.uint8)})
case("lp_pool", N("LpPool", ["X"], ["Y"], kernel_shape=[3, 2], strides=[2, 1], p=2), [("X", (1, 2, 7, 5), F)], [("Y", 1)])
case("global_lp_pool", N("GlobalLpPool", ["X"], ["Y"]), [("X", (2, 3, 4, 5), F)], [("Y", 1)])
case("celu", N("Celu", ["X"], ["Y"]), [("X", (2, 3), F)], [("Y", 1)])

with open(os.path.join(HERE, "manifest.json"), "w") as fh:
    json.dump({"cases": CASES}, fh, indent=1, sort_keys=True)
    fh.write("\n")
print(len(CASES), "shape cases written")

"""Generate small single-op (or short-chain) ONNX test graphs with onnxruntime reference outputs.

Run from the repository root (needs numpy, onnx, onnxruntime):

    python Tests/Fixtures/onnx-ops/make_op_fixtures.py

For every case <case> it writes into Tests/Fixtures/onnx-ops/:
  <case>.onnx  graph built with onnx.helper (opset 13 unless the manifest says otherwise,
               ir_version 8), validated with onnx.checker.check_model(full_check=True).
  <case>.npz   every graph input under its own input name (e.g. `X`), and every graph
               output under `out:<output name>` (e.g. `out:Y`), as computed by onnxruntime
               (CPUExecutionProvider, graph optimisations disabled).
and Tests/Fixtures/onnx-ops/manifest.json describing each case (files, opset, ops covered,
attributes summary, inputs/outputs with dtype and shape, initializer names).

It also writes negative fixtures into Tests/Fixtures/onnx-bad/:
  truncated.onnx       first half of the bytes of onnx-ops/conv_bias.onnx
  garbage.onnx         1024 random bytes (numpy seed 7); onnx.load rejects it
  empty.onnx           0 bytes (parses as an empty ModelProto without a graph)
  unsupported_op.onnx  valid opset-13 model with an Einsum node (Einsum is not supported)
  long_window_input.onnx  [batch, samples] into a 400-sample window of stride 160 (inspect's shape hint)
  unsupported_before_layer.onnx  valid opset-13 model LpNormalization -> Conv -> Sign:
               two ops the runtime does not run (shape inference knows both), around a layer

All random data comes from numpy default_rng seeded with crc32(case name), so it is
deterministic and independent of case order.
"""

import json
import os
import zlib

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(os.path.dirname(HERE), "onnx-bad")

NP2ONNX = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.bool_): TensorProto.BOOL,
}
ONNX2NAME = {TensorProto.FLOAT: "float32", TensorProto.INT64: "int64",
             TensorProto.INT32: "int32", TensorProto.BOOL: "bool"}

MANIFEST = []


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def f32(rng, *shape, scale=1.0):
    return np.asarray(rng.standard_normal(shape) * scale, dtype=np.float32)


def i64(values):
    return np.array(values, dtype=np.int64)


def build(name, ops, nodes, inputs, outputs, inits=None, opset=13, note=""):
    """inputs: list of (name, array) fed at run time (declared as graph inputs).
    outputs: list of output names, or (name, onnx elem type) pairs.
    inits: dict name -> array stored as initializers."""
    inits = inits or {}
    g_inputs = [
        helper.make_tensor_value_info(n, NP2ONNX[a.dtype], list(a.shape)) for n, a in inputs
    ]
    outs = [(o, TensorProto.FLOAT) if isinstance(o, str) else o for o in outputs]

    def make(out_shapes):
        g_outputs = [
            helper.make_tensor_value_info(n, t, out_shapes.get(n)) for n, t in outs
        ]
        graph = helper.make_graph(
            nodes,
            name,
            g_inputs,
            g_outputs,
            initializer=[numpy_helper.from_array(a, n) for n, a in inits.items()],
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", opset)],
            producer_name="shrink-fixtures",
            ir_version=8,
        )
        if out_shapes:  # first (shape-less) pass is only used to get ORT output shapes
            onnx.checker.check_model(model, full_check=True)
        return model

    def run(model):
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(
            model.SerializeToString(), so, providers=["CPUExecutionProvider"]
        )
        return sess.run([n for n, _ in outs], {n: a for n, a in inputs})

    results = run(make({}))
    model = make({n: list(r.shape) for (n, _), r in zip(outs, results)})
    results2 = run(model)
    for a, b in zip(results, results2):
        assert np.array_equal(a, b, equal_nan=True)

    onnx.save(model, os.path.join(HERE, f"{name}.onnx"))
    arrays = {n: a for n, a in inputs}
    for (n, _), r in zip(outs, results):
        arrays[f"out:{n}"] = r
    np.savez(os.path.join(HERE, f"{name}.npz"), **arrays)

    MANIFEST.append(
        {
            "case": name,
            "model": f"{name}.onnx",
            "data": f"{name}.npz",
            "opset": opset,
            "ops": ops,
            "node_ops": [n.op_type for n in nodes],
            "note": note,
            "inputs": [
                {"name": n, "dtype": str(a.dtype), "shape": list(a.shape)} for n, a in inputs
            ],
            "initializers": [
                {"name": n, "dtype": str(a.dtype), "shape": list(a.shape)}
                for n, a in inits.items()
            ],
            "outputs": [
                {"name": n, "key": f"out:{n}", "dtype": ONNX2NAME[t], "shape": list(r.shape)}
                for (n, t), r in zip(outs, results)
            ],
        }
    )
    return model


N = helper.make_node


# ----------------------------------------------------------------------------- Conv
def conv_cases():
    def conv(name, x_shape, w_shape, bias=False, note="", w_as_input=False, **attrs):
        r = rng_for(name)
        X = f32(r, *x_shape)
        W = f32(r, *w_shape, scale=0.5)
        ins = ["X", "W"]
        inits = {}
        inputs = [("X", X)]
        if w_as_input:
            inputs.append(("W", W))
        else:
            inits["W"] = W
        if bias:
            B = f32(r, w_shape[0], scale=0.5)
            ins.append("B")
            if w_as_input:
                inputs.append(("B", B))
            else:
                inits["B"] = B
        build(name, ["Conv"], [N("Conv", ins, ["Y"], **attrs)], inputs, ["Y"], inits, note=note)

    conv("conv_basic", (2, 2, 6, 6), (3, 2, 3, 3), note="no bias, no attributes (kernel_shape inferred)")
    conv("conv_bias", (1, 3, 5, 5), (4, 3, 3, 3), bias=True, kernel_shape=[3, 3])
    conv("conv_strides2", (1, 2, 7, 7), (3, 2, 3, 3), bias=True, strides=[2, 2], pads=[1, 1, 1, 1])
    conv("conv_pads_asym", (1, 2, 5, 6), (3, 2, 3, 3), bias=True, pads=[0, 1, 2, 0],
         note="pads = [top, left, bottom, right] = [0,1,2,0]")
    conv("conv_dilations2", (1, 2, 8, 8), (3, 2, 3, 3), bias=True, dilations=[2, 2], pads=[1, 1, 1, 1])
    conv("conv_group2", (1, 4, 6, 6), (6, 2, 3, 3), bias=True, group=2, pads=[1, 1, 1, 1])
    conv("conv_depthwise", (2, 4, 6, 6), (4, 1, 3, 3), bias=True, group=4, pads=[1, 1, 1, 1],
         strides=[2, 2], note="depthwise: group = C = 4, stride 2")
    conv("conv_depthwise_mult2", (1, 3, 5, 5), (6, 1, 3, 3), bias=True, group=3,
         note="depthwise with channel multiplier 2 (6 outputs, group 3)")
    conv("conv_autopad_same_upper", (1, 2, 6, 6), (3, 2, 3, 3), bias=True, strides=[2, 2],
         auto_pad="SAME_UPPER", note="total pad 1 per axis: the extra pad goes at the END")
    conv("conv_autopad_same_lower", (1, 2, 6, 6), (3, 2, 3, 3), bias=True, strides=[2, 2],
         auto_pad="SAME_LOWER", note="total pad 1 per axis: the extra pad goes at the BEGINNING")
    conv("conv_autopad_same_upper_s1", (1, 2, 5, 5), (3, 2, 4, 4), auto_pad="SAME_UPPER",
         note="even kernel 4, stride 1: total pad 3 -> begin 1, end 2")
    conv("conv_autopad_valid", (1, 2, 7, 7), (3, 2, 3, 3), bias=True, strides=[2, 2], auto_pad="VALID")
    conv("conv_1d", (2, 3, 10), (4, 3, 3), bias=True, pads=[1, 2], strides=[2],
         note="1-D conv, pads [begin=1, end=2]")
    conv("conv_1x1", (1, 5, 4, 4), (3, 5, 1, 1), bias=True)
    conv("conv_rect_kernel", (1, 2, 7, 8), (3, 2, 3, 2), bias=True, strides=[1, 2], pads=[1, 0, 1, 1])
    # Large enough for Shrink's Winograd F(2x2, 3x3) path (3x3, stride 1, >= 8 channels each side).
    conv("conv_winograd_pad1_odd", (2, 9, 13, 11), (19, 9, 3, 3), bias=True, pads=[1, 1, 1, 1],
         note="3x3 stride 1, odd output size: Winograd tiles cut at the edges")
    conv("conv_winograd_same_upper_asym", (1, 16, 10, 7), (12, 16, 3, 3), bias=True, auto_pad="SAME_UPPER")
    conv("conv_winograd_pads_asym_valid_rows", (1, 12, 9, 14), (8, 12, 3, 3), pads=[0, 2, 1, 0])
    conv("conv_weight_input", (1, 2, 5, 5), (3, 2, 3, 3), bias=True, w_as_input=True,
         pads=[1, 1, 1, 1], note="weight W and bias B are graph inputs, not initializers")


# ----------------------------------------------------------------------------- Gemm / MatMul
def gemm_cases():
    def gemm(name, a_shape, b_shape, c_shape=None, b_as_input=False, note="", **attrs):
        r = rng_for(name)
        A = f32(r, *a_shape)
        B = f32(r, *b_shape)
        inputs = [("A", A)]
        inits = {}
        ins = ["A", "B"]
        if b_as_input:
            inputs.append(("B", B))
        else:
            inits["B"] = B
        if c_shape is not None:
            inits["C"] = f32(r, *c_shape)
            ins.append("C")
        build(name, ["Gemm"], [N("Gemm", ins, ["Y"], **attrs)], inputs, ["Y"], inits, note=note)

    gemm("gemm_basic", (3, 4), (4, 5), (3, 5))
    gemm("gemm_alpha_beta", (3, 4), (4, 5), (3, 5), alpha=0.5, beta=2.0)
    gemm("gemm_transA", (4, 3), (4, 5), (3, 5), transA=1)
    gemm("gemm_transB", (3, 4), (5, 4), (5,), transB=1, note="C shape (N,) broadcast over rows")
    gemm("gemm_transA_transB", (4, 3), (5, 4), (3, 5), transA=1, transB=1, alpha=1.5, beta=0.25)
    gemm("gemm_c_vector", (3, 4), (4, 5), (5,), note="C shape (N,)")
    gemm("gemm_c_scalar", (3, 4), (4, 5), (), beta=0.5, note="C is a 0-d scalar")
    gemm("gemm_c_one", (3, 4), (4, 5), (1,), note="C shape (1,)")
    gemm("gemm_c_column", (3, 4), (4, 5), (3, 1), note="C shape (M,1) broadcast over columns")
    gemm("gemm_no_c", (3, 4), (4, 5), None, alpha=2.0, note="no C input")
    gemm("gemm_b_input", (2, 6), (3, 6), (3,), b_as_input=True, transB=1,
         note="B is a graph input (Linear layer style, transB=1)")

    def matmul(name, a_shape, b_shape, note=""):
        r = rng_for(name)
        build(name, ["MatMul"], [N("MatMul", ["A", "B"], ["Y"])],
              [("A", f32(r, *a_shape)), ("B", f32(r, *b_shape))], ["Y"], note=note)

    matmul("matmul_2d", (3, 4), (4, 5))
    matmul("matmul_batched_3d", (2, 3, 4), (2, 4, 5))
    matmul("matmul_broadcast_3d_2d", (2, 3, 4), (4, 5), note="batched x 2-D (B broadcast)")
    matmul("matmul_1d_2d", (4,), (4, 5), note="1-D x 2-D -> (5,)")
    matmul("matmul_2d_1d", (3, 4), (4,), note="2-D x 1-D -> (3,)")

    r = rng_for("matmul_weight_init")
    build("matmul_weight_init", ["MatMul", "Add"],
          [N("MatMul", ["X", "W"], ["XW"]), N("Add", ["XW", "b"], ["Y"])],
          [("X", f32(r, 2, 6))], ["Y"], {"W": f32(r, 6, 3), "b": f32(r, 3)},
          note="MatMul + Add bias (exporter-style Linear), weight as initializer")


# ----------------------------------------------------------------------------- elementwise
def elementwise_cases():
    def binop(name, op, a_shape, b_shape, b_init=False, positive_b=False, note=""):
        r = rng_for(name)
        A = f32(r, *a_shape)
        B = f32(r, *b_shape)
        if positive_b:
            B = np.asarray((np.abs(B) + 0.5) * np.where(r.random(b_shape) < 0.5, -1, 1), dtype=np.float32)
        inputs = [("A", A)]
        inits = {}
        if b_init:
            inits["B"] = B
        else:
            inputs.append(("B", B))
        build(name, [op], [N(op, ["A", "B"], ["Y"])], inputs, ["Y"], inits, note=note)

    binop("add_same_shape", "Add", (2, 3, 4), (2, 3, 4))
    binop("add_bcast_vec", "Add", (2, 3, 4), (4,), note="(2,3,4) + (4,)")
    binop("add_bcast_scalar_init", "Add", (2, 3), (), b_init=True, note="B is a 0-d initializer")
    binop("sub_bcast", "Sub", (2, 3, 4), (3, 1), note="(2,3,4) - (3,1)")
    binop("sub_scalar", "Sub", (2, 3), (), note="B is a 0-d input")
    binop("sub_bcast_left", "Sub", (4,), (2, 3, 4), note="A is the smaller operand")
    binop("mul_bcast_both", "Mul", (2, 1, 4), (1, 3, 1), note="(2,1,4) * (1,3,1) -> (2,3,4)")
    binop("mul_scalar", "Mul", (3, 4), (1,), b_init=True)
    binop("div_bcast", "Div", (2, 3, 4), (3, 1), positive_b=True, note="|B| >= 0.5")
    binop("div_scalar", "Div", (2, 3), (), positive_b=True, note="|B| >= 0.5")
    binop("div_bcast_both", "Div", (2, 1, 4), (1, 3, 1), positive_b=True)

    def unary(name, op, shape=(2, 3, 4), scale=2.0, opset=13, note="", **attrs):
        r = rng_for(name)
        build(name, [op], [N(op, ["X"], ["Y"], **attrs)], [("X", f32(r, *shape, scale=scale))],
              ["Y"], opset=opset, note=note)

    unary("relu", "Relu")
    unary("leakyrelu_default", "LeakyRelu", note="default alpha 0.01")
    unary("leakyrelu_alpha", "LeakyRelu", alpha=0.2)
    unary("sigmoid", "Sigmoid", scale=4.0)
    unary("tanh", "Tanh", scale=2.0)
    unary("hardsigmoid_default", "HardSigmoid", scale=4.0, note="defaults alpha 0.2, beta 0.5")
    unary("hardsigmoid_alpha_beta", "HardSigmoid", scale=4.0, alpha=0.5, beta=0.6)
    unary("hardswish", "HardSwish", scale=4.0, opset=14, note="opset 14 (HardSwish introduced in 14)")
    unary("identity", "Identity")

    # Clip (opset 13: min/max are optional inputs)
    r = rng_for("clip_init")
    build("clip_init", ["Clip"], [N("Clip", ["X", "lo", "hi"], ["Y"])],
          [("X", f32(r, 3, 4, scale=3.0))], ["Y"],
          {"lo": np.array(-1.0, np.float32), "hi": np.array(6.0 / 5, np.float32)},
          note="min/max as 0-d initializers")
    r = rng_for("clip_inputs")
    build("clip_inputs", ["Clip"], [N("Clip", ["X", "lo", "hi"], ["Y"])],
          [("X", f32(r, 3, 4, scale=3.0)), ("lo", np.array(-0.5, np.float32)),
           ("hi", np.array(0.75, np.float32))], ["Y"], note="min/max as 0-d graph inputs")
    r = rng_for("clip_none")
    build("clip_none", ["Clip"], [N("Clip", ["X"], ["Y"])], [("X", f32(r, 3, 4, scale=3.0))],
          ["Y"], note="no min/max: identity")
    r = rng_for("clip_max_only")
    build("clip_max_only", ["Clip"], [N("Clip", ["X", "", "hi"], ["Y"])],
          [("X", f32(r, 3, 4, scale=3.0))], ["Y"], {"hi": np.array(6.0, np.float32) / 4},
          note="min omitted via empty input name, max = 1.5")
    r = rng_for("clip_min_only")
    build("clip_min_only", ["Clip"], [N("Clip", ["X", "lo"], ["Y"])],
          [("X", f32(r, 3, 4, scale=3.0))], ["Y"], {"lo": np.array(0.0, np.float32)},
          note="only min = 0 (ReLU)")
    r = rng_for("clip_relu6")
    build("clip_relu6", ["Clip"], [N("Clip", ["X", "lo", "hi"], ["Y"])],
          [("X", f32(r, 2, 3, 4, scale=5.0))], ["Y"],
          {"lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32)}, note="ReLU6")


# ----------------------------------------------------------------------------- pooling
def pool_cases():
    def pool(name, op, x_shape, note="", **attrs):
        r = rng_for(name)
        build(name, [op], [N(op, ["X"], ["Y"], **attrs)], [("X", f32(r, *x_shape))], ["Y"], note=note)

    pool("maxpool_k2s2", "MaxPool", (1, 2, 6, 6), kernel_shape=[2, 2], strides=[2, 2])
    pool("maxpool_k3s1p1", "MaxPool", (1, 2, 5, 5), kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    pool("maxpool_ceil", "MaxPool", (1, 2, 7, 7), kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1,
         note="7 -> 4 with ceil_mode (3 with floor)")
    pool("maxpool_dilations", "MaxPool", (1, 2, 7, 7), kernel_shape=[2, 2], strides=[1, 1],
         dilations=[2, 2])
    pool("maxpool_default_strides", "MaxPool", (1, 2, 5, 5), kernel_shape=[2, 2],
         note="strides default to 1")
    pool("maxpool_asym_pads", "MaxPool", (1, 2, 6, 6), kernel_shape=[3, 3], strides=[2, 2],
         pads=[0, 1, 1, 0])
    pool("maxpool_1d", "MaxPool", (2, 3, 9), kernel_shape=[3], strides=[2], pads=[1, 1])
    pool("maxpool_same_upper", "MaxPool", (1, 2, 6, 6), kernel_shape=[3, 3], strides=[2, 2],
         auto_pad="SAME_UPPER")

    pool("avgpool_k2s2", "AveragePool", (1, 2, 6, 6), kernel_shape=[2, 2], strides=[2, 2])
    pool("avgpool_pads_exclude", "AveragePool", (1, 2, 5, 5), kernel_shape=[3, 3], strides=[2, 2],
         pads=[1, 1, 1, 1], count_include_pad=0, note="padding NOT counted in the divisor")
    pool("avgpool_pads_include", "AveragePool", (1, 2, 5, 5), kernel_shape=[3, 3], strides=[2, 2],
         pads=[1, 1, 1, 1], count_include_pad=1, note="padding counted (divisor always 9)")
    pool("avgpool_ceil", "AveragePool", (1, 2, 6, 6), kernel_shape=[3, 3], strides=[2, 2],
         ceil_mode=1, note="6 -> 3 with ceil_mode; last window hangs past the edge")
    pool("avgpool_ceil_pads_include", "AveragePool", (1, 2, 6, 6), kernel_shape=[3, 3],
         strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1,
         note="ceil_mode + count_include_pad: the part of the window beyond the padded input is "
              "not counted (ORT semantics)")

    pool("globalavgpool", "GlobalAveragePool", (2, 3, 5, 5))
    pool("globalavgpool_1x1", "GlobalAveragePool", (1, 4, 1, 1))


# ----------------------------------------------------------------------------- shape ops
def shape_cases():
    def flat(name, axis, shape=(2, 3, 4, 5)):
        r = rng_for(name)
        build(name, ["Flatten"], [N("Flatten", ["X"], ["Y"], axis=axis)], [("X", f32(r, *shape))], ["Y"])

    flat("flatten_axis1", 1)
    flat("flatten_axis0", 0)
    flat("flatten_axis2", 2)
    flat("flatten_axis_neg1", -1)

    def reshape(name, x_shape, shape, shape_input=False, opset=13, note="", **attrs):
        r = rng_for(name)
        X = f32(r, *x_shape)
        inputs = [("X", X)]
        inits = {}
        if shape_input:
            inputs.append(("shape", i64(shape)))
        else:
            inits["shape"] = i64(shape)
        build(name, ["Reshape"], [N("Reshape", ["X", "shape"], ["Y"], **attrs)], inputs, ["Y"], inits,
              opset=opset, note=note)

    reshape("reshape_neg1", (2, 3, 4), [4, -1])
    reshape("reshape_zero_copy", (2, 3, 4), [0, -1], note="0 copies the input dim (allowzero=0)")
    reshape("reshape_zero_copy_mid", (2, 3, 4), [2, 0, 2, 2], note="0 at position 1 copies 3")
    reshape("reshape_shape_input", (2, 3, 4), [3, 8], shape_input=True, note="shape is a graph input")
    reshape("reshape_allowzero", (0, 6), [3, 0], opset=14, allowzero=1,
            note="opset 14, allowzero=1: 0 in shape means a literal 0-size dim; input is (0,6)")
    reshape("reshape_allowzero_nonzero", (2, 3, 4), [6, 4], opset=14, allowzero=1,
            note="allowzero=1 with an ordinary shape (dynamo exporter style)")

    def transpose(name, shape, perm=None):
        r = rng_for(name)
        attrs = {} if perm is None else {"perm": perm}
        build(name, ["Transpose"], [N("Transpose", ["X"], ["Y"], **attrs)], [("X", f32(r, *shape))], ["Y"],
              note="default perm reverses the axes" if perm is None else "")

    transpose("transpose_default", (2, 3, 4))
    transpose("transpose_nchw_nhwc", (2, 3, 4, 5), [0, 2, 3, 1])
    transpose("transpose_2d", (3, 5), [1, 0])

    r = rng_for("concat_axis1")
    build("concat_axis1", ["Concat"], [N("Concat", ["A", "B", "C"], ["Y"], axis=1)],
          [("A", f32(r, 2, 1, 3)), ("B", f32(r, 2, 2, 3))], ["Y"], {"C": f32(r, 2, 3, 3)},
          note="three inputs, the third an initializer")
    r = rng_for("concat_neg_axis")
    build("concat_neg_axis", ["Concat"], [N("Concat", ["A", "B"], ["Y"], axis=-1)],
          [("A", f32(r, 2, 3, 2)), ("B", f32(r, 2, 3, 4))], ["Y"], note="axis = -1")
    r = rng_for("concat_axis0")
    build("concat_axis0", ["Concat"], [N("Concat", ["A", "B"], ["Y"], axis=0)],
          [("A", f32(r, 1, 4)), ("B", f32(r, 3, 4))], ["Y"])

    # Unsqueeze / Squeeze (opset 13: axes is an input)
    r = rng_for("unsqueeze_axis0")
    build("unsqueeze_axis0", ["Unsqueeze"], [N("Unsqueeze", ["X", "axes"], ["Y"])],
          [("X", f32(r, 3, 4))], ["Y"], {"axes": i64([0])})
    r = rng_for("unsqueeze_multi_neg")
    build("unsqueeze_multi_neg", ["Unsqueeze"], [N("Unsqueeze", ["X", "axes"], ["Y"])],
          [("X", f32(r, 3, 4))], ["Y"], {"axes": i64([1, -1])},
          note="axes [1,-1] refer to the OUTPUT rank (4): (3,4) -> (3,1,4,1)")
    r = rng_for("unsqueeze_axes_input")
    build("unsqueeze_axes_input", ["Unsqueeze"], [N("Unsqueeze", ["X", "axes"], ["Y"])],
          [("X", f32(r, 2, 3)), ("axes", i64([2]))], ["Y"], note="axes is a graph input")
    r = rng_for("squeeze_axes")
    build("squeeze_axes", ["Squeeze"], [N("Squeeze", ["X", "axes"], ["Y"])],
          [("X", f32(r, 1, 3, 1, 4))], ["Y"], {"axes": i64([2])}, note="only axis 2 removed")
    r = rng_for("squeeze_neg_axes")
    build("squeeze_neg_axes", ["Squeeze"], [N("Squeeze", ["X", "axes"], ["Y"])],
          [("X", f32(r, 1, 3, 1, 4))], ["Y"], {"axes": i64([0, -2])})
    r = rng_for("squeeze_no_axes")
    build("squeeze_no_axes", ["Squeeze"], [N("Squeeze", ["X"], ["Y"])],
          [("X", f32(r, 1, 3, 1, 4))], ["Y"], note="no axes: all size-1 dims removed")

    # Shape
    r = rng_for("shape")
    build("shape", ["Shape"], [N("Shape", ["X"], ["Y"])], [("X", f32(r, 2, 3, 4))],
          [("Y", TensorProto.INT64)], note="int64 output")
    # Exporter-style dynamic flatten: Shape -> Gather -> Unsqueeze -> Concat -> Reshape
    r = rng_for("shape_gather_reshape_chain")
    build(
        "shape_gather_reshape_chain",
        ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "Constant"],
        [
            N("Shape", ["X"], ["s"]),
            N("Constant", [], ["idx0"], value=numpy_helper.from_array(np.array(0, np.int64))),
            N("Gather", ["s", "idx0"], ["n"], axis=0),
            N("Constant", [], ["ax0"], value=numpy_helper.from_array(i64([0]))),
            N("Unsqueeze", ["n", "ax0"], ["n1"]),
            N("Constant", [], ["minus1"], value=numpy_helper.from_array(i64([-1]))),
            N("Concat", ["n1", "minus1"], ["newshape"], axis=0),
            N("Reshape", ["X", "newshape"], ["Y"]),
        ],
        [("X", f32(r, 3, 2, 2, 5))],
        ["Y", ("newshape", TensorProto.INT64)],
        note="PyTorch legacy-exporter dynamic flatten pattern; also outputs the computed shape",
    )

    # Gather
    def gather(name, data_shape, indices, axis=0, idx_input=False, note=""):
        r = rng_for(name)
        inputs = [("data", f32(r, *data_shape))]
        inits = {}
        if idx_input:
            inputs.append(("indices", indices))
        else:
            inits["indices"] = indices
        build(name, ["Gather"], [N("Gather", ["data", "indices"], ["Y"], axis=axis)], inputs, ["Y"],
              inits, note=note)

    gather("gather_axis0", (5, 4), i64([0, 3, 1]))
    gather("gather_axis1", (3, 5, 2), i64([[4, 0], [1, 1]]), axis=1, note="2-D indices on axis 1")
    gather("gather_negative_indices", (5, 4), i64([-1, 0, -5]), note="negative indices count from the end")
    gather("gather_scalar_index", (5, 4), np.array(2, np.int64), note="0-d index drops the axis")
    gather("gather_indices_input", (4, 6), i64([5, -2, 0]), axis=1, idx_input=True,
           note="indices are a graph input")
    gather("gather_int32_indices", (5, 3), np.array([4, 2], np.int32), note="int32 indices")

    # Softmax (opset 13 semantics: single axis)
    r = rng_for("softmax_axis_neg1")
    build("softmax_axis_neg1", ["Softmax"], [N("Softmax", ["X"], ["Y"], axis=-1)],
          [("X", f32(r, 2, 3, 4, scale=3.0))], ["Y"])
    r = rng_for("softmax_axis1")
    build("softmax_axis1", ["Softmax"], [N("Softmax", ["X"], ["Y"], axis=1)],
          [("X", f32(r, 2, 3, 4, scale=3.0))], ["Y"],
          note="opset 13: normalises along axis 1 only (NOT flattened [1:] as in opset < 13)")
    r = rng_for("softmax_default")
    build("softmax_default", ["Softmax"], [N("Softmax", ["X"], ["Y"])],
          [("X", f32(r, 3, 10, scale=3.0))], ["Y"], note="default axis -1")


# ----------------------------------------------------------------------------- misc
def misc_cases():
    r = rng_for("batchnorm")
    C = 3
    build("batchnorm", ["BatchNormalization"],
          [N("BatchNormalization", ["X", "scale", "B", "mean", "var"], ["Y"], epsilon=1e-3)],
          [("X", f32(r, 2, C, 4, 4))], ["Y"],
          {"scale": f32(r, C), "B": f32(r, C), "mean": f32(r, C, scale=0.5),
           "var": (r.random(C) + 0.5).astype(np.float32)},
          note="inference mode, epsilon 1e-3")
    r = rng_for("batchnorm_default_eps")
    build("batchnorm_default_eps", ["BatchNormalization"],
          [N("BatchNormalization", ["X", "scale", "B", "mean", "var"], ["Y"])],
          [("X", f32(r, 1, 2, 3, 3))], ["Y"],
          {"scale": f32(r, 2), "B": f32(r, 2), "mean": f32(r, 2),
           "var": (r.random(2) * 0.01).astype(np.float32)},
          note="default epsilon 1e-5, small variances")
    r = rng_for("batchnorm_2d_input")
    build("batchnorm_2d_input", ["BatchNormalization"],
          [N("BatchNormalization", ["X", "scale", "B", "mean", "var"], ["Y"])],
          [("X", f32(r, 4, 3))], ["Y"],
          {"scale": f32(r, 3), "B": f32(r, 3), "mean": f32(r, 3),
           "var": (r.random(3) + 0.1).astype(np.float32)}, note="N x C input (BatchNorm1d)")

    r = rng_for("dropout")
    build("dropout", ["Dropout"], [N("Dropout", ["X"], ["Y"])], [("X", f32(r, 2, 5))], ["Y"],
          note="opset 13 inference: identity")
    r = rng_for("dropout_ratio_mask")
    build("dropout_ratio_mask", ["Dropout"],
          [N("Dropout", ["X", "ratio", "training_mode"], ["Y", "mask"])],
          [("X", f32(r, 2, 5))], ["Y", ("mask", TensorProto.BOOL)],
          {"ratio": np.array(0.5, np.float32), "training_mode": np.array(False)},
          note="ratio 0.5, training_mode=false initializer; mask output is all true")

    r = rng_for("constant_add")
    cval = f32(r, 3, 4)
    build("constant_add", ["Constant", "Add"],
          [N("Constant", [], ["c"], value=numpy_helper.from_array(cval)), N("Add", ["X", "c"], ["Y"])],
          [("X", f32(r, 3, 4))], ["Y"], note="Constant with a tensor `value` attribute")
    r = rng_for("constant_value_float")
    build("constant_value_float", ["Constant", "Mul"],
          [N("Constant", [], ["c"], value_float=2.5), N("Mul", ["X", "c"], ["Y"])],
          [("X", f32(r, 2, 3))], ["Y"], note="Constant value_float attribute (0-d float)")
    r = rng_for("constant_value_ints_reshape")
    build("constant_value_ints_reshape", ["Constant", "Reshape"],
          [N("Constant", [], ["shape"], value_ints=[3, -1]), N("Reshape", ["X", "shape"], ["Y"])],
          [("X", f32(r, 2, 3, 2))], ["Y"], note="Constant value_ints attribute used as a Reshape shape")
    build("constant_only", ["Constant"],
          [N("Constant", [], ["Y"], value=numpy_helper.from_array(f32(rng_for("constant_only"), 2, 2)))],
          [], ["Y"], note="graph with no inputs; output is the constant")

    # Small composite: conv -> BN -> relu -> global pool -> flatten -> gemm -> softmax
    r = rng_for("mini_cnn")
    build("mini_cnn",
          ["Conv", "BatchNormalization", "Relu", "MaxPool", "GlobalAveragePool", "Flatten", "Gemm", "Softmax"],
          [
              N("Conv", ["X", "W", "Wb"], ["c"], pads=[1, 1, 1, 1]),
              N("BatchNormalization", ["c", "s", "b", "m", "v"], ["bn"]),
              N("Relu", ["bn"], ["r"]),
              N("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
              N("GlobalAveragePool", ["p"], ["g"]),
              N("Flatten", ["g"], ["f"], axis=1),
              N("Gemm", ["f", "fcW", "fcb"], ["logits"], transB=1),
              N("Softmax", ["logits"], ["Y"], axis=1),
          ],
          [("X", f32(r, 2, 3, 8, 8))], ["Y", "logits"],
          {"W": f32(r, 4, 3, 3, 3, scale=0.5), "Wb": f32(r, 4, scale=0.1), "s": f32(r, 4),
           "b": f32(r, 4), "m": f32(r, 4, scale=0.1), "v": (r.random(4) + 0.5).astype(np.float32),
           "fcW": f32(r, 5, 4), "fcb": f32(r, 5)},
          note="small end-to-end chain with two graph outputs")


# ----------------------------------------------------------------------------- ops of exported small models
def model_op_cases():
    """Ops that PyTorch exports for LayerNorm, GELU, mean pooling, attention and shape chains."""
    def unary(op, x, opset=13, **attrs):
        build(f"{op.lower()}", [op], [N(op, ["X"], ["Y"], **attrs)], [("X", x)], ["Y"], opset=opset)

    r = rng_for("unary")
    unary("Erf", f32(r, 2, 5))
    unary("Sqrt", np.abs(f32(r, 2, 5)) + 0.1)
    unary("Exp", f32(r, 2, 5))
    unary("Log", np.abs(f32(r, 2, 5)) + 0.1)
    unary("Neg", f32(r, 2, 5))
    unary("Abs", f32(r, 2, 5))
    unary("Reciprocal", np.abs(f32(r, 2, 5)) + 0.5)
    unary("Floor", f32(r, 2, 5, scale=3))
    unary("Ceil", f32(r, 2, 5, scale=3))
    unary("Softplus", f32(r, 2, 5, scale=4))
    unary("Softsign", f32(r, 2, 5, scale=4))
    unary("Sin", f32(r, 2, 5, scale=3))
    unary("Cos", f32(r, 2, 5, scale=3))
    unary("Elu", f32(r, 2, 5), alpha=0.7)
    build("gelu_opset20", ["Gelu"], [N("Gelu", ["X"], ["Y"])], [("X", f32(r, 3, 4, scale=2))], ["Y"], opset=20)
    build("gelu_tanh_opset20", ["Gelu"], [N("Gelu", ["X"], ["Y"], approximate="tanh")],
          [("X", f32(r, 3, 4, scale=2))], ["Y"], opset=20)
    build("gelu_erf_chain", ["Div", "Erf", "Add", "Mul"],
          [N("Div", ["X", "sqrt2"], ["d"]), N("Erf", ["d"], ["e"]), N("Add", ["e", "one"], ["a"]),
           N("Mul", ["X", "a"], ["m"]), N("Mul", ["m", "half"], ["Y"])],
          [("X", f32(r, 2, 6))], ["Y"],
          {"sqrt2": np.array(np.sqrt(2.0), np.float32), "one": np.array(1.0, np.float32),
           "half": np.array(0.5, np.float32)}, note="GELU as torch exports it below opset 20")

    r = rng_for("pow")
    build("pow_square", ["Pow"], [N("Pow", ["X", "two"], ["Y"])], [("X", f32(r, 2, 3, 4))], ["Y"],
          {"two": np.array(2.0, np.float32)}, note="LayerNorm's variance below opset 17")
    build("pow_broadcast", ["Pow"], [N("Pow", ["X", "E"], ["Y"])],
          [("X", np.abs(f32(r, 2, 3)) + 0.2), ("E", f32(r, 3))], ["Y"])
    build("pow_int_exponent", ["Pow"], [N("Pow", ["X", "E"], ["Y"])], [("X", f32(r, 2, 3))], ["Y"],
          {"E": np.array(3, np.int64)}, note="integer exponent (T1 float, T2 int64)")
    build("max_three", ["Max"], [N("Max", ["A", "B", "C"], ["Y"])],
          [("A", f32(r, 2, 3)), ("B", f32(r, 3)), ("C", f32(r, 2, 1))], ["Y"])
    build("min_two", ["Min"], [N("Min", ["A", "B"], ["Y"])], [("A", f32(r, 2, 3)), ("B", f32(r, 2, 3))], ["Y"])
    build("sum_three", ["Sum"], [N("Sum", ["A", "B", "C"], ["Y"])],
          [("A", f32(r, 2, 3)), ("B", f32(r, 2, 3)), ("C", f32(r, 3))], ["Y"])
    build("mean_two", ["Mean"], [N("Mean", ["A", "B"], ["Y"])], [("A", f32(r, 4)), ("B", f32(r, 2, 4))], ["Y"])

    r = rng_for("reduce")
    X4 = f32(r, 2, 3, 4, 5)
    build("reduce_mean_hw_keep", ["ReduceMean"], [N("ReduceMean", ["X"], ["Y"], axes=[2, 3])], [("X", X4)], ["Y"],
          note="global average pooling as x.mean((2, 3), keepdim=True), opset 13 attribute axes")
    build("reduce_mean_last_nokeep", ["ReduceMean"], [N("ReduceMean", ["X"], ["Y"], axes=[-1], keepdims=0)],
          [("X", f32(r, 2, 6, 8))], ["Y"], note="LayerNorm's mean below opset 17")
    build("reduce_mean_opset18_input", ["ReduceMean"], [N("ReduceMean", ["X", "axes"], ["Y"], keepdims=0)],
          [("X", X4)], ["Y"], {"axes": i64([-1, -2])}, opset=18, note="opset 18: axes as an input")
    build("reduce_sum_axes_input", ["ReduceSum"], [N("ReduceSum", ["X", "axes"], ["Y"])],
          [("X", X4)], ["Y"], {"axes": i64([1])}, note="opset 13 ReduceSum takes axes as input")
    build("reduce_sum_noop", ["ReduceSum"], [N("ReduceSum", ["X"], ["Y"], noop_with_empty_axes=1)],
          [("X", f32(r, 2, 3))], ["Y"], note="no axes + noop_with_empty_axes: identity")
    build("reduce_max_all", ["ReduceMax"], [N("ReduceMax", ["X"], ["Y"], keepdims=0)], [("X", X4)], ["Y"],
          note="no axes: every axis, to a scalar")
    for op in ["ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp"]:
        x = f32(r, 2, 3, 4, scale=0.8)
        build(op.lower(), [op], [N(op, ["X"], ["Y"], axes=[0, 2])], [("X", x)], ["Y"])

    r = rng_for("layernorm")
    build("layernorm_last", ["LayerNormalization"],
          [N("LayerNormalization", ["X", "S", "B"], ["Y"], epsilon=1e-5)],
          [("X", f32(r, 2, 5, 16, scale=3) + 1)], ["Y"], {"S": f32(r, 16), "B": f32(r, 16)}, opset=17)
    build("layernorm_axis1_nobias", ["LayerNormalization"],
          [N("LayerNormalization", ["X", "S"], ["Y"], axis=1, epsilon=1e-3)],
          [("X", f32(r, 3, 4, 5))], ["Y"], {"S": f32(r, 4, 5)}, opset=17)
    build("global_max_pool", ["GlobalMaxPool"], [N("GlobalMaxPool", ["X"], ["Y"])], [("X", X4)], ["Y"])

    r = rng_for("indexing")
    X3 = f32(r, 3, 6, 5)
    build("slice_steps", ["Slice"], [N("Slice", ["X", "st", "en", "ax", "sp"], ["Y"])], [("X", X3)], ["Y"],
          {"st": i64([1, -1]), "en": i64([6, -6]), "ax": i64([1, 2]), "sp": i64([2, -2])},
          note="positive and negative steps, negative starts/ends")
    build("slice_clamped_no_axes", ["Slice"], [N("Slice", ["X", "st", "en"], ["Y"])], [("X", X3)], ["Y"],
          {"st": i64([0, 2]), "en": i64([100, 2 ** 62])}, note="ends beyond the axis (INT64_MAX-style) are clamped")
    build("slice_opset9", ["Slice"], [N("Slice", ["X"], ["Y"], starts=[1], ends=[3], axes=[2])],
          [("X", X3)], ["Y"], opset=9, note="opset < 10: bounds as attributes")
    build("split_sizes", ["Split"], [N("Split", ["X", "sz"], ["A", "B", "C"], axis=1)], [("X", X3)],
          ["A", "B", "C"], {"sz": i64([1, 2, 3])}, note="q/k/v-style split with sizes as input (opset 13)")
    build("split_equal", ["Split"], [N("Split", ["X"], ["A", "B"], axis=-1)], [("X", f32(r, 2, 3, 4))],
          ["A", "B"], note="no sizes: equal parts")
    build("expand", ["Expand"], [N("Expand", ["X", "s"], ["Y"])], [("X", f32(r, 3, 1))], ["Y"],
          {"s": i64([2, 1, 4])})
    build("tile", ["Tile"], [N("Tile", ["X", "rep"], ["Y"])], [("X", f32(r, 2, 3))], ["Y"], {"rep": i64([2, 3])})
    build("where_compare", ["Greater", "Where"],
          [N("Greater", ["A", "B"], ["c"]), N("Where", ["c", "A", "B"], ["Y"])],
          [("A", f32(r, 2, 4)), ("B", f32(r, 4))], ["Y"])
    for op in ["Equal", "Less", "LessOrEqual", "GreaterOrEqual"]:
        build(f"compare_{op.lower()}", [op], [N(op, ["A", "B"], ["Y"])],
              [("A", np.array([[1, 2, 3], [4, 5, 6]], np.int64)), ("B", np.array([3, 2, 7], np.int64))],
              [("Y", TensorProto.BOOL)])
    # Mod: integer remainders with the divisor's sign (fmod=0, Python's %) and the dividend's
    # (fmod=1, C's fmod), broadcast; floats need fmod=1. TorchScript's attention export uses it.
    mod_a = np.array([[7, -7, 7, -7, 0, 9], [5, -5, 13, -13, 3, -1]], np.int64)
    mod_b = np.array([3, 3, -3, -3, 5, 4], np.int64)
    build("mod_int", ["Mod"], [N("Mod", ["A", "B"], ["Y"])], [("A", mod_a), ("B", mod_b)], [("Y", TensorProto.INT64)],
          note="fmod=0: the remainder takes the divisor's sign")
    build("mod_int_fmod", ["Mod"], [N("Mod", ["A", "B"], ["Y"], fmod=1)], [("A", mod_a), ("B", mod_b)],
          [("Y", TensorProto.INT64)], note="fmod=1: the remainder takes the dividend's sign")
    build("mod_float_fmod", ["Mod"], [N("Mod", ["A", "B"], ["Y"], fmod=1)],
          [("A", f32(rng_for("mod_float_fmod"), 2, 3, 4, scale=5)), ("B", np.array([1.5, -2.25, 0.75, 3.0], np.float32))], ["Y"])
    build("not", ["Not"], [N("Not", ["A"], ["Y"])], [("A", np.array([True, False, True]))], [("Y", TensorProto.BOOL)])
    build("cast_chain", ["Cast", "Mul"],
          [N("Cast", ["I"], ["f"], to=TensorProto.FLOAT), N("Mul", ["f", "X"], ["m"]),
           N("Cast", ["m"], ["Y"], to=TensorProto.INT64)],
          [("I", np.array([[1, -2, 3]], np.int64)), ("X", f32(r, 2, 3, scale=4))], [("Y", TensorProto.INT64)],
          note="int64 -> float -> int64 (truncation toward zero)")
    build("cast_to_bool_int32", ["Cast"],
          [N("Cast", ["X"], ["B"], to=TensorProto.BOOL), N("Cast", ["X"], ["I"], to=TensorProto.INT32)],
          [("X", np.array([0.0, 1.5, -2.7, 0.0], np.float32))], [("B", TensorProto.BOOL), ("I", TensorProto.INT32)])
    build("constant_of_shape", ["Shape", "ConstantOfShape", "Add"],
          [N("Shape", ["X"], ["s"]),
           N("ConstantOfShape", ["s"], ["c"], value=numpy_helper.from_array(np.array([0.5], np.float32))),
           N("Add", ["X", "c"], ["Y"])],
          [("X", f32(r, 2, 3))], ["Y"])
    build("range_int", ["Range"], [N("Range", ["a", "b", "d"], ["Y"])], [], [("Y", TensorProto.INT64)],
          {"a": np.array(2, np.int64), "b": np.array(11, np.int64), "d": np.array(3, np.int64)})
    build("range_float", ["Range"], [N("Range", ["a", "b", "d"], ["Y"])], [], ["Y"],
          {"a": np.array(1.0, np.float32), "b": np.array(-1.0, np.float32), "d": np.array(-0.5, np.float32)})

    r = rng_for("more_activations")
    unary("Selu", f32(r, 2, 5, scale=2))
    build("mish_opset18", ["Mish"], [N("Mish", ["X"], ["Y"])], [("X", f32(r, 2, 5, scale=3))], ["Y"], opset=18)
    build("log_softmax", ["LogSoftmax"], [N("LogSoftmax", ["X"], ["Y"], axis=1)], [("X", f32(r, 3, 10, scale=5))], ["Y"],
          note="what F.log_softmax(x, dim=1) exports to")
    build("log_softmax_opset11", ["LogSoftmax"], [N("LogSoftmax", ["X"], ["Y"], axis=1)], [("X", f32(r, 2, 3, 4))], ["Y"],
          opset=11, note="opset < 13: normalised over every axis from `axis` on")
    build("prelu_channel", ["PRelu"], [N("PRelu", ["X", "S"], ["Y"])], [("X", f32(r, 2, 3, 4, 4))], ["Y"],
          {"S": np.abs(f32(r, 3, 1, 1, scale=0.3))}, note="nn.PReLU(3): one slope per channel")
    build("pad_constant", ["Pad"], [N("Pad", ["X", "p", "v"], ["Y"])], [("X", f32(r, 1, 2, 3, 4))], ["Y"],
          {"p": i64([0, 0, 1, 2, 0, 0, 2, 1]), "v": np.array(0.5, np.float32)}, note="nn.ZeroPad2d-style, value 0.5")
    build("pad_reflect", ["Pad"], [N("Pad", ["X", "p"], ["Y"], mode="reflect")], [("X", f32(r, 1, 2, 4, 5))], ["Y"],
          {"p": i64([0, 0, 2, 1, 0, 0, 1, 3])})
    build("pad_edge_crop", ["Pad"], [N("Pad", ["X", "p"], ["Y"], mode="edge")], [("X", f32(r, 2, 3, 5))], ["Y"],
          {"p": i64([0, 0, 2, 0, -1, -1])}, note="negative pads crop")
    build("pad_axes_opset18", ["Pad"], [N("Pad", ["X", "p", "", "a"], ["Y"])], [("X", f32(r, 2, 3, 5))], ["Y"],
          {"p": i64([1, 2]), "a": i64([-1])}, opset=18, note="opset 18 axes input")
    build("pad_opset2_attr", ["Pad"], [N("Pad", ["X"], ["Y"], pads=[0, 1, 0, 2], value=-1.0)], [("X", f32(r, 2, 3))],
          ["Y"], opset=10, note="opset < 11: pads and value as attributes")

    # Attention as torch exports it: Q·Kᵀ of two runtime tensors, scaled, softmax, ·V.
    r = rng_for("attention")
    build("attention_runtime_matmuls", ["MatMul", "Transpose", "Div", "Softmax"],
          [N("MatMul", ["X", "Wq"], ["q"]), N("MatMul", ["X", "Wk"], ["k"]), N("MatMul", ["X", "Wv"], ["v"]),
           N("Transpose", ["k"], ["kt"], perm=[0, 2, 1]), N("MatMul", ["q", "kt"], ["s"]),
           N("Div", ["s", "scale"], ["ss"]), N("Softmax", ["ss"], ["p"], axis=-1), N("MatMul", ["p", "v"], ["Y"])],
          [("X", f32(r, 2, 5, 8))], ["Y"],
          {"Wq": f32(r, 8, 8, scale=0.4), "Wk": f32(r, 8, 8, scale=0.4), "Wv": f32(r, 8, 8, scale=0.4),
           "scale": np.array(np.sqrt(8.0), np.float32)})


# ----------------------------------------------------------------------------- bad models
# ----------------------------------------------------------------------------- exporter ops
def exporter_op_cases():
    """Resize, ConvTranspose, LSTM/GRU/RNN, If and Size as paddle2onnx, tf2onnx and PyTorch emit them."""
    def resize(name, x, opset=13, scales=None, sizes=None, axes=None, **attrs):
        inits = {"roi": np.zeros(0, np.float32)}
        ins = ["X", "roi" if opset >= 11 else "", "scales" if scales is not None else "", "sizes" if sizes is not None else ""]
        if scales is not None:
            inits["scales"] = np.array(scales, np.float32)
        if sizes is not None:
            inits["sizes"] = i64(sizes)
        if opset < 11:
            ins = ["X", "scales"]
            del inits["roi"]
        while ins and ins[-1] == "":
            ins.pop()
        if axes is not None:
            attrs["axes"] = axes
        build(name, ["Resize"], [N("Resize", ins, ["Y"], **attrs)], [("X", x)], ["Y"], inits, opset=opset)

    r = rng_for("resize")
    x = f32(r, 1, 2, 5, 7)
    resize("resize_nearest_asym_floor", x, opset=11, scales=[1, 1, 2, 2], mode="nearest",
           coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    resize("resize_nearest_half_pixel_ceil_frac", x, scales=[1, 1, 1.5, 0.6], mode="nearest",
           coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil")
    resize("resize_nearest_prefer_floor_sizes", x, sizes=[1, 2, 9, 4], mode="nearest",
           coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_floor")
    resize("resize_nearest_align_corners_ceil", x, sizes=[1, 2, 8, 13], mode="nearest",
           coordinate_transformation_mode="align_corners", nearest_mode="ceil")
    resize("resize_linear_half_pixel_sizes", x, sizes=[1, 2, 9, 11], mode="linear",
           coordinate_transformation_mode="half_pixel")
    resize("resize_linear_align_corners", x, opset=11, scales=[1, 1, 2, 2], mode="linear",
           coordinate_transformation_mode="align_corners")
    resize("resize_linear_pytorch_half_pixel_down", x, sizes=[1, 2, 1, 3], mode="linear",
           coordinate_transformation_mode="pytorch_half_pixel")
    resize("resize_linear_asymmetric_frac", x, scales=[1, 1, 0.7, 1.9], mode="linear",
           coordinate_transformation_mode="asymmetric")
    resize("resize_opset10_nearest", x, opset=10, scales=[1, 1, 2, 3], mode="nearest")
    resize("resize_opset10_linear", x, opset=10, scales=[1, 1, 1.6, 0.5], mode="linear")
    resize("resize_trilinear_3d", f32(r, 1, 1, 3, 4, 5), scales=[1, 1, 2, 1.5, 0.8], mode="linear",
           coordinate_transformation_mode="half_pixel")
    resize("resize_opset18_axes", x, opset=18, scales=[2.5, 1.25], axes=[2, 3], mode="linear",
           coordinate_transformation_mode="half_pixel")
    resize("resize_opset19_half_pixel_symmetric", x, opset=19, scales=[1, 1, 1.7, 0.6], mode="linear",
           coordinate_transformation_mode="half_pixel_symmetric")
    build("upsample_opset9_nearest", ["Upsample"], [N("Upsample", ["X", "scales"], ["Y"], mode="nearest")],
          [("X", x)], ["Y"], {"scales": np.array([1, 1, 2, 2], np.float32)}, opset=9)

    def convt(name, x_shape, w_shape, bias=False, opset=13, **attrs):
        r = rng_for(name)
        inits = {"W": f32(r, *w_shape, scale=0.5)}
        ins = ["X", "W"]
        if bias:
            inits["B"] = f32(r, w_shape[1] * attrs.get("group", 1))
            ins.append("B")
        build(name, ["ConvTranspose"], [N("ConvTranspose", ins, ["Y"], **attrs)], [("X", f32(r, *x_shape))], ["Y"],
              inits, opset=opset)

    convt("convtranspose_basic", [1, 3, 5, 6], [3, 2, 3, 3])
    convt("convtranspose_strides2_pads_outpad", [2, 3, 4, 5], [3, 4, 3, 3], bias=True, strides=[2, 2],
          pads=[1, 0, 1, 2], output_padding=[1, 0])
    convt("convtranspose_group2_dilation", [1, 4, 4, 5], [4, 3, 3, 2], bias=True, group=2, dilations=[2, 1],
          strides=[1, 2])
    convt("convtranspose_depthwise_k2s2", [1, 6, 5, 7], [6, 1, 2, 2], bias=True, group=6, strides=[2, 2])
    convt("convtranspose_1d_stride3", [2, 2, 7], [2, 3, 4], bias=True, strides=[3])
    convt("convtranspose_output_shape", [1, 2, 3, 3], [2, 2, 3, 3], strides=[3, 2], output_shape=[10, 8])
    convt("convtranspose_same_upper", [1, 2, 5, 4], [2, 3, 4, 3], auto_pad="SAME_UPPER", strides=[2, 2])
    convt("convtranspose_same_lower", [1, 2, 5, 4], [2, 3, 4, 3], auto_pad="SAME_LOWER", strides=[2, 2])

    def rnn(name, op, seq, batch, inp, hidden, direction="forward", bias=True, seq_lens=None, init_h=False,
            init_c=False, peep=False, opset=14, outputs=("Y", "Y_h"), layout=0, **attrs):
        r = rng_for(name)
        gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
        dirs = 2 if direction == "bidirectional" else 1
        inits = {"W": f32(r, dirs, gates * hidden, inp, scale=0.5), "R": f32(r, dirs, gates * hidden, hidden, scale=0.5)}
        ins = ["X", "W", "R", "", "", "", "", ""]
        if bias:
            inits["B"] = f32(r, dirs, 2 * gates * hidden, scale=0.5)
            ins[3] = "B"
        if seq_lens is not None:
            inits["seq_lens"] = np.array(seq_lens, np.int32)
            ins[4] = "seq_lens"
        state = [dirs, batch, hidden] if layout == 0 else [batch, dirs, hidden]
        feeds = [("X", f32(r, *([seq, batch, inp] if layout == 0 else [batch, seq, inp])))]
        if init_h:
            feeds.append(("h0", f32(r, *state)))
            ins[5] = "h0"
        if init_c:
            feeds.append(("c0", f32(r, *state)))
            ins[6] = "c0"
        if peep:
            inits["P"] = f32(r, dirs, 3 * hidden, scale=0.5)
            ins[7] = "P"
        if op != "LSTM":
            ins = ins[:6]
        while ins[-1] == "":
            ins.pop()
        if layout:
            attrs["layout"] = layout
        build(name, [op], [N(op, ins, list(outputs), hidden_size=hidden, direction=direction, **attrs)], feeds,
              [o for o in outputs if o], inits, opset=opset)

    rnn("lstm_forward_init", "LSTM", 5, 3, 4, 3, init_h=True, init_c=True, outputs=("Y", "Y_h", "Y_c"))
    rnn("lstm_bidirectional_seq_lens", "LSTM", 6, 3, 5, 7, direction="bidirectional", seq_lens=[6, 2, 4],
        init_h=True, init_c=True, outputs=("Y", "Y_h", "Y_c"))
    rnn("lstm_reverse_peepholes", "LSTM", 4, 2, 3, 5, direction="reverse", peep=True, outputs=("Y", "Y_h", "Y_c"))
    rnn("lstm_no_bias_init_h_only", "LSTM", 5, 2, 3, 4, bias=False, init_h=True, outputs=("Y", "Y_h", "Y_c"))
    rnn("lstm_clip_only_last_state", "LSTM", 7, 1, 3, 5, clip=0.7, outputs=("", "Y_h"))
    rnn("gru_forward_init", "GRU", 5, 3, 4, 3, init_h=True)
    rnn("gru_bidirectional_lbr_seq_lens", "GRU", 6, 3, 2, 5, direction="bidirectional", seq_lens=[3, 6, 1],
        linear_before_reset=1)
    rnn("gru_reverse_activations", "GRU", 4, 2, 3, 3, direction="reverse", activations=["HardSigmoid", "Relu"],
        activation_alpha=[0.3], activation_beta=[0.4])
    rnn("rnn_bidirectional_tanh", "RNN", 5, 2, 3, 4, direction="bidirectional", init_h=True)

    # If: branches read enclosing values; the condition at run time or constant.
    def if_graph(cond_input):
        then_g = helper.make_graph(
            [N("Mul", ["X", "two"], ["t"]), N("Reshape", ["t", "shape"], ["then_out"])], "then",
            [], [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, None)])
        else_g = helper.make_graph(
            [N("Add", ["X", "X"], ["e0"]), N("Sub", ["e0", "one"], ["e1"]), N("Reshape", ["e1", "shape"], ["else_out"])],
            "else", [], [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, None)])
        return N("If", [cond_input], ["Y"], then_branch=then_g, else_branch=else_g)

    r = rng_for("if")
    x = f32(r, 3, 5)
    consts = {"two": np.array(2.0, np.float32), "one": np.array(1.0, np.float32), "shape": i64([5, 3])}
    build("if_runtime_true", ["If"], [if_graph("C")], [("X", x), ("C", np.array(True))], ["Y"], consts)
    build("if_runtime_false", ["If"], [if_graph("C")], [("X", x), ("C", np.array(False))], ["Y"], consts)
    build("if_constant_condition", ["If", "Equal"],
          [N("Equal", ["k", "k16"], ["C"]), if_graph("C")], [("X", x)], ["Y"],
          dict(consts, k=i64([16000]), k16=i64([16000])), note="condition folds at load (silero's sr == 16000)")
    build("if_branch_returns_outer", ["If"],
          [N("If", ["C"], ["Y"],
             then_branch=helper.make_graph([N("Neg", ["X"], ["n"])], "then", [],
                                           [helper.make_tensor_value_info("n", TensorProto.FLOAT, None)]),
             else_branch=helper.make_graph([N("Identity", ["X"], ["i"])], "else", [],
                                           [helper.make_tensor_value_info("i", TensorProto.FLOAT, None)]))],
          [("X", x), ("C", np.array(False))], ["Y"], note="the else branch is an Identity of an enclosing value")
    build("size_chain", ["Size", "Cast"], [N("Size", ["X"], ["s"]), N("Cast", ["s"], ["sf"], to=TensorProto.FLOAT),
                                           N("Mul", ["X", "sf"], ["Y"])], [("X", f32(r, 3, 7))], ["Y"])


def more_exporter_op_cases():
    """Ops PyTorch exports for pixel shuffles, GroupNorm/InstanceNorm, argmax heads, causal masks,
    top-k and running sums. Each case has its own generator, so adding one changes no other."""
    r = rng_for("depth_to_space")
    x = f32(r, 2, 8, 3, 5)
    build("depth_to_space_dcr", ["DepthToSpace"], [N("DepthToSpace", ["X"], ["Y"], blocksize=2)], [("X", x)], ["Y"])
    build("depth_to_space_crd", ["DepthToSpace"], [N("DepthToSpace", ["X"], ["Y"], blocksize=2, mode="CRD")], [("X", x)],
          ["Y"], note="PyTorch's PixelShuffle")
    build("space_to_depth", ["SpaceToDepth"], [N("SpaceToDepth", ["X"], ["Y"], blocksize=2)],
          [("X", f32(rng_for("space_to_depth"), 2, 3, 4, 6))], ["Y"])
    r = rng_for("instance_norm")
    build("instance_norm", ["InstanceNormalization"], [N("InstanceNormalization", ["X", "s", "b"], ["Y"], epsilon=1e-3)],
          [("X", f32(r, 2, 4, 5, 6, scale=3) + 1)], ["Y"], {"s": f32(r, 4), "b": f32(r, 4)})
    r = rng_for("group_norm")
    build("group_norm_opset21", ["GroupNormalization"], [N("GroupNormalization", ["X", "s", "b"], ["Y"], num_groups=3)],
          [("X", f32(r, 2, 6, 4, 5, scale=2))], ["Y"], {"s": f32(r, 6), "b": f32(r, 6)}, opset=21,
          note="scale and bias per channel (opset 21)")
    r = rng_for("argmax")
    xa = np.round(f32(r, 3, 4, 5, scale=2))  # rounded: ties, where the index rule matters
    build("argmax_axis1", ["ArgMax"], [N("ArgMax", ["X"], ["Y"], axis=1)], [("X", xa)], [("Y", TensorProto.INT64)])
    build("argmax_last_nokeep", ["ArgMax"], [N("ArgMax", ["X"], ["Y"], axis=-1, keepdims=0, select_last_index=1)],
          [("X", xa)], [("Y", TensorProto.INT64)])
    build("argmin_axis0", ["ArgMin"], [N("ArgMin", ["X"], ["Y"], axis=0)], [("X", xa)], [("Y", TensorProto.INT64)])
    r = rng_for("topk")
    build("topk_largest", ["TopK"], [N("TopK", ["X", "k"], ["V", "I"], axis=-1)], [("X", f32(r, 3, 7))],
          ["V", ("I", TensorProto.INT64)], {"k": i64([3])})
    build("topk_smallest_axis0", ["TopK"], [N("TopK", ["X", "k"], ["V", "I"], axis=0, largest=0)],
          [("X", f32(r, 5, 2, 3))], ["V", ("I", TensorProto.INT64)], {"k": i64([2])})
    r = rng_for("cumsum")
    xc = f32(r, 2, 5, 3)
    build("cumsum", ["CumSum"], [N("CumSum", ["X", "a"], ["Y"])], [("X", xc)], ["Y"], {"a": np.array(1, np.int64)})
    build("cumsum_exclusive_reverse", ["CumSum"], [N("CumSum", ["X", "a"], ["Y"], exclusive=1, reverse=1)],
          [("X", xc)], ["Y"], {"a": np.array(-1, np.int64)})
    build("cumsum_int", ["CumSum"], [N("CumSum", ["X", "a"], ["Y"])],
          [("X", np.arange(12, dtype=np.int64).reshape(3, 4) - 5)], [("Y", TensorProto.INT64)], {"a": np.array(0, np.int64)})
    r = rng_for("averagepool_dilations")
    xp = f32(r, 1, 2, 7, 8)
    build("averagepool_dilations", ["AveragePool"], [N("AveragePool", ["X"], ["Y"], kernel_shape=[2, 3], dilations=[2, 2])],
          [("X", xp)], ["Y"], opset=19, note="dilated windows (opset 19)")
    build("averagepool_dilations_pads_ceil", ["AveragePool"],
          [N("AveragePool", ["X"], ["Y"], kernel_shape=[3, 2], dilations=[2, 3], pads=[1, 1, 1, 1], strides=[2, 1],
             ceil_mode=1, count_include_pad=1)], [("X", xp)], ["Y"], opset=19)
    r = rng_for("resize_keep_aspect")
    xr = f32(r, 1, 1, 4, 6)
    for policy in ["not_larger", "not_smaller"]:
        build(f"resize_sizes_{policy}", ["Resize"],
              [N("Resize", ["X", "", "", "sizes"], ["Y"], mode="nearest", keep_aspect_ratio_policy=policy)],
              [("X", xr)], ["Y"], {"sizes": i64([1, 1, 7, 7])}, opset=18, note="one scale for both axes")
    r = rng_for("trilu")
    xt = f32(r, 2, 4, 6)
    build("trilu_upper", ["Trilu"], [N("Trilu", ["X"], ["Y"])], [("X", xt)], ["Y"], opset=14)
    build("trilu_lower_k", ["Trilu"], [N("Trilu", ["X", "k"], ["Y"], upper=0)], [("X", xt)], ["Y"],
          {"k": np.array(-1, np.int64)}, opset=14)
    build("trilu_upper_k", ["Trilu"], [N("Trilu", ["X", "k"], ["Y"])], [("X", xt)], ["Y"], {"k": np.array(2, np.int64)}, opset=14)


def bad_models():
    os.makedirs(BAD, exist_ok=True)
    src = open(os.path.join(HERE, "conv_bias.onnx"), "rb").read()
    with open(os.path.join(BAD, "truncated.onnx"), "wb") as fh:
        fh.write(src[: len(src) // 2])
    garbage = np.random.default_rng(7).integers(0, 256, 1024, dtype=np.uint8).tobytes()
    with open(os.path.join(BAD, "garbage.onnx"), "wb") as fh:
        fh.write(garbage)
    open(os.path.join(BAD, "empty.onnx"), "wb").close()
    for name in ("truncated.onnx", "garbage.onnx"):
        try:
            onnx.load(os.path.join(BAD, name))
            ok = True
        except Exception:
            ok = False
        if ok:
            # Protobuf can sometimes parse a prefix; ensure at least the checker rejects it.
            try:
                onnx.checker.check_model(onnx.load(os.path.join(BAD, name)))
                raise SystemExit(f"{name} unexpectedly valid")
            except onnx.checker.ValidationError:
                pass

    # Valid model with an operator Shrink does not run: Einsum (a matrix product written as one).
    r = rng_for("unsupported_op")
    x = f32(r, 2, 4)
    g = helper.make_graph(
        [N("Einsum", ["X", "W"], ["Y"], equation="ij,jk->ik")],
        "einsum",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2, 3])],
        initializer=[numpy_helper.from_array(f32(rng_for("unsupported_einsum"), 4, 3), "W")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8,
                          producer_name="shrink-fixtures")
    onnx.checker.check_model(m, full_check=True)
    ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})
    onnx.save(m, os.path.join(BAD, "unsupported_op.onnx"))

    # Two ops the runtime does not run (shape inference knows both), before and after a layer.
    r = rng_for("unsupported_before_layer")
    g = helper.make_graph(
        [N("LpNormalization", ["X"], ["n"], name="norm", axis=1),
         N("Conv", ["n", "conv.weight", "conv.bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
         N("Sign", ["c"], ["Y"], name="sign")],
        "two_unsupported",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4, 7, 9])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 5, 7, 9])],
        initializer=[
            numpy_helper.from_array(f32(r, 5, 4, 3, 3), "conv.weight"),
            numpy_helper.from_array(f32(r, 5), "conv.bias"),
        ],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8,
                          producer_name="shrink-fixtures")
    onnx.checker.check_model(m, full_check=True)
    ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"X": f32(r, 2, 4, 7, 9)})
    onnx.save(m, os.path.join(BAD, "unsupported_before_layer.onnx"))
    long_window_input()


def long_window_input():
    """A symbolic-length signal under a 400-sample strided window: the `--input-shape` hint must
    suggest a length the window fits (32, the usual guess, does not)."""
    r = rng_for("long_window")
    g = helper.make_graph(
        [N("Unsqueeze", ["audio", "axes"], ["u"], name="channel"),
         N("Conv", ["u", "frames.weight"], ["Y"], name="frames", strides=[160])],
        "long_window",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", "samples"])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["batch", 8, "frames"])],
        initializer=[numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
                     numpy_helper.from_array(f32(r, 8, 1, 400), "frames.weight")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8,
                          producer_name="shrink-fixtures")
    onnx.checker.check_model(m, full_check=True)
    ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"audio": f32(r, 1, 1600)})
    onnx.save(m, os.path.join(BAD, "long_window_input.onnx"))


def main():
    conv_cases()
    gemm_cases()
    elementwise_cases()
    pool_cases()
    shape_cases()
    misc_cases()
    model_op_cases()
    exporter_op_cases()
    more_exporter_op_cases()
    names = [c["case"] for c in MANIFEST]
    assert len(names) == len(set(names)), "duplicate case names"
    lines = ["  " + json.dumps(c, sort_keys=True) for c in MANIFEST]
    with open(os.path.join(HERE, "manifest.json"), "w") as fh:
        fh.write('{"naming": "npz keys: graph inputs under their input name; outputs under '
                 "'out:<output name>'\",\n \"cases\": [\n" + ",\n".join(lines) + "\n]}\n")
    bad_models()
    print(f"{len(MANIFEST)} op cases written")


if __name__ == "__main__":
    main()

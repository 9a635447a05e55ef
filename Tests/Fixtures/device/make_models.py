"""Writes the small synthetic models that exercise every device kernel and layout path.

    python Tests/Fixtures/device/make_models.py

ops2d.onnx  input [N, 3, 16, 16]: strided Conv with asymmetric pads + BatchNorm + Clip(0, 6),
            grouped dilated Conv + Relu, depthwise Conv with channel multiplier 2, 1x1 Conv and a
            3x1 -> 1x3 pair, residual Add + Relu, a BatchNorm on its own, AveragePool with
            count_include_pad, MaxPool with ceil_mode, a Relu on its own, Flatten read by a
            MatMul (+ bias Add) and by a Clip (so it is reordered), Add, Gemm with alpha.
ops1d.onnx  input [N, 4, 32]: Conv1d + Relu, MaxPool1d, depthwise Conv1d, GlobalAveragePool,
            Flatten, Gemm.
data.npz    calib2d/test2d [N, 3, 16, 16] and calib1d/test1d [N, 4, 32] float32 inputs.

Deterministic (numpy default_rng(7)); onnx 1.23, numpy 2.x.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)
here = os.path.dirname(os.path.abspath(__file__))


def w(name, *shape, scale=None):
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    s = scale if scale is not None else 1.0 / np.sqrt(fan_in)
    return numpy_helper.from_array((rng.standard_normal(shape) * s).astype(np.float32), name)


def c(name, values):
    return numpy_helper.from_array(np.asarray(values), name)


def ops2d():
    inits, nodes = [], []
    # 1. Conv 3->8, k3, stride 2, pads top 1 / left 0 / bottom 0 / right 1, bias; BatchNorm; Clip(0, 6)
    inits += [w("conv1.weight", 8, 3, 3, 3), w("conv1.bias", 8, scale=0.1)]
    nodes.append(helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["c1"], name="conv1",
                                  kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 0, 1]))
    inits += [c("bn1.scale", rng.uniform(0.5, 1.5, 8).astype(np.float32)), c("bn1.bias", rng.normal(0, 0.1, 8).astype(np.float32)),
              c("bn1.mean", rng.normal(0, 0.1, 8).astype(np.float32)), c("bn1.var", rng.uniform(0.5, 1.5, 8).astype(np.float32))]
    nodes.append(helper.make_node("BatchNormalization", ["c1", "bn1.scale", "bn1.bias", "bn1.mean", "bn1.var"], ["b1"],
                                  name="bn1", epsilon=1e-5))
    inits += [c("clip.min", np.float32(0)), c("clip.max", np.float32(6))]
    nodes.append(helper.make_node("Clip", ["b1", "clip.min", "clip.max"], ["r1"], name="relu6"))          # 8x8x8
    # 2. grouped (2) dilated Conv, k3 dilation 2 pad 2, + Relu
    inits += [w("conv2.weight", 8, 4, 3, 3), w("conv2.bias", 8, scale=0.1)]
    nodes.append(helper.make_node("Conv", ["r1", "conv2.weight", "conv2.bias"], ["c2"], name="conv2",
                                  kernel_shape=[3, 3], pads=[2, 2, 2, 2], dilations=[2, 2], group=2))
    nodes.append(helper.make_node("Relu", ["c2"], ["r2"], name="relu2"))                               # 8x8x8
    # 3. depthwise, channel multiplier 2, no bias, + Relu
    inits += [w("dw.weight", 16, 1, 3, 3)]
    nodes.append(helper.make_node("Conv", ["r2", "dw.weight"], ["c3"], name="dw", kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=8))
    nodes.append(helper.make_node("Relu", ["c3"], ["r3"], name="relu3"))                               # 16x8x8
    # 4. pointwise 16->8, no bias (branch A); 3x1 then 1x3 (branch B)
    inits += [w("pw.weight", 8, 16, 1, 1)]
    nodes.append(helper.make_node("Conv", ["r3", "pw.weight"], ["a"], name="pw", kernel_shape=[1, 1]))
    inits += [w("k31.weight", 8, 16, 3, 1), w("k13.weight", 8, 8, 1, 3), w("k13.bias", 8, scale=0.1)]
    nodes.append(helper.make_node("Conv", ["r3", "k31.weight"], ["b0"], name="k31", kernel_shape=[3, 1], pads=[1, 0, 1, 0]))
    nodes.append(helper.make_node("Conv", ["b0", "k13.weight", "k13.bias"], ["b"], name="k13", kernel_shape=[1, 3], pads=[0, 1, 0, 1]))
    # 5. residual Add + Relu, then a BatchNorm that cannot be folded
    nodes.append(helper.make_node("Add", ["a", "b"], ["s"], name="residual"))
    nodes.append(helper.make_node("Relu", ["s"], ["rs"], name="relu_s"))
    inits += [c("bn2.scale", rng.uniform(0.5, 1.5, 8).astype(np.float32)), c("bn2.bias", rng.normal(0, 0.1, 8).astype(np.float32)),
              c("bn2.mean", rng.normal(0, 0.1, 8).astype(np.float32)), c("bn2.var", rng.uniform(0.5, 1.5, 8).astype(np.float32))]
    nodes.append(helper.make_node("BatchNormalization", ["rs", "bn2.scale", "bn2.bias", "bn2.mean", "bn2.var"], ["bn"], name="bn2"))
    # 6. AveragePool k3 s2 pad 1 count_include_pad -> 8x4x4; MaxPool k3 s2 ceil_mode -> 8x2x2; Relu on its own
    nodes.append(helper.make_node("AveragePool", ["bn"], ["ap"], name="avgpool", kernel_shape=[3, 3], strides=[2, 2],
                                  pads=[1, 1, 1, 1], count_include_pad=1))
    nodes.append(helper.make_node("MaxPool", ["ap"], ["mp"], name="maxpool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1))
    nodes.append(helper.make_node("Relu", ["mp"], ["rm"], name="relu_m"))
    # 7. Flatten (32) read by a MatMul (+ bias Add, Relu) and by a Clip; Add; Gemm (transB 0, alpha 0.5)
    nodes.append(helper.make_node("Flatten", ["rm"], ["f"], name="flatten", axis=1))
    inits += [w("mm1.weight", 32, 16, scale=0.2), c("mm1.bias", rng.normal(0, 0.1, 16).astype(np.float32))]
    nodes.append(helper.make_node("MatMul", ["f", "mm1.weight"], ["m1"], name="mm1"))
    nodes.append(helper.make_node("Add", ["m1", "mm1.bias"], ["m1b"], name="mm1_bias"))
    nodes.append(helper.make_node("Relu", ["m1b"], ["m1r"], name="relu_mm1"))
    inits += [c("clip2.min", np.float32(-1)), c("clip2.max", np.float32(1))]
    nodes.append(helper.make_node("Clip", ["f", "clip2.min", "clip2.max"], ["fc"], name="clip_f"))
    inits += [w("mm2.weight", 32, 16, scale=0.2)]
    nodes.append(helper.make_node("MatMul", ["fc", "mm2.weight"], ["m2"], name="mm2"))
    nodes.append(helper.make_node("Add", ["m1r", "m2"], ["m"], name="join"))
    inits += [w("head.weight", 16, 10, scale=0.3), w("head.bias", 10, scale=0.1)]
    nodes.append(helper.make_node("Gemm", ["m", "head.weight", "head.bias"], ["logits"], name="head", alpha=0.5, transB=0))
    graph = helper.make_graph(nodes, "ops2d",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 16, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def ops1d():
    inits, nodes = [], []
    inits += [w("conv1.weight", 8, 4, 5), w("conv1.bias", 8, scale=0.1)]
    nodes.append(helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["c1"], name="conv1", kernel_shape=[5], pads=[2, 2]))
    nodes.append(helper.make_node("Relu", ["c1"], ["r1"], name="relu1"))
    nodes.append(helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2], strides=[2]))     # 8x16
    inits += [w("dw.weight", 8, 1, 3), w("dw.bias", 8, scale=0.1)]
    nodes.append(helper.make_node("Conv", ["p1", "dw.weight", "dw.bias"], ["c2"], name="dw", kernel_shape=[3], pads=[1, 1], group=8))
    nodes.append(helper.make_node("Relu", ["c2"], ["r2"], name="relu2"))
    nodes.append(helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"))                            # 8x1
    nodes.append(helper.make_node("Flatten", ["g"], ["f"], name="flatten", axis=1))
    inits += [w("fc.weight", 5, 8), w("fc.bias", 5, scale=0.1)]
    nodes.append(helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(nodes, "ops1d",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4, 32])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


if __name__ == "__main__":
    for name, model in [("ops2d", ops2d()), ("ops1d", ops1d())]:
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, os.path.join(here, f"{name}.onnx"))
    np.savez(os.path.join(here, "data.npz"),
             calib2d=rng.standard_normal((32, 3, 16, 16)).astype(np.float32),
             test2d=rng.standard_normal((32, 3, 16, 16)).astype(np.float32),
             calib1d=rng.standard_normal((32, 4, 32)).astype(np.float32),
             test1d=rng.standard_normal((32, 4, 32)).astype(np.float32))
    # Sanity: onnxruntime runs both.
    import onnxruntime as ort
    d = np.load(os.path.join(here, "data.npz"))
    for name, key in [("ops2d", "test2d"), ("ops1d", "test1d")]:
        s = ort.InferenceSession(os.path.join(here, f"{name}.onnx"), providers=["CPUExecutionProvider"])
        print(name, s.run(None, {"input": d[key]})[0].shape)

#!/usr/bin/env python3
"""A small MNIST-shaped model whose last op (Einsum) Shrink's engine cannot run.

    python3 Tests/Fixtures/e2e/make_einsum_head.py   # writes einsum-head.onnx beside this file

Conv 1→4 3×3 → Relu → MaxPool 2 → Flatten → Gemm 676→32 (`fc1`) → Relu → Gemm 32→10 (`fc2`)
→ Einsum("bi->bi"). Random weights (seeded): the tests only need `shrink run` to decompose and
search it with an external evaluator, and to refuse it clearly with the built-in metrics.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)


def init(name, shape):
    return numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), name)


nodes = [
    helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["c1"], kernel_shape=[3, 3]),
    helper.make_node("Relu", ["c1"], ["r1"]),
    helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Flatten", ["p1"], ["f"], axis=1),
    helper.make_node("Gemm", ["f", "fc1.weight", "fc1.bias"], ["h"], transB=1),
    helper.make_node("Relu", ["h"], ["r2"]),
    helper.make_node("Gemm", ["r2", "fc2.weight", "fc2.bias"], ["z"], transB=1),
    helper.make_node("Einsum", ["z"], ["logits"], equation="bi->bi"),
]
graph = helper.make_graph(
    nodes, "einsum_head",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 28, 28])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
    [init("conv1.weight", (4, 1, 3, 3)), init("conv1.bias", (4,)), init("fc1.weight", (32, 676)),
     init("fc1.bias", (32,)), init("fc2.weight", (10, 32)), init("fc2.bias", (10,))])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="shrink-fixtures")
model.ir_version = 8
onnx.checker.check_model(model, full_check=True)
onnx.save(model, os.path.join(os.path.dirname(os.path.abspath(__file__)), "einsum-head.onnx"))

"""Fixtures for ONNX external data (tensors kept in a file beside the model).

Run from the repository root: python3 Tests/Fixtures/external-data/make_external.py
Needs onnx 1.23, onnxruntime 1.32, numpy 2.4 and torch 2.13 (the local CPU wheel).

- dscnn/model.onnx + model.onnx.data: Examples/dscnn-mnist/model.onnx re-saved with every
  initializer and Constant value external (onnx.save_model, size_threshold=0,
  convert_attribute=True); dscnn/ort.npz: onnxruntime's outputs on 8 of the example's digits.
- torch/kws.onnx + kws.onnx.data: a small 1-D conv net exported by PyTorch's default exporter
  (torch.onnx.export(..., dynamo=True)), which writes external data; torch/ort.npz: its input
  and onnxruntime's output.
- hostile/*.onnx: a one-Gemm model whose weight points outside its folder (`../secret.bin`),
  at an absolute path, at a missing file, past the end of its data file, with a negative offset.
"""
import os, shutil
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper
import onnxruntime as ort

here = os.path.dirname(os.path.abspath(__file__))


def dscnn():
    out = os.path.join(here, "dscnn")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    model = onnx.load("Examples/dscnn-mnist/model.onnx")
    onnx.save_model(model, os.path.join(out, "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=0, convert_attribute=True)
    x = np.load("Examples/lenet-mnist/calib.npz")["x"][:8].astype(np.float32)
    s = ort.InferenceSession(os.path.join(out, "model.onnx"), providers=["CPUExecutionProvider"])
    y = s.run(None, {s.get_inputs()[0].name: x})[0]
    np.savez(os.path.join(out, "ort.npz"), x=x, y=y)


def torch_export():
    import torch, torch.nn as nn
    torch.manual_seed(0)
    out = os.path.join(here, "torch")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)

    class KWS(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Sequential(nn.Conv1d(1, 16, 9, 4), nn.BatchNorm1d(16), nn.ReLU6(), nn.Conv1d(16, 32, 5, 2, groups=2),
                                   nn.LeakyReLU(0.1), nn.AvgPool1d(2), nn.Conv1d(32, 32, 3, dilation=2), nn.ELU())
            self.f = nn.Linear(32, 6)

        def forward(self, x):
            return self.f(self.c(x).amax(-1))

    m = KWS().eval()
    x = torch.randn(2, 1, 400)
    torch.onnx.export(m, (x,), os.path.join(out, "kws.onnx"), dynamo=True, optimize=True, external_data=True)
    assert os.path.exists(os.path.join(out, "kws.onnx.data")), "the exporter wrote no external data"
    s = ort.InferenceSession(os.path.join(out, "kws.onnx"), providers=["CPUExecutionProvider"])
    y = s.run(None, {s.get_inputs()[0].name: x.numpy()})[0]
    np.savez(os.path.join(out, "ort.npz"), x=x.numpy(), y=y)


def hostile():
    out = os.path.join(here, "hostile")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    with open(os.path.join(out, "weights.bin"), "wb") as f:
        f.write(w.tobytes())

    def model(name, entries):
        t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 3])
        t.data_location = TensorProto.EXTERNAL
        for k, v in entries.items():
            e = t.external_data.add()
            e.key, e.value = k, v
        g = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["y"], name="fc")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], initializer=[t])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        with open(os.path.join(out, name + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())

    model("ok", {"location": "weights.bin", "offset": "0", "length": "48"})
    model("escape", {"location": "../secret.bin"})
    model("absolute", {"location": "/etc/passwd"})
    model("missing", {"location": "nowhere.bin"})
    model("past_end", {"location": "weights.bin", "offset": "16", "length": "48"})
    model("bad_offset", {"location": "weights.bin", "offset": "-4"})


if __name__ == "__main__":
    dscnn()
    torch_export()
    hostile()

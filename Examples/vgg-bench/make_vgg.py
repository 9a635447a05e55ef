"""Build the random-weight VGG-style benchmark model for Shrink.

Run from the repository root (needs numpy, torch, onnx, onnxruntime):

    python Examples/vgg-bench/make_vgg.py

Architecture (input N x 3 x 32 x 32, dynamic batch):
  conv1 3->64 3x3 pad 1, ReLU, MaxPool 2      -> 64 x 16 x 16
  conv2 64->128 3x3 pad 1, ReLU, MaxPool 2    -> 128 x 8 x 8
  conv3 128->256 3x3 pad 1, ReLU, MaxPool 2   -> 256 x 4 x 4
  flatten (4096), fc Linear(4096, 10)
Weights are random, torch.manual_seed(3): conv weights Kaiming-normal (fan_out, ReLU),
conv biases N(0, 0.01^2), fc weight N(0, 0.01^2), fc bias 0 -- i.e. torchvision VGG init,
so activations keep a sensible scale through the net. Not trained.

Produces in Examples/vgg-bench/:
  model.onnx     legacy exporter (dynamo=False), opset 13, input `input`, output `logits`,
                 initializers conv1.weight, conv1.bias, ..., fc.weight, fc.bias.
  reference.npz  x: float32 8x3x32x32 N(0,1) inputs (numpy seed 3),
                 y: float32 8x10 onnxruntime outputs of model.onnx on x.
"""

import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class VGGBench(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1)
        self.conv2 = nn.Conv2d(64, 128, 3, padding=1)
        self.conv3 = nn.Conv2d(128, 256, 3, padding=1)
        self.fc = nn.Linear(4096, 10)
        for c in (self.conv1, self.conv2, self.conv3):
            nn.init.kaiming_normal_(c.weight, mode="fan_out", nonlinearity="relu")
            nn.init.normal_(c.bias, 0, 0.01)
        nn.init.normal_(self.fc.weight, 0, 0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        return self.fc(torch.flatten(x, 1))


def main():
    torch.set_num_threads(1)
    torch.manual_seed(3)
    model = VGGBench().eval()
    x = np.random.default_rng(3).standard_normal((8, 3, 32, 32)).astype(np.float32)

    path = os.path.join(HERE, "model.onnx")
    torch.onnx.export(
        model,
        (torch.from_numpy(x[:1]),),
        path,
        dynamo=False,
        opset_version=13,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    onnx.checker.check_model(onnx.load(path))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"input": x})[0]
    with torch.no_grad():
        yt = model(torch.from_numpy(x)).numpy()
    print("output std", y.std(), " max |ORT - torch|", np.abs(y - yt).max())
    np.savez(os.path.join(HERE, "reference.npz"), x=x, y=y.astype(np.float32))


if __name__ == "__main__":
    main()

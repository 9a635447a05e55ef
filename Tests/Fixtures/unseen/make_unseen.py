"""Small models Shrink's authors never tuned for: trained briefly on synthetic data, exported the
ways PyTorch users export them, with held-out data and onnxruntime's accuracy of each original.

Run from the repository root (torch 2.13 CPU, onnx 1.23, onnxruntime 1.32, scikit-learn 1.9):

    python3 Tests/Fixtures/unseen/make_unseen.py

Writes, for each model NAME in {mlp, tx, mobile}, Tests/Fixtures/unseen/NAME/model.onnx and
NAME/val.npz (`x`, `y`), and Tests/Fixtures/unseen/original.json with onnxruntime's top-1 of every
original on its val.npz. The pipelines (NAME/pipeline.yaml) are written by hand.

- mlp: tabular MLP 64→256→128→10 with LayerNorm, GELU, Dropout; TorchScript exporter, opset 13
  (LayerNorm becomes ReduceMean/Sub/Pow/Sqrt/Div, GELU becomes Div/Erf/Add/Mul); int32 labels.
- tx: a one-block transformer on [N, 16, 12] sequences (attention with MatMul of two runtime
  tensors, Softmax, Reshape/Transpose, LayerNormalization, GELU); dynamo exporter, opset 18
  (weights named `val_N`); two outputs (logits and the hidden states).
- mobile: a MobileNet-like CNN taking NHWC images (Transpose inside), depthwise and grouped
  convolutions, 3×1/1×3 kernels, dilation, ReLU6 (Clip), HardSwish (HardSigmoid·x at opset 13),
  a squeeze-excite gate (Sigmoid·x), Concat; TorchScript exporter, opset 13, batch fixed at 1;
  uint8 NHWC data that needs `scale: 1/255`.
"""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import make_classification

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
torch.set_num_threads(1)


def train(model, x, y, epochs, lr=3e-3, bs=64):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(1)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), bs):
            idx = perm[i:i + bs]
            out = model(x[idx])
            out = out[0] if isinstance(out, tuple) else out
            loss = F.cross_entropy(out, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def save(name, path_tmp):
    m = onnx.load(path_tmp)
    onnx.checker.check_model(m, full_check=True)
    os.makedirs(os.path.join(HERE, name), exist_ok=True)
    onnx.save(m, os.path.join(HERE, name, "model.onnx"), save_as_external_data=False)
    os.remove(path_tmp)
    if os.path.exists(path_tmp + ".data"):
        os.remove(path_tmp + ".data")


def ort_top1(name, x, y, scale=None):
    s = ort.InferenceSession(os.path.join(HERE, name, "model.onnx"), providers=["CPUExecutionProvider"])
    inp = s.get_inputs()[0]
    xf = x.astype(np.float32) * np.float32(scale) if scale else x
    if isinstance(inp.shape[0], int):  # fixed batch: one piece at a time
        b = inp.shape[0]
        out = np.concatenate([s.run(None, {inp.name: xf[i:i + b]})[0] for i in range(0, len(xf), b)])
    else:
        out = s.run(None, {inp.name: xf})[0]
    return float((out.argmax(1) == y.astype(np.int64)).mean())


results = {}

# ---------------------------------------------------------------- mlp
X, Y = make_classification(n_samples=2600, n_features=64, n_informative=40, n_redundant=10, n_classes=10,
                           n_clusters_per_class=2, class_sep=1.5, random_state=0)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.ln1 = nn.Linear(64, 256), nn.LayerNorm(256)
        self.fc2, self.fc3 = nn.Linear(256, 128), nn.Linear(128, 10)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        x = self.drop(F.gelu(self.ln1(self.fc1(x))))
        return self.fc3(self.drop(F.relu(self.fc2(x))))


mlp = train(MLP(), torch.tensor(X[:2000]), torch.tensor(Y[:2000]), epochs=40)
torch.onnx.export(mlp, (torch.tensor(X[:2]),), "/tmp/shrink-unseen-mlp.onnx", dynamo=False, opset_version=13,
                  input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
save("mlp", "/tmp/shrink-unseen-mlp.onnx")
xm, ym = X[2000:], Y[2000:].astype(np.int32)
np.savez(os.path.join(HERE, "mlp", "val.npz"), x=xm, y=ym)
results["mlp"] = {"top1": ort_top1("mlp", xm, ym), "samples": len(xm)}


# ---------------------------------------------------------------- tx
def seqs(n, seed, T=16, D=12):
    r = np.random.default_rng(seed)
    y = r.integers(0, 4, n)
    x = r.normal(0, 1, (n, T, D)).astype(np.float32)
    for i in range(n):
        p = r.integers(0, T - 3)
        motif = np.zeros((3, D))
        motif[np.arange(3), (np.arange(3) * (y[i] + 1)) % D] = 2.5
        x[i, p:p + 3] += motif
    return x.astype(np.float32), y


class TinyTx(nn.Module):
    def __init__(self, D=12, E=32, H=4):
        super().__init__()
        self.inp, self.ln1 = nn.Linear(D, E), nn.LayerNorm(E)
        self.q, self.k, self.v, self.o = nn.Linear(E, E), nn.Linear(E, E), nn.Linear(E, E), nn.Linear(E, E)
        self.ln2, self.ff1, self.ff2 = nn.LayerNorm(E), nn.Linear(E, 64), nn.Linear(64, E)
        self.cls, self.H = nn.Linear(E, 4), H

    def forward(self, x):
        h = self.inp(x)
        N, T, E = h.shape
        H = self.H
        a = self.ln1(h)
        q = self.q(a).reshape(N, T, H, E // H).transpose(1, 2)
        k = self.k(a).reshape(N, T, H, E // H).transpose(1, 2)
        v = self.v(a).reshape(N, T, H, E // H).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / (E // H) ** 0.5, dim=-1)
        h = h + self.o((att @ v).transpose(1, 2).reshape(N, T, E))
        h = h + self.ff2(F.gelu(self.ff1(self.ln2(h))))
        return self.cls(h.mean(1)), h


XS, YS = seqs(2600, 2)
tx = train(TinyTx(), torch.tensor(XS[:2200]), torch.tensor(YS[:2200]), epochs=25)
torch.onnx.export(tx, (torch.tensor(XS[:2]),), "/tmp/shrink-unseen-tx.onnx", dynamo=True, opset_version=18,
                  input_names=["x"], output_names=["logits", "hidden"],
                  dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},))
save("tx", "/tmp/shrink-unseen-tx.onnx")
xt, yt = XS[2200:], YS[2200:]
np.savez(os.path.join(HERE, "tx", "val.npz"), x=xt, y=yt)
results["tx"] = {"top1": ort_top1("tx", xt, yt), "samples": len(xt)}


# ---------------------------------------------------------------- mobile
def images(n, seed):
    r = np.random.default_rng(seed)
    y = r.integers(0, 10, n)
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    x = np.zeros((n, 3, 32, 32), np.float32)
    for i in range(n):
        c = y[i]
        ang, f = c * np.pi / 10, 3 + (c % 3)
        pat = np.sin(2 * np.pi * f * (np.cos(ang) * xx + np.sin(ang) * yy) + r.uniform(0, 6.28))
        col = np.array([np.cos(c), np.sin(c), 0.5 * np.cos(2 * c)])[:, None, None]
        x[i] = pat[None] * (0.6 + 0.4 * col) * r.uniform(0.2, 1.0) + r.normal(0, 1.6, (3, 32, 32))
    u8 = np.clip(x * 40 + 128, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)  # NHWC uint8
    return u8, y


class Mobile(nn.Module):
    def __init__(self):
        super().__init__()
        self.c0, self.b0 = nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16)
        self.dw, self.pw = nn.Conv2d(16, 16, 3, 1, 1, groups=16), nn.Conv2d(16, 32, 1)
        self.g = nn.Conv2d(32, 32, 3, 1, 1, groups=4)
        self.v, self.h = nn.Conv2d(32, 16, (3, 1), 1, (1, 0)), nn.Conv2d(32, 16, (1, 3), 1, (0, 1))
        self.d = nn.Conv2d(32, 32, 3, 1, 2, dilation=2)
        self.se1, self.se2 = nn.Conv2d(64, 16, 1), nn.Conv2d(16, 64, 1)
        self.head, self.fc = nn.Conv2d(64, 64, 3, 2, 1), nn.Linear(64, 10)

    def forward(self, x):
        x = x.permute(0, 3, 1, 2)
        x = F.relu6(self.b0(self.c0(x)))
        x = F.hardswish(self.pw(self.dw(x)))
        x = F.relu(self.g(x))
        x = torch.cat([torch.cat([self.v(x), self.h(x)], 1), F.relu(self.d(x))], 1)
        x = x * torch.sigmoid(self.se2(F.relu(self.se1(F.adaptive_avg_pool2d(x, 1)))))
        x = F.relu(self.head(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


XI, YI = images(2400, 1)
mob = train(Mobile(), torch.tensor(XI[:2200].astype(np.float32) / 255), torch.tensor(YI[:2200]), epochs=6)
torch.onnx.export(mob, (torch.tensor(XI[:1].astype(np.float32) / 255),), "/tmp/shrink-unseen-mobile.onnx",
                  dynamo=False, opset_version=13, input_names=["image"], output_names=["logits"])
save("mobile", "/tmp/shrink-unseen-mobile.onnx")
xi, yi = XI[2200:], YI[2200:].astype(np.uint8)
np.savez(os.path.join(HERE, "mobile", "val.npz"), x=xi, y=yi)
results["mobile"] = {"top1": ort_top1("mobile", xi, yi, scale=1 / 255), "samples": len(xi), "scale": 1 / 255}

results["versions"] = {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__}
with open(os.path.join(HERE, "original.json"), "w") as fh:
    json.dump(results, fh, indent=2, sort_keys=True)
    fh.write("\n")
print(json.dumps(results, indent=2, sort_keys=True))

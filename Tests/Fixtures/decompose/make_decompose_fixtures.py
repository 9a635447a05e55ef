"""Oracle values for ShrinkCompress's factorisation tests (numpy + onnxruntime).

Run from the repository root:

    python3 Tests/Fixtures/decompose/make_decompose_fixtures.py

Writes Tests/Fixtures/decompose/oracles.json:

  spatial_svd   relative weight errors ||K - K_r|| / ||K|| of the rank-r truncated SVD of the
                (S*kh) x (T*kw) unfolding M[(s,i),(t,j)] = K[t,s,i,j], for the linalg fixture
                conv_50x20x5x5.npy and LeNet's conv2, at several ranks.
  lenet_svd     for LeNet fc1 and fc2: weight-only truncated SVD errors (weight and output),
                and data-aware (whitened) SVD output errors, at several ranks. Calibration
                inputs: all 256 samples of Examples/lenet-mnist/calib.npz run through
                onnxruntime to get each layer's input rows X (n x N). The whitened SVD is
                C = X^T X + lam * mean(diag(C)) * I (lam = 1e-3), C = L L^T, W_hat =
                trunc_r(W L) L^{-1}; output error = ||(W - W_hat) X^T|| / ||W X^T||.

  tensorly      rank, sweeps and relative error of the tensorly CP-ALS / partial Tucker
                references in Tests/Fixtures/linalg (copied here because those .npz files hold
                Fortran-ordered factor arrays that Shrink's .npz reader refuses), and in
                tensorly_cp_inits.npz their starting factors (`<file stem>_init_<k>`, C order),
                so Shrink's CP-ALS can start where tensorly did.

All arithmetic in float64.
"""

import json
import os

import numpy as np
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
LENET = os.path.join(ROOT, "Examples", "lenet-mnist")
LAM = 1e-3


def rel(a, b):
    return float(np.linalg.norm((a - b).ravel()) / np.linalg.norm(a.ravel()))


def spatial_unfold(K):
    T, S, kh, kw = K.shape
    return K.transpose(1, 2, 0, 3).reshape(S * kh, T * kw)


def spatial_errors(K, ranks):
    M = spatial_unfold(K.astype(np.float64))
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    out = {}
    for r in ranks:
        Mr = (U[:, :r] * s[:r]) @ Vt[:r]
        out[str(r)] = rel(M, Mr)
    return out


def intermediate(model_path, names, x):
    m = onnx.load(model_path)
    for n in names:
        m.graph.output.append(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    res = sess.run(names, {"input": x})
    return dict(zip(names, res))


def svd_oracles(W, X, ranks):
    W = W.astype(np.float64)
    X = X.astype(np.float64)
    Y = W @ X.T
    C = X.T @ X
    Creg = C + LAM * np.mean(np.diag(C)) * np.eye(C.shape[0])
    L = np.linalg.cholesky(Creg)
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    Uw, sw, Vtw = np.linalg.svd(W @ L, full_matrices=False)
    out = {}
    for r in ranks:
        Wr = (U[:, :r] * s[:r]) @ Vt[:r]
        Bw = (Uw[:, :r] * sw[:r]) @ Vtw[:r]
        Ww = np.linalg.solve(L.T, Bw.T).T  # Bw L^{-1}
        out[str(r)] = {
            "weight_only_weight_error": rel(W, Wr),
            "weight_only_output_error": rel(Y, Wr @ X.T),
            "whitened_output_error": rel(Y, Ww @ X.T),
            "whitened_weight_error": rel(W, Ww),
        }
    return out


def tensorly_references():
    lin = os.path.join(ROOT, "Tests", "Fixtures", "linalg")
    out = {}
    inits = {}
    for f in sorted(os.listdir(lin)):
        if f.startswith("cp_50x20") or f.startswith("tucker2_"):
            d = np.load(os.path.join(lin, f))
            ranks = d["rank"] if "rank" in d else d["ranks"]
            out[f] = {
                "ranks": [int(r) for r in np.atleast_1d(ranks)],
                "n_iter": int(d["n_iter"]),
                "rel_error": float(d["rel_error"]),
            }
            for k in range(4):
                if f"init_{k}" in d:
                    inits[f"{f[:-4]}_init_{k}"] = np.ascontiguousarray(d[f"init_{k}"], dtype=np.float32)
    np.savez(os.path.join(HERE, "tensorly_cp_inits.npz"), **inits)
    return out


def main():
    K = np.load(os.path.join(ROOT, "Tests", "Fixtures", "linalg", "conv_50x20x5x5.npy"))
    model_path = os.path.join(LENET, "model.onnx")
    m = onnx.load(model_path)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    x = np.load(os.path.join(LENET, "calib.npz"))["x"]
    acts = intermediate(model_path, ["/Flatten_output_0", "/Relu_2_output_0"], x)
    oracles = {
        "spatial_svd": {
            "conv_50x20x5x5": spatial_errors(K, [1, 4, 16, 50, 100]),
            "lenet_conv2": spatial_errors(inits["conv2.weight"], [1, 4, 16, 50, 100]),
        },
        "lenet_svd": {
            "fc1": svd_oracles(inits["fc1.weight"], acts["/Flatten_output_0"], [4, 16, 64, 128]),
            "fc2": svd_oracles(inits["fc2.weight"], acts["/Relu_2_output_0"], [2, 5, 8]),
        },
        "tensorly": tensorly_references(),
        "calibration_samples": int(x.shape[0]),
        "lambda": LAM,
    }
    with open(os.path.join(HERE, "oracles.json"), "w") as f:
        json.dump(oracles, f, indent=1, sort_keys=True)
        f.write("\n")
    print(json.dumps(oracles["lenet_svd"]["fc1"], indent=1))


if __name__ == "__main__":
    main()

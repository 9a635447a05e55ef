#!/usr/bin/env python3
"""Reference solutions of asymmetric (sequential) data-aware fitting, computed with numpy.

A dense layer W (T x P) is fitted to reproduce the original outputs W x from compressed inputs
x_hat (rows of H) instead of the original inputs x (rows of X):

    minimise  sum_n ||W x_n - W_hat x_hat_n||^2 + lam * m * ||W - W_hat||_F^2,   rank(W_hat) <= r

with m the mean diagonal of H^T H. This script solves it without Shrink's route (which forms
W' = W (X^T H + lam m I) R^-1 and takes a Cholesky-whitened SVD): it stacks the problem as one
least-squares problem and uses the reduced-rank-regression solution with a symmetric square
root of R from an eigendecomposition. Also writes the unconstrained (full-rank) minimiser and
the objective values of the rank-r solution and of the independent fit (the whitened SVD of W
on X's statistics), which the Swift test compares with.

Run: python3 Tests/Fixtures/decompose/asymmetric/make_asymmetric.py (writes asymmetric.npz).
"""
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
LAM = 1e-3


def sqrtm_sym(a):
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T, (v / np.sqrt(np.clip(w, 1e-300, None))) @ v.T


def objective(w, w_hat, x, h, lam, m):
    return np.sum((x @ w.T - h @ w_hat.T) ** 2) + lam * m * np.sum((w - w_hat) ** 2)


def main():
    rng = np.random.default_rng(20151)
    t, p, n, r = 12, 20, 400, 4
    # Correlated inputs (as real activations are) and a weight with a decaying spectrum.
    mix = rng.standard_normal((p, p)) * np.linspace(1.0, 0.1, p)
    x = rng.standard_normal((n, p)) @ mix.T
    u, _, vt = np.linalg.svd(rng.standard_normal((t, p)), full_matrices=False)
    w = (u * np.geomspace(3.0, 0.05, t)) @ vt
    # The compressed upstream: a rank-deficient perturbation of the inputs plus noise.
    h = x @ (np.eye(p) + 0.15 * rng.standard_normal((p, p)) / np.sqrt(p)) + 0.05 * rng.standard_normal((n, p))

    x64, h64, w64 = x.astype(np.float64), h.astype(np.float64), w.astype(np.float64)
    g = h64.T @ h64
    m = np.mean(np.diag(g))
    shift = LAM * m
    rmat = g + shift * np.eye(p)
    # Unconstrained minimiser: the normal equations of the stacked problem
    #   [X W^T ; sqrt(shift) W^T] ~ [H ; sqrt(shift) I] W_hat^T.
    a = np.vstack([h64, np.sqrt(shift) * np.eye(p)])
    b = np.vstack([x64 @ w64.T, np.sqrt(shift) * w64.T])
    full_t, *_ = np.linalg.lstsq(a, b, rcond=None)
    full = full_t.T
    # Reduced-rank regression: with S = R^(1/2) (symmetric root), the rank-r optimum is the
    # truncated SVD of full @ S, mapped back by S^-1.
    s, s_inv = sqrtm_sym(rmat)
    uu, ss, vv = np.linalg.svd(full @ s, full_matrices=False)
    rank_r = (uu[:, :r] * ss[:r]) @ vv[:r] @ s_inv

    # The independent fit: whitened SVD on X's own statistics (what `fit: activations` does).
    gx = x64.T @ x64
    rx = gx + LAM * np.mean(np.diag(gx)) * np.eye(p)
    sx, sx_inv = sqrtm_sym(rx)
    ux, sxv, vx = np.linalg.svd(w64 @ sx, full_matrices=False)
    independent = (ux[:, :r] * sxv[:r]) @ vx[:r] @ sx_inv

    out = {
        "w": w.astype(np.float32), "x": x.astype(np.float32), "h": h.astype(np.float32),
        "rank": np.array(r, dtype=np.int64), "lam": np.array(LAM, dtype=np.float64),
        "full": full.astype(np.float32), "rank_r": rank_r.astype(np.float32),
        "objective_rank_r": np.array(objective(w64, rank_r, x64, h64, LAM, m)),
        "objective_independent": np.array(objective(w64, independent, x64, h64, LAM, m)),
        # Output errors ||W x - W_hat x_hat|| / ||W x|| over the rows (no ridge term).
        "error_rank_r": np.array(np.linalg.norm(x64 @ w64.T - h64 @ rank_r.T) / np.linalg.norm(x64 @ w64.T)),
        "error_independent": np.array(np.linalg.norm(x64 @ w64.T - h64 @ independent.T) / np.linalg.norm(x64 @ w64.T)),
    }
    np.savez(HERE / "asymmetric.npz", **{k: np.ascontiguousarray(v) for k, v in out.items()})
    print({k: float(v) for k, v in out.items() if v.ndim == 0})


if __name__ == "__main__":
    main()

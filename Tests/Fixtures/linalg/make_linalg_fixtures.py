"""Generate linear-algebra / tensor-decomposition reference fixtures for Shrink.

Run from the repository root:

    python Tests/Fixtures/linalg/make_linalg_fixtures.py

Writes into Tests/Fixtures/linalg/:

  dense_500x800.npy        float32 500x800 matrix W = U diag(s) V^T, s_i = exp(-i/60)
                           (U, V orthonormal from QR of N(0,1) matrices, seed 0).
  svd_reference.npz        singular_values (float64, np.linalg.svd of W cast to float64),
                           ranks [1,5,10,50,100,200,400] (int64) and rel_errors (float64):
                           ||W - W_r||_F / ||W||_F of the rank-r truncated SVD, computed
                           in float64 both directly and via sqrt(sum_{i>=r} s_i^2)/||s||
                           (rel_errors_from_sv) -- they agree to ~1e-15.
  small_7x5.npy            float64 7x5 N(0,1) matrix (seed 5).
  small_7x5_svd.npz        U (7x5), S (5,), Vt (5x5) thin SVD (np.linalg.svd, full_matrices=False),
                           and full_U (7x7). Singular vectors are unique only up to sign.
  conv_50x20x5x5.npy       float32 4-way conv-like kernel (seed 1): a decaying-weight sum of
                           64 rank-1 terms plus 10% Gaussian noise, scaled to He-init std.
  cp_<shape>_r<R>.npz      tensorly CP-ALS (parafac) references, see below.
  cp_synthetic_4way_r5.npy float64 16x12x3x3 tensor with exact CP rank 5 (factors seed 2).
  cp_synthetic_3way_r6.npy float64 16x12x9 tensor with exact CP rank 6 (factors seed 3).
  cp_synthetic_*_factors.npz  the generating factors (factor_0..) for the synthetic tensors.
  tucker2_r<R0>x<R1>.npz   tensorly partial_tucker (modes [0,1]) references.

CP (parafac) cases: tensor = conv kernel cast to float64 (4-way 50x20x5x5, ranks 4/16/32)
and its reshape to 50x20x25 (C order, ranks 8/16/32). Initial factors come from
tensorly.decomposition._cp.initialize_cp(tensor, rank, init='svd', random_state=0) and are
saved (init_k); parafac is then run with init=CPTensor((ones(rank), init factors)),
n_iter_max=25, tol=0 (exactly 25 sweeps, no early stop), normalize_factors=False, so the
returned weights are all ones. rel_error = ||X - X_hat||_F / ||X||_F computed with numpy.
rel_error_iter1 / rel_error_iter5 repeat the run from the same init with n_iter_max 1 / 5.
"""

import os

import numpy as np
import tensorly as tl
from tensorly.cp_tensor import CPTensor, cp_to_tensor
from tensorly.decomposition import parafac, partial_tucker
from tensorly.decomposition._cp import initialize_cp
from tensorly.tenalg import multi_mode_dot

OUT = os.path.dirname(os.path.abspath(__file__))
tl.set_backend("numpy")


def save_npy(name, arr):
    np.save(os.path.join(OUT, name), arr)


def save_npz(name, **arrays):
    np.savez(os.path.join(OUT, name), **arrays)


def rel_err(x, x_hat):
    return float(np.linalg.norm((x - x_hat).ravel()) / np.linalg.norm(x.ravel()))


# --------------------------------------------------------------------------- SVD
def make_svd_fixtures():
    rng = np.random.default_rng(0)
    m, n = 500, 800
    U, _ = np.linalg.qr(rng.standard_normal((m, m)))
    V, _ = np.linalg.qr(rng.standard_normal((n, m)))
    s = np.exp(-np.arange(m) / 60.0)
    W = ((U * s) @ V.T).astype(np.float32)
    save_npy("dense_500x800.npy", W)

    W64 = W.astype(np.float64)
    Uw, sw, Vtw = np.linalg.svd(W64, full_matrices=False)
    ranks = np.array([1, 5, 10, 50, 100, 200, 400], dtype=np.int64)
    norm = np.linalg.norm(W64)
    rel = []
    rel_sv = []
    for r in ranks:
        Wr = (Uw[:, :r] * sw[:r]) @ Vtw[:r]
        rel.append(np.linalg.norm(W64 - Wr) / norm)
        rel_sv.append(np.sqrt(np.sum(sw[r:] ** 2)) / np.sqrt(np.sum(sw ** 2)))
    save_npz(
        "svd_reference.npz",
        singular_values=sw,
        ranks=ranks,
        rel_errors=np.array(rel),
        rel_errors_from_sv=np.array(rel_sv),
    )

    rng = np.random.default_rng(5)
    A = rng.standard_normal((7, 5))
    save_npy("small_7x5.npy", A)
    Ua, sa, Vta = np.linalg.svd(A, full_matrices=False)
    Ufull = np.linalg.svd(A, full_matrices=True)[0]
    save_npz("small_7x5_svd.npz", U=Ua, S=sa, Vt=Vta, full_U=Ufull)


# --------------------------------------------------------------------------- conv kernel
def make_conv_kernel():
    rng = np.random.default_rng(1)
    shape = (50, 20, 5, 5)
    R = 64
    lam = np.exp(-np.arange(R) / 12.0)
    facs = [rng.standard_normal((d, R)) for d in shape]
    structured = np.einsum("r,ar,br,cr,dr->abcd", lam, *facs)
    structured /= structured.std()
    noise = rng.standard_normal(shape)
    K = structured + 0.1 * noise
    fan_in = 20 * 5 * 5
    K = K / K.std() * np.sqrt(2.0 / fan_in)
    K = K.astype(np.float32)
    save_npy("conv_50x20x5x5.npy", K)
    return K


# --------------------------------------------------------------------------- CP
def unfold(X, mode):
    """tensorly's unfolding: move `mode` to the front, then C-order reshape."""
    return np.moveaxis(X, mode, 0).reshape(X.shape[mode], -1)


def khatri_rao(mats):
    """Column-wise Kronecker product; the first matrix's row index varies slowest."""
    out = mats[0]
    for M in mats[1:]:
        out = (out[:, None, :] * M[None, :, :]).reshape(-1, out.shape[1])
    return out


def numpy_cp_als(X, init_factors, n_iter):
    """Plain-numpy re-statement of tensorly 0.10 parafac (weights == 1, no normalisation).

    Each sweep updates modes 0, 1, ..., N-1 in order, always using the newest factors:
        G  = Hadamard product over k != n of (A_k^T A_k)          (R x R)
        M  = unfold(X, n) @ khatri_rao([A_k for k != n])           (I_n x R)
        A_n = solve(G^T, M^T)^T                                    (i.e. M G^{-1})
    Used as a self-check below: it must reproduce tensorly's factors.
    """
    fs = [f.copy() for f in init_factors]
    R = fs[0].shape[1]
    for _ in range(n_iter):
        for n in range(X.ndim):
            G = np.ones((R, R))
            for k, f in enumerate(fs):
                if k != n:
                    G *= f.T @ f
            M = unfold(X, n) @ khatri_rao([f for k, f in enumerate(fs) if k != n])
            fs[n] = np.linalg.solve(G.T, M.T).T
    return fs


def run_cp(X, rank, init_factors, n_iter):
    init = CPTensor((np.ones(rank), [f.copy() for f in init_factors]))
    cp = parafac(
        X,
        rank,
        n_iter_max=n_iter,
        init=init,
        tol=0,
        normalize_factors=False,
    )
    return cp


def make_cp_fixtures(K):
    X4 = K.astype(np.float64)
    X3 = X4.reshape(50, 20, 25)
    cases = [(X4, "50x20x5x5", r) for r in (4, 16, 32)] + [
        (X3, "50x20x25", r) for r in (8, 16, 32)
    ]
    summary = []
    for X, tag, rank in cases:
        init_cp = initialize_cp(X, rank, init="svd", random_state=0)
        init_factors = [np.array(f) for f in init_cp.factors]
        out = {}
        for k, f in enumerate(init_factors):
            out[f"init_{k}"] = np.array(f, order="C")
        errs = {}
        for n_iter in (1, 5, 25):
            cp = run_cp(X, rank, init_factors, n_iter)
            errs[n_iter] = rel_err(X, cp_to_tensor(cp))
        weights, factors = cp  # last run = 25 iterations
        check = numpy_cp_als(X, init_factors, 25)
        for a, b in zip(check, factors):
            assert np.allclose(a, b, rtol=1e-9, atol=1e-12), "numpy ALS disagrees with tensorly"
        for k, f in enumerate(factors):
            # tensorly returns Fortran-ordered factors; .npy readers (ours) want C order.
            out[f"factor_{k}"] = np.array(f, order="C")
        out["weights"] = np.asarray(weights, dtype=np.float64)
        out["rel_error"] = np.float64(errs[25])
        out["rel_error_iter1"] = np.float64(errs[1])
        out["rel_error_iter5"] = np.float64(errs[5])
        out["rel_error_init"] = np.float64(
            rel_err(X, cp_to_tensor(CPTensor((np.ones(rank), init_factors))))
        )
        out["n_iter"] = np.int64(25)
        out["rank"] = np.int64(rank)
        out["shape"] = np.array(X.shape, dtype=np.int64)
        save_npz(f"cp_{tag}_r{rank}.npz", **out)
        summary.append((tag, rank, errs[1], errs[5], errs[25]))
    return summary


def make_cp_synthetic():
    rng = np.random.default_rng(2)
    shape4, r4 = (16, 12, 3, 3), 5
    f4 = [rng.standard_normal((d, r4)) for d in shape4]
    T4 = cp_to_tensor((np.ones(r4), f4))
    save_npy("cp_synthetic_4way_r5.npy", T4)
    save_npz("cp_synthetic_4way_r5_factors.npz", **{f"factor_{k}": f for k, f in enumerate(f4)})

    rng = np.random.default_rng(3)
    shape3, r3 = (16, 12, 9), 6
    f3 = [rng.standard_normal((d, r3)) for d in shape3]
    T3 = cp_to_tensor((np.ones(r3), f3))
    save_npy("cp_synthetic_3way_r6.npy", T3)
    save_npz("cp_synthetic_3way_r6_factors.npz", **{f"factor_{k}": f for k, f in enumerate(f3)})

    # Sanity: tensorly recovers them (informational, printed only).
    for T, r in ((T4, r4), (T3, r3)):
        cp = parafac(T, r, n_iter_max=2000, init="svd", tol=1e-14, random_state=0)
        print(f"  synthetic {T.shape} rank {r}: tensorly rel_error {rel_err(T, cp_to_tensor(cp)):.3e}")


# --------------------------------------------------------------------------- Tucker-2
def make_tucker_fixtures(K):
    X = K.astype(np.float64)
    summary = []
    for ranks in ((16, 8), (32, 12)):
        (core, factors), rec_errors = partial_tucker(
            X, rank=list(ranks), modes=[0, 1], n_iter_max=10, init="svd", tol=0
        )
        X_hat = multi_mode_dot(core, factors, modes=[0, 1])
        # HOSVD only: leading left singular vectors of the mode-0 / mode-1 unfoldings.
        hosvd = []
        for mode, r in zip((0, 1), ranks):
            unf = np.moveaxis(X, mode, 0).reshape(X.shape[mode], -1)
            U = np.linalg.svd(unf, full_matrices=False)[0][:, :r]
            # tensorly's sign convention (svd_flip, U-based): largest-|.| entry of each column > 0
            idx = np.argmax(np.abs(U), axis=0)
            U = U * np.sign(U[idx, np.arange(r)])
            hosvd.append(U)
        core0 = multi_mode_dot(X, hosvd, modes=[0, 1], transpose=True)
        X0 = multi_mode_dot(core0, hosvd, modes=[0, 1])
        out = dict(
            core=np.asarray(core),
            factor_0=np.asarray(factors[0]),
            factor_1=np.asarray(factors[1]),
            rel_error=np.float64(rel_err(X, X_hat)),
            rel_error_hosvd=np.float64(rel_err(X, X0)),
            rec_errors_tensorly=np.asarray(rec_errors, dtype=np.float64),
            hosvd_factor_0=hosvd[0],
            hosvd_factor_1=hosvd[1],
            ranks=np.array(ranks, dtype=np.int64),
            modes=np.array([0, 1], dtype=np.int64),
            n_iter=np.int64(10),
        )
        save_npz(f"tucker2_r{ranks[0]}x{ranks[1]}.npz", **out)
        summary.append((ranks, out["rel_error_hosvd"], out["rel_error"]))
    return summary


def main():
    make_svd_fixtures()
    K = make_conv_kernel()
    print("CP (tag, rank, err@1, err@5, err@25):")
    for row in make_cp_fixtures(K):
        print("  %s r=%d  %.6f  %.6f  %.6f" % row)
    make_cp_synthetic()
    print("Tucker-2 (ranks, hosvd err, hooi err):")
    for row in make_tucker_fixtures(K):
        print("  ", row)


if __name__ == "__main__":
    main()

"""numpy / tensorly side of `shrink-bench linalg`; prints one JSON object on stdout.

Run by the Swift benchmark as a subprocess so that both sides are measured in one run on the
same machine state; it can also be run by hand:

    python3 Benchmarks/python/bench_linalg.py --data-dir DIR [--quick]

DIR holds the inputs the Swift side wrote (conv_50x20x5x5.npy, cp_256x128x3x3.npy), so both
sides decompose identical tensors. Timings are the best of `repeats` runs after one warm-up
(best-of is the least disturbed by other processes on a shared machine). Everything is float32:
numpy's float32 SVD is computed by LAPACK in float64 and cast back (numpy.linalg promotes),
which is what a numpy user gets, so that is what we compare with.
"""

import argparse
import json
import os
import sys
import time


def best_of(fn, repeats):
    fn()  # warm-up: thread pool start, page faults, first-call dispatch
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--quick", action="store_true", help="fewer repeats, skip the large CP case")
    args = ap.parse_args()

    try:
        import numpy as np
        import tensorly as tl
        from tensorly.decomposition import parafac
    except Exception as e:  # ImportError, or a broken install
        print(json.dumps({"available": False, "error": f"{type(e).__name__}: {e}"}))
        return 0
    tl.set_backend("numpy")
    import warnings

    warnings.filterwarnings("ignore")  # tensorly warns about n_eigenvecs > mode size

    cases = {}
    rng = np.random.default_rng(0)
    for n, reps in ((1024, 10), (2048, 5)):
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        t = best_of(lambda: a @ b, 3 if args.quick else reps)
        cases[f"gemm_{n}"] = {"seconds": t, "gflops": 2 * n**3 / t / 1e9}

    for m, n in ((500, 800), (800, 500), (1000, 1000)):
        a = rng.standard_normal((m, n)).astype(np.float32)
        t = best_of(lambda: np.linalg.svd(a, full_matrices=False), 2 if args.quick else 5)
        cases[f"svd_{m}x{n}"] = {"seconds": t}

    cp_cases = [("cp_50x20x5x5_r16", "conv_50x20x5x5.npy", 16, 5)]
    if not args.quick:
        cp_cases.append(("cp_256x128x3x3_r64", "cp_256x128x3x3.npy", 64, 1))
    for name, file, rank, reps in cp_cases:
        x = np.load(os.path.join(args.data_dir, file)).astype(np.float32)
        result = {}

        def run():
            result["cp"] = parafac(x, rank, n_iter_max=25, init="svd", tol=0, random_state=0)

        t = best_of(run, reps)
        x_hat = tl.cp_to_tensor(result["cp"])
        err = float(np.linalg.norm((x - x_hat).astype(np.float64)) / np.linalg.norm(x.astype(np.float64)))
        cases[name] = {"seconds": t, "rel_error": err}

    out = {
        "available": True,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "tensorly": tl.__version__,
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "cases": cases,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

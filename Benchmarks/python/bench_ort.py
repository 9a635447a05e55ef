#!/usr/bin/env python3
"""onnxruntime side of `shrink-bench infer`: images/second of one model at one batch size.

Prints one JSON object. Uses intra_op_num_threads=2 (the machine's cores), default graph
optimisations, the CPU provider. OPENBLAS_* variables do not affect onnxruntime (it has its
own GEMM), so they are left as the caller has them.
"""
import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--seconds", type=float, default=2.0, help="minimum timed duration")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sample-shape", help="per-sample input shape, e.g. 3,48,192 (default: the model's declaration)")
    p.add_argument("--cpu-time", action="store_true", help="measure process CPU time (single-thread tuning on a busy machine)")
    args = p.parse_args()

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    sample = [int(d) for d in args.sample_shape.split(",")] if args.sample_shape else [int(d) for d in inp.shape[1:]]
    shape = [args.batch] + sample
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    feed = {inp.name: x}
    for _ in range(3):
        sess.run(None, feed)
    clock = time.process_time if args.cpu_time else time.perf_counter
    iters = 0
    start = clock()
    while True:
        sess.run(None, feed)
        iters += 1
        elapsed = clock() - start
        if elapsed >= args.seconds and iters >= 3:
            break
    print(json.dumps({"model": args.model, "batch": args.batch, "iterations": iters, "seconds": elapsed,
                      "images_per_second": args.batch * iters / elapsed, "onnxruntime": ort.__version__}))


if __name__ == "__main__":
    main()

"""Prints the docs/real-models.md table: for each model of the regression set, what `shrink inspect`
reports (layers, params, MACs, wall time) and how far `shrink infer` is from onnxruntime.

Run from the repository root after `scripts/fetch-models.sh` and a build:

    python3 Tests/Fixtures/real-models/measure.py [.build/debug/shrink]
"""

import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("SHRINK_MODELS", os.path.expanduser("~/.cache/shrink-models"))
SHRINK = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/shrink"


def main():
    rows = []
    for line in open(os.path.join(HERE, "models.tsv")):
        if not line.strip() or line.startswith("#"):
            continue
        pkg, ver, _inner, name, _sha = line.rstrip("\n").split("\t")
        path = os.path.join(CACHE, f"{pkg}-{ver}", f"{name}.onnx")
        data = os.path.join(HERE, f"{name}.npz")
        m = onnx.load(path)
        producer = m.producer_name or "(not recorded)"
        t0 = time.perf_counter()
        out = subprocess.run([SHRINK, "inspect", path, "--data", data], capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        summary = re.search(r"(\d+) layers; ([\d,]*\d) MACs per sample; ([\d,]*\d) layer params", out.stdout)
        params = re.search(r"model params: ([\d,]*\d)", out.stdout)
        layers, macs, lparams = summary.groups() if summary else ("-", "-", "-")
        mparams = params.group(1) if params else lparams
        arrays = dict(np.load(data))
        worst = "-"
        with tempfile.TemporaryDirectory() as tmp:
            args = []
            for k, v in arrays.items():
                if k.startswith("out:"):
                    continue
                p = os.path.join(tmp, f"{len(args)}.npy")
                np.save(p, v)
                args += ["--input", f"{k}={p}"]
            res = os.path.join(tmp, "out.npz")
            r = subprocess.run([SHRINK, "infer", path, *args, "--output", res], capture_output=True, text=True)
            if r.returncode == 0:
                got = dict(np.load(res))
                ratios = []
                for k, ref in arrays.items():
                    if k.startswith("out:"):
                        o = k[4:]
                        diff = float(np.abs(got[o].astype(np.float64) - ref).max())
                        ratios.append(diff / max(1.0, float(np.abs(ref).max())))
                worst = f"{max(ratios):.1e}"
            else:
                worst = "fails: " + r.stderr.strip().splitlines()[-1][:80]
        seen = set()

        def walk(g):
            for n in g.node:
                seen.add(n.op_type)
                for a in n.attribute:
                    if a.type == onnx.AttributeProto.GRAPH:
                        walk(a.g)

        walk(m.graph)
        ops = sorted(seen & {"Resize", "ConvTranspose", "LSTM", "If", "Size", "Constant"})
        rows.append(f"| {name} | {pkg} {ver} | {producer} | {', '.join(ops) or '-'} | "
                    f"{'yes' if out.returncode == 0 else 'no'} | {layers} | {mparams} | {macs} | "
                    f"{seconds:.2f} s | {worst} |")
    print("| model | package | exported by | ops of note | loads | layers | params | MACs/sample | inspect | infer vs onnxruntime |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

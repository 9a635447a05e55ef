#!/usr/bin/env python3
"""Runs a label-free pipeline on models of the real-model set and re-measures each exported model
in onnxruntime (docs/real-models.md, "Pipelines").

    python3 Tests/Fixtures/real-models/run_pipelines.py SHRINK [NAME ...]

Needs scripts/fetch-models.sh and make_pipeline_data.py to have run. For each model: a repository
beside the models (${SHRINK_MODELS}/pipelines/NAME, kept so that its cache serves the next bound or
run) with the model, its search, verify and calibration sets and the pipeline below; `shrink run
--json` per bound; then, for an exported model, onnxruntime scores the original and the exported
model on the verify set with the pipeline's metric, which must equal the report's verify figure
(up to near-ties). Prints one table row per model and bound; times are of `shrink run`.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

CACHE = os.environ.get("SHRINK_MODELS", os.path.expanduser("~/.cache/shrink-models"))
MODELS = {
    "ocr-cls-mobile-v2": {
        "model": "rapidocr-onnxruntime-1.4.4/ocr-cls-mobile-v2.onnx",
        "metric": "agreement",
        "bounds": [0.01, 0.03, 0.1],
        "rules": """  - match: { op: Conv, kernel: 1x1, min_macs: 100000 }
    method: svd
    rank: search
    fit: activations
""",
    },
}


def pipeline(name, spec, bound):
    return f"""shrink: 1
name: {name}
model: model.onnx
data:
  search: search.npz
  verify: verify.npz
  calibration: calib.npz
metric: {spec["metric"]}
accept: {{ max_drop: {bound} }}
rules:
{spec["rules"]}search: {{ policy: budget, objective: macs }}
export: {{ onnx: out/{name}.onnx, report: out/{name}.md }}
"""


def scores(path, x):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 50]})[0] for i in range(0, len(x), 50)])


def main():
    shrink = os.path.abspath(sys.argv[1])
    names = sys.argv[2:] or list(MODELS)
    print("| model | metric, bound | search set: original → compressed | verify set (Shrink) | verify set (onnxruntime) | params ↓ | MACs ↓ | passed | search time |")
    print("|---|---|---:|---:|---:|---:|---:|:---:|---:|")
    for name in names:
        spec = MODELS[name]
        # One repository per model beside the models (kept: its cache makes a rerun, or another
        # bound, reuse every candidate already scored).
        box = os.path.join(CACHE, "pipelines", name)
        os.makedirs(os.path.join(box, ".git"), exist_ok=True)
        shutil.copy(os.path.join(CACHE, spec["model"]), os.path.join(box, "model.onnx"))
        for part in ("search", "verify", "calib"):
            shutil.copy(os.path.join(CACHE, "data", f"{name}-{part}.npz"), os.path.join(box, f"{part}.npz"))
        for bound in spec["bounds"]:
            with open(os.path.join(box, "pipeline.yaml"), "w") as f:
                f.write(pipeline(name, spec, bound))
            t0 = time.time()
            r = subprocess.run([shrink, "run", "pipeline.yaml", "--json", "--jobs", "2"], cwd=box, capture_output=True, text=True)
            seconds = time.time() - t0
            if r.returncode not in (0, 1):
                print(r.stderr, file=sys.stderr)
                raise SystemExit(f"{name}: shrink run exited {r.returncode}")
            t = json.loads(r.stdout.strip().splitlines()[-1])["targets"][0]
            report = json.load(open(os.path.join(box, "out", f"{name}.json")))
            x = np.load(os.path.join(box, "verify.npz"))["x"]
            ref = scores(os.path.join(box, "model.onnx"), x)
            exported = os.path.join(box, "out", f"{name}.onnx")
            if t["passed"] and os.path.exists(exported):
                got = scores(exported, x)
                ort_value = float(np.mean(got.argmax(-1) == ref.argmax(-1)))
                # Equal up to near-ties (two top scores closer than 1e-4 relative), which another
                # engine may round the other way.
                top2 = np.sort(got, axis=-1)[..., -2:]
                ties = int(np.sum(np.abs(top2[..., 1] - top2[..., 0]) <= 1e-4 * np.maximum(1, np.abs(got).max())))
                assert abs(ort_value - report["final"]) <= ties / len(x) + 1e-12, (ort_value, report["final"], ties)
                ort_text = f"{ort_value * 100:.2f} %"
            else:
                ort_text = "not exported"
            print(f"| {name} | {spec['metric']} ≥ {1 - bound:.2f} | {t['search_baseline'] * 100:.1f} % → {t['search_metric'] * 100:.1f} % "
                  f"| {report['final'] * 100:.2f} % ({report['samples']}) | {ort_text} | {t['paramsReduction']:.2f}× | {t['macsReduction']:.2f}× "
                  f"| {'yes' if t['passed'] else 'no'} | {seconds:.0f} s |", flush=True)
            print(f"  {name} at {bound}:", " ".join(f"{k}={v}" for k, v in sorted(t["layers"].items())), file=sys.stderr)


if __name__ == "__main__":
    main()

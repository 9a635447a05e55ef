#!/usr/bin/env python3
"""Runs a label-free pipeline on models of the real-model set and re-measures each exported model
in onnxruntime (docs/real-models.md, "Pipelines").

    python3 Tests/Fixtures/real-models/run_pipelines.py [--work DIR] [--data DIR] [--jobs N] SHRINK [NAME[@RULES][:BOUND] ...]

Needs scripts/fetch-models.sh and make_pipeline_data.py to have run. For each model: a repository
(DIR/NAME; DIR defaults to ${SHRINK_MODELS}/pipelines, kept so that its cache serves the next bound
or run) with the model, its search, verify and calibration sets (from --data, default
${SHRINK_MODELS}/data) and the pipeline below; `shrink run --json` per bound; then, for an exported
model, onnxruntime scores the original and the exported model on the verify set with the
pipeline's metric, which must equal the report's verify figure (up to near-ties). Prints one table
row per model and bound (times are of `shrink run`, given N cores with `--jobs`, default 2) and, on
stderr, the load average before and after, the chosen ranks, the sequential refit's search-set
figures, the search's margin and, for the detector, the overlap of its binarised maps. NAME@RULES
runs a model's alternative rule set (`rule_sets` below) in the same repository, so the two share
the cache of every candidate they have in common; each run's report and model are kept as
out/NAME[@RULES]-BOUND.{onnx,md,json}.
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
# Rules use the default fit (`sequential`): candidates fitted to activations, the chosen ranks
# refitted in model order before the verify check.
MODELS = {
    "ocr-cls-mobile-v2": {
        "model": "rapidocr-onnxruntime-1.4.4/ocr-cls-mobile-v2.onnx",
        "metric": "agreement",
        "measure": "agreement",
        "bounds": [0.01, 0.03, 0.1],
        # 1,000 lines to search: with 200 the sampling margin alone exceeds a 1-point bound.
        "search": "search1000",
        "rules": """  - match: { op: Conv, kernel: 1x1, min_macs: 100000 }
    method: svd
    rank: search
""",
    },
    "ocr-rec-ppocrv4": {
        "model": "rapidocr-onnxruntime-1.4.4/ocr-rec-ppocrv4.onnx",
        "metric": "{ agreement: { decode: ctc } }",
        "measure": "ctc",
        "bounds": [0.03],
        # 1,000 lines to search: with 150 the sampling margin (2.3 points) leaves 0.7 of the 3.
        "search": "search1000",
        # The ten pointwise convolutions of 10 M MACs or more (72 % of the MACs at width 160); the
        # depthwise ones cannot be factorised usefully, and the rest are small.
        "rules": """  - match: { op: Conv, kernel: 1x1, min_macs: 10000000 }
    method: svd
    rank: search
""",
    },
    "ocr-det-ppocrv4": {
        "model": "rapidocr-onnxruntime-1.4.4/ocr-det-ppocrv4.onnx",
        # The output is DB's per-pixel text probability map [N, 1, H, W].
        "metric": "relative_l2",
        "measure": "relative_l2",
        "bounds": [0.1, 0.05],
        "binarised_iou": 0.3,
        # At 160x320 pages (279 M MACs): the four full 3x3 convolutions 96 -> 24 of the neck and
        # the DB head (55 % of the MACs, 66 M each at 1/4 resolution for the two largest), Tucker-2
        # on their channel modes; and the nine pointwise convolutions of 96 to 384 channels with
        # 6.9 M MACs or more (23 %), SVD. Left out: depthwise convolutions (no low-rank form), the
        # stem (3 input channels) and narrow or small pointwise layers (little to save per rank).
        "rules": """  - match: { op: Conv, kernel: 3x3, min_macs: 4000000, min_params: 10000 }
    method: cp
    rank: search
  - match: { op: Conv, kernel: 1x1, min_macs: 6000000, min_params: 9000 }
    method: svd
    rank: search
""",
        # The first rule set tried (docs/real-models.md): Tucker-2 on the 3x3s. Its ladder shrinks
        # both channel ranks in proportion (24 out, 96 in), so the 9·r_out·r_in core dominates and
        # the highest rank that still saves MACs, (17, 68), saves 16 %; at half the layer's MACs,
        # CP's 1x1 -> depthwise 3x3 -> 1x1 gives a quarter to a fifth of the map error of the
        # ladder's (12, 49) on the calibration pages (shrink decompose --fit activations).
        "rule_sets": {"tucker2": """  - match: { op: Conv, kernel: 3x3, min_macs: 4000000, min_params: 10000 }
    method: tucker2
    rank: search
  - match: { op: Conv, kernel: 1x1, min_macs: 6000000, min_params: 9000 }
    method: svd
    rank: search
"""},
    },
    "oww-embedding": {
        "model": "openwakeword-0.5.1/oww-embedding.onnx",
        "metric": "relative_l2",
        "measure": "relative_l2",
        "bounds": [0.1],
        # tf2onnx's separable 1×3 and 3×1 convolutions: Tucker-2 on the channel modes.
        "rules": """  - match: { op: Conv, min_params: 4096 }
    method: tucker2
    rank: search
""",
    },
}


def measure(kind, got, ref):
    """The pipeline's metric of `got` against `ref` (onnxruntime outputs), and the slack near-ties allow."""
    tie = 1e-4 * max(1.0, float(np.abs(got).max()))
    top2 = np.sort(got, axis=-1)[..., -2:]
    near = np.abs(top2[..., 1] - top2[..., 0]) <= tie
    if kind == "agreement":
        return float(np.mean(got.argmax(-1) == ref.argmax(-1))), int(near.sum()) / near.size
    if kind == "ctc":
        def decode(r):
            out, prev = [], -1
            for c in r:
                if c != prev and c != 0:
                    out.append(int(c))
                prev = c
            return out
        a, b = got.argmax(-1), ref.argmax(-1)
        same = [decode(x) == decode(y) for x, y in zip(a, b)]
        return float(np.mean(same)), int(near.reshape(len(a), -1).any(axis=1).sum()) / len(a)
    n = len(got)
    d = np.linalg.norm((got - ref).reshape(n, -1), axis=1) / np.maximum(np.linalg.norm(ref.reshape(n, -1), axis=1), 1e-12)
    return float(d.mean()), 1e-4


def binarised_iou(got, ref, threshold):
    """Overlap of the text masks (probability > threshold, as DB's post-processing binarises):
    the mean of each sample's IoU (a sample with both masks empty counts 1), the IoU of all
    pixels pooled, and the lowest sample's."""
    n = len(got)
    a, b = (got > threshold).reshape(n, -1), (ref > threshold).reshape(n, -1)
    inter, union = (a & b).sum(axis=1), (a | b).sum(axis=1)
    per = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return float(per.mean()), float(inter.sum() / max(union.sum(), 1)), float(per.min())


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


def bound_text(spec, bound):
    if spec["measure"] == "relative_l2":
        return f"relative_l2 ≤ {bound:.2f}"
    return f"{spec['measure']} agreement ≥ {1 - bound:.2f}" if spec["measure"] == "ctc" else f"agreement ≥ {1 - bound:.2f}"


def percent(spec, v):
    return f"{v:.4f}" if spec["measure"] == "relative_l2" else f"{v * 100:.1f} %"


def scores(path, x, threads=0):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # 0: onnxruntime's default (every core)
    s = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 50]})[0] for i in range(0, len(x), 50)])


def main():
    args = sys.argv[1:]
    work, data, jobs = os.path.join(CACHE, "pipelines"), os.path.join(CACHE, "data"), 2
    while args and args[0] in ("--work", "--data", "--jobs"):
        if args[0] == "--work":
            work = os.path.abspath(args[1])
        elif args[0] == "--data":
            data = os.path.abspath(args[1])
        else:
            jobs = int(args[1])
        args = args[2:]
    shrink = os.path.abspath(args[0])
    names = args[1:] or list(MODELS)
    print("| model | metric, bound | search set: original → compressed | verify set (Shrink) | verify set (onnxruntime) | params ↓ | MACs ↓ | passed | search time |")
    print("|---|---|---:|---:|---:|---:|---:|:---:|---:|")
    for entry in names:
        head, _, only = entry.partition(":")
        name, _, rule_set = head.partition("@")
        spec = dict(MODELS[name])
        if rule_set:
            spec["rules"] = spec["rule_sets"][rule_set]
        if only:
            spec["bounds"] = [float(only)]
        # One repository per model beside the models (kept: its cache makes a rerun, or another
        # bound, reuse every candidate already scored).
        box = os.path.join(work, name)
        os.makedirs(os.path.join(box, ".git"), exist_ok=True)
        shutil.copy(os.path.join(CACHE, spec["model"]), os.path.join(box, "model.onnx"))
        for part in ("search", "verify", "calib"):
            source = spec.get(part, part)
            shutil.copy(os.path.join(data, f"{name}-{source}.npz"), os.path.join(box, f"{part}.npz"))
        for bound in spec["bounds"]:
            with open(os.path.join(box, "pipeline.yaml"), "w") as f:
                f.write(pipeline(name, spec, bound))
            load_before = os.getloadavg()
            t0 = time.time()
            r = subprocess.run([shrink, "run", "pipeline.yaml", "--json", "--jobs", str(jobs)], cwd=box, capture_output=True, text=True)
            seconds = time.time() - t0
            load_after = os.getloadavg()
            for ext in ("onnx", "md", "json"):
                made = os.path.join(box, "out", f"{name}.{ext}")
                if os.path.exists(made):
                    shutil.copy(made, os.path.join(box, "out", f"{head}-{bound}.{ext}"))
            if r.returncode not in (0, 1):
                print(r.stderr, file=sys.stderr)
                raise SystemExit(f"{name}: shrink run exited {r.returncode}")
            t = json.loads(r.stdout.strip().splitlines()[-1])["targets"][0]
            report = json.load(open(os.path.join(box, "out", f"{name}.json")))
            x = np.load(os.path.join(box, "verify.npz"))["x"]
            ref = scores(os.path.join(box, "model.onnx"), x, jobs)
            exported = os.path.join(box, "out", f"{name}.onnx")
            iou = None
            if t["passed"] and os.path.exists(exported):
                got = scores(exported, x, jobs)
                value, slack = measure(spec["measure"], got, ref)
                assert abs(value - report["final"]) <= slack + 1e-9, (value, report["final"], slack)
                ort_text = percent(spec, value)
                if spec.get("binarised_iou") is not None:
                    iou = binarised_iou(got, ref, spec["binarised_iou"])
            else:
                ort_text = "not exported"
            print(f"| {head} | {bound_text(spec, bound)} | {percent(spec, t['search_baseline'])} → {percent(spec, t['search_metric'])} "
                  f"| {percent(spec, report['final'])} ({report['samples']}) | {ort_text} | {t['paramsReduction']:.2f}× | {t['macsReduction']:.2f}× "
                  f"| {'yes' if t['passed'] else 'no'} | {seconds:.0f} s |", flush=True)
            print(f"  {name} at {bound}: load average (1, 5, 15 min) before", " ".join(f"{v:.2f}" for v in load_before),
                  "after", " ".join(f"{v:.2f}" for v in load_after), f"(--jobs {jobs})", file=sys.stderr)
            print(f"  {name} at {bound}:", " ".join(f"{k}={v}" for k, v in sorted(t["layers"].items())), file=sys.stderr)
            if iou is not None:
                print(f"  binarised maps (> {spec['binarised_iou']}), exported against original, {len(x)} verify samples: "
                      f"IoU mean {iou[0]:.4f}, pooled {iou[1]:.4f}, lowest {iou[2]:.4f}", file=sys.stderr)
            if report.get("fitting"):
                f = report["fitting"]
                print(f"  refit ({len(f['refitted'])} layers, kept={f['kept']}): search set {f['searchMetricBefore']:.4f} → {f['searchMetricAfter']:.4f}",
                      file=sys.stderr)
            if report.get("margin"):
                print(f"  margin: {report['margin']}", file=sys.stderr)


if __name__ == "__main__":
    main()

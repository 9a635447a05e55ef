#!/usr/bin/env python3
"""Compares the search policies on a pipeline (default: the bundled LeNet example).

For every (policy, threshold) pair this writes a small pipeline file -- the bundled pipeline's
model, data and rules, with `accept: { max_drop: T }` and `search: { policy: P }` -- into a fresh
temporary copy of `pipelines/` and the example's folder (so every run starts with a cold
`.shrink` cache), runs `shrink run` on it, times it, and reads the JSON report. It prints a
Markdown table (and writes it with --out) plus the raw rows as JSON (--json).

Used by compare.sh; see docs/search.md.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def generated_pipeline(base: dict, policy: str, threshold: float, name: str, target: str | None) -> dict:
    spec = {k: v for k, v in base.items() if k not in ("variants", "export", "name", "accept", "search")}
    spec["name"] = name
    spec["accept"] = {"max_drop": threshold}
    search = dict(base.get("search") or {})
    search["policy"] = policy
    search.pop("target", None)
    if target is not None:
        search["target"] = target
    spec["search"] = search
    spec["export"] = {"onnx": f"../out/{name}.onnx", "report": f"../out/{name}.md"}
    return spec


def run_one(shrink: str, pipeline: str, policy: str, threshold: float, jobs: int, target: str | None,
            keep: bool) -> dict:
    base = yaml.safe_load(open(pipeline))
    tmp = tempfile.mkdtemp(prefix="shrink-policies-")
    try:
        # The pipeline's folder (with its recipes) and the folders its paths point into, at the
        # same relative places, so the generated file reads exactly the same inputs.
        pipedir = os.path.dirname(os.path.abspath(pipeline))
        rel = os.path.relpath(pipedir, ROOT)
        shutil.copytree(pipedir, os.path.join(tmp, rel), ignore=shutil.ignore_patterns(".shrink", "*.lock"))
        for key in ("model",):
            src = os.path.normpath(os.path.join(pipedir, base[key]))
            folder = os.path.dirname(src)
            dst = os.path.join(tmp, os.path.relpath(folder, ROOT))
            if not os.path.exists(dst):
                shutil.copytree(folder, dst)
        t = f"{threshold:g}".replace(".", "p")
        name = f"cmp-{policy}-{t}"
        spec = generated_pipeline(base, policy, threshold, name, target)
        path = os.path.join(tmp, rel, f"{name}.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(spec, f, sort_keys=False)
        start = time.perf_counter()
        proc = subprocess.run([shrink, "run", "--jobs", str(jobs), path], cwd=tmp, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode not in (0, 1):
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"shrink run failed ({proc.returncode}) for {policy} @ {threshold}")
        report = json.load(open(os.path.join(tmp, "out", f"{name}.json")))
        before, after = report["before"], report["after"]
        layers = {l["name"]: l["method"] + (" " + ",".join(map(str, l["rank"])) if l.get("rank") else "")
                  for l in report["layers"]}
        return {
            "policy": policy, "threshold": threshold, "target": target, "jobs": jobs,
            "params_reduction": before["params"] / after["params"],
            "macs_reduction": before["macs"] / after["macs"],
            "params": after["params"], "macs": after["macs"],
            "baseline": report["baseline"], "final": report["final"], "passed": report["passed"],
            "evaluations": int((report.get("search") or {}).get("evaluations", 0)),
            "wall_seconds": wall, "layers": layers, "exit": proc.returncode,
        }
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def table(rows: list[dict]) -> str:
    out = ["| policy | max drop | params ↓ | MACs ↓ | top-1 (full set) | passed | evaluations | wall (s) | ranks |",
           "|---|---:|---:|---:|---:|:---:|---:|---:|---|"]
    for r in rows:
        name = r["policy"] + (f' (target {r["target"]})' if r["target"] else "")
        ranks = ", ".join(f"{k} {v}" for k, v in r["layers"].items() if not v.startswith("keep"))
        out.append(f'| {name} | {r["threshold"]:g} | {r["params_reduction"]:.2f}× | {r["macs_reduction"]:.2f}× | '
                   f'{100 * r["final"]:.1f} % ({100 * (r["final"] - r["baseline"]):+.1f}) | '
                   f'{"yes" if r["passed"] else "no"} | {r["evaluations"]} | {r["wall_seconds"]:.1f} | {ranks} |')
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shrink", default=os.path.join(ROOT, ".build", "release", "shrink"))
    ap.add_argument("--pipeline", default=os.path.join(ROOT, "pipelines", "lenet-mnist.yaml"))
    ap.add_argument("--policies", default="incremental,binary,greedy,budget")
    ap.add_argument("--thresholds", default="0.005,0.01,0.02")
    ap.add_argument("--greedy-target", default=None, help="search.target for greedy (default: none, i.e. the bound)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", help="write the Markdown table here")
    ap.add_argument("--json", help="write the rows as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders")
    a = ap.parse_args()
    rows = []
    for t in [float(x) for x in a.thresholds.split(",")]:
        for p in a.policies.split(","):
            target = a.greedy_target if p == "greedy" else None
            r = run_one(os.path.abspath(a.shrink), os.path.abspath(a.pipeline), p, t, a.jobs, target, a.keep)
            print(f'{p:12} {t:<6g} params {r["params_reduction"]:6.2f}×  MACs {r["macs_reduction"]:5.2f}×  '
                  f'top1 {r["final"]:.3f}  passed {r["passed"]}  evals {r["evaluations"]:4}  {r["wall_seconds"]:6.1f} s  '
                  f'{r["layers"]}', file=sys.stderr, flush=True)
            rows.append(r)
    md = table(rows)
    print(md)
    if a.out:
        with open(a.out, "w") as f:
            f.write(md + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()

"""Independent re-measurement of what `shrink run` exports for the unseen-model pipelines.

For each NAME in {mlp, tx, mobile}: copies NAME/{model.onnx, val.npz, pipeline.yaml} into a fresh
sandbox (a folder with `.git`, as the Swift test lays it out), runs the built `shrink run`, checks
the exported ONNX with onnx.checker (full_check) and measures its top-1 with onnxruntime (a model
with a fixed batch runs one piece at a time). Writes (committed) ort_results.json — per model the chosen
ranks, sizes, onnxruntime's top-1 and Shrink's reported top-1 — and NAME/ort_logits.npy, onnxruntime's
scores (the output the metric reads) for every sample. The Swift test
(ShrinkEndToEndTests/UnseenModelTests) reruns the pipelines and asserts the same ranks and sizes, and
that Shrink's engine gives onnxruntime's scores within 1e-4 (relative to the largest) on its own
export. No digest of the exported bytes is kept: they differ in their last bits between CPUs.

Run from the repository root after `swift build`:  python3 Tests/Fixtures/unseen/check_unseen.py
"""
import json, os, shutil, subprocess, sys, tempfile

import numpy as np
import onnx
import onnxruntime as ort

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
shrink = os.environ.get("SHRINK", os.path.join(root, ".build", "debug", "shrink"))
original = json.load(open(os.path.join(here, "original.json")))
results = {}
for name in ["mlp", "tx", "mobile"]:
    box = tempfile.mkdtemp(prefix="shrink-unseen-")
    try:
        os.makedirs(os.path.join(box, ".git"))
        os.makedirs(os.path.join(box, name))
        for f in ["model.onnx", "val.npz", "pipeline.yaml"]:
            shutil.copy(os.path.join(here, name, f), os.path.join(box, name, f))
        run = subprocess.run([shrink, "run", f"{name}/pipeline.yaml", "--json", "--jobs", "2"], cwd=box,
                             capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"{name}: shrink run failed ({run.returncode}):\n{run.stderr}")
        report = json.load(open(os.path.join(box, name, "out", f"{name}.json")))
        path = os.path.join(box, name, "out", f"{name}.onnx")
        onnx.checker.check_model(onnx.load(path), full_check=True)
        data = np.load(os.path.join(here, name, "val.npz"))
        x = data["x"].astype(np.float32)
        if "scale" in original[name]:
            x = x * np.float32(original[name]["scale"])
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        # The metric scores the first [batch, classes] output.
        scored = next(i for i, o in enumerate(sess.get_outputs()) if len(o.shape) == 2)
        if isinstance(inp.shape[0], int):
            b = inp.shape[0]
            logits = np.concatenate([sess.run(None, {inp.name: x[i:i + b]})[scored] for i in range(0, len(x), b)])
        else:
            logits = sess.run(None, {inp.name: x})[scored]
        np.save(os.path.join(here, name, "ort_logits.npy"), logits.astype(np.float32))
        top1 = float((logits.argmax(axis=1) == data["y"].astype(np.int64)).mean())
        results[name] = {
            "scored_output": sess.get_outputs()[scored].name,
            "onnxruntime_top1": top1,
            "shrink_reported_top1": report["final"],
            "shrink_reported_baseline": report["baseline"],
            "onnxruntime_original_top1": original[name]["top1"],
            "params_after": report["after"]["params"], "macs_after": report["after"]["macs"],
            "ranks": {l["name"]: f"{l['method']}:{','.join(map(str, l['rank']))}" for l in report.get("layers", []) if l.get("rank")},
        }
        print(name, results[name])
        if top1 != report["final"]:
            sys.exit(f"{name}: onnxruntime measures {top1}, Shrink reported {report['final']}")
    finally:
        shutil.rmtree(box)
results["checker"] = "onnx.checker.check_model(full_check=True) passed"
results["versions"] = {"onnx": onnx.__version__, "onnxruntime": ort.__version__}
with open(os.path.join(here, "ort_results.json"), "w") as fh:
    json.dump(results, fh, indent=2, sort_keys=True)
    fh.write("\n")

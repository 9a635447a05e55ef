"""Independent re-measurement of the model `shrink run` exports for Tests/Fixtures/e2e/lenet-e2e.yaml.

Lays out the same sandbox the Swift test uses (model, full held-out set, calibration set), runs the
built `shrink` binary on the pipeline, then checks the exported ONNX with onnx.checker (full_check)
and measures it with onnxruntime. Writes (committed) `ort_results.json` — the chosen ranks, the sizes,
onnxruntime's top-1 and Shrink's reported top-1 — and `ort_logits.npy`, onnxruntime's logits for every
held-out image. The Swift test (ShrinkEndToEndTests/ExportedModelTests) reruns the pipeline and asserts
the same ranks and sizes come out and that Shrink's engine gives onnxruntime's logits within 1e-4
(relative to the largest logit) on its own export. No digest of the exported bytes is kept: OpenBLAS
rounds differently on other CPUs, so those bytes differ in their last bits from machine to machine.

Run from the repository root after `swift build`:  python3 Tests/Fixtures/e2e/check_exported.py
"""
import json, os, shutil, subprocess, sys, tempfile

import numpy as np
import onnx
import onnxruntime as ort

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
here = os.path.dirname(os.path.abspath(__file__))
shrink = os.environ.get("SHRINK", os.path.join(root, ".build", "debug", "shrink"))

box = tempfile.mkdtemp(prefix="shrink-e2e-")
try:
    os.makedirs(os.path.join(box, ".git"))
    os.makedirs(os.path.join(box, "pipelines"))
    os.makedirs(os.path.join(box, "model"))
    example = os.path.join(root, "Examples", "lenet-mnist")
    for f in ["model.onnx", "val.npz", "calib.npz"]:
        shutil.copy(os.path.join(example, f), os.path.join(box, "model", f))
    shutil.copy(os.path.join(here, "lenet-e2e.yaml"), os.path.join(box, "pipelines", "p.yaml"))
    run = subprocess.run([shrink, "run", "pipelines/p.yaml", "--json", "--jobs", "2"], cwd=box,
                         capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"shrink run failed ({run.returncode}):\n{run.stderr}")
    report = json.load(open(os.path.join(box, "out", "e2e.json")))
    path = os.path.join(box, "out", "e2e.onnx")
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    data = np.load(os.path.join(example, "val.npz"))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    logits = sess.run(None, {sess.get_inputs()[0].name: data["x"]})[0]
    accuracy = float((logits.argmax(axis=1) == data["y"]).mean())
    np.save(os.path.join(here, "ort_logits.npy"), logits.astype(np.float32))
    result = {
        "ranks": {l["name"]: f"{l['method']}:{','.join(map(str, l['rank']))}" for l in report.get("layers", []) if l.get("rank")},
        "onnxruntime_top1": accuracy,
        "shrink_reported_top1": report["final"],
        "baseline_top1": report["baseline"],
        "params_before": report["before"]["params"], "params_after": report["after"]["params"],
        "macs_before": report["before"]["macs"], "macs_after": report["after"]["macs"],
        "checker": "onnx.checker.check_model(full_check=True) passed",
        "onnx_version": onnx.__version__, "onnxruntime_version": ort.__version__,
    }
    json.dump(result, open(os.path.join(here, "ort_results.json"), "w"), indent=2, sort_keys=True)
    print(json.dumps(result, indent=2, sort_keys=True))
finally:
    shutil.rmtree(box, ignore_errors=True)

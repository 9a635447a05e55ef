"""Realistic inputs and onnxruntime reference outputs for the real-model regression set.

Run from the repository root after `scripts/fetch-models.sh` (needs numpy, onnx, onnxruntime,
Pillow and Debian's espeak-ng):

    python3 Tests/Fixtures/real-models/make_inputs.py

For every model of models.tsv it writes Tests/Fixtures/real-models/<name>.npz holding each graph
input under its input name and each graph output under `out:<output name>` (onnxruntime CPU,
graph optimisations disabled), and expected.json with, per model, what the Swift tests check:
the float weights the model reads (initializers and Constant nodes, subgraphs included) and
the Conv/Gemm/MatMul layers with constant weights in the graph the given inputs select.

Inputs are what the models see in use, not noise:
* OCR (rapidocr): text rendered with Pillow's built-in font, normalised as rapidocr does
  (detector: ImageNet mean/std on a 96×160 page of three lines; recogniser and orientation
  classifier: (x/255 − 0.5)/0.5 on one 48-pixel-high line).
* Audio (openwakeword, silero-vad): "hey jarvis, what is the weather" spoken by espeak-ng,
  resampled to 16 kHz. The melspectrogram model gets int16-scaled samples; the embedding model
  gets the melspectrogram's output (x/10 + 2, 76 frames), the wake-word heads get the
  embeddings of 16 windows, as openwakeword chains them; the VADs get a 512-sample chunk of speech.
"""

import json
import os
import subprocess
import tempfile
import wave

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image, ImageDraw, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("SHRINK_MODELS", os.path.expanduser("~/.cache/shrink-models"))


def models():
    out = {}
    for line in open(os.path.join(HERE, "models.tsv")):
        if not line.strip() or line.startswith("#"):
            continue
        pkg, ver, _inner, name, _sha = line.rstrip("\n").split("\t")
        out[name] = os.path.join(CACHE, f"{pkg}-{ver}", f"{name}.onnx")
    return out


def session(path):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def text_image(lines, width, height, size):
    img = Image.new("RGB", (width, height), (245, 243, 238))
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=size)
    y = 4
    for t in lines:
        d.text((6, y), t, fill=(20, 20, 30), font=font)
        y += size + 6
    return np.asarray(img, dtype=np.float32)


def speech(text):
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "s.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", wav, text], check=True)
        with wave.open(wav) as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
    n = int(len(pcm) * 16000 / rate)
    t = np.arange(n) * rate / 16000
    return np.interp(t, np.arange(len(pcm)), pcm)  # int16 scale, 16 kHz


def float_weights(g):
    """Elements of every float initializer / Constant tensor a node reads, subgraphs included."""
    total = 0
    read = set()

    def walk(graph):
        for n in graph.node:
            read.update(n.input)
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)

    walk(g)

    def count(graph):
        nonlocal total
        for t in graph.initializer:
            if t.data_type in (1, 10, 11, 16) and t.name in read:
                total += int(np.prod(t.dims))
        for n in graph.node:
            if n.op_type == "Constant" and n.output[0] in read:
                for a in n.attribute:
                    if a.name == "value" and a.t.data_type in (1, 10, 11, 16):
                        total += int(np.prod(a.t.dims))
                    elif a.name == "value_float":
                        total += 1
                    elif a.name == "value_floats":
                        total += len(a.floats)
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    count(a.g)

    count(g)
    return total


# If nodes (by first output) whose condition depends on float data, which Shrink cannot know
# before running: hey_jarvis runs its second stage only when the first one's score is ≥ 0.5.
RUNTIME_CONDITIONS = {"oww-hey-jarvis": {"53"}}


def branches_taken(path, feeds):
    """Which way every executed If goes for these inputs, by first output (onnx's reference
    evaluator, an implementation independent of Shrink and of onnxruntime)."""
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.ops import op_if
    taken = {}
    orig = op_if.If._run

    def run(self, cond, context=None, **kw):
        taken[self.onnx_node.output[0]] = bool(np.asarray(cond).reshape(-1)[0])
        return orig(self, cond, context=context, **kw)

    op_if.If._run = run
    try:
        ReferenceEvaluator(path).run(None, feeds)
    finally:
        op_if.If._run = orig
    return taken


def selected_graph(g, taken, runtime):
    """The top-level nodes with every If whose condition is known without running the model
    (constants, small integer inputs, shapes) replaced by the branch it takes; Ifs on run-time
    data (`runtime`) stay."""
    from onnx import numpy_helper
    const = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    nodes = []

    def visit(node_list):
        for n in node_list:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        const[n.output[0]] = numpy_helper.to_array(a.t)
            if n.op_type == "If" and n.output[0] in taken and n.output[0] not in runtime:
                branch = {a.name: a.g for a in n.attribute}
                b = branch["then_branch" if taken[n.output[0]] else "else_branch"]
                for t in b.initializer:
                    const[t.name] = numpy_helper.to_array(t)
                visit(b.node)
            else:
                nodes.append(n)

    visit(g.node)
    return nodes, const


def selected_params(g, taken, runtime):
    """Float weights the selected graph reads (taken branches inlined, other If nodes kept whole)."""
    nodes, const = selected_graph(g, taken, runtime)
    read = {o.name for o in g.output}
    total = 0

    def sub_reads(graph):
        inner = {t.name for t in graph.initializer} | {o for n in graph.node for o in n.output}
        out = set()
        for n in graph.node:
            out.update(i for i in n.input if i not in inner)
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    out.update(r for r in sub_reads(a.g) if r not in inner)
        out.update(o.name for o in graph.output if o.name not in inner)
        return out

    for n in nodes:
        read.update(n.input)
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                read.update(sub_reads(a.g))
                total += float_weights(a.g)
    for n in nodes:
        if n.op_type == "Constant" and n.output[0] in read:
            v = const.get(n.output[0])
            if v is not None and v.dtype.kind == "f":
                total += v.size
    # Initializers (top level and taken branches) were merged into const; count float ones read.
    branch_inits = {k: v for k, v in const.items() if isinstance(v, np.ndarray) and v.dtype.kind == "f"}
    constant_outputs = {n.output[0] for n in nodes if n.op_type == "Constant"}
    for name, v in branch_inits.items():
        if name in read and name not in constant_outputs:
            total += v.size
    return total


def layers(g, taken, runtime):
    """Conv/Gemm/MatMul nodes with a constant float weight: params = weight + constant bias."""
    nodes, const = selected_graph(g, taken, runtime)
    consumers = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    out = []
    for n in nodes:
        if n.op_type not in ("Conv", "Gemm", "MatMul") or len(n.input) < 2:
            continue
        w = const.get(n.input[1])
        if w is None or w.dtype.kind != "f":
            continue
        params = w.size
        if n.op_type in ("Conv", "Gemm") and len(n.input) > 2 and n.input[2] in const:
            params += const[n.input[2]].size
        if n.op_type == "MatMul":
            cs = consumers.get(n.output[0], [])
            if len(cs) == 1 and cs[0].op_type == "Add":
                other = [i for i in cs[0].input if i != n.output[0]]
                if other and other[0] in const and const[other[0]].dtype.kind == "f":
                    b = const[other[0]]
                    if [d for d in b.shape if d != 1] == [w.shape[-1]] or b.size == 1:
                        params += b.size
        out.append({"node": n.name, "op": n.op_type, "params": int(params)})
    return out


def main():
    paths = models()
    feeds = {}
    # OCR.
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    page = text_image(["Invoice 2024-117", "Total: 48.90 EUR", "Thank you!"], 160, 96, 22)
    feeds["ocr-det-ppocrv4"] = {"x": ((page / 255 - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)}
    line = text_image(["Shrink 0.9 ships"], 192, 48, 30)
    norm = ((line / 255 - 0.5) / 0.5).transpose(2, 0, 1)[None].astype(np.float32)
    feeds["ocr-cls-mobile-v2"] = {"x": norm}
    line = text_image(["low-rank"], 128, 48, 30)
    feeds["ocr-rec-ppocrv4"] = {"x": ((line / 255 - 0.5) / 0.5).transpose(2, 0, 1)[None].astype(np.float32)}

    # Audio.
    audio = speech("hey jarvis, what is the weather today")
    clip = audio[:16000 * 2]
    clip = np.pad(clip, (0, max(0, 16000 * 2 - len(clip))))
    feeds["oww-melspectrogram"] = {"input": clip[None].astype(np.float32)}
    mel = session(paths["oww-melspectrogram"]).run(None, feeds["oww-melspectrogram"])[0]  # [1, 1, frames, 32]
    mel = mel[0, 0] / 10 + 2
    windows = np.stack([mel[i:i + 76] for i in range(0, 8 * 8, 8)])[:, :, :, None].astype(np.float32)
    feeds["oww-embedding"] = {"input_1": windows[:3]}
    emb = session(paths["oww-embedding"]).run(None, {"input_1": np.stack([mel[i:i + 76] for i in range(0, 16 * 4, 4)])[:, :, :, None].astype(np.float32)})[0]
    emb = emb.reshape(16, 96)[None].astype(np.float32)
    for name in ("oww-alexa", "oww-hey-jarvis"):
        inp = session(paths[name]).get_inputs()[0].name
        feeds[name] = {inp: emb}
    chunk = (audio[8000:8512] / 32768).astype(np.float32)[None]
    feeds["oww-silero-vad"] = {"input": chunk, "sr": np.array(16000, np.int64),
                               "h": np.zeros((2, 1, 64), np.float32), "c": np.zeros((2, 1, 64), np.float32)}
    feeds["silero-vad"] = {"input": chunk, "state": np.zeros((2, 1, 128), np.float32), "sr": np.array(16000, np.int64)}
    feeds["silero-vad-16k-op15"] = dict(feeds["silero-vad"])

    expected = {}
    for name, path in paths.items():
        sess = session(path)
        names = [o.name for o in sess.get_outputs()]
        outs = sess.run(names, feeds[name])
        arrays = dict(feeds[name])
        for n, o in zip(names, outs):
            arrays[f"out:{n}"] = o
        np.savez_compressed(os.path.join(HERE, f"{name}.npz"), **arrays)
        g = onnx.load(path)
        has_if = any(n.op_type == "If" for n in g.graph.node)
        taken = branches_taken(path, feeds[name]) if has_if else {}
        runtime = RUNTIME_CONDITIONS.get(name, set())
        ls = layers(g.graph, taken, runtime)
        expected[name] = {
            "params": float_weights(g.graph),
            "selected_params": selected_params(g.graph, taken, runtime),
            "layers": len(ls),
            "layer_params": sum(item["params"] for item in ls),
            "inputs": {k: list(v.shape) for k, v in feeds[name].items()},
            "outputs": {n: list(o.shape) for n, o in zip(names, outs)},
        }
        print(name, expected[name]["params"], len(ls), [list(o.shape) for o in outs])
    with open(os.path.join(HERE, "expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1, sort_keys=True)
        fh.write("\n")


if __name__ == "__main__":
    main()

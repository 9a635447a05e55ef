#!/usr/bin/env python3
"""Rank-search speed baseline: Shrink's `budget` policy written in Python.

The same algorithm as Sources/ShrinkCompress/Search/BudgetPolicy.swift and RankSearch (single-layer
sensitivity curves on the search subset, a multiple-choice knapsack over several budget fractions
α, bisection, repair on the combined model, coordinate descent with trades, certification on the
full set with back-off), on the same model, data, rules and rank ladder
(Sources/ShrinkBuild/Pipeline/SelectStage.swift, RankLadder), built the way a Python user would:
onnx for graph surgery, numpy for SVD (data-aware SVD: whitened by the calibration activations'
second moment), tensorly's partial_tucker for Tucker-2, onnxruntime to score each candidate.
Decompositions and scores are memoised like Shrink's session memo.

Then, in the same run, it times Shrink's cold `shrink run` (release) on the equivalent pipeline
with --jobs 1 and --jobs 2 (each in a fresh copy, so the cache is empty) and prints the ratios.

    python3 Benchmarks/python/search_baseline.py [--shrink .build/release/shrink] [--repeat 1]

Results and the command are recorded in docs/benchmarks.md ("Rank search").
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

T_START = time.perf_counter()
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import tensorly as tl  # noqa: E402
from onnx import helper, numpy_helper, shape_inference  # noqa: E402
from tensorly.decomposition import partial_tucker  # noqa: E402
import yaml  # noqa: E402
T_IMPORTS = time.perf_counter() - T_START

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EPS = 1e-12


def swift_round(x: float) -> int:
    """Swift's .rounded(): half away from zero."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


# ----------------------------------------------------------------------------------------------
# The model: layers, shapes and costs (params incl. bias, MACs per sample), as Shrink counts them.

class Layer:
    def __init__(self, name, node, op, weight, bias, in_spatial, out_spatial, attrs):
        self.name, self.node, self.op, self.weight, self.bias = name, node, op, weight, bias
        self.in_spatial, self.out_spatial, self.attrs = in_spatial, out_spatial, attrs

    @property
    def cost(self):
        w = self.weight
        params = w.size + (self.bias.size if self.bias is not None else 0)
        if self.op == "Conv":
            macs = w.size * int(np.prod(self.out_spatial))
        else:
            macs = w.size
        return params, macs


def load_layers(model: onnx.ModelProto) -> dict:
    inferred = shape_inference.infer_shapes(model)
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    layers = {}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm"):
            continue
        wname = node.input[1]
        name = wname[:-len(".weight")] if wname.endswith(".weight") else node.name
        bias = inits.get(node.input[2]) if len(node.input) > 2 else None
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        w = inits[wname]
        if node.op_type == "Gemm" and not attrs.get("transB", 0):
            w = w.T
        ins = shapes.get(node.input[0], [])[2:]
        outs = shapes.get(node.output[0], [])[2:]
        layers[name] = Layer(name, node, node.op_type, w.astype(np.float32), bias, ins, outs, attrs)
    return layers


# ----------------------------------------------------------------------------------------------
# Methods: full rank, cost at a rank, factorisation, graph rewrite.

def full_rank(method, layer):
    w = layer.weight
    if method == "svd":
        return [min(w.shape[0], w.shape[1])]
    t, s = w.shape[0], w.shape[1]
    k = int(np.prod(w.shape[2:]))
    if method == "tucker2":
        return [min(t, s * k), min(s, t * k)]
    if method == "spatial-svd":
        return [min(s * w.shape[2], t * w.shape[3])]
    raise ValueError(method)


def rank_cost(method, layer, rank):
    w = layer.weight
    bias = layer.bias.size if layer.bias is not None else 0
    if method == "svd":
        m, n = w.shape
        r = rank[0]
        return n * r + r * m + bias, n * r + r * m
    t, s = w.shape[0], w.shape[1]
    kh, kw = w.shape[2], w.shape[3]
    hi, wi = layer.in_spatial
    ho, wo = layer.out_spatial
    if method == "tucker2":
        r_out, r_in = rank
        params = s * r_in + r_out * r_in * kh * kw + t * r_out + bias
        macs = r_in * s * hi * wi + r_out * r_in * kh * kw * ho * wo + t * r_out * ho * wo
        return params, macs
    raise ValueError(method)


def ladder(method, layer, objective):
    """RankLadder.options: every small rank, then ×1.18 steps up to the full rank."""
    full = full_rank(method, layer)
    top = max(full)
    primaries, r = set(), 1.0
    while int(r) <= top:
        primaries.add(int(r))
        r = r + 1 if int(r) < 8 else r * 1.18
    primaries.add(top)
    original = layer.cost[0 if objective == "params" else 1]
    out, seen = [], set()
    for p in sorted(primaries):
        if len(full) == 2:
            f = p / top
            rank = tuple(min(v, max(1, swift_round(v * f))) for v in full)
        else:
            rank = (min(p, full[0]),)
        if rank in seen:
            continue
        seen.add(rank)
        cost = rank_cost(method, layer, rank)
        if cost[0 if objective == "params" else 1] < original:
            out.append((rank, cost))
    return out


def factorize(method, layer, rank, fit, gram):
    w = layer.weight
    if method == "svd":
        r = rank[0]
        if fit == "activations":
            c = gram + 1e-3 * np.mean(np.diag(gram)) * np.eye(gram.shape[0], dtype=np.float64)
            l = np.linalg.cholesky(c)
            u, s, vt = np.linalg.svd(w.astype(np.float64) @ l, full_matrices=False)
            root = np.sqrt(s[:r])
            left = u[:, :r] * root
            right = np.linalg.solve(l.T, (vt[:r].T * root)).T  # (root·Vᵀ)·L⁻¹
        else:
            u, s, vt = np.linalg.svd(w.astype(np.float64), full_matrices=False)
            root = np.sqrt(s[:r])
            left, right = u[:, :r] * root, (vt[:r].T * root).T
        return [right.astype(np.float32), left.astype(np.float32)]  # N→R, R→M
    if method == "tucker2":
        r_out, r_in = rank
        (core, factors), _ = partial_tucker(tl.tensor(w), rank=[r_out, r_in], modes=[0, 1], init="svd", n_iter_max=100,
                                            tol=1e-6)
        u_out, u_in = factors
        return [np.ascontiguousarray(u_in.T[:, :, None, None]).astype(np.float32),
                np.asarray(core, dtype=np.float32), np.asarray(u_out, dtype=np.float32)[:, :, None, None]]
    raise ValueError(method)


def rewrite(model_bytes: bytes, layers: dict, chosen: dict) -> bytes:
    """chosen: layer name → (method, factors). Returns the decomposed model's bytes."""
    m = onnx.load_from_string(model_bytes)
    g = m.graph
    new_nodes, new_inits = [], []
    for node in g.node:
        name = node.input[1][:-len(".weight")] if len(node.input) > 1 and node.input[1].endswith(".weight") else node.name
        if name not in chosen or node.op_type not in ("Conv", "Gemm"):
            new_nodes.append(node)
            continue
        method, factors = chosen[name]
        layer = layers[name]
        bias = list(node.input[2:3])
        x = node.input[0]
        if method == "svd":
            a, b = factors
            new_inits += [numpy_helper.from_array(a, f"{name}.0.weight"), numpy_helper.from_array(b, f"{name}.1.weight")]
            new_nodes.append(helper.make_node("Gemm", [x, f"{name}.0.weight"], [f"{name}.0.out"], transB=1))
            new_nodes.append(helper.make_node("Gemm", [f"{name}.0.out", f"{name}.1.weight"] + bias, list(node.output), transB=1))
        else:
            first, core, last = factors
            at = {k: v for k, v in layer.attrs.items() if k in ("strides", "pads", "dilations", "auto_pad")}
            new_inits += [numpy_helper.from_array(first, f"{name}.0.weight"), numpy_helper.from_array(core, f"{name}.1.weight"),
                          numpy_helper.from_array(last, f"{name}.2.weight")]
            new_nodes.append(helper.make_node("Conv", [x, f"{name}.0.weight"], [f"{name}.0.out"]))
            new_nodes.append(helper.make_node("Conv", [f"{name}.0.out", f"{name}.1.weight"], [f"{name}.1.out"], **at))
            new_nodes.append(helper.make_node("Conv", [f"{name}.1.out", f"{name}.2.weight"] + bias, list(node.output)))
    used = {i for n in new_nodes for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.node[:]
    g.node.extend(new_nodes)
    del g.initializer[:]
    g.initializer.extend(keep + new_inits)
    return m.SerializeToString()


# ----------------------------------------------------------------------------------------------
# The search (BudgetPolicy + RankSearch), over an evaluator with a memo.

class Search:
    def __init__(self, model_bytes, layers, searchable, data, calib, objective, bound):
        self.model_bytes, self.layers, self.objective, self.bound = model_bytes, layers, objective, bound
        self.searchable = searchable  # name → (method, fit)
        self.data = data  # set → (x, y)
        self.options = {n: ladder(m, layers[n], objective) for n, (m, _) in searchable.items()}
        self.options = {n: o for n, o in self.options.items() if o}
        self.names = [n for n in layers if n in self.options]
        self.factors, self.memo, self.evaluations = {}, {}, 0
        self.grams = self.calibrate(calib) if any(f == "activations" for _, f in searchable.values()) else {}
        self.sess_opts = ort.SessionOptions()
        self.ref = {s: self.score({}, s) for s in ("search", "full")}
        self.evaluations = 0

    def calibrate(self, x):
        m = onnx.load_from_string(self.model_bytes)
        names = {n: self.layers[n].node.input[0] for n, (_, f) in self.searchable.items() if f == "activations"}
        for t in names.values():
            m.graph.output.append(helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None))
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        outs = sess.run(list(names.values()), {sess.get_inputs()[0].name: x})
        grams = {}
        for (n, _), a in zip(names.items(), outs):
            if self.layers[n].op != "Gemm":
                raise SystemExit(f"{n}: data-aware fits are implemented here for Gemm layers only")
            a = a.reshape(a.shape[0], -1).astype(np.float64)
            grams[n] = a.T @ a / a.shape[0]
        return grams

    def cost(self, config, which=None):
        which = self.objective if which is None else which
        k = 0 if which == "params" else 1
        total = 0
        for n, l in self.layers.items():
            total += self.options[n][config[n]][1][k] if n in config else l.cost[k]
        return total

    def factor(self, name, option):
        key = (name, option)
        if key not in self.factors:
            method, fit = self.searchable[name]
            rank = self.options[name][option][0]
            self.factors[key] = (method, factorize(method, self.layers[name], rank, fit, self.grams.get(name)))
        return self.factors[key]

    def score(self, config, s):
        key = (tuple(sorted(config.items())), s)
        if key not in self.memo:
            chosen = {n: self.factor(n, o) for n, o in config.items()}
            model = rewrite(self.model_bytes, self.layers, chosen) if chosen else self.model_bytes
            sess = ort.InferenceSession(model, self.sess_opts, providers=["CPUExecutionProvider"])
            x, y = self.data[s]
            logits = sess.run(None, {sess.get_inputs()[0].name: x})[0]
            self.memo[key] = float(np.mean(np.argmax(logits, axis=1) == y))
            self.evaluations += 1
        return self.memo[key]

    def drops(self, configs, s="search"):
        return [self.ref[s] - self.score(c, s) for c in configs]

    def passes(self, config, s="search"):
        return self.drops([config], s)[0] <= self.bound + EPS

    @staticmethod
    def setting(config, name, index):
        c = dict(config)
        if index is None:
            c.pop(name, None)
        else:
            c[name] = index
        return c

    # BudgetPolicy.propose
    def budget(self, alphas=(1.5, 1.0, 0.75, 0.5, 0.35, 0.25, 0.15, 0.08), refinements=3, max_points=32, rounds=8):
        fixed_drop = max(0.0, self.drops([{}])[0])
        allowed = self.bound - fixed_drop
        pairs = []
        for n in self.names:
            count = len(self.options[n])
            if count > max_points:
                step = (count - 1) / (max_points - 1)
                pts = sorted({swift_round(i * step) for i in range(max_points)})
            else:
                pts = list(range(count))
            pairs += [(n, i) for i in pts]
        drops = self.drops([{n: i} for n, i in pairs])
        curves = {}
        for (n, i), d in zip(pairs, drops):
            curves.setdefault(n, []).append([i, d])
        for n, pts in curves.items():
            pts.sort()
            floor = 0.0
            for p in reversed(pts):
                floor = max(floor, p[1])
                p[1] = floor

        def allocate(alpha):
            budget = alpha * allowed
            units = 400
            res = max(budget, 1e-12) / units
            best = [(0, {}) for _ in range(units + 1)]
            k = 0 if self.objective == "params" else 1
            for n in self.names:
                keep = self.layers[n].cost[k]
                nxt = [(c + keep, ch) for c, ch in best]
                for option, drop in curves[n]:
                    need = 0 if drop <= 0 else math.ceil(drop / res)
                    if need > units:
                        continue
                    c_opt = self.options[n][option][1][k]
                    for u in range(need, units + 1):
                        cand = best[u - need][0] + c_opt
                        if cand < nxt[u][0]:
                            ch = dict(best[u - need][1])
                            ch[n] = option
                            nxt[u] = (cand, ch)
                best = nxt
            return best[units][1]

        tried = [(a, allocate(a)) for a in alphas]
        per_layer = {}
        k = 0 if self.objective == "params" else 1
        for n in self.names:
            ok_pts = [i for i, d in curves[n] if d <= allowed + EPS]
            if ok_pts:
                per_layer[n] = min(ok_pts, key=lambda i: self.options[n][i][1][k])
        starts = [c for _, c in tried] + [per_layer]
        ok = [d <= self.bound + EPS for d in self.drops(starts)]
        passing = [t for t, o in zip(tried, ok) if o]
        failing = [t for t, o in zip(tried, ok) if not o]
        best = min(passing, key=lambda t: self.cost(t[1])) if passing else None
        if best is not None:
            for _ in range(refinements):
                above = [t for t in failing if t[0] > best[0]]
                if not above:
                    break
                mid = (best[0] + min(above, key=lambda t: t[0])[0]) / 2
                c = allocate(mid)
                if self.passes(c):
                    passing.append((mid, c))
                    if self.cost(c) <= self.cost(best[1]):
                        best = (mid, c)
                else:
                    failing.append((mid, c))
        if ok[-1] and (best is None or self.cost(per_layer) < self.cost(best[1])):
            best = (0, per_layer)
        failed = [c for c, o in zip(starts, ok) if not o]
        if failed:
            start = min(failed, key=self.cost)
            if best is None or self.cost(start) < self.cost(best[1]):
                repaired = self.repair(start, curves, None if best is None else self.cost(best[1]))
                if repaired is not None and (best is None or self.cost(repaired) < self.cost(best[1])):
                    best = (-1, repaired)
        if best is None:
            return per_layer
        return self.descend(best[1], rounds)

    def repair(self, start, curves, ceiling=None):
        config = dict(start)
        drop = self.drops([config])[0]
        while drop > self.bound + EPS:
            if not config or (ceiling is not None and self.cost(config) >= ceiling):
                return None
            moves = []
            for n in sorted(config):
                ups = [i for i, _ in curves.get(n, []) if i > config[n]]
                moves.append(self.setting(config, n, min(ups) if ups else None))
            ds = self.drops(moves)
            here = self.cost(config)
            cands = [(m, d, max(self.cost(m) - here, 1)) for m, d in zip(moves, ds)]
            ok = [c for c in cands if c[1] <= self.bound + EPS]
            if ok:
                return min(ok, key=lambda c: c[2])[0]
            improving = [c for c in cands if c[1] < drop]
            if improving:
                step = max(improving, key=lambda c: ((drop - c[1]) / c[2], -c[2]))
            else:
                step = min(cands, key=lambda c: c[2])
            config, drop = step[0], step[1]
        return config

    def descend(self, start, rounds):
        config = dict(start)

        def lower(c, n, k=1):
            if n in c:
                return self.setting(c, n, c[n] - k) if c[n] - k >= 0 else None
            return self.setting(c, n, len(self.options[n]) - k) if len(self.options[n]) >= k else None

        def raise_(c, n, k):
            if n not in c:
                return None
            i = c[n] + k
            return self.setting(c, n, i if i < len(self.options[n]) else None)

        def cheapest_passing(configs):
            ok = [c for c, d in zip(configs, self.drops(configs)) if d <= self.bound + EPS]
            return min(ok, key=self.cost) if ok else None

        for _ in range(rounds):
            here = self.cost(config)
            moves = [m for m in (lower(config, n, k) for n in self.names for k in (1, 2, 4)) if m is not None]
            move = cheapest_passing(moves) if moves else None
            if move is not None and self.cost(move) < here:
                config = move
                continue
            swaps = []
            for up in self.names:
                for k in (1, 2, 4, 8):
                    r = raise_(config, up, k)
                    if r is None:
                        continue
                    for down in self.names:
                        if down == up:
                            continue
                        c = lower(r, down)
                        if c is not None and self.cost(c) < here and c not in swaps:
                            swaps.append(c)
            swaps = sorted(swaps, key=self.cost)[:48]
            swap = cheapest_passing(swaps) if swaps else None
            if swap is None:
                break
            config = swap
        return config

    def back_off(self, config, s):
        names = sorted(config)
        moves = []
        for n in names:
            i = config[n] + 1
            moves.append(self.setting(config, n, i if i < len(self.options[n]) else None))
        drop = self.drops([config], s)[0]
        ds = self.drops(moves, s)
        here = self.cost(config)
        added = [max(self.cost(m) - here, 1) for m in moves]
        idx = list(range(len(moves)))
        ok = [i for i in idx if ds[i] <= self.bound + EPS]
        if ok:
            return moves[min(ok, key=lambda i: added[i])]
        imp = [i for i in idx if ds[i] < drop]
        if imp:
            return moves[max(imp, key=lambda i: ((drop - ds[i]) / added[i], -added[i]))]
        alone = self.drops([{n: config[n]} for n in names])
        return moves[max(idx, key=lambda i: (alone[i], -added[i]))]

    def run(self):
        config = self.budget()
        for s in ("search", "full"):
            while not self.passes(config, s) and config:
                config = self.back_off(config, s)
        return config


def load_npz(path):
    d = np.load(path)
    return d["x"].astype(np.float32), d["y"].astype(np.int64)


def python_search(pipeline_path: str, out_onnx: str) -> dict:
    """Everything a user's script does: load, decompose, search, certify, export."""
    t0 = time.perf_counter()
    spec = yaml.safe_load(open(pipeline_path))
    base = os.path.dirname(os.path.abspath(pipeline_path))
    rules = list(spec.get("rules") or [])
    for imp in spec.get("imports") or []:
        rules += yaml.safe_load(open(os.path.join(base, imp))).get("rules") or []
    model_path = os.path.join(base, spec["model"])
    model_bytes = open(model_path, "rb").read()
    model = onnx.load_from_string(model_bytes)
    layers = load_layers(model)
    objective = (spec.get("search") or {}).get("objective", "macs")
    searchable = {}
    for name, l in layers.items():
        for r in rules:
            m = r.get("match") or {}
            if "name" in m and not __import__("fnmatch").fnmatchcase(name, m["name"]):
                continue
            if "op" in m and m["op"] != l.op:
                continue
            if "kernel" in m and (l.op != "Conv" or f"{l.weight.shape[2]}x{l.weight.shape[3]}" != str(m["kernel"])):
                continue
            if "min_params" in m and l.cost[0] < m["min_params"]:
                continue
            if r["method"] != "keep":
                if r.get("rank", "search") != "search":
                    raise SystemExit("this baseline searches every compressed layer (rank: search)")
                searchable[name] = (r["method"], r.get("fit", "weights"))
            break
    x, y = load_npz(os.path.join(base, spec["data"]["eval"]))
    n = spec["data"].get("search_subset", len(x))
    calib = load_npz(os.path.join(base, spec["data"].get("calibration", spec["data"]["eval"])))[0]
    bound = spec["accept"]["max_drop"]
    search = Search(model_bytes, layers, searchable, {"search": (x[:n], y[:n]), "full": (x, y)}, calib, objective, bound)
    config = search.run()
    chosen = {k: search.factor(k, v) for k, v in config.items()}
    with open(out_onnx, "wb") as f:
        f.write(rewrite(model_bytes, layers, chosen))
    metric = search.score(config, "full")
    wall = time.perf_counter() - t0
    p0, m0 = sum(l.cost[0] for l in layers.values()), sum(l.cost[1] for l in layers.values())
    return {
        "seconds": wall, "evaluations": search.evaluations, "baseline": search.ref["full"], "metric": metric,
        "passed": search.ref["full"] - metric <= bound + EPS,
        "params_reduction": p0 / search.cost(config, "params"), "macs_reduction": m0 / search.cost(config, "macs"),
        "ranks": {k: list(search.options[k][v][0]) for k, v in sorted(config.items())},
        "searchable": searchable,
    }


def shrink_cold(shrink: str, pipeline_path: str, jobs: int) -> dict:
    """`shrink run --jobs N` on a fresh copy of the pipeline's folder and the model's folder."""
    tmp = tempfile.mkdtemp(prefix="shrink-speed-")
    try:
        pipedir = os.path.dirname(os.path.abspath(pipeline_path))
        spec = yaml.safe_load(open(pipeline_path))
        rel = os.path.relpath(pipedir, ROOT)
        shutil.copytree(pipedir, os.path.join(tmp, rel), ignore=shutil.ignore_patterns(".shrink", "*.lock"))
        folder = os.path.dirname(os.path.normpath(os.path.join(pipedir, spec["model"])))
        shutil.copytree(folder, os.path.join(tmp, os.path.relpath(folder, ROOT)))
        path = os.path.join(tmp, rel, os.path.basename(pipeline_path))
        # A repository root, as in a checkout: Shrink writes outputs only inside the repository.
        subprocess.run(["git", "init", "-q", tmp], check=True)
        start = time.perf_counter()
        proc = subprocess.run([shrink, "run", "--jobs", str(jobs), "--variant", "main", path], cwd=tmp,
                              capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode not in (0, 1):
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"shrink run failed with {proc.returncode}")
        report_path = spec.get("export", {}).get("report", f"out/{spec['name']}.md")
        report = json.load(open(os.path.splitext(os.path.normpath(os.path.join(tmp, rel, report_path)))[0] + ".json"))
        return {"seconds": wall, "evaluations": int(report["search"]["evaluations"]), "metric": report["final"],
                "passed": report["passed"],
                "params_reduction": report["before"]["params"] / report["after"]["params"],
                "macs_reduction": report["before"]["macs"] / report["after"]["macs"],
                "ranks": {l["name"]: l.get("rank") for l in report["layers"] if l.get("rank")}}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", default=os.path.join(ROOT, "Benchmarks", "python", "search-lenet.yaml"))
    ap.add_argument("--shrink", default=os.path.join(ROOT, ".build", "release", "shrink"))
    ap.add_argument("--repeat", type=int, default=1, help="runs of each; the median is reported")
    ap.add_argument("--skip-shrink", action="store_true")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    import threadpoolctl
    blas = [(i.get("internal_api"), i.get("num_threads"), i.get("architecture")) for i in threadpoolctl.threadpool_info()]
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, onnxruntime {ort.__version__}, tensorly {tl.__version__}; "
          f"BLAS {blas}; imports {T_IMPORTS:.2f} s; cores {os.cpu_count()}", flush=True)
    out = tempfile.mkdtemp(prefix="py-search-")
    runs = {"python": [], "shrink-jobs1": [], "shrink-jobs2": []}
    for i in range(a.repeat):
        r = python_search(a.pipeline, os.path.join(out, "model.onnx"))
        runs["python"].append(r)
        print(f"python      {r['seconds']:7.2f} s  evals {r['evaluations']:4}  top1 {r['metric']:.3f}  "
              f"params {r['params_reduction']:.2f}×  MACs {r['macs_reduction']:.2f}×  {r['ranks']}", flush=True)
        if a.skip_shrink:
            continue
        for jobs in (1, 2):
            s = shrink_cold(os.path.abspath(a.shrink), os.path.abspath(a.pipeline), jobs)
            runs[f"shrink-jobs{jobs}"].append(s)
            print(f"shrink -j{jobs}   {s['seconds']:7.2f} s  evals {s['evaluations']:4}  top1 {s['metric']:.3f}  "
                  f"params {s['params_reduction']:.2f}×  MACs {s['macs_reduction']:.2f}×  {s['ranks']}", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    med = {k: float(np.median([r["seconds"] for r in v])) for k, v in runs.items() if v}
    print(json.dumps({"median_seconds": med}, indent=1))
    if not a.skip_shrink:
        print(f"python / shrink -j1 = {med['python'] / med['shrink-jobs1']:.2f}×   "
              f"python / shrink -j2 = {med['python'] / med['shrink-jobs2']:.2f}×   "
              f"shrink -j1 / -j2 = {med['shrink-jobs1'] / med['shrink-jobs2']:.2f}×")
    if a.json:
        json.dump({"runs": runs, "median_seconds": med, "imports_seconds": T_IMPORTS}, open(a.json, "w"), indent=1, default=str)


if __name__ == "__main__":
    main()

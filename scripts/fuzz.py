#!/usr/bin/env python3
"""Long fuzz run of the `shrink` binary on seeded, mutated inputs (the standard library only).

Three kinds of input, N of each:
  pipeline  mutated pipeline YAML  -> `shrink plan` (and `shrink run` on every --run-every-th)
  model     mutated ONNX models    -> `shrink inspect` and `shrink infer`
            (protobuf bytes, and the graph: node inputs/outputs/op types/attributes, initializer
            and input dimensions, opsets, new nodes fed with extreme constants)
  array     mutated .npy / .npz    -> `shrink eval` (and `shrink infer` for .npy)
            (header text, zip records, CRCs and sizes, NaN/Inf values, labels, raw bytes)

Every process gets --timeout seconds. A crash is a signal, an exit status >= 128, or 3 (internal
error); a hang is a timeout; any exit other than 0, 1 and 2 is reported. Inputs that crash, hang
or exit oddly are kept in --keep with the command that failed, so they can be replayed.

  swift build -c release -j 2 --product shrink
  nice -n 19 python3 scripts/fuzz.py --count 10000 --seed 1 --keep /tmp/shrink-fuzz

Exit status: 0 when there were no crashes, hangs or unexpected exits, else 1.
"""
import argparse
import collections
import io
import os
import random
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile

warnings.filterwarnings("ignore", module="zipfile")  # duplicate member names are a mutation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(ROOT, "Examples/lenet-mnist/model.onnx")
DATA = os.path.join(ROOT, "Tests/Fixtures/npy/bad/lenet_ok.npz")
OPS = os.path.join(ROOT, "Tests/Fixtures/onnx-ops")

# ---------------------------------------------------------------- protobuf wire format

def read_varint(b, i):
    shift = value = 0
    while True:
        if i >= len(b) or shift > 70:
            raise ValueError("bad varint")
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return value, i


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        if v:
            out.append(c | 0x80)
        else:
            out.append(c)
            return bytes(out)


def parse(b):
    """[[field, wire, value]]; value is an int (varint/fixed) or bytes (length-delimited)."""
    out, i = [], 0
    while i < len(b):
        key, i = read_varint(b, i)
        field, wire = key >> 3, key & 7
        if wire in (1, 5) and i + (8 if wire == 1 else 4) > len(b):
            raise ValueError("truncated fixed field")
        if wire == 0:
            v, i = read_varint(b, i)
        elif wire == 1:
            v, i = struct.unpack_from("<Q", b, i)[0], i + 8
        elif wire == 5:
            v, i = struct.unpack_from("<I", b, i)[0], i + 4
        elif wire == 2:
            n, i = read_varint(b, i)
            if i + n > len(b):
                raise ValueError("bad length")
            v, i = bytes(b[i:i + n]), i + n
        else:
            raise ValueError("bad wire type")
        out.append([field, wire, v])
    return out


def serialize(fields):
    out = bytearray()
    for field, wire, v in fields:
        out += varint(field << 3 | wire)
        if wire == 0:
            out += varint(v)
        elif wire == 1:
            out += struct.pack("<Q", v & ((1 << 64) - 1))
        elif wire == 5:
            out += struct.pack("<I", v & 0xFFFFFFFF)
        else:
            out += varint(len(v)) + v
    return bytes(out)


def edit(fields, field, fn):
    """Applies fn to the parsed sub-message of one random occurrence of `field`, in place."""
    idx = [k for k, f in enumerate(fields) if f[0] == field and f[1] == 2 and isinstance(f[2], bytes)]
    if not idx:
        return False
    k = R.choice(idx)
    sub = parse(fields[k][2])
    fn(sub)
    fields[k][2] = serialize(sub)
    return True


def string(s):
    return s.encode()

# ---------------------------------------------------------------- model mutations

OPS_LIST = ["Add", "Sub", "Mul", "Div", "Pow", "Relu", "Sigmoid", "Conv", "Gemm", "MatMul", "Reshape", "Flatten",
            "Concat", "Softmax", "LogSoftmax", "Split", "Slice", "Gather", "Pad", "Expand", "Tile", "Range",
            "ConstantOfShape", "Where", "Transpose", "Squeeze", "Unsqueeze", "MaxPool", "AveragePool",
            "GlobalAveragePool", "BatchNormalization", "LayerNormalization", "ReduceMean", "ReduceSum", "Clip",
            "Cast", "Shape", "Identity", "Dropout", "Max", "Sum", "Mean", "Einsum", "LSTM", "Equal", "Not", "Erf",
            "PRelu", "Gelu", "", "NoSuchOp"]
EXTREME = [0, 1, -1, 2, 3, 7, 255, 65536, 1 << 31, (1 << 31) - 1, 1 << 32, 1 << 40, 1 << 62, (1 << 63) - 1,
           -(1 << 31), -(1 << 62), -(1 << 63)]


def extreme():
    r = R.random()
    return R.choice(EXTREME) if r < 0.6 else (R.choice([1 << 62, (1 << 63) - 1, -(1 << 63)]) if r < 0.7 else R.randint(-10, 50))


def mutate_node(node):
    choice = R.randrange(7)
    inputs = [k for k, f in enumerate(node) if f[0] == 1]
    outputs = [k for k, f in enumerate(node) if f[0] == 2]
    if choice == 0 and inputs:
        del node[R.choice(inputs)]
    elif choice == 1:
        name = R.choice([node[k][2] for k in inputs] or [b"input"]) if R.random() < 0.7 else R.choice([b"", b"nope", b"input"])
        node.insert(R.choice(inputs) if inputs else 0, [1, 2, name])
    elif choice == 2 and inputs:
        node[R.choice(inputs)][2] = R.choice([b"", b"nope", b"input", b"logits", b"conv1.weight", b"fc2.bias"])
    elif choice == 3 and outputs:
        if R.random() < 0.5:
            del node[R.choice(outputs)]
        else:
            node[R.choice(outputs)][2] = R.choice([b"", b"input", b"logits", b"x2"])
    elif choice == 4:
        for f in node:
            if f[0] == 4:
                f[2] = string(R.choice(OPS_LIST))
    elif choice == 5:
        def attr(a):
            for f in a:
                if f[0] == 3 and f[1] == 0:
                    f[2] = extreme()
                elif f[0] == 8:
                    if f[1] == 0:
                        f[2] = extreme()
                    else:
                        f[2] = b"".join(varint(extreme()) for _ in range(R.randint(0, 6)))
                elif f[0] == 2 and f[1] == 5:
                    f[2] = R.choice([0x7FC00000, 0x7F800000, 0xFF800000, 0, R.getrandbits(32)])
        edit(node, 5, attr)
    else:
        # An attribute with an extreme value under a common name.
        name = R.choice([b"axis", b"axes", b"group", b"kernel_shape", b"strides", b"pads", b"perm", b"to", b"split",
                         b"transB", b"dilations", b"keepdims", b"alpha", b"epsilon", b"value"])
        if R.random() < 0.5:
            a = [[1, 2, name], [3, 0, extreme()], [20, 0, 2]]
        else:
            a = [[1, 2, name]] + [[8, 0, extreme()] for _ in range(R.randint(0, 5))] + [[20, 0, 7]]
        node.append([5, 2, serialize(a)])


def tensor_int64(name, values):
    return serialize([[1, 0, len(values)], [2, 0, 7], [8, 2, name], [9, 2, b"".join(struct.pack("<q", max(min(v, (1 << 63) - 1), -(1 << 63))) for v in values)]])


def mutate_graph(graph):
    nodes = [k for k, f in enumerate(graph) if f[0] == 1 and f[1] == 2]
    choice = R.randrange(10)
    if choice <= 2 and nodes:
        edit_node = R.choice(nodes)
        sub = parse(graph[edit_node][2])
        mutate_node(sub)
        graph[edit_node][2] = serialize(sub)
    elif choice == 3 and nodes:
        k = R.choice(nodes)
        if R.random() < 0.5:
            del graph[k]
        else:
            graph.insert(R.choice(nodes), list(graph[k]))
    elif choice == 4 and len(nodes) > 1:
        a, b = R.sample(nodes, 2)
        graph[a], graph[b] = graph[b], graph[a]
    elif choice == 5:
        def dims(t):
            ds = [k for k, f in enumerate(t) if f[0] == 1]
            if ds and R.random() < 0.7:
                t[R.choice(ds)][2] = extreme()
            elif R.random() < 0.5 and ds:
                del t[R.choice(ds)]
            else:
                for f in t:
                    if f[0] == 2:
                        f[2] = R.choice([0, 1, 2, 3, 6, 7, 9, 10, 11, 16, 99])
        edit(graph, 5, dims)
    elif choice == 6:
        def shape(vi):
            def typ(tp):
                def tensor(tt):
                    def sh(s):
                        def dim(d):
                            d[:] = [[1, 0, extreme()]] if R.random() < 0.8 else [[2, 2, b"n"]]
                        if not edit(s, 1, dim) or R.random() < 0.2:
                            s.append([1, 2, serialize([[1, 0, extreme()]])])
                    edit(tt, 2, sh)
                edit(tp, 1, tensor)
            edit(vi, 2, typ)
        edit(graph, R.choice([11, 12, 13]), shape)
    elif choice <= 8:
        # A new node fed by a graph value (often one a previous new node wrote, so they chain)
        # and a constant of extreme values; its output becomes a graph output, so `infer`
        # computes it.
        values = [b"input"]
        fresh = []
        for k in nodes:
            for f in parse(graph[k][2]):
                if f[0] == 2:
                    values.append(f[2])
                    if f[2].startswith(b"o"):
                        fresh.append(f[2])
        n = R.randrange(1 << 30)
        const = ("c%d" % n).encode()
        out = ("o%d" % n).encode()
        x = R.choice(fresh) if fresh and R.random() < 0.5 else R.choice(values)
        if R.random() < 0.3:
            floats = [R.choice([float("nan"), float("inf"), float("-inf"), 1e30, -1e30, 0.0, 1.0, -1.0, 3.5])
                      for _ in range(R.randint(1, 3))]
            graph.append([5, 2, serialize([[1, 0, len(floats)], [2, 0, 1], [8, 2, const],
                                           [9, 2, b"".join(struct.pack("<f", v) for v in floats)]])])
            op = R.choice(["Range", "Clip", "Pad", "Add", "Mul", "Div", "Pow", "Expand", "Where", "Max"])
        else:
            graph.append([5, 2, tensor_int64(const, [extreme() for _ in range(R.randint(0, 4))])])
            op = R.choice(["Reshape", "Expand", "Tile", "ConstantOfShape", "Range", "Slice", "Gather", "Pad",
                           "Unsqueeze", "Squeeze", "Split", "ReduceSum", "Transpose", "Concat", "Add", "Mul",
                           "Flatten", "Softmax", "Cast", "Shape"])
        ins = {"ConstantOfShape": [const], "Range": [const, const, const], "Clip": [x, const, const],
               "Where": [const, x, const], "Slice": [x, const, const] + ([const] * R.randint(0, 2))}.get(op, [x, const])
        outputs = [out] + ([out + b"b"] if op == "Split" and R.random() < 0.5 else [])
        node = [[1, 2, i] for i in ins] + [[2, 2, o] for o in outputs] + [[4, 2, string(op)]]
        if R.random() < 0.5:
            node.append([5, 2, serialize([[1, 2, R.choice([b"axis", b"axes", b"perm", b"to", b"mode"])], [3, 0, extreme()],
                                          [20, 0, 2]])])
        graph.append([1, 2, serialize(node)])
        for o in outputs:
            graph.append([12, 2, serialize([[1, 2, o]])])
    else:
        outs = [k for k, f in enumerate(graph) if f[0] == 12]
        if outs and R.random() < 0.5:
            del graph[R.choice(outs)]
        else:
            graph.append([12, 2, serialize([[1, 2, R.choice([b"nope", b"input", b"conv1.weight", b""])]])])


def mutate_model(data):
    b = bytearray(data)
    for _ in range(R.randint(1, 3)):
        if R.random() < 0.85:
            try:
                model = parse(bytes(b))
                r = R.random()
                if r < 0.85:
                    edit(model, 7, mutate_graph)
                elif r < 0.95:
                    def opset(o):
                        o[:] = [f for f in o if f[0] != 2] + [[2, 0, R.choice([1, 5, 7, 9, 10, 11, 12, 13, 18, 21, 1000, -1])]]
                    if not edit(model, 8, opset):
                        model.append([8, 2, serialize([[2, 0, 13]])])
                else:
                    model = [f for f in model if f[0] != 8]
                b = bytearray(serialize(model))
            except (ValueError, TypeError, IndexError, struct.error):
                pass  # earlier raw mutations left bytes that do not parse as the messages expected
        else:
            raw_mutation(b)
    return bytes(b)


def raw_mutation(b):
    r = R.randrange(5)
    if not b:
        b += bytes([R.randrange(256)])
        return
    at = R.randrange(len(b)) if R.random() < 0.5 else R.randrange(min(len(b), 512))
    if r == 0:
        b[at] ^= 1 << R.randrange(8)
    elif r == 1:
        b[at] = R.randrange(256)
    elif r == 2:
        del b[at:at + R.randint(1, 16)]
    elif r == 3:
        b[at:at] = bytes(R.randrange(256) for _ in range(R.randint(1, 8)))
    else:
        del b[at:]

# ---------------------------------------------------------------- array mutations

DESCRS = ["<f4", "<f8", "<i8", "<i4", "|u1", "|b1", ">f4", ">i8", "<f2", "|O", "<c8", "<U3", "|S5", "=f4", "f4", "<i2", "<u8"]


def npy_mutation(data):
    """Mutates the header text of .npy bytes (shape, dtype, order, lengths) or the payload."""
    if len(data) < 10 or data[:6] != b"\x93NUMPY":
        return data
    hl = 10 if data[6] == 1 else 12
    n = struct.unpack_from("<H" if hl == 10 else "<I", data, 8)[0]
    header, body = data[hl:hl + n].decode("latin1"), data[hl + n:]
    r = R.randrange(9)
    if r == 0:
        dims = [R.choice([0, 1, 2, 3, 8, 10, 28, 784, 1 << 31, 1 << 32, 1 << 62, (1 << 63) - 1, 1 << 64, -1, -8])
                for _ in range(R.randint(0, 5))]
        shape = "(" + "".join("%d, " % d for d in dims) + ")"
        header = re.sub(r"\(.*?\)", shape if R.random() < 0.9 else R.choice(["(x,)", "((1,2),)", "(1 2)", "[3]", "("]), header)
    elif r == 1:
        header = re.sub(r"'descr': '[^']*'", "'descr': '%s'" % R.choice(DESCRS), header)
    elif r == 2:
        header = header.replace("False", "True")
    elif r == 3:
        header = header[:R.randrange(len(header) + 1)]
    elif r == 4:
        hdr = bytearray(data[:hl])
        hdr[8:hl] = struct.pack("<H" if hl == 10 else "<I", R.choice([0, 1, 60, n + 16, 65535]) if hl == 10
                                else R.choice([0, 1, n + 16, 1 << 20, (1 << 32) - 1]))
        return bytes(hdr) + header.encode("latin1") + body
    elif r == 5:
        body = bytearray(body)
        for _ in range(R.randint(1, 4)):
            if len(body) >= 4:
                at = R.randrange(len(body) // 4) * 4
                body[at:at + 4] = struct.pack("<I", R.choice([0x7FC00000, 0x7F800000, 0xFF800000, 0x7F7FFFFF]))
        body = bytes(body)
    elif r == 6:
        body = body[:R.randrange(len(body) + 1)]
    elif r == 7:
        data = bytearray(data)
        data[6] = R.choice([0, 1, 2, 3, 4, 255])
        return bytes(data)
    else:
        header = header.replace("'shape'", R.choice(["'shap'", "'shape' 'shape'", "'shape': 1, 'shape'"]))
    raw = header.encode("latin1")
    return data[:8] + struct.pack("<H" if hl == 10 else "<I", len(raw) % (1 << (16 if hl == 10 else 32))) + raw + body


def labels_mutation(data):
    """Labels (int64 .npy) out of range, or of another dtype."""
    if len(data) < 136:
        return npy_mutation(data)
    b = bytearray(data)
    at = 128 + 8 * R.randrange((len(b) - 128) // 8)
    b[at:at + 8] = struct.pack("<q", R.choice([10, 11, -1, 1 << 40, -(1 << 63), 12345]))
    return bytes(b)


def zip_bytes(members, method):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
    return buf.getvalue()


def zip_record_mutation(b):
    """Overwrites a numeric field of a local header, directory entry or end record."""
    # (signature, {field offset: width}) for local headers, directory entries and the end record.
    sigs = [(b"PK\x03\x04", {6: 2, 8: 2, 14: 4, 18: 4, 22: 4, 26: 2, 28: 2}),
            (b"PK\x01\x02", {8: 2, 10: 2, 16: 4, 20: 4, 24: 4, 28: 2, 30: 2, 32: 2, 42: 4}),
            (b"PK\x05\x06", {8: 2, 10: 2, 12: 4, 16: 4, 20: 2})]
    sig, fields = R.choice(sigs)
    hits = [m.start() for m in re.finditer(re.escape(sig), bytes(b))]
    if not hits:
        raw_mutation(b)
        return
    offset = R.choice(sorted(fields))
    at, width = R.choice(hits) + offset, fields[offset]
    if at + width > len(b):
        return
    value = R.choice([0, 1, 2, 8, 12, 0xFFFF, 0xFFFFFFFF, R.getrandbits(32)])
    b[at:at + width] = struct.pack("<I" if width == 4 else "<H", value & ((1 << (8 * width)) - 1))[:width]


def mutate_npz(members):
    members = [list(m) for m in members]
    for _ in range(R.randint(1, 3)):
        r = R.randrange(6)
        k = R.randrange(len(members))
        if r <= 1:
            members[k][1] = npy_mutation(members[k][1])
        elif r == 2 and members[k][0] == "y.npy":
            members[k][1] = labels_mutation(members[k][1])
        elif r == 3:
            members[k][0] = R.choice(["x.npy", "y.npy", "z.npy", "x", "", "dir/", "../x.npy"])
        elif r == 4:
            members.append(list(R.choice(members)))
        else:
            del members[k]
            if not members:
                members = [["x.npy", b""]]
    b = bytearray(zip_bytes(members, R.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])))
    for _ in range(R.choice([0, 0, 1, 2])):
        if R.random() < 0.7:
            zip_record_mutation(b)
        else:
            raw_mutation(b)
    return bytes(b)

# ---------------------------------------------------------------- pipeline mutations

PIPELINES = [
    """shrink: 1
name: fixed
model: ../model/model.onnx
data:
  eval: ../model/val.npz
metric: top1
accept: { max_drop: 0.05 }
rules:
  - match: { name: conv2 }
    method: tucker2
    rank: [16, 8]
  - match: { name: fc1 }
    method: svd
    rank: 32
export:
  onnx: ../out/fixed.onnx
  report: ../out/fixed.md
""",
    """shrink: 1
name: searched
imports: [../recipes/cnn.yaml]
model: ../model/model.onnx
data:
  eval: ../model/val.npz
  search_subset: 4
metric: top5
accept: { max_drop: 0.5 }
search: { policy: greedy, objective: macs }
rules:
  - match: { op: Gemm, name: "fc*" }
    method: svd
    rank: { energy: 0.9 }
export:
  onnx: ../out/searched.onnx
  report: ../out/searched.md
""",
    """shrink: 1
name: variants
model: ../model/model.onnx
data:
  eval: { x: ../model/x.npy, y: ../model/y.npy }
metric: top1
accept: { max_drop: 10.0 }
rules:
  - match: { name: conv1 }
    method: spatial-svd
    rank: 2
  - match: { op: Conv }
    method: cp
    rank: 8
variants:
  small:
    rules: [{ match: { name: fc1 }, method: svd, rank: 0.1 }]
    export: { onnx: ../out/small.onnx, report: ../out/small.md }
export:
  onnx: ../out/variants.onnx
  report: ../out/variants.md
""",
]
RECIPE = """shrink: 1
rules:
  - match: { op: Conv, kernel: 5x5 }
    method: tucker2
    rank: [8, 8]
"""
TOKENS = [":", ": ", "-", "- ", " ", "  ", "\n", "\n  ", "{", "}", "[", "]", ",", "'", '"', "${", "${x}", "&a ", "*a",
          "!!int ", "!!binary ", "#", "\t", "? ", "---\n", "@", "`", "\u00e9", "\u0000", "\ufeff", "0x1F", "1e999", "-1",
          "99999999999999999999999", "0.0", ".inf", ".nan", "~", "null", "true", "<<: *a", "|\n  ", "rules", "method",
          "rank", "match", "imports", "variants", "search", "tucker2", "cp4", "[16, 8]", "{ energy: 2 }", "search_subset",
          "../model/val.npz", "../model/model.onnx", "/etc/passwd", "..", "keep", "budget", "binary", "params"]


def mutate_text(text):
    chars = list(text)
    for _ in range(R.randint(1, 4)):
        r = R.randrange(6)
        if r == 0 and chars:
            s = R.randrange(len(chars))
            del chars[s:s + R.randint(1, 12)]
        elif r == 1:
            at = R.randint(0, len(chars))
            chars[at:at] = list(R.choice(TOKENS))
        elif r in (2, 3):
            lines = "".join(chars).split("\n")
            if r == 2 and len(lines) > 1:
                a, b = R.randrange(len(lines)), R.randrange(len(lines))
                lines[a], lines[b] = lines[b], lines[a]
            else:
                lines.insert(R.randint(0, len(lines)), R.choice(lines))
            chars = list("\n".join(lines))
        elif r == 4 and chars:
            chars = chars[:R.randrange(len(chars))]
        elif chars:
            chars[R.randrange(len(chars))] = chr(R.randint(9, 126))
    return "".join(chars)

# ---------------------------------------------------------------- driver


class Stats:
    def __init__(self):
        self.inputs = collections.Counter()
        self.runs = collections.Counter()
        self.codes = collections.defaultdict(collections.Counter)
        self.bad = collections.Counter()
        self.hangs = collections.Counter()
        self.odd = collections.Counter()
        self.slowest = collections.defaultdict(float)
        self.skipped = collections.Counter()


MEMORY_LIMIT = 4 << 30


def limit_memory():
    # An address-space limit, so a model asking for a huge tensor meets shrink's own budget check
    # (MemoryBudget reads this limit) instead of the machine's other users' memory.
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run(stats, kind, args, cwd, keep, files, timeout):
    """Runs shrink; returns the exit code (None for a timeout) and records it."""
    stats.runs[kind] += 1
    started = time.time()
    try:
        p = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           preexec_fn=limit_memory)
        code = p.returncode
        err = p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        code, err = None, "timeout"
    elapsed = time.time() - started
    stats.slowest[kind] = max(stats.slowest[kind], elapsed)
    label = "timeout" if code is None else ("signal %d" % -code if code < 0 else str(code))
    stats.codes[kind][label] += 1
    crash = code is not None and (code < 0 or code >= 128 or code == 3)
    odd = code is not None and not crash and code not in (0, 1, 2)
    if code is None:
        stats.hangs[kind] += 1
    if crash:
        stats.bad[kind] += 1
    if odd:
        stats.odd[kind] += 1
    if code is None or crash or odd:
        n = sum(stats.bad.values()) + sum(stats.hangs.values()) + sum(stats.odd.values())
        dest = os.path.join(keep, "%s-%04d" % (kind, n))
        os.makedirs(dest, exist_ok=True)
        for f in files:
            shutil.copy(f, dest)
        with open(os.path.join(dest, "README.txt"), "w") as f:
            f.write("cwd: %s\ncommand: %s\nresult: %s after %.1f s\n\nstderr:\n%s\n" % (cwd, " ".join(args), label, elapsed, err[-4000:]))
        print("  !! %s: %s (%s) kept in %s" % (kind, label, " ".join(args[1:3]), dest), flush=True)
    return code


def one_input(stats, kind, i, a, work, shrink, lenet, op_seeds, seed_members, x_npy, y_npy):
    """Writes one mutated input of `kind` and runs shrink on it."""
    if kind == "pipeline":
        path = os.path.join(work, "pipelines/p.yaml")
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(mutate_text(R.choice(PIPELINES)))
        files = [path]
        run(stats, kind, [shrink, "plan", "pipelines/p.yaml", "--jobs", "1"], work, a.keep, files, a.timeout)
        if i % a.run_every == 0:
            run(stats, kind, [shrink, "run", "pipelines/p.yaml", "--jobs", "1"], work, a.keep, files, a.timeout)
    elif kind == "model":
        if R.random() < 0.5:
            seed, inputs = lenet, ["input=" + x_npy]
        else:
            seed, inputs = R.choice(op_seeds)
        path = os.path.join(work, "model/mutant.onnx")
        with open(path, "wb") as f:
            f.write(mutate_model(seed))
        run(stats, kind, [shrink, "inspect", path], work, a.keep, [path], a.timeout)
        args = [shrink, "infer", path, "--output", os.path.join(work, "out.npz"), "--threads", "1"]
        for spec in inputs:
            args += ["--input", spec]
        run(stats, kind, args, work, a.keep, [path], a.timeout)
    else:
        model = os.path.join(work, "model/model.onnx")
        r = R.random()
        if r < 0.6:
            path = os.path.join(work, "model/mutant.npz")
            with open(path, "wb") as f:
                f.write(mutate_npz(seed_members))
            metric = R.choice(["top1", "top5", "mse", "top1"])
            run(stats, kind, [shrink, "eval", model, "--data", path, "--metric", metric, "--threads", "1"],
                work, a.keep, [path], a.timeout)
        else:
            which = "x" if r < 0.85 else "y"
            src = dict(seed_members)[which + ".npy"]
            data = bytearray(npy_mutation(src) if which == "x" or R.random() < 0.5 else labels_mutation(src))
            if R.random() < 0.2:
                raw_mutation(data)
            path = os.path.join(work, "model/mutant.npy")
            with open(path, "wb") as f:
                f.write(data)
            xs, ys = (path, y_npy) if which == "x" else (x_npy, path)
            run(stats, kind, [shrink, "eval", model, "--data", xs, "--labels", ys, "--threads", "1"],
                work, a.keep, [path], a.timeout)
            if which == "x":
                run(stats, kind, [shrink, "infer", model, "--input", path, "--output",
                                  os.path.join(work, "out.npz"), "--threads", "1"], work, a.keep, [path], a.timeout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shrink", default=os.path.join(ROOT, ".build/release/shrink"))
    ap.add_argument("--count", type=int, default=1000, help="inputs of each kind")
    ap.add_argument("--kinds", default="pipeline,model,array")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--run-every", type=int, default=25, help="also `shrink run` every n-th pipeline")
    ap.add_argument("--keep", default=os.path.join(tempfile.gettempdir(), "shrink-fuzz-findings"))
    ap.add_argument("--progress", type=int, default=500)
    ap.add_argument("--memory-gb", type=float, default=4, help="address-space limit of each shrink process")
    a = ap.parse_args()
    global MEMORY_LIMIT
    MEMORY_LIMIT = int(a.memory_gb * (1 << 30))
    global R
    R = random.Random(a.seed)
    shrink = os.path.abspath(a.shrink)
    if not os.access(shrink, os.X_OK):
        sys.exit("no shrink binary at %s; build it with `swift build -c release -j 2 --product shrink`" % shrink)
    os.makedirs(a.keep, exist_ok=True)
    work = tempfile.mkdtemp(prefix="shrink-fuzz-")
    for d in [".git", "pipelines", "model", "recipes", "m"]:
        os.makedirs(os.path.join(work, d))
    shutil.copy(LENET, os.path.join(work, "model/model.onnx"))
    shutil.copy(DATA, os.path.join(work, "model/val.npz"))
    with zipfile.ZipFile(DATA) as z:
        seed_members = [(n, z.read(n)) for n in sorted(z.namelist())]
    for name, data in seed_members:
        with open(os.path.join(work, "model", name), "wb") as f:
            f.write(data)
    with open(os.path.join(work, "recipes/cnn.yaml"), "w") as f:
        f.write(RECIPE)
    x_npy = os.path.join(work, "model/x.npy")
    y_npy = os.path.join(work, "model/y.npy")
    lenet = open(LENET, "rb").read()
    # Op fixtures as model seeds, with their inputs for `infer` (members not starting with "out:").
    op_seeds = []
    for name in sorted(os.listdir(OPS)):
        if name.endswith(".onnx") and os.path.exists(os.path.join(OPS, name[:-5] + ".npz")):
            inputs = []
            with zipfile.ZipFile(os.path.join(OPS, name[:-5] + ".npz")) as z:
                for m in z.namelist():
                    if not m.startswith("out:"):
                        path = os.path.join(work, "m", "%s.%s" % (name[:-5], m))
                        with open(path, "wb") as f:
                            f.write(z.read(m))
                        inputs.append("%s=%s" % (m[:-4], path))
            op_seeds.append((open(os.path.join(OPS, name), "rb").read(), inputs))
    stats = Stats()
    kinds = a.kinds.split(",")
    if "pipeline" in kinds:
        # Run the seeds once, so the cache holds their load stages and `plan` of a mutant goes deeper.
        for text in PIPELINES:
            with open(os.path.join(work, "pipelines/p.yaml"), "w") as f:
                f.write(text)
            subprocess.run([shrink, "run", "pipelines/p.yaml", "--jobs", "1"], cwd=work, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=600)
    env_started = time.time()
    print("fuzzing %s: %d inputs of each of %s, seed %d, %g s timeout, work dir %s"
          % (shrink, a.count, ", ".join(kinds), a.seed, a.timeout, work), flush=True)
    for i in range(a.count):
        for kind in kinds:
            stats.inputs[kind] += 1
            while True:
                try:
                    one_input(stats, kind, i, a, work, shrink, lenet, op_seeds, seed_members, x_npy, y_npy)
                    break
                except (ValueError, TypeError, IndexError, KeyError, struct.error, zipfile.BadZipFile):
                    # The mutator could not produce an input (before running shrink): draw another.
                    stats.skipped[kind] += 1
        if (i + 1) % a.progress == 0:
            print("  %d/%d per kind after %.0f s: crashes %d, hangs %d, odd exits %d"
                  % (i + 1, a.count, time.time() - env_started, sum(stats.bad.values()), sum(stats.hangs.values()),
                     sum(stats.odd.values())), flush=True)
    print("\nkind      inputs  processes  crashes  hangs  other-exits  slowest  exit codes")
    for kind in kinds:
        codes = ", ".join("%s: %d" % (k, v) for k, v in sorted(stats.codes[kind].items()))
        print("%-9s %6d  %9d  %7d  %5d  %11d  %6.1fs  %s" % (kind, stats.inputs[kind], stats.runs[kind], stats.bad[kind],
                                                           stats.hangs[kind], stats.odd[kind], stats.slowest[kind], codes))
    if sum(stats.skipped.values()):
        print("mutants redrawn because the mutator failed (not counted): %s" % dict(stats.skipped))
    print("total %.0f s; findings (if any) in %s" % (time.time() - env_started, a.keep))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if sum(stats.bad.values()) + sum(stats.hangs.values()) + sum(stats.odd.values()) else 0


R = random.Random(0)

if __name__ == "__main__":
    sys.exit(main())

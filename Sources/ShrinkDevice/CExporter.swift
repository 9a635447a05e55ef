import Foundation

/// A generated C library: file names and contents, ready to write into a directory. Compiling
/// every `.c` file with `-I DIR` builds it.
public struct CLibrary: Sendable, Codable, Equatable {
    /// File name → contents (`model.h`, `model.c`, `shrink_kernels.h`, `shrink_kernels.c`).
    public var files: [String: String]
    /// The memory plan the code uses.
    public var plan: MemoryPlan
    /// True when the library has the int8 entry point.
    public var isInt8: Bool
    /// The kernels it contains.
    public var kernels: [KernelKind]
    /// The model input (one sample, ONNX layout).
    public var input: DeviceTensor
    /// The model output (one sample, ONNX layout).
    public var output: DeviceTensor

    /// The `.c` files, sorted.
    public var sources: [String] { files.keys.filter { $0.hasSuffix(".c") }.sorted() }

    /// Writes the files into `directory` (created if needed), replacing files of the same name.
    public func write(to directory: URL) throws(DeviceError) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for (name, text) in files {
                try Data(text.utf8).write(to: directory.appendingPathComponent(name), options: .atomic)
            }
        } catch {
            throw DeviceError(.io, "cannot write the C library (\(error.localizedDescription))", file: directory.path)
        }
    }
}

/// Writes a `DeviceModel` as a C99 library: `model.h` (the API), `model.c` (weights as
/// `static const` arrays, the arena, the layer calls), `shrink_kernels.h/.c` (the reference
/// kernels the model uses). No `malloc`, no stdio, no libm.
public enum CExporter {
    /// Exports `model`; `source` names where it came from in the generated comments.
    public static func export(_ model: DeviceModel, source: String = "model.onnx") throws(DeviceError) -> CLibrary {
        var e = Emitter(model: model, plan: MemoryPlan(model), source: source)
        return try e.run()
    }
}

/// The state of one export.
struct Emitter {
    let model: DeviceModel
    let plan: MemoryPlan
    let source: String
    var int8: Bool { model.isInt8 }
    var constants: [String] = []
    var params: [String] = []
    var calls: [String] = []
    var kernels = Set<KernelKind>()

    init(model: DeviceModel, plan: MemoryPlan, source: String) {
        self.model = model
        self.plan = plan
        self.source = source
    }

    // MARK: formatting

    static func cFloat(_ x: Float) throws(DeviceError) -> String {
        guard x.isFinite else { throw DeviceError(.unsupportedModel, "a parameter is \(x), which C cannot hold as a constant") }
        var s = "\(x)"
        if !s.contains(".") && !s.contains("e") { s += ".0" }
        return s + "f"
    }

    static func cInt(_ x: Int32) -> String {
        // INT32_MIN has no literal of type int32_t.
        x == Int32.min ? "(-2147483647 - 1)" : "\(x)"
    }

    static func array<T>(_ type: String, _ name: String, _ values: [T], _ format: (T) throws(DeviceError) -> String) throws(DeviceError) -> String {
        var lines = [String]()
        lines.reserveCapacity(values.count / 16 + 2)
        var i = 0
        while i < values.count {
            var parts = [String]()
            for v in values[i..<min(i + 16, values.count)] { parts.append(try format(v)) }
            lines.append("    " + parts.joined(separator: ", ") + ",")
            i += 16
        }
        return "static const \(type) \(name)[\(values.count)] = {\n" + lines.joined(separator: "\n") + "\n};\n"
    }

    static func comment(_ s: String) -> String {
        s.replacingOccurrences(of: "*/", with: "* /").replacingOccurrences(of: "\n", with: " ")
    }

    func shapeText(_ t: String) -> String { model.tensors[t]!.shape.map(String.init).joined(separator: "x") }

    func arenaRef(_ t: String) -> String {
        let off = plan.offsets[t]!
        return int8 ? "arena + \(off)" : "arena + \(off / 4)"
    }

    // MARK: layout transforms

    /// ONNX conv weights [O, I/g, kH, kW] → OHWI.
    static func ohwi<T>(_ w: [T], _ g: ConvGeometry) -> [T] {
        let cg = g.inPerGroup, kh = g.kernelH, kw = g.kernelW
        var out = w
        for o in 0..<g.outC { for c in 0..<cg { for i in 0..<kh { for j in 0..<kw {
            out[((o * kh + i) * kw + j) * cg + c] = w[((o * cg + c) * kh + i) * kw + j]
        } } } }
        return out
    }

    /// ONNX depthwise weights [O, 1, kH, kW] → [kH][kW][O].
    static func hwo<T>(_ w: [T], _ g: ConvGeometry) -> [T] {
        let kh = g.kernelH, kw = g.kernelW
        var out = w
        for o in 0..<g.outC { for i in 0..<kh { for j in 0..<kw {
            out[(i * kw + j) * g.outC + o] = w[(o * kh + i) * kw + j]
        } } }
        return out
    }

    /// Fully connected weights [out][in] with columns in the stored order of the input.
    static func permuteColumns<T>(_ w: [T], inputs: Int, outputs: Int, storage: Storage?) -> [T] {
        guard case .flattenedChannelsLast(let c, let h, let wd) = storage else { return w }
        var out = w
        for o in 0..<outputs {
            for y in 0..<h { for x in 0..<wd { for ch in 0..<c {
                out[o * inputs + (y * wd + x) * c + ch] = w[o * inputs + (ch * h + y) * wd + x]
            } } }
        }
        return out
    }

    // MARK: layers

    mutating func structInit(_ k: Int, _ kind: KernelKind, _ values: [String: String]) {
        let s = CKernels.params(kind, int8: int8)
        let fields = s.fields.map { "    .\($0.name) = \(values[$0.name]!)," }.joined(separator: "\n")
        params.append("static const \(s.name) shrink_l\(k) = {\n\(fields)\n};\n")
    }

    func convValues(_ g: ConvGeometry) -> [String: String] {
        [
            "in_h": "\(g.inH)", "in_w": "\(g.inW)", "in_c": "\(g.inC)", "out_h": "\(g.outH)", "out_w": "\(g.outW)",
            "out_c": "\(g.outC)", "k_h": "\(g.kernelH)", "k_w": "\(g.kernelW)", "stride_h": "\(g.strideH)",
            "stride_w": "\(g.strideW)", "pad_top": "\(g.padTop)", "pad_left": "\(g.padLeft)", "dil_h": "\(g.dilationH)",
            "dil_w": "\(g.dilationW)", "groups": "\(g.group)",
        ]
    }

    func poolValues(_ g: PoolGeometry, countIncludePad: Bool) -> [String: String] {
        [
            "in_h": "\(g.inH)", "in_w": "\(g.inW)", "channels": "\(g.channels)", "out_h": "\(g.outH)", "out_w": "\(g.outW)",
            "k_h": "\(g.kernelH)", "k_w": "\(g.kernelW)", "stride_h": "\(g.strideH)", "stride_w": "\(g.strideW)",
            "pad_top": "\(g.padTop)", "pad_left": "\(g.padLeft)", "count_include_pad": countIncludePad ? "1" : "0",
        ]
    }

    func floatBounds(_ a: Activation) throws(DeviceError) -> [String: String] {
        let (lo, hi) = a.bounds
        return ["act_min": lo.isFinite ? try Self.cFloat(lo) : "-3.40282347e+38f",
                "act_max": hi.isFinite ? try Self.cFloat(hi) : "3.40282347e+38f"]
    }

    mutating func call(_ k: Int, _ kind: KernelKind, name: String, nodes: [String], inputs: [String], output: String) {
        kernels.insert(kind)
        let shapes = inputs.map(shapeText).joined(separator: " + ")
        calls.append("    /* \(k): \(Self.comment(name)) (\(Self.comment(nodes.joined(separator: ", ")))) \(shapes) -> \(shapeText(output)) */")
        let args = inputs.map(arenaRef) + [arenaRef(output)]
        calls.append("    \(CKernels.function(kind, int8: int8))(&shrink_l\(k), \(args.joined(separator: ", ")));")
    }

    mutating func reorder(_ k: Int, name: String, nodes: [String], input: String, output: String) {
        guard let (c, h, w) = plan.storage[input]?.permutedMap else { return }
        structInit(k, .reshape, ["h": "\(h)", "w": "\(w)", "c": "\(c)"])
        call(k, .reshape, name: name, nodes: nodes, inputs: [input], output: output)
    }

    mutating func emitInt8(_ q: QuantizedModel) throws(DeviceError) {
        for (k, l) in q.layers.enumerated() {
            let inQ = q.quantization[l.inputs[0]]!, outQ = q.quantization[l.output]!
            let p = "shrink_l\(k)"
            switch l.op {
            case .conv(let g, let w, _, let bias, let requant, let clamp):
                let layout = g.isDepthwise ? Self.hwo(w, g) : Self.ohwi(w, g)
                constants.append(try Self.array("int8_t", "\(p)_weights", layout) { "\($0)" })
                if let bias { constants.append(try Self.array("int32_t", "\(p)_bias", bias) { Self.cInt($0) }) }
                constants.append(try Self.array("int32_t", "\(p)_multiplier", requant.map(\.multiplier)) { Self.cInt($0) })
                constants.append(try Self.array("int32_t", "\(p)_shift", requant.map(\.shift)) { Self.cInt($0) })
                var v = convValues(g)
                v["weights"] = "\(p)_weights"
                v["bias"] = bias == nil ? "0" : "\(p)_bias"
                v["multiplier"] = "\(p)_multiplier"
                v["shift"] = "\(p)_shift"
                v["input_offset"] = "\(-inQ.zeroPoint)"
                v["output_offset"] = "\(outQ.zeroPoint)"
                v["act_min"] = "\(clamp.min)"
                v["act_max"] = "\(clamp.max)"
                structInit(k, l.op.kernel, v)
                call(k, l.op.kernel, name: l.name, nodes: l.nodes, inputs: l.inputs, output: l.output)
            case .fullyConnected(let i, let o, let w, _, let bias, let r, let clamp):
                let cols = Self.permuteColumns(w, inputs: i, outputs: o, storage: plan.storage[l.inputs[0]])
                constants.append(try Self.array("int8_t", "\(p)_weights", cols) { "\($0)" })
                if let bias { constants.append(try Self.array("int32_t", "\(p)_bias", bias) { Self.cInt($0) }) }
                structInit(k, .fullyConnected, [
                    "weights": "\(p)_weights", "bias": bias == nil ? "0" : "\(p)_bias", "in_n": "\(i)", "out_n": "\(o)",
                    "input_offset": "\(-inQ.zeroPoint)", "output_offset": "\(outQ.zeroPoint)",
                    "multiplier": Self.cInt(r.multiplier), "shift": "\(r.shift)", "act_min": "\(clamp.min)", "act_max": "\(clamp.max)",
                ])
                call(k, .fullyConnected, name: l.name, nodes: l.nodes, inputs: l.inputs, output: l.output)
            case .maxPool(let g, let clamp), .averagePool(let g, _, let clamp):
                var cip = false
                if case .averagePool(_, let c, _) = l.op { cip = c }
                var v = poolValues(g, countIncludePad: cip)
                v["zero_point"] = "\(inQ.zeroPoint)"
                v["act_min"] = "\(clamp.min)"
                v["act_max"] = "\(clamp.max)"
                structInit(k, l.op.kernel, v)
                call(k, l.op.kernel, name: l.name, nodes: l.nodes, inputs: l.inputs, output: l.output)
            case .add(let a):
                let in2 = q.quantization[l.inputs[1]]!
                structInit(k, .add, [
                    "size": "\(q.tensors[l.output]!.count)", "in1_offset": "\(-inQ.zeroPoint)",
                    "in1_mult": Self.cInt(a.input1.multiplier), "in1_shift": "\(a.input1.shift)",
                    "in2_offset": "\(-in2.zeroPoint)", "in2_mult": Self.cInt(a.input2.multiplier), "in2_shift": "\(a.input2.shift)",
                    "left_shift": "\(a.leftShift)", "out_offset": "\(outQ.zeroPoint)", "out_mult": Self.cInt(a.output.multiplier),
                    "out_shift": "\(a.output.shift)", "act_min": "\(a.clamp.min)", "act_max": "\(a.clamp.max)",
                ])
                call(k, .add, name: l.name, nodes: l.nodes, inputs: l.inputs, output: l.output)
            case .clamp(let c):
                structInit(k, .clamp, ["size": "\(q.tensors[l.output]!.count)", "act_min": "\(c.min)", "act_max": "\(c.max)"])
                call(k, .clamp, name: l.name, nodes: l.nodes, inputs: l.inputs, output: l.output)
            case .lookup(_, let table):
                constants.append(try Self.array("int8_t", "\(p)_table", table) { "\($0)" })
                structInit(k, .lookup, ["table": "\(p)_table", "size": "\(q.tensors[l.output]!.count)"])
                call(k, .lookup, name: l.name, nodes: l.nodes, inputs: l.inputs, output: l.output)
            case .mul(let r, let c, let perChannel):
                let in2 = q.quantization[l.inputs[1]]!
                structInit(k, .mul, [
                    "size": "\(q.tensors[l.output]!.count)", "channels": perChannel ? "\(q.tensors[l.inputs[1]]!.count)" : "0",
                    "in1_offset": "\(-inQ.zeroPoint)", "in2_offset": "\(-in2.zeroPoint)", "out_offset": "\(outQ.zeroPoint)",
                    "out_mult": Self.cInt(r.multiplier), "out_shift": "\(r.shift)", "act_min": "\(c.min)", "act_max": "\(c.max)",
                ])
                call(k, .mul, name: l.name, nodes: l.nodes, inputs: l.inputs, output: l.output)
            case .reshape:
                if !plan.aliases.contains(k) { reorder(k, name: l.name, nodes: l.nodes, input: l.inputs[0], output: l.output) }
            }
        }
    }

    mutating func emitFloat(_ d: DeviceGraph) throws(DeviceError) {
        for (k, l) in d.layers.enumerated() {
            let p = "shrink_l\(k)"
            switch l.op {
            case .conv(let g, let w, let bias, let act):
                let layout = g.isDepthwise ? Self.hwo(w, g) : Self.ohwi(w, g)
                constants.append(try Self.array("float", "\(p)_weights", layout, Self.cFloat))
                if let bias { constants.append(try Self.array("float", "\(p)_bias", bias, Self.cFloat)) }
                var v = convValues(g).merging(try floatBounds(act)) { a, _ in a }
                v["weights"] = "\(p)_weights"
                v["bias"] = bias == nil ? "0" : "\(p)_bias"
                structInit(k, l.op.kernel, v)
                call(k, l.op.kernel, name: l.name, nodes: l.nodes, inputs: l.inputs, output: l.output)
            case .fullyConnected(let i, let o, let w, let bias, let act):
                let cols = Self.permuteColumns(w, inputs: i, outputs: o, storage: plan.storage[l.inputs[0]])
                constants.append(try Self.array("float", "\(p)_weights", cols, Self.cFloat))
                if let bias { constants.append(try Self.array("float", "\(p)_bias", bias, Self.cFloat)) }
                var v = try floatBounds(act)
                v["weights"] = "\(p)_weights"
                v["bias"] = bias == nil ? "0" : "\(p)_bias"
                v["in_n"] = "\(i)"
                v["out_n"] = "\(o)"
                structInit(k, .fullyConnected, v)
                call(k, .fullyConnected, name: l.name, nodes: l.nodes, inputs: l.inputs, output: l.output)
            case .maxPool(let g):
                structInit(k, .maxPool, poolValues(g, countIncludePad: false))
                call(k, .maxPool, name: l.name, nodes: l.nodes, inputs: l.inputs, output: l.output)
            case .averagePool(let g, let cip):
                structInit(k, .averagePool, poolValues(g, countIncludePad: cip))
                call(k, .averagePool, name: l.name, nodes: l.nodes, inputs: l.inputs, output: l.output)
            case .add(let act), .clamp(let act):
                var v = try floatBounds(act)
                v["size"] = "\(d.tensors[l.output]!.count)"
                structInit(k, l.op.kernel, v)
                call(k, l.op.kernel, name: l.name, nodes: l.nodes, inputs: l.inputs, output: l.output)
            case .lookup(let f):
                var v = ["size": "\(d.tensors[l.output]!.count)", "alpha": "0.0f", "beta": "0.0f"]
                switch f {
                case .hardSwish: v["function"] = "0"
                case .hardSigmoid(let a, let b): (v["function"], v["alpha"], v["beta"]) = ("1", try Self.cFloat(a), try Self.cFloat(b))
                case .leakyRelu(let a): (v["function"], v["alpha"]) = ("2", try Self.cFloat(a))
                }
                structInit(k, .lookup, v)
                call(k, .lookup, name: l.name, nodes: l.nodes, inputs: l.inputs, output: l.output)
            case .mul(let act):
                let channels = d.tensors[l.inputs[1]]!.count == d.tensors[l.inputs[0]]!.count ? 0 : d.tensors[l.inputs[1]]!.count
                var v = try floatBounds(act)
                v["size"] = "\(d.tensors[l.output]!.count)"
                v["channels"] = "\(channels)"
                structInit(k, .mul, v)
                call(k, .mul, name: l.name, nodes: l.nodes, inputs: l.inputs, output: l.output)
            case .reshape:
                if !plan.aliases.contains(k) { reorder(k, name: l.name, nodes: l.nodes, input: l.inputs[0], output: l.output) }
            }
        }
    }

    // MARK: files

    mutating func run() throws(DeviceError) -> CLibrary {
        switch model {
        case .int8(let q): try emitInt8(q)
        case .float(let d): try emitFloat(d)
        }
        let used = kernels.sorted()
        return CLibrary(files: [
            "model.h": header(),
            "model.c": modelSource(),
            "shrink_kernels.h": kernelsHeader(used),
            "shrink_kernels.c": kernelsSource(used),
        ], plan: plan, isInt8: int8, kernels: used, input: model.input, output: model.output)
    }

    func banner(_ what: String) -> String {
        "/* \(what)\n * Generated by shrink from \(Self.comment(source)); do not edit, export again instead. */\n"
    }

    func header() -> String {
        let inT = model.input, outT = model.output
        var lines = [banner("The model's C API.")]
        lines.append("""
        #ifndef SHRINK_MODEL_H
        #define SHRINK_MODEL_H

        #include <stdint.h>

        #ifdef __cplusplus
        extern "C" {
        #endif

        /*
         * Input:  '\(Self.comment(inT.name))', one sample of shape [\(inT.shape.map(String.init).joined(separator: ", "))] (the ONNX model's input
         *         without the batch dimension, row-major).
         * Output: '\(Self.comment(outT.name))', one sample of shape [\(outT.shape.map(String.init).joined(separator: ", "))], row-major.
        """)
        for n in model.notes { lines.append(" * Note: \(Self.comment(n)).") }
        lines.append("""
         *
         * NOT REENTRANT: every activation lives in one static arena of SHRINK_MODEL_ARENA_SIZE bytes
         * inside the library, so run one inference at a time (no concurrent calls from threads or
         * interrupts). No malloc, no stdio\(int8 ? ", no libm" : "").
         */

        /* Elements of one input and one output sample. */
        #define SHRINK_MODEL_INPUT_SIZE \(inT.count)
        #define SHRINK_MODEL_OUTPUT_SIZE \(outT.count)
        /* Bytes of the static activation arena. */
        #define SHRINK_MODEL_ARENA_SIZE \(plan.arenaBytes)

        """)
        if case .int8(let q) = model {
            let iq = q.inputQuantization, oq = q.outputQuantization
            lines.append("""
            /* int8 quantisation of the input and output: real = scale * (q - zero_point). */
            #define SHRINK_MODEL_INPUT_SCALE \((try? Self.cFloat(iq.scale)) ?? "1.0f")
            #define SHRINK_MODEL_INPUT_ZERO_POINT \(iq.zeroPoint)
            #define SHRINK_MODEL_OUTPUT_SCALE \((try? Self.cFloat(oq.scale)) ?? "1.0f")
            #define SHRINK_MODEL_OUTPUT_ZERO_POINT \(oq.zeroPoint)

            /* Runs one sample: input quantised as ONNX QuantizeLinear does (x / scale rounded half to
               even, plus the zero point, saturated), output dequantised ((q - zero_point) * scale).
               Returns 0 on success, -1 for a NULL pointer. */
            int shrink_model_run(const float *input, float *output);

            /* Runs one already-quantised sample. Returns 0 on success, -1 for a NULL pointer. */
            int shrink_model_run_int8(const int8_t *input, int8_t *output);

            """)
        } else {
            lines.append("""
            /* Runs one float32 sample. Returns 0 on success, -1 for a NULL pointer. */
            int shrink_model_run(const float *input, float *output);

            """)
        }
        lines.append("""
        #ifdef __cplusplus
        }
        #endif

        #endif /* SHRINK_MODEL_H */

        """)
        return lines.joined(separator: "\n")
    }

    /// A loop copying between ONNX order (`onnx`) and stored order (`stored`) through `body`,
    /// which gets the ONNX index `i` and the stored index `j` as C expressions.
    func layoutLoop(_ storage: Storage, count: Int, body: (String, String) -> String) -> String {
        guard let (c, h, w) = storage.permutedMap else {
            return """
                for (i = 0; i < \(count); i++) {
                    \(body("i", "i"))
                }
            """
        }
        let hw = h * w
        return """
            for (c = 0; c < \(c); c++) {
                for (i = 0; i < \(hw); i++) {
                    \(body("c * \(hw) + i", "i * \(c) + c"))
                }
            }
        """
    }

    func modelSource() -> String {
        let inT = model.input, outT = model.output
        let inOff = plan.offsets[inT.name]!, outOff = plan.offsets[outT.name]!
        let inStore = plan.storage[inT.name] ?? .onnx, outStore = plan.storage[outT.name] ?? .onnx
        let words = (plan.arenaBytes + 3) / 4
        let t = int8 ? "int8_t" : "float"
        var s = banner("Weights, the activation arena and the layer sequence.")
        s += "#include \"model.h\"\n#include \"shrink_kernels.h\"\n\n"
        s += "/* The activation arena (\(plan.arenaBytes) bytes), planned at export time: tensors whose lifetimes overlap never share bytes. */\n"
        s += "static \(int8 ? "int32_t" : "float") shrink_arena[\(max(words, 1))];\n\n"
        s += constants.joined(separator: "\n") + "\n" + params.joined(separator: "\n") + "\n"
        s += "static void shrink_model_layers(\(t) *arena)\n{\n" + calls.joined(separator: "\n") + "\n}\n\n"
        // `c` is declared only when a copy reorders (an unused variable would fail -Werror).
        let decl = inStore.permutedMap != nil || outStore.permutedMap != nil ? "int32_t c, i;" : "int32_t i;"
        let inBase = int8 ? "\(inOff)" : "\(inOff / 4)", outBase = int8 ? "\(outOff)" : "\(outOff / 4)"
        if int8 {
            s += """
            /* QuantizeLinear: x / scale rounded half to even (without libm), plus the zero point, saturated. */
            static int8_t shrink_quantize_input(float x)
            {
                float v = x / SHRINK_MODEL_INPUT_SCALE;
                float frac;
                int32_t r;
                if (v != v) {
                    return (int8_t)SHRINK_MODEL_INPUT_ZERO_POINT;
                }
                if (v > 1024.0f) {
                    v = 1024.0f;
                }
                if (v < -1024.0f) {
                    v = -1024.0f;
                }
                r = (int32_t)v;
                frac = v - (float)r;
                if (frac > 0.5f || (frac == 0.5f && (r & 1) != 0)) {
                    r++;
                } else if (frac < -0.5f || (frac == -0.5f && (r & 1) != 0)) {
                    r--;
                }
                r += SHRINK_MODEL_INPUT_ZERO_POINT;
                return (int8_t)(r < -128 ? -128 : (r > 127 ? 127 : r));
            }

            int shrink_model_run_int8(const int8_t *input, int8_t *output)
            {
                int8_t *arena = (int8_t *)shrink_arena;
                \(decl)
                if (input == 0 || output == 0) {
                    return -1;
                }
            \(layoutLoop(inStore, count: inT.count) { i, j in "arena[\(inBase) + \(j)] = input[\(i)];" })
                shrink_model_layers(arena);
            \(layoutLoop(outStore, count: outT.count) { i, j in "output[\(i)] = arena[\(outBase) + \(j)];" })
                return 0;
            }

            int shrink_model_run(const float *input, float *output)
            {
                int8_t *arena = (int8_t *)shrink_arena;
                \(decl)
                if (input == 0 || output == 0) {
                    return -1;
                }
            \(layoutLoop(inStore, count: inT.count) { i, j in "arena[\(inBase) + \(j)] = shrink_quantize_input(input[\(i)]);" })
                shrink_model_layers(arena);
            \(layoutLoop(outStore, count: outT.count) { i, j in
                "output[\(i)] = (float)((int32_t)arena[\(outBase) + \(j)] - SHRINK_MODEL_OUTPUT_ZERO_POINT) * SHRINK_MODEL_OUTPUT_SCALE;" })
                return 0;
            }

            """
        } else {
            s += """
            int shrink_model_run(const float *input, float *output)
            {
                float *arena = shrink_arena;
                \(decl)
                if (input == 0 || output == 0) {
                    return -1;
                }
            \(layoutLoop(inStore, count: inT.count) { i, j in "arena[\(inBase) + \(j)] = input[\(i)];" })
                shrink_model_layers(arena);
            \(layoutLoop(outStore, count: outT.count) { i, j in "output[\(i)] = arena[\(outBase) + \(j)];" })
                return 0;
            }

            """
        }
        return s
    }

    func kernelsHeader(_ used: [KernelKind]) -> String {
        var s = banner("The reference kernels this model uses (internal; see model.h for the API).")
        s += "#ifndef SHRINK_KERNELS_H\n#define SHRINK_KERNELS_H\n\n#include <stdint.h>\n\n"
        var seen = Set<String>()
        for k in used {
            let p = CKernels.params(k, int8: int8)
            if seen.insert(p.name).inserted { s += p.definition + "\n" }
        }
        for k in used { s += CKernels.prototype(k, int8: int8) + ";\n" }
        s += "\n#endif /* SHRINK_KERNELS_H */\n"
        return s
    }

    func kernelsSource(_ used: [KernelKind]) -> String {
        var s = banner(int8
            ? "Reference int8 kernels with the arithmetic of CMSIS-NN's s8 kernels (NHWC activations)."
            : "Reference float32 kernels (NHWC activations).")
        s += "#include \"shrink_kernels.h\"\n\n"
        if int8 {
            if used.contains(where: CKernels.needsRequantize) {
                s += CKernels.requantize + "\n"
            } else if used.contains(where: CKernels.needsClamp) {
                // Only the clamp helper (a model of pools and clamps only).
                s += String(CKernels.requantize[CKernels.requantize.range(of: "static int8_t shrink_clamp_to_s8")!.lowerBound...]) + "\n"
            }
        } else if used.contains(where: CKernels.needsClampF32) {
            s += CKernels.clampF32Helper + "\n"
        }
        for k in used { s += CKernels.source(k, int8: int8) }
        return s
    }
}

/// Shape rules beyond the ops the runtime runs: upsampling (`Resize`, `Upsample`,
/// `ConvTranspose`), recurrent layers (`LSTM`, `GRU`, `RNN`), control flow (`If`) and the
/// cheap standard ops exporters emit. Costing uses these rules, never the engine, so a model with
/// an op the engine lacks still loads and its layers are costed.
let moreShapeInferenceOps: Set<String> = [
    "Resize", "Upsample", "ConvTranspose", "LSTM", "GRU", "RNN", "If", "Size",
    "And", "Or", "Xor", "BitShift",
    "Sign", "Round", "IsNaN", "IsInf", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
    "Celu", "ThresholdedRelu", "Shrink", "Hardmax", "LRN", "MeanVarianceNormalization", "InstanceNormalization",
    "LpNormalization", "CumSum", "EyeLike", "Trilu", "ScatterND", "ScatterElements", "GatherElements",
    "ArgMax", "ArgMin", "TopK", "DepthToSpace", "SpaceToDepth", "QuantizeLinear", "DequantizeLinear",
    "GlobalLpPool", "LpPool", "OneHot", "GroupNormalization",
]

extension ShapeContext {
    /// Records the shapes, types and small constant values of `g`'s initializers.
    mutating func register(initializersOf g: Graph) {
        for (name, value) in g.initializers {
            shapes[name] = value.shape
            types[name] = value.elementType
            if value.elementType != .float && value.elementType != .double && value.count <= Self.foldLimit {
                constants[name] = value
            } else if let f = value.floatTensor, value.count <= Self.foldLimit {
                floatConstants[name] = f.scalars.map(Double.init)
                if value.count == 1 { floatScalars[name] = Double(f.scalars[0]) }
            }
        }
    }

    /// Infers every node of `g` in topological order; `outerScope` names the enclosing graphs'
    /// values its nodes may read.
    mutating func inferNodes(of g: Graph, outerScope: Set<String>) throws(GraphError) {
        for i in try g.topologicalOrder(outerScope: outerScope) {
            let node = g.nodes[i]
            let known = try infer(node, opset: g.opsetVersion(domain: node.domain) ?? g.opsetVersion() ?? 13)
            // Dimensions stay below 2^31 with a product that fits an Int, so the arithmetic of the
            // next nodes (a dimension times an attribute, sums of dimensions) cannot overflow.
            for o in node.outputs where !o.isEmpty {
                if let s = shapes[o], !Self.isAddressable(s) {
                    throw GraphError(.shapeInference,
                                     "cannot infer shapes at node \(node.displayName) (\(node.opType)): its output '\(o)' would have shape \(s), too large to address")
                }
            }
            if !known {
                // An op without a rule: the file's own annotations (exporters usually write
                // value_info) give its outputs when they are fixed, so the layers after it are
                // still costed. The op stays listed as skipped.
                for o in node.outputs where !o.isEmpty && shapes[o] == nil {
                    guard let d = g.declaredValue(o), let dims = d.shape else { continue }
                    var fixed: [Int] = []
                    for (k, dim) in dims.enumerated() {
                        if let v = dim.fixed { fixed.append(v) } else if k == 0, let b = batchForDeclarations { fixed.append(b) } else { break }
                    }
                    guard fixed.count == dims.count, Self.isAddressable(fixed) else { continue }
                    shapes[o] = fixed
                    if let t = d.elementType { types[o] = t }
                }
                skipped.append(node.displayName)
                if !unsupported.contains(node.opType) { unsupported.append(node.opType) }
            }
        }
    }

    /// Input `i`'s small float constant, nil when absent or unknown.
    func floatConstant(_ node: Node, _ i: Int) -> [Double]? {
        guard let v = node.input(i) else { return nil }
        if let f = floatConstants[v] { return f }
        return constants[v]?.intValues?.map(Double.init)
    }

    /// Copies what is known about value `from` to `to`.
    mutating func alias(_ to: String, _ from: String) {
        guard !to.isEmpty else { return }
        shapes[to] = shapes[from]
        types[to] = types[from]
        constants[to] = constants[from]
        floatConstants[to] = floatConstants[from]
        floatScalars[to] = floatScalars[from]
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    mutating func inferMore(_ node: Node, opset: Int) throws(any Error) {
        switch node.opType {
        case "Sign", "Round", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Celu",
             "ThresholdedRelu", "Shrink", "Hardmax", "LRN", "MeanVarianceNormalization", "LpNormalization", "CumSum",
             "EyeLike", "Trilu", "ScatterND", "ScatterElements":
            set(node, try shape(node, 0))
        case "IsNaN", "IsInf":
            set(node, try shape(node, 0), type: .bool)
        case "InstanceNormalization", "GroupNormalization":
            let s = try shape(node, 0)
            guard s.count >= 2 else { throw fail(node, "input rank \(s.count) < 2") }
            set(node, s)
        case "GatherElements":
            _ = try shape(node, 0)
            set(node, try shape(node, 1), type: node.input(0).flatMap { types[$0] })
        case "And", "Or", "Xor":
            set(node, try broadcast(node, try shape(node, 0), try shape(node, 1)), type: .bool)
        case "BitShift":
            set(node, try broadcast(node, try shape(node, 0), try shape(node, 1)))
        case "Size":
            let s = try shape(node, 0)
            let n = try product(node, s)
            set(node, [], type: .int64)
            constants[node.outputs[0]] = .int64(shape: [], values: [Int64(n)])
        case "ArgMax", "ArgMin":
            let s = try shape(node, 0)
            let a = try axis(node, try node.int("axis", default: 0), rank: s.count)
            var out = s
            if try node.int("keepdims", default: 1) != 0 { out[a] = 1 } else { out.remove(at: a) }
            set(node, out, type: .int64)
        case "TopK":
            let s = try shape(node, 0)
            let a = try axis(node, try node.int("axis", default: -1), rank: s.count)
            let k: Int
            if opset < 10 {
                guard let v = try node.int("k") else { throw fail(node, "attribute 'k' is missing") }
                k = v
            } else {
                guard let v = intConstant(node, 1)?.first else { throw Unknown.value }
                k = v
            }
            guard k >= 0, k <= s[a] else { throw fail(node, "k = \(k) is out of range for axis size \(s[a])") }
            var out = s
            out[a] = k
            set(node, out)
            set(node, out, type: .int64, output: 1)
        case "DepthToSpace", "SpaceToDepth":
            let s = try shape(node, 0)
            guard s.count == 4 else { throw fail(node, "input must be 4-D, got \(s)") }
            guard let b = try node.int("blocksize"), b >= 1, b <= 1 << 16 else { throw fail(node, "blocksize missing or out of range") }
            if node.opType == "DepthToSpace" {
                guard s[1] % (b * b) == 0 else { throw fail(node, "channels \(s[1]) not divisible by blocksize² \(b * b)") }
                set(node, [s[0], s[1] / (b * b), s[2] * b, s[3] * b])
            } else {
                guard s[2] % b == 0, s[3] % b == 0 else { throw fail(node, "spatial size \(s) not divisible by blocksize \(b)") }
                set(node, [s[0], s[1] * b * b, s[2] / b, s[3] / b])
            }
        case "QuantizeLinear":
            set(node, try shape(node, 0), type: node.input(2).flatMap { types[$0] } ?? .uint8)
        case "DequantizeLinear":
            set(node, try shape(node, 0), type: .float)
        case "GlobalLpPool":
            let s = try shape(node, 0)
            guard s.count >= 3 else { throw fail(node, "input rank \(s.count) < 3") }
            set(node, Array(s.prefix(2)) + [Int](repeating: 1, count: s.count - 2))
        case "LpPool":
            try inferPool(node)
        case "OneHot":
            let s = try shape(node, 0)
            guard let depth = floatConstant(node, 1)?.first, depth >= 0, depth < Double(maxAttributeMagnitude) else {
                throw Unknown.value
            }
            let r = s.count + 1
            var a = try node.int("axis", default: -1)
            if a < 0 { a += r }
            guard a >= 0, a < r else { throw fail(node, "axis out of range") }
            var out = s
            out.insert(Int(depth), at: a)
            set(node, out, type: node.input(2).flatMap { types[$0] })
        case "Resize", "Upsample":
            try inferResize(node, opset: opset)
        case "ConvTranspose":
            try inferConvTranspose(node)
        case "LSTM", "GRU", "RNN":
            try inferRecurrent(node, opset: opset)
        case "If":
            try inferIf(node)
        default:
            throw Unknown.value
        }
    }

    private mutating func inferResize(_ node: Node, opset: Int) throws(any Error) {
        let s = try shape(node, 0)
        var axes = Array(0..<s.count)
        if let a = try node.ints("axes") {
            axes = []
            for x in a { axes.append(try axis(node, x, rank: s.count)) }
        }
        var out = s
        let legacy = node.opType == "Upsample" || opset < 11
        let scalesIndex = legacy ? 1 : 2
        // Sizes win when given (and non-empty).
        if !legacy, let sizeValue = node.input(3) {
            guard let sizes = constants[sizeValue]?.intValues else { throw Unknown.value }
            if !sizes.isEmpty {
                guard sizes.count == axes.count else { throw fail(node, "sizes \(sizes) do not fit \(axes.count) axes") }
                let policy = try node.string("keep_aspect_ratio_policy", default: "stretch")
                if policy == "stretch" {
                    for (k, a) in axes.enumerated() { out[a] = sizes[k] }
                } else {
                    let ratios = axes.enumerated().map { Double(sizes[$0.offset]) / Double(max(1, s[$0.element])) }
                    let r = policy == "not_larger" ? ratios.min() ?? 1 : ratios.max() ?? 1
                    for a in axes { out[a] = Int((Double(s[a]) * r).rounded()) }
                }
                _ = try bounded(node, "sizes", out, min: 0)
                set(node, out)
                return
            }
        }
        var scales: [Double]
        if node.opType == "Upsample" && opset < 9 {
            guard let f = try node.floats("scales") else { throw fail(node, "attribute 'scales' is missing") }
            scales = f.map(Double.init)
        } else {
            guard node.input(scalesIndex) != nil else { throw fail(node, "neither scales nor sizes is given") }
            guard let f = floatConstant(node, scalesIndex) else { throw Unknown.value }
            scales = f
        }
        guard scales.count == axes.count else { throw fail(node, "scales \(scales) do not fit \(axes.count) axes") }
        for (k, a) in axes.enumerated() {
            // As onnxruntime: the product in float32, truncated.
            let v = Float(s[a]) * Float(scales[k])
            guard v.isFinite, v >= 0, v < Float(maxAttributeMagnitude) else { throw fail(node, "scale \(scales[k]) out of range") }
            out[a] = Int(v)
        }
        set(node, out)
    }

    private mutating func inferConvTranspose(_ node: Node) throws(any Error) {
        let x = try shape(node, 0), w = try shape(node, 1)
        guard x.count >= 3, w.count == x.count else {
            throw fail(node, "input \(x) and weight \(w) must have the same rank ≥ 3")
        }
        let n = x.count - 2
        let group = try node.int("group", default: 1)
        guard group >= 1, group <= maxAttributeMagnitude, w[0] == x[1] else {
            throw fail(node, "weight \(w) expects \(w[0]) input channels, the input has \(x[1])")
        }
        guard x[1] % group == 0 else { throw fail(node, "group \(group) does not divide \(x[1]) input channels") }
        let kernel = try bounded(node, "kernel_shape", try node.ints("kernel_shape") ?? Array(w[2...]), min: 1)
        let strides = try bounded(node, "strides", try node.ints("strides") ?? [Int](repeating: 1, count: n), min: 1)
        let dilations = try bounded(node, "dilations", try node.ints("dilations") ?? [Int](repeating: 1, count: n), min: 1)
        let outPad = try bounded(node, "output_padding", try node.ints("output_padding") ?? [Int](repeating: 0, count: n), min: 0)
        guard kernel.count == n, strides.count == n, dilations.count == n, outPad.count == n else {
            throw fail(node, "kernel/strides/dilations/output_padding do not fit \(n) spatial axes")
        }
        var out = [x[0], w[1] * group]
        if let os = try node.ints("output_shape") {
            let tail = Array(os.suffix(n))
            guard tail.count == n else { throw fail(node, "output_shape \(os) does not fit \(n) spatial axes") }
            out += try bounded(node, "output_shape", tail, min: 0)
            set(node, out)
            return
        }
        let autoPad = try node.string("auto_pad", default: "NOTSET")
        let pads = try bounded(node, "pads", try node.ints("pads") ?? [Int](repeating: 0, count: 2 * n), min: 0)
        guard pads.count == 2 * n else { throw fail(node, "pads \(pads) should have \(2 * n) values") }
        for i in 0..<n {
            // Each term is below 2^62 (bounded attributes and dimensions); their sum may not be.
            let (a, o1) = (strides[i] * max(0, x[i + 2] - 1)).addingReportingOverflow((kernel[i] - 1) * dilations[i])
            let (full0, o2) = a.addingReportingOverflow(outPad[i] + 1)
            guard !o1, !o2, full0 <= maxAttributeMagnitude else { throw fail(node, "the output would be too large to address") }
            let full = full0
            let o: Int
            switch autoPad {
            case "SAME_UPPER", "SAME_LOWER": o = x[i + 2] * strides[i]
            case "VALID": o = full
            default: o = full - pads[i] - pads[i + n]
            }
            guard o >= 0 else { throw fail(node, "pads \(pads) crop the output below zero") }
            out.append(o)
        }
        set(node, out)
    }

    private mutating func inferRecurrent(_ node: Node, opset: Int) throws(any Error) {
        let x = try shape(node, 0), w = try shape(node, 1)
        guard x.count == 3, w.count == 3 else { throw fail(node, "X \(x) and W \(w) must be 3-D") }
        let layout = opset >= 14 ? try node.int("layout", default: 0) : 0
        let direction = try node.string("direction", default: "forward")
        let dirs = direction == "bidirectional" ? 2 : 1
        guard ["forward", "reverse", "bidirectional"].contains(direction) else { throw fail(node, "unknown direction '\(direction)'") }
        guard w[0] == dirs else { throw fail(node, "W has \(w[0]) directions, the node \(dirs)") }
        let gates = node.opType == "LSTM" ? 4 : node.opType == "GRU" ? 3 : 1
        let hidden = try node.int("hidden_size") ?? w[1] / gates
        guard hidden >= 1, hidden <= w[1], w[1] == gates * hidden else {
            throw fail(node, "W \(w) does not hold \(gates) gates of hidden size \(hidden)")
        }
        let (seq, batch) = layout == 0 ? (x[0], x[1]) : (x[1], x[0])
        guard w[2] == x[2] else { throw fail(node, "W expects input size \(w[2]), X has \(x[2])") }
        set(node, layout == 0 ? [seq, dirs, batch, hidden] : [batch, seq, dirs, hidden], output: 0)
        let state = layout == 0 ? [dirs, batch, hidden] : [batch, dirs, hidden]
        for k in 1..<max(1, node.outputs.count) { set(node, state, output: k) }
    }

    private mutating func inferIf(_ node: Node) throws(any Error) {
        guard let thenG = try node.graph("then_branch"), let elseG = try node.graph("else_branch") else {
            throw fail(node, "needs then_branch and else_branch")
        }
        for g in [thenG, elseG] where g.outputs.count != node.outputs.count {
            throw fail(node, "branch '\(g.name)' has \(g.outputs.count) outputs, the node \(node.outputs.count)")
        }
        if let c = node.input(0).flatMap({ constants[$0]?.int64Values }), c.count == 1 {
            let branch = c[0] != 0 ? thenG : elseG
            register(initializersOf: branch)
            try inferNodes(of: branch, outerScope: Set(branch.outerScopeReads))
            var allKnown = true
            for (k, o) in branch.outputs.enumerated() {
                alias(node.outputs[k], o.name)
                if shapes[o.name] == nil { allKnown = false }
            }
            if !allKnown { throw Unknown.value }
            return
        }
        // Unknown condition: both branches; an output is known when they agree on it.
        var branchShapes: [[[Int]?]] = []
        for g in [thenG, elseG] {
            register(initializersOf: g)
            do {
                try inferNodes(of: g, outerScope: Set(g.outerScopeReads))
            } catch {
                // A branch that cannot run on these shapes is not taken; its outputs stay unknown.
                skipped.append("\(node.displayName)/\(g.name)")
            }
            branchShapes.append(g.outputs.map { shapes[$0.name] })
        }
        var allKnown = true
        for k in node.outputs.indices where !node.outputs[k].isEmpty {
            let a = branchShapes[0][k], b = branchShapes[1][k]
            if let a, a == b {
                shapes[node.outputs[k]] = a
                types[node.outputs[k]] = types[thenG.outputs[k].name] ?? types[elseG.outputs[k].name]
            } else {
                allKnown = false
            }
        }
        if !allKnown { throw Unknown.value }
    }
}

import ShrinkGraph
import ShrinkTensor

/// A node's operator with its attributes parsed once at preparation.
enum CompiledOp: Sendable {
    /// Conv with a fused activation and pool, and its weight packed once for the own kernels.
    case conv(ConvAttributes, Activation?, Kernels.FusedPool?, PackedFilter?)
    case gemm(GemmAttributes, Activation?)
    case matmul(Activation?)
    case binary(BinaryOp)
    case activation(Activation)
    /// Clip whose bounds are runtime inputs (1 and 2, each optional).
    case clipRuntime
    case pool(PoolKind, PoolAttributes)
    case globalAveragePool
    case flatten(axis: Int)
    case reshape(allowZero: Bool)
    case transpose(perm: [Int]?)
    case concat(axis: Int)
    case softmax(axis: Int, legacy: Bool)
    case batchNorm(epsilon: Float)
    /// Per-channel x·a + b (a BatchNormalization with constant parameters, pre-folded).
    case scaleShift(a: [Float], b: [Float])
    case identity
    /// Inference Dropout: the input unchanged, and an all-ones mask (bool carried as int64 0/1) if wanted.
    case dropout
    case shape(start: Int?, end: Int?)
    case gather(axis: Int)
    /// Unsqueeze; axes from the attribute, or from input 1 when nil.
    case unsqueeze(axes: [Int]?)
    /// Squeeze; axes from the attribute, from input 1 when `fromInput`, else all size-1 axes.
    case squeeze(axes: [Int]?, fromInput: Bool)
    /// A pointwise math function.
    case unary(UnaryOp)
    /// Max/Min/Sum/Mean over any number of inputs (`mean` divides the sum by their count).
    case variadic(BinaryOp, mean: Bool)
    /// A reduction; axes from the attribute, or from input 1 when `fromInput`.
    case reduce(ReduceKind, axes: [Int]?, fromInput: Bool, keepDims: Bool, noopWithEmptyAxes: Bool)
    /// LayerNormalization over the axes from `axis` on.
    case layerNorm(axis: Int, epsilon: Float)
    case globalMaxPool
    case cast(CastTarget)
    /// Slice; bounds from attributes (opset < 10) or, when nil, from inputs 1–4.
    case slice(starts: [Int64]?, ends: [Int64]?, axes: [Int64]?)
    /// Split along `axis`: sizes from the attribute, from input 1 when `fromInput`, else equal parts.
    case split(axis: Int, sizes: [Int]?, fromInput: Bool)
    case expand
    case tile
    case whereSelect
    case compare(CompareOp)
    /// `Mod`; `fmod` as the attribute (C-style remainder).
    case modulo(fmod: Bool)
    /// `DepthToSpace` (CRD or DCR) and `SpaceToDepth`.
    case depthToSpace(blocksize: Int, crd: Bool)
    case spaceToDepth(blocksize: Int)
    /// `InstanceNormalization`, and `GroupNormalization` with its group count.
    case instanceNorm(epsilon: Float)
    case groupNorm(groups: Int, epsilon: Float)
    /// `ArgMax` / `ArgMin`.
    case argExtreme(max: Bool, axis: Int, keepDims: Bool, selectLast: Bool)
    /// `TopK` (two outputs: values and indices).
    case topK(axis: Int, largest: Bool)
    /// `CumSum` (the axis is an input).
    case cumSum(exclusive: Bool, reverse: Bool)
    /// `Trilu` (k is an optional input).
    case trilu(upper: Bool)
    case not
    case constantOfShape(Value)
    case range
    case logSoftmax(axis: Int, legacy: Bool)
    case prelu
    /// Pad; pads from the attribute (opset < 11) or from input 1 (axes from input 3).
    case pad(PadMode, pads: [Int64]?, value: Float)
    /// Resize/Upsample; `legacy` (opset < 11, Upsample) reads scales from input 1, else inputs 2
    /// (scales) and 3 (sizes); `fixedScales` is the Upsample-7 attribute.
    case resize(ResizeAttributes, legacy: Bool, fixedScales: [Float]?)
    case convTranspose(ConvTransposeAttributes)
    /// LSTM/GRU/RNN; writes Y, Y_h (and Y_c).
    case recurrent(RecurrentAttributes)
    /// The element count of input 0 as an int64 scalar.
    case size
    /// If: input 0 is the condition, inputs 1… the enclosing values the branches read; a nil
    /// branch is never taken (the condition was constant at preparation).
    case ifBranch(IfBranches)

    /// The fusable activation this op applies, if it is one.
    var asActivation: Activation? {
        if case .activation(let a) = self { return a }
        return nil
    }
}

/// The compiled branches of an `If` node: each a session over the branch graph whose data
/// inputs are the enclosing values it reads (`outer`, in step input order after the condition).
struct IfBranches: Sendable {
    var thenBranch: Session?
    var elseBranch: Session?
    var outer: [String]
}

/// One node ready to run: its op and the slots it reads and writes (-1: omitted input).
struct Step: Sendable {
    var op: CompiledOp
    var inputs: [Int]
    var outputs: [Int]
    var name: String
    var opType: String
}

/// The operators the runtime implements, for error messages and `Session.supportedOperators`.
let supportedOperatorList: [String] = ([
    "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv",
    "Div", "Dropout", "Elu", "Expand", "LogSoftmax", "Mish", "Pad", "PRelu", "Selu", "Flatten", "Gather", "Gelu", "Gemm", "GlobalAveragePool", "GlobalMaxPool",
    "HardSigmoid", "HardSwish", "Identity", "LayerNormalization", "LeakyRelu", "MatMul", "Max", "MaxPool", "Mean",
    "Min", "Mod", "Mul", "Not", "Pow", "Range", "Relu", "Reshape", "Shape", "Sigmoid", "Slice", "Softmax", "Split",
    "Squeeze", "Sub", "Sum", "Tanh", "Tile", "Transpose", "Unsqueeze", "Where",
    "Resize", "Upsample", "ConvTranspose", "LSTM", "GRU", "RNN", "Size", "If",
    "DepthToSpace", "SpaceToDepth", "InstanceNormalization", "GroupNormalization", "ArgMax", "ArgMin", "TopK", "CumSum",
    "Trilu",
] + UnaryOp.allCases.map(\.rawValue) + ReduceKind.allCases.map(\.rawValue) + CompareOp.allCases.map(\.rawValue)).sorted()

/// Turns graph nodes into `Step`s; attribute errors become `RuntimeError`s naming the node.
struct NodeCompiler {
    var opset: Int
    /// Constant values known at preparation (initializers, Constant nodes, folded nodes), by slot.
    var constants: [Int: Value]
    /// Whether a value (by name) is read by anything that survives preparation.
    var isUsed: (String) -> Bool

    func unsupported(_ node: Node, _ detail: String? = nil) -> RuntimeError {
        .unsupportedOperator(op: node.opType, node: node.displayName, detail: detail, supported: supportedOperatorList)
    }

    func invalid(_ node: Node, _ message: String) -> RuntimeError {
        .invalidNode(node: node.displayName, op: node.opType, message: message)
    }

    /// Reads attributes through the graph's typed accessors, converting their errors.
    func attr<T>(_ node: Node, _ body: () throws(GraphError) -> T) throws(RuntimeError) -> T {
        do { return try body() } catch { throw invalid(node, error.message) }
    }

    func autoPad(_ node: Node) throws(RuntimeError) -> AutoPad {
        let s = try attr(node) { () throws(GraphError) in try node.string("auto_pad", default: "NOTSET") }
        guard let a = AutoPad(rawValue: s) else { throw invalid(node, "unknown auto_pad '\(s)'") }
        return a
    }

    /// Requires that optional trailing outputs (masks, indices, running stats) are not used.
    func requireUnused(_ node: Node, outputsFrom index: Int, _ what: String) throws(RuntimeError) {
        for o in node.outputs.dropFirst(index) where !o.isEmpty && isUsed(o) {
            throw unsupported(node, "its \(what) output '\(o)' is used")
        }
    }

    func constInts(_ slot: Int, _ node: Node, _ what: String) throws(RuntimeError) -> [Int]? {
        guard let v = constants[slot] else { return nil }
        guard case .int64(let t) = v else { throw invalid(node, "\(what) must be int64, got \(v.typeName)") }
        return t.values.map { Int($0) }
    }

    func compile(_ node: Node, inputs: [Int]) throws(RuntimeError) -> CompiledOp {
        guard node.isStandardDomain else { throw unsupported(node, "domain '\(node.domain)'") }
        let n = node
        switch node.opType {
        case "Conv":
            guard inputs.count >= 2, inputs[0] >= 0, inputs[1] >= 0 else { throw invalid(n, "needs inputs X and W") }
            let a = try attr(n) { () throws(GraphError) in
                (try n.ints("kernel_shape"), try n.ints("strides"), try n.ints("pads"), try n.ints("dilations"),
                 try n.int("group", default: 1))
            }
            return .conv(ConvAttributes(kernelShape: a.0, strides: a.1, pads: a.2, dilations: a.3, group: a.4,
                                        autoPad: try autoPad(n)), nil, nil, nil)
        case "Gemm":
            guard inputs.count >= 2, inputs[0] >= 0, inputs[1] >= 0 else { throw invalid(n, "needs inputs A and B") }
            let a = try attr(n) { () throws(GraphError) in
                GemmAttributes(alpha: try n.float("alpha", default: 1), beta: try n.float("beta", default: 1),
                               transA: try n.int("transA", default: 0) != 0, transB: try n.int("transB", default: 0) != 0)
            }
            return .gemm(a, nil)
        case "MatMul":
            return .matmul(nil)
        case "Resize", "Upsample":
            return try compileResize(n, inputs: inputs)
        case "ConvTranspose":
            guard inputs.count >= 2, inputs[0] >= 0, inputs[1] >= 0 else { throw invalid(n, "needs inputs X and W") }
            let a = try attr(n) { () throws(GraphError) in
                ConvTransposeAttributes(kernelShape: try n.ints("kernel_shape"), strides: try n.ints("strides"),
                                        pads: try n.ints("pads"), dilations: try n.ints("dilations"),
                                        outputPadding: try n.ints("output_padding"), outputShape: try n.ints("output_shape"),
                                        group: try n.int("group", default: 1))
            }
            var attrs = a
            attrs.autoPad = try autoPad(n)
            return .convTranspose(attrs)
        case "LSTM", "GRU", "RNN":
            return try compileRecurrent(n, inputs: inputs)
        case "Size":
            return .size
        case "Add": return .binary(.add)
        case "Sub": return .binary(.sub)
        case "Mul": return .binary(.mul)
        case "Div": return .binary(.div)
        case "Pow": return .binary(.pow)
        case "Max", "Min", "Sum", "Mean":
            let op: BinaryOp = n.opType == "Max" ? .max : n.opType == "Min" ? .min : .add
            let present = inputs.filter { $0 >= 0 }.count
            guard present >= 1 else { throw invalid(n, "needs at least one input") }
            if present == 2 && n.opType != "Mean" && inputs.count == 2 { return .binary(op) }
            return .variadic(op, mean: n.opType == "Mean")
        case "Gelu":
            let a = try attr(n) { () throws(GraphError) in try n.string("approximate", default: "none") }
            guard a == "none" || a == "tanh" else { throw invalid(n, "unknown approximate '\(a)'") }
            return .activation(.gelu(tanhApproximation: a == "tanh"))
        case "Selu":
            let (a, g) = try attr(n) { () throws(GraphError) in
                (try n.float("alpha", default: 1.67326319217681884765625), try n.float("gamma", default: 1.05070102214813232421875))
            }
            return .activation(.selu(alpha: a, gamma: g))
        case "Mish":
            return .activation(.mish)
        case "LogSoftmax":
            let legacy = opset < 13
            return .logSoftmax(axis: try attr(n) { () throws(GraphError) in try n.int("axis", default: legacy ? 1 : -1) },
                               legacy: legacy)
        case "PRelu":
            guard inputs.count == 2, inputs.allSatisfy({ $0 >= 0 }) else { throw invalid(n, "needs inputs X and slope") }
            return .prelu
        case "Pad":
            let m = try attr(n) { () throws(GraphError) in try n.string("mode", default: "constant") }
            guard let mode = PadMode(rawValue: m) else { throw invalid(n, "unknown mode '\(m)'") }
            if opset < 11 {
                let (pads, v) = try attr(n) { () throws(GraphError) in (try n.ints("pads"), try n.float("value", default: 0)) }
                guard let pads else { throw invalid(n, "missing attribute pads") }
                return .pad(mode, pads: pads.map(Int64.init), value: v)
            }
            guard inputs.count >= 2, inputs[1] >= 0 else { throw invalid(n, "needs a pads input") }
            var v: Float = 0
            if inputs.count > 2, inputs[2] >= 0 {
                guard let c = constants[inputs[2]] else { throw unsupported(n, "constant_value given at run time") }
                switch c {
                case .float(let t): v = t.scalars.first ?? 0
                case .int64(let t): v = Float(t.values.first ?? 0)
                }
            }
            return .pad(mode, pads: nil, value: v)
        case "Elu":
            return .activation(.elu(alpha: try attr(n) { () throws(GraphError) in try n.float("alpha", default: 1) }))
        case _ where UnaryOp(rawValue: n.opType) != nil:
            return .unary(UnaryOp(rawValue: n.opType)!)
        case _ where ReduceKind(rawValue: n.opType) != nil:
            let kind = ReduceKind(rawValue: n.opType)!
            let (keep, noop) = try attr(n) { () throws(GraphError) in
                (try n.int("keepdims", default: 1) != 0, try n.int("noop_with_empty_axes", default: 0) != 0)
            }
            if opset < kind.axesInputSince {
                return .reduce(kind, axes: try attr(n) { () throws(GraphError) in try n.ints("axes") }, fromInput: false,
                               keepDims: keep, noopWithEmptyAxes: false)
            }
            guard inputs.count >= 2, inputs[1] >= 0 else {
                return .reduce(kind, axes: nil, fromInput: false, keepDims: keep, noopWithEmptyAxes: noop)
            }
            if let axes = try constInts(inputs[1], n, "axes") {
                return .reduce(kind, axes: axes, fromInput: false, keepDims: keep, noopWithEmptyAxes: noop)
            }
            return .reduce(kind, axes: nil, fromInput: true, keepDims: keep, noopWithEmptyAxes: noop)
        case "LayerNormalization":
            guard inputs.count >= 2, inputs[0] >= 0, inputs[1] >= 0 else { throw invalid(n, "needs inputs X and Scale") }
            try requireUnused(n, outputsFrom: 1, "Mean/InvStdDev")
            let (axis, eps) = try attr(n) { () throws(GraphError) in
                (try n.int("axis", default: -1), try n.float("epsilon", default: 1e-5))
            }
            return .layerNorm(axis: axis, epsilon: eps)
        case "GlobalMaxPool":
            return .globalMaxPool
        case "Cast":
            guard let to = try attr(n, { () throws(GraphError) in try n.int("to") }) else { throw invalid(n, "missing attribute to") }
            switch ElementType(rawValue: Int32(truncatingIfNeeded: to)) {
            case .float, .double, .float16, .bfloat16: return .cast(.float)
            case .bool: return .cast(.bool)
            case .int64, .int32, .int16, .int8, .uint8, .uint16, .uint32, .uint64: return .cast(.integer)
            default: throw unsupported(n, "cast to \(ElementType(rawValue: Int32(truncatingIfNeeded: to)))")
            }
        case "Slice":
            if opset < 10 {
                let a = try attr(n) { () throws(GraphError) in (try n.ints("starts"), try n.ints("ends"), try n.ints("axes")) }
                guard let st = a.0, let en = a.1 else { throw invalid(n, "missing attributes starts/ends") }
                return .slice(starts: st.map(Int64.init), ends: en.map(Int64.init), axes: a.2.map { $0.map(Int64.init) })
            }
            guard inputs.count >= 3, inputs[1] >= 0, inputs[2] >= 0 else { throw invalid(n, "needs inputs starts and ends") }
            return .slice(starts: nil, ends: nil, axes: nil)
        case "Split":
            let axis = try attr(n) { () throws(GraphError) in try n.int("axis", default: 0) }
            if opset < 13 {
                return .split(axis: axis, sizes: try attr(n) { () throws(GraphError) in try n.ints("split") }, fromInput: false)
            }
            guard inputs.count >= 2, inputs[1] >= 0 else { return .split(axis: axis, sizes: nil, fromInput: false) }
            if let sizes = try constInts(inputs[1], n, "split") { return .split(axis: axis, sizes: sizes, fromInput: false) }
            return .split(axis: axis, sizes: nil, fromInput: true)
        case "Expand":
            guard inputs.count >= 2, inputs[1] >= 0 else { throw invalid(n, "needs a shape input") }
            return .expand
        case "Tile":
            guard inputs.count >= 2, inputs[1] >= 0 else { throw invalid(n, "needs a repeats input") }
            return .tile
        case "Where":
            guard inputs.count == 3, inputs.allSatisfy({ $0 >= 0 }) else { throw invalid(n, "needs inputs condition, X and Y") }
            return .whereSelect
        case _ where CompareOp(rawValue: n.opType) != nil:
            guard inputs.count == 2, inputs.allSatisfy({ $0 >= 0 }) else { throw invalid(n, "needs two inputs") }
            return .compare(CompareOp(rawValue: n.opType)!)
        case "DepthToSpace", "SpaceToDepth":
            let (b, mode) = try attr(n) { () throws(GraphError) in (try n.int("blocksize"), try n.string("mode", default: "DCR")) }
            guard let b, b > 0 else { throw invalid(n, "needs a positive blocksize") }
            if n.opType == "SpaceToDepth" { return .spaceToDepth(blocksize: b) }
            guard mode == "DCR" || mode == "CRD" else { throw invalid(n, "mode '\(mode)'; expected DCR or CRD") }
            return .depthToSpace(blocksize: b, crd: mode == "CRD")
        case "InstanceNormalization":
            guard inputs.count == 3, inputs.allSatisfy({ $0 >= 0 }) else { throw invalid(n, "needs inputs input, scale and B") }
            return .instanceNorm(epsilon: try attr(n) { () throws(GraphError) in try n.float("epsilon", default: 1e-5) })
        case "GroupNormalization":
            guard inputs.count == 3, inputs.allSatisfy({ $0 >= 0 }) else { throw invalid(n, "needs inputs X, scale and bias") }
            let (g, e) = try attr(n) { () throws(GraphError) in (try n.int("num_groups"), try n.float("epsilon", default: 1e-5)) }
            guard let g, g > 0 else { throw invalid(n, "needs a positive num_groups") }
            return .groupNorm(groups: g, epsilon: e)
        case "ArgMax", "ArgMin":
            let (axis, keep, last) = try attr(n) { () throws(GraphError) in
                (try n.int("axis", default: 0), try n.int("keepdims", default: 1), try n.int("select_last_index", default: 0))
            }
            return .argExtreme(max: n.opType == "ArgMax", axis: axis, keepDims: keep != 0, selectLast: last != 0)
        case "TopK":
            guard inputs.count == 2, inputs.allSatisfy({ $0 >= 0 }) else { throw invalid(n, "needs inputs X and K") }
            let (axis, largest) = try attr(n) { () throws(GraphError) in (try n.int("axis", default: -1), try n.int("largest", default: 1)) }
            // `sorted: 0` leaves the order to the runtime: Shrink always returns it sorted.
            return .topK(axis: axis, largest: largest != 0)
        case "CumSum":
            guard inputs.count == 2, inputs.allSatisfy({ $0 >= 0 }) else { throw invalid(n, "needs inputs x and axis") }
            let (ex, rev) = try attr(n) { () throws(GraphError) in (try n.int("exclusive", default: 0), try n.int("reverse", default: 0)) }
            return .cumSum(exclusive: ex != 0, reverse: rev != 0)
        case "Trilu":
            return .trilu(upper: try attr(n) { () throws(GraphError) in try n.int("upper", default: 1) } != 0)
        case "Mod":
            guard inputs.count == 2, inputs.allSatisfy({ $0 >= 0 }) else { throw invalid(n, "needs two inputs") }
            let f = try attr(n) { () throws(GraphError) in try n.int("fmod", default: 0) }
            guard f == 0 || f == 1 else { throw invalid(n, "fmod is \(f); expected 0 or 1") }
            return .modulo(fmod: f == 1)
        case "Not":
            return .not
        case "ConstantOfShape":
            let v = try attr(n) { () throws(GraphError) in try n.tensor("value") }
            guard let v else { return .constantOfShape(.float(Tensor(shape: [1], scalars: [0]))) }
            guard let rv = runtimeValue(v) else { throw unsupported(n, "value of type \(v.elementType)") }
            return .constantOfShape(rv)
        case "Range":
            guard inputs.count == 3, inputs.allSatisfy({ $0 >= 0 }) else { throw invalid(n, "needs inputs start, limit and delta") }
            return .range
        case "Relu": return .activation(.relu)
        case "Sigmoid": return .activation(.sigmoid)
        case "Tanh": return .activation(.tanh)
        case "HardSwish": return .activation(.hardSwish)
        case "LeakyRelu":
            return .activation(.leakyRelu(alpha: try attr(n) { () throws(GraphError) in try n.float("alpha", default: 0.01) }))
        case "HardSigmoid":
            let (a, b) = try attr(n) { () throws(GraphError) in
                (try n.float("alpha", default: 0.2), try n.float("beta", default: 0.5))
            }
            return .activation(.hardSigmoid(alpha: a, beta: b))
        case "Clip":
            if opset < 11 {
                let (lo, hi) = try attr(n) { () throws(GraphError) in
                    (try n.float("min", default: -Float.greatestFiniteMagnitude),
                     try n.float("max", default: Float.greatestFiniteMagnitude))
                }
                return .activation(.clip(min: lo, max: hi))
            }
            // Bounds that are constants make Clip a plain (fusable) activation.
            var bounds: [Float] = [-Float.infinity, Float.infinity]
            for i in 1...2 {
                guard i < inputs.count, inputs[i] >= 0 else { continue }
                guard let v = constants[inputs[i]] else { return .clipRuntime }
                guard case .float(let t) = v, t.count == 1 else { throw invalid(n, "Clip bounds must be float scalars") }
                bounds[i - 1] = t.scalars[0]
            }
            return .activation(.clip(min: bounds[0], max: bounds[1]))
        case "MaxPool", "AveragePool":
            let kind: PoolKind = n.opType == "MaxPool" ? .max : .average
            try requireUnused(n, outputsFrom: 1, "Indices")
            let a = try attr(n) { () throws(GraphError) in
                (try n.ints("kernel_shape"), try n.ints("strides"), try n.ints("pads"), try n.ints("dilations"),
                 try n.int("ceil_mode", default: 0), try n.int("count_include_pad", default: 0))
            }
            guard let kernel = a.0 else { throw invalid(n, "missing attribute kernel_shape") }
            return .pool(kind, PoolAttributes(kernelShape: kernel, strides: a.1, pads: a.2, dilations: a.3,
                                              ceilMode: a.4 != 0, countIncludePad: a.5 != 0, autoPad: try autoPad(n)))
        case "GlobalAveragePool":
            return .globalAveragePool
        case "Flatten":
            return .flatten(axis: try attr(n) { () throws(GraphError) in try n.int("axis", default: 1) })
        case "Reshape":
            guard inputs.count >= 2, inputs[1] >= 0 else { throw invalid(n, "needs a shape input") }
            return .reshape(allowZero: try attr(n) { () throws(GraphError) in try n.int("allowzero", default: 0) } != 0)
        case "Transpose":
            return .transpose(perm: try attr(n) { () throws(GraphError) in try n.ints("perm") })
        case "Concat":
            guard let axis = try attr(n, { () throws(GraphError) in try n.int("axis") }) else {
                throw invalid(n, "missing attribute axis")
            }
            return .concat(axis: axis)
        case "Softmax":
            let legacy = opset < 13
            return .softmax(axis: try attr(n) { () throws(GraphError) in try n.int("axis", default: legacy ? 1 : -1) },
                            legacy: legacy)
        case "BatchNormalization":
            guard inputs.count >= 5, inputs.allSatisfy({ $0 >= 0 }) else {
                throw invalid(n, "needs inputs X, scale, B, mean and var")
            }
            let (eps, training) = try attr(n) { () throws(GraphError) in
                (try n.float("epsilon", default: 1e-5), try n.int("training_mode", default: 0))
            }
            guard training == 0 else { throw unsupported(n, "training_mode = 1") }
            try requireUnused(n, outputsFrom: 1, "running statistics")
            if let s = constants[inputs[1]]?.floatTensor, let b = constants[inputs[2]]?.floatTensor,
               let m = constants[inputs[3]]?.floatTensor, let v = constants[inputs[4]]?.floatTensor {
                do {
                    let (a, c) = try Kernels.batchNormCoefficients(scale: s, bias: b, mean: m, variance: v, epsilon: eps)
                    return .scaleShift(a: a, b: c)
                } catch { throw invalid(n, "\(error)") }
            }
            return .batchNorm(epsilon: eps)
        case "Identity":
            return .identity
        case "Dropout":
            if inputs.count > 2, inputs[2] >= 0 {
                guard let t = constants[inputs[2]] else { throw unsupported(n, "training_mode given at run time") }
                let on: Bool
                switch t {
                case .int64(let v): on = v.values.contains { $0 != 0 }
                case .float(let v): on = v.scalars.contains { $0 != 0 }
                }
                if on { throw unsupported(n, "training_mode = true") }
            }
            return .dropout
        case "Shape":
            let (s, e) = try attr(n) { () throws(GraphError) in (try n.int("start"), try n.int("end")) }
            return .shape(start: s, end: e)
        case "Gather":
            return .gather(axis: try attr(n) { () throws(GraphError) in try n.int("axis", default: 0) })
        case "Unsqueeze":
            if opset < 13 {
                guard let axes = try attr(n, { () throws(GraphError) in try n.ints("axes") }) else {
                    throw invalid(n, "missing attribute axes")
                }
                return .unsqueeze(axes: axes)
            }
            guard inputs.count >= 2, inputs[1] >= 0 else { throw invalid(n, "needs an axes input") }
            return .unsqueeze(axes: try constInts(inputs[1], n, "axes"))
        case "Squeeze":
            if opset < 13 {
                return .squeeze(axes: try attr(n) { () throws(GraphError) in try n.ints("axes") }, fromInput: false)
            }
            guard inputs.count >= 2, inputs[1] >= 0 else { return .squeeze(axes: nil, fromInput: false) }
            if let axes = try constInts(inputs[1], n, "axes") { return .squeeze(axes: axes, fromInput: false) }
            return .squeeze(axes: nil, fromInput: true)
        default:
            throw unsupported(n)
        }
    }
}

extension NodeCompiler {
    func compileResize(_ n: Node, inputs: [Int]) throws(RuntimeError) -> CompiledOp {
        let legacy = n.opType == "Upsample" || opset < 11
        let (modeName, coordName, nearestName, axes, antialias, exclude) = try attr(n) { () throws(GraphError) in
            (try n.string("mode", default: "nearest"),
             try n.string("coordinate_transformation_mode", default: "half_pixel"),
             try n.string("nearest_mode", default: "round_prefer_floor"), try n.ints("axes"),
             try n.int("antialias", default: 0), try n.int("exclude_outside", default: 0))
        }
        let policyName = try attr(n) { () throws(GraphError) in try n.string("keep_aspect_ratio_policy", default: "stretch") }
        guard let aspect = ResizeAspectPolicy(rawValue: policyName) else {
            throw invalid(n, "unknown keep_aspect_ratio_policy '\(policyName)'; expected stretch, not_larger or not_smaller")
        }
        let mode = modeName.lowercased()
        guard ["nearest", "linear", "bilinear", "trilinear"].contains(mode) else {
            throw unsupported(n, "mode '\(modeName)'; the runtime implements nearest and linear")
        }
        guard antialias == 0, exclude == 0 else { throw unsupported(n, "antialias / exclude_outside") }
        let coords: ResizeCoordinates
        let rounding: ResizeNearestRounding
        if legacy {
            coords = .asymmetric
            rounding = .simple
        } else {
            guard let c = ResizeCoordinates(rawValue: coordName) else {
                throw unsupported(n, "coordinate_transformation_mode '\(coordName)'")
            }
            guard let r = ResizeNearestRounding(rawValue: nearestName) else { throw invalid(n, "unknown nearest_mode '\(nearestName)'") }
            coords = c
            rounding = r
        }
        var fixed: [Float]?
        if n.opType == "Upsample" && opset < 9 {
            guard let f = try attr(n, { () throws(GraphError) in try n.floats("scales") }) else { throw invalid(n, "missing attribute scales") }
            fixed = f
        } else if legacy {
            guard inputs.count >= 2, inputs[1] >= 0 else { throw invalid(n, "needs a scales input") }
        } else {
            guard (inputs.count > 2 && inputs[2] >= 0) || (inputs.count > 3 && inputs[3] >= 0) else {
                throw invalid(n, "needs scales or sizes")
            }
        }
        return .resize(ResizeAttributes(linear: mode != "nearest", coordinates: coords, nearest: rounding, axes: axes, aspect: aspect),
                       legacy: legacy, fixedScales: fixed)
    }

    func compileRecurrent(_ n: Node, inputs: [Int]) throws(RuntimeError) -> CompiledOp {
        guard inputs.count >= 3, inputs[0] >= 0, inputs[1] >= 0, inputs[2] >= 0 else { throw invalid(n, "needs inputs X, W and R") }
        guard let cell = RecurrentCell(rawValue: n.opType) else { throw unsupported(n) }
        let a = try attr(n) { () throws(GraphError) in
            (try n.int("hidden_size"), try n.string("direction", default: "forward"), try n.strings("activations"),
             try n.floats("activation_alpha") ?? [], try n.floats("activation_beta") ?? [], try n.float("clip"),
             try n.int("input_forget", default: 0), try n.int("linear_before_reset", default: 0),
             try n.int("layout", default: 0))
        }
        guard ["forward", "reverse", "bidirectional"].contains(a.1) else { throw invalid(n, "unknown direction '\(a.1)'") }
        let dirs = a.1 == "bidirectional" ? 2 : 1
        var acts = RecurrentAttributes.defaultActivations(cell, directions: dirs)
        if let names = a.2 {
            guard names.count == acts.count else {
                throw invalid(n, "\(names.count) activations given, \(n.opType) \(a.1) takes \(acts.count)")
            }
            var alphas = a.3.makeIterator(), betas = a.4.makeIterator()
            acts = []
            for name in names {
                switch name.lowercased() {
                case "sigmoid": acts.append(.sigmoid)
                case "tanh": acts.append(.tanh)
                case "relu": acts.append(.relu)
                case "hardsigmoid": acts.append(.hardSigmoid(alpha: alphas.next() ?? 0.2, beta: betas.next() ?? 0.5))
                case "leakyrelu": acts.append(.leakyRelu(alpha: alphas.next() ?? 0.01))
                case "elu": acts.append(.elu(alpha: alphas.next() ?? 1))
                default: throw unsupported(n, "activation \(name)")
                }
            }
        }
        if let c = a.5, !(c > 0) { throw invalid(n, "clip must be positive") }
        // Batch-first recurrent layers are unchecked: onnxruntime does not run them either.
        guard a.8 == 0 else { throw unsupported(n, "layout = 1") }
        return .recurrent(RecurrentAttributes(cell: cell, hiddenSize: a.0, direction: a.1, activations: acts, clip: a.5,
                                              inputForget: a.6 != 0, linearBeforeReset: a.7 != 0, layout: a.8))
    }
}

/// Converts an initializer or Constant tensor to a runtime value; nil for types the runtime cannot hold.
func runtimeValue(_ t: TensorValue) -> Value? {
    if let f = t.floatTensor { return .float(f) }
    if let i = t.int64Values { return .int64(IntTensor(shape: t.shape, values: i)) }
    return nil
}

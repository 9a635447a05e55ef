/// Shapes (and small integer constants) of every value of a graph for one concrete input shape.
public struct InferredShapes: Sendable {
    /// Concrete shape of each value whose shape could be inferred.
    public var shapes: [String: [Int]]
    /// Element type of each value whose type is known.
    public var elementTypes: [String: ElementType]
    /// Values computed at inference time by constant folding: initializers and Constant outputs
    /// of integer type, `Shape` outputs, and the small integer chains built on them (what
    /// PyTorch exports to compute Reshape targets).
    public var constants: [String: TensorValue]
    /// Nodes whose outputs are unknown because the operator is not supported here (names or
    /// `(unnamed Op)`), in topological order.
    public var skippedNodes: [String]
    /// The operators of `skippedNodes`, each once, in first-seen order.
    public var unsupportedOps: [String]

    /// The shape of `value`, if inferred.
    public subscript(_ value: String) -> [Int]? { shapes[value] }
}

extension Graph {
    /// Infers the shape of every value for concrete data-input shapes.
    ///
    /// - Parameters:
    ///   - inputShapes: shapes by data-input name; inputs not listed use their declared shape
    ///     with every symbolic or unknown dimension set to `batch`.
    ///   - batch: the value given to symbolic dimensions (the batch `N`); 1 is enough for costing.
    ///   - inputValues: values of small integer data inputs (a Reshape target fed at run time),
    ///     used for constant folding; their shapes need not be repeated in `inputShapes`.
    /// - Throws: `.shapeInference` when a supported operator gets inconsistent inputs (the
    ///   message names the node), `.invalidModel` for a missing declared input shape, and the
    ///   errors of `topologicalOrder()`. Unsupported operators do not throw: their outputs are
    ///   left unknown and listed in `skippedNodes`.
    public func inferShapes(inputShapes: [String: [Int]] = [:], batch: Int = 1,
                            inputValues: [String: TensorValue] = [:]) throws(GraphError) -> InferredShapes {
        var ctx = ShapeContext()
        ctx.batchForDeclarations = inputShapes.isEmpty ? batch : nil
        ctx.register(initializersOf: self)
        for input in dataInputs {
            if let v = inputValues[input.name] {
                ctx.shapes[input.name] = v.shape
                ctx.constants[input.name] = v
            } else if let s = inputShapes[input.name] {
                ctx.shapes[input.name] = s
            } else if let s = input.concreteShape(symbolic: batch) {
                ctx.shapes[input.name] = s
            } else {
                throw GraphError(.invalidModel, "graph input '\(input.name)' has no declared shape",
                                 hint: "give its shape explicitly (shrink inspect: --input-shape \(input.name)=1x…)")
            }
            ctx.types[input.name] = input.elementType ?? .float
        }
        for name in Set(inputShapes.keys).union(inputValues.keys) where !dataInputs.contains(where: { $0.name == name }) {
            throw GraphError(.notFound, "the model has no data input named '\(name)'")
        }
        for input in dataInputs {
            if let s = ctx.shapes[input.name], !ShapeContext.isAddressable(s) {
                throw GraphError(.invalidModel, "graph input '\(input.name)' has shape \(s), too large to address",
                                 hint: "give dimensions below 2^31")
            }
        }
        try ctx.inferNodes(of: self, outerScope: [])
        return InferredShapes(shapes: ctx.shapes, elementTypes: ctx.types, constants: ctx.constants,
                              skippedNodes: ctx.skipped, unsupportedOps: ctx.unsupported)
    }
}

/// Ops shape inference understands: the ops the runtime supports and the further standard ops
/// exporters emit (shape rules are cheap, so costing gets past ops the engine cannot run).
public let shapeInferenceOps: Set<String> = baseShapeInferenceOps.union(moreShapeInferenceOps)

let baseShapeInferenceOps: Set<String> = [
    "Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Mod", "Pow", "Max", "Min", "Equal", "Where",
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish", "Erf", "Sqrt", "Exp",
    "Log", "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Not", "Cast",
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Transpose",
    "Concat", "Softmax", "LogSoftmax", "BatchNormalization", "Identity", "Dropout", "Constant", "Shape",
    "Gather", "Unsqueeze", "Squeeze", "Slice", "ConstantOfShape", "Expand", "Range",
    "Gelu", "Elu", "Softplus", "Softsign", "Sin", "Cos", "Sum", "Mean", "Less", "LessOrEqual", "Greater",
    "GreaterOrEqual", "LayerNormalization", "Split", "Tile", "Mish", "Selu", "PRelu", "Pad",
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceSumSquare", "ReduceLogSumExp",
]

/// The product of `xs`, nil on overflow (shapes come from user files: corrupt ones must not trap).
func checkedProduct<S: Sequence>(_ xs: S) -> Int? where S.Element == Int {
    var p = 1
    for x in xs {
        let (r, o) = p.multipliedReportingOverflow(by: x)
        if o { return nil }
        p = r
    }
    return p
}

/// Attribute values beyond this are rejected, so shape arithmetic cannot overflow.
let maxAttributeMagnitude = 1 << 31

struct ShapeContext {
    /// Integer tensors larger than this are not folded: shape chains are tiny, and folding big
    /// tensors would only cost time.
    static let foldLimit = 64

    var shapes: [String: [Int]] = [:]
    var types: [String: ElementType] = [:]
    var constants: [String: TensorValue] = [:]
    /// Float initializers holding one value (the bounds of a float `Range`).
    var floatScalars: [String: Double] = [:]
    /// Small float constants (initializers and Constant nodes): Resize scales and the like.
    var floatConstants: [String: [Double]] = [:]
    var skipped: [String] = []
    var unsupported: [String] = []
    /// The batch size that a symbolic leading dimension of a `value_info` annotation stands for
    /// (nil when the inputs were given explicitly, which annotations may contradict).
    var batchForDeclarations: Int?

    /// Row-major strides of `shape`.
    static func strides(_ shape: [Int]) -> [Int] {
        var st = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            st[i] = acc
            acc *= shape[i]
        }
        return st
    }

    /// Every dimension in 0...2^31 and the element count representable.
    static func isAddressable(_ shape: [Int]) -> Bool {
        shape.allSatisfy { $0 >= 0 && $0 <= maxAttributeMagnitude } && checkedProduct(shape) != nil
    }

    func fail(_ node: Node, _ reason: String) -> GraphError {
        GraphError(.shapeInference, "cannot infer shapes at node \(node.displayName) (\(node.opType)): \(reason)")
    }

    func product(_ node: Node, _ s: [Int]) throws(GraphError) -> Int {
        guard let p = checkedProduct(s) else { throw fail(node, "shape \(s) has too many elements") }
        return p
    }

    func bounded(_ node: Node, _ name: String, _ v: [Int], min lo: Int) throws(GraphError) -> [Int] {
        guard v.allSatisfy({ $0 >= lo && $0 <= maxAttributeMagnitude }) else {
            throw fail(node, "\(name) \(v) out of range")
        }
        return v
    }

    func shape(_ node: Node, _ i: Int) throws -> [Int] {
        guard let v = node.input(i) else { throw fail(node, "input \(i) is missing") }
        guard let s = shapes[v] else { throw Unknown.value }
        return s
    }

    /// Input `i`'s constant value as Ints, nil when absent or not known at inference time.
    func intConstant(_ node: Node, _ i: Int) -> [Int]? {
        guard let v = node.input(i) else { return nil }
        return constants[v]?.intValues
    }

    mutating func set(_ node: Node, _ shape: [Int], type: ElementType? = nil, output: Int = 0) {
        guard output < node.outputs.count, !node.outputs[output].isEmpty else { return }
        let name = node.outputs[output]
        shapes[name] = shape
        let t = type ?? node.input(0).flatMap { types[$0] } ?? .float
        types[name] = t
    }

    mutating func setConstant(_ node: Node, _ shape: [Int], _ values: [Int64], output: Int = 0) {
        guard output < node.outputs.count, !node.outputs[output].isEmpty else { return }
        set(node, shape, type: .int64, output: output)
        constants[node.outputs[output]] = .int64(shape: shape, values: values)
    }

    /// A marker for "an input's shape is unknown", which propagates as unknown outputs rather
    /// than as an error.
    enum Unknown: Error { case value }

    /// Infers `node`'s outputs; returns false when the op is unsupported or an input is unknown.
    mutating func infer(_ node: Node, opset: Int) throws(GraphError) -> Bool {
        guard node.isStandardDomain, shapeInferenceOps.contains(node.opType) else { return false }
        // A node without a first output computes nothing anyone can read.
        guard node.outputs.contains(where: { !$0.isEmpty }) else { return true }
        do {
            try inferSupported(node, opset: opset)
            return true
        } catch let e as GraphError {
            throw e
        } catch {
            return false
        }
    }

    static func normalizeAxis(_ a: Int, rank: Int) -> Int? {
        let r = a < 0 ? a + rank : a
        return r >= 0 && r < rank ? r : nil
    }

    func axis(_ node: Node, _ a: Int, rank: Int) throws(GraphError) -> Int {
        guard let r = Self.normalizeAxis(a, rank: rank) else {
            throw fail(node, "axis \(a) is out of range for rank \(rank)")
        }
        return r
    }

    /// NumPy broadcasting of two shapes.
    func broadcast(_ node: Node, _ a: [Int], _ b: [Int]) throws(GraphError) -> [Int] {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let x = i < n - a.count ? 1 : a[i - (n - a.count)]
            let y = i < n - b.count ? 1 : b[i - (n - b.count)]
            if x == y || y == 1 { out[i] = x } else if x == 1 { out[i] = y } else {
                throw fail(node, "shapes \(a) and \(b) do not broadcast")
            }
        }
        return out
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    mutating func inferSupported(_ node: Node, opset: Int) throws(any Error) {
        switch node.opType {
        case "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Erf", "Sqrt", "Exp",
             "Log", "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Softmax", "LogSoftmax", "Identity", "Not",
             "Gelu", "Elu", "Softplus", "Softsign", "Sin", "Cos", "Mish", "Selu", "PRelu":
            let s = try shape(node, 0)
            set(node, s)
            if node.opType == "Identity", let c = node.input(0).flatMap({ constants[$0] }) {
                constants[node.outputs[0]] = c
            }
            if node.opType == "Not", let c = node.input(0).flatMap({ constants[$0]?.int64Values }) {
                constants[node.outputs[0]] = .bool(shape: s, values: c.map { $0 == 0 })
                types[node.outputs[0]] = .bool
            }
            if node.opType == "Softmax" || node.opType == "LogSoftmax" {
                let a = try node.int("axis", default: opset >= 13 ? -1 : 1)
                _ = try axis(node, a, rank: s.count)
            }

        case "Clip":
            set(node, try shape(node, 0))

        case "Cast":
            let s = try shape(node, 0)
            guard let to = try node.int("to") else { throw fail(node, "attribute 'to' is missing") }
            let type = ElementType(rawValue: Int32(truncatingIfNeeded: to))
            set(node, s, type: type)
            if let c = node.input(0).flatMap({ constants[$0] }), let v = c.int64Values,
               type != .float, type != .double {
                setConstant(node, s, v)
                types[node.outputs[0]] = type
            }

        case "Dropout":
            let s = try shape(node, 0)
            set(node, s)
            set(node, s, type: .bool, output: 1)

        case "BatchNormalization":
            let s = try shape(node, 0)
            guard s.count >= 2 else { throw fail(node, "input rank \(s.count) < 2") }
            if let scale = node.input(1).flatMap({ shapes[$0] }), scale != [s[1]] {
                throw fail(node, "scale has shape \(scale), expected [\(s[1])] (the channel count)")
            }
            set(node, s)
            for k in 1..<max(1, node.outputs.count) { set(node, [s[1]], output: k) }

        case "Add", "Sub", "Mul", "Div", "Mod", "Pow", "Max", "Min", "Equal", "Sum", "Mean", "Less", "LessOrEqual",
             "Greater", "GreaterOrEqual":
            var s = try shape(node, 0)
            for k in 1..<max(1, node.inputs.count) where node.input(k) != nil { s = try broadcast(node, s, try shape(node, k)) }
            let type: ElementType? = ["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"].contains(node.opType) ? .bool : nil
            set(node, s, type: type)
            foldArithmetic(node, s)

        case "Where":
            let s = try broadcast(node, try broadcast(node, try shape(node, 0), try shape(node, 1)), try shape(node, 2))
            set(node, s, type: node.input(1).flatMap { types[$0] })
            if let c = intConstant(node, 0), let x = intConstant(node, 1), let y = intConstant(node, 2),
               c.count == checkedProduct(s), x.count == c.count, y.count == c.count {
                setConstant(node, s, zip(c, zip(x, y)).map { Int64($0 != 0 ? $1.0 : $1.1) })
            }

        case "Conv":
            try inferConv(node)

        case "MaxPool", "AveragePool":
            try inferPool(node)

        case "GlobalAveragePool", "GlobalMaxPool":
            let s = try shape(node, 0)
            guard s.count >= 3 else { throw fail(node, "input rank \(s.count) < 3") }
            set(node, Array(s.prefix(2)) + [Int](repeating: 1, count: s.count - 2))

        case "Gemm":
            let a = try shape(node, 0), b = try shape(node, 1)
            guard a.count == 2, b.count == 2 else { throw fail(node, "A \(a) and B \(b) must be matrices") }
            let transA = try node.int("transA", default: 0) != 0, transB = try node.int("transB", default: 0) != 0
            let (m, k1) = transA ? (a[1], a[0]) : (a[0], a[1])
            let (k2, n) = transB ? (b[1], b[0]) : (b[0], b[1])
            guard k1 == k2 else {
                throw fail(node, "inner dimensions differ: A \(a)\(transA ? "ᵀ" : "") · B \(b)\(transB ? "ᵀ" : "")")
            }
            if let c = node.input(2).flatMap({ shapes[$0] }) {
                _ = try broadcast(node, [m, n], c)
            }
            set(node, [m, n])

        case "MatMul":
            let a = try shape(node, 0), b = try shape(node, 1)
            guard !a.isEmpty, !b.isEmpty else { throw fail(node, "MatMul of a scalar") }
            let a2 = a.count == 1 ? [1, a[0]] : a
            let b2 = b.count == 1 ? [b[0], 1] : b
            guard a2[a2.count - 1] == b2[b2.count - 2] else {
                throw fail(node, "inner dimensions differ: \(a) · \(b)")
            }
            var out = try broadcast(node, Array(a2.dropLast(2)), Array(b2.dropLast(2)))
            if a.count > 1 { out.append(a2[a2.count - 2]) }
            if b.count > 1 { out.append(b2[b2.count - 1]) }
            set(node, out)

        case "Flatten":
            let s = try shape(node, 0)
            let a = try node.int("axis", default: 1)
            let ax = a < 0 ? a + s.count : a
            guard ax >= 0 && ax <= s.count else { throw fail(node, "axis \(a) is out of range for rank \(s.count)") }
            set(node, [try product(node, Array(s[..<ax])), try product(node, Array(s[ax...]))])

        case "Reshape":
            try inferReshape(node)

        case "Transpose":
            let s = try shape(node, 0)
            let perm = try node.ints("perm") ?? Array((0..<s.count).reversed())
            guard perm.sorted() == Array(0..<s.count) else {
                throw fail(node, "perm \(perm) is not a permutation of \(s.count) axes")
            }
            set(node, perm.map { s[$0] })
            if let c = node.input(0).flatMap({ constants[$0]?.int64Values }), c.count == checkedProduct(s) {
                // Small integer tables (PyTorch's pad computation transposes one).
                let out = perm.map { s[$0] }
                let inStrides = Self.strides(s), outStrides = Self.strides(out)
                var values = [Int64](repeating: 0, count: c.count)
                for i in 0..<c.count {
                    var src = 0
                    for (k, p) in perm.enumerated() { src += ((i / outStrides[k]) % out[k]) * inStrides[p] }
                    values[i] = c[src]
                }
                setConstant(node, out, values)
            }

        case "Concat":
            var parts: [[Int]] = []
            for k in node.inputs.indices where !node.inputs[k].isEmpty { parts.append(try shape(node, k)) }
            guard let first = parts.first else { throw fail(node, "no inputs") }
            guard let a0 = try node.int("axis") else { throw fail(node, "attribute 'axis' is missing") }
            let ax = try axis(node, a0, rank: first.count)
            var out = first
            out[ax] = 0
            for p in parts {
                guard p.count == first.count,
                      p.indices.allSatisfy({ $0 == ax || p[$0] == first[$0] }) else {
                    throw fail(node, "inputs \(parts) differ outside axis \(a0)")
                }
                out[ax] += p[ax]
            }
            set(node, out)
            // Fold 1-D integer concatenations (shape vectors).
            if first.count == 1 {
                var values: [Int64] = []
                var all = true
                for k in node.inputs.indices where !node.inputs[k].isEmpty {
                    guard let v = constants[node.inputs[k]]?.int64Values else { all = false; break }
                    values += v
                }
                if all { setConstant(node, out, values) }
            }

        case "Constant":
            guard let t = node.constantTensor else {
                throw fail(node, "no supported value attribute (value, value_float(s), value_int(s))")
            }
            set(node, t.shape, type: t.elementType)
            if t.elementType != .float && t.elementType != .double && t.count <= Self.foldLimit {
                constants[node.outputs[0]] = t
            } else if t.count <= Self.foldLimit, let f = t.floatTensor {
                floatConstants[node.outputs[0]] = f.scalars.map(Double.init)
                if t.count == 1 { floatScalars[node.outputs[0]] = Double(f.scalars[0]) }
            }

        case "Shape":
            let s = try shape(node, 0)
            let r = s.count
            func clampAxis(_ a: Int) -> Int { min(max(a < 0 ? a + r : a, 0), r) }
            let start = clampAxis(try node.int("start", default: 0))
            let end = clampAxis(try node.int("end", default: r))
            let dims = start < end ? Array(s[start..<end]) : []
            setConstant(node, [dims.count], dims.map(Int64.init))

        case "Gather":
            let data = try shape(node, 0), idx = try shape(node, 1)
            let ax = try axis(node, try node.int("axis", default: 0), rank: data.count)
            let out = Array(data[..<ax]) + idx + Array(data[(ax + 1)...])
            set(node, out, type: node.input(0).flatMap { types[$0] })
            if data.count == 1, let d = node.input(0).flatMap({ constants[$0]?.int64Values }),
               let ix = intConstant(node, 1) {
                var values: [Int64] = []
                for i in ix {
                    let j = i < 0 ? i + d.count : i
                    guard j >= 0 && j < d.count else { throw fail(node, "index \(i) is out of range for \(d.count) elements") }
                    values.append(d[j])
                }
                setConstant(node, out, values)
            }

        case "Unsqueeze":
            let s = try shape(node, 0)
            let axes: [Int]
            if opset >= 13 {
                guard let a = intConstant(node, 1) else {
                    if node.input(1) == nil { throw fail(node, "input 'axes' is missing") }
                    throw Unknown.value
                }
                axes = a
            } else {
                guard let a = try node.ints("axes") else { throw fail(node, "attribute 'axes' is missing") }
                axes = a
            }
            let r = s.count + axes.count
            var norm: [Int] = []
            for a in axes { norm.append(try axis(node, a, rank: r)) }
            guard Set(norm).count == norm.count else { throw fail(node, "repeated axes \(axes)") }
            var out: [Int] = []
            var it = s.makeIterator()
            for i in 0..<r { out.append(norm.contains(i) ? 1 : (it.next() ?? 1)) }
            set(node, out)
            if let c = node.input(0).flatMap({ constants[$0]?.int64Values }) { setConstant(node, out, c) }

        case "Squeeze":
            let s = try shape(node, 0)
            var axes: [Int]?
            if opset >= 13 {
                if node.input(1) != nil {
                    guard let a = intConstant(node, 1) else { throw Unknown.value }
                    axes = a
                }
            } else {
                axes = try node.ints("axes")
            }
            var drop = Set<Int>()
            if let axes {
                for a in axes {
                    let ax = try axis(node, a, rank: s.count)
                    guard s[ax] == 1 else { throw fail(node, "axis \(a) has size \(s[ax]), not 1") }
                    drop.insert(ax)
                }
            } else {
                drop = Set(s.indices.filter { s[$0] == 1 })
            }
            let out = s.indices.filter { !drop.contains($0) }.map { s[$0] }
            set(node, out)
            if let c = node.input(0).flatMap({ constants[$0]?.int64Values }) { setConstant(node, out, c) }

        case "Slice":
            try inferSlice(node, opset: opset)

        case "LayerNormalization":
            let s = try shape(node, 0)
            let a = try axis(node, try node.int("axis", default: -1), rank: s.count)
            set(node, s)
            let stats = Array(s[..<a]) + [Int](repeating: 1, count: s.count - a)
            for k in 1..<max(1, node.outputs.count) { set(node, stats, type: .float, output: k) }

        case _ where node.opType.hasPrefix("Reduce"):
            let s = try shape(node, 0)
            let keep = try node.int("keepdims", default: 1) != 0
            let axesSince = node.opType == "ReduceSum" ? 13 : 18
            var axes: [Int]?
            if opset < axesSince {
                axes = try node.ints("axes")
            } else if node.input(1) != nil {
                guard let a = intConstant(node, 1) else { throw Unknown.value }
                axes = a
            }
            let noop = try node.int("noop_with_empty_axes", default: 0) != 0
            if (axes ?? []).isEmpty && opset >= axesSince && noop {
                set(node, s)
                break
            }
            var norm = Set<Int>()
            for a in axes ?? [] { norm.insert(try axis(node, a, rank: s.count)) }
            if norm.isEmpty { norm = Set(s.indices) }
            var out: [Int] = []
            for (i, d) in s.enumerated() { if norm.contains(i) { if keep { out.append(1) } } else { out.append(d) } }
            set(node, out)

        case "Split":
            let s = try shape(node, 0)
            let ax = try axis(node, try node.int("axis", default: 0), rank: s.count)
            var sizes: [Int]?
            if opset < 13 {
                sizes = try node.ints("split")
            } else if node.input(1) != nil {
                guard let v = intConstant(node, 1) else { throw Unknown.value }
                sizes = v
            }
            let outs = node.outputs.count
            if sizes == nil {
                let chunk = (s[ax] + outs - 1) / max(outs, 1)
                var left = s[ax]
                sizes = (0..<outs).map { _ in let c = min(chunk, left); left -= c; return c }
            }
            guard let sizes, sizes.count == outs, sizes.allSatisfy({ $0 >= 0 && $0 <= maxAttributeMagnitude }),
                  sizes.reduce(0, +) == s[ax] else {
                throw fail(node, "split sizes do not add up to axis \(ax) of \(s)")
            }
            for (k, n) in sizes.enumerated() {
                var o = s
                o[ax] = n
                set(node, o, output: k)
            }

        case "Pad":
            let s = try shape(node, 0)
            var pads: [Int]
            var axes = Array(0..<s.count)
            if opset < 11 {
                guard let p = try node.ints("pads") else { throw fail(node, "attribute 'pads' is missing") }
                pads = p
            } else {
                guard let p = intConstant(node, 1) else { throw Unknown.value }
                pads = p
                if node.input(3) != nil {
                    guard let a = intConstant(node, 3) else { throw Unknown.value }
                    axes = []
                    for x in a { axes.append(try axis(node, x, rank: s.count)) }
                }
            }
            guard pads.count == 2 * axes.count, pads.allSatisfy({ $0 >= -maxAttributeMagnitude && $0 <= maxAttributeMagnitude }) else {
                throw fail(node, "pads \(pads) should have \(2 * axes.count) values")
            }
            var out = s
            for (k, a) in axes.enumerated() { out[a] += pads[k] + pads[k + axes.count] }
            guard out.allSatisfy({ $0 >= 0 }) else { throw fail(node, "pads \(pads) crop \(s) below zero") }
            set(node, out)

        case "Tile":
            let s = try shape(node, 0)
            guard let reps = intConstant(node, 1) else { throw Unknown.value }
            guard reps.count == s.count else { throw fail(node, "repeats \(reps) do not match rank \(s.count)") }
            let out = try bounded(node, "repeats", reps, min: 0)
            set(node, zip(s, out).map { $0 * $1 })

        case "ConstantOfShape":
            guard let d = intConstant(node, 0) else { throw Unknown.value }
            let dims = try bounded(node, "shape", d, min: 0)
            _ = try product(node, dims)
            let value = try node.tensor("value")
            set(node, dims, type: value?.elementType ?? .float)
            if let v = value?.int64Values?.first, dims.reduce(1, *) <= Self.foldLimit {
                setConstant(node, dims, [Int64](repeating: v, count: dims.reduce(1, *)))
                types[node.outputs[0]] = value?.elementType
            }

        case "Expand":
            let s = try shape(node, 0)
            guard let t = intConstant(node, 1) else { throw Unknown.value }
            let target = try bounded(node, "shape", t, min: 0)
            set(node, try broadcast(node, s, target))

        case "Range" where (0..<3).allSatisfy({ node.input($0).map { floatScalars[$0] != nil } ?? false }):
            let v = (0..<3).map { floatScalars[node.input($0)!]! }
            guard v[2] != 0 else { throw fail(node, "delta is 0") }
            let steps = ((v[1] - v[0]) / v[2]).rounded(.up)
            guard steps.isFinite, steps < Double(maxAttributeMagnitude) else { throw fail(node, "range of \(steps) elements") }
            set(node, [Int(max(0, steps))], type: .float)

        case "Range":
            guard let start = intConstant(node, 0)?.first, let limit = intConstant(node, 1)?.first,
                  let delta = intConstant(node, 2)?.first, delta != 0 else { throw Unknown.value }
            let steps = (Double(limit) - Double(start)) / Double(delta)
            guard steps < Double(maxAttributeMagnitude) else { throw fail(node, "range of \(steps) elements") }
            let n = Int(max(0, steps.rounded(.up)))
            set(node, [n])
            if n <= Self.foldLimit {
                setConstant(node, [n], (0..<n).map { Int64(start &+ $0 &* delta) })
            }

        default:
            try inferMore(node, opset: opset)
        }
    }

    /// Integer arithmetic on folded shape values (`Mul` of a dimension by a constant, …).
    mutating func foldArithmetic(_ node: Node, _ out: [Int]) {
        guard node.inputs.count == 2, let a = intConstant(node, 0), let b = intConstant(node, 1),
              let sa = node.input(0).flatMap({ shapes[$0] }), let sb = node.input(1).flatMap({ shapes[$0] }),
              out.count <= 1 else { return }
        let n = out.reduce(1, *)
        guard (a.count == n || a.count == 1), (b.count == n || b.count == 1), sa.count <= 1, sb.count <= 1 else { return }
        var r: [Int64] = []
        for i in 0..<n {
            let x = Int64(a.count == 1 ? a[0] : a[i]), y = Int64(b.count == 1 ? b[0] : b[i])
            switch node.opType {
            case "Add": r.append(x &+ y)
            case "Sub": r.append(x &- y)
            case "Mul": r.append(x &* y)
            case "Div":
                guard y != 0, !(x == .min && y == -1) else { return }
                r.append(x / y)
            case "Mod":
                guard y != 0, let f = try? node.int("fmod", default: 0) else { return }
                var m = y == -1 ? 0 : x % y
                if f == 0 && m != 0 && (m < 0) != (y < 0) { m += y }
                r.append(m)
            case "Equal": r.append(x == y ? 1 : 0)
            case "Max": r.append(max(x, y))
            case "Min": r.append(min(x, y))
            default: return
            }
        }
        let t = node.opType == "Equal" ? ElementType.bool : (node.input(0).flatMap { types[$0] } ?? .int64)
        guard t != .float, t != .double else { return }
        setConstant(node, out, r)
        if node.opType == "Equal" {
            constants[node.outputs[0]] = .bool(shape: out, values: r.map { $0 != 0 })
            types[node.outputs[0]] = .bool
        } else {
            types[node.outputs[0]] = t
        }
    }

    func spatialPads(_ node: Node, input: [Int], kernel: [Int], strides: [Int], dilations: [Int])
        throws(GraphError) -> (begin: [Int], end: [Int]) {
        let n = kernel.count
        let autoPad = try node.string("auto_pad", default: "NOTSET")
        switch autoPad {
        case "NOTSET":
            let pads = try bounded(node, "pads", try node.ints("pads") ?? [Int](repeating: 0, count: 2 * n), min: 0)
            guard pads.count == 2 * n else { throw fail(node, "pads \(pads) should have \(2 * n) values") }
            return (Array(pads[..<n]), Array(pads[n...]))
        case "VALID":
            return ([Int](repeating: 0, count: n), [Int](repeating: 0, count: n))
        case "SAME_UPPER", "SAME_LOWER":
            var b: [Int] = [], e: [Int] = []
            for i in 0..<n {
                let out = (input[i] + strides[i] - 1) / strides[i]
                let total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - input[i])
                let small = total / 2, big = total - small
                if autoPad == "SAME_UPPER" { b.append(small); e.append(big) } else { b.append(big); e.append(small) }
            }
            return (b, e)
        default:
            throw fail(node, "unknown auto_pad '\(autoPad)'")
        }
    }

    mutating func inferConv(_ node: Node) throws(any Error) {
        let x = try shape(node, 0), w = try shape(node, 1)
        guard x.count >= 3, w.count == x.count else {
            throw fail(node, "input \(x) and weight \(w) must have the same rank ≥ 3")
        }
        let n = x.count - 2
        let group = try node.int("group", default: 1)
        guard group >= 1, group <= maxAttributeMagnitude, x[1] % group == 0, w[0] % group == 0 else {
            throw fail(node, "group \(group) does not divide the channels (input \(x[1]), output \(w[0]))")
        }
        guard w[1] * group == x[1] else {
            throw fail(node, "weight \(w) expects \(w[1] * group) input channels, the input has \(x[1])")
        }
        let kernel = try bounded(node, "kernel_shape", try node.ints("kernel_shape") ?? Array(w[2...]), min: 1)
        guard kernel == Array(w[2...]) else { throw fail(node, "kernel_shape \(kernel) differs from the weight's \(Array(w[2...]))") }
        let strides = try bounded(node, "strides", try node.ints("strides") ?? [Int](repeating: 1, count: n), min: 1)
        let dilations = try bounded(node, "dilations", try node.ints("dilations") ?? [Int](repeating: 1, count: n), min: 1)
        guard strides.count == n, dilations.count == n, strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }) else {
            throw fail(node, "strides \(strides) / dilations \(dilations) do not fit \(n) spatial axes")
        }
        if let b = node.input(2).flatMap({ shapes[$0] }), b != [w[0]] {
            throw fail(node, "bias has shape \(b), expected [\(w[0])]")
        }
        let spatial = Array(x[2...])
        let pads = try spatialPads(node, input: spatial, kernel: kernel, strides: strides, dilations: dilations)
        var out = [x[0], w[0]]
        for i in 0..<n {
            let span = spatial[i] + pads.begin[i] + pads.end[i] - dilations[i] * (kernel[i] - 1) - 1
            guard span >= 0 else {
                throw fail(node, "kernel \(kernel) (dilation \(dilations)) is larger than the padded input \(spatial)")
            }
            out.append(span / strides[i] + 1)
        }
        set(node, out)
    }

    mutating func inferPool(_ node: Node) throws(any Error) {
        let x = try shape(node, 0)
        guard x.count >= 3 else { throw fail(node, "input rank \(x.count) < 3") }
        let n = x.count - 2
        guard let k = try node.ints("kernel_shape"), k.count == n else {
            throw fail(node, "kernel_shape must list \(n) sizes")
        }
        let kernel = try bounded(node, "kernel_shape", k, min: 1)
        let strides = try bounded(node, "strides", try node.ints("strides") ?? [Int](repeating: 1, count: n), min: 1)
        let dilations = try bounded(node, "dilations", try node.ints("dilations") ?? [Int](repeating: 1, count: n), min: 1)
        guard strides.count == n, dilations.count == n, strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }) else {
            throw fail(node, "strides \(strides) / dilations \(dilations) do not fit \(n) spatial axes")
        }
        let ceilMode = try node.int("ceil_mode", default: 0) != 0
        let spatial = Array(x[2...])
        let autoPad = try node.string("auto_pad", default: "NOTSET")
        let pads = try spatialPads(node, input: spatial, kernel: kernel, strides: strides, dilations: dilations)
        var out = Array(x.prefix(2))
        for i in 0..<n {
            let dk = dilations[i] * (kernel[i] - 1) + 1
            if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
                out.append((spatial[i] + strides[i] - 1) / strides[i])
                continue
            }
            let span = spatial[i] + pads.begin[i] + pads.end[i] - dk
            guard span >= 0 else { throw fail(node, "kernel \(kernel) is larger than the padded input \(spatial)") }
            var o = (ceilMode ? (span + strides[i] - 1) / strides[i] : span / strides[i]) + 1
            // As onnxruntime and PyTorch: with ceil_mode the last window must start inside the
            // input or its left padding.
            if ceilMode && (o - 1) * strides[i] >= spatial[i] + pads.begin[i] { o -= 1 }
            out.append(o)
        }
        set(node, out)
        if node.outputs.count > 1 { set(node, out, type: .int64, output: 1) }
    }

    mutating func inferReshape(_ node: Node) throws(any Error) {
        let s = try shape(node, 0)
        guard node.input(1) != nil else { throw fail(node, "input 'shape' is missing") }
        guard let target = intConstant(node, 1) else { throw Unknown.value }
        let allowZero = try node.int("allowzero", default: 0) != 0
        var out: [Int] = []
        var minus: Int?
        for (i, d) in target.enumerated() {
            switch d {
            case -1:
                guard minus == nil else { throw fail(node, "shape \(target) has more than one -1") }
                minus = i
                out.append(1)
            case 0 where !allowZero:
                guard i < s.count else { throw fail(node, "shape \(target) copies dimension \(i) of a rank-\(s.count) input") }
                out.append(s[i])
            default:
                guard d >= 0 else { throw fail(node, "invalid dimension \(d) in shape \(target)") }
                out.append(d)
            }
        }
        let total = try product(node, s)
        _ = try bounded(node, "shape", out, min: 0)
        if let m = minus {
            let known = checkedProduct(out.enumerated().filter { $0.offset != m }.map(\.element)) ?? 0
            guard known > 0, total % known == 0 else {
                throw fail(node, "cannot reshape \(s) (\(total) elements) to \(target)")
            }
            out[m] = total / known
        }
        guard checkedProduct(out) == total else {
            throw fail(node, "cannot reshape \(s) (\(total) elements) to \(target)")
        }
        set(node, out)
        if let c = node.input(0).flatMap({ constants[$0] }), let v = c.int64Values { setConstant(node, out, v) }
    }

    mutating func inferSlice(_ node: Node, opset: Int) throws(any Error) {
        let s = try shape(node, 0)
        let starts: [Int], ends: [Int], axesOpt: [Int]?, stepsOpt: [Int]?
        if opset >= 10 {
            guard let st = intConstant(node, 1), let en = intConstant(node, 2) else { throw Unknown.value }
            starts = st
            ends = en
            if node.input(3) != nil { guard let a = intConstant(node, 3) else { throw Unknown.value }; axesOpt = a } else { axesOpt = nil }
            if node.input(4) != nil { guard let p = intConstant(node, 4) else { throw Unknown.value }; stepsOpt = p } else { stepsOpt = nil }
        } else {
            guard let st = try node.ints("starts"), let en = try node.ints("ends") else {
                throw fail(node, "attributes 'starts' and 'ends' are required")
            }
            starts = st
            ends = en
            axesOpt = try node.ints("axes")
            stepsOpt = nil
        }
        let axes = axesOpt ?? Array(0..<starts.count)
        let steps = stepsOpt ?? [Int](repeating: 1, count: starts.count)
        guard steps.allSatisfy({ $0 >= -maxAttributeMagnitude && $0 <= maxAttributeMagnitude }) else { throw fail(node, "steps \(steps) out of range") }
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw fail(node, "starts, ends, axes and steps differ in length")
        }
        var out = s
        var ranges: [(Int, Int, Int)] = s.map { (0, $0, 1) }
        for k in starts.indices {
            let ax = try axis(node, axes[k], rank: s.count)
            let dim = s[ax], step = steps[k]
            guard step != 0 else { throw fail(node, "step 0") }
            func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { min(max(v, lo), hi) }
            var b = starts[k] < 0 ? starts[k] + dim : starts[k]
            var e = ends[k] < 0 ? ends[k] + dim : ends[k]
            if step > 0 {
                b = clamp(b, 0, dim)
                e = clamp(e, 0, dim)
                out[ax] = e > b ? (e - b + step - 1) / step : 0
            } else {
                b = clamp(b, -1, dim - 1)
                e = clamp(e, -1, dim - 1)
                out[ax] = b > e ? (b - e - step - 1) / (-step) : 0
            }
            ranges[ax] = (b, e, step)
        }
        set(node, out)
        if let c = node.input(0).flatMap({ constants[$0]?.int64Values }), c.count == checkedProduct(s),
           let n = checkedProduct(out), n <= Self.foldLimit {
            let inStrides = Self.strides(s), outStrides = Self.strides(out)
            var values: [Int64] = []
            for i in 0..<n {
                var src = 0
                for k in out.indices { src += (ranges[k].0 + ((i / outStrides[k]) % out[k]) * ranges[k].2) * inStrides[k] }
                values.append(c[src])
            }
            setConstant(node, out, values)
        }
    }
}

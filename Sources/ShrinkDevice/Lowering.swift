import ShrinkGraph
import ShrinkTensor

extension DeviceGraph {
    /// The ONNX operators lowering understands (after folding and fusion every layer is one of
    /// `DeviceOp`'s cases).
    public static let supportedOperators: [String] = [
        "Conv", "Gemm", "MatMul", "Add", "BatchNormalization", "Relu", "Clip", "MaxPool", "AveragePool",
        "GlobalAveragePool", "GlobalMaxPool", "HardSwish", "HardSigmoid", "LeakyRelu",
        "Mul (of two activations, or per channel)", "Max/Min with a constant scalar", "hard-swish written as Add/Clip/Mul/Div", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout",
        "Softmax (last node only; left out)", "LogSoftmax (last node only; left out)",
    ]

    /// Lowers `graph` to the device form: one float input, one output, BatchNorm folded into the
    /// Conv (or Gemm) before it, Relu/Clip fused into the layer before it, a MatMul's bias Add
    /// folded, Identity/Dropout removed, and a final Softmax/LogSoftmax left out (noted in
    /// `notes`: the device returns the logits, whose argmax is the same).
    ///
    /// Throws `.unsupportedModel` naming every problem at once: several inputs or outputs, a
    /// non-float input, and each node without a device kernel.
    ///
    /// `inputShape` (one sample, batch dropped) fixes an input whose declaration has symbolic
    /// dimensions (an image of any size); without it they are taken as 1.
    public static func lower(_ graph: Graph, inputShape: [Int]? = nil) throws(DeviceError) -> DeviceGraph {
        var lowering = Lowering(graph: graph)
        lowering.inputShape = inputShape
        return try lowering.run()
    }
}

/// The state of one lowering pass.
struct Lowering {
    let graph: Graph
    var problems: [String] = []
    var notes: [String] = []
    var layers: [DeviceLayer] = []
    var tensors: [String: DeviceTensor] = [:]
    /// ONNX value → the device tensor holding it (Identity, Dropout and fused nodes alias).
    var alias: [String: String] = [:]
    /// Device tensor → index of the layer writing it.
    var producer: [String: Int] = [:]
    var shapes: InferredShapes!
    var readers: [String: Int] = [:]
    var usedNames = Set<String>()
    /// The one-sample input shape the caller fixes (symbolic dimensions), if any.
    var inputShape: [Int]?
    /// ONNX values computed by a layer lowered from a pattern of several nodes (hard-swish);
    /// the nodes writing them are skipped.
    var consumed = Set<String>()

    init(graph: Graph) { self.graph = graph }

    mutating func run() throws(DeviceError) -> DeviceGraph {
        let inputs = graph.dataInputs
        if inputs.count != 1 {
            problems.append("the model has \(inputs.count) inputs (\(inputs.map { "'\($0.name)'" }.joined(separator: ", "))); the device library takes exactly one")
        }
        if graph.outputs.count != 1 {
            problems.append("the model has \(graph.outputs.count) outputs (\(graph.outputs.map { "'\($0.name)'" }.joined(separator: ", "))); the device library returns exactly one")
        }
        for i in inputs where i.elementType != nil && i.elementType != .float {
            problems.append("input '\(i.name)' is \(i.elementType!) data; the device library takes float32 inputs")
        }
        guard problems.isEmpty, let input = inputs.first, let output = graph.outputs.first else {
            throw DeviceError(.unsupportedModel, problems)
        }
        let order: [Int]
        do {
            order = try graph.topologicalOrder()
            shapes = try graph.inferShapes(inputShapes: inputShape.map { [input.name: [1] + $0] } ?? [:], batch: 1)
        } catch {
            throw DeviceError(.unsupportedModel, error.message, hint: error.hint)
        }
        guard let inShape = shapes[input.name], inShape.count >= 2, inShape[0] == 1 else {
            throw DeviceError(.unsupportedModel, "input '\(input.name)' has shape \(shapes[input.name] ?? []); expected [batch, …]")
        }
        for n in graph.nodes { for v in n.inputs where !v.isEmpty { readers[v, default: 0] += 1 } }
        for o in graph.outputs { readers[o.name, default: 0] += 1 }

        // Values that depend on the data input; everything else is a constant (weights, shape
        // arithmetic) and is read where needed.
        var dynamic: Set<String> = [input.name]
        for i in order where graph.nodes[i].inputs.contains(where: dynamic.contains) {
            // Shape arithmetic on the input (Shape → Slice → Concat) folds to constants.
            if graph.nodes[i].outputs.allSatisfy({ $0.isEmpty || shapes.constants[$0] != nil }) { continue }
            if graph.nodes[i].opType == "Shape", let x = graph.nodes[i].input(0), shapes[x] != nil { continue }
            for o in graph.nodes[i].outputs where !o.isEmpty { dynamic.insert(o) }
        }
        let inputTensor = DeviceTensor(name: input.name, shape: Array(inShape.dropFirst()))
        tensors[input.name] = inputTensor
        alias[input.name] = input.name

        for i in order {
            let node = graph.nodes[i]
            guard node.outputs.contains(where: dynamic.contains) else { continue }
            lower(node, dynamic: dynamic, isLast: node.outputs.contains(output.name))
        }
        if !problems.isEmpty {
            throw DeviceError(.unsupportedModel, problems,
                              hint: "the device library supports \(DeviceGraph.supportedOperators.joined(separator: ", "))")
        }
        guard let outName = alias[output.name], let outTensor = tensors[outName] else {
            throw DeviceError(.unsupportedModel, "output '\(output.name)' is not computed from the input")
        }
        if outName == input.name {
            throw DeviceError(.unsupportedModel, "the model computes nothing (its output is its input)")
        }
        return DeviceGraph(input: inputTensor, output: outTensor, tensors: tensors, layers: layers, notes: notes)
    }

    // MARK: helpers

    func where_(_ node: Node) -> String { "node \(node.displayName) (\(node.opType))" }

    mutating func problem(_ node: Node, _ text: String) { problems.append("\(where_(node)): \(text)") }

    /// The device tensor holding ONNX value `v`, nil (with a problem) if it is not computed.
    mutating func tensor(_ v: String, _ node: Node) -> String? {
        if let t = alias[v] { return t }
        problem(node, "reads '\(v)', which the device graph does not compute")
        return nil
    }

    /// The one-sample shape of ONNX value `v` (batch dropped).
    func sampleShape(_ v: String) -> [Int]? {
        guard let s = shapes[v], let b = s.first, b == 1 else { return nil }
        return Array(s.dropFirst())
    }

    /// A constant float input of `node`.
    mutating func constant(_ node: Node, _ index: Int, what: String) -> Tensor? {
        guard let name = node.input(index) else { return nil }
        if let t = constantFloat(name) { return t }
        problem(node, "its \(what) '\(name)' must be a constant float tensor")
        return nil
    }

    /// The float value of constant `name`: an initializer, a Constant node, a folded shape
    /// value, or a Reshape/Squeeze/Unsqueeze/Flatten/Identity of one (a bias reshaped to
    /// `[1, C, 1, 1]`, as PaddlePaddle exports it).
    func constantFloat(_ name: String) -> Tensor? {
        if let t = graph.constantValue(name)?.floatTensor { return t }
        if let v = shapes.constants[name], let f = v.floatTensor { return f }
        guard let p = graph.producerIndex(of: name), let x = graph.nodes[p].input(0),
              ["Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity"].contains(graph.nodes[p].opType),
              let t = constantFloat(x), let shape = shapes[name], shape.reduce(1, *) == t.count else { return nil }
        return Tensor(shape: shape, scalars: t.scalars)
    }

    mutating func uniqueLayerName(_ base: String) -> String {
        var name = base.isEmpty ? "layer" : base
        var k = 1
        while usedNames.contains(name) { name = "\(base)_\(k)"; k += 1 }
        usedNames.insert(name)
        return name
    }

    /// The weight's name (an initializer or a Constant node, as PaddlePaddle exports weights)
    /// without `.weight`, else the node name.
    func layerName(_ node: Node, weight: String?) -> String {
        if let w = weight, graph.initializers[w] != nil || graph.constantValue(w) != nil {
            return w.hasSuffix(".weight") ? String(w.dropLast(".weight".count)) : w
        }
        return node.name.isEmpty ? node.opType.lowercased() : node.name
    }

    /// True when `v` feeds exactly one node and is not a graph output, so the node reading it
    /// may be folded into the layer writing it.
    func singleUse(_ v: String) -> Bool { readers[v, default: 0] == 1 && !graph.isGraphOutput(v) }

    mutating func emit(_ layer: DeviceLayer, shape: [Int]) {
        var l = layer
        l.name = uniqueLayerName(layer.name)
        tensors[l.output] = DeviceTensor(name: l.output, shape: shape)
        producer[l.output] = layers.count
        alias[l.output] = l.output
        layers.append(l)
    }

    /// Renames the output of the layer writing device tensor `from` to ONNX value `to` (after a
    /// node was fused into it).
    mutating func retarget(layer k: Int, to v: String, node: Node) {
        let old = layers[k].output
        let t = tensors.removeValue(forKey: old)!
        tensors[v] = DeviceTensor(name: v, shape: t.shape)
        producer[old] = nil
        producer[v] = k
        layers[k].output = v
        layers[k].nodes.append(node.displayName)
        alias[v] = v
        // Earlier ONNX values aliased to the old tensor are gone (they had one reader: this node).
        for (key, value) in alias where value == old { alias[key] = nil }
    }

    /// The activation of a Relu or Clip node, nil with a problem for non-constant Clip bounds.
    mutating func activation(of node: Node) -> Activation? {
        if node.opType == "Relu" { return .relu }
        var lo = -Float.infinity, hi = Float.infinity
        do {
            if let m = try node.float("min") { lo = m }
            if let m = try node.float("max") { hi = m }
        } catch {
            problem(node, error.message)
            return nil
        }
        for (index, isMin) in [(1, true), (2, false)] {
            guard let name = node.input(index) else { continue }
            guard let t = graph.constantValue(name)?.floatTensor ?? shapes.constants[name]?.floatTensor, t.count == 1 else {
                problem(node, "its \(isMin ? "min" : "max") must be a constant scalar")
                return nil
            }
            if isMin { lo = t.scalars[0] } else { hi = t.scalars[0] }
        }
        guard lo <= hi else {
            problem(node, "min \(lo) is above max \(hi)")
            return nil
        }
        if lo == 0 && hi == .infinity { return .relu }
        return .clip(lo: lo, hi: hi)
    }

    // MARK: nodes

    mutating func lower(_ node: Node, dynamic: Set<String>, isLast: Bool) {
        guard node.isStandardDomain else {
            problem(node, "operator domain '\(node.domain)' has no device kernel")
            return
        }
        if node.outputs.contains(where: consumed.contains) { return }
        switch node.opType {
        case "Identity", "Dropout":
            if let x = node.input(0), let t = tensor(x, node) { alias[node.outputs[0]] = t }
        case "Conv": lowerConv(node)
        case "Gemm": lowerGemm(node)
        case "MatMul": lowerMatMul(node)
        case "BatchNormalization": lowerBatchNorm(node)
        case "Relu", "Clip": lowerActivation(node)
        case "HardSwish": lowerElementwise(node, .hardSwish)
        case "HardSigmoid":
            do {
                lowerElementwise(node, .hardSigmoid(alpha: try node.float("alpha", default: 0.2),
                                                    beta: try node.float("beta", default: 0.5)))
            } catch { problem(node, error.message) }
        case "LeakyRelu":
            do { lowerElementwise(node, .leakyRelu(alpha: try node.float("alpha", default: 0.01))) } catch { problem(node, error.message) }
        case "Mul": lowerMul(node, dynamic: dynamic)
        case "Max", "Min": lowerMaxMin(node, dynamic: dynamic)
        case "Add": lowerAdd(node, dynamic: dynamic)
        case "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool": lowerPool(node)
        case "Flatten", "Reshape", "Squeeze", "Unsqueeze": lowerReshape(node)
        case "Softmax", "LogSoftmax":
            // Last, or followed only by an Identity that is the output (PaddlePaddle's export).
            let last = isLast || soleReader(node.outputs[0]).map { $0.opType == "Identity" && graph.isGraphOutput($0.outputs[0]) } == true
            guard last, let x = node.input(0), singleUse(x), let t = tensor(x, node) else {
                problem(node, "has no int8 kernel; only a Softmax that computes the model's output can be left out")
                return
            }
            alias[node.outputs[0]] = t
            notes.append("the final \(node.opType) (\(node.displayName)) is left out: the device returns its input (the logits), whose argmax is the same")
        default:
            problem(node, "has no device kernel")
        }
    }

    mutating func lowerConv(_ node: Node) {
        guard let x = node.input(0), let xt = tensor(x, node), let w = constant(node, 1, what: "weight") else { return }
        let bias = node.input(2) == nil ? nil : constant(node, 2, what: "bias")
        if node.input(2) != nil && bias == nil { return }
        guard let inS = sampleShape(x), let outS = sampleShape(node.outputs[0]),
              inS.count == outS.count, inS.count == 2 || inS.count == 3 else {
            problem(node, "only 1-D and 2-D convolutions run on the device (shapes \(shapes[x] ?? []) → \(shapes[node.outputs[0]] ?? []))")
            return
        }
        let spatial = inS.count - 1
        do {
            let group = try node.int("group", default: 1)
            let kernel = try node.ints("kernel_shape") ?? Array(w.shape.dropFirst(2))
            let strides = try node.ints("strides") ?? [Int](repeating: 1, count: spatial)
            let dilations = try node.ints("dilations") ?? [Int](repeating: 1, count: spatial)
            let autoPad = try node.string("auto_pad", default: "NOTSET")
            let inHW = Array(inS.dropFirst()), outHW = Array(outS.dropFirst())
            guard kernel.count == spatial, strides.count == spatial, dilations.count == spatial,
                  w.rank == spatial + 2, group >= 1, inS[0] % group == 0, w.shape[0] % group == 0,
                  w.shape[1] * group == inS[0], w.shape[0] == outS[0] else {
                problem(node, "weight \(w.shape), group \(group) and input \(shapes[x] ?? []) do not fit together")
                return
            }
            let pads = try resolvePads(node, autoPad: autoPad, input: inHW, output: outHW, kernel: kernel,
                                       strides: strides, dilations: dilations)
            // 1-D is 2-D with height 1.
            func hw(_ a: [Int], _ one: Int) -> (Int, Int) { a.count == 2 ? (a[0], a[1]) : (one, a[0]) }
            let (ih, iw) = hw(inHW, 1), (oh, ow) = hw(outHW, 1), (kh, kw) = hw(kernel, 1)
            let (sh, sw) = hw(strides, 1), (dh, dw) = hw(dilations, 1)
            let (pt, pl) = spatial == 2 ? (pads[0], pads[1]) : (0, pads[0])
            let (pb, pr) = spatial == 2 ? (pads[2], pads[3]) : (0, pads[1])
            let g = ConvGeometry(inC: inS[0], inH: ih, inW: iw, outC: outS[0], outH: oh, outW: ow, kernelH: kh, kernelW: kw,
                                 strideH: sh, strideW: sw, padTop: pt, padLeft: pl, padBottom: pb, padRight: pr,
                                 dilationH: dh, dilationW: dw, group: group)
            guard bias == nil || bias!.count == g.outC else {
                problem(node, "bias has \(bias!.count) values for \(g.outC) output channels")
                return
            }
            let name = layerName(node, weight: node.input(1))
            emit(DeviceLayer(name: name, op: .conv(g, weights: w.scalars, bias: bias?.scalars, activation: .none),
                             inputs: [xt], output: node.outputs[0], nodes: [node.displayName]), shape: outS)
        } catch {
            problem(node, error.message)
        }
    }

    /// Begin/end pads per spatial axis (`[b0, b1, …, e0, e1, …]`), resolving `auto_pad`.
    func resolvePads(_ node: Node, autoPad: String, input: [Int], output: [Int], kernel: [Int], strides: [Int],
                     dilations: [Int]) throws(GraphError) -> [Int] {
        let r = input.count
        switch autoPad {
        case "NOTSET":
            let p = try node.ints("pads") ?? [Int](repeating: 0, count: 2 * r)
            guard p.count == 2 * r, p.allSatisfy({ $0 >= 0 }) else {
                throw GraphError(.badAttribute, "pads \(p) do not fit \(r) spatial axes")
            }
            return p
        case "VALID":
            return [Int](repeating: 0, count: 2 * r)
        case "SAME_UPPER", "SAME_LOWER":
            var b = [Int](), e = [Int]()
            for i in 0..<r {
                let ext = (kernel[i] - 1) * dilations[i] + 1
                let total = max(0, (output[i] - 1) * strides[i] + ext - input[i])
                let begin = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                b.append(begin)
                e.append(total - begin)
            }
            return b + e
        default:
            throw GraphError(.badAttribute, "unknown auto_pad '\(autoPad)'")
        }
    }

    mutating func lowerGemm(_ node: Node) {
        guard let x = node.input(0), let xt = tensor(x, node), let b = constant(node, 1, what: "weight") else { return }
        let c = node.input(2) == nil ? nil : constant(node, 2, what: "bias")
        if node.input(2) != nil && c == nil { return }
        do {
            let transA = try node.int("transA", default: 0), transB = try node.int("transB", default: 0)
            let alpha = try node.float("alpha", default: 1), beta = try node.float("beta", default: 1)
            guard transA == 0 else {
                problem(node, "transA = 1 is not supported on the device (the input must be [batch, features])")
                return
            }
            guard let inS = sampleShape(x), inS.count == 1, b.rank == 2 else {
                problem(node, "the input must be [batch, features] and the weight 2-D (got \(shapes[x] ?? []) and \(b.shape))")
                return
            }
            let w = transB != 0 ? b : b.transposed()   // [out, in]
            let (outN, inN) = (w.shape[0], w.shape[1])
            guard inN == inS[0] else {
                problem(node, "weight \(b.shape) does not fit input \(shapes[x] ?? [])")
                return
            }
            var bias: [Float]?
            if let c {
                guard c.count == outN || c.count == 1 else {
                    problem(node, "bias \(c.shape) does not broadcast to [\(outN)] (a per-sample bias cannot be a constant)")
                    return
                }
                bias = c.count == outN ? c.scalars.map { $0 * beta } : [Float](repeating: c.scalars[0] * beta, count: outN)
            }
            let weights = alpha == 1 ? w.scalars : w.scalars.map { $0 * alpha }
            emit(DeviceLayer(name: layerName(node, weight: node.input(1)),
                             op: .fullyConnected(inputs: inN, outputs: outN, weights: weights, bias: bias, activation: .none),
                             inputs: [xt], output: node.outputs[0], nodes: [node.displayName]), shape: [outN])
        } catch {
            problem(node, error.message)
        }
    }

    mutating func lowerMatMul(_ node: Node) {
        guard let x = node.input(0), let xt = tensor(x, node), let b = constant(node, 1, what: "weight") else { return }
        guard let inS = sampleShape(x), inS.count == 1, b.rank == 2, b.shape[0] == inS[0] else {
            problem(node, "only [batch, features] × constant [features, outputs] runs on the device (got \(shapes[x] ?? []) × \(b.shape))")
            return
        }
        let w = b.transposed()
        emit(DeviceLayer(name: layerName(node, weight: node.input(1)),
                         op: .fullyConnected(inputs: b.shape[0], outputs: b.shape[1], weights: w.scalars, bias: nil, activation: .none),
                         inputs: [xt], output: node.outputs[0], nodes: [node.displayName]), shape: [b.shape[1]])
    }

    /// The layer writing ONNX value `v` when a node reading `v` may fold into it.
    func foldTarget(_ v: String) -> Int? {
        guard singleUse(v), let t = alias[v], t == v, let k = producer[t] else { return nil }
        return k
    }

    mutating func lowerBatchNorm(_ node: Node) {
        guard let x = node.input(0), let xt = tensor(x, node) else { return }
        guard let scale = constant(node, 1, what: "scale"), let shift = constant(node, 2, what: "bias"),
              let mean = constant(node, 3, what: "mean"), let variance = constant(node, 4, what: "variance") else { return }
        let eps: Float
        do { eps = try node.float("epsilon", default: 1e-5) } catch { problem(node, error.message); return }
        let n = scale.count
        guard [shift.count, mean.count, variance.count].allSatisfy({ $0 == n }) else {
            problem(node, "scale, bias, mean and variance have different lengths")
            return
        }
        // y = a x + b per channel.
        let a = (0..<n).map { scale.scalars[$0] / (variance.scalars[$0] + eps).squareRoot() }
        let b = (0..<n).map { shift.scalars[$0] - mean.scalars[$0] * a[$0] }
        if let k = foldTarget(x) {
            switch layers[k].op {
            case .conv(let g, var w, let bias, .none) where g.outC == n:
                let per = w.count / n
                for m in 0..<n { for j in 0..<per { w[m * per + j] *= a[m] } }
                let nb = (0..<n).map { (bias?[$0] ?? 0) * a[$0] + b[$0] }
                layers[k].op = .conv(g, weights: w, bias: nb, activation: .none)
                retarget(layer: k, to: node.outputs[0], node: node)
                return
            case .fullyConnected(let i, let o, var w, let bias, .none) where o == n:
                for m in 0..<n { for j in 0..<i { w[m * i + j] *= a[m] } }
                let nb = (0..<n).map { (bias?[$0] ?? 0) * a[$0] + b[$0] }
                layers[k].op = .fullyConnected(inputs: i, outputs: o, weights: w, bias: nb, activation: .none)
                retarget(layer: k, to: node.outputs[0], node: node)
                return
            default: break
            }
        }
        // On its own: a depthwise 1×1 convolution.
        guard let s = sampleShape(x), let t = DeviceTensor(name: x, shape: s).chw, t.c == n else {
            problem(node, "a BatchNormalization that does not follow a Conv or Gemm needs a [batch, C, …] input")
            return
        }
        let g = ConvGeometry(inC: n, inH: t.h, inW: t.w, outC: n, outH: t.h, outW: t.w, kernelH: 1, kernelW: 1,
                             strideH: 1, strideW: 1, padTop: 0, padLeft: 0, padBottom: 0, padRight: 0,
                             dilationH: 1, dilationW: 1, group: n)
        emit(DeviceLayer(name: layerName(node, weight: nil), op: .conv(g, weights: a, bias: b, activation: .none),
                         inputs: [xt], output: node.outputs[0], nodes: [node.displayName]), shape: s)
    }

    mutating func lowerActivation(_ node: Node) {
        guard let x = node.input(0), let act = activation(of: node) else { return }
        lowerActivation(node, x: x, act)
    }

    /// Max or Min of an activation and a constant scalar (Keras' `tf.math.maximum(x, -0.4)`): a
    /// clamp from below or above.
    mutating func lowerMaxMin(_ node: Node, dynamic: Set<String>) {
        let live = node.inputs.filter { !$0.isEmpty && dynamic.contains($0) }
        guard node.inputs.count == 2, live.count == 1, let x = live.first,
              let c = scalarConstant(node, node.inputs[0] == x ? 1 : 0) else {
            problem(node, "only \(node.opType) of one activation and a constant scalar runs on the device (a clamp)")
            return
        }
        lowerActivation(node, x: x, node.opType == "Max" ? .clip(lo: c, hi: .infinity) : .clip(lo: -.infinity, hi: c))
    }

    mutating func lowerActivation(_ node: Node, x: String, _ act: Activation) {
        guard let xt = tensor(x, node) else { return }
        if let k = foldTarget(x) {
            var fused: DeviceOp?
            switch layers[k].op {
            case .conv(let g, let w, let b, .none): fused = .conv(g, weights: w, bias: b, activation: act)
            case .fullyConnected(let i, let o, let w, let b, .none):
                fused = .fullyConnected(inputs: i, outputs: o, weights: w, bias: b, activation: act)
            case .add(.none): fused = .add(activation: act)
            case .mul(.none): fused = .mul(activation: act)
            default: break
            }
            if let fused {
                layers[k].op = fused
                retarget(layer: k, to: node.outputs[0], node: node)
                return
            }
        }
        emit(DeviceLayer(name: layerName(node, weight: nil), op: .clamp(act), inputs: [xt], output: node.outputs[0],
                         nodes: [node.displayName]), shape: tensors[xt]!.shape)
    }

    mutating func lowerAdd(_ node: Node, dynamic: Set<String>) {
        guard let a = node.input(0), let b = node.input(1) else { problem(node, "needs two inputs"); return }
        switch (dynamic.contains(a), dynamic.contains(b)) {
        case (true, true):
            guard let at = tensor(a, node), let bt = tensor(b, node) else { return }
            guard tensors[at]!.shape == tensors[bt]!.shape else {
                problem(node, "adds shapes \(shapes[a] ?? []) and \(shapes[b] ?? []); the device adds equal shapes only (no broadcasting)")
                return
            }
            emit(DeviceLayer(name: layerName(node, weight: nil), op: .add(activation: .none), inputs: [at, bt],
                             output: node.outputs[0], nodes: [node.displayName]), shape: tensors[at]!.shape)
        default:
            // A constant added to a Conv/Gemm/MatMul output is its bias.
            let (x, ci) = dynamic.contains(a) ? (a, 1) : (b, 0)
            guard let c = constant(node, ci, what: "addend") else { return }
            // ONNX broadcasting aligns the constant to the right of [batch, C, …]: it is a bias
            // when every axis but the channel axis (1) has size 1.
            let outRank = 1 + (sampleShape(x)?.count ?? 0)
            let aligned = [Int](repeating: 1, count: max(0, outRank - c.rank)) + c.shape
            let perChannel = aligned.count == outRank && aligned.enumerated().allSatisfy { $0.offset == 1 || $0.element == 1 }
            if perChannel, let k = foldTarget(x) {
                switch layers[k].op {
                case .fullyConnected(let i, let o, let w, let bias, .none) where c.count == o || c.count == 1:
                    let add = c.count == o ? c.scalars : [Float](repeating: c.scalars[0], count: o)
                    let nb = (0..<o).map { (bias?[$0] ?? 0) + add[$0] }
                    layers[k].op = .fullyConnected(inputs: i, outputs: o, weights: w, bias: nb, activation: .none)
                    retarget(layer: k, to: node.outputs[0], node: node)
                    return
                case .conv(let g, let w, let bias, .none) where c.count == g.outC || c.count == 1:
                    let add = c.count == g.outC ? c.scalars : [Float](repeating: c.scalars[0], count: g.outC)
                    let nb = (0..<g.outC).map { (bias?[$0] ?? 0) + add[$0] }
                    layers[k].op = .conv(g, weights: w, bias: nb, activation: .none)
                    retarget(layer: k, to: node.outputs[0], node: node)
                    return
                default: break
                }
            }
            if lowerHardSwishPattern(node, x: x, addend: c) { return }
            problem(node, "adds a constant to something other than a Conv, Gemm or MatMul output; only residual Adds of two activations and bias Adds run on the device")
        }
    }

    mutating func lowerPool(_ node: Node) {
        guard let x = node.input(0), let xt = tensor(x, node), let inS = sampleShape(x), let outS = sampleShape(node.outputs[0]),
              let t = DeviceTensor(name: x, shape: inS).chw, inS.count == outS.count else {
            problem(node, "only 1-D and 2-D pooling of [batch, C, …] tensors runs on the device")
            return
        }
        let spatial = inS.count - 1
        let o = DeviceTensor(name: "", shape: outS).chw!
        let global = node.opType.hasPrefix("Global")
        var g = PoolGeometry(channels: t.c, inH: t.h, inW: t.w, outH: o.h, outW: o.w, kernelH: t.h, kernelW: t.w,
                             strideH: 1, strideW: 1, padTop: 0, padLeft: 0)
        var countIncludePad = false
        if !global {
            do {
                guard let kernel = try node.ints("kernel_shape"), kernel.count == spatial else {
                    problem(node, "kernel_shape is missing or does not fit the input")
                    return
                }
                let strides = try node.ints("strides") ?? [Int](repeating: 1, count: spatial)
                let dilations = try node.ints("dilations") ?? [Int](repeating: 1, count: spatial)
                guard dilations.allSatisfy({ $0 == 1 }) else { problem(node, "dilated pooling is not supported on the device"); return }
                if try node.int("storage_order", default: 0) != 0 { problem(node, "storage_order = 1 is not supported"); return }
                let ceil = try node.int("ceil_mode", default: 0) != 0
                let pads = try resolvePads(node, autoPad: try node.string("auto_pad", default: "NOTSET"),
                                           input: Array(inS.dropFirst()), output: Array(outS.dropFirst()), kernel: kernel,
                                           strides: strides, dilations: dilations)
                if node.opType == "AveragePool" {
                    countIncludePad = try node.int("count_include_pad", default: 0) != 0 && pads.contains { $0 != 0 }
                    if countIncludePad && ceil {
                        problem(node, "count_include_pad with ceil_mode is not supported on the device")
                        return
                    }
                }
                if spatial == 2 {
                    (g.kernelH, g.kernelW, g.strideH, g.strideW, g.padTop, g.padLeft) = (kernel[0], kernel[1], strides[0], strides[1], pads[0], pads[1])
                } else {
                    (g.kernelH, g.kernelW, g.strideH, g.strideW, g.padTop, g.padLeft) = (1, kernel[0], 1, strides[0], 0, pads[0])
                }
                // Every window must hold at least one input element (a window entirely in the
                // padding has no average and no maximum).
                guard (o.h - 1) * g.strideH - g.padTop < t.h, (o.w - 1) * g.strideW - g.padLeft < t.w,
                      g.kernelH > g.padTop, g.kernelW > g.padLeft else {
                    problem(node, "a pooling window lies entirely in the padding")
                    return
                }
            } catch {
                problem(node, error.message)
                return
            }
        }
        let op: DeviceOp = node.opType.hasSuffix("MaxPool") ? .maxPool(g) : .averagePool(g, countIncludePad: countIncludePad)
        emit(DeviceLayer(name: layerName(node, weight: nil), op: op, inputs: [xt], output: node.outputs[0],
                         nodes: [node.displayName]), shape: outS)
    }

    mutating func lowerReshape(_ node: Node) {
        guard let x = node.input(0), let xt = tensor(x, node), let inS = sampleShape(x),
              let outS = sampleShape(node.outputs[0]) else {
            problem(node, "its output shape is unknown or does not keep the batch first")
            return
        }
        guard inS.reduce(1, *) == outS.reduce(1, *) else {
            problem(node, "changes the element count per sample (\(shapes[x] ?? []) → \(shapes[node.outputs[0]] ?? []))")
            return
        }
        // Feature maps are stored channels last on the device, so only reshapes that keep the
        // storage order, or flatten to a vector, are free (the C export reorders flattened maps).
        func plain(_ s: [Int]) -> Bool { s.count <= 1 || s[0] == 1 || s.dropFirst().reduce(1, *) == 1 }
        // An output whose ONNX order is its channels-last order (one channel, or 1×1) is a
        // reorder copy of a channels-last input (NHWC models exported through tf2onnx).
        guard outS.count == 1 || plain(outS) else {
            problem(node, "reshapes \(shapes[x] ?? []) to \(shapes[node.outputs[0]] ?? []); the device supports flattening to [batch, N] only")
            return
        }
        if inS == outS {
            alias[node.outputs[0]] = xt
            return
        }
        emit(DeviceLayer(name: layerName(node, weight: nil), op: .reshape, inputs: [xt], output: node.outputs[0],
                         nodes: [node.displayName]), shape: outS)
    }

    // MARK: elementwise functions and products

    mutating func lowerElementwise(_ node: Node, _ f: ElementwiseFunction) {
        guard let x = node.input(0), let xt = tensor(x, node) else { return }
        emit(DeviceLayer(name: layerName(node, weight: nil), op: .lookup(f), inputs: [xt], output: node.outputs[0],
                         nodes: [node.displayName]), shape: tensors[xt]!.shape)
    }

    /// The only node reading `v`, when `v` has exactly one reader and is not a graph output.
    func soleReader(_ v: String) -> Node? {
        guard singleUse(v) else { return nil }
        return graph.nodes.first { $0.inputs.contains(v) }
    }

    /// A constant scalar input of `node` (nil if it is not one).
    func scalarConstant(_ node: Node, _ index: Int) -> Float? {
        guard let name = node.input(index), let t = constantFloat(name), t.count == 1 else { return nil }
        return t.scalars[0]
    }

    /// Hard-swish written out, as PaddlePaddle exports it: `Add(x, 3) → Clip(0, 6) → Mul(x, ·) →
    /// Div(·, 6)` (or `Mul(·, 1/6)`). Lowered to one `lookup(.hardSwish)` layer; true when it matched.
    mutating func lowerHardSwishPattern(_ add: Node, x: String, addend: Tensor) -> Bool {
        guard addend.count == 1, addend.scalars[0] == 3, let xt = alias[x],
              let clip = soleReader(add.outputs[0]), clip.opType == "Clip", clip.input(0) == add.outputs[0],
              case .clip(0, 6)? = { () -> Activation? in
                  guard let lo = scalarConstant(clip, 1), let hi = scalarConstant(clip, 2) else { return nil }
                  return .clip(lo: lo, hi: hi)
              }(),
              let mul = soleReader(clip.outputs[0]), mul.opType == "Mul",
              Set(mul.inputs) == [x, clip.outputs[0]],
              let div = soleReader(mul.outputs[0]), div.input(0) == mul.outputs[0],
              (div.opType == "Div" && scalarConstant(div, 1) == 6) || (div.opType == "Mul" && scalarConstant(div, 1) == Float(1) / 6)
        else { return false }
        consumed.formUnion([clip.outputs[0], mul.outputs[0], div.outputs[0]])
        emit(DeviceLayer(name: layerName(add, weight: nil), op: .lookup(.hardSwish), inputs: [xt], output: div.outputs[0],
                         nodes: [add, clip, mul, div].map(\.displayName)), shape: tensors[xt]!.shape)
        return true
    }

    /// Mul of two activations: equal shapes, or a feature map times one value per channel
    /// (`[C, H, W] · [C, 1, 1]`, squeeze-excitation). The feature map becomes the first input.
    mutating func lowerMul(_ node: Node, dynamic: Set<String>) {
        guard let a = node.input(0), let b = node.input(1), dynamic.contains(a), dynamic.contains(b) else {
            problem(node, "multiplies by a constant; only products of two activations run on the device (a constant scale belongs in the Conv before it)")
            return
        }
        guard let at = tensor(a, node), let bt = tensor(b, node) else { return }
        let sa = tensors[at]!.shape, sb = tensors[bt]!.shape
        func perChannel(_ big: [Int], _ small: [Int]) -> Bool {
            big.count >= 2 && small.count == big.count && small[0] == big[0] && small.dropFirst().allSatisfy { $0 == 1 }
        }
        let inputs: [String]
        if sa == sb || perChannel(sa, sb) {
            inputs = [at, bt]
        } else if perChannel(sb, sa) {
            inputs = [bt, at]
        } else {
            problem(node, "multiplies shapes \(shapes[a] ?? []) and \(shapes[b] ?? []); the device multiplies equal shapes or a map by one value per channel")
            return
        }
        emit(DeviceLayer(name: layerName(node, weight: nil), op: .mul(activation: .none), inputs: inputs,
                         output: node.outputs[0], nodes: [node.displayName]), shape: tensors[inputs[0]]!.shape)
    }
}

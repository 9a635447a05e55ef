import ShrinkGraph
import ShrinkTensor

/// What preparation can prove about a value with respect to the batch axis, so the executor
/// knows when running chunks of the batch separately gives the same answer as one run.
enum BatchState: Equatable {
    /// Independent of the batch (a constant or computed from constants only).
    case constant
    /// Axis 0 is the batch and every sample's slice depends only on that sample;
    /// `perSample` holds the remaining dimensions when the rank is known, −1 for a size that
    /// is not (an export with symbolic height and width), nil when the rank is not known.
    case batched(perSample: [Int]?)
    /// An int64 shape vector (or scalar, `scalar`) whose entries are known symbolically.
    case shapeVector([SymbolicDim], scalar: Bool)
    /// Nothing proven: the graph is run on the whole batch at once.
    case unknown
}

/// One entry of a shape vector: the batch size, a fixed number, or unknown.
enum SymbolicDim: Equatable {
    case batch
    case fixed(Int)
    case unknown
}

/// Propagates `BatchState` through the steps; returns nil where a step is not provably batch-separable.
struct BatchAnalysis {
    var states: [BatchState]
    var constants: [Int: Value]

    init(slotCount: Int, constants: [Int: Value]) {
        self.constants = constants
        states = [BatchState](repeating: .unknown, count: slotCount)
        for (slot, _) in constants { states[slot] = .constant }
    }

    func rank(_ s: BatchState) -> Int? {
        if case .batched(let p) = s { return p.map { $0.count + 1 } }
        return nil
    }

    /// `p` when every size in it is known.
    func known(_ p: [Int]?) -> [Int]? { p.flatMap { $0.contains(-1) ? nil : $0 } }

    /// A per-sample shape of the same rank as `p` with every size unknown but the first (`first`).
    func sameRank(_ p: [Int]?, first: Int? = nil) -> [Int]? {
        p.map { p in p.isEmpty ? [] : [first ?? p[0]] + [Int](repeating: -1, count: p.count - 1) }
    }

    /// Numpy broadcasting of two shapes in which −1 is an unknown size (it broadcasts with 1 to
    /// itself, and with a known size to that size); nil when the shapes cannot broadcast.
    func broadcastUnknown(_ a: [Int], _ b: [Int]) -> [Int]? {
        let r = max(a.count, b.count)
        let a = [Int](repeating: 1, count: r - a.count) + a, b = [Int](repeating: 1, count: r - b.count) + b
        var out: [Int] = []
        for (x, y) in zip(a, b) {
            if x == y || y == 1 { out.append(x) } else if x == 1 { out.append(y) } else if x == -1 { out.append(y) } else if y == -1 { out.append(x) } else { return nil }
        }
        return out
    }

    mutating func visit(_ step: Step) {
        let ins = step.inputs.map { $0 >= 0 ? states[$0] : .constant }
        let out = transfer(step, ins)
        for o in step.outputs where o >= 0 { states[o] = .unknown }
        states[step.outputs[0]] = out
        if case .split = step.op { for o in step.outputs where o >= 0 { states[o] = out } }
        if case .dropout = step.op, step.outputs.count > 1, step.outputs[1] >= 0 { states[step.outputs[1]] = out }
    }

    /// A binary op: batched with batched of the same rank (each sample with its own; a squeeze-
    /// and-excite Mul of [C, H, W] by [C, 1, 1]), or batched with a constant on either side
    /// (paddle2onnx writes Mul(scale, x)) that adds no axis before the batch.
    func binaryTransfer(_ step: Step, _ ins: [BatchState]) -> BatchState {
        switch (ins[0], ins[1]) {
        case let (.batched(p0), .batched(p1)):
            if ins[0] == ins[1] { return ins[0] }
            guard let p0, let p1, p0.count == p1.count, let shape = broadcastUnknown([1] + p0, [1] + p1) else { return .unknown }
            return .batched(perSample: Array(shape.dropFirst()))
        case (.batched(let p), .constant), (.constant, .batched(let p)):
            let c = ins[0] == .constant ? step.inputs[0] : step.inputs[1]
            guard let p, let cs = c >= 0 ? constants[c]?.shape : [] else { return .unknown }
            let r = p.count + 1
            guard cs.count < r || (cs.count == r && cs[0] == 1), let shape = broadcastUnknown([1] + p, cs) else { return .unknown }
            return .batched(perSample: Array(shape.dropFirst()))
        default:
            return shapeTransfer(step, ins)
        }
    }

    func transfer(_ step: Step, _ ins: [BatchState]) -> BatchState {
        let x = ins.first ?? .unknown
        let restConstant = ins.dropFirst().allSatisfy { $0 == .constant }
        if case .binary = step.op, ins.count == 2 { return binaryTransfer(step, ins) }
        guard case .batched(let per) = x else {
            return shapeTransfer(step, ins)
        }
        switch step.op {
        case .activation, .identity, .dropout, .scaleShift:
            return x
        case .softmax(let axis, _):
            guard let r = rank(x), axis != 0, axis != -r, restConstant else { return .unknown }
            return x
        case .clipRuntime, .batchNorm:
            return restConstant ? x : .unknown
        case .conv(let attrs, _, let pool, _):
            guard restConstant else { return .unknown }
            guard let p = known(per), let w = constants[step.inputs[1]],
                  let plan = try? ConvPlan(input: [1] + p, weight: w.shape, attrs: attrs) else {
                // Sizes unknown: a convolution keeps the rank, with the weight's channels.
                return .batched(perSample: sameRank(per, first: constants[step.inputs[1]]?.shape.first))
            }
            let convOut = Array(plan.outputShape.dropFirst())
            return .batched(perSample: pool.map { pooledShape(convOut, $0.attributes) ?? sameRank(convOut) } ?? convOut)
        case .pool(_, let attrs):
            return .batched(perSample: known(per).flatMap { pooledShape($0, attrs) } ?? sameRank(per))
        case .globalAveragePool:
            return .batched(perSample: per.map { p in [p.first ?? 1] + [Int](repeating: 1, count: max(0, p.count - 1)) })
        case .gemm(let attrs, _):
            guard !attrs.transA, restConstant else { return .unknown }
            // C must be the same for every row (a per-row C would tie rows to batch positions).
            if step.inputs.count > 2, step.inputs[2] >= 0, let c = constants[step.inputs[2]],
               c.shape.count == 2 && c.shape[0] != 1 {
                return .unknown
            }
            if let w = step.inputs.count > 1 ? constants[step.inputs[1]] : nil, w.shape.count == 2 {
                return .batched(perSample: [attrs.transB ? w.shape[0] : w.shape[1]])
            }
            return .batched(perSample: nil)
        case .matmul:
            guard restConstant, let r = rank(x), r >= 2, let w = constants[step.inputs[1]], w.shape.count == 2 else {
                return .unknown
            }
            return .batched(perSample: per.map { Array($0.dropLast()) + [w.shape[1]] })
        case .binary:
            return .unknown  // binaryTransfer
        case .flatten(let axis):
            if axis == 1 { return .batched(perSample: per.map { known($0).map { [product($0)] } ?? [-1] }) }
            guard let p = per, axis == -(p.count) else { return .unknown }
            return .batched(perSample: [known(p).map(product) ?? -1])
        case .reshape(let allowZero):
            guard ins.count >= 2 else { return .unknown }
            switch ins[1] {
            case .constant:
                guard let spec = constants[step.inputs[1]]?.intTensor?.values, let first = spec.first else { return .unknown }
                if first == 0 && !allowZero { return .batched(perSample: nil) }
                if first == -1, let p = known(per), spec.dropFirst().allSatisfy({ $0 > 0 }),
                   product(spec.dropFirst().map { Int($0) }) == product(p) {
                    return .batched(perSample: spec.dropFirst().map { Int($0) })
                }
                return .unknown
            case .shapeVector(let dims, false):
                guard dims.first == .batch, !dims.dropFirst().contains(.batch), !dims.dropFirst().contains(.unknown) else {
                    return .unknown
                }
                // The rank is the vector's length; −1 (inferred) and 0 (copied) sizes are unknown here.
                return .batched(perSample: dims.dropFirst().map { if case .fixed(let v) = $0, v > 0 { return v } else { return -1 } })
            default:
                return .unknown
            }
        case .transpose(let perm):
            guard let perm, perm.first == 0 else { return .unknown }
            return .batched(perSample: per.map { p in perm.dropFirst().map { p[$0 - 1] } })
        case .concat(let axis):
            guard ins.allSatisfy({ if case .batched = $0 { return true } else { return false } }),
                  let r = rank(x), axis != 0, axis != -r else { return .unknown }
            // Same rank; the joined axis unknown unless every part's size is known.
            let parts = ins.compactMap { if case .batched(let p) = $0 { return p } else { return nil } }
            guard parts.count == ins.count, parts.allSatisfy({ $0.count == r - 1 }), let p = per else { return .batched(perSample: nil) }
            let a = (axis < 0 ? axis + r : axis) - 1
            var out = p
            out[a] = parts.map { $0[a] }.contains(-1) ? -1 : parts.map { $0[a] }.reduce(0, +)
            return .batched(perSample: out)
        case .shape(let start, let end):
            var dims: [SymbolicDim] = [.batch] + (per?.map { $0 < 0 ? .unknown : .fixed($0) } ?? [])
            if per == nil { return start == nil || start == 0 ? .shapeVector([.batch, .unknown], scalar: false) : .unknown }
            let r = dims.count
            func clamp(_ v: Int) -> Int { Swift.min(Swift.max(v < 0 ? v + r : v, 0), r) }
            let s = clamp(start ?? 0), e = clamp(end ?? r)
            dims = s < e ? Array(dims[s..<e]) : []
            // An unknown tail is only used to refuse guesses; its length does not matter there.
            return .shapeVector(dims, scalar: false)
        case .gather(let axis):
            guard restConstant, axis != 0, let r = rank(x), axis != -r else { return .unknown }
            return .batched(perSample: nil)
        case .unsqueeze(let axes):
            guard let axes, let r = rank(x) else { return .unknown }
            let outRank = r + axes.count
            let norm = axes.map { $0 < 0 ? $0 + outRank : $0 }
            guard !norm.contains(0), Set(norm).count == norm.count, norm.allSatisfy({ $0 < outRank }), let p = per else {
                return norm.contains(0) ? .unknown : .batched(perSample: nil)
            }
            var out = [1] + p
            for a in norm.sorted() { out.insert(1, at: a) }
            return .batched(perSample: Array(out.dropFirst()))
        case .squeeze(let axes, _):
            guard let axes, let r = rank(x) else { return .unknown }
            let norm = Set(axes.map { $0 < 0 ? $0 + r : $0 })
            guard !norm.contains(0) else { return .unknown }
            guard let p = per, norm.allSatisfy({ $0 > 0 && $0 < r }) else { return .batched(perSample: nil) }
            return .batched(perSample: p.enumerated().filter { !norm.contains($0.offset + 1) }.map(\.element))
        case .unary, .cast:
            return x
        case .globalMaxPool:
            return .batched(perSample: per.map { p in [p.first ?? 1] + [Int](repeating: 1, count: max(0, p.count - 1)) })
        case let .reduce(_, axes, fromInput, keepDims, noop):
            guard !fromInput, let axes, !axes.isEmpty, let norm = keepsBatch(axes, x) else {
                return noop && !fromInput && (axes ?? []).isEmpty ? x : .unknown
            }
            guard let p = per else { return .batched(perSample: nil) }
            let out = Kernels.reducedShape([1] + p, axes: Set(norm), keepDims: keepDims)
            return .batched(perSample: Array(out.dropFirst()))
        case let .layerNorm(axis, _):
            guard restConstant, keepsBatch([axis], x) != nil else { return .unknown }
            return x
        case let .slice(starts, _, axes):
            var ax: [Int]?
            if starts != nil {
                ax = axes.map { $0.map { Int($0) } } ?? nil
            } else {
                guard restConstant, step.inputs.count > 3, step.inputs[3] >= 0 else { return .unknown }
                ax = constants[step.inputs[3]]?.intTensor?.values.map { Int($0) }
            }
            guard let ax, let kept = keepsBatch(ax, x) else { return .unknown }
            return .batched(perSample: per.map { p in p.enumerated().map { kept.contains($0.offset + 1) ? -1 : $0.element } })
        case let .split(axis, _, _):
            guard let kept = keepsBatch([axis], x) else { return .unknown }
            return .batched(perSample: per.map { p in p.enumerated().map { kept.contains($0.offset + 1) ? -1 : $0.element } })
        case .tile:
            guard restConstant, let reps = constants[step.inputs[1]]?.intTensor?.values, reps.first == 1 else { return .unknown }
            return .batched(perSample: nil)
        case .logSoftmax(let axis, _):
            guard let r = rank(x), axis != 0, axis != -r, restConstant else { return .unknown }
            return x
        case .prelu:
            guard restConstant, let r = rank(x), let s = constants[step.inputs[1]], s.shape.count < r || s.shape.first == 1 else {
                return .unknown
            }
            return x
        case .pad(_, let pads, _):
            // Padding that leaves axis 0 alone (constant pads input, every axis listed).
            let p = pads ?? (restConstant && !(step.inputs.count > 3 && step.inputs[3] >= 0)
                ? constants[step.inputs[1]]?.intTensor?.values : nil)
            guard let p, let r = rank(x), p.count == 2 * r, p[0] == 0, p[r] == 0 else { return .unknown }
            return .batched(perSample: nil)
        case .convTranspose:
            // Same rank; sizes left unknown.
            return restConstant ? .batched(perSample: per.map { [Int](repeating: -1, count: $0.count) }) : .unknown
        case let .resize(attrs, legacy, fixed):
            // Constant scales (or the Upsample-7 attribute) that leave the batch axis alone; not
            // sizes, which would fix the batch.
            guard let r = rank(x), let p = per else { return .unknown }
            var scales = fixed
            if scales == nil {
                let si = legacy ? 1 : 2
                let hasSizes = !legacy && step.inputs.count > 3 && step.inputs[3] >= 0
                    && (constants[step.inputs[3]]?.shape.reduce(1, *) ?? 1) > 0
                guard !hasSizes, si < step.inputs.count, step.inputs[si] >= 0,
                      let t = constants[step.inputs[si]]?.floatTensor, t.count > 0 else { return .unknown }
                scales = t.scalars
            }
            guard let scales else { return .unknown }
            let axes = attrs.axes.map { $0.map { $0 < 0 ? $0 + r : $0 } } ?? Array(0..<r)
            guard axes.count == scales.count, let a0 = axes.firstIndex(of: 0).map({ scales[$0] }) ?? Optional(1), a0 == 1 else {
                return .unknown
            }
            var out = p
            for (k, ax) in axes.enumerated() where ax > 0 && ax <= p.count && scales[k] != 1 { out[ax - 1] = -1 }
            return .batched(perSample: out)
        case .depthToSpace, .spaceToDepth, .instanceNorm, .groupNorm:
            // Rearranged or normalised within each sample.
            return restConstant ? .batched(perSample: nil) : .unknown
        case .argExtreme(_, let axis, _, _):
            // Along a sample axis (never the batch), each sample's answer is its own.
            guard axis > 0 || (rank(x).map { axis + $0 > 0 } ?? false) else { return .unknown }
            return .batched(perSample: nil)
        case .variadic, .expand, .whereSelect, .compare, .modulo, .not, .topK, .cumSum, .trilu, .constantOfShape, .range, .recurrent, .size,
             .ifBranch:
            return .unknown
        }
    }

    /// `axes` normalised against `x`'s rank when none of them is the batch axis; nil otherwise
    /// (or when a negative axis cannot be resolved because the rank is unknown).
    func keepsBatch(_ axes: [Int], _ x: BatchState) -> [Int]? {
        var out: [Int] = []
        for a in axes {
            if a > 0 { out.append(a); continue }
            guard a < 0, let r = rank(x), a + r > 0 else { return nil }
            out.append(a + r)
        }
        return out
    }

    /// [C, spatial…] after a pool, or nil when it cannot be computed.
    func pooledShape(_ perSample: [Int], _ attrs: PoolAttributes) -> [Int]? {
        guard perSample.count >= 2,
              let geo = try? windowGeometry(input: Array(perSample.dropFirst()), kernel: attrs.kernelShape,
                                            strides: attrs.strides, pads: attrs.pads, dilations: attrs.dilations,
                                            autoPad: attrs.autoPad, ceilMode: attrs.ceilMode) else { return nil }
        return [perSample[0]] + geo.map(\.output)
    }

    /// Rules for steps whose first input is not a batched tensor: constants stay constant;
    /// shape vectors flow through Gather/Unsqueeze/Concat/Squeeze symbolically.
    func shapeTransfer(_ step: Step, _ ins: [BatchState]) -> BatchState {
        if ins.allSatisfy({ $0 == .constant }) { return .constant }
        switch step.op {
        case .gather(let axis):
            guard axis == 0, case .shapeVector(let dims, false) = ins[0], ins.count > 1, ins[1] == .constant,
                  let idx = constants[step.inputs[1]]?.intTensor, idx.shape.count <= 1 else {
                // Constant data indexed by batched indices (an embedding) is batched too.
                if ins.count > 1, ins[0] == .constant, case .batched = ins[1], axis == 0 { return .batched(perSample: nil) }
                return .unknown
            }
            var out = [SymbolicDim]()
            for v in idx.values {
                let i = v < 0 ? Int(v) + dims.count : Int(v)
                guard i >= 0 && i < dims.count else { return .unknown }
                out.append(dims[i])
            }
            return .shapeVector(out, scalar: idx.shape.isEmpty)
        case .unsqueeze(let axes):
            guard case .shapeVector(let dims, true) = ins[0], axes == [0] || axes == [-1] else { return .unknown }
            return .shapeVector(dims, scalar: false)
        case .identity, .cast(.integer):
            return ins[0]
        case .slice(nil, nil, nil):
            // A constant range of a shape vector (Shape → Slice → Concat → Reshape flattens).
            guard case .shapeVector(let dims, false) = ins[0], ins.dropFirst().allSatisfy({ $0 == .constant }),
                  step.inputs.count >= 3 else { return .unknown }
            func scalar(_ k: Int) -> Int64? {
                guard k < step.inputs.count, step.inputs[k] >= 0 else { return nil }
                guard let v = constants[step.inputs[k]]?.intTensor?.values, v.count == 1 else { return nil }
                return v[0]
            }
            guard let start = scalar(1), let end = scalar(2), (scalar(3) ?? 0) == 0 || scalar(3) == -1 && dims.count == 1,
                  (scalar(4) ?? 1) == 1 else { return .unknown }
            let n = Int64(dims.count)
            func clamp(_ v: Int64) -> Int { Int(Swift.min(Swift.max(v < 0 ? v + n : v, 0), n)) }
            let (s, e) = (clamp(start), clamp(end))
            return .shapeVector(s < e ? Array(dims[s..<e]) : [], scalar: false)
        case .concat(let axis):
            guard axis == 0 || axis == -1 else { return .unknown }
            var out = [SymbolicDim]()
            for (i, s) in ins.enumerated() {
                switch s {
                case .shapeVector(let d, false): out += d
                case .constant:
                    guard let v = constants[step.inputs[i]]?.intTensor, v.shape.count == 1 else { return .unknown }
                    out += v.values.map { .fixed(Int($0)) }
                default: return .unknown
                }
            }
            return .shapeVector(out, scalar: false)
        default:
            return .unknown
        }
    }
}

import ShrinkTensor

/// The value slots of one run. Values whose last reader is the current step are *taken* (moved
/// out), so that elementwise kernels mutate them in place instead of copying.
struct Frame {
    var slots: [Value?]
    /// For each slot, whether the current run may move it out at its last use.
    var consumable: [Bool]
    /// Workers a kernel may use inside one step (1 when the batch is already split over workers).
    var threads = 1
    /// The convolution kernels to run.
    var kernels = KernelPath.selected
}

extension Step {
    func kernelError(_ e: Error) -> RuntimeError {
        if let k = e as? KernelError { return .nodeFailed(node: name, op: opType, message: k.message) }
        if let r = e as? RuntimeError { return r }
        return .nodeFailed(node: name, op: opType, message: "\(e)")
    }

    /// Runs the step, reading and writing `frame`; `last[i]` says input i is read for the last time.
    func run(_ frame: inout Frame, last: [Bool]) throws(RuntimeError) {
        do {
            if case let .split(axis, sizes, fromInput) = op {
                let x = try value(&frame, 0, last)
                let given = fromInput ? try ints(&frame, 1, last, "Split sizes").values.map { Int($0) } : sizes
                let dim = x.shape.isEmpty ? 0 : x.shape[try normalizedAxis(axis, rank: x.shape.count, what: "Split axis")]
                let parts = try Kernels.split(x, axis: axis, sizes: try given ?? Kernels.splitSizes(dimension: dim, outputs: outputs.count),
                                              threads: frame.threads)
                guard parts.count == outputs.count else {
                    throw KernelError("Split into \(parts.count) parts but the node has \(outputs.count) outputs")
                }
                for (o, v) in zip(outputs, parts) where o >= 0 { frame.slots[o] = v }
                return
            }
            if let many = try computeMany(&frame, last: last) {
                for (o, v) in zip(outputs, many) where o >= 0 { frame.slots[o] = v }
                return
            }
            let result = try compute(&frame, last: last)
            if case .dropout = op, outputs.count > 1, outputs[1] >= 0 {
                frame.slots[outputs[1]] = .int64(IntTensor(shape: result.shape, values: [Int64](repeating: 1, count: result.count)))
            }
            frame.slots[outputs[0]] = result
        } catch {
            throw kernelError(error)
        }
    }

    /// Ops with several outputs (recurrent layers, If); nil for the others.
    private func computeMany(_ f: inout Frame, last: [Bool]) throws -> [Value]? {
        switch op {
        case let .recurrent(a):
            let x = try float(&f, 0, last), w = try float(&f, 1, last), r = try float(&f, 2, last)
            let b = try optionalFloat(&f, 3, last)
            var lens: [Int64]?
            if inputs.count > 4, inputs[4] >= 0 { lens = try ints(&f, 4, last, "sequence_lens").values }
            let h0 = try optionalFloat(&f, 5, last), c0 = try optionalFloat(&f, 6, last), p = try optionalFloat(&f, 7, last)
            return try Kernels.recurrent(x, w: w, r: r, b: b, sequenceLengths: lens, initialH: h0, initialC: c0,
                                         peepholes: p, a).map { .float($0) }
        case let .topK(axis, largest):
            let k = try ints(&f, 1, last, "TopK K")
            guard k.count == 1 else { throw KernelError("TopK K must hold one value, got shape \(k.shape)") }
            let (values, indices) = try Kernels.topK(try value(&f, 0, last), k: k.values[0], axis: axis, largest: largest)
            return [values, .int64(indices)]
        case let .ifBranch(branches):
            let cond = try value(&f, 0, last)
            guard cond.count == 1 else { throw KernelError("If condition must hold one value, got shape \(cond.shape)") }
            let taken: Bool
            switch cond {
            case .int64(let t): taken = t.values[0] != 0
            case .float(let t): taken = t.scalars[0] != 0
            }
            guard let session = taken ? branches.thenBranch : branches.elseBranch else {
                throw KernelError("the \(taken ? "then" : "else") branch was not prepared")
            }
            var feeds = [String: Value]()
            for (k, name) in branches.outer.enumerated() where session.inputs.contains(where: { $0.name == name }) {
                feeds[name] = try value(&f, k + 1, last)
            }
            let out = try session.run(values: feeds)
            return try session.outputNames.map { name in
                guard let v = out[name] else { throw KernelError("branch output '\(name)' was not computed") }
                return v
            }
        default:
            return nil
        }
    }

    private func value(_ frame: inout Frame, _ i: Int, _ last: [Bool]) throws -> Value {
        // Arity is validated at load and compile; this keeps a malformed node an error, never a trap.
        guard i < inputs.count, inputs[i] >= 0, inputs[i] < frame.slots.count, i < last.count else {
            throw KernelError("input \(i + 1) is not given (the node has \(inputs.count) input\(inputs.count == 1 ? "" : "s"))")
        }
        let slot = inputs[i]
        guard let v = frame.slots[slot] else { throw KernelError("input \(i) is missing") }
        if last[i] && frame.consumable[slot] && !inputs[(i + 1)...].contains(slot) && !inputs[..<i].contains(slot) {
            frame.slots[slot] = nil
        }
        return v
    }

    private func float(_ frame: inout Frame, _ i: Int, _ last: [Bool]) throws -> Tensor {
        switch try value(&frame, i, last) {
        case .float(let t): return t
        case .int64(let t):
            // Integer tensors where floats are expected are converted, as ONNX models with Cast would.
            return Tensor(shape: t.shape, scalars: t.values.map { Float($0) })
        }
    }

    private func optionalFloat(_ frame: inout Frame, _ i: Int, _ last: [Bool]) throws -> Tensor? {
        guard i < inputs.count, inputs[i] >= 0 else { return nil }
        return try float(&frame, i, last)
    }

    private func ints(_ frame: inout Frame, _ i: Int, _ last: [Bool], _ what: String) throws -> IntTensor {
        switch try value(&frame, i, last) {
        case .int64(let t): return t
        case .float: throw KernelError("\(what) must be an int64 tensor, got float")
        }
    }

    private func compute(_ f: inout Frame, last: [Bool]) throws -> Value {
        switch op {
        case let .conv(attrs, act, pool, packed):
            let x = try float(&f, 0, last), w = try float(&f, 1, last), b = try optionalFloat(&f, 2, last)
            return .float(try Kernels.conv(x, weight: w, bias: b, attrs, activation: act, pool: pool, packed: packed,
                                           path: f.kernels, threads: f.threads))
        case let .gemm(attrs, act):
            let a = try float(&f, 0, last), b = try float(&f, 1, last), c = try optionalFloat(&f, 2, last)
            return .float(try Kernels.gemm(a, b, c, attrs, activation: act, threads: f.threads))
        case let .matmul(act):
            return .float(try Kernels.matmul(try float(&f, 0, last), try float(&f, 1, last), activation: act,
                                             threads: f.threads))
        case let .binary(bop):
            let va = try value(&f, 0, last), vb = try value(&f, 1, last)
            switch (va, vb) {
            case (.int64(let a), .int64(let b)):
                return .int64(try Kernels.binary(bop, a, b))
            default:
                // Pow's exponent may be an integer tensor; other mixes come from Cast-free exports.
                guard case .float(var a) = va else {
                    guard bop == .pow else { throw KernelError("operands must both be float or both int64") }
                    return .float(try Kernels.binary(bop, va.asFloat, vb.asFloat))
                }
                let b = vb.asFloat
                guard case .float = vb else {
                    guard bop == .pow else { throw KernelError("operands must both be float or both int64") }
                    _ = consume va
                    try Kernels.binary(bop, into: &a, b, threads: f.threads)
                    return .float(a)
                }
                _ = consume va
                try Kernels.binary(bop, into: &a, b, threads: f.threads)
                return .float(a)
            }
        case let .activation(act):
            var x = try float(&f, 0, last)
            act.apply(inPlace: &x, threads: f.threads)
            return .float(x)
        case .clipRuntime:
            var x = try float(&f, 0, last)
            var bounds: [Float] = [-Float.infinity, Float.infinity]
            for i in 1...2 {
                if let t = try optionalFloat(&f, i, last) {
                    guard t.count == 1 else { throw KernelError("Clip bounds must be scalars, got shape \(t.shape)") }
                    bounds[i - 1] = t.scalars[0]
                }
            }
            Activation.clip(min: bounds[0], max: bounds[1]).apply(inPlace: &x)
            return .float(x)
        case let .pool(kind, attrs):
            return .float(try Kernels.pool(kind, try float(&f, 0, last), attrs))
        case .globalAveragePool:
            return .float(try Kernels.globalAveragePool(try float(&f, 0, last)))
        case let .flatten(axis):
            return try Kernels.flatten(try value(&f, 0, last), axis: axis)
        case let .reshape(allowZero):
            let x = try value(&f, 0, last)
            let s = try ints(&f, 1, last, "Reshape shape")
            return try Kernels.reshape(x, shape: s.values, allowZero: allowZero)
        case let .transpose(perm):
            return try Kernels.transpose(try value(&f, 0, last), perm: perm, threads: f.threads)
        case let .concat(axis):
            var xs = [Value]()
            for i in inputs.indices where inputs[i] >= 0 { xs.append(try value(&f, i, last)) }
            return try Kernels.concat(xs, axis: axis)
        case let .softmax(axis, legacy):
            var x = try float(&f, 0, last)
            try Kernels.softmax(inPlace: &x, axis: axis, legacy: legacy, threads: f.threads)
            return .float(x)
        case let .batchNorm(eps):
            let x = try float(&f, 0, last)
            let p = try (1...4).map { try float(&f, $0, last) }
            return .float(try Kernels.batchNorm(x, scale: p[0], bias: p[1], mean: p[2], variance: p[3], epsilon: eps))
        case let .scaleShift(a, b):
            var x = try float(&f, 0, last)
            try Kernels.scaleShiftChannels(&x, a, b)
            return .float(x)
        case .identity, .dropout:
            return try value(&f, 0, last)
        case let .shape(start, end):
            return .int64(Kernels.shape(try value(&f, 0, last), start: start, end: end))
        case let .gather(axis):
            let data = try value(&f, 0, last)
            let idx = try ints(&f, 1, last, "Gather indices")
            return try Kernels.gather(data, indices: idx, axis: axis)
        case let .unsqueeze(axes):
            let x = try value(&f, 0, last)
            let a = try axes ?? ints(&f, 1, last, "Unsqueeze axes").values.map { Int($0) }
            return try Kernels.unsqueeze(x, axes: a)
        case let .squeeze(axes, fromInput):
            let x = try value(&f, 0, last)
            let a = fromInput ? try ints(&f, 1, last, "Squeeze axes").values.map { Int($0) } : axes
            return try Kernels.squeeze(x, axes: a)
        case let .unary(u):
            switch try value(&f, 0, last) {
            case .int64(let t):
                if let r = u.apply(t) { return .int64(r) }
                var x = Tensor(shape: t.shape, scalars: t.values.map { Float($0) })
                x.scalars.withUnsafeMutableBufferPointer { if let b = $0.baseAddress { u.apply(b, count: t.count) } }
                return .float(x)
            case .float(var x):
                let n = x.count
                x.scalars.withUnsafeMutableBufferPointer { buf in
                    guard let b = buf.baseAddress else { return }
                    Kernels.splitCount(n, threads: f.threads) { lo, hi in u.apply(b + lo, count: hi - lo) }
                }
                return .float(x)
            }
        case let .variadic(bop, mean):
            var acc: Value?
            var n = 0
            for i in inputs.indices where inputs[i] >= 0 {
                let v = try value(&f, i, last)
                n += 1
                guard let a = acc else { acc = v; continue }
                switch (a, v) {
                case (.int64(let x), .int64(let y)): acc = .int64(try Kernels.binary(bop, x, y))
                default: acc = .float(try Kernels.binary(bop, a.asFloat, v.asFloat))
                }
            }
            guard var result = acc else { throw KernelError("needs at least one input") }
            if mean {
                var t = result.asFloat
                try Kernels.binary(.div, into: &t, Tensor(shape: [], scalars: [Float(n)]))
                result = .float(t)
            }
            return result
        case let .reduce(kind, axes, fromInput, keepDims, noop):
            let x = try float(&f, 0, last)
            let a = fromInput ? try ints(&f, 1, last, "\(kind.rawValue) axes").values.map { Int($0) } : axes
            return .float(try Kernels.reduce(kind, x, axes: a, keepDims: keepDims, noopWithEmptyAxes: noop))
        case let .layerNorm(axis, eps):
            let x = try float(&f, 0, last), scale = try float(&f, 1, last), bias = try optionalFloat(&f, 2, last)
            return .float(try Kernels.layerNorm(x, scale: scale, bias: bias, axis: axis, epsilon: eps))
        case .globalMaxPool:
            return .float(try Kernels.globalMaxPool(try float(&f, 0, last)))
        case let .cast(target):
            return Kernels.cast(try value(&f, 0, last), to: target)
        case let .slice(starts, ends, axes):
            let x = try value(&f, 0, last)
            if let starts, let ends { return try Kernels.slice(x, starts: starts, ends: ends, axes: axes, steps: nil) }
            let st = try ints(&f, 1, last, "Slice starts").values, en = try ints(&f, 2, last, "Slice ends").values
            let ax = inputs.count > 3 && inputs[3] >= 0 ? try ints(&f, 3, last, "Slice axes").values : nil
            let sp = inputs.count > 4 && inputs[4] >= 0 ? try ints(&f, 4, last, "Slice steps").values : nil
            return try Kernels.slice(x, starts: st, ends: en, axes: ax, steps: sp)
        case .split, .recurrent, .ifBranch, .topK:
            throw KernelError("\(opType) is run by Step.run")
        case let .resize(a, legacy, fixed):
            let x = try float(&f, 0, last)
            var scales = fixed, sizes: [Int]?
            if fixed == nil {
                let si = legacy ? 1 : 2
                if si < inputs.count, inputs[si] >= 0 {
                    let t = try float(&f, si, last)
                    if t.count > 0 { scales = t.scalars }
                }
                if !legacy, inputs.count > 3, inputs[3] >= 0 {
                    let t = try ints(&f, 3, last, "Resize sizes")
                    if t.count > 0 { sizes = t.values.map { Int($0) } }
                }
            }
            return .float(try Kernels.resize(x, scales: scales, sizes: sizes, a, threads: f.threads))
        case let .convTranspose(a):
            let x = try float(&f, 0, last), w = try float(&f, 1, last), b = try optionalFloat(&f, 2, last)
            return .float(try Kernels.convTranspose(x, weight: w, bias: b, a, threads: f.threads))
        case .size:
            return .int64(IntTensor(shape: [], values: [Int64(try value(&f, 0, last).count)]))
        case .expand:
            let x = try value(&f, 0, last)
            return try Kernels.expand(x, shape: try ints(&f, 1, last, "Expand shape").values)
        case .tile:
            let x = try value(&f, 0, last)
            return try Kernels.tile(x, repeats: try ints(&f, 1, last, "Tile repeats").values)
        case .whereSelect:
            let c = try ints(&f, 0, last, "Where condition")
            return try Kernels.whereSelect(c, try value(&f, 1, last), try value(&f, 2, last))
        case let .compare(cop):
            return .int64(try Kernels.compare(cop, try value(&f, 0, last), try value(&f, 1, last)))
        case let .depthToSpace(b, crd):
            return try Kernels.depthToSpace(try value(&f, 0, last), blocksize: b, crd: crd)
        case let .spaceToDepth(b):
            return try Kernels.spaceToDepth(try value(&f, 0, last), blocksize: b)
        case let .instanceNorm(e):
            return .float(try Kernels.instanceNorm(try float(&f, 0, last), scale: try float(&f, 1, last), bias: try float(&f, 2, last), epsilon: e))
        case let .groupNorm(g, e):
            return .float(try Kernels.groupNorm(try float(&f, 0, last), groups: g, scale: try float(&f, 1, last), bias: try float(&f, 2, last), epsilon: e))
        case let .argExtreme(isMax, axis, keep, selectLast):
            return .int64(try Kernels.argExtreme(try value(&f, 0, last), max: isMax, axis: axis, keepDims: keep, selectLast: selectLast))
        case let .cumSum(exclusive, reverse):
            let x = try value(&f, 0, last), axis = try ints(&f, 1, last, "CumSum axis")
            guard axis.count == 1 else { throw KernelError("CumSum axis must hold one value, got shape \(axis.shape)") }
            return try Kernels.cumSum(x, axis: axis.values[0], exclusive: exclusive, reverse: reverse)
        case let .trilu(upper):
            var k: Int64 = 0
            if inputs.count > 1, inputs[1] >= 0 {
                let t = try ints(&f, 1, last, "Trilu k")
                guard t.count == 1 else { throw KernelError("Trilu k must hold one value, got shape \(t.shape)") }
                k = t.values[0]
            }
            return try Kernels.trilu(try value(&f, 0, last), k: k, upper: upper)
        case let .modulo(fmod):
            return try Kernels.modulo(try value(&f, 0, last), try value(&f, 1, last), fmod: fmod)
        case .not:
            return .int64(Kernels.logicalNot(try ints(&f, 0, last, "Not input")))
        case let .constantOfShape(v):
            return try Kernels.constantOfShape(try ints(&f, 0, last, "ConstantOfShape shape").values, value: v)
        case .range:
            return try Kernels.range(try value(&f, 0, last), try value(&f, 1, last), try value(&f, 2, last))
        case let .logSoftmax(axis, legacy):
            var x = try float(&f, 0, last)
            try Kernels.logSoftmax(inPlace: &x, axis: axis, legacy: legacy)
            return .float(x)
        case .prelu:
            return .float(try Kernels.prelu(try float(&f, 0, last), slope: try float(&f, 1, last)))
        case let .pad(mode, pads, v):
            let x = try value(&f, 0, last)
            if let pads { return try Kernels.pad(x, pads: pads, axes: nil, mode: mode, value: v) }
            let p = try ints(&f, 1, last, "Pad pads").values
            let axes = inputs.count > 3 && inputs[3] >= 0 ? try ints(&f, 3, last, "Pad axes").values : nil
            return try Kernels.pad(x, pads: p, axes: axes, mode: mode, value: v)
        }
    }
}

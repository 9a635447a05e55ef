import ShrinkTensor

/// The value slots of one run. Values whose last reader is the current step are *taken* (moved
/// out), so that elementwise kernels mutate them in place instead of copying.
struct Frame {
    var slots: [Value?]
    /// For each slot, whether the current run may move it out at its last use.
    var consumable: [Bool]
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
            let result = try compute(&frame, last: last)
            if case .dropout = op, outputs.count > 1, outputs[1] >= 0 {
                frame.slots[outputs[1]] = .int64(IntTensor(shape: result.shape, values: [Int64](repeating: 1, count: result.count)))
            }
            frame.slots[outputs[0]] = result
        } catch {
            throw kernelError(error)
        }
    }

    private func value(_ frame: inout Frame, _ i: Int, _ last: [Bool]) throws -> Value {
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
        case let .conv(attrs, act, pool):
            let x = try float(&f, 0, last), w = try float(&f, 1, last), b = try optionalFloat(&f, 2, last)
            return .float(try Kernels.conv(x, weight: w, bias: b, attrs, activation: act, pool: pool))
        case let .gemm(attrs, act):
            let a = try float(&f, 0, last), b = try float(&f, 1, last), c = try optionalFloat(&f, 2, last)
            return .float(try Kernels.gemm(a, b, c, attrs, activation: act))
        case let .matmul(act):
            return .float(try Kernels.matmul(try float(&f, 0, last), try float(&f, 1, last), activation: act))
        case let .binary(bop):
            let va = try value(&f, 0, last), vb = try value(&f, 1, last)
            switch (va, vb) {
            case (.int64(let a), .int64(let b)):
                return .int64(try Kernels.binary(bop, a, b))
            default:
                guard case .float(var a) = va else { throw KernelError("operands must both be float or both int64") }
                guard case .float(let b) = vb else { throw KernelError("operands must both be float or both int64") }
                _ = consume va
                try Kernels.binary(bop, into: &a, b)
                return .float(a)
            }
        case let .activation(act):
            var x = try float(&f, 0, last)
            act.apply(inPlace: &x)
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
            return try Kernels.transpose(try value(&f, 0, last), perm: perm)
        case let .concat(axis):
            var xs = [Value]()
            for i in inputs.indices where inputs[i] >= 0 { xs.append(try value(&f, i, last)) }
            return try Kernels.concat(xs, axis: axis)
        case let .softmax(axis, legacy):
            var x = try float(&f, 0, last)
            try Kernels.softmax(inPlace: &x, axis: axis, legacy: legacy)
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
        }
    }
}

import ShrinkTensor

// Ops that pick or accumulate along one axis: ArgMax/ArgMin, TopK and CumSum.

/// The view of a tensor as [outer, n, inner] around one axis.
private struct AxisView {
    var outer: Int, n: Int, inner: Int

    init(_ shape: [Int], axis: Int) {
        outer = product(shape[..<axis])
        n = shape[axis]
        inner = product(shape[(axis + 1)...])
    }

    func index(_ o: Int, _ k: Int, _ i: Int) -> Int { (o * n + k) * inner + i }
}

extension Kernels {
    /// `ArgMax` (`max: true`) or `ArgMin` along `axis`: the first index of the extreme value, or
    /// the last with `selectLast`; int64, with the axis kept as 1 or dropped.
    public static func argExtreme(_ x: Value, max: Bool, axis: Int, keepDims: Bool, selectLast: Bool) throws -> IntTensor {
        let s = x.shape
        let a = try normalizedAxis(axis, rank: s.count, what: "\(max ? "ArgMax" : "ArgMin") axis")
        guard s[a] > 0 else { throw KernelError("\(max ? "ArgMax" : "ArgMin") over an empty axis \(a) of \(s)") }
        let v = AxisView(s, axis: a)
        let values: [Double]
        switch x {
        case .float(let t): values = t.scalars.map(Double.init)
        case .int64(let t): values = t.values.map(Double.init)
        }
        var out = [Int64](repeating: 0, count: v.outer * v.inner)
        for o in 0..<v.outer {
            for i in 0..<v.inner {
                var best = 0, bestValue = values[v.index(o, 0, i)]
                for k in 1..<v.n {
                    let value = values[v.index(o, k, i)]
                    let better = max ? (value > bestValue || (selectLast && value == bestValue))
                                     : (value < bestValue || (selectLast && value == bestValue))
                    if better { best = k; bestValue = value }
                }
                out[o * v.inner + i] = Int64(best)
            }
        }
        var shape = s
        if keepDims { shape[a] = 1 } else { shape.remove(at: a) }
        return IntTensor(shape: shape, values: out)
    }

    /// `TopK`: the `k` largest (or smallest) values along `axis` and their int64 indices, in
    /// order; equal values keep the lower index first, as onnxruntime does.
    public static func topK(_ x: Value, k: Int64, axis: Int, largest: Bool) throws -> (Value, IntTensor) {
        let s = x.shape
        let a = try normalizedAxis(axis, rank: s.count, what: "TopK axis")
        guard k >= 0, k <= Int64(s[a]) else { throw KernelError("TopK k = \(k) is outside 0…\(s[a]) (axis \(a) of \(s))") }
        let v = AxisView(s, axis: a), kk = Int(k)
        var shape = s
        shape[a] = kk
        var order = [Int](repeating: 0, count: v.outer * kk * v.inner)
        func pick(_ key: (Int) -> Double) {
            for o in 0..<v.outer {
                for i in 0..<v.inner {
                    let ranked = (0..<v.n).sorted { p, q in
                        let a = key(v.index(o, p, i)), b = key(v.index(o, q, i))
                        return a == b ? p < q : (largest ? a > b : a < b)
                    }
                    for j in 0..<kk { order[(o * kk + j) * v.inner + i] = ranked[j] }
                }
            }
        }
        switch x {
        case .float(let t):
            pick { Double(t.scalars[$0]) }
            return (.float(Tensor(shape: shape, scalars: Self.gathered(order, v, kk) { t.scalars[$0] })),
                    IntTensor(shape: shape, values: order.map(Int64.init)))
        case .int64(let t):
            pick { Double(t.values[$0]) }
            return (.int64(IntTensor(shape: shape, values: Self.gathered(order, v, kk) { t.values[$0] })),
                    IntTensor(shape: shape, values: order.map(Int64.init)))
        }
    }

    private static func gathered<T>(_ order: [Int], _ v: AxisView, _ k: Int, _ at: (Int) -> T) -> [T] {
        var out: [T] = []
        out.reserveCapacity(order.count)
        for o in 0..<v.outer {
            for j in 0..<k {
                for i in 0..<v.inner { out.append(at(v.index(o, order[(o * k + j) * v.inner + i], i))) }
            }
        }
        return out
    }

    /// `CumSum` along `axis`: running sums, `exclusive` leaving each element out of its own sum,
    /// `reverse` summing from the end.
    public static func cumSum(_ x: Value, axis: Int64, exclusive: Bool, reverse: Bool) throws -> Value {
        let s = x.shape
        let a = try normalizedAxis(Int(axis), rank: s.count, what: "CumSum axis")
        let v = AxisView(s, axis: a)
        func scan<T: Numeric>(_ src: [T], _ add: (T, T) -> T) -> [T] {
            var out = src
            for o in 0..<v.outer {
                for i in 0..<v.inner {
                    var acc: T = 0
                    for step in 0..<v.n {
                        let k = reverse ? v.n - 1 - step : step
                        let at = v.index(o, k, i)
                        if exclusive { out[at] = acc; acc = add(acc, src[at]) } else { acc = add(acc, src[at]); out[at] = acc }
                    }
                }
            }
            return out
        }
        switch x {
        case .float(let t): return .float(Tensor(shape: s, scalars: scan(t.scalars, +)))
        // Wrapping: a hostile model's sums must not trap the process.
        case .int64(let t): return .int64(IntTensor(shape: s, values: scan(t.values, &+)))
        }
    }
}

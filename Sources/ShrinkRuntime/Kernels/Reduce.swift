import Foundation
import ShrinkTensor

/// The reductions of ONNX (`ReduceMean`, `ReduceSum`, …).
public enum ReduceKind: String, Sendable, CaseIterable {
    /// `ReduceMean`
    case mean = "ReduceMean"
    /// `ReduceSum`
    case sum = "ReduceSum"
    /// `ReduceMax`
    case max = "ReduceMax"
    /// `ReduceMin`
    case min = "ReduceMin"
    /// `ReduceProd`
    case prod = "ReduceProd"
    /// `ReduceL1`: Σ|x|
    case l1 = "ReduceL1"
    /// `ReduceL2`: √Σx²
    case l2 = "ReduceL2"
    /// `ReduceSumSquare`: Σx²
    case sumSquare = "ReduceSumSquare"
    /// `ReduceLogSumExp`: log Σeˣ
    case logSumExp = "ReduceLogSumExp"

    /// The opset from which the axes are an input rather than an attribute.
    var axesInputSince: Int { self == .sum ? 13 : 18 }
}

extension Kernels {
    /// The shape a reduction over `axes` (normalised, any order) produces.
    static func reducedShape(_ shape: [Int], axes: Set<Int>, keepDims: Bool) -> [Int] {
        var out: [Int] = []
        for (i, d) in shape.enumerated() {
            if axes.contains(i) { if keepDims { out.append(1) } } else { out.append(d) }
        }
        return out
    }

    /// A reduction of `x` over `axes` (nil or empty: every axis, unless `noopWithEmptyAxes`).
    public static func reduce(_ kind: ReduceKind, _ x: Tensor, axes: [Int]?, keepDims: Bool,
                              noopWithEmptyAxes: Bool = false) throws -> Tensor {
        let r = x.rank
        if (axes ?? []).isEmpty && noopWithEmptyAxes { return x }
        var set = Set<Int>()
        for a in axes ?? [] { set.insert(try normalizedAxis(a, rank: r, what: "\(kind.rawValue) axis")) }
        if set.isEmpty { set = Set(0..<r) }
        let outShape = reducedShape(x.shape, axes: set, keepDims: keepDims)
        // Neighbouring axes that are both reduced or both kept merge into one ([N,C,H,W] over
        // {2,3} is N·C × H·W; over every axis one run), then the reduced axes are walked one at a
        // time, outermost last, each as outer × len × inner.
        var shape: [Int] = []
        var merged = Set<Int>()
        for (i, d) in x.shape.enumerated() {
            if i > 0, set.contains(i) == set.contains(i - 1) { shape[shape.count - 1] *= d; continue }
            if set.contains(i) { merged.insert(shape.count) }
            shape.append(d)
        }
        set = merged
        var data = x.scalars
        switch kind {
        case .l1: for i in data.indices { data[i] = Swift.abs(data[i]) }
        case .l2, .sumSquare: for i in data.indices { data[i] *= data[i] }
        default: break
        }
        // LogSumExp: subtract the overall per-output maximum first, for stability.
        var shift: [Float]?
        if kind == .logSumExp {
            let m = try reduce(.max, x, axes: Array(set), keepDims: true)
            let e = try binary(.sub, x, m)
            data = e.scalars.map { Foundation.exp($0) }
            shift = m.scalars
        }
        var count = 1
        for a in set.sorted(by: >) {
            let len = shape[a]
            count *= len
            let outer = product(shape.prefix(a)), inner = product(shape.dropFirst(a + 1))
            var next = [Float](repeating: 0, count: outer * inner)
            data.withUnsafeBufferPointer { src in
                next.withUnsafeMutableBufferPointer { dst in
                    guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                    if inner == 1, len > 0, kind != .prod {
                        // Each output reduces one contiguous run (global pooling, a full reduction).
                        for o in 0..<outer { d[o] = reduceRun(kind, s + o * len, len) }
                        return
                    }
                    for o in 0..<outer {
                        let base = s + o * len * inner, out = d + o * inner
                        switch kind {
                        case .max, .min:
                            let isMax = kind == .max
                            if len == 0 {
                                for i in 0..<inner { out[i] = isMax ? -.infinity : .infinity }
                                continue
                            }
                            for i in 0..<inner { out[i] = base[i] }
                            for j in 1..<Swift.max(len, 1) {
                                let row = base + j * inner
                                for i in 0..<inner {
                                    let v = row[i]
                                    if v.isNaN || (isMax ? v > out[i] : v < out[i]) { out[i] = v }
                                }
                            }
                        case .prod:
                            for i in 0..<inner { out[i] = 1 }
                            for j in 0..<len { let row = base + j * inner; for i in 0..<inner { out[i] *= row[i] } }
                        default:
                            for j in 0..<len { let row = base + j * inner; for i in 0..<inner { out[i] += row[i] } }
                        }
                    }
                }
            }
            data = next
            shape[a] = 1
        }
        switch kind {
        case .mean:
            let inv = 1 / Float(Swift.max(count, 1))
            if count == 0 { data = data.map { _ in .nan } } else { for i in data.indices { data[i] *= inv } }
        case .l2: for i in data.indices { data[i] = data[i].squareRoot() }
        case .logSumExp:
            for i in data.indices { data[i] = Foundation.log(data[i]) + shift![i] }
        default: break
        }
        return Tensor(shape: outShape, scalars: data)
    }

    /// The max, min or sum (any other kind) of `len` ≥ 1 contiguous floats, sixteen lanes at a
    /// time; a NaN anywhere makes max and min NaN, as onnxruntime's do.
    static func reduceRun(_ kind: ReduceKind, _ p: UnsafePointer<Float>, _ len: Int) -> Float {
        let lanes = 16, whole = len / lanes * lanes
        switch kind {
        case .max, .min:
            let isMax = kind == .max
            var m = p[0]
            var nan = false
            if whole > 0 {
                var acc = SIMD16<Float>(repeating: p[0])
                var seen = SIMDMask<SIMD16<Int32>>()
                var i = 0
                while i < whole {
                    let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
                    acc.replace(with: v, where: isMax ? v .> acc : v .< acc)
                    seen .|= v .!= v
                    i += lanes
                }
                m = isMax ? acc.max() : acc.min()
                nan = any(seen)
            }
            for i in whole..<len {
                let v = p[i]
                if v.isNaN { nan = true } else if isMax ? v > m : v < m { m = v }
            }
            return nan ? .nan : m
        default:
            var acc = SIMD16<Float>()
            var i = 0
            while i < whole { acc += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self); i += lanes }
            var total = acc.sum()
            for i in whole..<len { total += p[i] }
            return total
        }
    }

    /// `LayerNormalization`: normalises over the axes from `axis` on, then scales (and shifts) by
    /// `scale` (and `bias`), which broadcast to those axes.
    public static func layerNorm(_ x: Tensor, scale: Tensor, bias: Tensor?, axis: Int, epsilon: Float) throws -> Tensor {
        let r = x.rank
        let a = try normalizedAxis(axis, rank: r, what: "LayerNormalization axis")
        let normShape = Array(x.shape[a...])
        let len = product(normShape)
        let rows = product(x.shape.prefix(a))
        let s = try broadcastTo(scale, normShape, what: "LayerNormalization scale")
        let b = try bias.map { try broadcastTo($0, normShape, what: "LayerNormalization bias") }
        var out = x.scalars
        out.withUnsafeMutableBufferPointer { buf in
            guard let p = buf.baseAddress, len > 0 else { return }
            for row in 0..<rows {
                let v = p + row * len
                // Two passes in Double: mean, then variance about it (as onnxruntime's float path).
                var sum = 0.0
                for i in 0..<len { sum += Double(v[i]) }
                let mean = sum / Double(len)
                var sq = 0.0
                for i in 0..<len { let d = Double(v[i]) - mean; sq += d * d }
                let inv = Float(1 / (sq / Double(len) + Double(epsilon)).squareRoot())
                let m = Float(mean)
                if let b {
                    for i in 0..<len { v[i] = (v[i] - m) * inv * s[i] + b[i] }
                } else {
                    for i in 0..<len { v[i] = (v[i] - m) * inv * s[i] }
                }
            }
        }
        return Tensor(shape: x.shape, scalars: out)
    }

    /// `GlobalMaxPool`: the maximum over every spatial position of each channel.
    public static func globalMaxPool(_ x: Tensor) throws -> Tensor {
        guard x.rank >= 3 else { throw KernelError("GlobalMaxPool needs an input of rank ≥ 3, got \(x.shape)") }
        return try reduce(.max, x, axes: Array(2..<x.rank), keepDims: true)
    }
}

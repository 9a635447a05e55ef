import Foundation
import ShrinkTensor

extension Kernels {
    /// `Softmax` along `axis`. With `legacy` (opset < 13) the input is coerced to 2-D at `axis`
    /// and normalised over everything from `axis` on, as those opsets specify.
    public static func softmax(_ x: Tensor, axis: Int, legacy: Bool = false) throws -> Tensor {
        var out = x
        try softmax(inPlace: &out, axis: axis, legacy: legacy)
        return out
    }

    /// `Softmax` in place.
    public static func softmax(inPlace out: inout Tensor, axis: Int, legacy: Bool = false) throws {
        let shape = out.shape
        let r = shape.count
        guard r > 0 else { out = Tensor(shape: [], scalars: [1]); return }
        let a: Int
        if legacy {
            let v = axis < 0 ? axis + r : axis
            guard v >= 0 && v <= r else { throw KernelError("Softmax axis \(axis) is out of range for rank \(r)") }
            a = v
        } else {
            a = try normalizedAxis(axis, rank: r)
        }
        let outer = product(shape.prefix(a))
        let len = legacy ? product(shape.dropFirst(a)) : shape[a]
        let inner = legacy ? 1 : product(shape.dropFirst(a + 1))
        out.scalars.withUnsafeMutableBufferPointer { b in
            guard let p = b.baseAddress, len > 0 else { return }
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = p + o * len * inner + i
                    var m = -Float.infinity
                    for j in 0..<len { m = Swift.max(m, base[j * inner]) }
                    var s: Float = 0
                    for j in 0..<len { let e = Foundation.exp(base[j * inner] - m); base[j * inner] = e; s += e }
                    let inv = 1 / s
                    for j in 0..<len { base[j * inner] *= inv }
                }
            }
        }
    }

    /// `LogSoftmax` in place: x − max − log Σ e^(x − max) along `axis` (same axis rules as `softmax`).
    public static func logSoftmax(inPlace out: inout Tensor, axis: Int, legacy: Bool = false) throws {
        let shape = out.shape
        let r = shape.count
        guard r > 0 else { out = Tensor(shape: [], scalars: [0]); return }
        let a: Int
        if legacy {
            let v = axis < 0 ? axis + r : axis
            guard v >= 0 && v <= r else { throw KernelError("LogSoftmax axis \(axis) is out of range for rank \(r)") }
            a = v
        } else {
            a = try normalizedAxis(axis, rank: r)
        }
        let outer = product(shape.prefix(a))
        let len = legacy ? product(shape.dropFirst(a)) : shape[a]
        let inner = legacy ? 1 : product(shape.dropFirst(a + 1))
        out.scalars.withUnsafeMutableBufferPointer { b in
            guard let p = b.baseAddress, len > 0 else { return }
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = p + o * len * inner + i
                    var m = -Float.infinity
                    for j in 0..<len { m = Swift.max(m, base[j * inner]) }
                    var s: Float = 0
                    for j in 0..<len { s += Foundation.exp(base[j * inner] - m) }
                    let shift = m + Foundation.log(s)
                    for j in 0..<len { base[j * inner] -= shift }
                }
            }
        }
    }
}

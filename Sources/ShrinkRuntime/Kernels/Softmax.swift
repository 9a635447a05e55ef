import CKernels
import Foundation
import ShrinkTensor

extension Kernels {
    /// `Softmax` along `axis`. With `legacy` (opset < 13) the input is coerced to 2-D at `axis`
    /// and normalised over everything from `axis` on, as those opsets specify.
    public static func softmax(_ x: Tensor, axis: Int, legacy: Bool = false, threads: Int = 1) throws -> Tensor {
        var out = x
        try softmax(inPlace: &out, axis: axis, legacy: legacy, threads: threads)
        return out
    }

    /// `Softmax` in place. Rows along the last axis (or flattened, `legacy`) run the vectorised
    /// kernel, split over `threads` when there are enough of them.
    public static func softmax(inPlace out: inout Tensor, axis: Int, legacy: Bool = false, threads: Int = 1) throws {
        let r = out.rank
        if r > 0, try legacy || normalizedAxis(axis, rank: r) == r - 1 {
            let a = legacy ? (axis < 0 ? axis + r : axis) : r - 1
            guard a >= 0 && a <= r else { throw KernelError("Softmax axis \(axis) is out of range for rank \(r)") }
            let len = product(out.shape.dropFirst(a)), rows = product(out.shape.prefix(a))
            guard len > 0, rows > 0 else { return }
            let isa = KernelPath.selected.isa
            out.scalars.withUnsafeMutableBufferPointer { b in
                let p = b.baseAddress!
                let parts = threads > 1 && rows >= threads && rows * len >= 1 << 14 ? threads : 1
                parallelParts(parts) { t in
                    let lo = rows * t / parts, hi = rows * (t + 1) / parts
                    shrink_softmax_rows(isa, p + lo * len, hi - lo, len)
                }
            }
            return
        }
        try forEachRow(of: &out, axis: axis, legacy: legacy, op: "Softmax", scalar: 1) { base, len, inner in
            var m = -Float.infinity
            for j in 0..<len { m = Swift.max(m, base[j * inner]) }
            var s: Float = 0
            for j in 0..<len { let e = Foundation.exp(base[j * inner] - m); base[j * inner] = e; s += e }
            let inv = 1 / s
            for j in 0..<len { base[j * inner] *= inv }
        }
    }

    /// `LogSoftmax` in place: x − max − log Σ e^(x − max) along `axis` (same axis rules as `softmax`).
    public static func logSoftmax(inPlace out: inout Tensor, axis: Int, legacy: Bool = false) throws {
        try forEachRow(of: &out, axis: axis, legacy: legacy, op: "LogSoftmax", scalar: 0) { base, len, inner in
            var m = -Float.infinity
            for j in 0..<len { m = Swift.max(m, base[j * inner]) }
            var s: Float = 0
            for j in 0..<len { s += Foundation.exp(base[j * inner] - m) }
            let shift = m + Foundation.log(s)
            for j in 0..<len { base[j * inner] -= shift }
        }
    }

    /// Calls `body(start, length, stride)` for every row (Soft)max normalises: along `axis`
    /// (opset ≥ 13), or over everything from `axis` on, flattened (`legacy`, opset < 13). A
    /// rank-0 input becomes `scalar`.
    private static func forEachRow(of out: inout Tensor, axis: Int, legacy: Bool, op: String, scalar: Float,
                                   _ body: (UnsafeMutablePointer<Float>, Int, Int) -> Void) throws {
        let shape = out.shape
        let r = shape.count
        guard r > 0 else { out = Tensor(shape: [], scalars: [scalar]); return }
        let a: Int
        if legacy {
            let v = axis < 0 ? axis + r : axis
            guard v >= 0 && v <= r else { throw KernelError("\(op) axis \(axis) is out of range for rank \(r)") }
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
                for i in 0..<inner { body(p + o * len * inner + i, len, inner) }
            }
        }
    }
}

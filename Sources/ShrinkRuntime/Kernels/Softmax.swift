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
        if out.rank > 0 {
            let (rows, len, inner) = try rowGeometry(out.shape, axis: axis, legacy: legacy, op: "Softmax")
            if inner == 1 {
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

    /// The rows (Soft)max normalises in a tensor of `shape` (rank ≥ 1): the extent of the axes
    /// before them, their length, and the stride between their elements (1 for the last axis and
    /// for `legacy`, and then there are `outer` contiguous rows).
    private static func rowGeometry(_ shape: [Int], axis: Int, legacy: Bool,
                                    op: String) throws -> (outer: Int, length: Int, stride: Int) {
        let r = shape.count
        let a: Int
        if legacy {
            let v = axis < 0 ? axis + r : axis
            guard v >= 0 && v <= r else { throw KernelError("\(op) axis \(axis) is out of range for rank \(r)") }
            a = v
        } else {
            a = try normalizedAxis(axis, rank: r)
        }
        let inner = legacy ? 1 : product(shape.dropFirst(a + 1))
        return (product(shape.prefix(a)), legacy ? product(shape.dropFirst(a)) : shape[a], inner)
    }

    /// Calls `body(start, length, stride)` for every row (Soft)max normalises: along `axis`
    /// (opset ≥ 13), or over everything from `axis` on, flattened (`legacy`, opset < 13). A
    /// rank-0 input becomes `scalar`.
    private static func forEachRow(of out: inout Tensor, axis: Int, legacy: Bool, op: String, scalar: Float,
                                   _ body: (UnsafeMutablePointer<Float>, Int, Int) -> Void) throws {
        guard out.rank > 0 else { out = Tensor(shape: [], scalars: [scalar]); return }
        let (outer, len, inner) = try rowGeometry(out.shape, axis: axis, legacy: legacy, op: op)
        out.scalars.withUnsafeMutableBufferPointer { b in
            guard let p = b.baseAddress, len > 0 else { return }
            for o in 0..<outer {
                for i in 0..<inner { body(p + o * len * inner + i, len, inner) }
            }
        }
    }
}

import COpenBLAS
import ShrinkTensor

/// Attributes of `Gemm`.
public struct GemmAttributes: Sendable, Equatable {
    /// Scale of A·B.
    public var alpha: Float
    /// Scale of C.
    public var beta: Float
    /// Whether A is stored transposed.
    public var transA: Bool
    /// Whether B is stored transposed (PyTorch's Linear exports `transB = 1`).
    public var transB: Bool

    /// Attributes with ONNX defaults unless given.
    public init(alpha: Float = 1, beta: Float = 1, transA: Bool = false, transB: Bool = false) {
        self.alpha = alpha; self.beta = beta; self.transA = transA; self.transB = transB
    }
}

extension Kernels {
    /// `Gemm`: alpha·A'·B' + beta·C, with C unidirectionally broadcast to [M, N].
    /// `threads` > 1 splits a large product over the pool (see `sgemm`).
    public static func gemm(_ a: Tensor, _ b: Tensor, _ c: Tensor?, _ attrs: GemmAttributes,
                            activation: Activation? = nil, threads: Int = 1) throws -> Tensor {
        guard a.rank == 2, b.rank == 2 else {
            throw KernelError("Gemm needs 2-D A and B, got \(a.shape) and \(b.shape)")
        }
        let m = attrs.transA ? a.shape[1] : a.shape[0]
        let k = attrs.transA ? a.shape[0] : a.shape[1]
        let kb = attrs.transB ? b.shape[1] : b.shape[0]
        let n = attrs.transB ? b.shape[0] : b.shape[1]
        guard k == kb else {
            throw KernelError("Gemm inner dimensions differ: A \(a.shape)\(attrs.transA ? "ᵀ" : "") and B \(b.shape)\(attrs.transB ? "ᵀ" : "")")
        }
        var out: [Float]
        var beta: Float = 0
        if let c, attrs.beta != 0 {
            out = try broadcastTo(c, [m, n], what: "Gemm C")
            beta = attrs.beta
        } else {
            out = [Float](repeating: 0, count: try checkedCount([m, n], "Gemm output"))
        }
        if m * n > 0 {
            a.scalars.withUnsafeBufferPointer { pa in
                b.scalars.withUnsafeBufferPointer { pb in
                    out.withUnsafeMutableBufferPointer { po in
                        if k > 0 {
                            // A zeroed output takes β = 1: the same sums, without OpenBLAS's β pass.
                            sgemm(transA: attrs.transA, transB: attrs.transB, m: m, n: n, k: k, alpha: attrs.alpha,
                                  pa.baseAddress!, lda: a.shape[1], pb.baseAddress!, ldb: b.shape[1],
                                  beta: beta == 0 ? 1 : beta, po.baseAddress!, ldc: n, threads: threads)
                        } else if beta != 1 {
                            for i in 0..<(m * n) { po[i] *= beta }
                        }
                        activation?.apply(po.baseAddress!, count: m * n)
                    }
                }
            }
        }
        return Tensor(shape: [m, n], scalars: out)
    }

    /// `MatMul` with NumPy semantics: 1-D operands are promoted and the added axis removed again,
    /// leading (batch) axes broadcast. A stack times a matrix is one GEMM over all rows.
    /// `threads` > 1 splits a large product over the pool (see `sgemm`).
    public static func matmul(_ a: Tensor, _ b: Tensor, activation: Activation? = nil, threads: Int = 1) throws -> Tensor {
        guard a.rank >= 1, b.rank >= 1 else { throw KernelError("MatMul operands must have rank ≥ 1, got \(a.shape) and \(b.shape)") }
        let sa = a.rank == 1 ? [1, a.shape[0]] : a.shape
        let sb = b.rank == 1 ? [b.shape[0], 1] : b.shape
        let m = sa[sa.count - 2], k = sa[sa.count - 1], k2 = sb[sb.count - 2], n = sb[sb.count - 1]
        guard k == k2 else { throw KernelError("MatMul inner dimensions differ: \(a.shape) and \(b.shape)") }
        let batchA = Array(sa.dropLast(2)), batchB = Array(sb.dropLast(2))
        let batch = try broadcastShape(batchA, batchB)
        var outShape = batch + [m, n]
        var out = [Float](repeating: 0, count: try checkedCount(outShape, "MatMul output"))
        let count = out.count
        a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { po in
                    guard count > 0, k > 0 else { return }
                    let A = pa.baseAddress!, B = pb.baseAddress!, O = po.baseAddress!
                    if product(batchB) == 1 && batchA == batch {
                        // Every A row against the same B: a single tall GEMM.
                        let rows = product(batchA) * m
                        sgemm(m: rows, n: n, k: k, A, lda: k, B, ldb: n, beta: 1, O, ldc: n,  // O is zeroed: β = 1 skips OpenBLAS's β pass
                              threads: threads)
                    } else {
                        let nb = product(batch)
                        let stA = Tensor.strides(for: batchA), stB = Tensor.strides(for: batchB)
                        let pad = batch.count
                        for bi in 0..<nb {
                            // Map the output batch index onto each operand's broadcast batch index.
                            var rem = bi, offA = 0, offB = 0
                            for ax in stride(from: pad - 1, through: 0, by: -1) {
                                let idx = rem % batch[ax]; rem /= batch[ax]
                                let axA = ax - (pad - batchA.count), axB = ax - (pad - batchB.count)
                                if axA >= 0 && batchA[axA] != 1 { offA += idx * stA[axA] }
                                if axB >= 0 && batchB[axB] != 1 { offB += idx * stB[axB] }
                            }
                            sgemm(m: m, n: n, k: k, A + offA * m * k, lda: k, B + offB * k * n, ldb: n, beta: 1,
                                  O + bi * m * n, ldc: n, threads: threads)
                        }
                    }
                    activation?.apply(O, count: count)
                }
            }
        }
        if a.rank == 1 { outShape.remove(at: outShape.count - 2) }
        if b.rank == 1 { outShape.removeLast() }
        return Tensor(shape: outShape, scalars: out)
    }

    /// Row-major `C = alpha · op(A) · op(B) + beta · C` (M×N, depth K) on one OpenBLAS thread per
    /// part: with `threads` > 1 and enough work, C's columns (or, for a tall thin C, its rows) are
    /// split over the pool, so a batch-1 product uses the cores without OpenBLAS's own threads,
    /// which spin beside the pool's and oversubscribe the cores. One row is a GEMV, which streams
    /// the weights once where GEMM would first pack them; split by columns, each core keeps its
    /// half of a Linear layer's weights in its own L2 across calls.
    static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                      _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, beta: Float,
                      _ c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
        // Columns n0..<n1 of C (B's columns, or B's rows when B is transposed).
        func columns(_ n0: Int, _ n1: Int) {
            let bs = transB ? b + n0 * ldb : b + n0
            if m == 1 {
                cblas_sgemv(CblasRowMajor, transB ? CblasNoTrans : CblasTrans, Int32(transB ? n1 - n0 : k),
                            Int32(transB ? k : n1 - n0), alpha, bs, Int32(ldb), a, transA ? Int32(lda) : 1, beta, c + n0, 1)
            } else {
                cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                            Int32(m), Int32(n1 - n0), Int32(k), alpha, a, Int32(lda), bs, Int32(ldb), beta, c + n0, Int32(ldc))
            }
        }
        // Rows m0..<m1 of C (A's rows, or A's columns when A is transposed).
        func rows(_ m0: Int, _ m1: Int) {
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m1 - m0), Int32(n), Int32(k), alpha, transA ? a + m0 : a + m0 * lda, Int32(lda), b, Int32(ldb),
                        beta, c + m0 * ldc, Int32(ldc))
        }
        let parts = threads > 1 && m * n * k >= 1 << 16 ? threads : 1
        // Parts on 64-column (or 16-row) boundaries, so they are whole OpenBLAS tiles.
        if parts > 1 && n >= 64 * parts && n >= m {
            let blocks = (n + 63) / 64
            parallelParts(parts) { t in columns(min(n, blocks * t / parts * 64), min(n, blocks * (t + 1) / parts * 64)) }
        } else if parts > 1 && m >= 16 * parts {
            let blocks = (m + 15) / 16
            parallelParts(parts) { t in rows(min(m, blocks * t / parts * 16), min(m, blocks * (t + 1) / parts * 16)) }
        } else {
            columns(0, n)
        }
    }

    /// Materialises `t` broadcast (unidirectionally) to `shape`.
    static func broadcastTo(_ t: Tensor, _ shape: [Int], what: String) throws -> [Float] {
        if t.shape == shape { return t.scalars }
        // The common case, a bias row [n] or [1, n] under [m, n]: copy it into every row.
        if shape.count == 2, t.count == shape[1], t.shape.last == shape[1] {
            let (m, n) = (shape[0], shape[1])
            var out = [Float](repeating: 0, count: m * n)
            t.scalars.withUnsafeBufferPointer { row in
                out.withUnsafeMutableBufferPointer { o in
                    for r in 0..<m { (o.baseAddress! + r * n).update(from: row.baseAddress!, count: n) }
                }
            }
            return out
        }
        let target = try broadcastShape(shape, t.shape)
        guard target == shape else { throw KernelError("\(what) of shape \(t.shape) cannot broadcast to \(shape)") }
        let zeros = Tensor(zeros: shape)
        return try binary(.add, zeros, t).scalars
    }
}

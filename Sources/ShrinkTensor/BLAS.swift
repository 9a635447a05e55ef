import COpenBLAS

/// Thin, row-major wrappers over OpenBLAS level-2/3 routines.
///
/// The raw-pointer entry points exist for hot loops (CP-ALS, convolution kernels) that must
/// not allocate; the `Tensor` entry points check shapes and throw instead of trapping.
public enum BLAS {
    /// Sets the number of threads OpenBLAS uses for subsequent calls, process wide.
    ///
    /// Call it once, from whoever owns the process (the command line, a benchmark), never from a
    /// library call: a change made while other threads run BLAS makes their results round
    /// differently (multi-threaded sgemm splits its tiles differently). When several stages run
    /// in parallel on Dispatch, give OpenBLAS one thread, or the cores are oversubscribed.
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The number of threads OpenBLAS currently uses.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// `C = alpha · op(A) · op(B) + beta · C` on row-major buffers (`cblas_sgemm`).
    ///
    /// `op(A)` is m×k and `op(B)` is k×n; `lda`, `ldb`, `ldc` are the row strides of the
    /// matrices as stored (before the transpose). No checks: this is the hot path.
    @inline(__always)
    public static func gemm(transposeA: Bool = false, transposeB: Bool = false,
                            m: Int, n: Int, k: Int, alpha: Float = 1,
                            a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0,
                            c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `y = alpha · op(A) · x + beta · y` on a row-major m×n buffer (`cblas_sgemv`).
    ///
    /// `op(A)` is A (m×n) or Aᵀ (n×m); `incX`/`incY` are element strides, which lets callers
    /// read a column of a row-major matrix without copying it.
    @inline(__always)
    public static func gemv(transpose: Bool = false, m: Int, n: Int, alpha: Float = 1,
                            a: UnsafePointer<Float>, lda: Int,
                            x: UnsafePointer<Float>, incX: Int = 1,
                            beta: Float = 0,
                            y: UnsafeMutablePointer<Float>, incY: Int = 1) {
        cblas_sgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha,
                    a, Int32(lda), x, Int32(incX), beta, y, Int32(incY))
    }

    /// `C = alpha · op(A) · op(B) + beta · C` on matrices, with shape checks.
    ///
    /// `c` must already have the result shape; with `beta == 0` its contents are ignored.
    public static func gemm(_ a: Tensor, transposeA: Bool = false, _ b: Tensor, transposeB: Bool = false,
                            alpha: Float = 1, beta: Float = 0,
                            into c: inout Tensor) throws(LinearAlgebraError) {
        guard a.rank == 2, b.rank == 2, c.rank == 2 else {
            throw .shapeMismatch("BLAS.gemm", "operands must be matrices, got \(a.shape), \(b.shape), \(c.shape)")
        }
        let (m, ka) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (kb, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard ka == kb, c.shape == [m, n] else {
            throw .shapeMismatch("BLAS.gemm", "cannot multiply \(transposeA ? "transposed " : "")\(a.shape) by "
                                 + "\(transposeB ? "transposed " : "")\(b.shape) into \(c.shape)")
        }
        // BLAS rejects a leading dimension of 0 even for empty products.
        if m == 0 || n == 0 { return }
        if ka == 0 {
            for i in c.scalars.indices { c.scalars[i] *= beta }
            return
        }
        a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                c.scalars.withUnsafeMutableBufferPointer { pc in
                    gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: ka, alpha: alpha,
                         a: pa.baseAddress!, lda: a.shape[1], b: pb.baseAddress!, ldb: b.shape[1],
                         beta: beta, c: pc.baseAddress!, ldc: n)
                }
            }
        }
    }
}


extension Tensor {
    /// The matrix product `alpha · op(self) · op(other)` (`cblas_sgemm`).
    ///
    /// Transposes are flags rather than copies, so `a.matmul(a, transposeSelf: true)` forms a
    /// Gram matrix without materialising `aᵀ`.
    public func matmul(_ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false,
                       alpha: Float = 1) throws(LinearAlgebraError) -> Tensor {
        guard rank == 2, other.rank == 2 else {
            throw .shapeMismatch("Tensor.matmul", "operands must be matrices, got \(shape) and \(other.shape)")
        }
        let m = transposeSelf ? shape[1] : shape[0]
        let n = transposeOther ? other.shape[0] : other.shape[1]
        var c = Tensor(zeros: [m, n])
        try BLAS.gemm(self, transposeA: transposeSelf, other, transposeB: transposeOther, alpha: alpha, beta: 0, into: &c)
        return c
    }

    /// The matrix-vector product `op(self) · x` (`cblas_sgemv`); `x` is a 1-D tensor or any
    /// tensor with the right element count.
    public func matvec(_ x: Tensor, transposeSelf: Bool = false) throws(LinearAlgebraError) -> Tensor {
        guard rank == 2 else { throw .shapeMismatch("Tensor.matvec", "needs a matrix, got \(shape)") }
        let (m, n) = (shape[0], shape[1])
        let (inLen, outLen) = transposeSelf ? (m, n) : (n, m)
        guard x.count == inLen else {
            throw .shapeMismatch("Tensor.matvec", "matrix \(shape)\(transposeSelf ? "ᵀ" : "") cannot multiply a vector of \(x.count)")
        }
        var y = [Float](repeating: 0, count: outLen)
        if m > 0 && n > 0 {
            scalars.withUnsafeBufferPointer { pa in
                x.scalars.withUnsafeBufferPointer { px in
                    y.withUnsafeMutableBufferPointer { py in
                        BLAS.gemv(transpose: transposeSelf, m: m, n: n, a: pa.baseAddress!, lda: n,
                                  x: px.baseAddress!, y: py.baseAddress!)
                    }
                }
            }
        }
        return Tensor(shape: [outLen], scalars: y)
    }
}

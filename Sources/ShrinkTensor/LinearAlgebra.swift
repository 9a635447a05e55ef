import COpenBLAS

/// Eigendecomposition of a symmetric matrix: `A = V · diag(values) · Vᵀ`.
public struct SymmetricEigen: Sendable, Equatable {
    /// Eigenvalues in ascending order (LAPACK's order).
    public var values: [Float]
    /// Orthonormal eigenvectors as columns, n×n; column i belongs to `values[i]`.
    public var vectors: Tensor

    /// The same decomposition with eigenvalues (and their vectors) in descending order, the
    /// order most callers want when keeping the leading components.
    public func descending() -> SymmetricEigen {
        let n = values.count
        var v = vectors
        for i in 0..<n {
            for j in 0..<n { v.scalars[i * n + j] = vectors.scalars[i * n + (n - 1 - j)] }
        }
        return SymmetricEigen(values: values.reversed(), vectors: v)
    }
}

/// A thin QR factorisation `A = Q · R`.
public struct QRResult: Sendable, Equatable {
    /// m×k with orthonormal columns, k = min(m, n).
    public var q: Tensor
    /// k×n upper triangular (upper trapezoidal when n > m).
    public var r: Tensor
}

private let lower = CChar(UInt8(ascii: "L"))
private let upper = CChar(UInt8(ascii: "U"))

extension Tensor {
    /// An n×n identity matrix.
    public static func identity(_ n: Int) -> Tensor {
        var t = Tensor(zeros: [n, n])
        for i in 0..<n { t.scalars[i * n + i] = 1 }
        return t
    }

    /// Whether this is a square matrix; used by the shape checks below.
    var isSquareMatrix: Bool { rank == 2 && shape[0] == shape[1] }

    /// Eigendecomposition of a symmetric matrix (`ssyevd`, divide and conquer), eigenvalues
    /// ascending. Only the lower triangle is read.
    public func symmetricEigen() throws(LinearAlgebraError) -> SymmetricEigen {
        guard isSquareMatrix else {
            throw .shapeMismatch("Tensor.symmetricEigen", "needs a square matrix, got shape \(shape)")
        }
        let n = shape[0]
        if n == 0 { return SymmetricEigen(values: [], vectors: Tensor(zeros: [0, 0])) }
        // A symmetric row-major matrix is its own column-major view; the row-major lower
        // triangle is the column-major upper one.
        var a = scalars
        var w = [Float](repeating: 0, count: n)
        let info = LAPACKE_ssyevd(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "V")), upper, Int32(n), &a, Int32(n), &w)
        try checkLAPACK(info, "ssyevd", kind: .noConvergence, "the eigensolver did not converge")
        // Column-major eigenvectors-as-columns read row-major are eigenvectors-as-rows.
        let vectors = Tensor(shape: [n, n], scalars: a).transposed()
        return SymmetricEigen(values: w, vectors: vectors)
    }

    /// Thin QR factorisation (`sgeqrf` + `sorgqr`): Q m×k orthonormal, R k×n upper, k = min(m, n).
    public func qr() throws(LinearAlgebraError) -> QRResult {
        guard rank == 2 else { throw .shapeMismatch("Tensor.qr", "needs a matrix, got shape \(shape)") }
        let (m, n) = (shape[0], shape[1])
        let k = Swift.min(m, n)
        if k == 0 { return QRResult(q: Tensor(zeros: [m, 0]), r: Tensor(zeros: [0, n])) }
        var a = scalars
        var tau = [Float](repeating: 0, count: k)
        var info = LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, Int32(m), Int32(n), &a, Int32(n), &tau)
        try checkLAPACK(info, "sgeqrf", kind: .other, "QR factorisation failed")
        var r = Tensor(zeros: [k, n])
        for i in 0..<k {
            for j in i..<n { r.scalars[i * n + j] = a[i * n + j] }
        }
        // sorgqr wants the k reflectors in an m×k matrix.
        var q = [Float](repeating: 0, count: m * k)
        for i in 0..<m {
            for j in 0..<k { q[i * k + j] = a[i * n + j] }
        }
        info = LAPACKE_sorgqr(LAPACK_ROW_MAJOR, Int32(m), Int32(k), Int32(k), &q, Int32(k), &tau)
        try checkLAPACK(info, "sorgqr", kind: .other, "forming Q failed")
        return QRResult(q: Tensor(shape: [m, k], scalars: q), r: r)
    }

    /// Cholesky factor `L` (lower triangular, `A = L·Lᵀ`) of a symmetric positive definite
    /// matrix (`spotrf`); throws `.singular` when the matrix is not positive definite.
    public func cholesky() throws(LinearAlgebraError) -> Tensor {
        guard isSquareMatrix else { throw .shapeMismatch("Tensor.cholesky", "needs a square matrix, got shape \(shape)") }
        let n = shape[0]
        var a = scalars
        let info = LAPACKE_spotrf(LAPACK_ROW_MAJOR, lower, Int32(n), &a, Int32(n))
        try checkLAPACK(info, "spotrf", kind: .singular,
                        "the matrix is not positive definite (leading minor \(info) is not positive)")
        for i in 0..<n {
            for j in (i + 1)..<n { a[i * n + j] = 0 }
        }
        return Tensor(shape: [n, n], scalars: a)
    }

    /// Solves `A·X = B` given this matrix as the Cholesky factor `L` of `A` (`spotrs`).
    /// `b` is n×k (or a vector of n); the result has `b`'s shape.
    public func choleskySolve(factor b: Tensor) throws(LinearAlgebraError) -> Tensor {
        guard isSquareMatrix else {
            throw .shapeMismatch("Tensor.choleskySolve", "the factor must be square, got shape \(shape)")
        }
        let n = shape[0]
        let nrhs = try Tensor.rightHandSideColumns(b, rows: n, function: "Tensor.choleskySolve")
        if n == 0 || nrhs == 0 { return b }
        var l = scalars
        var x = b.scalars
        let info = LAPACKE_spotrs(LAPACK_ROW_MAJOR, lower, Int32(n), Int32(nrhs), &l, Int32(n), &x, Int32(nrhs))
        try checkLAPACK(info, "spotrs", kind: .other, "Cholesky solve failed")
        return Tensor(shape: b.shape, scalars: x)
    }

    /// Solves `A·X = B` for symmetric positive definite `A` (this matrix) by Cholesky
    /// (`spotrf` + `spotrs`); throws `.singular` when `A` is not positive definite.
    public func solvePositiveDefinite(_ b: Tensor) throws(LinearAlgebraError) -> Tensor {
        try cholesky().choleskySolve(factor: b)
    }

    /// Solves the square system `A·X = B` by LU with partial pivoting (`sgesv`).
    public func solve(_ b: Tensor) throws(LinearAlgebraError) -> Tensor {
        guard isSquareMatrix else { throw .shapeMismatch("Tensor.solve", "needs a square matrix, got shape \(shape)") }
        let n = shape[0]
        let nrhs = try Tensor.rightHandSideColumns(b, rows: n, function: "Tensor.solve")
        if n == 0 || nrhs == 0 { return b }
        var a = scalars
        var x = b.scalars
        var ipiv = [Int32](repeating: 0, count: n)
        let info = LAPACKE_sgesv(LAPACK_ROW_MAJOR, Int32(n), Int32(nrhs), &a, Int32(n), &ipiv, &x, Int32(nrhs))
        try checkLAPACK(info, "sgesv", kind: .singular, "the matrix is singular (U[\(info),\(info)] is exactly zero)")
        return Tensor(shape: b.shape, scalars: x)
    }

    /// Least-squares solution of `A·X ≈ B` for full-rank A (`sgels`, QR/LQ based): the
    /// minimiser of ‖AX − B‖ when m ≥ n, the minimum-norm solution when m < n.
    /// `b` is m×k or a vector of m; the result is n×k or a vector of n.
    public func leastSquares(_ b: Tensor) throws(LinearAlgebraError) -> Tensor {
        guard rank == 2 else { throw .shapeMismatch("Tensor.leastSquares", "needs a matrix, got shape \(shape)") }
        let (m, n) = (shape[0], shape[1])
        let nrhs = try Tensor.rightHandSideColumns(b, rows: m, function: "Tensor.leastSquares")
        let outShape = b.rank == 1 ? [n] : [n, nrhs]
        if m == 0 || n == 0 || nrhs == 0 { return Tensor(zeros: outShape) }
        var a = scalars
        // sgels needs max(m, n) rows of B: the solution overwrites the top n.
        let rows = Swift.max(m, n)
        var x = [Float](repeating: 0, count: rows * nrhs)
        for i in 0..<(m * nrhs) { x[i] = b.scalars[i] }
        let info = LAPACKE_sgels(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "N")), Int32(m), Int32(n), Int32(nrhs),
                                 &a, Int32(n), &x, Int32(nrhs))
        try checkLAPACK(info, "sgels", kind: .singular, "the matrix does not have full rank")
        return Tensor(shape: outShape, scalars: Array(x[0..<(n * nrhs)]))
    }

    /// Moore–Penrose pseudo-inverse of a small symmetric positive semidefinite matrix, via
    /// its eigendecomposition; eigenvalues below `n·ε·λmax` count as zero.
    public func pseudoInverseSymmetricPSD() throws(LinearAlgebraError) -> Tensor {
        let e = try symmetricEigen()
        let n = e.values.count
        let cutoff = Float(n) * Float.ulpOfOne * (e.values.last.map { Swift.max($0, 0) } ?? 0)
        // V·diag(1/λ)·Vᵀ over the kept eigenpairs.
        var scaled = e.vectors
        for j in 0..<n {
            let lam = e.values[j]
            let inv: Float = lam > cutoff ? 1 / lam : 0
            for i in 0..<n { scaled.scalars[i * n + j] *= inv }
        }
        return try scaled.matmul(e.vectors, transposeOther: true)
    }

    /// Solves `A·X = B` for symmetric positive semidefinite `A` (this matrix) as ALS needs it:
    /// Cholesky when A is positive definite, otherwise the pseudo-inverse (least-squares,
    /// minimum-norm) solution, so a rank-deficient Gram matrix degrades gracefully.
    public func solveSymmetricPSD(_ b: Tensor) throws(LinearAlgebraError) -> Tensor {
        do throws(LinearAlgebraError) {
            return try solvePositiveDefinite(b)
        } catch where error.kind == .singular {
            let pinv = try pseudoInverseSymmetricPSD()
            let n = shape[0]
            let rhs = b.rank == 1 ? b.reshaped([n, 1]) : b
            return try pinv.matmul(rhs).reshaped(b.shape)
        }
    }

    /// The number of right-hand-side columns of `b` for a system with `rows` rows.
    static func rightHandSideColumns(_ b: Tensor, rows: Int, function: String) throws(LinearAlgebraError) -> Int {
        switch b.rank {
        case 1 where b.shape[0] == rows: return 1
        case 2 where b.shape[0] == rows: return b.shape[1]
        default:
            throw .shapeMismatch(function, "right-hand side of shape \(b.shape) does not have \(rows) rows")
        }
    }
}

import COpenBLAS

/// Which side of the unknown a triangular matrix multiplies in `Tensor.triangularSolve`.
public enum TriangularSide: Sendable {
    /// Solve `op(T)·X = B`.
    case left
    /// Solve `X·op(T) = B`.
    case right
}

extension Tensor {
    /// Solves a triangular system with this matrix `T` (n×n) by BLAS `strsm`, without forming
    /// an inverse: `op(T)·X = B` (`side: .left`, B n×k) or `X·op(T) = B` (`side: .right`,
    /// B k×n), with `op(T) = Tᵀ` when `transpose`. Only the triangle named by `lower` is read.
    ///
    /// Added for whitened (data-aware) factorisations, which must undo a Cholesky factor
    /// applied to a weight: `Ŵ = B·L⁻¹` is the right-side solve of `X·L = B`.
    public func triangularSolve(_ b: Tensor, side: TriangularSide = .left, lower: Bool = true,
                                transpose: Bool = false) throws(LinearAlgebraError) -> Tensor {
        guard rank == 2, shape[0] == shape[1] else {
            throw .shapeMismatch("Tensor.triangularSolve", "needs a square matrix, got shape \(shape)")
        }
        let n = shape[0]
        guard b.rank == 2 else {
            throw .shapeMismatch("Tensor.triangularSolve", "right-hand side must be a matrix, got \(b.shape)")
        }
        let (m, k) = (b.shape[0], b.shape[1])
        guard (side == .left ? m : k) == n else {
            throw .shapeMismatch("Tensor.triangularSolve",
                                 "a \(n)×\(n) triangle cannot solve against \(b.shape) on the \(side) side")
        }
        if m == 0 || k == 0 || n == 0 { return b }
        for i in 0..<n where scalars[i * n + i] == 0 {
            throw LinearAlgebraError(routine: "strsm", info: i + 1, kind: .singular,
                                     message: "the triangular matrix has a zero on its diagonal")
        }
        var x = b.scalars
        scalars.withUnsafeBufferPointer { pt in
            x.withUnsafeMutableBufferPointer { px in
                cblas_strsm(CblasRowMajor, side == .left ? CblasLeft : CblasRight, lower ? CblasLower : CblasUpper,
                            transpose ? CblasTrans : CblasNoTrans, CblasNonUnit, Int32(m), Int32(k), 1,
                            pt.baseAddress!, Int32(n), px.baseAddress!, Int32(k))
            }
        }
        return Tensor(shape: b.shape, scalars: x)
    }
}

import COpenBLAS

/// A thin singular value decomposition `A = U · diag(S) · Vt`.
public struct SVDResult: Sendable, Equatable {
    /// Left singular vectors as columns, m×k with k = min(m, n).
    public var u: Tensor
    /// Singular values, descending, k of them.
    public var s: [Float]
    /// Right singular vectors as rows, k×n.
    public var vt: Tensor

    /// Creates a result from its parts (no checks; used by the decompositions).
    public init(u: Tensor, s: [Float], vt: Tensor) {
        self.u = u
        self.s = s
        self.vt = vt
    }

    /// The same decomposition with a deterministic sign per singular pair: each column of U
    /// has its largest-magnitude entry positive, and the matching row of Vt follows.
    ///
    /// Singular vectors are defined only up to sign, and LAPACK builds may disagree; this is
    /// the `svd_flip(u_based_decision=True)` convention of scikit-learn and tensorly, so SVD
    /// initialisations match theirs.
    public func signFlipped() -> SVDResult {
        var out = self
        let (m, k) = (u.shape[0], u.shape[1])
        let n = vt.shape[1]
        for j in 0..<k {
            var best = 0, bestAbs: Float = -1
            for i in 0..<m where abs(u.scalars[i * k + j]) > bestAbs {
                bestAbs = abs(u.scalars[i * k + j])
                best = i
            }
            if m > 0 && u.scalars[best * k + j] < 0 {
                for i in 0..<m { out.u.scalars[i * k + j] = -out.u.scalars[i * k + j] }
                for i in 0..<n { out.vt.scalars[j * n + i] = -out.vt.scalars[j * n + i] }
            }
        }
        return out
    }
}

/// How `Tensor.svd(layout:)` hands a row-major matrix to LAPACK.
public enum SVDLayout: Sendable, CaseIterable {
    /// The measured-fastest choice (currently always `.transposedView`; see docs/benchmarks.md).
    case automatic
    /// Pass the row-major m×n buffer as a column-major n×m matrix (Aᵀ) and read U and Vt
    /// swapped from the result: no transposition copies.
    case transposedView
    /// `LAPACK_ROW_MAJOR`: LAPACKE transposes input and outputs into column-major copies.
    case rowMajorLAPACKE
}

extension Tensor {
    /// Thin SVD of a matrix by divide and conquer (`LAPACKE_sgesdd`; never `sgesvd`, which is
    /// ~30x slower here). Returns U (m×k), S (k, descending), Vt (k×n), k = min(m, n).
    public func svd(layout: SVDLayout = .automatic) throws(LinearAlgebraError) -> SVDResult {
        guard rank == 2 else { throw .shapeMismatch("Tensor.svd", "needs a matrix, got shape \(shape)") }
        let (m, n) = (shape[0], shape[1])
        let k = Swift.min(m, n)
        if k == 0 {
            return SVDResult(u: Tensor(zeros: [m, 0]), s: [], vt: Tensor(zeros: [0, n]))
        }
        var a = scalars  // gesdd destroys its input
        var s = [Float](repeating: 0, count: k)
        var u = [Float](repeating: 0, count: m * k)
        var vt = [Float](repeating: 0, count: k * n)
        let jobz = CChar(UInt8(ascii: "S"))
        let info: Int32
        switch layout {
        case .automatic, .transposedView:
            // The buffer is Aᵀ (n×m) in column-major. Aᵀ = U'·S·V'ᵀ gives A = V'·S·U'ᵀ, and the
            // column-major n×k U' is exactly row-major k×n Vt, the column-major k×m V'ᵀ is
            // row-major m×k U. So both outputs land in place.
            info = LAPACKE_sgesdd(LAPACK_COL_MAJOR, jobz, Int32(n), Int32(m), &a, Int32(n), &s,
                                  &vt, Int32(n), &u, Int32(k))
        case .rowMajorLAPACKE:
            info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, jobz, Int32(m), Int32(n), &a, Int32(n), &s,
                                  &u, Int32(k), &vt, Int32(n))
        }
        try checkLAPACK(info, "sgesdd", kind: .noConvergence, "the SVD did not converge")
        return SVDResult(u: Tensor(shape: [m, k], scalars: u), s: s, vt: Tensor(shape: [k, n], scalars: vt))
    }

    /// Singular values only (descending), without forming singular vectors (`sgesdd`, jobz N).
    public func singularValues() throws(LinearAlgebraError) -> [Float] {
        guard rank == 2 else { throw .shapeMismatch("Tensor.singularValues", "needs a matrix, got shape \(shape)") }
        let (m, n) = (shape[0], shape[1])
        let k = Swift.min(m, n)
        if k == 0 { return [] }
        var a = scalars
        var s = [Float](repeating: 0, count: k)
        var noU: [Float] = [0], noVt: [Float] = [0]  // not referenced with jobz N
        let info = LAPACKE_sgesdd(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "N")), Int32(n), Int32(m), &a, Int32(n), &s,
                                  &noU, 1, &noVt, 1)
        try checkLAPACK(info, "sgesdd", kind: .noConvergence, "the SVD did not converge")
        return s
    }
}

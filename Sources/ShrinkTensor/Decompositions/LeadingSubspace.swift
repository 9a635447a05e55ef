import COpenBLAS

/// Leading left singular vectors, the building block of SVD initialisations (CP, HOSVD, HOOI).
enum LeadingSubspace {
    /// The first `count` (or fewer, if the matrix has fewer) left singular vectors of the
    /// row-major rows×cols `matrix`, with their singular values, sign-flipped like `svd_flip`
    /// (largest-magnitude entry of each vector positive). Returns U row-major rows×k.
    ///
    /// For a wide matrix (rows ≤ cols, every unfolding of a conv kernel but the odd one) this
    /// diagonalises the rows×rows Gram matrix A·Aᵀ in Double instead of running a Float SVD that
    /// would also compute the rows×cols right vectors nobody needs: ~10x cheaper, and since a
    /// Float input is exact in Double the squared condition number costs nothing visible (the
    /// Gram's rounding is 1e-16·s_1², far below a Float SVD's 1e-7·s_1). Tall matrices use sgesdd.
    static func leftSingularVectors(_ matrix: Tensor, count: Int) throws(LinearAlgebraError) -> (u: [Float], s: [Float], k: Int) {
        let (rows, cols) = (matrix.shape[0], matrix.shape[1])
        let k = Swift.min(count, rows, cols)
        if k == 0 { return ([], [], 0) }
        var u = [Float](repeating: 0, count: rows * k)
        var s = [Float](repeating: 0, count: k)
        if rows <= cols {
            let a = matrix.scalars.map(Double.init)
            var g = [Double](repeating: 0, count: rows * rows)
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(rows), Int32(cols), 1, a, Int32(cols),
                        0, &g, Int32(rows))
            // Row-major upper triangle = column-major lower triangle.
            var w = [Double](repeating: 0, count: rows)
            let info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "L")),
                                      Int32(rows), &g, Int32(rows), &w)
            try checkLAPACK(info, "dsyevd", kind: .noConvergence, "the eigensolver did not converge")
            // Eigenvalues ascending; column j of the column-major result is g[j*rows ..< (j+1)*rows].
            for j in 0..<k {
                let src = rows - 1 - j
                s[j] = Float(Swift.max(w[src], 0).squareRoot())
                for i in 0..<rows { u[i * k + j] = Float(g[src * rows + i]) }
            }
        } else {
            let svd = try matrix.svd()
            let full = svd.s.count
            for j in 0..<k {
                s[j] = svd.s[j]
                for i in 0..<rows { u[i * k + j] = svd.u.scalars[i * full + j] }
            }
        }
        // svd_flip(u_based_decision=True): first index of the largest |u_ij| gets a positive sign.
        for j in 0..<k {
            var best = 0
            var bestAbs: Float = -1
            for i in 0..<rows where abs(u[i * k + j]) > bestAbs {
                bestAbs = abs(u[i * k + j])
                best = i
            }
            if u[best * k + j] < 0 {
                for i in 0..<rows { u[i * k + j] = -u[i * k + j] }
            }
        }
        return (u, s, k)
    }
}

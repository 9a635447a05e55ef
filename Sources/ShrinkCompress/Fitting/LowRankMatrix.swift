import ShrinkTensor

/// A rank-R factorisation of a matrix, W ≈ left · right, with the singular values split
/// evenly (√σ on each side) so both stages have similar scale — friendlier to later
/// quantisation than putting all of σ on one side.
struct LowRankPair {
    /// M×R.
    var left: Tensor
    /// R×N.
    var right: Tensor

    /// The product left · right (M×N).
    func product(layer: String) throws(DecompositionError) -> Tensor {
        try Mat.mul(left, right, layer: layer)
    }

    /// The best rank-R approximation of `w` in the Frobenius norm (truncated SVD).
    static func weightOnly(_ w: Tensor, rank: Int, layer: String) throws(DecompositionError) -> LowRankPair {
        let svd = try numerics(layer) { () throws(LinearAlgebraError) in try w.svd() }
        let root = Mat.sqrtValues(Array(svd.s.prefix(rank)))
        return LowRankPair(left: Mat.scaleColumns(Mat.columns(svd.u, rank), root),
                           right: Mat.scaleRows(Mat.rows(svd.vt, rank), root))
    }

    /// The rank-R matrix Ŵ minimising tr((W − Ŵ) C (W − Ŵ)ᵀ) for symmetric positive definite
    /// C acting on the column side (C = regularised Σ xxᵀ of the inputs).
    ///
    /// With C = L·Lᵀ (Cholesky) the objective is ‖(W − Ŵ)L‖², so the optimum is the truncated
    /// SVD of W·L taken back through L⁻¹; the un-whitening is a triangular solve (`strsm`),
    /// never an explicit inverse.
    static func whitened(_ w: Tensor, covariance c: Tensor, rank: Int, layer: String) throws(DecompositionError) -> LowRankPair {
        let l = try numerics(layer) { () throws(LinearAlgebraError) in try c.cholesky() }
        let wl = try Mat.mul(w, l, layer: layer)
        let svd = try numerics(layer) { () throws(LinearAlgebraError) in try wl.svd() }
        let root = Mat.sqrtValues(Array(svd.s.prefix(rank)))
        let whiteRight = Mat.scaleRows(Mat.rows(svd.vt, rank), root)
        let right = try numerics(layer) { () throws(LinearAlgebraError) in
            try l.triangularSolve(whiteRight, side: .right, lower: true)
        }
        return LowRankPair(left: Mat.scaleColumns(Mat.columns(svd.u, rank), root), right: right)
    }
}

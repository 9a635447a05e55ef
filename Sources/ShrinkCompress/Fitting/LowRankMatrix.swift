import Synchronization
import ShrinkTensor

/// Full SVDs (and the Cholesky factor of whitened ones) of the matrices factorised last, by
/// content. A rank search factorises the same matrix at many ranks — 30 ranks of LeNet's fc1 cost
/// 30 SVDs of a 500×800 matrix, half the search's time — and truncating a memoised SVD gives
/// exactly what a fresh one would. Inputs are compared in full on a hit, never by hash alone.
final class FactorMemo: Sendable {
    static let shared = FactorMemo()
    /// Entries kept (most recent first); each holds its inputs and an SVD of the same size.
    let capacity = 4
    private struct Entry {
        var inputs: [Tensor]
        var svd: SVDResult
        var factor: Tensor?
    }
    private let entries = Mutex<[Entry]>([])

    func value(for inputs: [Tensor], compute: () throws(DecompositionError) -> (SVDResult, Tensor?))
        throws(DecompositionError) -> (svd: SVDResult, factor: Tensor?) {
        let hit = entries.withLock { list -> Entry? in
            guard let i = list.firstIndex(where: { $0.inputs == inputs }) else { return nil }
            let e = list.remove(at: i)
            list.insert(e, at: 0)
            return e
        }
        if let hit { return (hit.svd, hit.factor) }
        let (svd, factor) = try compute()
        entries.withLock { list in
            list.insert(Entry(inputs: inputs, svd: svd, factor: factor), at: 0)
            if list.count > capacity { list.removeLast(list.count - capacity) }
        }
        return (svd, factor)
    }
}

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
        let svd = try FactorMemo.shared.value(for: [w]) { () throws(DecompositionError) in
            let s = try numerics(layer) { () throws(LinearAlgebraError) in try w.svd() }
            return (s, nil)
        }.svd
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
        let (svd, factor) = try FactorMemo.shared.value(for: [w, c]) { () throws(DecompositionError) in
            let l = try numerics(layer) { () throws(LinearAlgebraError) in try c.cholesky() }
            let wl = try Mat.mul(w, l, layer: layer)
            return (try numerics(layer) { () throws(LinearAlgebraError) in try wl.svd() }, l)
        }
        let l = factor!
        let root = Mat.sqrtValues(Array(svd.s.prefix(rank)))
        let whiteRight = Mat.scaleRows(Mat.rows(svd.vt, rank), root)
        let right = try numerics(layer) { () throws(LinearAlgebraError) in
            try l.triangularSolve(whiteRight, side: .right, lower: true)
        }
        return LowRankPair(left: Mat.scaleColumns(Mat.columns(svd.u, rank), root), right: right)
    }
}

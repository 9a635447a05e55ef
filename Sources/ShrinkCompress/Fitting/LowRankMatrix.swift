import Synchronization
import ShrinkTensor

/// The last few results computed from some tensors, keyed by those tensors' content (compared
/// in full on a hit, never by hash alone). A rank search factorises or measures the same matrix
/// at many ranks; these memos make every rank after the first reuse the rank-independent work.
final class ContentMemo<Value: Sendable>: Sendable {
    private let capacity: Int
    private let entries = Mutex<[(inputs: [Tensor], value: Value)]>([])

    init(capacity: Int) { self.capacity = capacity }

    /// The memoised value for `inputs`, or `compute()`'s, which is then kept (most recent first).
    func value(for inputs: [Tensor], compute: () throws(DecompositionError) -> Value) throws(DecompositionError) -> Value {
        let hit = entries.withLock { list -> Value? in
            guard let i = list.firstIndex(where: { $0.inputs == inputs }) else { return nil }
            let e = list.remove(at: i)
            list.insert(e, at: 0)
            return e.value
        }
        if let hit { return hit }
        let value = try compute()
        entries.withLock { list in
            list.insert((inputs, value), at: 0)
            if list.count > capacity { list.removeLast(list.count - capacity) }
        }
        return value
    }
}

/// A full SVD and, for a whitened one, the Cholesky factor it was whitened by.
struct MemoisedSVD: Sendable {
    var svd: SVDResult
    var factor: Tensor?
}

/// Full SVDs of the matrices factorised last: 30 ranks of LeNet's fc1 cost 30 SVDs of a 500×800
/// matrix (half the search's time) before this; truncating a memoised SVD gives exactly what a
/// fresh one would.
let factorMemo = ContentMemo<MemoisedSVD>(capacity: 4)

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
        let svd = try factorMemo.value(for: [w]) { () throws(DecompositionError) in
            MemoisedSVD(svd: try numerics(layer) { () throws(LinearAlgebraError) in try w.svd() }, factor: nil)
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
        let memo = try factorMemo.value(for: [w, c]) { () throws(DecompositionError) in
            let l = try numerics(layer) { () throws(LinearAlgebraError) in try c.cholesky() }
            let wl = try Mat.mul(w, l, layer: layer)
            return MemoisedSVD(svd: try numerics(layer) { () throws(LinearAlgebraError) in try wl.svd() }, factor: l)
        }
        let (svd, l) = (memo.svd, memo.factor!)
        let root = Mat.sqrtValues(Array(svd.s.prefix(rank)))
        let whiteRight = Mat.scaleRows(Mat.rows(svd.vt, rank), root)
        let right = try numerics(layer) { () throws(LinearAlgebraError) in
            try l.triangularSolve(whiteRight, side: .right, lower: true)
        }
        return LowRankPair(left: Mat.scaleColumns(Mat.columns(svd.u, rank), root), right: right)
    }
}

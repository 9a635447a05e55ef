/// A rank-r truncated SVD `A ≈ U_r · diag(S_r) · Vt_r`, the optimal rank-r approximation in
/// the Frobenius and spectral norms (Eckart–Young).
///
/// The factors are kept separate so callers choose where the singular values go; `factorPair`
/// gives the usual split of a linear layer into two (`A = U_r·diag(S_r)`, `B = Vt_r`).
public struct TruncatedSVD: Sendable, Equatable {
    /// m×r left singular vectors.
    public var u: Tensor
    /// The r kept singular values, descending.
    public var s: [Float]
    /// r×n right singular vectors.
    public var vt: Tensor
    /// All min(m, n) singular values of the original matrix; they give the error for free.
    public var allSingularValues: [Float]

    /// The kept rank r.
    public var rank: Int { s.count }

    /// Truncates an existing full SVD; one SVD serves every candidate rank of a search.
    /// `rank` must be in 0...min(m, n).
    public init(_ svd: SVDResult, rank: Int) throws(LinearAlgebraError) {
        let k = svd.s.count
        guard rank >= 0 && rank <= k else {
            throw .invalidArgument("TruncatedSVD", "rank \(rank) is outside 0...\(k)")
        }
        let (m, n) = (svd.u.shape[0], svd.vt.shape[1])
        var u = [Float](repeating: 0, count: m * rank)
        for i in 0..<m {
            for j in 0..<rank { u[i * rank + j] = svd.u.scalars[i * k + j] }
        }
        self.u = Tensor(shape: [m, rank], scalars: u)
        self.s = Array(svd.s.prefix(rank))
        self.vt = Tensor(shape: [rank, n], scalars: Array(svd.vt.scalars.prefix(rank * n)))
        self.allSingularValues = svd.s
    }

    /// The rank-`rank` truncated SVD of `matrix` (one `sgesdd`).
    public init(matrix: Tensor, rank: Int) throws(LinearAlgebraError) {
        try self.init(matrix.svd(), rank: rank)
    }

    /// ‖A − A_r‖_F / ‖A‖_F from the singular values: sqrt(Σ_{i≥r} s_i²) / sqrt(Σ s_i²).
    public var relativeError: Double {
        TruncatedSVD.relativeError(rank: rank, singularValues: allSingularValues)
    }

    /// The fraction of the energy Σ s_i² that the kept rank retains.
    public var energy: Double {
        1 - relativeError * relativeError
    }

    /// `(a, b)` with `a = U_r · diag(S_r)` (m×r) and `b = Vt_r` (r×n), so `A ≈ a · b`.
    public func factorPair() -> (a: Tensor, b: Tensor) {
        var a = u
        let r = rank
        for i in 0..<u.shape[0] {
            for j in 0..<r { a.scalars[i * r + j] *= s[j] }
        }
        return (a, vt)
    }

    /// The explicit rank-r approximation `U_r · diag(S_r) · Vt_r` (m×n).
    public func reconstructed() -> Tensor {
        let (a, b) = factorPair()
        var out = Tensor(zeros: [u.shape[0], vt.shape[1]])
        // Shapes agree by construction; gemm cannot fail here.
        try? BLAS.gemm(a, b, into: &out)
        return out
    }

    /// sqrt(Σ_{i≥rank} s_i²) / sqrt(Σ s_i²), summed in Double from the smallest value up so the
    /// tail is not lost to rounding. 0 for an all-zero spectrum.
    public static func relativeError(rank: Int, singularValues s: [Float]) -> Double {
        var total = 0.0, tail = 0.0
        for i in stride(from: s.count - 1, through: 0, by: -1) {
            let e = Double(s[i]) * Double(s[i])
            total += e
            if i >= rank { tail += e }
        }
        return total > 0 ? (tail / total).squareRoot() : 0
    }

    /// The smallest rank whose kept singular values hold at least `fraction` of the energy,
    /// where energy means the sum of **squared** singular values (Σ_{i<r} s_i² ≥ fraction·Σ s_i²,
    /// i.e. relative Frobenius error ≤ sqrt(1 − fraction)). `fraction` is clamped to [0, 1];
    /// 0 for an all-zero spectrum.
    public static func rank(forEnergy fraction: Double, singularValues s: [Float]) -> Int {
        let f = Swift.min(Swift.max(fraction, 0), 1)
        var total = 0.0
        for v in s.reversed() { total += Double(v) * Double(v) }
        if total == 0 || f == 0 { return 0 }
        var kept = 0.0
        for (i, v) in s.enumerated() {
            kept += Double(v) * Double(v)
            // A relative slack absorbs summation-order rounding so that fraction 1 returns
            // the last non-zero singular value's rank, not "never".
            if kept >= f * total * (1 - 1e-12) { return i + 1 }
        }
        return s.count
    }
}

extension SVDResult {
    /// The smallest rank keeping `fraction` of Σ s_i² (see `TruncatedSVD.rank(forEnergy:singularValues:)`).
    public func rank(forEnergy fraction: Double) -> Int {
        TruncatedSVD.rank(forEnergy: fraction, singularValues: s)
    }

    /// The rank-`rank` truncation of this decomposition.
    public func truncated(rank: Int) throws(LinearAlgebraError) -> TruncatedSVD {
        try TruncatedSVD(self, rank: rank)
    }
}

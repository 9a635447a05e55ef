/// The matricised-tensor-times-Khatri–Rao products of one CP-ALS sweep,
/// `M_n = X_(n) · khatriRao(A_k, k ≠ n)` for n = 0…N−1, on sgemm without ever forming the
/// full Khatri–Rao product, and with two large products per sweep instead of N.
///
/// The modes are split at `s` into a left group 0..<s and a right group s..<N (a two-level
/// dimension tree). At the start of a sweep one sgemm contracts X with the Khatri–Rao product
/// of the right group's factors, giving `Y_R` (R × Π left sizes); the right factors do not
/// change while the left modes are updated, so `Y_R` serves every left mode: `M_n[:, r]` is
/// `Y_R[r]` contracted with the other left factors' column r (one or two sgemv each). When the
/// sweep reaches mode s, a second sgemm with the (now updated) left factors gives `Y_L`
/// (R × Π right sizes), which serves the right modes the same way. The two sgemms carry the
/// 2·|X|·R flops each that dominate; `s` minimises the remaining small work. Buffers are
/// allocated once.
struct CPALSPlan {
    let shape: [Int]
    let rank: Int
    /// The split: left group 0..<split, right group split..<N.
    let split: Int
    private var kr: [Float]
    private var yRight: [Float]
    private var yLeft: [Float]
    private var kru: [Float]
    private var krv: [Float]
    private var tmp: [Float]

    init(shape: [Int], rank: Int) {
        self.shape = shape
        self.rank = rank
        let n = shape.count
        func prod(_ r: Range<Int>) -> Int { r.reduce(1) { $0 * shape[$1] } }
        // Small work per sweep for split s: building both groups' Khatri–Rao products and
        // contracting Y per mode of each group (all ∝ R).
        var best = (cost: Int.max, s: 1)
        for s in 1..<n {
            let left = prod(0..<s), right = prod(s..<n)
            let cost = (s + 1) * left + (n - s + 1) * right
            if cost < best.cost { best = (cost, s) }
        }
        split = best.s
        let left = prod(0..<split), right = prod(split..<n)
        kr = [Float](repeating: 0, count: Swift.max(left, right) * rank)
        yRight = [Float](repeating: 0, count: rank * left)
        yLeft = [Float](repeating: 0, count: rank * right)
        kru = [Float](repeating: 0, count: Swift.max(left, right) * rank)
        krv = [Float](repeating: 0, count: Swift.max(left, right) * rank)
        tmp = [Float](repeating: 0, count: Swift.max(left, right))
    }

    /// `X_(mode) · khatriRao(factors[k] for k ≠ mode)`, row-major `shape[mode] × rank`.
    ///
    /// Must be called for modes 0, 1, …, N−1 in order within a sweep (as ALS does), with
    /// `factors` holding the newest factors: mode 0 refreshes `Y_R`, mode `split` refreshes `Y_L`.
    mutating func mttkrp(_ x: [Float], factors: [[Float]], mode: Int) -> [Float] {
        let n = shape.count
        let r = rank
        let total = shape.reduce(1, *)
        let left = shape[0..<split].reduce(1, *)
        let right = total / left
        func fillKR(_ range: Range<Int>) {
            kr.withUnsafeMutableBufferPointer { k in
                KhatriRao.fill(k.baseAddress!, matrices: range.map { factors[$0] }, rows: range.map { shape[$0] }, r: r)
            }
        }
        if mode == 0 {
            // Y_R (R × left) = KR(right group)ᵀ · X_matᵀ, with X_mat = left × right.
            fillKR(split..<n)
            x.withUnsafeBufferPointer { px in
                kr.withUnsafeBufferPointer { pk in
                    yRight.withUnsafeMutableBufferPointer { py in
                        BLAS.gemm(transposeA: true, transposeB: true, m: r, n: left, k: right, a: pk.baseAddress!,
                                  lda: r, b: px.baseAddress!, ldb: right, c: py.baseAddress!, ldc: left)
                    }
                }
            }
        }
        if mode == split {
            // Y_L (R × right) = KR(left group)ᵀ · X_mat.
            fillKR(0..<split)
            x.withUnsafeBufferPointer { px in
                kr.withUnsafeBufferPointer { pk in
                    yLeft.withUnsafeMutableBufferPointer { py in
                        BLAS.gemm(transposeA: true, m: r, n: right, k: left, a: pk.baseAddress!, lda: r,
                                  b: px.baseAddress!, ldb: right, c: py.baseAddress!, ldc: right)
                    }
                }
            }
        }
        var m = [Float](repeating: 0, count: shape[mode] * r)
        if mode < split {
            contract(useLeftY: false, sliceSize: left, left: 0..<mode, right: (mode + 1)..<split,
                     factors: factors, mode: mode, into: &m)
        } else {
            contract(useLeftY: true, sliceSize: right, left: split..<mode, right: (mode + 1)..<n,
                     factors: factors, mode: mode, into: &m)
        }
        return m
    }

    /// Per component r: M[:, r] = Σ_{a,t} Y_r[a, i, t] · u_r[a] · v_r[t], where Y_r (slice r of
    /// Y_L or Y_R, `sliceSize` elements) spans the modes `left`, `mode`, `right`, and u, v are
    /// column r of the Khatri–Rao products of those modes' factors.
    private mutating func contract(useLeftY: Bool, sliceSize: Int, left: Range<Int>, right: Range<Int>,
                                   factors: [[Float]], mode: Int, into m: inout [Float]) {
        let r = rank
        let rows = shape[mode]
        let lr = left.reduce(1) { $0 * shape[$1] }
        let rr = right.reduce(1) { $0 * shape[$1] }
        kru.withUnsafeMutableBufferPointer { k in
            KhatriRao.fill(k.baseAddress!, matrices: left.map { factors[$0] }, rows: left.map { shape[$0] }, r: r)
        }
        krv.withUnsafeMutableBufferPointer { k in
            KhatriRao.fill(k.baseAddress!, matrices: right.map { factors[$0] }, rows: right.map { shape[$0] }, r: r)
        }
        let y = useLeftY ? yLeft : yRight  // a reference, not a copy: neither is mutated below
        y.withUnsafeBufferPointer { py in
            kru.withUnsafeBufferPointer { pu in
                krv.withUnsafeBufferPointer { pv in
                    tmp.withUnsafeMutableBufferPointer { pt in
                        m.withUnsafeMutableBufferPointer { pm in
                            for c in 0..<r {
                                let yr = py.baseAddress! + c * sliceSize
                                let u = pu.baseAddress! + c, v = pv.baseAddress! + c
                                let out = pm.baseAddress! + c
                                if lr == 1 && rr == 1 {
                                    for i in 0..<rows { out[i * r] = yr[i] }
                                } else if lr == 1 {
                                    BLAS.gemv(m: rows, n: rr, a: yr, lda: rr, x: v, incX: r, y: out, incY: r)
                                } else if rr == 1 {
                                    BLAS.gemv(transpose: true, m: lr, n: rows, a: yr, lda: rows, x: u, incX: r,
                                              y: out, incY: r)
                                } else {
                                    BLAS.gemv(transpose: true, m: lr, n: rows * rr, a: yr, lda: rows * rr, x: u,
                                              incX: r, y: pt.baseAddress!)
                                    BLAS.gemv(m: rows, n: rr, a: pt.baseAddress!, lda: rr, x: v, incX: r,
                                              y: out, incY: r)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

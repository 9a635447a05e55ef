/// The matricised-tensor-times-Khatri–Rao product of CP-ALS, `X_(n) · khatriRao(A_k, k ≠ n)`,
/// computed on sgemm/sgemv without materialising the full Khatri–Rao product.
///
/// For mode n the other modes split into a contiguous *block* (a prefix 0..<p with p ≤ n, or a
/// suffix q..<N with q > n), contracted for all R components at once by one sgemm against the
/// block's small Khatri–Rao product, and the *remaining* modes, contracted per component by
/// one or two sgemv calls on the (now small) slice `Y_r`. The block is chosen per mode to
/// minimise `|block|·R` (building its Khatri–Rao) plus `2·R·|X|/|block|` (the per-component
/// work); when the block is every other mode and n is first or last, the product is a single
/// sgemm. The sgemm does the 2·|X|·R flops that dominate either way. Buffers are allocated once.
struct CPALSPlan {
    private enum Strategy {
        /// n == 0, block = 1..<N: M = X_(0) · KR.
        case directFirst
        /// n == N−1, block = 0..<N−1: M = X_matᵀ · KR.
        case directLast
        /// block = 0..<p, then per-component gemv over p..<N.
        case prefix(Int)
        /// block = q..<N, then per-component gemv over 0..<q.
        case suffix(Int)
    }

    let shape: [Int]
    let rank: Int
    private var strategies: [Strategy] = []
    private var kr: [Float]
    private var y: [Float]
    private var kru: [Float]
    private var krv: [Float]
    private var tmp: [Float]

    init(shape: [Int], rank: Int) {
        self.shape = shape
        self.rank = rank
        let n = shape.count
        let total = shape.reduce(1, *)
        func prod(_ r: Range<Int>) -> Int { r.reduce(1) { $0 * shape[$1] } }
        var krMax = 1, yMax = 1, uMax = 1, vMax = 1, tmpMax = 1
        for mode in 0..<n {
            var best: (cost: Int, strategy: Strategy)
            if mode == 0 {
                best = (total / shape[0] * rank, .directFirst)
            } else if mode == n - 1 {
                best = (total / shape[n - 1] * rank, .directLast)
            } else {
                best = (Int.max, .prefix(1))
            }
            // Only blocks that leave something for the per-component step; the "all other
            // modes" block is the direct case above.
            for p in stride(from: 1, through: mode, by: 1) where !(mode == n - 1 && p == n - 1) {
                let b = prod(0..<p)
                let cost = b * rank + 2 * rank * (total / b)
                if cost < best.cost { best = (cost, .prefix(p)) }
            }
            for q in stride(from: mode + 1, to: n, by: 1) where !(mode == 0 && q == 1) {
                let b = prod(q..<n)
                let cost = b * rank + 2 * rank * (total / b)
                if cost < best.cost { best = (cost, .suffix(q)) }
            }
            strategies.append(best.strategy)
            switch best.strategy {
            case .directFirst:
                krMax = max(krMax, prod(1..<n) * rank)
            case .directLast:
                krMax = max(krMax, prod(0..<(n - 1)) * rank)
            case .prefix(let p):
                krMax = max(krMax, prod(0..<p) * rank)
                yMax = max(yMax, rank * (total / prod(0..<p)))
                uMax = max(uMax, prod(p..<mode) * rank)
                vMax = max(vMax, prod((mode + 1)..<n) * rank)
                tmpMax = max(tmpMax, prod(mode..<n))
            case .suffix(let q):
                krMax = max(krMax, prod(q..<n) * rank)
                yMax = max(yMax, rank * (total / prod(q..<n)))
                uMax = max(uMax, prod(0..<mode) * rank)
                vMax = max(vMax, prod((mode + 1)..<q) * rank)
                tmpMax = max(tmpMax, prod(mode..<q))
            }
        }
        kr = [Float](repeating: 0, count: krMax)
        y = [Float](repeating: 0, count: yMax)
        kru = [Float](repeating: 0, count: max(uMax, rank))
        krv = [Float](repeating: 0, count: max(vMax, rank))
        tmp = [Float](repeating: 0, count: tmpMax)
    }

    /// `X_(mode) · khatriRao(factors[k] for k ≠ mode)`, row-major `shape[mode] × rank`.
    mutating func mttkrp(_ x: [Float], factors: [[Float]], mode: Int) -> [Float] {
        let n = shape.count
        let r = rank
        let total = shape.reduce(1, *)
        let rows = shape[mode]
        var m = [Float](repeating: 0, count: rows * r)
        func sizes(_ range: Range<Int>) -> [Int] { range.map { shape[$0] } }
        func mats(_ range: Range<Int>) -> [[Float]] { range.map { factors[$0] } }

        switch strategies[mode] {
        case .directFirst:
            let s = total / rows
            kr.withUnsafeMutableBufferPointer { k in
                KhatriRao.fill(k.baseAddress!, matrices: mats(1..<n), rows: sizes(1..<n), r: r)
            }
            x.withUnsafeBufferPointer { px in
                kr.withUnsafeBufferPointer { pk in
                    m.withUnsafeMutableBufferPointer { pm in
                        BLAS.gemm(m: rows, n: r, k: s, a: px.baseAddress!, lda: s, b: pk.baseAddress!, ldb: r,
                                  c: pm.baseAddress!, ldc: r)
                    }
                }
            }
        case .directLast:
            let p = total / rows
            kr.withUnsafeMutableBufferPointer { k in
                KhatriRao.fill(k.baseAddress!, matrices: mats(0..<(n - 1)), rows: sizes(0..<(n - 1)), r: r)
            }
            x.withUnsafeBufferPointer { px in
                kr.withUnsafeBufferPointer { pk in
                    m.withUnsafeMutableBufferPointer { pm in
                        BLAS.gemm(transposeA: true, m: rows, n: r, k: p, a: px.baseAddress!, lda: rows,
                                  b: pk.baseAddress!, ldb: r, c: pm.baseAddress!, ldc: r)
                    }
                }
            }
        case .prefix(let p):
            let b = sizes(0..<p).reduce(1, *)
            let s = total / b
            kr.withUnsafeMutableBufferPointer { k in
                KhatriRao.fill(k.baseAddress!, matrices: mats(0..<p), rows: sizes(0..<p), r: r)
            }
            // Y (R × s) = KRᵀ · X_mat, X_mat = b × s.
            x.withUnsafeBufferPointer { px in
                kr.withUnsafeBufferPointer { pk in
                    y.withUnsafeMutableBufferPointer { py in
                        BLAS.gemm(transposeA: true, m: r, n: s, k: b, a: pk.baseAddress!, lda: r,
                                  b: px.baseAddress!, ldb: s, c: py.baseAddress!, ldc: s)
                    }
                }
            }
            contractRemaining(into: &m, sliceSize: s, left: p..<mode, right: (mode + 1)..<n,
                              factors: factors, mode: mode)
        case .suffix(let q):
            let b = sizes(q..<n).reduce(1, *)
            let s = total / b
            kr.withUnsafeMutableBufferPointer { k in
                KhatriRao.fill(k.baseAddress!, matrices: mats(q..<n), rows: sizes(q..<n), r: r)
            }
            // Y (R × s) = KRᵀ · X_matᵀ, X_mat = s × b.
            x.withUnsafeBufferPointer { px in
                kr.withUnsafeBufferPointer { pk in
                    y.withUnsafeMutableBufferPointer { py in
                        BLAS.gemm(transposeA: true, transposeB: true, m: r, n: s, k: b, a: pk.baseAddress!, lda: r,
                                  b: px.baseAddress!, ldb: b, c: py.baseAddress!, ldc: s)
                    }
                }
            }
            contractRemaining(into: &m, sliceSize: s, left: 0..<mode, right: (mode + 1)..<q,
                              factors: factors, mode: mode)
        }
        return m
    }

    /// Per component r: M[:, r] = Σ_{a,t} Y_r[a, i, t] · u_r[a] · v_r[t], where Y_r (slice r
    /// of `y`, `sliceSize` elements) spans the modes `left`, `mode`, `right`, and u, v are the
    /// Khatri–Rao products of those modes' factors.
    private mutating func contractRemaining(into m: inout [Float], sliceSize: Int, left: Range<Int>,
                                            right: Range<Int>, factors: [[Float]], mode: Int) {
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
        y.withUnsafeBufferPointer { py in
            kru.withUnsafeBufferPointer { pu in
                krv.withUnsafeBufferPointer { pv in
                    tmp.withUnsafeMutableBufferPointer { pt in
                        m.withUnsafeMutableBufferPointer { pm in
                            for c in 0..<r {
                                let yr = py.baseAddress! + c * sliceSize
                                let u = pu.baseAddress! + c, v = pv.baseAddress! + c
                                let out = pm.baseAddress! + c
                                if lr == 1 {
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

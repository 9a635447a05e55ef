extension Tensor {
    /// The Khatri–Rao (column-wise Kronecker) product of matrices with a common column count R:
    /// row `(i_0, …, i_{k-1})` (first index slowest) is the elementwise product of row `i_j`
    /// of matrix j. This matches tensorly's `khatri_rao` and the column order of
    /// `unfolded(mode:)`, so `X_(n) ≈ A_n · khatriRao(others)ᵀ` for a CP model.
    public static func khatriRao(_ matrices: [Tensor]) throws(LinearAlgebraError) -> Tensor {
        guard let first = matrices.first else {
            throw .invalidArgument("Tensor.khatriRao", "needs at least one matrix")
        }
        guard matrices.allSatisfy({ $0.rank == 2 && $0.shape[1] == first.shape[1] }) else {
            throw .shapeMismatch("Tensor.khatriRao", "matrices must share a column count: \(matrices.map(\.shape))")
        }
        let r = first.shape[1]
        let rows = matrices.reduce(1) { $0 * $1.shape[0] }
        var out = [Float](repeating: 0, count: rows * r)
        out.withUnsafeMutableBufferPointer { o in
            KhatriRao.fill(o.baseAddress!, matrices: matrices.map(\.scalars), rows: matrices.map { $0.shape[0] }, r: r)
        }
        return Tensor(shape: [rows, r], scalars: out)
    }
}

/// The allocation-free Khatri–Rao kernel shared by `Tensor.khatriRao` and CP-ALS.
enum KhatriRao {
    /// Writes the Khatri–Rao product of row-major `rows[j]`×r matrices into `out`
    /// (Π rows × r). An empty list writes one row of ones (the neutral element).
    static func fill(_ out: UnsafeMutablePointer<Float>, matrices: [[Float]], rows: [Int], r: Int) {
        for c in 0..<r { out[c] = 1 }
        var have = 1
        for (m, n) in zip(matrices, rows) {
            m.withUnsafeBufferPointer { b in
                // Expand in place from the last row down: new row a·n + j only ever lands at
                // or after old row a, so nothing is overwritten before it is read.
                var a = have - 1
                while a >= 0 {
                    let src = out + a * r
                    var j = n - 1
                    while j >= 0 {
                        let dst = out + (a * n + j) * r
                        let brow = b.baseAddress! + j * r
                        for c in 0..<r { dst[c] = src[c] * brow[c] }
                        j -= 1
                    }
                    a -= 1
                }
            }
            have *= n
        }
    }
}

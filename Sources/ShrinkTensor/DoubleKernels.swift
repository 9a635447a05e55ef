import COpenBLAS

/// Double-precision helpers for the small R×R systems inside ALS.
///
/// The normal equations of ALS square the condition number of the factors, and a Float
/// Cholesky of a Hadamard product of Gram matrices loses most of its digits for ranks above
/// a mode size; these matrices are tiny (R×R, I×R), so doing them in Double costs nothing
/// measurable and keeps Float results close to tensorly's float64 ones.
enum DoubleKernels {
    /// `AᵀA` (cols×cols, full symmetric) of a row-major rows×cols Float matrix, in Double.
    static func gram(_ a: UnsafeBufferPointer<Float>, rows: Int, cols: Int) -> [Double] {
        var d = [Double](repeating: 0, count: rows * cols)
        for i in 0..<(rows * cols) { d[i] = Double(a[i]) }
        var g = [Double](repeating: 0, count: cols * cols)
        if rows == 0 || cols == 0 { return g }
        // dsyrk fills one triangle only; the other is mirrored below.
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(cols), Int32(rows), 1, d, Int32(cols), 0, &g, Int32(cols))
        for i in 0..<cols {
            for j in 0..<i { g[i * cols + j] = g[j * cols + i] }
        }
        return g
    }

    /// Replaces the row-major rows×n matrix `b` by `b · G⁻¹` for symmetric PSD `g` (n×n).
    ///
    /// Cholesky first; if G is not numerically positive definite, falls back to the
    /// eigendecomposition pseudo-inverse (`n·ε·λmax` cut-off). `g` is consumed.
    /// Returns false only if LAPACK itself fails (eigensolver did not converge).
    static func rightSolvePSD(_ g: inout [Double], n: Int, _ b: inout [Double], rows: Int) -> Bool {
        if n == 0 || rows == 0 { return true }
        // A row-major rows×n buffer is a column-major n×rows matrix, i.e. Bᵀ; solving
        // G·X = Bᵀ leaves X = G⁻¹Bᵀ = (B·G⁻¹)ᵀ in place (G symmetric). No copies.
        var factor = g
        // The _work variants skip LAPACKE's NaN scans of the inputs, a visible cost at this size
        // (the inputs come from our own arithmetic; a NaN shows up as a failed factorisation).
        if LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "U")), Int32(n), &factor, Int32(n)) == 0 {
            return LAPACKE_dpotrs_work(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "U")), Int32(n), Int32(rows), &factor,
                                       Int32(n), &b, Int32(n)) == 0
        }
        var w = [Double](repeating: 0, count: n)
        guard LAPACKE_dsyevd(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "U")), Int32(n), &g,
                             Int32(n), &w) == 0 else { return false }
        // g now holds eigenvectors as columns (column-major). pinv = V·diag(1/λ)·Vᵀ.
        let cutoff = Double(n) * Double.ulpOfOne * max(w.last ?? 0, 0)
        var scaled = g
        for j in 0..<n {
            let inv = w[j] > cutoff ? 1 / w[j] : 0
            for i in 0..<n { scaled[j * n + i] *= inv }
        }
        var pinv = [Double](repeating: 0, count: n * n)
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(n), 1, scaled, Int32(n),
                    g, Int32(n), 0, &pinv, Int32(n))
        // B·pinv (row-major) — pinv is symmetric, so its storage order does not matter.
        var out = [Double](repeating: 0, count: rows * n)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(n), Int32(n), 1, b, Int32(n),
                    pinv, Int32(n), 0, &out, Int32(n))
        b = out
        return true
    }
}

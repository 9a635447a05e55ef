extension Tensor {
    /// The mode-n product `X ×_n op(M)`: every mode-`mode` fibre is multiplied by `op(M)`
    /// (J×I with I = `shape[mode]`), so axis `mode` becomes J. `transposeMatrix` uses Mᵀ,
    /// which is how a Tucker core is projected (`X ×_n Uᵀ`) without copying U.
    ///
    /// Implemented as sgemm: one call when the mode is first or last, otherwise one per index
    /// of the leading axes (each a J×I by I×(trailing) product).
    public func modeProduct(_ matrix: Tensor, mode: Int,
                            transposeMatrix: Bool = false) throws(LinearAlgebraError) -> Tensor {
        guard mode >= 0 && mode < rank else {
            throw .invalidArgument("Tensor.modeProduct", "mode \(mode) out of range for shape \(shape)")
        }
        guard matrix.rank == 2 else {
            throw .shapeMismatch("Tensor.modeProduct", "needs a matrix, got shape \(matrix.shape)")
        }
        let (j, i) = transposeMatrix ? (matrix.shape[1], matrix.shape[0]) : (matrix.shape[0], matrix.shape[1])
        guard i == shape[mode] else {
            throw .shapeMismatch("Tensor.modeProduct", "matrix \(matrix.shape)\(transposeMatrix ? "ᵀ" : "") "
                                 + "cannot multiply mode \(mode) of size \(shape[mode])")
        }
        let lead = shape[..<mode].reduce(1, *)
        let trail = shape[(mode + 1)...].reduce(1, *)
        var outShape = shape
        outShape[mode] = j
        var out = [Float](repeating: 0, count: lead * j * trail)
        if out.isEmpty { return Tensor(shape: outShape, scalars: out) }
        if i == 0 { return Tensor(shape: outShape, scalars: out) }
        let ldm = matrix.shape[1]
        scalars.withUnsafeBufferPointer { px in
            matrix.scalars.withUnsafeBufferPointer { pm in
                out.withUnsafeMutableBufferPointer { po in
                    if trail == 1 {
                        // (lead × I) · op(M)ᵀ: a single product.
                        BLAS.gemm(transposeB: !transposeMatrix, m: lead, n: j, k: i, a: px.baseAddress!, lda: i,
                                  b: pm.baseAddress!, ldb: ldm, c: po.baseAddress!, ldc: j)
                    } else {
                        for l in 0..<lead {
                            BLAS.gemm(transposeA: transposeMatrix, m: j, n: trail, k: i, a: pm.baseAddress!, lda: ldm,
                                      b: px.baseAddress! + l * i * trail, ldb: trail,
                                      c: po.baseAddress! + l * j * trail, ldc: trail)
                        }
                    }
                }
            }
        }
        return Tensor(shape: outShape, scalars: out)
    }
}

import ShrinkTensor

/// Exact least-squares updates of one factor of a factorised layer against the layer's
/// outputs on calibration data.
///
/// Every factorisation here computes a weight Ŵ (T×P, P = the input-vector length) that is
/// linear in each single factor. The data objective is f = tr((W − Ŵ) C (W − Ŵ)ᵀ) with C the
/// regularised second moment of the inputs, so fixing all factors but one leaves a linear
/// least-squares problem whose normal equations are assembled below from C alone. Each update
/// is the exact minimiser over its factor, so alternating them never increases f.
enum DataWeightedLS {
    /// The last stage's weight given the map G (Q×P) from an input vector to that stage's
    /// Q inputs: argmin over A of tr((W − AG) C (W − AG)ᵀ) = W C Gᵀ (G C Gᵀ)⁻¹ (T×Q).
    static func lastStage(w: Tensor, g: Tensor, c: Tensor, layer: String) throws(DecompositionError) -> Tensor {
        let gc = try Mat.mul(g, c, layer: layer)                // Q×P
        let gcg = try Mat.mul(gc, g, tb: true, layer: layer)    // Q×Q
        let rhs = try Mat.mul(gc, w, tb: true, layer: layer)    // Q×T  (= G C Wᵀ)
        let x = try numerics(layer) { () throws(LinearAlgebraError) in try gcg.solveSymmetricPSD(rhs) }
        return x.transposed()
    }

    /// The factor F (A×R) minimising f when Ŵ[t, (a, j)] = Σ_r H[t, (r, j)]·F[a, r].
    ///
    /// Input vectors are indexed (a, j): `a` runs over the factor's own mode and `j` over
    /// everything the factor passes through unchanged (other kernel modes). `c` must already
    /// be in that (a, j) order. The normal matrix is
    /// Hess[(a,r),(a′,r′)] = Σ_{j,j′} (HᵀH)[(r,j),(r′,j′)]·C[(a,j),(a′,j′)]. Tucker's input
    /// factor and spatial SVD's vertical stage have this form.
    static func passThroughFactor(h: Tensor, w: Tensor, c: Tensor, a: Int, r: Int, j: Int,
                                  layer: String) throws(DecompositionError) -> Tensor {
        let n = try Mat.mul(h, h, ta: true, layer: layer)                                   // RJ×RJ
        let cq = c.reshaped([a, j, a, j]).permuted([0, 2, 1, 3]).reshaped([a * a, j * j])
        let nq = n.reshaped([r, j, r, j]).permuted([0, 2, 1, 3]).reshaped([r * r, j * j])
        let hess = try Mat.mul(cq, nq, tb: true, layer: layer)                              // [a,a′,r,r′]
            .reshaped([a, a, r, r]).permuted([0, 2, 1, 3]).reshaped([a * r, a * r])
        let wc = try Mat.mul(w, c, layer: layer)                                            // T×AJ
        let z = try Mat.mul(h, wc, ta: true, layer: layer)                                  // [r,j,a,j′]
        var rhs = Tensor(zeros: [a * r])
        for ai in 0..<a {
            for ri in 0..<r {
                var acc: Float = 0
                for ji in 0..<j { acc += z.scalars[((ri * j + ji) * a + ai) * j + ji] }
                rhs.scalars[ai * r + ri] = acc
            }
        }
        let f = try numerics(layer) { () throws(LinearAlgebraError) in try hess.solveSymmetricPSD(rhs) }
        return f.reshaped([a, r])
    }

    /// The CP factor F (A×R) minimising f when Ŵ[t, (a, j)] = Σ_r Out[t, r]·F[a, r]·K[j, r],
    /// with K (J×R) the Khatri–Rao product of the other input factors in pass-through order.
    ///
    /// The same problem as `passThroughFactor` with H = Out ⊙ K, but the separable structure
    /// gives Hess[(a,r),(a′,r′)] = (OutᵀOut)[r,r′]·Σ_{j,j′} K[j,r]K[j′,r′]C[(a,j),(a′,j′)],
    /// computed with two products of cost A²J²R and A²R²J instead of A²J²R².
    static func cpFactor(out: Tensor, k: Tensor, w: Tensor, c: Tensor, a: Int, r: Int, j: Int,
                         layer: String) throws(DecompositionError) -> Tensor {
        // X1[a, j, a′, r′] = Σ_{j′} C[(a,j),(a′,j′)] K[j′, r′]
        let x1 = try Mat.mul(c.reshaped([a * j * a, j]), k, layer: layer)
        // X2[a, a′, r′, r] = Σ_j X1[a, j, a′, r′] K[j, r]
        let x1p = x1.reshaped([a, j, a, r]).permuted([0, 2, 3, 1]).reshaped([a * a * r, j])
        let x2 = try Mat.mul(x1p, k, layer: layer).reshaped([a, a, r, r])
        let oto = try Mat.mul(out, out, ta: true, layer: layer)                            // R×R
        var hess = x2.permuted([0, 3, 1, 2])                                                // [a, r, a′, r′]
        hess.scalars.withUnsafeMutableBufferPointer { hp in
            for ai in 0..<a {
                for ri in 0..<r {
                    for bi in 0..<a {
                        let base = ((ai * r + ri) * a + bi) * r
                        for rj in 0..<r { hp[base + rj] *= oto.scalars[ri * r + rj] }
                    }
                }
            }
        }
        hess = hess.reshaped([a * r, a * r])
        let y = try Mat.mul(out, try Mat.mul(w, c, layer: layer), ta: true, layer: layer)  // [r, a, j]
        var rhs = Tensor(zeros: [a * r])
        for ai in 0..<a {
            for ri in 0..<r {
                var acc: Float = 0
                for ji in 0..<j { acc += y.scalars[(ri * a + ai) * j + ji] * k.scalars[ji * r + ri] }
                rhs.scalars[ai * r + ri] = acc
            }
        }
        let f = try numerics(layer) { () throws(LinearAlgebraError) in try hess.solveSymmetricPSD(rhs) }
        return f.reshaped([a, r])
    }

    /// The P×P matrix `c` over input vectors indexed by `dims` (row-major), re-indexed so
    /// that the axes come in the order `axes` — the same permutation on both sides.
    static func permuteCovariance(_ c: Tensor, dims: [Int], axes: [Int]) -> Tensor {
        if axes == Array(0..<dims.count) { return c }
        let n = dims.count
        let both = axes + axes.map { $0 + n }
        let p = dims.reduce(1, *)
        return c.reshaped(dims + dims).permuted(both).reshaped([p, p])
    }

    /// The data objective tr((W − Ŵ) C (W − Ŵ)ᵀ) for W, Ŵ as T×P matrices.
    static func objective(w: Tensor, approximation: Tensor, c: Tensor, layer: String) throws(DecompositionError) -> Double {
        let d = Mat.difference(w, approximation)
        return Mat.dot(try Mat.mul(d, c, layer: layer), d)
    }
}

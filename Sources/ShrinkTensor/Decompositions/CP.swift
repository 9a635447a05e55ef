/// How CP-ALS obtains its starting factors.
public enum CPInitialization: Sendable, Equatable {
    /// tensorly's `init='svd'`: factor n is the first `rank` left singular vectors of the
    /// mode-n unfolding (sign-flipped like `svd_flip`), factor 0 scaled by the singular values.
    /// Where a mode has fewer than `rank` singular vectors, tensorly pads with columns from
    /// NumPy's global random state; Shrink pads with uniform [0, 1) values from
    /// `SeededGenerator(seed:)`, drawn mode by mode, row-major, so results are reproducible.
    case svd(seed: UInt64)
    /// Explicit starting factors (`I_n × rank` each) and optional weights. As in tensorly,
    /// weights that are not all one are pulled into the last factor.
    case factors([Tensor], weights: [Float]?)
}

/// Settings for `CPDecomposition.als`.
public struct CPOptions: Sendable, Equatable {
    /// The maximum number of ALS sweeps (one sweep updates every mode once).
    public var maxIterations: Int
    /// Stop when |e_{k−1} − e_k| < tolerance, with e the relative reconstruction error after
    /// sweep k (tensorly's default `cvg_criterion='abs_rec_error'`; checked from the second
    /// sweep on). 0 runs exactly `maxIterations` sweeps. The default 1e-6 (tensorly: 1e-8) sits
    /// just above what Float arithmetic can resolve in the error.
    public var tolerance: Double
    /// Where the starting factors come from.
    public var initialization: CPInitialization
    /// Rescale every factor column to unit norm at the end, moving the scale into `weights`
    /// (tensorly renormalises every sweep; the model is the same in exact arithmetic).
    public var normalizeFactors: Bool

    /// Options with tensorly-like defaults, except `tolerance` (see its note).
    public init(maxIterations: Int = 100, tolerance: Double = 1e-6,
                initialization: CPInitialization = .svd(seed: 0), normalizeFactors: Bool = false) {
        self.maxIterations = maxIterations
        self.tolerance = tolerance
        self.initialization = initialization
        self.normalizeFactors = normalizeFactors
    }
}

/// A CP/PARAFAC model `X ≈ Σ_r weights[r] · a_0r ∘ a_1r ∘ … ∘ a_(N−1)r`.
public struct CPDecomposition: Sendable, Equatable {
    /// The shape of the decomposed tensor.
    public var shape: [Int]
    /// Per-component weights (all ones unless `normalizeFactors`).
    public var weights: [Float]
    /// Factor n is `shape[n] × rank`; column r belongs to component r.
    public var factors: [Tensor]
    /// ‖X − X̂‖_F / ‖X‖_F of the returned model, computed from an explicit reconstruction with
    /// Double accumulation.
    public var relativeError: Double
    /// The relative error after each sweep, as the convergence test saw it.
    public var errorHistory: [Double]
    /// Sweeps performed.
    public var iterations: Int

    /// The number of components.
    public var rank: Int { weights.count }
    /// 1 − relative error (tensorly and the literature call this the fit).
    public var fit: Double { 1 - relativeError }

    /// The full tensor the model represents.
    public func reconstructed() -> Tensor {
        CPDecomposition.reconstruct(weights: weights, factors: factors, shape: shape)
    }

    /// Decomposes `tensor` (2 or more axes) into `rank` components by alternating least
    /// squares, following tensorly 0.10's `parafac` (numpy backend): modes updated in order
    /// 0…N−1 with the newest factors, each update `A_n = MTTKRP_n · (⊛_{k≠n} A_kᵀA_k)⁻¹`.
    ///
    /// MTTKRP runs on sgemm without forming the full Khatri–Rao product (see `CPALSPlan`);
    /// the R×R solves are done in Double by Cholesky with a pseudo-inverse fallback when the
    /// Gram product is not positive definite (ranks above a mode size).
    public static func als(_ tensor: Tensor, rank: Int,
                           options: CPOptions = CPOptions()) throws(LinearAlgebraError) -> CPDecomposition {
        guard tensor.rank >= 2 else {
            throw .shapeMismatch("CPDecomposition.als", "needs a tensor with at least 2 axes, got \(tensor.shape)")
        }
        guard rank >= 1 else { throw .invalidArgument("CPDecomposition.als", "rank must be positive, got \(rank)") }
        guard tensor.count > 0 else { throw .invalidArgument("CPDecomposition.als", "tensor \(tensor.shape) is empty") }
        guard tensor.scalars.allSatisfy(\.isFinite) else {
            throw .invalidArgument("CPDecomposition.als", "the tensor contains NaN or infinite values")
        }
        guard options.maxIterations >= 0, options.tolerance >= 0 else {
            throw .invalidArgument("CPDecomposition.als", "maxIterations and tolerance must be non-negative")
        }
        let shape = tensor.shape
        let nModes = shape.count

        var factors: [[Float]]
        switch options.initialization {
        case .svd(let seed):
            factors = try svdInitialization(tensor, rank: rank, seed: seed).map(\.scalars)
        case .factors(let given, let weights):
            guard given.count == nModes,
                  zip(given, shape).allSatisfy({ $0.shape == [$1, rank] }) else {
                throw .shapeMismatch("CPDecomposition.als", "initial factors \(given.map(\.shape)) do not fit "
                                     + "shape \(shape) at rank \(rank)")
            }
            factors = given.map(\.scalars)
            if let w = weights {
                guard w.count == rank else {
                    throw .shapeMismatch("CPDecomposition.als", "\(w.count) initial weights for rank \(rank)")
                }
                if w.contains(where: { $0 != 1 }) {
                    let last = nModes - 1
                    for i in 0..<shape[last] {
                        for r in 0..<rank { factors[last][i * rank + r] *= w[r] }
                    }
                }
            }
        }

        let normX2 = tensor.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }
        guard normX2 > 0 else {
            // The zero tensor: the zero model is exact, and ALS would divide by zero.
            return CPDecomposition(shape: shape, weights: [Float](repeating: 1, count: rank),
                                   factors: shape.map { Tensor(zeros: [$0, rank]) }, relativeError: 0,
                                   errorHistory: [], iterations: 0)
        }

        var plan = CPALSPlan(shape: shape, rank: rank)
        var grams = factors.enumerated().map { n, f in
            f.withUnsafeBufferPointer { DoubleKernels.gram($0, rows: shape[n], cols: rank) }
        }
        var history: [Double] = []
        var iterations = 0
        let r2 = rank * rank

        for iteration in 0..<options.maxIterations {
            var lastHadamard = [Double]()
            var lastInner = 0.0
            for n in 0..<nModes {
                // Hadamard product of the other modes' Gram matrices.
                var h = [Double](repeating: 1, count: r2)
                for k in 0..<nModes where k != n {
                    let gk = grams[k]
                    for i in 0..<r2 { h[i] *= gk[i] }
                }
                let m = plan.mttkrp(tensor.scalars, factors: factors, mode: n)
                var solution = m.map(Double.init)
                let rhs = n == nModes - 1 ? solution : []
                if n == nModes - 1 { lastHadamard = h }
                var g = h
                guard DoubleKernels.rightSolvePSD(&g, n: rank, &solution, rows: shape[n]) else {
                    throw LinearAlgebraError(routine: "dsyevd", info: 1, kind: .noConvergence,
                                             message: "CP-ALS: eigensolver failed on the mode-\(n) Gram product")
                }
                // Whole-array assignment: element-wise writes into the nested array would pay a
                // uniqueness check each.
                let updated = solution.map(Float.init)
                factors[n] = updated
                grams[n] = updated.withUnsafeBufferPointer { DoubleKernels.gram($0, rows: shape[n], cols: rank) }
                if n == nModes - 1 {
                    // ⟨X, X̂⟩ = Σ MTTKRP_last ⊙ A_last (tensorly's error_calc).
                    for i in rhs.indices { lastInner += rhs[i] * Double(updated[i]) }
                }
            }
            iterations = iteration + 1
            // ‖X − X̂‖² = ‖X‖² + ‖X̂‖² − 2⟨X, X̂⟩ with ‖X̂‖² = Σ (⊛_k A_kᵀA_k): no reconstruction needed.
            var modelNorm2 = 0.0
            let gLast = grams[nModes - 1]
            for i in 0..<r2 { modelNorm2 += lastHadamard[i] * gLast[i] }
            var err = (abs(normX2 + modelNorm2 - 2 * lastInner) / normX2).squareRoot()
            // That difference cancels catastrophically once the error is small (its Float
            // noise is ~1e-7/err); there, measure the residual explicitly so the stopping test
            // and exact-rank recovery see the true error.
            if err < 0.05 {
                err = explicitRelativeError(tensor, weights: nil, factors: factors, normX2: normX2)
            }
            history.append(err)
            if options.tolerance > 0, history.count >= 2,
               abs(history[history.count - 2] - history[history.count - 1]) < options.tolerance {
                break
            }
        }

        var weights = [Float](repeating: 1, count: rank)
        var factorTensors = factors.enumerated().map { Tensor(shape: [shape[$0], rank], scalars: $1) }
        if options.normalizeFactors {
            for n in 0..<nModes {
                for r in 0..<rank {
                    var s = 0.0
                    for i in 0..<shape[n] { let v = Double(factorTensors[n].scalars[i * rank + r]); s += v * v }
                    let norm = s.squareRoot()
                    guard norm > 0 else { continue }
                    weights[r] *= Float(norm)
                    for i in 0..<shape[n] { factorTensors[n].scalars[i * rank + r] /= Float(norm) }
                }
            }
        }
        let finalError = explicitRelativeError(tensor, weights: weights, factors: factorTensors.map(\.scalars),
                                               normX2: normX2)
        return CPDecomposition(shape: shape, weights: weights, factors: factorTensors, relativeError: finalError,
                               errorHistory: history, iterations: iterations)
    }

    /// tensorly's SVD initialisation (see `CPInitialization.svd`): deterministic for a seed.
    public static func svdInitialization(_ tensor: Tensor, rank: Int,
                                         seed: UInt64 = 0) throws(LinearAlgebraError) -> [Tensor] {
        var rng = SeededGenerator(seed: seed)
        var out: [Tensor] = []
        for mode in 0..<tensor.rank {
            let rows = tensor.shape[mode]
            let (u, s, k) = try LeadingSubspace.leftSingularVectors(tensor.unfolded(mode: mode), count: rank)
            var f = [Float](repeating: 0, count: rows * rank)
            for i in 0..<rows {
                for j in 0..<k {
                    // Put the SVD init on the tensor's scale (tensorly scales mode 0 by S).
                    f[i * rank + j] = u[i * k + j] * (mode == 0 ? s[j] : 1)
                }
            }
            if k < rank {
                for i in 0..<rows {
                    for j in k..<rank { f[i * rank + j] = rng.nextUnitFloat() }
                }
            }
            out.append(Tensor(shape: [rows, rank], scalars: f))
        }
        return out
    }

    /// X̂ = (A_0 · diag(w)) · khatriRao(A_1 … A_{N−1})ᵀ, folded to `shape`.
    static func reconstruct(weights: [Float], factors: [Tensor], shape: [Int]) -> Tensor {
        let rank = weights.count
        var a0 = factors[0]
        for i in 0..<shape[0] {
            for r in 0..<rank { a0.scalars[i * rank + r] *= weights[r] }
        }
        let rest = shape.dropFirst().reduce(1, *)
        var kr = [Float](repeating: 0, count: Swift.max(rest * rank, rank))
        kr.withUnsafeMutableBufferPointer { k in
            KhatriRao.fill(k.baseAddress!, matrices: factors.dropFirst().map(\.scalars),
                           rows: Array(shape.dropFirst()), r: rank)
        }
        var out = [Float](repeating: 0, count: shape.reduce(1, *))
        if out.isEmpty || rank == 0 { return Tensor(shape: shape, scalars: out) }
        a0.scalars.withUnsafeBufferPointer { pa in
            kr.withUnsafeBufferPointer { pk in
                out.withUnsafeMutableBufferPointer { po in
                    BLAS.gemm(transposeB: true, m: shape[0], n: rest, k: rank, a: pa.baseAddress!, lda: rank,
                              b: pk.baseAddress!, ldb: rank, c: po.baseAddress!, ldc: rest)
                }
            }
        }
        return Tensor(shape: shape, scalars: out)
    }

    /// ‖X − X̂‖ / ‖X‖ with the difference and its square summed in Double.
    static func explicitRelativeError(_ x: Tensor, weights: [Float]?, factors: [[Float]], normX2: Double) -> Double {
        let rank = factors[0].count / x.shape[0]
        let model = reconstruct(weights: weights ?? [Float](repeating: 1, count: rank),
                                factors: factors.enumerated().map { Tensor(shape: [x.shape[$0], rank], scalars: $1) },
                                shape: x.shape)
        var s = 0.0
        for i in x.scalars.indices {
            let d = Double(x.scalars[i]) - Double(model.scalars[i])
            s += d * d
        }
        return (s / normX2).squareRoot()
    }
}

extension Tensor {
    /// CP/PARAFAC by ALS; see `CPDecomposition.als`.
    public func cp(rank: Int, options: CPOptions = CPOptions()) throws(LinearAlgebraError) -> CPDecomposition {
        try CPDecomposition.als(self, rank: rank, options: options)
    }
}

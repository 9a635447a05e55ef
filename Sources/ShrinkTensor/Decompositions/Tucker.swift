/// A (partial) Tucker model `X ≈ core ×_{modes[0]} U_0 ×_{modes[1]} U_1 …`, with orthonormal
/// factors on the chosen modes and the other axes left intact (Tucker-2 on modes [0, 1] of a
/// T×S×D×D convolution kernel gives two 1×1 convolutions around a smaller D×D one).
public struct TuckerDecomposition: Sendable, Equatable {
    /// The core: the input's shape with `shape[modes[i]]` replaced by `ranks[i]`.
    public var core: Tensor
    /// `factors[i]` is `shape[modes[i]] × ranks[i]`, orthonormal columns.
    public var factors: [Tensor]
    /// The decomposed modes, in the order of `factors`.
    public var modes: [Int]
    /// ‖X − X̂‖_F / ‖X‖_F of the returned model, from an explicit reconstruction.
    public var relativeError: Double
    /// sqrt(|‖X‖² − ‖core‖²|)/‖X‖ after each HOOI sweep (tensorly's `rec_errors`).
    public var errorHistory: [Double]
    /// HOOI sweeps performed (0 = HOSVD only).
    public var iterations: Int

    /// The full tensor the model represents: `core ×_{modes[i]} factors[i]`.
    public func reconstructed() -> Tensor {
        var t = core
        for (f, m) in zip(factors, modes) {
            // Shapes agree by construction.
            if let next = try? t.modeProduct(f, mode: m) { t = next }
        }
        return t
    }

    /// Partial Tucker by HOSVD initialisation and HOOI, following tensorly 0.10's
    /// `partial_tucker(init='svd', svd='truncated_svd')`: each sweep updates the modes in the
    /// given order, factor = leading left singular vectors (sign-flipped like `svd_flip`) of
    /// the unfolding of X projected on the other factors; stop when the error changes by
    /// less than `tolerance` (from the third sweep on, as tensorly), `0` = run all sweeps.
    ///
    /// A rank above the number of available singular vectors is padded, like tensorly's
    /// `_complete_factor`, with random columns orthogonalised by QR, but drawn from
    /// `SeededGenerator(seed:)` so the result is deterministic. Ranks must not exceed the
    /// mode sizes.
    public static func hooi(_ tensor: Tensor, modes: [Int], ranks: [Int], maxIterations: Int = 100,
                            tolerance: Double = 1e-6, seed: UInt64 = 0) throws(LinearAlgebraError) -> TuckerDecomposition {
        let fn = "TuckerDecomposition.hooi"
        guard !modes.isEmpty, modes.count == ranks.count else {
            throw .invalidArgument(fn, "need one rank per mode, got modes \(modes) and ranks \(ranks)")
        }
        guard Set(modes).count == modes.count, modes.allSatisfy({ $0 >= 0 && $0 < tensor.rank }) else {
            throw .invalidArgument(fn, "modes \(modes) are not distinct axes of shape \(tensor.shape)")
        }
        for (m, r) in zip(modes, ranks) where r < 1 || r > tensor.shape[m] {
            throw .invalidArgument(fn, "rank \(r) for mode \(m) must be in 1...\(tensor.shape[m])")
        }
        guard maxIterations >= 0, tolerance >= 0 else {
            throw .invalidArgument(fn, "maxIterations and tolerance must be non-negative")
        }
        guard tensor.scalars.allSatisfy(\.isFinite) else {
            throw .invalidArgument(fn, "the tensor contains NaN or infinite values")
        }
        var rng = SeededGenerator(seed: seed)
        let normX2 = tensor.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }

        // HOSVD.
        var factors: [Tensor] = []
        for (m, r) in zip(modes, ranks) {
            factors.append(try leadingLeftSingularVectors(tensor.unfolded(mode: m), count: r, rng: &rng))
        }
        var history: [Double] = []
        var iterations = 0
        for iteration in 0..<maxIterations {
            for index in modes.indices {
                var projected = tensor
                for (other, m) in modes.enumerated() where other != index {
                    projected = try projected.modeProduct(factors[other], mode: m, transposeMatrix: true)
                }
                factors[index] = try leadingLeftSingularVectors(projected.unfolded(mode: modes[index]),
                                                                count: ranks[index], rng: &rng)
            }
            iterations = iteration + 1
            let core = try project(tensor, factors: factors, modes: modes)
            let core2 = core.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }
            history.append(normX2 > 0 ? (abs(normX2 - core2) / normX2).squareRoot() : 0)
            if iteration > 1, tolerance > 0,
               abs(history[history.count - 2] - history[history.count - 1]) < tolerance {
                break
            }
        }
        let core = try project(tensor, factors: factors, modes: modes)
        var result = TuckerDecomposition(core: core, factors: factors, modes: modes, relativeError: 0,
                                         errorHistory: history, iterations: iterations)
        let model = result.reconstructed()
        var s = 0.0
        for i in tensor.scalars.indices {
            let d = Double(tensor.scalars[i]) - Double(model.scalars[i])
            s += d * d
        }
        result.relativeError = normX2 > 0 ? (s / normX2).squareRoot() : 0
        return result
    }

    /// `X ×_{modes[i]} factors[i]ᵀ` for every i.
    static func project(_ x: Tensor, factors: [Tensor], modes: [Int]) throws(LinearAlgebraError) -> Tensor {
        var t = x
        for (f, m) in zip(factors, modes) { t = try t.modeProduct(f, mode: m, transposeMatrix: true) }
        return t
    }

    /// The first `count` left singular vectors of `matrix` (sign-flipped), completed with
    /// orthonormalised seeded random columns if the SVD yields fewer.
    static func leadingLeftSingularVectors(_ matrix: Tensor, count: Int,
                                           rng: inout SeededGenerator) throws(LinearAlgebraError) -> Tensor {
        let (lead, _, k) = try LeadingSubspace.leftSingularVectors(matrix, count: count)
        let rows = matrix.shape[0]
        var u = [Float](repeating: 0, count: rows * count)
        for i in 0..<rows {
            for j in 0..<k { u[i * count + j] = lead[i * k + j] }
        }
        if k < count {
            // Random columns, minus their projection on the existing ones, orthonormalised.
            let extraCount = count - k
            var extra = Tensor(zeros: [rows, extraCount])
            for i in extra.scalars.indices { extra.scalars[i] = rng.nextUnitFloat() }
            let existing = Tensor(shape: [rows, k], scalars: (0..<(rows * k)).map { u[($0 / k) * count + $0 % k] })
            if k > 0 {
                let coeff = try existing.matmul(extra, transposeSelf: true)
                try BLAS.gemm(existing, coeff, alpha: -1, beta: 1, into: &extra)
            }
            let q = try extra.qr().q
            for i in 0..<rows {
                for j in 0..<extraCount { u[i * count + k + j] = q.scalars[i * extraCount + j] }
            }
        }
        return Tensor(shape: [rows, count], scalars: u)
    }
}

extension Tensor {
    /// Partial Tucker (HOSVD + HOOI) on `modes`; see `TuckerDecomposition.hooi`.
    public func tucker(modes: [Int], ranks: [Int], maxIterations: Int = 100,
                       tolerance: Double = 1e-6, seed: UInt64 = 0) throws(LinearAlgebraError) -> TuckerDecomposition {
        try TuckerDecomposition.hooi(self, modes: modes, ranks: ranks, maxIterations: maxIterations,
                                     tolerance: tolerance, seed: seed)
    }
}

import Foundation
import Testing
@testable import ShrinkTensor

/// One tensorly `parafac` reference (Tests/Fixtures/linalg/cp_<shape>_r<rank>.npz).
struct CPCase: CustomTestStringConvertible, Sendable {
    var file: String
    var testDescription: String { file }
    static let all = ["cp_50x20x5x5_r4.npz", "cp_50x20x5x5_r16.npz", "cp_50x20x5x5_r32.npz",
                      "cp_50x20x25_r8.npz", "cp_50x20x25_r16.npz", "cp_50x20x25_r32.npz"].map(CPCase.init)
}

private let conv = Result { try LinalgFixtures.tensor("conv_50x20x5x5.npy") }

private func naiveMTTKRP(_ x: Tensor, factors: [Tensor], mode: Int) throws -> Tensor {
    let others = factors.enumerated().filter { $0.offset != mode }.map(\.element)
    return try x.unfolded(mode: mode).matmul(try Tensor.khatriRao(others))
}

@Suite struct CPTests {
    /// Same tensor, rank, initial factors (tensorly's saved SVD init) and sweep counts as the
    /// reference: the relative error (and so the fit) is within 1% of tensorly's.
    @Test(arguments: CPCase.all)
    func matchesTensorly(_ c: CPCase) throws {
        let ref = try LinalgFixtures.archive(c.file)
        let shape = try ref.doubles("shape").map { Int($0) }
        let x = try conv.get().reshaped(shape)
        let rank = Int(try ref.scalar("rank"))
        let initial = try (0..<shape.count).map { try ref.tensor("init_\($0)") }
        for (iterations, key) in [(1, "rel_error_iter1"), (5, "rel_error_iter5"), (25, "rel_error")] {
            let options = CPOptions(maxIterations: iterations, tolerance: 0,
                                    initialization: .factors(initial, weights: nil))
            let cp = try x.cp(rank: rank, options: options)
            let expected = try ref.scalar(key)
            #expect(cp.iterations == iterations)
            #expect(abs(cp.relativeError - expected) <= 0.01 * expected,
                    "\(c.file) after \(iterations): \(cp.relativeError) vs tensorly \(expected)")
            #expect(abs(cp.fit - (1 - expected)) <= 0.01 * (1 - expected))
            // The cheap in-loop error agrees with the explicit one.
            #expect(abs(cp.errorHistory.last! - cp.relativeError) < 1e-4)
        }
    }

    /// Our SVD initialisation reproduces tensorly's where no random padding is involved.
    @Test(arguments: CPCase.all.filter { !$0.file.hasSuffix("r32.npz") && $0.file != "cp_50x20x5x5_r16.npz" })
    func svdInitialisationMatchesTensorly(_ c: CPCase) throws {
        let ref = try LinalgFixtures.archive(c.file)
        let shape = try ref.doubles("shape").map { Int($0) }
        let x = try conv.get().reshaped(shape)
        let rank = Int(try ref.scalar("rank"))
        let mine = try CPDecomposition.svdInitialization(x, rank: rank)
        for n in 0..<shape.count {
            let theirs = try ref.tensor("init_\(n)")
            #expect(TestData.relDiff(mine[n], theirs) < 1e-3, "\(c.file) mode \(n)")
        }
    }

    /// Exact-rank tensors are recovered (float64 fixtures rounded to Float).
    @Test(arguments: [("cp_synthetic_4way_r5.npy", 5), ("cp_synthetic_3way_r6.npy", 6)])
    func recoversExactRank(file: String, rank: Int) throws {
        let x = try LinalgFixtures.tensor(file)
        let cp = try x.cp(rank: rank, options: CPOptions(maxIterations: 5000, tolerance: 1e-9))
        #expect(cp.relativeError < 1e-4, "\(file): relative error \(cp.relativeError) after \(cp.iterations)")
        #expect(TestData.relDiff(cp.reconstructed(), x) < 1e-4)
    }

    /// Rank 32 exceeds modes of size 20, 5, 5: the SVD init is padded from the seeded generator,
    /// so two runs agree bit for bit, and a different seed gives a different (still good) model.
    @Test func rankAboveModeSizeIsDeterministic() throws {
        let x = try conv.get()
        let options = CPOptions(maxIterations: 10, tolerance: 0)
        let a = try x.cp(rank: 32, options: options)
        let b = try x.cp(rank: 32, options: options)
        #expect(a == b)
        #expect(a.factors.map(\.shape) == [[50, 32], [20, 32], [5, 32], [5, 32]])
        #expect(a.relativeError < 0.3)
        var other = options
        other.initialization = .svd(seed: 7)
        let c = try x.cp(rank: 32, options: other)
        #expect(c.factors[2] != a.factors[2])
        #expect(c.relativeError < 0.3)
    }

    @Test func normalizedFactorsKeepTheModel() throws {
        let x = try conv.get().reshaped([50, 20, 25])
        let plain = try x.cp(rank: 8, options: CPOptions(maxIterations: 5, tolerance: 0))
        let normed = try x.cp(rank: 8, options: CPOptions(maxIterations: 5, tolerance: 0, normalizeFactors: true))
        #expect(plain.weights.allSatisfy { $0 == 1 })
        #expect(TestData.relDiff(normed.reconstructed(), plain.reconstructed()) < 1e-5)
        for f in normed.factors {
            for r in 0..<8 {
                let norm = (0..<f.shape[0]).reduce(Float(0)) { $0 + f[$1, r] * f[$1, r] }.squareRoot()
                #expect(abs(norm - 1) < 1e-5)
            }
        }
    }

    @Test func toleranceStopsEarly() throws {
        let x = try conv.get()
        let cp = try x.cp(rank: 4, options: CPOptions(maxIterations: 500, tolerance: 1e-5))
        #expect(cp.iterations < 500)
        let h = cp.errorHistory
        #expect(h.count == cp.iterations && abs(h[h.count - 2] - h[h.count - 1]) < 1e-5)
    }

    @Test func weightsArePulledIntoTheLastFactor() throws {
        let x = TestData.tensor([4, 3, 5], seed: 30)
        let f = [TestData.matrix(4, 2, seed: 31), TestData.matrix(3, 2, seed: 32), TestData.matrix(5, 2, seed: 33)]
        let w: [Float] = [2, 0.5]
        var scaled = f
        for i in 0..<5 { for r in 0..<2 { scaled[2].scalars[i * 2 + r] *= w[r] } }
        let a = try x.cp(rank: 2, options: CPOptions(maxIterations: 3, tolerance: 0, initialization: .factors(f, weights: w)))
        let b = try x.cp(rank: 2, options: CPOptions(maxIterations: 3, tolerance: 0, initialization: .factors(scaled, weights: nil)))
        #expect(a == b)
    }

    @Test func invalidArgumentsThrow() throws {
        let x = TestData.tensor([4, 3, 5], seed: 1)
        #expect(throws: LinearAlgebraError.self) { try x.cp(rank: 0) }
        #expect(throws: LinearAlgebraError.self) { try TestData.tensor([5], seed: 1).cp(rank: 2) }
        let wrong = CPOptions(initialization: .factors([TestData.matrix(4, 2, seed: 1)], weights: nil))
        #expect(throws: LinearAlgebraError.self) { try x.cp(rank: 2, options: wrong) }
        var bad = x
        bad.scalars[3] = .nan
        #expect(throws: LinearAlgebraError.self) { try bad.cp(rank: 2) }
        #expect(throws: LinearAlgebraError.self) { try bad.tucker(modes: [0], ranks: [2]) }
    }

    /// The two-group MTTKRP against `unfold · khatriRao` on tensors of 2 to 5 axes (various
    /// splits), with each factor replaced after its mode is done, as within an ALS sweep.
    @Test(arguments: [[6, 7], [5, 4, 3], [50, 20, 5, 5], [3, 4, 50, 2], [2, 3, 4, 5, 6], [7, 2, 2, 9, 3], [256, 3, 3]])
    func mttkrpMatchesExplicitKhatriRao(shape: [Int]) throws {
        let x = TestData.tensor(shape, seed: 40)
        let rank = 3
        var factors = shape.enumerated().map { TestData.matrix($1, rank, seed: 41 + UInt64($0)) }
        var plan = CPALSPlan(shape: shape, rank: rank)
        for sweep in 0..<2 {
            for mode in shape.indices {
                let m = plan.mttkrp(x.scalars, factors: factors.map(\.scalars), mode: mode)
                let expected = try naiveMTTKRP(x, factors: factors, mode: mode)
                #expect(TestData.relDiff(Tensor(shape: [shape[mode], rank], scalars: m), expected) < 1e-5,
                        "shape \(shape) mode \(mode) split \(plan.split)")
                factors[mode] = TestData.matrix(shape[mode], rank, seed: 100 * UInt64(sweep + 1) + UInt64(mode))
            }
        }
    }

    @Test func khatriRaoOrder() throws {
        let a = Tensor(rows: [[1, 2], [3, 4]]), b = Tensor(rows: [[5, 6], [7, 8], [9, 10]])
        let k = try Tensor.khatriRao([a, b])
        #expect(k.shape == [6, 2])
        #expect(k.scalars == [5, 12, 7, 16, 9, 20, 15, 24, 21, 32, 27, 40])
    }
}

@Suite struct TuckerTests {
    @Test(arguments: ["tucker2_r16x8.npz", "tucker2_r32x12.npz"])
    func tucker2MatchesTensorly(file: String) throws {
        let ref = try LinalgFixtures.archive(file)
        let ranks = try ref.doubles("ranks").map { Int($0) }
        let x = try conv.get()
        let t = try x.tucker(modes: [0, 1], ranks: ranks, maxIterations: 10, tolerance: 0)
        let expected = try ref.scalar("rel_error")
        #expect(t.iterations == 10)
        #expect(abs(t.relativeError - expected) <= 0.01 * expected, "\(t.relativeError) vs tensorly \(expected)")
        #expect(t.core.shape == [ranks[0], ranks[1], 5, 5])
        for (f, r) in zip(t.factors, ranks) {
            #expect(TestData.maxAbsDiff(try f.matmul(f, transposeSelf: true), .identity(r)) < 1e-5)
        }
        let tensorlyHistory = try ref.doubles("rec_errors_tensorly")
        for (mine, theirs) in zip(t.errorHistory, tensorlyHistory) { #expect(abs(mine - theirs) <= 0.01 * theirs) }
        #expect(TestData.relDiff(t.reconstructed(), x) - t.relativeError < 1e-6)
        // HOSVD alone (no sweeps) matches tensorly's HOSVD factors up to Float noise.
        let h = try x.tucker(modes: [0, 1], ranks: ranks, maxIterations: 0)
        let hosvd = try ref.scalar("rel_error_hosvd")
        #expect(abs(h.relativeError - hosvd) <= 0.01 * hosvd)
        #expect(TestData.relDiff(h.factors[0], try ref.tensor("hosvd_factor_0")) < 1e-3)
    }

    @Test func modeProductMatchesUnfoldedProduct() throws {
        let x = TestData.tensor([3, 4, 5, 2], seed: 50)
        for mode in 0..<4 {
            let m = TestData.matrix(6, x.shape[mode], seed: 51)
            let y = try x.modeProduct(m, mode: mode)
            var shape = x.shape
            shape[mode] = 6
            let expected = Tensor.folded(try m.matmul(x.unfolded(mode: mode)), mode: mode, shape: shape)
            #expect(TestData.maxAbsDiff(y, expected) < 1e-5)
            let yt = try x.modeProduct(m.transposed(), mode: mode, transposeMatrix: true)
            #expect(TestData.maxAbsDiff(yt, expected) < 1e-5)
        }
        #expect(throws: LinearAlgebraError.self) { try x.modeProduct(TestData.matrix(2, 2, seed: 1), mode: 0) }
    }

    @Test func paddedFactorIsOrthonormalAndDeterministic() throws {
        // Mode 0 of a 12×2×2 tensor has only 4 singular vectors; rank 6 needs 2 padded columns.
        let x = TestData.tensor([12, 2, 2], seed: 60)
        let a = try x.tucker(modes: [0], ranks: [6], maxIterations: 3)
        let b = try x.tucker(modes: [0], ranks: [6], maxIterations: 3)
        #expect(a == b)
        #expect(TestData.maxAbsDiff(try a.factors[0].matmul(a.factors[0], transposeSelf: true), .identity(6)) < 1e-5)
        #expect(a.relativeError < 1e-5)
        #expect(throws: LinearAlgebraError.self) { try x.tucker(modes: [1], ranks: [3]) }
    }
}

import Foundation
import ShrinkCompress
import ShrinkGraph
import ShrinkTensor
import Testing

/// Sequential (asymmetric) data-aware fitting against numpy's reduced-rank-regression solution
/// (Tests/Fixtures/decompose/asymmetric/make_asymmetric.py), and against the independent fit.
@Suite struct SequentialFitTests {
    struct Fixture {
        var w, x, h, full, rankR: Tensor
        var rank: Int
        var lambda: Float
        var objectiveRankR, objectiveIndependent, errorRankR, errorIndependent: Double

        init() throws {
            let a = try npz(Paths.decompose.appendingPathComponent("asymmetric/asymmetric.npz"))
            func t(_ k: String) throws -> Tensor { try #require(a[k]).tensor() }
            func d(_ k: String) throws -> Double { try #require(a[k]?.doubles().first) }
            w = try t("w"); x = try t("x"); h = try t("h"); full = try t("full"); rankR = try t("rank_r")
            rank = Int(try #require(a["rank"]?.integersIfIntegral()?.first))
            lambda = Float(try d("lam"))
            objectiveRankR = try d("objective_rank_r"); objectiveIndependent = try d("objective_independent")
            errorRankR = try d("error_rank_r"); errorIndependent = try d("error_independent")
        }

        var statistics: AsymmetricStatistics {
            get throws {
                var s = AsymmetricStatistics(dimension: w.shape[1])
                try s.add(originalRows: x, compressedRows: h)
                return s
            }
        }
    }

    static func maxRelative(_ a: Tensor, _ b: Tensor) -> Float {
        let scale = max(b.scalars.map(abs).max() ?? 0, 1e-6)
        return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()! / scale
    }

    @Test func correctedWeightIsTheUnconstrainedMinimiser() throws {
        let f = try Fixture()
        let corrected = try f.statistics.correctedWeight(f.w, regularization: f.lambda, layer: "fc")
        #expect(Self.maxRelative(corrected, f.full) < 2e-3, "\(Self.maxRelative(corrected, f.full))")
    }

    @Test func svdAtRankRMatchesReducedRankRegression() throws {
        let f = try Fixture()
        let layer = LayerDescriptor.dense(name: "fc", weight: f.w, bias: nil)
        let d = try Decomposer.decompose(layer, method: .svd, rank: Rank([f.rank]),
                                         options: FitOptions(regularization: f.lambda), sequential: try f.statistics)
        #expect(Self.maxRelative(d.approximation, f.rankR) < 5e-3, "\(Self.maxRelative(d.approximation, f.rankR))")
        let error = try #require(d.relativeOutputError)
        #expect(abs(error - f.errorRankR) <= 1e-3 * f.errorRankR + 1e-5, "\(error) vs numpy \(f.errorRankR)")
        // The weight error is against the original weight, not the corrected one.
        let weightError = Double(Self.frobenius(Self.minus(f.w, d.approximation)) / Self.frobenius(f.w))
        #expect(abs(d.relativeWeightError - weightError) < 1e-4)
    }

    /// The independent fit minimises the error on the original inputs; on the compressed
    /// upstream's inputs the sequential fit does at least as well (it minimises exactly that).
    @Test(arguments: [MethodName.svd])
    func sequentialErrorIsAtMostIndependentError(_ method: MethodName) throws {
        let f = try Fixture()
        let layer = LayerDescriptor.dense(name: "fc", weight: f.w, bias: nil)
        let stats = try f.statistics
        var independent = ActivationStatistics(dimension: f.w.shape[1])
        try independent.add(rows: f.x)
        let ind = try Decomposer.decompose(layer, method: method, rank: Rank([f.rank]),
                                           options: FitOptions(target: .activations(independent), regularization: f.lambda))
        let seq = try Decomposer.decompose(layer, method: method, rank: Rank([f.rank]),
                                           options: FitOptions(regularization: f.lambda), sequential: stats)
        let indError = try stats.relativeOutputError(weight: f.w, approximation: ind.approximation, layer: "fc")
        let seqError = try #require(seq.relativeOutputError)
        #expect(seqError <= indError + 1e-6, "sequential \(seqError) vs independent \(indError)")
        #expect(abs(indError - f.errorIndependent) <= 1e-3 * f.errorIndependent + 1e-5, "\(indError) vs numpy \(f.errorIndependent)")
        #expect(seqError < 0.9 * indError, "on this fixture the correction is large: \(seqError) vs \(indError)")
    }

    /// With the original inputs (nothing compressed upstream) the sequential fit is the
    /// independent one.
    @Test func withoutUpstreamChangesItIsTheIndependentFit() throws {
        let f = try Fixture()
        let layer = LayerDescriptor.dense(name: "fc", weight: f.w, bias: nil)
        var same = AsymmetricStatistics(dimension: f.w.shape[1])
        try same.add(originalRows: f.x, compressedRows: f.x)
        var independent = ActivationStatistics(dimension: f.w.shape[1])
        try independent.add(rows: f.x)
        let seq = try Decomposer.decompose(layer, method: .svd, rank: Rank([f.rank]), options: FitOptions(regularization: f.lambda), sequential: same)
        let ind = try Decomposer.decompose(layer, method: .svd, rank: Rank([f.rank]),
                                           options: FitOptions(target: .activations(independent), regularization: f.lambda))
        #expect(Self.maxRelative(seq.approximation, ind.approximation) < 1e-3)
    }

    /// A convolution's statistics come from patches of both inputs at the same positions.
    @Test func convolutionPatchesPair() throws {
        let g = ConvGeometry(kernel: [3, 3], pads: [1, 1, 1, 1])
        let weight = Tensor(shape: [4, 2, 3, 3], scalars: (0..<72).map { Float(($0 * 7) % 11) - 5 })
        let layer = LayerDescriptor.convolution(name: "c", weight: weight, bias: nil, geometry: g, inputSpatial: [5, 5])
        let x = Tensor(shape: [3, 2, 5, 5], scalars: (0..<150).map { sin(Float($0)) })
        var s = AsymmetricStatistics(dimension: 18)
        try s.add(originalInput: x, compressedInput: x, of: layer)
        var plain = ActivationStatistics(dimension: 18)
        try plain.add(layerInput: x, of: layer)
        // Equal inputs: cross = compressed = original = the independent statistics.
        #expect(s.cross.scalars == plain.gram.scalars && s.compressed.gram.scalars == plain.gram.scalars)
        #expect(throws: DecompositionError.self) {
            try s.add(originalInput: x, compressedInput: Tensor(shape: [3, 2, 5, 4], scalars: Array(x.scalars.prefix(120))), of: layer)
        }
    }

    static func minus(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor(shape: a.shape, scalars: zip(a.scalars, b.scalars).map { $0 - $1 }) }
    static func frobenius(_ a: Tensor) -> Float { a.scalars.map { $0 * $0 }.reduce(0, +).squareRoot() }
}

import Testing
@testable import ShrinkCompress

/// One layer whose options lose a known amount each; spreads as a pipeline's scores would give.
struct SpreadEvaluator: Evaluator {
    var space: SearchSpace
    /// Drop of option i (the layer alone).
    var drops: [Double]
    var samples: Int
    /// Per-sample standard deviation reported for every compressed candidate.
    var deviation: Double?

    func reference(on set: EvaluationSet) throws -> Double { 0.98 }

    func evaluate(_ configurations: [Configuration], on set: EvaluationSet) throws -> [Double] {
        configurations.map { c in 0.98 - (c.choices["fc1"].map { drops[$0] } ?? 0) }
    }

    func spread(of configuration: Configuration, on set: EvaluationSet) throws -> ScoreSpread? {
        ScoreSpread(samples: samples, deviation: configuration.choices.isEmpty ? 0 : deviation)
    }
}

func oneLayerSpace(options: Int) -> SearchSpace {
    let fc1 = SearchLayer(name: "fc1", original: LayerCost(params: 10_000, macs: 10_000),
                          options: (0..<options).map { RankOption(rank: [$0 + 1], cost: LayerCost(params: 100 * ($0 + 1), macs: 100 * ($0 + 1))) })
    return SearchSpace(layers: [fc1], fixedCost: LayerCost(params: 0, macs: 0))
}

@Suite struct SamplingMarginTests {
    /// (threshold, samples, expected margin): z·sqrt(p(1−p)/n), worked by hand with z = 1.645.
    @Test(arguments: [(0.97, 500, 0.0125495), (0.99, 200, 0.0115736), (0.5, 100, 0.08225), (1.0, 100, 0.0), (0.0, 100, 0.0),
                      (1.2, 50, 0.0)])
    func proportionMarginIsZTimesTheBinomialStandardError(threshold: Double, samples: Int, expected: Double) {
        let m = SamplingMargin(mode: .auto, spread: .proportion)
        #expect(abs(m.constant(samples: samples, threshold: threshold) - expected) < 1e-6)
        // Proportions have no per-candidate part.
        #expect(m.perCandidate(samples: samples, deviation: 0.3) == 0)
    }

    /// (samples, deviation, expected): z·s/√n for mean-type metrics.
    @Test(arguments: [(400, 0.2, 0.01645), (100, 0.05, 0.008225), (1, 1.0, 1.645)])
    func meanMarginIsZTimesTheStandardErrorOfTheSamples(samples: Int, deviation: Double, expected: Double) {
        let m = SamplingMargin(mode: .auto, spread: .mean)
        #expect(m.constant(samples: samples, threshold: 0.1) == 0)
        #expect(abs(m.perCandidate(samples: samples, deviation: deviation) - expected) < 1e-9)
        #expect(m.perCandidate(samples: 0, deviation: deviation) == 0)
        #expect(m.perCandidate(samples: samples, deviation: nil) == 0)
    }

    @Test(arguments: [0.0, 0.004, 0.02])
    func fixedMarginIsTheNumberWhateverTheSamples(value: Double) {
        for spread in [SamplingMargin.Spread.proportion, .mean] {
            let m = SamplingMargin(mode: .fixed(value), spread: spread)
            #expect(m.constant(samples: 10, threshold: 0.9) == value)
            #expect(m.constant(samples: 10_000, threshold: 0.9) == value)
            #expect(m.perCandidate(samples: 10, deviation: 1) == 0)
        }
    }

    @Test func tighteningLowersTheAllowedDropAndTheThreshold() {
        let a = Acceptance(bound: .absolute(0.02), direction: .higherIsBetter)
        let t = a.tightened(by: 0.005)
        #expect(abs(t.allowedDrop(baseline: 0.98) - 0.015) < 1e-12)
        #expect(abs(t.threshold(baseline: 0.98) - 0.965) < 1e-12)
        #expect(a.accepts(baseline: 0.98, value: 0.962))
        #expect(!t.accepts(baseline: 0.98, value: 0.962))
        let l = Acceptance(bound: .relative(0.5), direction: .lowerIsBetter).tightened(by: 0.01)
        #expect(abs(l.threshold(baseline: 0.1) - 0.14) < 1e-12)
    }

    /// Option 0 drops 1.5 points, option 1 drops 0.5, option 2 nothing; the bound is 2 points on
    /// 500 samples. Without a margin the search takes option 0; with `auto` (1.44 points at
    /// p = 0.96) option 0 no longer passes and option 1 does; the verify check applies the bare bound.
    @Test(arguments: [SamplingMargin.Spread.proportion, .mean])
    func autoMarginRejectsWhatNoMarginAccepts(spread: SamplingMargin.Spread) throws {
        let e = SpreadEvaluator(space: oneLayerSpace(options: 3), drops: [0.015, 0.005, 0.0], samples: 500, deviation: 0.17)
        let bound = Acceptance(bound: .absolute(0.02), direction: .higherIsBetter)
        for policy in [IncrementalPolicy(), BudgetPolicy()] as [any SearchPolicy] {
            let loose = try RankSearch(policy: policy).run(SearchSession(space: e.space, acceptance: bound, objective: .params, evaluator: e))
            #expect(loose.configuration.choices["fc1"] == 0)
            let session = SearchSession(space: e.space, acceptance: bound, objective: .params, evaluator: e,
                                        margin: SamplingMargin(mode: .auto, spread: spread))
            let strict = try RankSearch(policy: policy).run(session)
            #expect(strict.configuration.choices["fc1"] == 1, "\(policy.name), \(spread)")
            #expect(strict.passed)
            #expect(try session.margin(for: .original, on: .verify) == 0)
            let m = try session.margin(for: strict.configuration, on: .search)
            #expect(m > 0.005 && m < 0.015, "margin \(m)")
        }
    }

    @Test func anEvaluatorWithoutSpreadsGetsNoAutoMargin() throws {
        struct Plain: Evaluator {
            func reference(on set: EvaluationSet) throws -> Double { 0.98 }
            func evaluate(_ configurations: [Configuration], on set: EvaluationSet) throws -> [Double] { configurations.map { _ in 0.97 } }
        }
        let s = SearchSession(space: oneLayerSpace(options: 2), acceptance: Acceptance(bound: .absolute(0.02), direction: .higherIsBetter),
                              objective: .params, evaluator: Plain(), margin: SamplingMargin(mode: .auto, spread: .proportion))
        #expect(try s.constantMargin(on: .search) == 0)
        #expect(try s.passes(Configuration.original.setting("fc1", to: 0), on: .search))
    }
}

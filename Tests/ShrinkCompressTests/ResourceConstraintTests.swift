import Testing
@testable import ShrinkCompress

/// A device-like byte count over `syntheticSpace()`: every parameter is a byte, and fc1 at rank
/// ≤ 6 (options 0–5) needs a kernel no other layer uses, whose 3,000 bytes of code it pays for —
/// so those options are cheaper in parameters and larger in bytes.
struct SyntheticBytes: ResourceMeasure {
    var space: SearchSpace
    var resource: String { "flash" }
    static let newKernel = 3_000

    func value(of configuration: Configuration) -> Int {
        space.cost(of: configuration).params + ((configuration.choices["fc1"] ?? 99) <= 5 ? Self.newKernel : 0)
    }

    func share(of layer: String, option: Int?) -> Int {
        let l = space.layers.first { $0.name == layer }!
        return l.cost(option).params + (layer == "fc1" && (option ?? 99) <= 5 ? Self.newKernel : 0)
    }
}

@Suite struct ResourceConstraintTests {
    let acceptance = Acceptance(bound: .absolute(0.005), direction: .higherIsBetter)
    let truth = ["conv1": 2, "conv2": 5, "fc1": 3]

    func session(_ e: SyntheticEvaluator, limit: Int?, ranking: Bool = false) -> SearchSession {
        let bytes = SyntheticBytes(space: e.space)
        return SearchSession(space: e.space, acceptance: acceptance, objective: .params, evaluator: e,
                             constraints: limit.map { [ResourceConstraint(measure: bytes, limit: $0)] } ?? [],
                             ranking: ranking ? bytes : nil)
    }

    /// Unconstrained, every policy lands on fc1's true option 3 (1,670 params, 4,670 bytes). A
    /// 4,000-byte budget excludes it — fewer params, more bytes — so fc1 must go to option 6 or
    /// above (no new kernel), and the choice still meets the bound.
    @Test(arguments: [0, 1, 2, 3])
    func budgetExcludesAnOptionCheaperInParamsButLargerInBytes(policy: Int) throws {
        let e = SyntheticEvaluator(space: syntheticSpace(), trueOption: truth)
        let free = try RankSearch(policy: allPolicies[policy]).run(session(e, limit: nil))
        let bytes = SyntheticBytes(space: e.space)
        #expect(bytes.value(of: free.configuration) > 4_000, "unconstrained: \(free.configuration)")
        let s = session(e, limit: 4_000)
        let r = try RankSearch(policy: allPolicies[policy]).run(s)
        #expect(r.passed)
        #expect(bytes.value(of: r.configuration) <= 4_000)
        #expect(try #require(r.configuration.choices["fc1"]) >= 6)
        #expect(r.shortfall == nil)
        #expect(r.notes.contains { $0.hasPrefix("flash: ") && $0.hasSuffix("of the 4,000 B budget") })
    }

    /// Ranking by the exact bytes instead of parameters: the budget policy avoids the options
    /// that pull in a new kernel even without a budget.
    @Test func rankingByBytesAvoidsTheNewKernel() throws {
        let e = SyntheticEvaluator(space: syntheticSpace(), trueOption: truth)
        let byParams = try RankSearch(policy: BudgetPolicy()).run(session(e, limit: nil))
        #expect(byParams.configuration.choices["fc1"] == 3)
        let s = session(e, limit: nil, ranking: true)
        let byBytes = try RankSearch(policy: BudgetPolicy()).run(s)
        #expect(byBytes.passed)
        #expect(try #require(byBytes.configuration.choices["fc1"]) >= 6)
        #expect(s.objectiveCost(of: byBytes.configuration) < s.objectiveCost(of: byParams.configuration))
    }

    /// A budget below the smallest configuration of the space: the search says so before
    /// evaluating any candidate but the smallest, naming the smallest figure and the layers.
    @Test(arguments: [0, 3]) func infeasibleBudgetIsReportedWithTheSmallestReachable(policy: Int) throws {
        let e = SyntheticEvaluator(space: syntheticSpace(), trueOption: truth)
        let r = try RankSearch(policy: allPolicies[policy], holdOut: true).run(session(e, limit: 1_000))
        #expect(!r.passed)
        let short = try #require(r.shortfall)
        // Smallest: conv1 and conv2 at rank 1 (10 + 40), fc1 at option 6 (700, no new kernel), fixed 1,000.
        #expect(short.smallest == 1_750 && short.limit == 1_000)
        #expect(short.dominant.first?.layer == "fc1")
        #expect(short.message.contains("1,000 B") && short.message.contains("1,750 B") && short.message.contains("quantize: int8"))
        #expect(r.evaluations <= 2)   // the smallest configuration, on the full and the verify set
    }

    /// Accuracy needs fc1 at option 15 (1,600 params), the budget allows option 11 at most: no
    /// back-off step may cross the budget, so the search ends unpassed, within the budget, and
    /// says the budget bound it.
    @Test func backOffNeverCrossesTheBudget() throws {
        let e = SyntheticEvaluator(space: syntheticSpace(), trueOption: ["conv1": 2, "conv2": 5, "fc1": 15])
        let s = session(e, limit: 2_500)
        let r = try RankSearch(policy: BudgetPolicy()).run(s)
        #expect(!r.passed)
        #expect(r.shortfall == nil)
        #expect(s.fits(r.configuration))
        #expect(r.boundBy == "flash")
    }

    @Test func squeezeLowersTheLayerThatSavesMostUntilItFits() throws {
        let e = SyntheticEvaluator(space: syntheticSpace(), trueOption: truth)
        let s = session(e, limit: 2_000)
        let start = Configuration(["conv1": 7, "conv2": 15, "fc1": 19])   // 80 + 640 + 2,000 + 1,000 bytes
        let fitted = try #require(s.squeeze(start))
        #expect(s.fits(fitted))
        #expect(SyntheticBytes(space: e.space).value(of: fitted) <= 2_000)
        // Without measured curves every step costs the same drop: the biggest saver (fc1, 100 B
        // per option) goes first, and stops before its new kernel.
        #expect(try #require(fitted.choices["fc1"]) >= 6)
    }
}

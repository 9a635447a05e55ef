import Synchronization

/// Which data a candidate is scored on.
public enum EvaluationSet: String, Sendable, Codable {
    /// The search subset (or separate search data): cheap, used while searching.
    case search
    /// The whole search set: the search backs off on it once the subset passes.
    case full
    /// Held-out samples the search never saw: the final check, scored once.
    case verify
}

/// Scores candidate configurations. Implementations evaluate a batch in parallel and may cache
/// each evaluation (the build system makes each one a cached stage, so a search resumes).
public protocol Evaluator: Sendable {
    /// The metric of each configuration on `set`, in the order given. A configuration names
    /// only the searched layers; choices fixed by the pipeline are always applied.
    func evaluate(_ configurations: [Configuration], on set: EvaluationSet) throws -> [Double]
    /// The metric of the unmodified model on `set`: the baseline the bound is measured from.
    func reference(on set: EvaluationSet) throws -> Double
    /// The sample count and per-sample spread behind a configuration's score on `set` (already
    /// evaluated), for the sampling margin; nil when the evaluator does not know them.
    func spread(of configuration: Configuration, on set: EvaluationSet) throws -> ScoreSpread?
}

extension Evaluator {
    /// Unknown: no sampling margin can be derived.
    public func spread(of configuration: Configuration, on set: EvaluationSet) throws -> ScoreSpread? { nil }
}

/// One evaluation the search made, kept for the report's accuracy-vs-cost plot.
public struct VisitedPoint: Sendable, Hashable, Codable {
    /// The configuration scored.
    public var configuration: Configuration
    /// The data it was scored on.
    public var set: EvaluationSet
    /// The metric value.
    public var metric: Double
    /// Its whole-model cost.
    public var cost: LayerCost
}

/// The shared state of one search: the space, the bound, memoised evaluations and the log of
/// every point visited. Policies talk to the evaluator only through it.
public final class SearchSession: Sendable {
    /// What may be searched.
    public let space: SearchSpace
    /// The accuracy bound as the pipeline states it; the held-out verify check applies it as is.
    public let bound: Acceptance
    /// The margin for sampling error the search data must clear the bound by.
    public let margin: SamplingMargin
    /// What to minimise.
    public let objective: CostObjective
    /// The evaluator.
    public let evaluator: any Evaluator
    /// Optional progress callback (a line of text per step).
    public let log: @Sendable (String) -> Void
    /// Hard budgets (a device's flash and RAM): no configuration over one is accepted.
    public let constraints: [ResourceConstraint]
    /// When set, the search minimises this exact figure (bytes of flash or RAM) instead of
    /// `objective`, which then only orders the rank options.
    public let ranking: (any ResourceMeasure)?

    private struct State {
        var memo: [EvaluationSet: [Configuration: Double]] = [:]
        var visited: [VisitedPoint] = []
        var evaluations = 0
        var curves: [String: [Int: Double]] = [:]
        var reference: [EvaluationSet: Double] = [:]
        var margins: [EvaluationSet: Double] = [:]
    }
    private let state = Mutex(State())

    /// A session; `margin` makes every check on search data stricter than `acceptance` (see
    /// `SamplingMargin`).
    public init(space: SearchSpace, acceptance: Acceptance, objective: CostObjective,
                evaluator: any Evaluator, margin: SamplingMargin = .none, constraints: [ResourceConstraint] = [],
                ranking: (any ResourceMeasure)? = nil, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.space = space
        self.bound = acceptance
        self.margin = margin
        self.constraints = constraints
        self.ranking = ranking
        self.objective = objective
        self.evaluator = evaluator
        self.log = log
    }

    /// Scores configurations, evaluating only those not already scored on `set`.
    public func evaluate(_ configurations: [Configuration], on set: EvaluationSet) throws -> [Double] {
        let missing: [Configuration] = state.withLock { s in
            var seen = Set<Configuration>()
            return configurations.filter { s.memo[set]?[$0] == nil && seen.insert($0).inserted }
        }
        if !missing.isEmpty {
            let values = try evaluator.evaluate(missing, on: set)
            guard values.count == missing.count else {
                throw SearchError.evaluatorMismatch(expected: missing.count, got: values.count)
            }
            state.withLock { s in
                for (c, v) in zip(missing, values) {
                    s.memo[set, default: [:]][c] = v
                    s.visited.append(VisitedPoint(configuration: c, set: set, metric: v, cost: space.cost(of: c)))
                }
                s.evaluations += missing.count
            }
        }
        return state.withLock { s in configurations.map { s.memo[set]![$0]! } }
    }

    /// Scores one configuration.
    public func evaluate(_ configuration: Configuration, on set: EvaluationSet) throws -> Double {
        try evaluate([configuration], on: set)[0]
    }

    /// The unmodified model's metric on `set` (memoised).
    public func baseline(_ set: EvaluationSet) throws -> Double {
        if let v = state.withLock({ $0.reference[set] }) { return v }
        let v = try evaluator.reference(on: set)
        state.withLock { $0.reference[set] = v }
        return v
    }

    /// The bound the policies plan with: `bound` tightened by the constant part of the margin on
    /// the search subset (0 when that cannot be measured).
    public var acceptance: Acceptance { bound.tightened(by: (try? constantMargin(on: .search)) ?? 0) }

    /// The part of the margin every candidate on `set` must clear (none on `verify`).
    public func constantMargin(on set: EvaluationSet) throws -> Double {
        guard set != .verify else { return 0 }
        if let m = state.withLock({ $0.margins[set] }) { return m }
        let m: Double
        if case .fixed(let v) = margin.mode {
            m = v
        } else {
            let base = try baseline(set)
            let samples = try evaluator.spread(of: .original, on: set)?.samples ?? 0
            m = margin.constant(samples: samples, threshold: bound.threshold(baseline: base))
        }
        state.withLock { $0.margins[set] = m }
        return m
    }

    /// The whole margin `configuration` must clear on `set`: the constant part plus, for a
    /// mean-type metric, z standard errors of its own per-sample values.
    public func margin(for configuration: Configuration, on set: EvaluationSet) throws -> Double {
        guard set != .verify else { return 0 }
        var m = try constantMargin(on: set)
        if margin.mode == .auto, margin.spread == .mean, let s = try evaluator.spread(of: configuration, on: set) {
            m += margin.perCandidate(samples: s.samples, deviation: s.deviation)
        }
        return m
    }

    /// The largest drop a candidate may have on `set` before its own part of the margin.
    public func allowedDrop(on set: EvaluationSet) throws -> Double {
        bound.allowedDrop(baseline: try baseline(set)) - (try constantMargin(on: set))
    }

    /// Whether a configuration meets the bound on `set`, by the margin on search data.
    public func passes(_ configuration: Configuration, on set: EvaluationSet) throws -> Bool {
        let value = try evaluate(configuration, on: set)
        return bound.tightened(by: try margin(for: configuration, on: set)).accepts(baseline: try baseline(set), value: value)
    }

    /// The drop of each configuration on `set`, in metric units.
    public func drops(_ configurations: [Configuration], on set: EvaluationSet) throws -> [Double] {
        let base = try baseline(set)
        return try evaluate(configurations, on: set).map { acceptance.drop(baseline: base, value: $0) }
    }

    /// Records a measured single-layer sensitivity point for the report.
    public func recordSensitivity(layer: String, option: Int, drop: Double) {
        state.withLock { $0.curves[layer, default: [:]][option] = drop }
    }

    /// Everything evaluated so far, in order.
    public var visited: [VisitedPoint] { state.withLock { $0.visited } }
    /// How many distinct evaluations ran.
    public var evaluationCount: Int { state.withLock { $0.evaluations } }
    /// Single-layer sensitivity curves measured so far: layer → option → drop.
    public var sensitivity: [String: [Int: Double]] { state.withLock { $0.curves } }
}

/// A search that could not run.
public enum SearchError: Error, CustomStringConvertible, Equatable {
    /// The evaluator returned the wrong number of scores.
    case evaluatorMismatch(expected: Int, got: Int)
    /// The policy needs a setting the pipeline did not give.
    case missingSetting(String)

    /// A user-facing message.
    public var description: String {
        switch self {
        case .evaluatorMismatch(let e, let g): return "internal: evaluator returned \(g) scores for \(e) candidates"
        case .missingSetting(let s): return s
        }
    }
}

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
    /// The accuracy bound.
    public let acceptance: Acceptance
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
    }
    private let state = Mutex(State())

    /// A session.
    public init(space: SearchSpace, acceptance: Acceptance, objective: CostObjective,
                evaluator: any Evaluator, constraints: [ResourceConstraint] = [], ranking: (any ResourceMeasure)? = nil,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.space = space
        self.constraints = constraints
        self.ranking = ranking
        self.acceptance = acceptance
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

    /// Whether a configuration meets the bound on `set`.
    public func passes(_ configuration: Configuration, on set: EvaluationSet) throws -> Bool {
        acceptance.accepts(baseline: try baseline(set), value: try evaluate(configuration, on: set))
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

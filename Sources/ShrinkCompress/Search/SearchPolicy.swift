/// A way of choosing ranks. A policy proposes a configuration from cheap evaluations on the
/// search data; `RankSearch` then certifies it on the full set and backs off if it fails.
public protocol SearchPolicy: Sendable {
    /// The policy's name as written in pipelines.
    var name: String { get }
    /// Proposes a configuration expected to pass on the search data.
    func propose(_ session: SearchSession) throws -> Configuration
}

/// The names of the built-in policies.
public enum SearchPolicyName: String, Sendable, Codable, CaseIterable {
    case budget, greedy, binary, incremental
}

/// The outcome of a search.
public struct SearchResult: Sendable, Codable {
    /// The policy that produced it.
    public var policy: String
    /// The chosen configuration (certified on the deciding set when `passed`).
    public var configuration: Configuration
    /// The original model's metric on the deciding set (`verify` when held out, else `full`).
    public var baseline: Double
    /// The chosen configuration's metric on the deciding set.
    public var metric: Double
    /// Whether the chosen configuration meets the bound on the deciding set.
    public var passed: Bool
    /// The set that decided `passed`.
    public var decidedOn: EvaluationSet
    /// The original's and the chosen configuration's metric on the whole search set (`full`).
    public var searchBaseline: Double, searchMetric: Double
    /// Whole-model cost before and after.
    public var originalCost: LayerCost, cost: LayerCost
    /// Distinct evaluations run.
    public var evaluations: Int
    /// Every point evaluated, in order.
    public var visited: [VisitedPoint]
    /// Single-layer sensitivity curves: layer → option index → drop on the search data.
    public var sensitivity: [String: [Int: Double]]
    /// What the search did, step by step, for the report.
    public var notes: [String]
    /// What bound the choice: `accuracy` (the bound stopped further compression) or a budget's
    /// resource (`flash`: the budget forced compression beyond what the policy proposed, or
    /// stopped a back-off step).
    public var boundBy: String = "accuracy"
    /// Set when no configuration of the space fits a budget (the search then evaluated only the
    /// smallest configuration, for the report, and `passed` is false).
    public var shortfall: BudgetShortfall?
}

/// Runs a policy, checks its proposal on the whole search set and backs off until it passes,
/// then (with `holdOut`) certifies it once on held-out samples.
public struct RankSearch: Sendable {
    /// The policy.
    public var policy: any SearchPolicy
    /// Whether `passed` is decided by one evaluation on the `verify` set, which no step of the
    /// search looks at (so the bound holds on samples the choice was not tuned to). Without it,
    /// the `full` set decides.
    public var holdOut: Bool

    /// A search with `policy`.
    public init(policy: any SearchPolicy, holdOut: Bool = false) {
        self.policy = policy
        self.holdOut = holdOut
    }

    /// Proposes, then verifies on the search data and on the full set, backing off (one option
    /// at a time, where it buys most accuracy per cost) until both pass. Every step raises a rank
    /// or keeps a layer, so this ends;
    /// it can end unpassed only when choices fixed by the pipeline already break the bound.
    public func run(_ session: SearchSession) throws -> SearchResult {
        var notes: [String] = []
        var boundBy = "accuracy"
        let decidedOn: EvaluationSet = holdOut ? .verify : .full
        // A budget nothing in the space meets is known before any evaluation: the smallest
        // configuration is scored once, for the report, and the run fails saying why.
        if let (short, smallest) = session.shortfall() {
            notes.append(short.message)
            session.log("\(short.resource): \(short.message)")
            return try result(smallest, session: session, notes: notes, boundBy: short.resource, decidedOn: decidedOn,
                              forceFail: true, shortfall: short)
        }
        var config = try policy.propose(session)
        notes.append("\(policy.name) proposed: \(session.space.describe(config)) (\(fmt(session.space.reduction(of: config, session.objective)))× \(session.objective.rawValue))")
        if !session.fits(config) {
            let over = session.violations(of: config)
            let resources = session.constraints.filter { !$0.admits(config) }.map(\.measure.resource)
            guard let fitted = session.squeeze(config) ?? session.constraints.first.map({ session.smallest($0.measure) }) else {
                throw SearchError.missingSetting("internal: no configuration fits although the smallest does")
            }
            config = fitted
            boundBy = resources.joined(separator: ", ")
            notes.append("over budget (\(over.joined(separator: "; "))); compressed further until it fits: \(session.space.describe(config))")
            session.log("over budget (\(over.joined(separator: "; "))): squeezed to \(session.space.describe(config))")
        }
        var searchFailed = false
        search: for set in [EvaluationSet.search, .full] {
            var steps = 0
            while try !session.passes(config, on: set) {
                if config.choices.isEmpty { break }
                let drop = try session.drops([config], on: set)[0]
                // With a sampling margin a drop within the bound can fail: say by how much it had to clear it.
                let margin = try session.margin(for: config, on: set)
                let measured = margin > 0 ? "drop \(fmt(drop)), margin \(fmt(margin))" : "drop \(fmt(drop))"
                guard let next = try Self.backOff(config, on: set, session: session) else {
                    let blocking = Self.blockingConstraints(config, session: session)
                    boundBy = blocking.map(\.measure.resource).joined(separator: ", ")
                    notes.append("\(set.rawValue) check failed (\(measured)) and no back-off step stays within the budget (\(blocking.map(\.description).joined(separator: ", "))): the budget and the accuracy bound cannot both be met in this space")
                    searchFailed = true
                    break search
                }
                config = next
                steps += 1
                notes.append("\(set.rawValue) check failed (\(measured)); backed off to: \(session.space.describe(config))")
                session.log("back-off \(steps) on \(set.rawValue) data: \(session.space.describe(config))")
            }
        }
        return try result(config, session: session, notes: notes, boundBy: boundBy, decidedOn: decidedOn,
                          searchFailed: searchFailed)
    }

    /// The budgets that rule out every back-off step from `config` (each changed layer one
    /// option up, or kept from its top option).
    static func blockingConstraints(_ config: Configuration, session: SearchSession) -> [ResourceConstraint] {
        let moves = config.choices.keys.sorted().map { name -> Configuration in
            let layer = session.space.layers.first { $0.name == name }!
            let next = config.choices[name]! + 1
            return config.setting(name, to: next < layer.options.count ? next : nil)
        }
        return session.constraints.filter { c in moves.contains { !c.admits($0) } }
    }

    /// Scores the chosen configuration on the whole search set and, with `holdOut`, once on the
    /// held-out samples, and assembles the result.
    private func result(_ config: Configuration, session: SearchSession, notes: [String], boundBy: String,
                        decidedOn: EvaluationSet, forceFail: Bool = false, searchFailed: Bool = false,
                        shortfall: BudgetShortfall? = nil) throws -> SearchResult {
        var notes = notes
        let searchBaseline = try session.baseline(.full)
        let searchMetric = try session.evaluate(config, on: .full)
        // The held-out set is scored once, after every decision: backing off on it would tune
        // the choice to it, and the bound would no longer be certified on unseen samples.
        let baseline = try session.baseline(decidedOn)
        let metric = try session.evaluate(config, on: decidedOn)
        // The bound as the pipeline states it: the sampling margin only steers the search.
        let passed = !forceFail && session.fits(config) && session.bound.accepts(baseline: baseline, value: metric)
        if holdOut && !forceFail {
            let verdict = passed ? "passed" : searchFailed ? "FAILED" : "FAILED: the choice holds on the search data but not on unseen samples"
            notes.append("verify check (held-out samples, scored once): drop \(fmt(session.bound.drop(baseline: baseline, value: metric))) — \(verdict)")
        }
        for c in session.constraints {
            notes.append("\(c.measure.resource): \(groupedDigits(c.measure.value(of: config))) B of the \(groupedDigits(c.limit)) B budget")
        }
        var r = SearchResult(
            policy: policy.name, configuration: config, baseline: baseline, metric: metric,
            passed: passed, decidedOn: decidedOn, searchBaseline: searchBaseline, searchMetric: searchMetric,
            originalCost: session.space.originalCost, cost: session.space.cost(of: config),
            evaluations: session.evaluationCount, visited: session.visited,
            sensitivity: session.sensitivity, notes: notes)
        r.boundBy = boundBy
        r.shortfall = shortfall
        return r
    }

    /// One back-off step on the set that failed: every changed layer is tried one option higher
    /// (or kept, from its top option) in one batch on the combined model. The cheapest move that
    /// passes wins; else the move that removes most drop per unit of added cost. When no move
    /// removes any drop (quantised metrics often can't tell), the layer whose change alone costs
    /// most accuracy moves, ties going to the cheaper move.
    static func backOff(_ config: Configuration, on set: EvaluationSet, session: SearchSession) throws -> Configuration? {
        // Only moves that stay within every budget: a back-off never buys accuracy with bytes the
        // device does not have. Nil when no move does.
        let candidates = config.choices.keys.sorted().compactMap { name -> (String, Configuration)? in
            let layer = session.space.layers.first { $0.name == name }!
            let next = config.choices[name]! + 1
            let move = config.setting(name, to: next < layer.options.count ? next : nil)
            return session.fits(move) ? (name, move) : nil
        }
        guard !candidates.isEmpty else { return nil }
        let changed = candidates.map(\.0), moves = candidates.map(\.1)
        let drop = try session.drops([config], on: set)[0]
        let drops = try session.drops(moves, on: set)
        let allowed = try session.allowedDrop(on: set)
        let here = session.objectiveCost(of: config)
        let added = moves.map { max(session.objectiveCost(of: $0) - here, 1) }
        let order = Array(moves.indices)
        let margins = try moves.map { try session.margin(for: $0, on: set) - session.constantMargin(on: set) }
        if let i = order.filter({ drops[$0] + margins[$0] <= allowed + 1e-12 }).min(by: { added[$0] < added[$1] }) { return moves[i] }
        if let i = order.filter({ drops[$0] < drop }).max(by: { a, b in
            let ga = (drop - drops[a]) / Double(added[a]), gb = (drop - drops[b]) / Double(added[b])
            return ga != gb ? ga < gb : added[a] > added[b]
        }) {
            return moves[i]
        }
        let singles = changed.map { Configuration.original.setting($0, to: config.choices[$0]) }
        let alone = try session.drops(singles, on: .search)
        let i = order.max { a, b in alone[a] != alone[b] ? alone[a] < alone[b] : added[a] > added[b] }!
        return moves[i]
    }
}

/// A number in the report's style.
func fmt(_ x: Double) -> String {
    let v = (x * 10000).rounded() / 10000
    return String(v)
}

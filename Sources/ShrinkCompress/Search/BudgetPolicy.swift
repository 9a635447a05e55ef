/// The default policy: maximise the whole-model reduction subject to the measured drop.
///
/// 1. Single-layer sensitivity curves on the search data (one batch, evaluated in parallel),
///    made non-increasing in rank so that noise never makes a lower rank look safer.
/// 2. A multiple-choice knapsack allocates ranks to minimise cost with the sum of per-layer
///    drops under α × the bound, for several α at once (combined drops are often 1.5–2× their
///    sum, so α < 1 is usually what passes). The per-layer allocation (every layer at its
///    cheapest option within the bound alone) joins the same batch.
/// 3. The cheapest passing allocation is refined by bisection on α. Single-layer drops that are
///    all zero say little about how layers add up, so the cheapest allocation that failed is
///    also repaired on the combined model: every changed layer is tried one measured point
///    higher in one batch, and the move that passes most cheaply — or else buys the most accuracy
///    per unit of cost — is taken until the model passes; it wins if it ends cheaper.
/// 4. Coordinate descent: every layer one, two or four options lower while the combined model
///    still passes; when no layer can go lower alone, trades that raise one layer and lower
///    another. `RankSearch` then certifies the result on the full set and backs off if needed.
public struct BudgetPolicy: SearchPolicy {
    /// `budget`.
    public var name: String { SearchPolicyName.budget.rawValue }
    /// Budget fractions tried in the first combined batch.
    public var alphas: [Double]
    /// Bisection steps between the best passing and the next failing α.
    public var refinements: Int
    /// At most this many options per layer are measured (spread evenly over the list).
    public var maxCurvePoints: Int
    /// Rounds of coordinate descent after the allocation.
    public var descentRounds: Int
    /// Whether the descent also tries trades (one layer up, another down) when no layer can go
    /// lower alone.
    public var trades: Bool
    /// At most this many trades per descent round (those that save most).
    public var maxTrades: Int

    /// A policy.
    public init(alphas: [Double] = [1.5, 1.0, 0.75, 0.5, 0.35, 0.25, 0.15, 0.08],
                refinements: Int = 3, maxCurvePoints: Int = 32, descentRounds: Int = 8, trades: Bool = true,
                maxTrades: Int = 48) {
        self.alphas = alphas
        self.descentRounds = descentRounds
        self.trades = trades
        self.maxTrades = maxTrades
        self.refinements = refinements
        self.maxCurvePoints = maxCurvePoints
    }

    /// Which option indices to measure for a layer with `count` options.
    func curvePoints(_ count: Int) -> [Int] {
        guard count > maxCurvePoints else { return Array(0..<count) }
        let step = Double(count - 1) / Double(maxCurvePoints - 1)
        return Array(Set((0..<maxCurvePoints).map { Int((Double($0) * step).rounded()) })).sorted()
    }

    /// Measures the curves, allocates for several budgets, keeps the cheapest that passes.
    public func propose(_ session: SearchSession) throws -> Configuration {
        let space = session.space
        if space.layers.isEmpty { return .original }
        // Choices fixed by the pipeline already spend part of the bound.
        let fixedDrop = max(0, try session.drops([.original], on: .search)[0])
        let allowed = session.acceptance.allowedDrop(baseline: try session.baseline(.search)) - fixedDrop
        var pairs: [(String, Int)] = []
        for layer in space.layers { for i in curvePoints(layer.options.count) { pairs.append((layer.name, i)) } }
        session.log("budget: measuring \(pairs.count) single-layer sensitivities")
        let drops = try session.drops(pairs.map { Configuration.original.setting($0.0, to: $0.1) }, on: .search)
        var curves: [String: [(Int, Double)]] = [:]
        for (p, d) in zip(pairs, drops) {
            session.recordSensitivity(layer: p.0, option: p.1, drop: d)
            curves[p.0, default: []].append((p.1, d))
        }
        // Conservative monotone envelope: an option's drop is at least that of any higher option.
        for (name, points) in curves {
            var envelope = points.sorted { $0.0 < $1.0 }
            var floor = 0.0
            for k in stride(from: envelope.count - 1, through: 0, by: -1) {
                floor = max(floor, envelope[k].1)
                envelope[k].1 = floor
            }
            curves[name] = envelope
        }
        func allocate(_ alpha: Double) -> Configuration {
            Knapsack.allocate(space: space, curves: curves, budget: alpha * allowed) { session.objectiveShare(of: $0, option: $1) }
        }
        // The first batch: one allocation per α, and the per-layer one (each layer at its cheapest
        // measured option that stays within the bound alone, as the per-layer policies start).
        var tried: [(alpha: Double, config: Configuration)] = alphas.map { ($0, allocate($0)) }
        var perLayer = Configuration.original
        for layer in space.layers {
            if let o = (curves[layer.name] ?? []).filter({ $0.1 <= allowed + 1e-12 }).min(by: {
                session.objectiveShare(of: layer, option: $0.0) < session.objectiveShare(of: layer, option: $1.0)
            }) { perLayer = perLayer.setting(layer.name, to: o.0) }
        }
        let starts = tried.map(\.config) + [perLayer]
        let ok = try passFlags(starts, session)
        var passing = zip(tried, ok).filter { $0.1 }.map { $0.0 }
        var failing = zip(tried, ok).filter { !$0.1 }.map { $0.0 }
        var best: (alpha: Double, config: Configuration)? = passing.min { cost($0.config, session) < cost($1.config, session) }
        // Bisection between the best passing α and the smallest failing α above it.
        if var b = best {
            for _ in 0..<refinements {
                guard let above = failing.filter({ $0.alpha > b.alpha }).min(by: { $0.alpha < $1.alpha }) else { break }
                let mid = (b.alpha + above.alpha) / 2
                let c = allocate(mid)
                tried.append((mid, c))
                if try passFlags([c], session)[0] {
                    passing.append((mid, c))
                    if cost(c, session) <= cost(b.config, session) { b = (mid, c) }
                } else {
                    failing.append((mid, c))
                }
            }
            best = b
        }
        if ok.last!, best == nil || cost(perLayer, session) < cost(best!.config, session) { best = (0, perLayer) }
        // Single-layer drops rarely tell how layers add up: the cheapest start that failed is
        // repaired on the combined model, and kept if it ends cheaper than the best that passed.
        let failed = zip(starts, ok).filter { !$0.1 }.map { $0.0 }
        if let start = failed.min(by: { cost($0, session) < cost($1, session) }),
           best == nil || cost(start, session) < cost(best!.config, session) {
            session.log("budget: repairing the cheapest failing allocation on the combined model")
            if let repaired = try repair(start, curves: curves, ceiling: best.map { cost($0.config, session) }, session),
               best == nil || cost(repaired, session) < cost(best!.config, session) {
                best = (-1, repaired)
            }
        }
        guard let chosen = best else {
            session.log("budget: nothing passed; the back-off starts from the per-layer allocation")
            return perLayer
        }
        let result = try descend(chosen.config, session)
        session.log("budget: \(chosen.alpha < 0 ? "repaired" : chosen.alpha == 0 ? "per-layer start" : "α = \(fmt(chosen.alpha))") → \(fmt(space.reduction(of: result, session.objective)))× \(session.objective.rawValue)")
        return result
    }

    /// Raises layers of a failing configuration until it passes on the search data. Each step
    /// tries every changed layer at its next measured option up (or kept, from its top one) in
    /// one batch, on the combined model: the cheapest passing move wins; if none passes, the move
    /// that removes most drop per unit of added cost (ties: the cheapest). Every step raises a
    /// layer, so this ends (at the original model at worst); nil when it would end no cheaper
    /// than `ceiling`, or at the original model.
    func repair(_ start: Configuration, curves: [String: [(Int, Double)]], ceiling: Int? = nil,
                _ session: SearchSession) throws -> Configuration? {
        var config = start
        var drop = try session.drops([config], on: .search)[0]
        let allowed = session.acceptance.allowedDrop(baseline: try session.baseline(.search))
        while drop > allowed + 1e-12 {
            if config.choices.isEmpty { return nil }
            if let ceiling, cost(config, session) >= ceiling { return nil }
            let moves: [Configuration] = config.choices.keys.sorted().map { name in
                let index = config.choices[name]!
                let next = (curves[name] ?? []).map(\.0).filter { $0 > index }.min()
                return config.setting(name, to: next)
            }
            let drops = try session.drops(moves, on: .search)
            let here = cost(config, session)
            let candidates = zip(moves, drops).map { (config: $0.0, drop: $0.1, added: max(cost($0.0, session) - here, 1)) }
            if let pass = candidates.filter({ $0.drop <= allowed + 1e-12 && session.fits($0.config) }).min(by: { $0.added < $1.added }) {
                session.log("budget: repair step passes: \(session.space.describe(pass.config))")
                return pass.config
            }
            let improving = candidates.filter { $0.drop < drop }
            let step = improving.max { a, b in
                let ga = (drop - a.drop) / Double(a.added), gb = (drop - b.drop) / Double(b.added)
                return ga != gb ? ga < gb : a.added > b.added
            } ?? candidates.min { $0.added < $1.added }!
            config = step.config
            drop = step.drop
            session.log("budget: repair step (drop \(fmt(drop))): \(session.space.describe(config))")
        }
        return config
    }

    /// Coordinate descent from a passing allocation: each round tries every layer one, two and
    /// four options lower (a kept layer from its top option) in one batch and takes the passing
    /// move that saves most. When no single move passes, it tries trades — one layer 1, 2, 4 or 8 options
    /// up, another one option down — that still save. This recovers options the sampled curves
    /// skipped and moves the bound's slack to where it saves most.
    func descend(_ start: Configuration, _ session: SearchSession) throws -> Configuration {
        var config = start
        func lower(_ c: Configuration, _ layer: SearchLayer, by steps: Int = 1) -> Configuration? {
            switch c.choices[layer.name] {
            case .some(let i) where i - steps >= 0: return c.setting(layer.name, to: i - steps)
            case .none where layer.options.count >= steps: return c.setting(layer.name, to: layer.options.count - steps)
            default: return nil
            }
        }
        func raise(_ c: Configuration, _ layer: SearchLayer, by steps: Int) -> Configuration? {
            guard let i = c.choices[layer.name] else { return nil }
            return c.setting(layer.name, to: i + steps < layer.options.count ? i + steps : nil)
        }
        for _ in 0..<descentRounds {
            let here = cost(config, session)
            // One, two or four options lower: a single noisy option does not stop the descent.
            let moves = session.space.layers.flatMap { l in [1, 2, 4].compactMap { lower(config, l, by: $0) } }
            if let move = try cheapestPassing(moves, session), cost(move, session) < here {
                config = move
                continue
            }
            guard trades else { break }
            var swaps: [Configuration] = []
            for up in session.space.layers {
                for steps in [1, 2, 4, 8] {
                    guard let raised = raise(config, up, by: steps) else { continue }
                    for down in session.space.layers where down.name != up.name {
                        if let c = lower(raised, down), cost(c, session) < here, !swaps.contains(c) { swaps.append(c) }
                    }
                }
            }
            // On models with many layers the pairs multiply: try those that save most first.
            swaps = Array(swaps.sorted { cost($0, session) < cost($1, session) }.prefix(maxTrades))
            guard let swap = try cheapestPassing(swaps, session) else { break }
            config = swap
        }
        return config
    }

    private func cheapestPassing(_ configs: [Configuration], _ session: SearchSession) throws -> Configuration? {
        let ok = try passFlags(configs, session)
        return zip(configs, ok).filter { $0.1 }.map { $0.0 }.min { cost($0, session) < cost($1, session) }
    }

    private func cost(_ c: Configuration, _ s: SearchSession) -> Int { s.objectiveCost(of: c) }

    /// Whether each configuration meets the bound on the search data and fits every budget.
    /// Configurations over a budget are not evaluated at all.
    private func passFlags(_ configs: [Configuration], _ s: SearchSession) throws -> [Bool] {
        let base = try s.baseline(.search)
        let fitting = configs.filter { s.fits($0) }
        let values = Dictionary(zip(fitting, try s.evaluate(fitting, on: .search)), uniquingKeysWith: { a, _ in a })
        return configs.map { c in values[c].map { s.acceptance.accepts(baseline: base, value: $0) } ?? false }
    }
}

/// Multiple-choice knapsack: one option (or keep) per layer, minimising cost subject to the
/// sum of drops staying within a budget. Drops are discretised to 1/400 of the budget, which
/// makes the dynamic programme exact up to that resolution and tiny (layers × 400 × options).
enum Knapsack {
    static func allocate(space: SearchSpace, curves: [String: [(Int, Double)]], budget: Double,
                         objective: CostObjective) -> Configuration {
        allocate(space: space, curves: curves, budget: budget) { $0.cost($1)[objective] }
    }

    /// The same with each layer's cost at an option (nil: kept) given by `cost`.
    static func allocate(space: SearchSpace, curves: [String: [(Int, Double)]], budget: Double,
                         cost: (SearchLayer, Int?) -> Int) -> Configuration {
        let units = 400
        let resolution = max(budget, 1e-12) / Double(units)
        // best[u] = (min cost, choices) using at most u drop units over layers so far.
        var best = [(cost: Int, choices: [String: Int])](repeating: (0, [:]), count: units + 1)
        for layer in space.layers {
            let keep = cost(layer, nil)
            var next = best.map { (cost: $0.cost + keep, choices: $0.choices) }
            for (option, drop) in curves[layer.name] ?? [] {
                let need = drop <= 0 ? 0 : Int((drop / resolution).rounded(.up))
                guard need <= units else { continue }
                let c = cost(layer, option)
                for u in need...units {
                    let cand = best[u - need].cost + c
                    if cand < next[u].cost {
                        var ch = best[u - need].choices
                        ch[layer.name] = option
                        next[u] = (cand, ch)
                    }
                }
            }
            best = next
        }
        return Configuration(best[units].choices)
    }
}

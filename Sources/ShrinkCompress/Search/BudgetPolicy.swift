/// The default policy: maximise the whole-model reduction subject to the measured drop.
///
/// 1. Single-layer sensitivity curves on the search data (one batch, evaluated in parallel),
///    made non-increasing in rank so that noise never makes a lower rank look safer.
/// 2. A multiple-choice knapsack allocates ranks to minimise cost with the sum of per-layer
///    drops under α × the bound, for several α at once (combined drops are often 1.5–2× their
///    sum, so α < 1 is usually what passes).
/// 3. The cheapest passing allocation is refined by bisection on α. When no allocation passes
///    (single-layer drops that are all zero say nothing about how layers add up), the smallest
///    allocation is repaired on the combined model instead: every changed layer is tried one
///    measured point higher in one batch, and the move that passes most cheaply — or else buys
///    the most accuracy per unit of cost — is taken, until the model passes.
/// 4. Coordinate descent (one option lower per layer while the combined model still passes; when
///    no layer can go lower alone, trades that raise one layer and lower another); then
///    `RankSearch` certifies it on the full set and backs off if needed.
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

    /// A policy.
    public init(alphas: [Double] = [1.5, 1.0, 0.75, 0.5, 0.35, 0.25, 0.15, 0.08],
                refinements: Int = 3, maxCurvePoints: Int = 16, descentRounds: Int = 8, trades: Bool = true) {
        self.alphas = alphas
        self.descentRounds = descentRounds
        self.trades = trades
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
            Knapsack.allocate(space: space, curves: curves, budget: alpha * allowed, objective: session.objective)
        }
        var tried: [(alpha: Double, config: Configuration)] = alphas.map { ($0, allocate($0)) }
        let ok = try passFlags(tried.map(\.config), session)
        var passing = zip(tried, ok).filter { $0.1 }.map { $0.0 }
        var failing = zip(tried, ok).filter { !$0.1 }.map { $0.0 }
        guard var best = passing.min(by: { cost($0.config, session) < cost($1.config, session) }) else {
            let start = tried.min { $0.alpha < $1.alpha }?.config ?? .original
            session.log("budget: no allocation passed; repairing the smallest one on the combined model")
            let repaired = try descend(try repair(start, curves: curves, session), session)
            session.log("budget: repaired → \(fmt(space.reduction(of: repaired, session.objective)))× \(session.objective.rawValue)")
            return repaired
        }
        // Bisection between the best passing α and the smallest failing α above it.
        for _ in 0..<refinements {
            guard let above = failing.filter({ $0.alpha > best.alpha }).min(by: { $0.alpha < $1.alpha }) else { break }
            let mid = (best.alpha + above.alpha) / 2
            let c = allocate(mid)
            tried.append((mid, c))
            if try passFlags([c], session)[0] {
                passing.append((mid, c))
                if cost(c, session) <= cost(best.config, session) { best = (mid, c) }
            } else {
                failing.append((mid, c))
            }
        }
        best.config = try descend(best.config, session)
        session.log("budget: α = \(fmt(best.alpha)) → \(fmt(space.reduction(of: best.config, session.objective)))× \(session.objective.rawValue)")
        return best.config
    }

    /// Raises layers of a failing configuration until it passes on the search data. Each step
    /// tries every changed layer at its next measured option up (or kept, from its top one) in
    /// one batch, on the combined model: the cheapest passing move wins; if none passes, the move
    /// that removes most drop per unit of added cost (ties: the cheapest). Every step raises a
    /// layer, so this ends (at the original model at worst).
    func repair(_ start: Configuration, curves: [String: [(Int, Double)]], _ session: SearchSession) throws -> Configuration {
        var config = start
        var drop = try session.drops([config], on: .search)[0]
        let allowed = session.acceptance.allowedDrop(baseline: try session.baseline(.search))
        while drop > allowed + 1e-12, !config.choices.isEmpty {
            let moves: [Configuration] = config.choices.keys.sorted().map { name in
                let index = config.choices[name]!
                let next = (curves[name] ?? []).map(\.0).filter { $0 > index }.min()
                return config.setting(name, to: next)
            }
            let drops = try session.drops(moves, on: .search)
            let here = cost(config, session)
            let candidates = zip(moves, drops).map { (config: $0.0, drop: $0.1, added: max(cost($0.0, session) - here, 1)) }
            if let pass = candidates.filter({ $0.drop <= allowed + 1e-12 }).min(by: { $0.added < $1.added }) {
                session.log("budget: repair step passes: \(pass.config)")
                return pass.config
            }
            let improving = candidates.filter { $0.drop < drop }
            let step = improving.max { a, b in
                let ga = (drop - a.drop) / Double(a.added), gb = (drop - b.drop) / Double(b.added)
                return ga != gb ? ga < gb : a.added > b.added
            } ?? candidates.min { $0.added < $1.added }!
            config = step.config
            drop = step.drop
            session.log("budget: repair step (drop \(fmt(drop))): \(config)")
        }
        return config
    }

    /// Coordinate descent from a passing allocation: each round tries every layer one option
    /// lower (or, for a kept layer, at its top option) in one batch and takes the passing move
    /// that saves most. When no single move passes, it tries trades — one layer 1, 2 or 4 options
    /// up, another one option down — that still save. This recovers options the sampled curves
    /// skipped and moves the bound's slack to where it saves most.
    func descend(_ start: Configuration, _ session: SearchSession) throws -> Configuration {
        var config = start
        func lower(_ c: Configuration, _ layer: SearchLayer) -> Configuration? {
            switch c.choices[layer.name] {
            case .some(let i) where i > 0: return c.setting(layer.name, to: i - 1)
            case .none where !layer.options.isEmpty: return c.setting(layer.name, to: layer.options.count - 1)
            default: return nil
            }
        }
        func raise(_ c: Configuration, _ layer: SearchLayer, by steps: Int) -> Configuration? {
            guard let i = c.choices[layer.name] else { return nil }
            return c.setting(layer.name, to: i + steps < layer.options.count ? i + steps : nil)
        }
        for _ in 0..<descentRounds {
            let here = cost(config, session)
            let moves = session.space.layers.compactMap { lower(config, $0) }
            if let move = try cheapestPassing(moves, session), cost(move, session) < here {
                config = move
                continue
            }
            guard trades else { break }
            var swaps: [Configuration] = []
            for up in session.space.layers {
                for steps in [1, 2, 4] {
                    guard let raised = raise(config, up, by: steps) else { continue }
                    for down in session.space.layers where down.name != up.name {
                        if let c = lower(raised, down), cost(c, session) < here, !swaps.contains(c) { swaps.append(c) }
                    }
                }
            }
            guard let swap = try cheapestPassing(swaps, session) else { break }
            config = swap
        }
        return config
    }

    private func cheapestPassing(_ configs: [Configuration], _ session: SearchSession) throws -> Configuration? {
        let ok = try passFlags(configs, session)
        return zip(configs, ok).filter { $0.1 }.map { $0.0 }.min { cost($0, session) < cost($1, session) }
    }

    private func cost(_ c: Configuration, _ s: SearchSession) -> Int { s.space.cost(of: c)[s.objective] }

    private func passFlags(_ configs: [Configuration], _ s: SearchSession) throws -> [Bool] {
        let base = try s.baseline(.search)
        return try s.evaluate(configs, on: .search).map { s.acceptance.accepts(baseline: base, value: $0) }
    }
}

/// Multiple-choice knapsack: one option (or keep) per layer, minimising cost subject to the
/// sum of drops staying within a budget. Drops are discretised to 1/400 of the budget, which
/// makes the dynamic programme exact up to that resolution and tiny (layers × 400 × options).
enum Knapsack {
    static func allocate(space: SearchSpace, curves: [String: [(Int, Double)]], budget: Double,
                         objective: CostObjective) -> Configuration {
        let units = 400
        let resolution = max(budget, 1e-12) / Double(units)
        // best[u] = (min cost, choices) using at most u drop units over layers so far.
        var best = [(cost: Int, choices: [String: Int])](repeating: (0, [:]), count: units + 1)
        for layer in space.layers {
            let keep = layer.original[objective]
            var next = best.map { (cost: $0.cost + keep, choices: $0.choices) }
            for (option, drop) in curves[layer.name] ?? [] {
                let need = drop <= 0 ? 0 : Int((drop / resolution).rounded(.up))
                guard need <= units else { continue }
                let c = layer.options[option].cost[objective]
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

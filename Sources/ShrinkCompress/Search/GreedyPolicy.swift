/// AIMET's greedy selection: per-layer score tables at candidate compression ratios, then a
/// binary search on a target score until the whole model reaches a target compression.
/// Without a target, the score is set to the bound (every layer alone stays within it).
public struct GreedyPolicy: SearchPolicy {
    /// `greedy`.
    public var name: String { SearchPolicyName.greedy.rawValue }
    /// Target whole-model reduction of the objective (4 means 4×), or nil to use the bound.
    public var target: Double?
    /// Fractions of a layer's cost at which the score table is measured.
    public var ratios: [Double]

    /// A policy.
    public init(target: Double? = nil, ratios: [Double] = stride(from: 0.1, through: 0.9, by: 0.1).map { $0 }) {
        self.target = target
        self.ratios = ratios
    }

    /// The option per (layer, ratio) whose cost is closest to ratio × original without exceeding it.
    func table(_ space: SearchSpace, _ objective: CostObjective) -> [String: [Int]] {
        var out: [String: [Int]] = [:]
        for layer in space.layers {
            let full = Double(layer.original[objective])
            var picks: [Int] = []
            for r in ratios {
                let budget = r * full
                if let i = layer.options.indices.last(where: { Double(layer.options[$0].cost[objective]) <= budget }),
                   !picks.contains(i) {
                    picks.append(i)
                }
            }
            out[layer.name] = picks
        }
        return out
    }

    /// Score tables, then the score threshold that reaches the target.
    public func propose(_ session: SearchSession) throws -> Configuration {
        let space = session.space, objective = session.objective
        let picks = table(space, objective)
        var pairs: [(String, Int)] = []
        for layer in space.layers { for i in picks[layer.name] ?? [] { pairs.append((layer.name, i)) } }
        let scores = try session.evaluate(pairs.map { Configuration.original.setting($0.0, to: $0.1) }, on: .search)
        let base = try session.baseline(.search)
        var score: [String: [(Int, Double)]] = [:]
        for (p, s) in zip(pairs, scores) {
            score[p.0, default: []].append((p.1, s))
            session.recordSensitivity(layer: p.0, option: p.1, drop: session.acceptance.drop(baseline: base, value: s))
        }
        // For a score threshold t, each layer takes its cheapest option scoring at least t.
        func config(_ t: Double) -> Configuration {
            var c = Configuration.original
            for (layer, entries) in score {
                let good = entries.filter { session.acceptance.drop(baseline: base, value: $0.1) <= session.acceptance.drop(baseline: base, value: t) }
                if let best = good.min(by: { $0.0 < $1.0 }) { c = c.setting(layer, to: best.0) }
            }
            return c
        }
        guard let target else {
            let allowed = session.acceptance.allowedDrop(baseline: base)
            let t = session.acceptance.direction == .higherIsBetter ? base - allowed : base + allowed
            return config(t)
        }
        // Binary search over the sorted distinct scores for the strictest one reaching the target.
        let sorted = Array(Set(scores)).sorted { session.acceptance.drop(baseline: base, value: $0) < session.acceptance.drop(baseline: base, value: $1) }
        var lo = 0, hi = sorted.count - 1
        guard hi >= 0 else { return .original }
        if space.reduction(of: config(sorted[hi]), objective) < target { return config(sorted[hi]) }
        while lo < hi {
            let mid = (lo + hi) / 2
            if space.reduction(of: config(sorted[mid]), objective) >= target { hi = mid } else { lo = mid + 1 }
        }
        return config(sorted[lo])
    }
}

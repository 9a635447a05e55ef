import Foundation
import ShrinkBuild
import ShrinkCompress
import ShrinkPipeline

extension PipelineRunner {
    /// Fixed ranks that would make their layer bigger: a rank at or above the layer's break-even
    /// (no saving in parameters or in MACs) is an error at the rule unless the rule says
    /// `allow_growth: true`. Fractions and energies are capped below the break-even when the layer
    /// is decomposed, so only integers and rank pairs are checked. Reads the model only when some
    /// rule fixes a rank.
    func growthDiagnostics(_ targets: [(spec: PipelineSpec, assigned: LayerAssignments)], summary: ModelSummary,
                           model: Digest, store: Store) throws -> [Diagnostic] {
        struct Candidate {
            var layer: String
            var method: ShrinkCompress.MethodName
            var rank: Rank
            var rule: Rule
        }
        let byName = Dictionary(summary.layers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var candidates: [Candidate] = []
        var seen = Set<String>()
        for (spec, assigned) in targets {
            for a in assigned.assignments where a.method != .keep {
                guard let index = a.ruleIndex, index < spec.rules.count, let rank = a.rank else { continue }
                let rule = spec.rules[index]
                switch rank {
                case .count, .tucker: break
                case .fraction, .energy, .search: continue
                }
                guard !rule.allowsGrowth else { continue }
                guard case .exact(let fixed)? = ShrinkCompress.RankSpec(rank, layer: byName[a.layer.name]) else { continue }
                let method = ShrinkCompress.MethodName(a.method)
                guard seen.insert("\(rule.location)|\(a.layer.name)|\(method)|\(fixed)").inserted else { continue }
                candidates.append(Candidate(layer: a.layer.name, method: method, rank: fixed, rule: rule))
            }
        }
        guard !candidates.isEmpty else { return [] }
        let graph = try ArtifactMemo.shared.graph(model, store: store)
        let refs = try GraphLayers.references(in: graph)
        var found: [Diagnostic] = []
        for c in candidates {
            let asked = c.rank
            guard let ref = try? GraphLayers.reference(named: c.layer, in: refs),
                  let layer = try? GraphLayers.descriptor(ref, in: graph) else { continue }
            let method = c.method.method
            guard (try? method.check(layer)) != nil, method.rankArity == asked.values.count else { continue }
            let full = method.fullRank(of: layer)
            let rank = Rank(zip(asked.values, full.values).map { min($0, $1) })
            let cost = method.stageShapes(for: layer, rank: rank).cost
            let original = layer.cost
            let grows = CostObjective.allCases.filter { cost[$0] >= original[$0] }
            guard !grows.isEmpty else { continue }
            let verb = grows.contains { cost[$0] > original[$0] } ? "it would grow" : "it would save nothing"
            let growth = grows.map { o in
                "\(o == .params ? "parameters" : "MACs") \(grouped(original[o])) → \(grouped(cost[o]))"
                    + " (\(String(format: "%.2f", Double(cost[o]) / Double(max(original[o], 1))))×)"
            }.joined(separator: ", ")
            // The largest rank that still saves in both: the smaller of the two break-evens.
            let evens = CostObjective.allCases.map { try? RankArithmetic.breakEvenRank(method, layer: layer, objective: $0) }
            let limit: Rank? = evens.contains { $0 == nil } ? nil
                : evens.compactMap { $0 }.min { $0.values.reduce(0, +) < $1.values.reduce(0, +) }
            let limitText = limit.map { "ranks up to \(rankWords($0)) make it smaller" }
                ?? "no rank of `\(c.method.rawValue)` makes it smaller in both parameters and MACs"
            let location = c.rule.rank?.location ?? c.rule.location
            found.append(Diagnostic(
                .error,
                "rank \(rankWords(asked)) is at or above the break-even of layer `\(c.layer)` (\(c.method.rawValue)): "
                    + "\(verb), \(growth); \(limitText)",
                at: location,
                hint: "lower the rank\(limit.map { " to at most \(rankWords($0))" } ?? "") or use `rank: search`; "
                    + "to accept a bigger layer, add `allow_growth: true` to this rule"))
        }
        return found
    }
}

private func rankWords(_ rank: Rank) -> String {
    rank.values.count == 1 ? "\(rank.values[0])" : "[" + rank.values.map(String.init).joined(separator: ", ") + "]"
}

/// 66400 → `66,400`.
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, c) in digits.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (value < 0 ? "-" : "") + String(out.reversed())
}

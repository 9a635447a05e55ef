import ShrinkCompress
import ShrinkPipeline

// The one place where the pipeline DSL's words become the compression library's types. Stages carry
// the library's types in their (Codable) parameters: no string round trips between the layers.

extension ShrinkCompress.MethodName {
    /// The library's method for a rule's `method:`.
    init(_ method: ShrinkPipeline.MethodName) {
        switch method {
        case .cp: self = .cp
        case .cp4: self = .cp4
        case .tucker2: self = .tucker2
        case .spatialSVD: self = .spatialSVD
        case .svd: self = .svd
        case .keep: self = .keep
        }
    }
}

extension CostObjective {
    /// The library's objective for `search.objective`.
    init(_ objective: SearchObjective) {
        switch objective {
        case .macs: self = .macs
        case .params: self = .params
        // An int8 library's flash is one byte per weight plus a few bytes per output channel and
        // the kernels' code: the weight count ranks candidates as flash does. The arena (RAM) is
        // not a sum over layers; low rank never grows it much (a factor pair's middle tensor is
        // thin), so the search minimises weights there too and the chosen model's RAM is computed.
        case .flash, .ram: self = .params
        }
    }
}

extension SearchPolicyName {
    /// The library's policy for `search.policy`.
    init(_ policy: ShrinkPipeline.SearchPolicy) {
        switch policy {
        case .budget: self = .budget
        case .greedy: self = .greedy
        case .binary: self = .binary
        case .incremental: self = .incremental
        }
    }
}

extension ShrinkCompress.RankSpec {
    /// The library's rank for a fixed `rank:` of a rule on `layer` (fractions of a Tucker-2 pair
    /// resolved against its weight's shape); nil for `rank: search`.
    init?(_ rank: ShrinkPipeline.RankSpec, layer: LayerInfo?) {
        switch rank {
        case .count(let n): self = .exact(Rank(n))
        case .fraction(let f): self = .fraction(f)
        case .energy(let e): self = .energy(e)
        case .tucker(let o, let i):
            let t = layer?.weightShape.first ?? 1, s = layer.map { $0.weightShape.count > 1 ? $0.weightShape[1] : 1 } ?? 1
            func value(_ c: RankComponent, _ size: Int) -> Int {
                switch c {
                case .count(let n): return n
                case .fraction(let f): return max(1, Int((Double(size) * f).rounded()))
                }
            }
            self = .exact(.tucker(out: value(o, t), in: value(i, s)))
        case .search: return nil
        }
    }
}

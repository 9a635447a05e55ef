/// The candidate ranks of a searchable layer: every small rank, then a geometric ladder (×1.18)
/// up to the full rank (or the range given), each cheaper than the layer itself in the objective
/// the search minimises. Tucker-2's two ranks shrink together, in proportion to their modes.
public enum RankLadder {
    /// Bounds a pipeline may put on the ladder (`rank: { search: { min, max, step, multiple_of } }`).
    public struct Range: Sendable, Hashable, Codable {
        /// Smallest and largest primary rank; nil for 1 and the full rank.
        public var min: Int?, max: Int?
        /// An arithmetic ladder with this step instead of the geometric one.
        public var step: Int?
        /// Round every rank up to a multiple of this (hardware-friendly widths).
        public var multipleOf: Int?

        /// A range.
        public init(min: Int? = nil, max: Int? = nil, step: Int? = nil, multipleOf: Int? = nil) {
            self.min = min
            self.max = max
            self.step = step
            self.multipleOf = multipleOf
        }
    }

    /// The options for rewriting `layer` with `method`, ascending; throws when the method does
    /// not apply to the layer.
    public static func options(method name: MethodName, layer: LayerDescriptor, objective: CostObjective,
                               range s: Range = Range()) throws -> [RankOption] {
        let method = name.method
        try method.check(layer)
        let full = method.fullRank(of: layer)
        let original = layer.cost
        let arity = method.rankArity
        let top = full.values.max() ?? 1
        var primaries: [Int]
        if let step = s.step {
            primaries = Array(stride(from: max(s.min ?? step, 1), through: min(s.max ?? top, top), by: max(step, 1)))
        } else {
            let lo = max(s.min ?? 1, 1), hi = min(s.max ?? top, top)
            var set = Set<Int>()
            var r = Double(lo)
            while Int(r) <= hi {
                set.insert(Int(r))
                r = Int(r) < 8 ? r + 1 : r * 1.18
            }
            set.insert(hi)
            primaries = set.sorted()
        }
        if let m = s.multipleOf, m > 1 {
            primaries = Array(Set(primaries.map { max(m, (($0 + m - 1) / m) * m) })).sorted()
        }
        var out: [RankOption] = []
        var seen = Set<[Int]>()
        for p in primaries {
            let rank: [Int]
            if arity == 2 {
                // Tucker-2: both modes shrink together, in proportion to their sizes.
                let f = Double(p) / Double(top)
                rank = full.values.map { min($0, max(1, Int((Double($0) * f).rounded()))) }
            } else {
                rank = [min(p, full.primary)]
            }
            guard seen.insert(rank).inserted else { continue }
            let cost = method.stageShapes(for: layer, rank: Rank(rank)).cost
            // Never offer a rank at which the layer stops saving what the search minimises.
            if cost[objective] < original[objective] { out.append(RankOption(rank: rank, cost: cost)) }
        }
        return out
    }
}

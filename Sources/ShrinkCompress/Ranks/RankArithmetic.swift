/// A rank chosen for a layer, with what it costs and why it is what it is.
public struct RankResolution: Sendable {
    /// The chosen rank.
    public var rank: Rank
    /// Its exact cost.
    public var cost: LayerCost
    /// The layer's cost as it is.
    public var original: LayerCost
    /// The method's full rank for the layer.
    public var fullRank: Rank
    /// The largest rank still strictly cheaper in the objective; nil if none is.
    public var breakEven: Rank?
    /// Things a user must see: the layer grows, a rank was clamped.
    public var warnings: [String]
    /// How the rank was derived (caps, rounding), for reports.
    public var notes: [String]
}

/// Full, break-even, fractional and energy ranks, rounding and clamping — all from the
/// methods' exact stage costs, so every method gets them for free.
public enum RankArithmetic {
    /// The smallest R ≥ 1 with Σ_{i<R} σᵢ² ≥ energy · Σ σᵢ² (σ descending); 1 for a zero
    /// spectrum. Energy is the squared spectrum, so keeping energy e bounds the relative
    /// Frobenius error of a truncated SVD by √(1 − e).
    public static func energyRank(_ sigma: [Float], energy: Double) -> Int {
        let total = sigma.reduce(0.0) { $0 + Double($1) * Double($1) }
        guard total > 0 else { return 1 }
        var kept = 0.0
        for (i, v) in sigma.enumerated() {
            kept += Double(v) * Double(v)
            // Relative slack so that energy 1 stops at the last non-zero value despite rounding.
            if kept >= energy * total * (1 - 1e-12) { return i + 1 }
        }
        return max(sigma.count, 1)
    }

    /// The rank at step `t` of the path 1…max(full) along which ranks grow: single ranks are
    /// t itself; a pair moves along the line through (full₀, full₁), each component at least 1.
    static func pathRank(_ t: Int, full: Rank) -> Rank {
        guard let top = full.values.max(), top > 0 else { return full }
        return Rank(full.values.map { f in
            min(f, max(1, Int((Double(t) * Double(f) / Double(top)).rounded())))
        })
    }

    /// The largest rank on the method's rank path at which the factorised layer is still
    /// strictly cheaper than the original in `objective`; nil when even the smallest rank is
    /// not cheaper. For tucker2 the path keeps R_out/R_in ≈ T/S (see `pathRank`).
    public static func breakEvenRank(_ method: any DecompositionMethod, layer: LayerDescriptor,
                                     objective: CostObjective) throws(DecompositionError) -> Rank? {
        try method.check(layer)
        if method.rankArity == 0 { return nil }
        let full = method.fullRank(of: layer)
        let budget = layer.cost[objective]
        func cheaper(_ t: Int) -> Bool {
            method.stageShapes(for: layer, rank: pathRank(t, full: full)).cost[objective] < budget
        }
        let top = full.values.max() ?? 0
        guard top >= 1, cheaper(1) else { return nil }
        // Costs grow monotonically along the path: binary search the last cheaper step.
        var lo = 1, hi = top
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if cheaper(mid) { lo = mid } else { hi = mid - 1 }
        }
        return pathRank(lo, full: full)
    }

    /// Component-wise round(f · full), at least 1.
    public static func fractionRank(_ f: Double, full: Rank) -> Rank {
        Rank(full.values.map { max(1, min($0, Int((f * Double($0)).rounded()))) })
    }

    /// Rounds each component to the nearest multiple (at least one multiple) and clamps to
    /// the bounds and to `full`.
    public static func rounded(_ rank: Rank, full: Rank, rounding: RankRounding) -> Rank {
        Rank(zip(rank.values, full.values).map { r, f in
            var v = r
            if rounding.multiple > 1 {
                let m = rounding.multiple
                v = max(m, ((v + m / 2) / m) * m)
            }
            v = max(v, rounding.minimum)
            if let hi = rounding.maximum { v = min(v, hi) }
            return max(1, min(v, f))
        })
    }

    /// Resolves `spec` into a rank for `method` on `layer`.
    ///
    /// Fractions and energies never land above the break-even rank in `objective`: they are
    /// capped there (with a note), and if no rank saves anything the layer is refused with a
    /// typed error. An exact rank is a user's decision and is honoured, clamped to full rank;
    /// if the layer then grows (in params or MACs) the result carries a warning.
    public static func resolve(_ spec: RankSpec, method: any DecompositionMethod, layer: LayerDescriptor,
                               objective: CostObjective = .params,
                               rounding: RankRounding = .none) throws(DecompositionError) -> RankResolution {
        try method.check(layer)
        let original = layer.cost
        let full = method.fullRank(of: layer)
        if method.rankArity == 0 {
            return RankResolution(rank: .none, cost: original, original: original, fullRank: full, breakEven: nil,
                                  warnings: [], notes: [])
        }
        var warnings: [String] = []
        var notes: [String] = []
        var rank: Rank
        var forced = false
        switch spec {
        case .exact(let r):
            guard r.values.count == method.rankArity else {
                let expected = method.rankArity == 2 ? "a rank pair `Rout,Rin`" : "a single rank"
                throw DecompositionError(.invalidRank, layer: layer.name, "\(method.name) takes \(expected), got `\(r)`")
            }
            guard r.values.allSatisfy({ $0 >= 1 }) else {
                throw DecompositionError(.invalidRank, layer: layer.name, "ranks must be at least 1, got `\(r)`")
            }
            rank = Rank(zip(r.values, full.values).map { min($0, $1) })
            if rank != r {
                warnings.append("\(layer.name): rank \(r) exceeds \(method.name)'s full rank \(full); using \(rank)")
            }
            forced = true
        case .fraction(let f):
            rank = fractionRank(f, full: full)
            notes.append("\(f) of full rank \(full)")
        case .energy(let e):
            rank = Rank(zip(try method.energyRank(of: layer, energy: e).values, full.values).map { min(max($0, 1), $1) })
            notes.append("energy \(e) of the spectrum")
        }
        if !forced {
            rank = rounded(rank, full: full, rounding: rounding)
        }
        let breakEven = try breakEvenRank(method, layer: layer, objective: objective)
        var cost = method.stageShapes(for: layer, rank: rank).cost
        if cost[objective] >= original[objective] && !forced {
            guard let be = breakEven else {
                throw DecompositionError(.notApplicable, layer: layer.name,
                                         "\(method.name) cannot save \(objective) on this layer at any rank "
                                         + "(rank 1 costs \(method.stageShapes(for: layer, rank: pathRank(1, full: full)).cost[objective]), "
                                         + "the layer \(original[objective]))")
            }
            var capped = be
            if rounding.multiple > 1 {
                // Round down to a multiple when one fits under the break-even rank.
                let m = rounding.multiple
                capped = Rank(be.values.map { $0 >= m ? ($0 / m) * m : $0 })
            }
            notes.append("capped at break-even rank \(be) (\(objective)); \(rank) would not save anything")
            rank = capped
            cost = method.stageShapes(for: layer, rank: rank).cost
        }
        for o in CostObjective.allCases where cost[o] >= original[o] {
            warnings.append("\(layer.name): \(method.name) rank \(rank) does not save \(o): "
                            + "\(original[o]) → \(cost[o])"
                            + (o == objective ? breakEven.map { " (break-even rank \($0))" } ?? " (no rank saves)" : ""))
        }
        return RankResolution(rank: rank, cost: cost, original: original, fullRank: full, breakEven: breakEven,
                              warnings: warnings, notes: notes)
    }
}

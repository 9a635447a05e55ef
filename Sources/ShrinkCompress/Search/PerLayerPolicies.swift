/// The seed's algorithm: per layer, raise the rank from its minimum until that layer alone
/// meets the bound on the search data. Layers step in lockstep so each round is one batch.
public struct IncrementalPolicy: SearchPolicy {
    /// `incremental`.
    public var name: String { SearchPolicyName.incremental.rawValue }
    /// A policy.
    public init() {}

    /// Lowest passing option per layer, each judged alone.
    public func propose(_ session: SearchSession) throws -> Configuration {
        let layers = session.space.layers
        var chosen: [String: Int?] = [:]
        var step = 0
        while chosen.count < layers.count {
            let open = layers.filter { chosen[$0.name] == nil }
            let exhausted = open.filter { step >= $0.options.count }
            for l in exhausted { chosen[l.name] = .some(nil) }
            let live = open.filter { step < $0.options.count }
            if live.isEmpty { break }
            let configs = live.map { Configuration.original.setting($0.name, to: step) }
            let drops = try session.drops(configs, on: .search)
            for (l, d) in zip(live, drops) {
                session.recordSensitivity(layer: l.name, option: step, drop: d)
                if d <= session.acceptance.allowedDrop(baseline: try session.baseline(.search)) + 1e-12 {
                    chosen[l.name] = .some(step)
                }
            }
            step += 1
        }
        return Configuration(chosen.compactMapValues { $0 })
    }
}

/// Per layer, binary search on the option index assuming accuracy grows with rank, guarded
/// against non-monotone curves: the answer must pass and so must the option above it.
public struct BinaryPolicy: SearchPolicy {
    /// `binary`.
    public var name: String { SearchPolicyName.binary.rawValue }
    /// A policy.
    public init() {}

    /// Smallest passing option per layer, judged alone.
    public func propose(_ session: SearchSession) throws -> Configuration {
        let allowed = session.acceptance.allowedDrop(baseline: try session.baseline(.search))
        let layers = session.space.layers
        // Bounds per layer: lo = candidate lowest passing, hi = known passing (count means keep).
        var lo = Dictionary(uniqueKeysWithValues: layers.map { ($0.name, 0) })
        var hi = Dictionary(uniqueKeysWithValues: layers.map { ($0.name, $0.options.count) })
        func passes(_ pairs: [(String, Int)]) throws -> [Bool] {
            let drops = try session.drops(pairs.map { Configuration.original.setting($0.0, to: $0.1) }, on: .search)
            for (p, d) in zip(pairs, drops) { session.recordSensitivity(layer: p.0, option: p.1, drop: d) }
            return drops.map { $0 <= allowed + 1e-12 }
        }
        while true {
            let active = layers.filter { lo[$0.name]! < hi[$0.name]! }
            if active.isEmpty { break }
            let probes = active.map { ($0.name, (lo[$0.name]! + hi[$0.name]!) / 2) }
            for (p, ok) in zip(probes, try passes(probes)) {
                if ok { hi[p.0] = p.1 } else { lo[p.0] = p.1 + 1 }
            }
        }
        // Guard: walk up until an option passes together with its upper neighbour.
        var result: [String: Int] = [:]
        for layer in layers {
            var i = hi[layer.name]!
            while i < layer.options.count {
                let pair = [(layer.name, i)] + (i + 1 < layer.options.count ? [(layer.name, i + 1)] : [])
                if try passes(pair).allSatisfy({ $0 }) { break }
                i += 1
            }
            if i < layer.options.count { result[layer.name] = i }
        }
        return Configuration(result)
    }
}

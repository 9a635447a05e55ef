/// A whole-model figure the search can compute exactly for any configuration but that is not a
/// sum of parameters or MACs: a device's flash or RAM in bytes.
///
/// The search knows nothing about devices: the caller (the pipeline, from `ShrinkDevice`) supplies
/// the figure. Implementations memoise; the search asks for the same configuration many times.
public protocol ResourceMeasure: Sendable {
    /// What is measured, as the report names it (`flash`).
    var resource: String { get }
    /// The exact figure of a configuration (`Int.max` when it cannot be computed: it then fits
    /// no budget).
    func value(of configuration: Configuration) -> Int
    /// What one layer at one option (nil keeps it) contributes, for the allocation, which adds
    /// layers up, and for naming the layers that dominate. Need not sum to `value(of:)` exactly
    /// (code shared between layers, an arena that is a maximum, not a sum).
    func share(of layer: String, option: Int?) -> Int
}

/// A hard limit on a resource: no configuration over it is ever accepted.
public struct ResourceConstraint: Sendable {
    /// The figure limited.
    public var measure: any ResourceMeasure
    /// The largest allowed value (bytes).
    public var limit: Int

    /// A constraint.
    public init(measure: any ResourceMeasure, limit: Int) {
        self.measure = measure
        self.limit = limit
    }

    /// `flash ≤ 65,536 B`.
    public var description: String { "\(measure.resource) ≤ \(groupedDigits(limit)) B" }

    /// Whether `configuration` is within the limit.
    public func admits(_ configuration: Configuration) -> Bool { measure.value(of: configuration) <= limit }
}

/// Why no configuration of the space fits a budget: the budget, the smallest figure the space
/// reaches, the layers that weigh most there, and what to change.
public struct BudgetShortfall: Sendable, Codable, Hashable {
    /// The resource (`flash`, `ram`).
    public var resource: String
    /// The budget in bytes.
    public var limit: Int
    /// The smallest figure any configuration of the space reaches.
    public var smallest: Int
    /// The configuration that reaches it, in ranks (`conv1=1,1 fc1=1`).
    public var smallestConfiguration: String
    /// The searched layers that weigh most in it, largest first, with their share in bytes.
    public var dominant: [LayerShare]
    /// What the rest weighs: layers kept or fixed by the pipeline's rules, and shared code.
    public var rest: Int

    /// One layer's share.
    public struct LayerShare: Sendable, Codable, Hashable {
        /// The layer.
        public var layer: String
        /// Its bytes.
        public var bytes: Int
    }

    /// A user-facing sentence with the fix.
    public var message: String {
        let layers = dominant.filter { $0.bytes > 0 }.map { "\($0.layer) \(groupedDigits($0.bytes)) B" }.joined(separator: ", ")
        return "no configuration in the search space fits the \(resource) budget of \(groupedDigits(limit)) B: "
            + "the smallest \(resource) it reaches is \(groupedDigits(smallest)) B (\(smallestConfiguration)); "
            + "the searched layers weigh most in it: \(layers.isEmpty ? "none" : layers), and the rest of the model "
            + "(layers kept or fixed by rules, shared code) \(groupedDigits(rest)) B. "
            + "Raise `target.\(resource)`, allow lower ranks or other methods (`rank: { search: { min: … } }`, "
            + "a rule for layers kept today), or quantise (`quantize: int8`) if the model is float32"
    }
}

/// `65,536`.
func groupedDigits(_ n: Int) -> String {
    let digits = String(abs(n))
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return n < 0 ? "-" + out : out
}

extension SearchSession {
    /// The figure the search minimises for a configuration: the ranking measure's exact value
    /// (`objective: flash|ram`), else parameters or MACs.
    public func objectiveCost(of configuration: Configuration) -> Int {
        ranking?.value(of: configuration) ?? space.cost(of: configuration)[objective]
    }

    /// What one layer at one option adds to the objective, for allocations that sum layers.
    public func objectiveShare(of layer: SearchLayer, option: Int?) -> Int {
        ranking?.share(of: layer.name, option: option) ?? layer.cost(option)[objective]
    }

    /// Whether a configuration is within every budget.
    public func fits(_ configuration: Configuration) -> Bool {
        constraints.allSatisfy { $0.admits(configuration) }
    }

    /// The budgets a configuration exceeds, as `flash 70,000 B > 65,536 B`.
    public func violations(of configuration: Configuration) -> [String] {
        constraints.filter { !$0.admits(configuration) }.map {
            "\($0.measure.resource) \(groupedDigits($0.measure.value(of: configuration))) B > \(groupedDigits($0.limit)) B"
        }
    }

    /// Whether a configuration meets the accuracy bound on `set` and fits every budget.
    public func acceptable(_ configuration: Configuration, on set: EvaluationSet) throws -> Bool {
        try fits(configuration) && passes(configuration, on: set)
    }

    /// The configuration with the smallest value of `measure` that the space reaches: every layer
    /// at its smallest share, then a few rounds of exact single-layer moves (a share is not
    /// always what the whole model saves). Costs no evaluation.
    public func smallest(_ measure: any ResourceMeasure) -> Configuration {
        var config = Configuration.original
        for layer in space.layers {
            let options: [Int?] = [nil] + Array(layer.options.indices)
            let best = options.min { measure.share(of: layer.name, option: $0) < measure.share(of: layer.name, option: $1) }!
            config = config.setting(layer.name, to: best)
        }
        var value = measure.value(of: config)
        for _ in 0..<4 {
            var improved = false
            for layer in space.layers {
                // Candidates: keep, the three cheapest options, and one either side of the current.
                var tries: [Int?] = [nil] + Array(layer.options.indices.prefix(3))
                if let i = config.choices[layer.name] { tries += [i - 1, i + 1].filter { layer.options.indices.contains($0) } }
                for t in tries where t != config.choices[layer.name] {
                    let c = config.setting(layer.name, to: t)
                    let v = measure.value(of: c)
                    if v < value { config = c; value = v; improved = true }
                }
            }
            if !improved { break }
        }
        return config
    }

    /// Why no configuration fits (with the smallest configuration of the first budget that
    /// fails), or nil when the smallest configuration of the space is within every budget.
    public func shortfall() -> (BudgetShortfall, Configuration)? {
        for c in constraints {
            let small = smallest(c.measure)
            let value = c.measure.value(of: small)
            guard value > c.limit else { continue }
            let shares = space.layers.map { l in (l.name, c.measure.share(of: l.name, option: small.choices[l.name])) }
            let dominant = shares.sorted { $0.1 > $1.1 }.prefix(3).map { BudgetShortfall.LayerShare(layer: $0.0, bytes: $0.1) }
            let rest = max(0, value - shares.reduce(0) { $0 + $1.1 })
            return (BudgetShortfall(resource: c.measure.resource, limit: c.limit, smallest: value,
                                    smallestConfiguration: space.describe(small), dominant: Array(dominant), rest: rest), small)
        }
        return nil
    }

    /// Compresses further until `configuration` fits every budget: each step takes the one-option
    /// move (a layer one option lower, or a kept layer at its top option) that saves the most of
    /// the exceeded resources per unit of measured single-layer drop. Costs no evaluation; the
    /// caller checks accuracy afterwards. Nil when no sequence of such moves fits.
    public func squeeze(_ configuration: Configuration) -> Configuration? {
        var config = configuration
        let curves = sensitivity
        func drop(_ layer: String, _ option: Int?) -> Double {
            guard let option, let curve = curves[layer], !curve.isEmpty else { return option == nil ? 0 : 1 }
            // The nearest measured point at or below this option bounds its drop from below.
            let known = curve.keys.filter { $0 <= option }.max() ?? curve.keys.min()!
            return max(0, curve[known]!)
        }
        while !fits(config) {
            let over = constraints.filter { !$0.admits(config) }
            func excess(_ c: Configuration) -> Double {
                over.reduce(0.0) { $0 + Double(max(0, $1.measure.value(of: c) - $1.limit)) / Double(max($1.limit, 1)) }
            }
            let here = excess(config)
            var best: (config: Configuration, score: Double)?
            for layer in space.layers {
                let current = config.choices[layer.name]
                let next: Int?
                switch current {
                case .some(let i) where i > 0: next = i - 1
                case .none where !layer.options.isEmpty: next = layer.options.count - 1
                default: continue
                }
                let c = config.setting(layer.name, to: next)
                let saved = here - excess(c)
                guard saved > 0 else { continue }
                let added = max(drop(layer.name, next) - drop(layer.name, current), 0) + 1e-6
                let score = saved / added
                if best == nil || score > best!.score { best = (c, score) }
            }
            guard let step = best else { return nil }
            config = step.config
        }
        return config
    }
}

/// One choice the search may make for a layer: a rank (one or two numbers) and what it costs.
public struct RankOption: Sendable, Hashable, Codable {
    /// The rank; two entries for methods with two ranks (Tucker-2: out, in).
    public var rank: [Int]
    /// The cost of the factorised layer at this rank.
    public var cost: LayerCost

    /// An option.
    public init(rank: [Int], cost: LayerCost) {
        self.rank = rank
        self.cost = cost
    }
}

/// A layer the search may compress: its original cost and its options in ascending rank order.
public struct SearchLayer: Sendable, Hashable, Codable {
    /// The layer's name (the weight initializer without `.weight`).
    public var name: String
    /// The cost of the layer as it is.
    public var original: LayerCost
    /// Candidate ranks, ascending; every option is cheaper than `original` under the objective.
    public var options: [RankOption]

    /// A search layer.
    public init(name: String, original: LayerCost, options: [RankOption]) {
        self.name = name
        self.original = original
        self.options = options
    }

    /// The cost of choice `index` (nil keeps the layer as it is).
    public func cost(_ index: Int?) -> LayerCost { index.map { options[$0].cost } ?? original }
}

/// A whole-model candidate: for each searchable layer, the index of its option, or nil to keep it.
///
/// Layers absent from `choices` are kept. Hashable so evaluations can be memoised and cached.
public struct Configuration: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Layer name → option index.
    public var choices: [String: Int]

    /// A configuration.
    public init(_ choices: [String: Int] = [:]) { self.choices = choices }

    /// The configuration that keeps every layer.
    public static let original = Configuration()

    /// This configuration with `layer` set to option `index` (nil keeps the layer).
    public func setting(_ layer: String, to index: Int?) -> Configuration {
        var c = self
        c.choices[layer] = index
        return c
    }

    /// `conv1=3 fc1=7`, sorted by layer.
    public var description: String {
        choices.isEmpty ? "original" : choices.keys.sorted().map { "\($0)=\(choices[$0]!)" }.joined(separator: " ")
    }
}

/// The layers being searched plus the cost of everything the search does not touch.
public struct SearchSpace: Sendable, Hashable, Codable {
    /// Searchable layers, in model order.
    public var layers: [SearchLayer]
    /// The cost of the rest of the model (layers kept by rule, and layers with fixed choices).
    public var fixedCost: LayerCost

    /// A search space.
    public init(layers: [SearchLayer], fixedCost: LayerCost) {
        self.layers = layers
        self.fixedCost = fixedCost
    }

    /// The whole-model cost of a configuration.
    public func cost(of configuration: Configuration) -> LayerCost {
        layers.reduce(fixedCost) { $0 + $1.cost(configuration.choices[$1.name]) }
    }

    /// A configuration in ranks, as a person reads it: `conv1=6,1 fc1=32` (layers kept are not
    /// listed; `original` when every layer is kept). `Configuration.description` shows option
    /// indices, which mean nothing outside the search.
    public func describe(_ configuration: Configuration) -> String {
        let byName = Dictionary(layers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        guard !configuration.choices.isEmpty else { return "original" }
        return configuration.choices.keys.sorted().map { name in
            let index = configuration.choices[name]!
            guard let options = byName[name]?.options, options.indices.contains(index) else { return "\(name)=#\(index)" }
            return "\(name)=" + options[index].rank.map(String.init).joined(separator: ",")
        }.joined(separator: " ")
    }

    /// The whole-model cost with every layer kept.
    public var originalCost: LayerCost { cost(of: .original) }

    /// Original cost ÷ candidate cost under `objective` (≥ 1 means smaller).
    public func reduction(of configuration: Configuration, _ objective: CostObjective) -> Double {
        Double(originalCost[objective]) / Double(max(cost(of: configuration)[objective], 1))
    }
}

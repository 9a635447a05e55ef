import Foundation
import ShrinkGraph
import ShrinkTensor

/// One user choice: factorise `layer` with `method` at `rank`.
public struct LayerChoice: Sendable, Hashable, CustomStringConvertible {
    /// The layer's name.
    public var layer: String
    /// The method.
    public var method: MethodName
    /// The rank, as asked for (ignored for `keep`).
    public var rank: RankSpec

    /// A choice.
    public init(layer: String, method: MethodName, rank: RankSpec) {
        self.layer = layer
        self.method = method
        self.rank = rank
    }

    /// Parses `NAME=METHOD:RANK` (`conv2=cp:16`, `conv2=tucker2:16,8`, `fc1=svd:0.25`,
    /// `fc1=svd:e0.95`, `conv1=keep`).
    public init(parsing text: String) throws(DecompositionError) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw DecompositionError(.invalidInput, layer: nil, "expected NAME=METHOD:RANK, got '\(text)'",
                                     hint: "for example conv2=cp:16 or fc1=svd:0.25")
        }
        let name = String(text[..<eq]).trimmingCharacters(in: .whitespaces)
        let rest = text[text.index(after: eq)...]
        let methodText = rest.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        let method: MethodName
        do {
            method = try MethodName(parsing: methodText)
        } catch {
            var e = error
            e.layer = name
            throw e
        }
        let rankText = rest.firstIndex(of: ":").map { String(rest[rest.index(after: $0)...]) } ?? ""
        var rank = RankSpec.exact(.none)
        if method != .keep {
            guard !rankText.isEmpty else {
                throw DecompositionError(.invalidRank, layer: name, "\(method) needs a rank: \(name)=\(method):RANK",
                                         hint: method == .tucker2 ? "tucker2 takes Rout,Rin, e.g. 16,8" : "e.g. 16, 0.25 or e0.95")
            }
            do {
                rank = try RankSpec(parsing: rankText)
            } catch {
                var e = error
                e.layer = name
                throw e
            }
        }
        self.init(layer: name, method: method, rank: rank)
    }

    /// `NAME=METHOD:RANK`.
    public var description: String { method == .keep ? "\(layer)=keep" : "\(layer)=\(method):\(rank)" }
}

/// A model with some layers factorised.
public struct DecomposedModel: Sendable {
    /// The rewritten graph.
    public var graph: Graph
    /// One entry per choice, in the order given.
    public var layers: [LayerDecomposition]
    /// How each layer's rank was resolved, by layer name.
    public var resolutions: [String: RankResolution]
    /// Whole-model cost before: the layer table's model parameters (every float initializer
    /// read) and total MACs (every Conv, Gemm and MatMul).
    public var before: LayerCost
    /// Whole-model cost after, computed from the stages' exact costs (the rewritten graph's
    /// layer table agrees; the tests check it).
    public var after: LayerCost
    /// All warnings (rank resolution and factorisation), in order.
    public var warnings: [String]
}

/// The whole-model entry point: resolve ranks, factorise, rewrite.
public enum ModelDecomposer {
    /// Applies `choices` to `graph`.
    ///
    /// - `inputShapes`: shapes for graph inputs that are symbolic beyond the batch (passed to
    ///   shape inference); usually empty.
    /// - `statistics`: activation statistics by layer name, from running the *original* model
    ///   on calibration data. With `fitToActivations` the layers that have statistics are
    ///   fitted to them; either way they are used to report output errors.
    public static func decompose(_ graph: Graph, choices: [LayerChoice], inputShapes: [String: [Int]] = [:],
                                 statistics: [String: ActivationStatistics] = [:], fitToActivations: Bool = false,
                                 options: FitOptions = FitOptions(), objective: CostObjective = .params,
                                 rounding: RankRounding = .none) throws(DecompositionError) -> DecomposedModel {
        var seen = Set<String>()
        for c in choices where !seen.insert(c.layer).inserted {
            throw DecompositionError(.invalidInput, layer: c.layer, "the layer is chosen twice")
        }
        let table = try GraphLayers.table(of: graph, inputShapes: inputShapes)
        let refs = GraphLayers.references(in: graph, table: table)
        let before = LayerCost(params: table.modelParams, macs: table.totalMACs)
        var layers: [LayerDecomposition] = []
        var resolutions: [String: RankResolution] = [:]
        var warnings: [String] = []
        var after = before
        for choice in choices {
            let layer = try GraphLayers.descriptor(try GraphLayers.reference(named: choice.layer, in: refs), in: graph)
            let method = choice.method.method
            let resolution = try RankArithmetic.resolve(choice.rank, method: method, layer: layer,
                                                        objective: objective, rounding: rounding)
            resolutions[choice.layer] = resolution
            warnings += resolution.warnings
            var fit = options
            let stats = statistics[choice.layer]
            fit.target = fitToActivations ? stats.map { .activations($0) } ?? .weights : .weights
            if fitToActivations && stats == nil && choice.method != .keep {
                warnings.append("\(choice.layer): no activation statistics; fitted to the weights only")
            }
            let d = try Decomposer.decompose(layer, method: choice.method, rank: resolution.rank, options: fit, measure: stats)
            // Growth was already reported by the rank resolution, which saw the same costs.
            after = after - d.original + d.cost
            layers.append(d)
        }
        var out = graph
        try GraphRewriter.apply(layers, to: &out, inputShapes: inputShapes)
        return DecomposedModel(graph: out, layers: layers, resolutions: resolutions, before: before, after: after,
                               warnings: warnings)
    }
}

extension ModelDecomposer {
    /// Applies `choices` layer by layer in model order, fitting each to the original model's
    /// outputs from the inputs the model compressed so far gives it (asymmetric reconstruction,
    /// see `AsymmetricStatistics`), so the errors of earlier layers are corrected, not accumulated.
    ///
    /// `collect(partial, layer)` returns the layer's statistics: it runs the original graph and
    /// `partial` (the original with every earlier choice applied) on the same calibration data
    /// and accumulates the layer's inputs from both — this module does not run models.
    public static func decomposeSequentially(
        _ graph: Graph, choices: [LayerChoice], inputShapes: [String: [Int]] = [:], options: FitOptions = FitOptions(),
        objective: CostObjective = .params, rounding: RankRounding = .none,
        collect: (_ partial: Graph, _ layer: LayerDescriptor) throws -> AsymmetricStatistics
    ) throws -> DecomposedModel {
        var seen = Set<String>()
        for c in choices where !seen.insert(c.layer).inserted {
            throw DecompositionError(.invalidInput, layer: c.layer, "the layer is chosen twice")
        }
        let table = try GraphLayers.table(of: graph, inputShapes: inputShapes)
        let refs = GraphLayers.references(in: graph, table: table)
        let order = Dictionary(uniqueKeysWithValues: table.layers.enumerated().map { ($0.element.name, $0.offset) })
        let sorted = choices.sorted { (order[$0.layer] ?? .max, $0.layer) < (order[$1.layer] ?? .max, $1.layer) }
        let before = LayerCost(params: table.modelParams, macs: table.totalMACs)
        var done: [String: LayerDecomposition] = [:]
        var applied: [LayerDecomposition] = []
        var resolutions: [String: RankResolution] = [:]
        var warnings: [String] = []
        var after = before
        for choice in sorted {
            let layer = try GraphLayers.descriptor(try GraphLayers.reference(named: choice.layer, in: refs), in: graph)
            let resolution = try RankArithmetic.resolve(choice.rank, method: choice.method.method, layer: layer,
                                                        objective: objective, rounding: rounding)
            resolutions[choice.layer] = resolution
            warnings += resolution.warnings
            let d: LayerDecomposition
            if choice.method == .keep {
                d = try Decomposer.decompose(layer, method: .keep, rank: resolution.rank, options: options)
            } else {
                var partial = graph
                try GraphRewriter.apply(applied, to: &partial, inputShapes: inputShapes)
                let stats = try collect(partial, layer)
                d = try Decomposer.decompose(layer, method: choice.method, rank: resolution.rank, options: options, sequential: stats)
                applied.append(d)
            }
            after = after - d.original + d.cost
            done[choice.layer] = d
        }
        var out = graph
        try GraphRewriter.apply(applied, to: &out, inputShapes: inputShapes)
        return DecomposedModel(graph: out, layers: choices.map { done[$0.layer]! }, resolutions: resolutions, before: before,
                               after: after, warnings: warnings)
    }
}

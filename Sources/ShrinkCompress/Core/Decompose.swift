import ShrinkTensor

/// One layer factorised: the stages to emit and everything a report says about them.
public struct LayerDecomposition: Sendable {
    /// The layer's name.
    public var layer: String
    /// The method used.
    public var method: MethodName
    /// The rank used (`.none` for keep).
    public var rank: Rank
    /// The stages with weights, in execution order.
    public var stages: [Stage]
    /// The kernel the stages realise, in the layer's canonical layout.
    public var approximation: Tensor
    /// The layer's cost before.
    public var original: LayerCost
    /// The stages' exact cost.
    public var cost: LayerCost
    /// ‖W − Ŵ‖_F / ‖W‖_F.
    public var relativeWeightError: Double
    /// ‖(W − Ŵ)X‖_F / ‖WX‖_F on the statistics it was measured on, bias excluded.
    public var relativeOutputError: Double?
    /// Solver notes (sweeps, skipped refinements).
    public var notes: [String]
    /// Warnings (the layer grows).
    public var warnings: [String]
}

/// The entry points that turn (layer, method, rank, fit) into stages.
public enum Decomposer {
    /// Factorises `layer` with `method` at `rank`, fitted as `options` says.
    ///
    /// Output errors are measured on `measure` when given, else on the fit's own activation
    /// statistics (so a weight-only fit can still be scored on data). A rank at which the
    /// layer does not save params or MACs is honoured but produces a warning.
    public static func decompose(_ layer: LayerDescriptor, method: MethodName, rank: Rank,
                                 options: FitOptions = .weights,
                                 measure: ActivationStatistics? = nil) throws(DecompositionError) -> LayerDecomposition {
        let m = method.method
        try m.check(layer)
        try m.validate(rank: rank, for: layer)
        let f = try m.factorize(layer, rank: rank, options: options)
        let cost = f.stages.map(\.shape).cost
        let original = layer.cost
        var warnings: [String] = []
        if method != .keep {
            for o in CostObjective.allCases where cost[o] >= original[o] {
                warnings.append("\(layer.name): \(method) rank \(rank) does not save \(o) (\(original[o]) → \(cost[o]))")
            }
        }
        let weightError = Mat.relativeError(layer.weight, f.approximation)
        var outputError: Double?
        if let stats = measure ?? options.statistics {
            outputError = try stats.relativeOutputError(weight: layer.weight, approximation: f.approximation, layer: layer.name)
        }
        return LayerDecomposition(layer: layer.name, method: method, rank: rank, stages: f.stages,
                                  approximation: f.approximation, original: original, cost: cost,
                                  relativeWeightError: weightError, relativeOutputError: outputError,
                                  notes: f.notes, warnings: warnings)
    }
}

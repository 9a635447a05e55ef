import ShrinkTensor

extension LayerDecomposition {
    /// Rebuilds a decomposition from its parts, e.g. stage weights read back from a cache.
    public init(restoring layer: String, method: MethodName, rank: Rank, stages: [Stage], approximation: Tensor,
                original: LayerCost, cost: LayerCost, relativeWeightError: Double, relativeOutputError: Double?,
                notes: [String], warnings: [String]) {
        self.layer = layer
        self.method = method
        self.rank = rank
        self.stages = stages
        self.approximation = approximation
        self.original = original
        self.cost = cost
        self.relativeWeightError = relativeWeightError
        self.relativeOutputError = relativeOutputError
        self.notes = notes
        self.warnings = warnings
    }
}

import ShrinkTensor

/// A decomposition in the form it is stored and shipped: a record (method, rank, fit, costs,
/// errors, notes) that encodes as JSON, and the factors as named arrays (`stage<i>.weight`,
/// `stage<i>.bias`, as an `.npz` holds them), so a cached decomposition can be applied again
/// without recomputing it.
public struct StoredDecomposition: Sendable {
    /// What the decomposition is and what it cost.
    public struct Record: Sendable, Hashable, Codable {
        /// The layer.
        public var layer: String
        /// The method.
        public var method: MethodName
        /// The rank's components.
        public var rank: [Int]
        /// What the factors were fitted to.
        public var fit: FitTarget
        /// The layer's cost before and after.
        public var before: LayerCost, after: LayerCost
        /// ‖W − Ŵ‖_F / ‖W‖_F, and the output error on calibration data when measured.
        public var relativeWeightError: Double, relativeOutputError: Double?
        /// Warnings and solver notes.
        public var warnings: [String], notes: [String]
    }

    /// What factors were fitted to.
    public enum FitTarget: String, Sendable, Hashable, Codable {
        /// The layer's weights.
        case weights
        /// The layer's output on calibration activations.
        case activations
        /// The original model's output from the compressed upstream's inputs (refitted in sequence).
        case sequential
    }

    /// The record.
    public var record: Record
    /// `stage<i>.weight` and `stage<i>.bias` for each stage.
    public var factors: [String: NumPyArray]

    /// The stored form of `d`; `warnings` and `notes` add to the decomposition's own.
    public init(_ d: LayerDecomposition, fit: FitTarget, warnings: [String] = [], notes: [String] = []) {
        var factors: [String: NumPyArray] = [:]
        for (i, s) in d.stages.enumerated() {
            factors["stage\(i).weight"] = NumPyArray(s.weight)
            if let b = s.bias { factors["stage\(i).bias"] = NumPyArray(b) }
        }
        self.factors = factors
        record = Record(layer: d.layer, method: d.method, rank: d.rank.values, fit: fit, before: d.original, after: d.cost,
                        relativeWeightError: d.relativeWeightError, relativeOutputError: d.relativeOutputError,
                        warnings: warnings + d.warnings, notes: notes + d.notes)
    }

    /// A stored decomposition read back.
    public init(record: Record, factors: [String: NumPyArray]) {
        self.record = record
        self.factors = factors
    }

    /// The decomposition, rebuilt for `layer` (the layer as it is in the model it is applied to);
    /// nil for `keep`. Throws when the factors do not have the shapes the method and rank give.
    public func restore(for layer: LayerDescriptor) throws(DecompositionError) -> LayerDecomposition? {
        let method = record.method
        if method == .keep { return nil }
        let shapes = method.method.stageShapes(for: layer, rank: Rank(record.rank))
        var stages: [Stage] = []
        for (i, shape) in shapes.enumerated() {
            guard let w = factors["stage\(i).weight"] else {
                throw DecompositionError(.invalidInput, layer: record.layer, "the stored factors lack stage \(i)",
                                         hint: "run `shrink cache verify`")
            }
            guard w.shape == shape.weightShape else {
                throw DecompositionError(.invalidInput, layer: record.layer,
                                         "the stored factors have stage \(i) shaped \(w.shape), expected \(shape.weightShape)",
                                         hint: "run `shrink cache verify`")
            }
            stages.append(Stage(shape: shape, weight: w.tensor(), bias: factors["stage\(i).bias"]?.tensor()))
        }
        return LayerDecomposition(
            restoring: record.layer, method: method, rank: Rank(record.rank), stages: stages, approximation: Tensor(zeros: [0]),
            original: record.before, cost: record.after, relativeWeightError: record.relativeWeightError,
            relativeOutputError: record.relativeOutputError, notes: record.notes, warnings: record.warnings)
    }
}

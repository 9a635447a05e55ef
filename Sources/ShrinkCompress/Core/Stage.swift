import ShrinkTensor

/// The operator and attributes of one emitted stage.
public enum StageKind: Sendable, Hashable {
    /// A `Conv` with this geometry (its `group` included).
    case conv(ConvGeometry)
    /// A `Gemm` with `transB = 1`: weight stored out×in.
    case gemm
    /// A `MatMul` with the weight on the right: weight stored in×out.
    case matMul
}

/// The shape of one stage of a factorised layer — everything its cost depends on, no weights.
///
/// Methods describe their output as a list of these first, so rank arithmetic can price a
/// rank without factorising anything, and the very same values are later filled with weights.
public struct StageShape: Sendable, Hashable {
    /// The stage's suffix in names: stage `k` of layer `conv2` is `conv2.k`.
    public var suffix: String
    /// Operator and geometry.
    public var kind: StageKind
    /// Input channels (features).
    public var inChannels: Int
    /// Output channels (features).
    public var outChannels: Int
    /// Spatial size of the stage's input (convolutions only).
    public var inputSpatial: [Int]
    /// Input rows per sample (dense stages only).
    public var rowsPerSample: Int
    /// Whether the stage carries the layer's bias.
    public var hasBias: Bool
    /// Element count of that bias (a Gemm's C may be stored broadcast, e.g. 1×M).
    public var biasCount: Int

    /// A stage; `biasCount` defaults to `outChannels` when `hasBias`.
    public init(suffix: String, kind: StageKind, inChannels: Int, outChannels: Int, inputSpatial: [Int] = [],
                rowsPerSample: Int = 1, hasBias: Bool = false, biasCount: Int? = nil) {
        self.suffix = suffix
        self.kind = kind
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.inputSpatial = inputSpatial
        self.rowsPerSample = rowsPerSample
        self.hasBias = hasBias
        self.biasCount = hasBias ? (biasCount ?? outChannels) : 0
    }

    /// The convolution geometry, if this is a conv stage.
    public var geometry: ConvGeometry? {
        if case .conv(let g) = kind { return g }
        return nil
    }

    /// Output spatial size (convolutions), empty otherwise.
    public var outputSpatial: [Int] { geometry.map { $0.outputSpatial(for: inputSpatial) } ?? [] }

    /// The shape of the weight this stage stores, in ONNX layout.
    public var weightShape: [Int] {
        switch kind {
        case .conv(let g): [outChannels, inChannels / g.group] + g.kernel
        case .gemm: [outChannels, inChannels]
        case .matMul: [inChannels, outChannels]
        }
    }

    /// Exact parameters and MACs per sample of this stage.
    public var cost: LayerCost {
        let weights = weightShape.reduce(1, *)
        let positions: Int
        switch kind {
        case .conv: positions = outputSpatial.reduce(1, *)
        case .gemm, .matMul: positions = rowsPerSample
        }
        return LayerCost(params: weights + biasCount, macs: weights * positions)
    }

    /// The closest equivalent of the next stage's input: this stage's output size.
    func next(suffix: String, kind: StageKind, outChannels: Int, hasBias: Bool = false, biasCount: Int? = nil) -> StageShape {
        StageShape(suffix: suffix, kind: kind, inChannels: self.outChannels, outChannels: outChannels,
                   inputSpatial: outputSpatial, rowsPerSample: rowsPerSample, hasBias: hasBias, biasCount: biasCount)
    }
}

extension Array where Element == StageShape {
    /// The summed cost of the stages.
    public var cost: LayerCost { map(\.cost).total() }
}

/// One stage with its weights, ready to become a graph node.
public struct Stage: Sendable {
    /// Operator, sizes and name suffix.
    public var shape: StageShape
    /// The weight in ONNX layout (`shape.weightShape`).
    public var weight: Tensor
    /// The bias (only on the stage that carries the layer's bias).
    public var bias: Tensor?

    /// A stage; the weight's shape must be `shape.weightShape`.
    public init(shape: StageShape, weight: Tensor, bias: Tensor? = nil) {
        precondition(weight.shape == shape.weightShape,
                     "internal: stage \(shape.suffix) weight \(weight.shape) ≠ \(shape.weightShape)")
        self.shape = shape
        self.weight = weight
        self.bias = bias
    }
}

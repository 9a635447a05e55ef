import ShrinkTensor

/// `svd`: W (M×N) ≈ U_R·V_R, run as two layers N→R (no bias) and R→M (the original bias).
///
/// Applies to Gemm, MatMul with the weight on the right, and 1×1 group-1 convolutions (whose
/// first stage keeps the original stride and padding). Cost R(M+N) (+ bias) against MN.
public struct SVDMethod: DecompositionMethod {
    /// Creates the method.
    public init() {}

    /// `svd`.
    public var name: MethodName { .svd }
    /// One rank.
    public var rankArity: Int { 1 }

    /// Dense layers and pointwise group-1 convolutions with at least two inputs and outputs.
    public func check(_ layer: LayerDescriptor) throws(DecompositionError) {
        try layer.validate()
        if let conv = layer.conv {
            guard conv.isPointwise else {
                throw DecompositionError(.notApplicable, layer: layer.name,
                                         "svd applies to Gemm, MatMul and 1×1 convolutions, not "
                                         + (conv.kernel.count == 1 ? "a 1-D kernel of size \(conv.kernel[0])"
                                            : "a \(conv.kernel.map(String.init).joined(separator: "×")) kernel"),
                                         hint: "use tucker2, cp, cp4 or spatial-svd")
            }
            guard conv.group == 1 else {
                throw DecompositionError(.unsupported, layer: layer.name,
                                         "svd needs a group-1 convolution, this one has group \(conv.group)")
            }
        }
        guard min(layer.outputs, layer.inputs) > 1 else {
            throw DecompositionError(.notApplicable, layer: layer.name,
                                     "svd needs more than one input and output to save anything "
                                     + "(the weight is \(layer.outputs)×\(layer.inputs))")
        }
    }

    /// min(M, N).
    public func fullRank(of layer: LayerDescriptor) -> Rank { Rank(min(layer.outputs, layer.inputs)) }

    /// N→R then R→M, as Gemm, MatMul or 1×1 Conv like the original.
    public func stageShapes(for layer: LayerDescriptor, rank: Rank) -> [StageShape] {
        let r = rank.primary
        let original = layer.originalStage
        let first: StageShape
        let secondKind: StageKind
        switch original.kind {
        case .conv(let g):
            first = StageShape(suffix: "0", kind: .conv(g), inChannels: layer.inputs, outChannels: r,
                               inputSpatial: layer.inputSpatial)
            secondKind = .conv(.pointwise(spatialRank: g.spatialRank))
        case .gemm, .matMul:
            first = StageShape(suffix: "0", kind: original.kind, inChannels: layer.inputs, outChannels: r,
                               rowsPerSample: layer.rowsPerSample)
            secondKind = original.kind
        }
        return [first, first.next(suffix: "1", kind: secondKind, outChannels: layer.outputs,
                                  hasBias: layer.bias != nil, biasCount: layer.bias?.count)]
    }

    /// The singular values of W (M×N; for a 1×1 conv, T×S).
    public func spectra(of layer: LayerDescriptor) throws(DecompositionError) -> [[Float]] {
        let w = layer.weightMatrix
        return [try numerics(layer.name) { () throws(LinearAlgebraError) in try w.singularValues() }]
    }

    /// Truncated SVD of W, or of W·L with C = LLᵀ when fitting to activations.
    public func factorize(_ layer: LayerDescriptor, rank: Rank, options: FitOptions) throws(DecompositionError) -> Factorization {
        try check(layer)
        try validate(rank: rank, for: layer)
        let w = layer.weightMatrix
        let pair: LowRankPair
        if let stats = options.statistics {
            guard stats.dimension == w.shape[1] else {
                throw DecompositionError(.invalidInput, layer: layer.name,
                                         "activation statistics have \(stats.dimension) inputs, the layer \(w.shape[1])")
            }
            pair = try LowRankPair.whitened(w, covariance: stats.regularized(options.regularization),
                                            rank: rank.primary, layer: layer.name)
        } else {
            pair = try LowRankPair.weightOnly(w, rank: rank.primary, layer: layer.name)
        }
        let shapes = stageShapes(for: layer, rank: rank)
        let stages = [
            Stage(shape: shapes[0], weight: StageWeights.layout(pair.right, for: shapes[0])),
            Stage(shape: shapes[1], weight: StageWeights.layout(pair.left, for: shapes[1]), bias: layer.bias),
        ]
        return Factorization(stages: stages, approximation: try pair.product(layer: layer.name).reshaped(layer.weight.shape))
    }
}

/// Puts an out×in matrix into a stage's ONNX weight layout.
enum StageWeights {
    /// out×in → [out, in] (Gemm, transB = 1), [in, out] (MatMul) or [out, in, 1, …] (Conv).
    static func layout(_ outByIn: Tensor, for shape: StageShape) -> Tensor {
        switch shape.kind {
        case .gemm: outByIn
        case .matMul: outByIn.transposed()
        case .conv: outByIn.reshaped(shape.weightShape)
        }
    }
}

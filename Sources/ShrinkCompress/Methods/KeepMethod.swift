import ShrinkTensor

/// `keep`: the layer stays as it is. Exists so pipelines can name it like any other method.
public struct KeepMethod: DecompositionMethod {
    /// Creates the method.
    public init() {}

    /// `keep`.
    public var name: MethodName { .keep }
    /// No rank.
    public var rankArity: Int { 0 }

    /// Applies to every layer.
    public func check(_ layer: LayerDescriptor) throws(DecompositionError) {}

    /// No rank.
    public func fullRank(of layer: LayerDescriptor) -> Rank { .none }

    /// The layer itself.
    public func stageShapes(for layer: LayerDescriptor, rank: Rank) -> [StageShape] { [layer.originalStage] }

    /// No spectra.
    public func spectra(of layer: LayerDescriptor) throws(DecompositionError) -> [[Float]] { [] }

    /// The original weight as a single stage; the graph rewrite leaves the node untouched.
    public func factorize(_ layer: LayerDescriptor, rank: Rank, options: FitOptions) throws(DecompositionError) -> Factorization {
        let shape = layer.originalStage
        let weight: Tensor = switch shape.kind {
        case .conv: layer.weight
        case .gemm: layer.weight
        case .matMul: layer.weight.transposed()
        }
        return Factorization(stages: [Stage(shape: shape, weight: weight, bias: layer.bias)], approximation: layer.weight)
    }
}

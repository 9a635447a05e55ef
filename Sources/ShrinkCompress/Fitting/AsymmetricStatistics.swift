import ShrinkTensor

/// What sequential (asymmetric) data-aware fitting needs of a layer: its input vectors as the
/// original model computes them (x) and as the model with the layers before it already
/// compressed computes them (x̂), on the same calibration samples.
///
/// Zhang et al. ("Accelerating Very Deep Convolutional Networks for Classification and
/// Detection", 2015) fit each layer to reproduce the *original* outputs W·x from the
/// *compressed* inputs x̂, so the errors of earlier layers are corrected instead of accumulated:
/// minimise Σ‖W x − Ŵ x̂‖² + λ·m·‖W − Ŵ‖² over factorised Ŵ (m = mean diag of Σ x̂x̂ᵀ; the
/// ridge pulls toward the original weight, so with x̂ = x this is the independent fit). With
/// R = Σ x̂x̂ᵀ + λ·m·I and W′ = W·(Σ x x̂ᵀ + λ·m·I)·R⁻¹ the objective equals
/// tr((W′ − Ŵ) R (W′ − Ŵ)ᵀ) + constant, so every method's data-weighted fit, given W′ as the
/// target and R as the statistics, solves the asymmetric problem exactly.
public struct AsymmetricStatistics: Sendable {
    /// Σ x̂x̂ᵀ: the compressed model's inputs to the layer.
    public private(set) var compressed: ActivationStatistics
    /// Σ xxᵀ: the original model's (for measuring the error against the original outputs).
    public private(set) var original: ActivationStatistics
    /// Σ x x̂ᵀ, P×P (rows: original, columns: compressed).
    public private(set) var cross: Tensor

    /// Empty statistics for vectors of `dimension` values.
    public init(dimension: Int) {
        compressed = ActivationStatistics(dimension: dimension)
        original = ActivationStatistics(dimension: dimension)
        cross = Tensor(zeros: [dimension, dimension])
    }

    /// The length P of the input vectors.
    public var dimension: Int { cross.shape[0] }

    /// Adds n matching input vectors, n×P each (row i of both from the same sample and position).
    public mutating func add(originalRows x: Tensor, compressedRows h: Tensor) throws(DecompositionError) {
        guard x.shape == h.shape else {
            throw DecompositionError(.invalidInput, layer: nil, "original rows \(x.shape) and compressed rows \(h.shape) differ")
        }
        try original.add(rows: x)
        try compressed.add(rows: h)
        try numerics("activations") { () throws(LinearAlgebraError) in
            try BLAS.gemm(x, transposeA: true, h, beta: 1, into: &cross)
        }
    }

    /// Adds one batch of the layer's input activations from both models (dense layers: any
    /// tensor ending in the layer's N inputs; convolutions: [batch, S, H, W] feature maps, whose
    /// patches are taken here with the layer's geometry).
    public mutating func add(originalInput x: Tensor, compressedInput h: Tensor, of layer: LayerDescriptor) throws(DecompositionError) {
        guard x.shape == h.shape else {
            throw DecompositionError(.invalidInput, layer: layer.name, "original input \(x.shape) and compressed input \(h.shape) differ")
        }
        guard let conv = layer.conv else {
            guard x.rank >= 1, x.shape.last == layer.inputs else {
                throw DecompositionError(.invalidInput, layer: layer.name, "input activations \(x.shape) do not end in \(layer.inputs) features")
            }
            try add(originalRows: x.reshaped([-1, layer.inputs]), compressedRows: h.reshaped([-1, layer.inputs]))
            return
        }
        guard x.rank == conv.spatialRank + 2, x.shape[1] == layer.inputs, Array(x.shape.dropFirst(2)) == layer.inputSpatial else {
            throw DecompositionError(.invalidInput, layer: layer.name, "input activations \(x.shape) do not fit the layer")
        }
        guard conv.group == 1 else {
            throw DecompositionError(.unsupported, layer: layer.name, "activation statistics need a group-1 convolution")
        }
        let batch = x.shape[0], perSample = x.count / max(batch, 1)
        let chunk = max(1, 1 << 16 / max(layer.outputSpatial.reduce(1, *), 1))
        var start = 0
        while start < batch {
            let end = min(batch, start + chunk)
            let shape = [end - start] + Array(x.shape.dropFirst())
            let range = (start * perSample)..<(end * perSample)
            let px = Im2col.patches(Tensor(shape: shape, scalars: Array(x.scalars[range])), geometry: conv, inputSpatial: layer.inputSpatial)
            let ph = Im2col.patches(Tensor(shape: shape, scalars: Array(h.scalars[range])), geometry: conv, inputSpatial: layer.inputSpatial)
            try add(originalRows: px, compressedRows: ph)
            start = end
        }
    }

    /// W′ = W·(Σ x x̂ᵀ + λ·m·I)·(Σ x̂x̂ᵀ + λ·m·I)⁻¹ for W as T×P (any shape with T first): the
    /// weight the asymmetric fit approximates, in W's shape.
    public func correctedWeight(_ weight: Tensor, regularization lambda: Float, layer: String) throws(DecompositionError) -> Tensor {
        let w = weight.reshaped([weight.shape[0], -1])
        guard w.shape[1] == dimension else {
            throw DecompositionError(.invalidInput, layer: layer, "weight \(weight.shape) does not fit activation vectors of \(dimension)")
        }
        let mean = Mat.meanDiagonal(compressed.gram)
        let shift = lambda * (mean > 0 ? mean : 1)
        let r = Mat.shiftedDiagonal(compressed.gram, by: shift)
        // Rᵀ = R, so W′ᵀ = R⁻¹ (Σ x̂xᵀ + shift·I) Wᵀ.
        let rhs = try Mat.mul(Mat.shiftedDiagonal(cross.transposed(), by: shift), w, tb: true, layer: layer)   // P×T
        let solved = try numerics(layer) { () throws(LinearAlgebraError) in try r.solveSymmetricPSD(rhs) }
        return solved.transposed().reshaped(weight.shape)
    }

    /// ‖W x − Ŵ x̂‖ / ‖W x‖ over the calibration vectors (bias excluded): how far the layer's
    /// outputs on the compressed model's inputs are from the original's.
    public func relativeOutputError(weight: Tensor, approximation: Tensor, layer: String) throws(DecompositionError) -> Double {
        let w = weight.reshaped([weight.shape[0], -1]), a = approximation.reshaped([weight.shape[0], -1])
        guard w.shape[1] == dimension, a.shape == w.shape else {
            throw DecompositionError(.invalidInput, layer: layer, "weight \(weight.shape) does not fit activation vectors of \(dimension)")
        }
        let wx = Mat.dot(try Mat.mul(w, original.gram, layer: layer), w)
        let cross = Mat.dot(try Mat.mul(w, self.cross, layer: layer), a)
        let hh = Mat.dot(try Mat.mul(a, compressed.gram, layer: layer), a)
        return wx > 0 ? (max(wx - 2 * cross + hh, 0) / wx).squareRoot() : 0
    }
}

extension Decomposer {
    /// Factorises `layer` with `method` at `rank` fitted to the original outputs from the
    /// compressed upstream's inputs (see `AsymmetricStatistics`). The weight error is against the
    /// original weight; the output error is ‖W x − Ŵ x̂‖ / ‖W x‖.
    public static func decompose(_ layer: LayerDescriptor, method: MethodName, rank: Rank, options: FitOptions = .weights,
                                 sequential stats: AsymmetricStatistics) throws(DecompositionError) -> LayerDecomposition {
        if method == .keep { return try decompose(layer, method: method, rank: rank, options: options) }
        var target = layer
        target.weight = try stats.correctedWeight(layer.weight, regularization: options.regularization, layer: layer.name)
        var fit = options
        fit.target = .activations(stats.compressed)
        var d = try decompose(target, method: method, rank: rank, options: fit)
        d.relativeWeightError = Mat.relativeError(layer.weight, d.approximation)
        d.relativeOutputError = try stats.relativeOutputError(weight: layer.weight, approximation: d.approximation, layer: layer.name)
        d.notes.append("fitted in sequence: to the original outputs from the inputs of the model compressed up to this layer")
        return d
    }
}

import ShrinkTensor

/// The second moment of a layer's input vectors on calibration data: G = Σₙ xₙxₙᵀ.
///
/// Everything data-aware fitting needs is in G: for any weight estimate Ŵ the squared output
/// error on the calibration set is ‖(W − Ŵ)X‖² = tr((W − Ŵ) G (W − Ŵ)ᵀ). An input vector is a
/// row of a dense layer's input (N values) or one im2col patch of a convolution (S·k₁·k₂
/// values, ordered channel, then kernel row, then kernel column — the layout of the layer's
/// T×(S·k₁·k₂) weight matrix). Zero padding is part of the patches, so the statistics are
/// exact for padded convolutions too.
public struct ActivationStatistics: Sendable {
    /// Σ xxᵀ, P×P.
    public private(set) var gram: Tensor
    /// How many vectors were accumulated (samples × output positions for convolutions).
    public private(set) var count: Int

    /// Empty statistics for vectors of `dimension` values.
    public init(dimension: Int) {
        gram = Tensor(zeros: [dimension, dimension])
        count = 0
    }

    /// Statistics from a precomputed second-moment matrix (e.g. one read back from a cache).
    public init(gram: Tensor, count: Int) throws(DecompositionError) {
        guard gram.rank == 2, gram.shape[0] == gram.shape[1] else {
            throw DecompositionError(.invalidInput, layer: nil, "a second-moment matrix must be square, got \(gram.shape)")
        }
        self.gram = gram
        self.count = count
    }

    /// The length P of the input vectors.
    public var dimension: Int { gram.shape[0] }

    /// Adds the rows of an n×P matrix (one input vector per row).
    public mutating func add(rows: Tensor) throws(DecompositionError) {
        guard rows.rank == 2, rows.shape[1] == dimension else {
            throw DecompositionError(.invalidInput, layer: nil,
                                     "activation rows of shape \(rows.shape) do not have \(dimension) columns")
        }
        if rows.shape[0] == 0 { return }
        try numerics("activations") { () throws(LinearAlgebraError) in
            try BLAS.gemm(rows, transposeA: true, rows, beta: 1, into: &gram)
        }
        count += rows.shape[0]
    }

    /// Adds one batch of the layer's input activations, as the original model computes them.
    ///
    /// Dense layers: any tensor whose last axis has N values (the rows of the Gemm's
    /// op(A); a MatMul's [batch, …, N] input). Convolutions: the [batch, S, H, W] (or
    /// [batch, S, L]) input feature maps; patches are extracted here with the layer's own
    /// stride, padding and dilation.
    public mutating func add(layerInput: Tensor, of layer: LayerDescriptor) throws(DecompositionError) {
        guard let conv = layer.conv else {
            guard layerInput.rank >= 1, layerInput.shape.last == layer.inputs else {
                throw DecompositionError(.invalidInput, layer: layer.name,
                                         "input activations \(layerInput.shape) do not end in \(layer.inputs) features")
            }
            try add(rows: layerInput.reshaped([-1, layer.inputs]))
            return
        }
        let n = conv.spatialRank
        guard layerInput.rank == n + 2, layerInput.shape[1] == layer.inputs,
              Array(layerInput.shape.dropFirst(2)) == layer.inputSpatial else {
            throw DecompositionError(.invalidInput, layer: layer.name,
                                     "input activations \(layerInput.shape) are not [batch, \(layer.inputs), "
                                     + "\(layer.inputSpatial.map(String.init).joined(separator: ", "))]")
        }
        guard conv.group == 1 else {
            throw DecompositionError(.unsupported, layer: layer.name, "activation statistics need a group-1 convolution")
        }
        // Bounded chunks keep the patch matrix small (it is k₁·k₂ times the activations).
        let batch = layerInput.shape[0]
        let perSample = layerInput.count / max(batch, 1)
        let patchRows = layer.outputSpatial.reduce(1, *)
        let chunk = max(1, 1 << 16 / max(patchRows, 1))
        var start = 0
        while start < batch {
            let end = min(batch, start + chunk)
            let slice = Tensor(shape: [end - start] + Array(layerInput.shape.dropFirst()),
                               scalars: Array(layerInput.scalars[(start * perSample)..<(end * perSample)]))
            try add(rows: Im2col.patches(slice, geometry: conv, inputSpatial: layer.inputSpatial))
            start = end
        }
    }

    /// G + λ·mean(diag G)·I: the regularised matrix the fits use. X Xᵀ is often singular
    /// (fewer samples than inputs, dead ReLUs, constant padding), and a shift relative to the
    /// mean diagonal keeps λ meaningful whatever the activation scale.
    public func regularized(_ lambda: Float) -> Tensor {
        let mean = Mat.meanDiagonal(gram)
        return Mat.shiftedDiagonal(gram, by: lambda * (mean > 0 ? mean : 1))
    }

    /// Relative output error on the calibration data, bias excluded (it is copied exactly):
    /// ‖(W − Ŵ)X‖_F / ‖WX‖_F = sqrt(tr(ΔGΔᵀ) / tr(WGWᵀ)), with W, Ŵ as out×P matrices.
    public func relativeOutputError(weight: Tensor, approximation: Tensor,
                                    layer: String) throws(DecompositionError) -> Double {
        let w = weight.reshaped([weight.shape[0], -1])
        let a = approximation.reshaped([w.shape[0], -1])
        guard w.shape[1] == dimension, a.shape == w.shape else {
            throw DecompositionError(.invalidInput, layer: layer,
                                     "weight \(weight.shape) does not fit activation vectors of \(dimension)")
        }
        let delta = Mat.difference(w, a)
        let num = Mat.dot(try Mat.mul(delta, gram, layer: layer), delta)
        let g = gram
        let den = try outputEnergyMemo.value(for: [w, g]) { () throws(DecompositionError) in
            Mat.dot(try Mat.mul(w, g, layer: layer), w)
        }
        return den > 0 ? (max(num, 0) / den).squareRoot() : 0
    }
}

/// tr(W G Wᵀ) of the last few (weight, statistics) pairs: half of each rank's error measurement
/// (a P×P GEMM), the same at every rank.
let outputEnergyMemo = ContentMemo<Double>(capacity: 4)

/// Patch extraction for convolutions (a copy, no arithmetic).
enum Im2col {
    /// Rows of S·k₁·k₂ patch values, one per (sample, output position), zero where the patch
    /// reaches into the padding. 1-D inputs are treated as height-1 images.
    static func patches(_ input: Tensor, geometry g: ConvGeometry, inputSpatial: [Int]) -> Tensor {
        let two = g.spatialRank == 2
        let (kh, kw) = two ? (g.kernel[0], g.kernel[1]) : (1, g.kernel[0])
        let (sh, sw) = two ? (g.strides[0], g.strides[1]) : (1, g.strides[0])
        let (dh, dw) = two ? (g.dilations[0], g.dilations[1]) : (1, g.dilations[0])
        let (pt, pl) = two ? (g.pads[0], g.pads[1]) : (0, g.pads[0])
        let (h, w) = two ? (inputSpatial[0], inputSpatial[1]) : (1, inputSpatial[0])
        let out = g.outputSpatial(for: inputSpatial)
        let (oh, ow) = two ? (out[0], out[1]) : (1, out[0])
        let batch = input.shape[0], channels = input.shape[1]
        let p = channels * kh * kw
        var rows = [Float](repeating: 0, count: batch * oh * ow * p)
        input.scalars.withUnsafeBufferPointer { x in
            rows.withUnsafeMutableBufferPointer { r in
                var row = 0
                for b in 0..<batch {
                    for y in 0..<oh {
                        for xo in 0..<ow {
                            let base = row * p
                            for c in 0..<channels {
                                let plane = (b * channels + c) * h * w
                                for i in 0..<kh {
                                    let iy = y * sh + i * dh - pt
                                    if iy < 0 || iy >= h { continue }
                                    for j in 0..<kw {
                                        let ix = xo * sw + j * dw - pl
                                        if ix < 0 || ix >= w { continue }
                                        r[base + (c * kh + i) * kw + j] = x[plane + iy * w + ix]
                                    }
                                }
                            }
                            row += 1
                        }
                    }
                }
            }
        }
        return Tensor(shape: [batch * oh * ow, p], scalars: rows)
    }
}

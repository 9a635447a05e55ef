import ShrinkTensor

/// `cp`: CP decomposition of the kernel seen as T × S × (kh·kw), run as 1×1 S→R, depthwise
/// kh×kw on R channels (original stride, padding, dilation), 1×1 R→T with the bias.
///
/// The three-stage form of the blog. Its first 1×1 runs at the input resolution, so its
/// MACs are R·S·H·W, not R·S·H′·W′.
public struct CPMethod: DecompositionMethod {
    /// Creates the method.
    public init() {}

    /// `cp`.
    public var name: MethodName { .cp }
    /// One rank.
    public var rankArity: Int { 1 }

    /// Group-1 1-D or 2-D convolutions with a spatial kernel and more than one input channel.
    public func check(_ layer: LayerDescriptor) throws(DecompositionError) {
        try ConvChecks.require(layer, method: name, spatialRanks: [1, 2], alternatives: "", needsInputChannels: true)
    }

    /// [T, S, kh·kw].
    func dims(_ layer: LayerDescriptor) -> [Int] {
        [layer.outputs, layer.inputs, layer.weight.count / max(layer.outputs * layer.inputs, 1)]
    }

    /// T·S·k / max(T, S, k) (see `CPKernelFit.fullRank`).
    public func fullRank(of layer: LayerDescriptor) -> Rank { Rank(CPKernelFit.fullRank(dims(layer))) }

    /// 1×1 S→R, depthwise kernel on R, 1×1 R→T.
    public func stageShapes(for layer: LayerDescriptor, rank: Rank) -> [StageShape] {
        let g = layer.conv ?? ConvGeometry(kernel: [1])
        let r = rank.primary
        let first = StageShape(suffix: "0", kind: .conv(.pointwise(spatialRank: g.spatialRank)),
                               inChannels: layer.inputs, outChannels: r, inputSpatial: layer.inputSpatial)
        let depthwise = first.next(suffix: "1", kind: .conv(g.withGroup(r)), outChannels: r)
        let last = depthwise.next(suffix: "2", kind: .conv(.pointwise(spatialRank: g.spatialRank)),
                                  outChannels: layer.outputs, hasBias: layer.bias != nil)
        return [first, depthwise, last]
    }

    /// Singular values of each mode unfolding of the T × S × k tensor (see `energyRank`).
    public func spectra(of layer: LayerDescriptor) throws(DecompositionError) -> [[Float]] {
        try CPSpectra.modeSpectra(layer.weight.reshaped(dims(layer)), layer: layer.name)
    }

    /// The largest per-mode energy rank: a CP model of rank R has every unfolding of rank
    /// ≤ R, so no smaller R can keep that energy in every mode.
    public func energyRank(of layer: LayerDescriptor, energy: Double) throws(DecompositionError) -> Rank {
        Rank(CPSpectra.energyRank(try spectra(of: layer), energy: energy))
    }

    /// CP-ALS (SVD initialisation), then data-weighted ALS with activations.
    public func factorize(_ layer: LayerDescriptor, rank: Rank, options: FitOptions) throws(DecompositionError) -> Factorization {
        try check(layer)
        try validate(rank: rank, for: layer)
        let r = rank.primary
        let (fit, notes) = try CPKernelFit.fit(kernel: layer.weight, dims: dims(layer), rank: r, options: options, layer: layer.name)
        let shapes = stageShapes(for: layer, rank: rank)
        let stages = [
            Stage(shape: shapes[0], weight: fit.inputs[0].transposed().reshaped(shapes[0].weightShape)),
            Stage(shape: shapes[1], weight: fit.inputs[1].transposed().reshaped(shapes[1].weightShape)),
            Stage(shape: shapes[2], weight: fit.out.reshaped(shapes[2].weightShape), bias: layer.bias),
        ]
        return Factorization(stages: stages, approximation: try fit.approximation(layer: layer.name).reshaped(layer.weight.shape),
                             notes: notes)
    }
}

/// `cp4`: CP decomposition of the 4-way T × S × kh × kw kernel (Lebedev et al. 2015, the
/// seed notebook's form), run as 1×1 S→R, depthwise kh×1, depthwise 1×kw, 1×1 R→T (bias).
///
/// The two depthwise stages split stride, padding and dilation per axis like `spatial-svd`.
public struct CP4Method: DecompositionMethod {
    /// Creates the method.
    public init() {}

    /// `cp4`.
    public var name: MethodName { .cp4 }
    /// One rank.
    public var rankArity: Int { 1 }

    /// Group-1 2-D convolutions with a spatial kernel and more than one input channel.
    public func check(_ layer: LayerDescriptor) throws(DecompositionError) {
        try ConvChecks.require(layer, method: name, spatialRanks: [2], alternatives: "use cp for 1-D kernels", needsInputChannels: true)
    }

    /// [T, S, kh, kw].
    func dims(_ layer: LayerDescriptor) -> [Int] { layer.weight.shape }

    /// T·S·kh·kw / max(T, S, kh, kw).
    public func fullRank(of layer: LayerDescriptor) -> Rank { Rank(CPKernelFit.fullRank(dims(layer))) }

    /// 1×1 S→R, depthwise kh×1, depthwise 1×kw, 1×1 R→T.
    public func stageShapes(for layer: LayerDescriptor, rank: Rank) -> [StageShape] {
        let g = layer.conv ?? ConvGeometry(kernel: [1, 1])
        let r = rank.primary
        let first = StageShape(suffix: "0", kind: .conv(.pointwise(spatialRank: 2)),
                               inChannels: layer.inputs, outChannels: r, inputSpatial: layer.inputSpatial)
        let vertical = first.next(suffix: "1", kind: .conv(g.restricted(toAxis: 0).withGroup(r)), outChannels: r)
        let horizontal = vertical.next(suffix: "2", kind: .conv(g.restricted(toAxis: 1).withGroup(r)), outChannels: r)
        let last = horizontal.next(suffix: "3", kind: .conv(.pointwise(spatialRank: 2)), outChannels: layer.outputs,
                                   hasBias: layer.bias != nil)
        return [first, vertical, horizontal, last]
    }

    /// Singular values of each mode unfolding of the 4-way kernel.
    public func spectra(of layer: LayerDescriptor) throws(DecompositionError) -> [[Float]] {
        try CPSpectra.modeSpectra(layer.weight, layer: layer.name)
    }

    /// The largest per-mode energy rank (as for `cp`).
    public func energyRank(of layer: LayerDescriptor, energy: Double) throws(DecompositionError) -> Rank {
        Rank(CPSpectra.energyRank(try spectra(of: layer), energy: energy))
    }

    /// CP-ALS (SVD initialisation), then data-weighted ALS with activations.
    public func factorize(_ layer: LayerDescriptor, rank: Rank, options: FitOptions) throws(DecompositionError) -> Factorization {
        try check(layer)
        try validate(rank: rank, for: layer)
        let (fit, notes) = try CPKernelFit.fit(kernel: layer.weight, dims: dims(layer), rank: rank.primary,
                                               options: options, layer: layer.name)
        let shapes = stageShapes(for: layer, rank: rank)
        let stages = [
            Stage(shape: shapes[0], weight: fit.inputs[0].transposed().reshaped(shapes[0].weightShape)),
            Stage(shape: shapes[1], weight: fit.inputs[1].transposed().reshaped(shapes[1].weightShape)),
            Stage(shape: shapes[2], weight: fit.inputs[2].transposed().reshaped(shapes[2].weightShape)),
            Stage(shape: shapes[3], weight: fit.out.reshaped(shapes[3].weightShape), bias: layer.bias),
        ]
        return Factorization(stages: stages, approximation: try fit.approximation(layer: layer.name).reshaped(layer.weight.shape),
                             notes: notes)
    }
}

/// Spectra for the CP energy rule.
enum CPSpectra {
    /// Singular values of every mode unfolding of `x`.
    static func modeSpectra(_ x: Tensor, layer: String) throws(DecompositionError) -> [[Float]] {
        try numerics(layer) { () throws(LinearAlgebraError) in
            var out: [[Float]] = []
            for m in 0..<x.rank { out.append(try x.unfolded(mode: m).singularValues()) }
            return out
        }
    }

    /// max over modes of the smallest rank keeping `energy` of Σσ² in that mode.
    static func energyRank(_ spectra: [[Float]], energy: Double) -> Int {
        spectra.map { RankArithmetic.energyRank($0, energy: energy) }.max() ?? 1
    }
}

import ShrinkTensor

/// `spatial-svd`: SVD of the kernel unfolded as (S·kh) × (T·kw), M[(s,i),(t,j)] = K[t,s,i,j],
/// run as a kh×1 conv S→R followed by a 1×kw conv R→T (with the bias).
///
/// Stride, padding and dilation are split per axis: the vertical stage takes the height
/// ones, the horizontal stage the width ones, so the output shape is unchanged.
///
/// Data-aware fitting whitens the row side of M with C_v, the second moment of the
/// S·kh-vectors the vertical stage reads, averaged over the kw horizontal taps:
/// C_v[(s,i),(s′,i′)] = (1/kw)·Σ_j C[(s,i,j),(s′,i′,j)]. The true objective also couples
/// different taps j ≠ j′ (neighbouring columns correlate), which no whitening of one side can
/// express, so the whitened SVD is only a start; alternating exact least-squares updates of
/// the horizontal and the vertical stage then minimise the true objective.
public struct SpatialSVDMethod: DecompositionMethod {
    /// Creates the method.
    public init() {}

    /// `spatial-svd`.
    public var name: MethodName { .spatialSVD }
    /// One rank.
    public var rankArity: Int { 1 }

    /// Group-1 2-D convolutions with a kernel larger than 1×1.
    public func check(_ layer: LayerDescriptor) throws(DecompositionError) {
        try ConvChecks.require(layer, method: name, spatialRanks: [2], alternatives: "use cp or tucker2 for 1-D kernels")
    }

    /// min(S·kh, T·kw).
    public func fullRank(of layer: LayerDescriptor) -> Rank {
        let k = layer.weight.shape
        return Rank(min(layer.inputs * k[2], layer.outputs * k[3]))
    }

    /// kh×1 S→R (height stride/pads/dilation), then 1×kw R→T (width ones), bias last.
    public func stageShapes(for layer: LayerDescriptor, rank: Rank) -> [StageShape] {
        let g = layer.conv ?? ConvGeometry(kernel: [1, 1])
        let first = StageShape(suffix: "0", kind: .conv(g.restricted(toAxis: 0)), inChannels: layer.inputs,
                               outChannels: rank.primary, inputSpatial: layer.inputSpatial)
        return [first, first.next(suffix: "1", kind: .conv(g.restricted(toAxis: 1)), outChannels: layer.outputs,
                                  hasBias: layer.bias != nil)]
    }

    /// Singular values of the (S·kh) × (T·kw) unfolding.
    public func spectra(of layer: LayerDescriptor) throws(DecompositionError) -> [[Float]] {
        let m = Self.unfolding(layer.weight)
        return [try numerics(layer.name) { () throws(LinearAlgebraError) in try m.singularValues() }]
    }

    /// M[(s,i),(t,j)] = K[t,s,i,j].
    static func unfolding(_ k: Tensor) -> Tensor {
        let (t, s, kh, kw) = (k.shape[0], k.shape[1], k.shape[2], k.shape[3])
        return k.permuted([1, 2, 0, 3]).reshaped([s * kh, t * kw])
    }

    /// Truncated SVD of the unfolding; with activations, whitened and then refined.
    public func factorize(_ layer: LayerDescriptor, rank: Rank, options: FitOptions) throws(DecompositionError) -> Factorization {
        try check(layer)
        try validate(rank: rank, for: layer)
        let name = layer.name
        let (t, s, kh, kw) = (layer.weight.shape[0], layer.weight.shape[1], layer.weight.shape[2], layer.weight.shape[3])
        let r = rank.primary
        let m = Self.unfolding(layer.weight)
        // vertical: R × (S·kh) (rows of the vertical stage); horizontal: T × (R·kw).
        var vertical: Tensor
        var horizontal: Tensor
        var notes: [String] = []
        if let stats = options.statistics {
            let c = stats.regularized(options.regularization)
            let cv = Self.verticalCovariance(c, rows: s * kh, kw: kw)
            // Mᵀ (T·kw × S·kh) acts on the S·kh-vectors: whiten that side.
            let pair = try LowRankPair.whitened(m.transposed(), covariance: cv, rank: r, layer: name)
            vertical = pair.right
            horizontal = Self.horizontalWeights(fromColumns: pair.left, t: t, r: r, kw: kw)
            let wm = layer.weightMatrix
            let start = try DataWeightedLS.objective(w: wm, approximation: try Self.compose(vertical, horizontal, t: t, s: s, kh: kh, kw: kw, layer: name), c: c, layer: name)
            var skipped = false
            for _ in 0..<max(options.dataSweeps, 1) {
                horizontal = try DataWeightedLS.lastStage(w: wm, g: Self.verticalMap(vertical, kw: kw), c: c, layer: name)
                if s * kh * r <= options.maxUnknowns {
                    // Ŵ[t,((s,i),j)] = Σ_r H[t,(r,j)]·V[r,(s,i)]: V is a pass-through factor.
                    vertical = try DataWeightedLS.passThroughFactor(h: horizontal, w: wm, c: c, a: s * kh, r: r, j: kw,
                                                                    layer: name).transposed()
                } else {
                    skipped = true
                }
            }
            horizontal = try DataWeightedLS.lastStage(w: wm, g: Self.verticalMap(vertical, kw: kw), c: c, layer: name)
            let end = try DataWeightedLS.objective(w: wm, approximation: try Self.compose(vertical, horizontal, t: t, s: s, kh: kh, kw: kw, layer: name), c: c, layer: name)
            notes.append("whitened SVD + data-weighted ALS: \(options.dataSweeps) sweeps, objective \(formatError(start)) → \(formatError(end))"
                         + (skipped ? " (vertical stage kept: \(s * kh * r) unknowns > \(options.maxUnknowns))" : ""))
        } else {
            let pair = try LowRankPair.weightOnly(m, rank: r, layer: name)
            vertical = pair.left.transposed()
            horizontal = Self.horizontalWeights(fromColumns: pair.right.transposed(), t: t, r: r, kw: kw)
        }
        let shapes = stageShapes(for: layer, rank: rank)
        let stages = [
            Stage(shape: shapes[0], weight: vertical.reshaped(shapes[0].weightShape)),
            Stage(shape: shapes[1], weight: horizontal.reshaped(shapes[1].weightShape), bias: layer.bias),
        ]
        let approx = try Self.compose(vertical, horizontal, t: t, s: s, kh: kh, kw: kw, layer: name).reshaped(layer.weight.shape)
        return Factorization(stages: stages, approximation: approx, notes: notes)
    }

    /// (T·kw) × R columns Q[(t,j), r] → the horizontal stage's T × (R·kw) matrix H[t,(r,j)].
    static func horizontalWeights(fromColumns q: Tensor, t: Int, r: Int, kw: Int) -> Tensor {
        q.reshaped([t, kw, r]).permuted([0, 2, 1]).reshaped([t, r * kw])
    }

    /// The map from a patch ((s,i),j) to the horizontal stage's inputs (r, j): V ⊗ I_kw.
    static func verticalMap(_ v: Tensor, kw: Int) -> Tensor {
        Tucker2Method.kroneckerWithIdentity(v, k: kw)
    }

    /// Ŵ[t, (s,i,j)] = Σ_r H[t,(r,j)]·V[r,(s,i)] as a T × (S·kh·kw) matrix.
    static func compose(_ v: Tensor, _ h: Tensor, t: Int, s: Int, kh: Int, kw: Int, layer: String) throws(DecompositionError) -> Tensor {
        let r = v.shape[0]
        let hj = h.reshaped([t, r, kw]).permuted([0, 2, 1]).reshaped([t * kw, r])            // [(t,j), r]
        return try Mat.mul(hj, v, layer: layer).reshaped([t, kw, s * kh]).permuted([0, 2, 1]).reshaped([t, s * kh * kw])
    }

    /// C_v = (1/kw)·Σ_j C[((s,i),j), ((s′,i′),j)]: the (S·kh)-side metric for whitening.
    static func verticalCovariance(_ c: Tensor, rows: Int, kw: Int) -> Tensor {
        var out = Tensor(zeros: [rows, rows])
        let p = rows * kw
        let scale = 1 / Float(kw)
        for a in 0..<rows {
            for b in 0..<rows {
                var acc: Float = 0
                for j in 0..<kw { acc += c.scalars[(a * kw + j) * p + b * kw + j] }
                out.scalars[a * rows + b] = acc * scale
            }
        }
        return out
    }
}

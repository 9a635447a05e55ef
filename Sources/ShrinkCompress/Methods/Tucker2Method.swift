import Foundation
import ShrinkTensor

/// `tucker2`: Tucker decomposition of the kernel on its two channel modes,
/// K ≈ core ×₀ U_out ×₁ U_in, run as 1×1 S→R_in, k×k core R_in→R_out (original stride,
/// padding, dilation), 1×1 R_out→T with the bias.
///
/// Rank is the pair (R_out, R_in). Weight-only fits use HOOI; data-aware fits then alternate
/// an exact weighted least-squares update of U_in with a reduced-rank regression that refits
/// U_out and the core jointly.
public struct Tucker2Method: DecompositionMethod {
    /// Creates the method.
    public init() {}

    /// `tucker2`.
    public var name: MethodName { .tucker2 }
    /// (R_out, R_in).
    public var rankArity: Int { 2 }

    /// Group-1 1-D or 2-D convolutions with a spatial kernel.
    public func check(_ layer: LayerDescriptor) throws(DecompositionError) {
        try ConvChecks.require(layer, method: name, spatialRanks: [1, 2], alternatives: "")
    }

    /// (min(T, S·k), min(S, T·k)) with k the kernel size: the ranks of the two channel unfoldings.
    public func fullRank(of layer: LayerDescriptor) -> Rank {
        let k = layer.conv?.kernel.reduce(1, *) ?? 1
        return .tucker(out: min(layer.outputs, layer.inputs * k), in: min(layer.inputs, layer.outputs * k))
    }

    /// 1×1 S→R_in at the input resolution, the core at the original geometry, 1×1 R_out→T.
    public func stageShapes(for layer: LayerDescriptor, rank: Rank) -> [StageShape] {
        let g = layer.conv ?? ConvGeometry(kernel: [1])
        let (rOut, rIn) = (rank.values[0], rank.values[1])
        let first = StageShape(suffix: "0", kind: .conv(.pointwise(spatialRank: g.spatialRank)),
                               inChannels: layer.inputs, outChannels: rIn, inputSpatial: layer.inputSpatial)
        let core = first.next(suffix: "1", kind: .conv(g), outChannels: rOut)
        let last = core.next(suffix: "2", kind: .conv(.pointwise(spatialRank: g.spatialRank)),
                             outChannels: layer.outputs, hasBias: layer.bias != nil)
        return [first, core, last]
    }

    /// Singular values of the mode-0 (T × S·k) and mode-1 (S × T·k) unfoldings: R_out's and
    /// R_in's spectra.
    public func spectra(of layer: LayerDescriptor) throws(DecompositionError) -> [[Float]] {
        let w = layer.weight
        return try numerics(layer.name) { () throws(LinearAlgebraError) in
            [try w.unfolded(mode: 0).singularValues(), try w.unfolded(mode: 1).singularValues()]
        }
    }

    /// HOOI, then (with activations) data-weighted alternating least squares.
    public func factorize(_ layer: LayerDescriptor, rank: Rank, options: FitOptions) throws(DecompositionError) -> Factorization {
        try check(layer)
        try validate(rank: rank, for: layer)
        let name = layer.name
        let (t, s) = (layer.outputs, layer.inputs)
        let k = layer.weight.count / (t * s)
        let (rOut, rIn) = (rank.values[0], rank.values[1])
        let w = layer.weight
        let tucker = try numerics(name) { () throws(LinearAlgebraError) in
            try w.tucker(modes: [0, 1], ranks: [rOut, rIn], maxIterations: options.iterations, tolerance: options.tolerance)
        }
        var uOut = tucker.factors[0]                                  // T×R_out
        var uIn = tucker.factors[1]                                   // S×R_in
        var core = tucker.core.reshaped([rOut, rIn * k])              // R_out × (R_in·k)
        var notes = ["HOOI: \(tucker.iterations) sweeps, weight error \(formatError(tucker.relativeError))"]

        if let stats = options.statistics {
            let wm = layer.weightMatrix                               // T × (S·k), patch order (s, d)
            let c = stats.regularized(options.regularization)
            let start = try DataWeightedLS.objective(w: wm, approximation: try Self.compose(uOut, core, uIn, k: k, layer: name),
                                                     c: c, layer: name)
            var skipped = false
            for _ in 0..<max(options.dataSweeps, 1) {
                // (U_out, core) given U_in: exact by reduced-rank regression.
                (uOut, core) = try Self.refitOutputSide(wm: wm, uIn: uIn, c: c, k: k, rOut: rOut, layer: name)
                // U_in given the rest: Ŵ[t,(s,d)] = Σ_b M[t,(b,d)]·U_in[s,b], M = U_out·core.
                if s * rIn <= options.maxUnknowns {
                    let m = try Mat.mul(uOut, core, layer: name)
                    uIn = try DataWeightedLS.passThroughFactor(h: m, w: wm, c: c, a: s, r: rIn, j: k, layer: name)
                } else {
                    skipped = true
                }
            }
            // The last update is always the output side, so the stages end exactly fitted.
            (uOut, core) = try Self.refitOutputSide(wm: wm, uIn: uIn, c: c, k: k, rOut: rOut, layer: name)
            let end = try DataWeightedLS.objective(w: wm, approximation: try Self.compose(uOut, core, uIn, k: k, layer: name),
                                                   c: c, layer: name)
            notes.append("data-weighted ALS: \(options.dataSweeps) sweeps, objective \(formatError(start)) → \(formatError(end))"
                         + (skipped ? " (U_in kept: \(s * rIn) unknowns > \(options.maxUnknowns))" : ""))
        }

        let shapes = stageShapes(for: layer, rank: rank)
        let kernel = Array(layer.weight.shape.dropFirst(2))
        let stages = [
            Stage(shape: shapes[0], weight: uIn.transposed().reshaped(shapes[0].weightShape)),
            Stage(shape: shapes[1], weight: core.reshaped([rOut, rIn] + kernel)),
            Stage(shape: shapes[2], weight: uOut.reshaped(shapes[2].weightShape), bias: layer.bias),
        ]
        let approx = try Self.compose(uOut, core, uIn, k: k, layer: name).reshaped(layer.weight.shape)
        return Factorization(stages: stages, approximation: approx, notes: notes)
    }

    /// Ŵ = U_out · core · (U_inᵀ ⊗ I_k), as a T × (S·k) matrix.
    static func compose(_ uOut: Tensor, _ core: Tensor, _ uIn: Tensor, k: Int, layer: String) throws(DecompositionError) -> Tensor {
        let rIn = uIn.shape[1], s = uIn.shape[0]
        let m = try Mat.mul(uOut, core, layer: layer)                              // T × (R_in·k)
        let t = m.shape[0]
        // Contract R_in with U_inᵀ: [t, b, d] → [t, d, b] · U_inᵀ → [t, d, s] → [t, s, d].
        let md = m.reshaped([t, rIn, k]).permuted([0, 2, 1]).reshaped([t * k, rIn])
        return try Mat.mul(md, uIn, tb: true, layer: layer).reshaped([t, k, s]).permuted([0, 2, 1]).reshaped([t, s * k])
    }

    /// Given U_in, the jointly optimal U_out (orthonormal, T×R_out) and core: the weighted
    /// least-squares map M from the core's inputs to the outputs, then its best rank-R_out
    /// restriction under the data metric (the leading eigenvectors of M·(GCGᵀ)·Mᵀ).
    static func refitOutputSide(wm: Tensor, uIn: Tensor, c: Tensor, k: Int, rOut: Int,
                                layer: String) throws(DecompositionError) -> (Tensor, Tensor) {
        let g = kroneckerWithIdentity(uIn.transposed(), k: k)                      // (R_in·k) × (S·k)
        let m = try DataWeightedLS.lastStage(w: wm, g: g, c: c, layer: layer)      // T × (R_in·k)
        let gc = try Mat.mul(g, c, layer: layer)
        let sMat = try Mat.mul(gc, g, tb: true, layer: layer)
        let fitted = try Mat.mul(try Mat.mul(m, sMat, layer: layer), m, tb: true, layer: layer)   // T×T
        let eig = try numerics(layer) { () throws(LinearAlgebraError) in try fitted.symmetricEigen().descending() }
        let uOut = Mat.columns(eig.vectors, rOut)
        let core = try Mat.mul(uOut, m, ta: true, layer: layer)
        return (uOut, core)
    }

    /// A ⊗ I_k for A (p×q): ((p·k) × (q·k)), row (a, d) column (b, d′) = A[a,b]·δ(d,d′).
    static func kroneckerWithIdentity(_ a: Tensor, k: Int) -> Tensor {
        let (p, q) = (a.shape[0], a.shape[1])
        var out = Tensor(zeros: [p * k, q * k])
        for i in 0..<p {
            for j in 0..<q {
                let v = a.scalars[i * q + j]
                for d in 0..<k { out.scalars[(i * k + d) * (q * k) + j * k + d] = v }
            }
        }
        return out
    }
}

/// A relative error or objective for notes.
func formatError(_ x: Double) -> String {
    x.isFinite ? String(format: "%.4g", x) : "\(x)"
}

import Foundation
import ShrinkTensor

/// The CP machinery `cp` and `cp4` share: the kernel seen as T × (input modes…), fitted by
/// CP-ALS on the weights and optionally refined on data.
///
/// Input modes are (S, kh·kw) for `cp` and (S, kh, kw) for `cp4`; their row-major product is
/// the im2col patch order, so the data metric C applies without reshuffling.
struct CPKernelFit {
    /// T × R output factor (the last 1×1 stage).
    var out: Tensor
    /// One I_m × R factor per input mode.
    var inputs: [Tensor]

    /// Full CP rank bound of a tensor: the product of its sizes over the largest. Every
    /// tensor has CP rank at most that (one rank-1 term per fibre of the longest mode), so
    /// it is the rank at which CP can represent any kernel of the shape exactly.
    static func fullRank(_ dims: [Int]) -> Int {
        dims.reduce(1, *) / max(dims.max() ?? 1, 1)
    }

    /// Fits a CP model of `rank` to `kernel` viewed with `dims` = [T] + input modes.
    static func fit(kernel: Tensor, dims: [Int], rank: Int, options: FitOptions,
                    layer: String) throws(DecompositionError) -> (CPKernelFit, [String]) {
        let x = kernel.reshaped(dims)
        let cpOptions = CPOptions(maxIterations: options.iterations, tolerance: options.tolerance, initialization: options.cpInitialization ?? .svd(seed: 0))
        let cp = try numerics(layer) { () throws(LinearAlgebraError) in try x.cp(rank: rank, options: cpOptions) }
        var out = Mat.scaleColumns(cp.factors[0], cp.weights)
        var inputs = Array(cp.factors.dropFirst())
        var notes = ["CP-ALS: \(cp.iterations) sweeps, weight error \(formatError(cp.relativeError))"]

        if let stats = options.statistics {
            let modeDims = Array(dims.dropFirst())
            let t = dims[0]
            let p = modeDims.reduce(1, *)
            let wm = kernel.reshaped([t, p])
            let c = stats.regularized(options.regularization)
            let start = try DataWeightedLS.objective(w: wm, approximation: try compose(out, inputs, layer: layer), c: c, layer: layer)
            var skipped: [Int] = []
            // Each mode's permuted metric and weight are fixed across sweeps.
            var permuted: [(c: Tensor, w: Tensor)] = []
            for m in modeDims.indices {
                let axes = [m] + modeDims.indices.filter { $0 != m }
                let wp = kernel.reshaped(dims).permuted([0] + axes.map { $0 + 1 }).reshaped([t, p])
                permuted.append((DataWeightedLS.permuteCovariance(c, dims: modeDims, axes: axes), wp))
            }
            for _ in 0..<max(options.dataSweeps, 1) {
                for m in modeDims.indices {
                    let a = modeDims[m]
                    guard a * rank <= options.maxUnknowns else {
                        if !skipped.contains(m) { skipped.append(m) }
                        continue
                    }
                    let others = modeDims.indices.filter { $0 != m }.map { inputs[$0] }
                    let k = try numerics(layer) { () throws(LinearAlgebraError) in try Tensor.khatriRao(others) }
                    inputs[m] = try DataWeightedLS.cpFactor(out: out, k: k, w: permuted[m].w, c: permuted[m].c,
                                                            a: a, r: rank, j: p / a, layer: layer)
                }
                out = try DataWeightedLS.lastStage(w: wm, g: try inputMap(inputs, layer: layer), c: c, layer: layer)
            }
            let end = try DataWeightedLS.objective(w: wm, approximation: try compose(out, inputs, layer: layer), c: c, layer: layer)
            var note = "data-weighted ALS: \(options.dataSweeps) sweeps, objective \(formatError(start)) → \(formatError(end))"
            if !skipped.isEmpty {
                note += " (input modes \(skipped) kept: more than \(options.maxUnknowns) unknowns)"
            }
            notes.append(note)
        }
        var fit = CPKernelFit(out: out, inputs: inputs)
        fit.balance()
        return (fit, notes)
    }

    /// G (R × P): component r's response to a patch, Π_m F_m[i_m, r] — the Khatri–Rao
    /// product of the input factors, transposed.
    static func inputMap(_ inputs: [Tensor], layer: String) throws(DecompositionError) -> Tensor {
        try numerics(layer) { () throws(LinearAlgebraError) in try Tensor.khatriRao(inputs) }.transposed()
    }

    /// Ŵ = Out · G as a T × P matrix.
    static func compose(_ out: Tensor, _ inputs: [Tensor], layer: String) throws(DecompositionError) -> Tensor {
        try Mat.mul(out, try inputMap(inputs, layer: layer), layer: layer)
    }

    /// Ŵ (T × P) of this model.
    func approximation(layer: String) throws(DecompositionError) -> Tensor {
        try Self.compose(out, inputs, layer: layer)
    }

    /// Gives every factor column of a component the same norm (the geometric mean), so no
    /// stage carries a huge scale another undoes — float-friendly, same product.
    mutating func balance() {
        let r = out.shape[1]
        var all = [out] + inputs
        for c in 0..<r {
            var norms: [Double] = []
            for f in all {
                var acc = 0.0
                for i in 0..<f.shape[0] { acc += Double(f.scalars[i * r + c]) * Double(f.scalars[i * r + c]) }
                norms.append(acc.squareRoot())
            }
            guard norms.allSatisfy({ $0 > 0 }) else { continue }
            let mean = exp(norms.map { log($0) }.reduce(0, +) / Double(norms.count))
            for (n, norm) in norms.enumerated() {
                let scale = Float(mean / norm)
                for i in 0..<all[n].shape[0] { all[n].scalars[i * r + c] *= scale }
            }
        }
        out = all[0]
        inputs = Array(all.dropFirst())
    }
}

import ShrinkTensor

/// A way to factorise one layer into a chain of cheaper stages.
///
/// A method is a small value: it says whether it applies to a layer, how many rank
/// components it takes and how large they can get, what stages (and therefore what exact
/// cost) a rank produces, which spectra its energy rule reads, and finally computes the
/// stage weights. Adding a method is adding one conforming type and one `MethodName` case.
public protocol DecompositionMethod: Sendable {
    /// The method's name in pipelines and on the command line.
    var name: MethodName { get }

    /// Number of rank components (1; 2 for `tucker2`; 0 for `keep`).
    var rankArity: Int { get }

    /// Throws `notApplicable`/`unsupported` with a reason when the method cannot handle `layer`.
    func check(_ layer: LayerDescriptor) throws(DecompositionError)

    /// The rank at which the factorisation can represent every weight of this shape exactly.
    /// Fractions of full rank are taken of this. Assumes `check` passed.
    func fullRank(of layer: LayerDescriptor) -> Rank

    /// The stages a rank produces, in execution order. Assumes `check` passed and `rank` is
    /// valid (see `validate(rank:for:)`).
    func stageShapes(for layer: LayerDescriptor, rank: Rank) -> [StageShape]

    /// The spectra the energy rule reads, one per rank component, each sorted descending
    /// (singular values, not squared). See docs/decomposition.md for which matrix each is of.
    func spectra(of layer: LayerDescriptor) throws(DecompositionError) -> [[Float]]

    /// The smallest rank keeping `energy` (0…1) of the spectral energy Σσ² — per component by
    /// default; CP methods combine their per-mode spectra differently.
    func energyRank(of layer: LayerDescriptor, energy: Double) throws(DecompositionError) -> Rank

    /// Computes the stage weights for `rank`, fitted as `options` asks.
    func factorize(_ layer: LayerDescriptor, rank: Rank, options: FitOptions) throws(DecompositionError) -> Factorization
}

/// The raw outcome of `DecompositionMethod.factorize`: the stages and the kernel they realise.
public struct Factorization: Sendable {
    /// The stages with weights, in execution order; the last carries the layer's bias.
    public var stages: [Stage]
    /// The weight the stages compute, in the layer's canonical layout — what the stages
    /// multiply an input by. Errors are measured on it.
    public var approximation: Tensor
    /// Notes on how the fit went (iterations, skipped refinement steps, …).
    public var notes: [String]

    /// A factorisation result.
    public init(stages: [Stage], approximation: Tensor, notes: [String] = []) {
        self.stages = stages
        self.approximation = approximation
        self.notes = notes
    }
}

extension DecompositionMethod {
    /// Checks that `rank` has the right number of components and that each lies in
    /// 1…(its full-rank component).
    public func validate(rank: Rank, for layer: LayerDescriptor) throws(DecompositionError) {
        guard rank.values.count == rankArity else {
            let expected = rankArity == 2 ? "two ranks `Rout,Rin`" : rankArity == 0 ? "no rank" : "one rank"
            throw DecompositionError(.invalidRank, layer: layer.name,
                                     "\(name) takes \(expected), got `\(rank)`")
        }
        let full = fullRank(of: layer)
        for (r, f) in zip(rank.values, full.values) where r < 1 || r > f {
            throw DecompositionError(.invalidRank, layer: layer.name,
                                     "\(name) rank \(rank) is outside 1…\(full) for this layer")
        }
    }

    /// Per component: the smallest R with Σ_{i<R} σᵢ² ≥ energy · Σ σᵢ² on that component's spectrum.
    public func energyRank(of layer: LayerDescriptor, energy: Double) throws(DecompositionError) -> Rank {
        Rank(try spectra(of: layer).map { RankArithmetic.energyRank($0, energy: energy) })
    }

    /// The exact cost of the factorised layer at `rank` (validating both).
    public func cost(of layer: LayerDescriptor, rank: Rank) throws(DecompositionError) -> LayerCost {
        try check(layer)
        try validate(rank: rank, for: layer)
        return stageShapes(for: layer, rank: rank).cost
    }
}

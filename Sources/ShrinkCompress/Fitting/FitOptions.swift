import ShrinkTensor

/// What a factorisation is fitted to.
public enum FitTarget: Sendable {
    /// Minimise ‖W − Ŵ‖_F: the weights alone.
    case weights
    /// Minimise ‖(W − Ŵ)X‖_F on calibration inputs X, given as their second moment.
    case activations(ActivationStatistics)
}

/// How to fit a factorisation: the target and the knobs of the iterative solvers.
public struct FitOptions: Sendable {
    /// Weights only, or data-aware.
    public var target: FitTarget
    /// λ in G + λ·mean(diag G)·I (data-aware fits only).
    public var regularization: Float
    /// Sweeps of weight-only CP-ALS and of Tucker HOOI (at most).
    public var iterations: Int
    /// Stop CP-ALS / HOOI early when the relative error changes by less than this (0: never).
    public var tolerance: Double
    /// Sweeps of data-weighted alternating least squares after the weight-only fit
    /// (CP and Tucker with activations).
    public var dataSweeps: Int
    /// Starting factors for CP-ALS ([T] + input modes, as the method views the kernel); nil
    /// means tensorly's SVD initialisation with seed 0. Used to compare with other tools
    /// from the same starting point.
    public var cpInitialization: CPInitialization?
    /// Largest number of unknowns one data-weighted least-squares solve may have; a factor
    /// with more is left at its previous value (the last stage is always refitted).
    public var maxUnknowns: Int

    /// Options; defaults: weights, λ = 1e-3, 100 ALS sweeps (tolerance 1e-6), 10 data sweeps,
    /// 4096 unknowns.
    public init(target: FitTarget = .weights, regularization: Float = 1e-3, iterations: Int = 100,
                tolerance: Double = 1e-6, dataSweeps: Int = 10, maxUnknowns: Int = 4096) {
        self.target = target
        self.regularization = regularization
        self.iterations = iterations
        self.tolerance = tolerance
        self.dataSweeps = dataSweeps
        self.maxUnknowns = maxUnknowns
        self.cpInitialization = nil
    }

    /// Weight-only fitting with default knobs.
    public static let weights = FitOptions()

    /// The activation statistics, when fitting to data.
    public var statistics: ActivationStatistics? {
        if case .activations(let s) = target { return s }
        return nil
    }
}

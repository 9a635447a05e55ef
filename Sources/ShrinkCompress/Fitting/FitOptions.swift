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
    /// Sweeps of weight-only CP-ALS and of Tucker HOOI.
    public var iterations: Int
    /// Sweeps of data-weighted alternating least squares after the weight-only fit
    /// (CP and Tucker with activations).
    public var dataSweeps: Int
    /// Largest number of unknowns one data-weighted least-squares solve may have; a factor
    /// with more is left at its previous value (the last stage is always refitted).
    public var maxUnknowns: Int

    /// Options; defaults: weights, λ = 1e-3, 100 ALS sweeps, 10 data sweeps, 4096 unknowns.
    public init(target: FitTarget = .weights, regularization: Float = 1e-3, iterations: Int = 100,
                dataSweeps: Int = 10, maxUnknowns: Int = 4096) {
        self.target = target
        self.regularization = regularization
        self.iterations = iterations
        self.dataSweeps = dataSweeps
        self.maxUnknowns = maxUnknowns
    }

    /// Weight-only fitting with default knobs.
    public static let weights = FitOptions()

    /// The activation statistics, when fitting to data.
    public var statistics: ActivationStatistics? {
        if case .activations(let s) = target { return s }
        return nil
    }
}

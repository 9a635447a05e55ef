/// A margin for sampling error: how much stricter than the bound a candidate must be on the
/// search data, so that a choice tuned on a few hundred samples still meets the bound on
/// samples it never saw.
///
/// The search compares many candidates on the same samples and keeps the cheapest that passes,
/// so the one it keeps tends to be one the search samples happen to favour (on the bundled LeNet
/// a choice passing at half a point lost 2 points on the unseen half). Requiring the drop to stay
/// below the bound by z standard errors of the metric on the set checked removes most of that
/// optimism. The held-out verify check itself never gets a margin: it certifies the bound as written.
public struct SamplingMargin: Sendable, Hashable, Codable {
    /// How the margin is set.
    public enum Mode: Sendable, Hashable, Codable {
        /// z standard errors of the metric on the set checked (`margin: auto`).
        case auto
        /// A fixed amount in metric units (`margin: 0.005`; `margin: 0` turns it off).
        case fixed(Double)
    }

    /// How the metric's per-sample values spread, which decides its standard error.
    public enum Spread: String, Sendable, Hashable, Codable {
        /// A fraction of samples (top-k accuracy, agreement): binomial, sqrt(p(1−p)/n) with p the
        /// worst value the bound accepts.
        case proportion
        /// A mean of per-sample values (relative L2, cosine, MSE): the standard deviation of the
        /// candidate's per-sample values over √n.
        case mean
    }

    /// How the margin is set.
    public var mode: Mode
    /// The metric's kind of spread.
    public var spread: Spread

    /// One-sided 95 %: a candidate passes only when its drop is below the bound by this many
    /// standard errors.
    public static let z = 1.645

    /// No margin: the search accepts a candidate exactly at the bound.
    public static let none = SamplingMargin(mode: .fixed(0), spread: .mean)

    /// A margin.
    public init(mode: Mode, spread: Spread) {
        self.mode = mode
        self.spread = spread
    }

    /// The part of the margin that is the same for every candidate on a set of `samples` samples
    /// whose bound accepts values down to (or up to) `threshold`: the fixed margin, or the binomial
    /// standard error of a proportion metric at the threshold times z.
    public func constant(samples: Int, threshold: Double) -> Double {
        switch mode {
        case .fixed(let m): return m
        case .auto:
            guard spread == .proportion, samples > 0 else { return 0 }
            let p = min(max(threshold, 0), 1)
            return Self.z * (p * (1 - p) / Double(samples)).squareRoot()
        }
    }

    /// The part that depends on the candidate: for a mean-type metric under `auto`, z times the
    /// standard error of the candidate's per-sample values (standard deviation `deviation` over
    /// `samples` samples); zero otherwise.
    public func perCandidate(samples: Int, deviation: Double?) -> Double {
        guard mode == .auto, spread == .mean, samples > 0, let deviation, deviation.isFinite else { return 0 }
        return Self.z * deviation / Double(samples).squareRoot()
    }
}

/// How many samples a score averages over and how far its per-sample values spread.
public struct ScoreSpread: Sendable, Hashable, Codable {
    /// Samples scored.
    public var samples: Int
    /// Standard deviation of the per-sample values, when known.
    public var deviation: Double?

    /// A spread.
    public init(samples: Int, deviation: Double?) {
        self.samples = samples
        self.deviation = deviation
    }
}

/// Which direction of a metric is better.
public enum MetricDirection: String, Sendable, Codable {
    /// Accuracy-like: larger is better.
    case higherIsBetter
    /// Error-like (MSE): smaller is better.
    case lowerIsBetter
}

/// The pipeline's accuracy bound: how far a candidate's metric may fall behind the original's.
public struct Acceptance: Sendable, Hashable, Codable {
    /// How the bound is expressed.
    public enum Bound: Sendable, Hashable, Codable {
        /// Absolute: metric units (0.005 = half a point of top-1).
        case absolute(Double)
        /// Relative to the original metric (0.01 = 1 % of it).
        case relative(Double)
    }

    /// The bound.
    public var bound: Bound
    /// The metric's direction.
    public var direction: MetricDirection
    /// How far inside the bound a value must stay (a margin for sampling error), in metric units.
    public var margin: Double = 0

    /// An acceptance rule.
    public init(bound: Bound, direction: MetricDirection) {
        self.bound = bound
        self.direction = direction
    }

    /// This rule with `margin` more of the bound held back.
    public func tightened(by margin: Double) -> Acceptance {
        var copy = self
        copy.margin += margin
        return copy
    }

    /// How much worse `value` is than `baseline`, in metric units (negative when better).
    public func drop(baseline: Double, value: Double) -> Double {
        direction == .higherIsBetter ? baseline - value : value - baseline
    }

    /// The largest allowed drop for this baseline, in metric units.
    public func allowedDrop(baseline: Double) -> Double {
        switch bound {
        case .absolute(let d): return d - margin
        case .relative(let r): return r * abs(baseline) - margin
        }
    }

    /// The worst metric value that still passes: `baseline − allowed drop` (or `+` for error-like metrics).
    public func threshold(baseline: Double) -> Double {
        direction == .higherIsBetter ? baseline - allowedDrop(baseline: baseline) : baseline + allowedDrop(baseline: baseline)
    }

    /// Whether `value` is within the bound of `baseline`. A tiny epsilon absorbs float noise in
    /// the metric so that exactly-at-the-bound candidates pass.
    public func accepts(baseline: Double, value: Double) -> Bool {
        drop(baseline: baseline, value: value) <= allowedDrop(baseline: baseline) + 1e-12
    }
}

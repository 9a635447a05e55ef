import Foundation
import ShrinkPipeline

/// How much evidence the held-out check gives: a bound of 0.005 on 200 verify samples is one
/// sample, so a single sample flips the decision. Counting metrics (top-k, agreement) move in
/// steps of one sample, so the bound is worth `allowedDrop × samples` samples; other metrics
/// are continuous, and only a verify set of fewer than five samples is flagged.
struct VerifyStrength: Sendable {
    /// The metric.
    var metric: MetricRef
    /// Samples in the verify set.
    var samples: Int
    /// The largest allowed drop, in metric units.
    var allowedDrop: Double

    /// Fewer than this many samples' worth of bound is too little to certify anything.
    static let minimumSamples = 5.0

    /// Whether the metric counts samples (each sample moves it by 1/samples).
    var counts: Bool {
        switch metric.kind {
        case .topk: true
        case .fidelity: metric.fidelity?.measure == .agreement
        case .mse, .command: false
        }
    }

    /// The bound measured in verify samples (counting metrics), nil otherwise.
    var samplesWorth: Double? { counts ? allowedDrop * Double(samples) : nil }

    /// The warning to print, or nil when the check has enough samples behind it.
    var warning: String? {
        if let worth = samplesWorth, worth < Self.minimumSamples {
            let needed = Int((Self.minimumSamples / max(allowedDrop, 1e-12)).rounded(.up))
            return "the bound (a drop of \(Self.number(allowedDrop))) is worth \(Self.number(worth)) of the \(samples) verify samples, so \(worth < 1 ? "a single sample decides the check" : "a few samples decide the check"); hold out at least \(needed) samples (`data.verify`) or loosen `accept`"
        }
        if samplesWorth == nil, samples < Int(Self.minimumSamples) {
            return "the final check runs on \(samples) verify sample\(samples == 1 ? "" : "s"); hold out at least \(Int(Self.minimumSamples)) (`data.verify`)"
        }
        return nil
    }

    static func number(_ v: Double) -> String {
        let s = String(format: "%.3g", v)
        return s
    }
}

import Foundation
import ShrinkBuild
import ShrinkCompress

/// What happened to one layer, for the report and the lock file.
public struct LayerReport: Sendable, Hashable, Codable {
    /// Layer name.
    public var name: String
    /// ONNX op of the original layer.
    public var op: String
    /// Method applied (`keep` when unchanged).
    public var method: String
    /// Chosen rank (two numbers for Tucker-2), nil when kept.
    public var rank: [Int]?
    /// Fitting mode (`weights` or `activations`).
    public var fit: String
    /// Relative reconstruction error of the weight, ‖W − Ŵ‖/‖W‖, when decomposed.
    public var relativeError: Double?
    /// LayerCost before and after.
    public var before: LayerCost, after: LayerCost
    /// Why the layer was kept or anything notable about it.
    public var note: String?

    /// A layer report.
    public init(name: String, op: String, method: String, rank: [Int]?, fit: String, relativeError: Double?,
                before: LayerCost, after: LayerCost, note: String?) {
        self.name = name
        self.op = op
        self.method = method
        self.rank = rank
        self.fit = fit
        self.relativeError = relativeError
        self.before = before
        self.after = after
        self.note = note
    }
}

/// One point of a layer's sensitivity curve: the rank and the drop it alone caused.
public struct SensitivityPoint: Sendable, Hashable, Codable {
    /// The rank.
    public var rank: [Int]
    /// The layer's cost at that rank under the objective.
    public var cost: Int
    /// The metric drop with only this layer changed (search data).
    public var drop: Double

    /// A point.
    public init(rank: [Int], cost: Int, drop: Double) {
        self.rank = rank
        self.cost = cost
        self.drop = drop
    }
}

/// One candidate the search evaluated, for the accuracy-vs-cost plot.
public struct TradeoffPoint: Sendable, Hashable, Codable {
    /// `search` (the subset), `full` (the whole search set) or `verify` (held out; only the chosen
    /// configuration is scored there).
    public var set: String
    /// Whole-model MACs and params of the candidate.
    public var macs: Int, params: Int
    /// The metric value.
    public var metric: Double
    /// Whether this is the chosen configuration.
    public var chosen: Bool

    /// A point.
    public init(set: String, macs: Int, params: Int, metric: Double, chosen: Bool) {
        self.set = set
        self.macs = macs
        self.params = params
        self.metric = metric
        self.chosen = chosen
    }
}

/// What the rank search did.
public struct SearchReport: Sendable, Hashable, Codable {
    /// Policy name.
    public var policy: String
    /// Objective (`macs` or `params`).
    public var objective: String
    /// Distinct candidate evaluations.
    public var evaluations: Int
    /// Sensitivity curves, layer → points in ascending rank.
    public var sensitivity: [String: [SensitivityPoint]]
    /// Every candidate evaluated.
    public var visited: [TradeoffPoint]
    /// The search's own account of its steps.
    public var notes: [String]
    /// With device budgets: what bound the choice — `accuracy` (the bound stopped further
    /// compression) or the budget's resource (`flash`, `ram`) that forced more compression.
    public var boundBy: String?
    /// `flash` or `ram` when the search ranked candidates by the device's exact bytes.
    public var rankedBy: String?

    /// A search report.
    public init(policy: String, objective: String, evaluations: Int, sensitivity: [String: [SensitivityPoint]],
                visited: [TradeoffPoint], notes: [String]) {
        self.policy = policy
        self.objective = objective
        self.evaluations = evaluations
        self.sensitivity = sensitivity
        self.visited = visited
        self.notes = notes
    }
}

/// The outcome of a pipeline run: everything the Markdown and JSON reports show.
/// Deterministic (no times or absolute paths) so it can be cached by content.
public struct RunReport: Sendable, Hashable, Codable {
    /// Pipeline name (and variant, when one ran).
    public var pipeline: String
    /// Variant name, nil for the main target.
    public var variant: String?
    /// The model file as written in the pipeline, and its SHA-256.
    public var model: String, modelDigest: String
    /// Metric name (`top1`, `top5`, `mse`, or the command's metric).
    public var metric: String
    /// The bound, in words (`absolute drop ≤ 0.005`).
    public var bound: String
    /// Original and final metric on the verify set (which decides), and the sample count.
    public var baseline: Double, final: Double
    /// Samples in the final check (the verify set).
    public var samples: Int
    /// Whether the final model meets the bound.
    public var passed: Bool
    /// Whole-model cost before and after.
    public var before: LayerCost, after: LayerCost
    /// Per-layer outcome, in model order.
    public var layers: [LayerReport]
    /// The search, when one ran.
    public var search: SearchReport?
    /// The exported model's SHA-256 (nil when nothing was exported because the check failed).
    public var exportedDigest: String?
    /// The metric value at the acceptance bound (the worst value that passes), when known.
    public var threshold: Double?
    /// Whether higher metric values are better (accuracy) or lower (error); nil when unknown.
    public var higherIsBetter: Bool?
    /// The device build (`quantize`, `target`, `export.c`): flash, RAM, float vs int8.
    public var device: DeviceReport?
    /// The original's and the final model's metric on the whole search set, and its size
    /// (`baseline`, `final`, `samples` are the verify set's, which decided `passed`).
    public var searchBaseline: Double?, searchFinal: Double?, searchSamples: Int?
    /// Whether the verify samples were held out from the search.
    public var heldOut: Bool?
    /// The sequential refit of the chosen ranks, when one ran.
    public var fitting: FitReport?
    /// The search's margin for sampling error, when it had one.
    public var margin: MarginReport?

    /// A report.
    public init(pipeline: String, variant: String?, model: String, modelDigest: String, metric: String, bound: String,
                baseline: Double, final: Double, samples: Int, passed: Bool, before: LayerCost, after: LayerCost,
                layers: [LayerReport], search: SearchReport?, exportedDigest: String?,
                threshold: Double? = nil, higherIsBetter: Bool? = nil, searchBaseline: Double? = nil,
                searchFinal: Double? = nil, searchSamples: Int? = nil, heldOut: Bool? = nil) {
        self.searchBaseline = searchBaseline
        self.searchFinal = searchFinal
        self.searchSamples = searchSamples
        self.heldOut = heldOut
        self.pipeline = pipeline
        self.variant = variant
        self.model = model
        self.modelDigest = modelDigest
        self.metric = metric
        self.bound = bound
        self.baseline = baseline
        self.final = final
        self.samples = samples
        self.passed = passed
        self.before = before
        self.after = after
        self.layers = layers
        self.search = search
        self.exportedDigest = exportedDigest
        self.threshold = threshold
        self.higherIsBetter = higherIsBetter
    }

    /// Original ÷ final parameters.
    public var paramsReduction: Double { Double(before.params) / Double(max(after.params, 1)) }
    /// Original ÷ final MACs.
    public var macsReduction: Double { Double(before.macs) / Double(max(after.macs, 1)) }
    /// Whether the final model is bigger than the original in parameters or in MACs.
    public var grew: Bool { after.params > before.params || after.macs > before.macs }
}

import Foundation

/// The schema version this module reads (`shrink: 1`).
public let supportedSchemaVersion = 1

/// A fully resolved pipeline: imports merged, variables substituted, defaults filled in, paths
/// absolute. One per variant (the base pipeline has `variant == nil`).
public struct PipelineSpec: Sendable, Hashable, Codable {
    /// The pipeline file that was loaded.
    public var file: URL
    /// The variant this spec is for; `nil` for the pipeline itself.
    public var variant: String?
    /// `name`, plus `-VARIANT` for a variant; used for default output names.
    public var name: Located<String>
    /// The ONNX model to compress.
    public var model: Located<URL>
    /// The data sets.
    public var data: DataSpec
    /// How quality is measured.
    public var metric: Located<MetricSpec>
    /// How much quality may be lost.
    public var accept: Located<AcceptSpec>
    /// Ordered rules, first match wins: the variant's, then the pipeline's, then each recipe's.
    public var rules: [Rule]
    /// How ranks marked `search` are searched.
    public var search: SearchSpec
    /// Where results go.
    public var export: ExportSpec
    /// The variables in force (after imports and the variant's own), for reports.
    public var vars: [String: Located<String>]
    /// Post-training int8 quantisation (`quantize:`); nil keeps the model float32.
    public var quantize: Located<QuantizeSpec>?
    /// The device, its budgets and the C library check (`target:`); nil when no device is named.
    public var target: DeviceTargetSpec?

    /// Creates a spec; normally made by `PipelineLoader`.
    public init(
        file: URL, variant: String?, name: Located<String>, model: Located<URL>, data: DataSpec,
        metric: Located<MetricSpec>, accept: Located<AcceptSpec>, rules: [Rule], search: SearchSpec,
        export: ExportSpec, vars: [String: Located<String>], quantize: Located<QuantizeSpec>? = nil,
        target: DeviceTargetSpec? = nil
    ) {
        self.file = file
        self.variant = variant
        self.name = name
        self.model = model
        self.data = data
        self.metric = metric
        self.accept = accept
        self.rules = rules
        self.search = search
        self.export = export
        self.vars = vars
        self.quantize = quantize
        self.target = target
    }
}

/// A decomposition method, as spelled in YAML.
public enum MethodName: String, Sendable, Hashable, Codable, CaseIterable {
    /// CP decomposition of a convolution (3-way: spatial dimensions flattened).
    case cp
    /// 4-way CP decomposition of a convolution kernel.
    case cp4
    /// Tucker-2 decomposition (input and output channel modes) of a convolution.
    case tucker2
    /// Spatial SVD: a k×k convolution becomes k×1 followed by 1×k.
    case spatialSVD = "spatial-svd"
    /// Truncated SVD of a matrix (a Gemm/MatMul weight, or a 1×1 convolution's kernel).
    case svd
    /// Leave the layer as it is.
    case keep

    /// Whether the method can rewrite a layer of this ONNX op type and kernel; `svd` applies to
    /// dense layers and to 1×1 convolutions (whose kernel is a matrix).
    public func applies(toOp op: String, kernel: [Int]?) -> Bool {
        switch self {
        case .keep: return true
        case .svd:
            guard LayerOp(rawValue: op) != nil else { return false }
            return op != LayerOp.conv.rawValue || (kernel ?? []).allSatisfy { $0 == 1 }
        case .cp, .tucker2:
            // As the methods check: a 1-D or 2-D kernel that is not 1×1.
            guard op == LayerOp.conv.rawValue, let kernel, (1...2).contains(kernel.count) else { return false }
            return kernel.contains { $0 > 1 }
        case .cp4:
            guard op == LayerOp.conv.rawValue, let kernel, kernel.count == 2 else { return false }
            return kernel.contains { $0 > 1 }
        case .spatialSVD:
            guard op == LayerOp.conv.rawValue, let kernel, kernel.count == 2 else { return false }
            return kernel[0] > 1 && kernel[1] > 1
        }
    }
}

/// The ONNX op types a rule can match.
public enum LayerOp: String, Sendable, Hashable, Codable, CaseIterable {
    /// `Conv`.
    case conv = "Conv"
    /// `Gemm` (fully connected).
    case gemm = "Gemm"
    /// `MatMul` with a constant weight.
    case matMul = "MatMul"
}

/// What a factorisation is fitted to.
public enum FitMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Minimise the weight reconstruction error.
    case weights
    /// Minimise the layer's output error on calibration data, each layer on its own.
    case activations
    /// The default: search candidates are fitted as `activations`; once the search has chosen
    /// the ranks, the chosen layers are refitted in model order, each to the original model's
    /// outputs from the inputs of the model compressed before it (Zhang et al. 2015).
    case sequential
}

/// `search.margin`: how far inside the bound the search data must be.
public enum MarginSpec: Sendable, Hashable, Codable {
    /// z standard errors of the metric on the set checked (the default).
    case auto
    /// A fixed amount in the metric's units (`0` turns the margin off).
    case fixed(Double)
}

/// One per-mode rank of a Tucker-2 pair: a count or a fraction of the mode's size.
public enum RankComponent: Sendable, Hashable, Codable {
    /// An absolute rank.
    case count(Int)
    /// A fraction in (0, 1] of the mode size.
    case fraction(Double)
}

/// Bounds for a rank search; unset fields are chosen by the search policy.
public struct RankSearchRange: Sendable, Hashable, Codable {
    /// Smallest rank tried.
    public var min: Int?
    /// Largest rank tried.
    public var max: Int?
    /// Distance between tried ranks.
    public var step: Int?
    /// Every tried rank is a multiple of this (hardware-friendly shapes).
    public var multipleOf: Int?

    /// Creates a range.
    public init(min: Int? = nil, max: Int? = nil, step: Int? = nil, multipleOf: Int? = nil) {
        self.min = min
        self.max = max
        self.step = step
        self.multipleOf = multipleOf
    }
}

/// How a rule chooses the rank.
public enum RankSpec: Sendable, Hashable, Codable {
    /// A fixed rank (`rank: 8`).
    case count(Int)
    /// A fraction in (0, 1] of the full rank (`rank: 0.25`).
    case fraction(Double)
    /// The smallest rank keeping this share of the spectrum's energy (`rank: { energy: 0.95 }`).
    case energy(Double)
    /// Chosen by the search (`rank: search` or `rank: { search: {…} }`).
    case search(RankSearchRange)
    /// Tucker-2 output and input ranks (`rank: [16, 8]`).
    case tucker(out: RankComponent, in: RankComponent)
}

/// What a rule selects; every condition set must hold. An empty match selects every layer.
public struct RuleMatch: Sendable, Hashable, Codable {
    /// Glob on the layer name (`*` any characters, `?` one).
    public var name: Located<String>?
    /// The ONNX op type.
    public var op: Located<LayerOp>?
    /// Kernel spatial size, `5x5` → `[5, 5]`.
    public var kernel: Located<[Int]>?
    /// Minimum parameter count.
    public var minParams: Located<Int>?
    /// Minimum multiply-accumulate count.
    public var minMacs: Located<Int>?

    /// Creates a match.
    public init(
        name: Located<String>? = nil, op: Located<LayerOp>? = nil, kernel: Located<[Int]>? = nil,
        minParams: Located<Int>? = nil, minMacs: Located<Int>? = nil
    ) {
        self.name = name
        self.op = op
        self.kernel = kernel
        self.minParams = minParams
        self.minMacs = minMacs
    }

    /// Whether a layer satisfies every condition.
    public func matches(_ layer: LayerDescription) -> Bool {
        if let name, !globMatch(pattern: name.value, name: layer.name) { return false }
        if let op, op.value.rawValue != layer.op { return false }
        if let kernel, layer.kernel != kernel.value {
            // A square size (`5`, `5x5`) also matches the 1-D kernel of that size (Conv1d).
            guard let k = layer.kernel, k.count == 1, kernel.value.count == 2, kernel.value == [k[0], k[0]] else { return false }
        }
        if let minParams, layer.params < minParams.value { return false }
        if let minMacs, layer.macs < minMacs.value { return false }
        return true
    }
}

/// Which file a rule came from; decides how a rule that matches nothing is reported.
public enum RuleOrigin: Sendable, Hashable, Codable {
    /// The pipeline being loaded: matching nothing is an error.
    case pipeline
    /// A variant of the pipeline: matching nothing is an error.
    case variant(String)
    /// An imported recipe: matching nothing is a note (recipes are written for many models).
    case recipe(URL)

    /// Whether the rule came from an imported recipe.
    public var isRecipe: Bool {
        if case .recipe = self { return true }
        return false
    }
}

/// One rule: which layers, which method, which rank.
public struct Rule: Sendable, Hashable, Codable {
    /// The selection.
    public var match: RuleMatch
    /// The method.
    public var method: Located<MethodName>
    /// The rank; `nil` only for `keep`.
    public var rank: Located<RankSpec>?
    /// What the factors are fitted to.
    public var fit: Located<FitMode>
    /// `allow_growth: true`: a fixed rank may make the layer bigger (otherwise a fixed rank at or
    /// above the layer's break-even is an error at the rule).
    public var allowGrowth: Located<Bool>?
    /// Which file the rule came from.
    public var origin: RuleOrigin
    /// Where the rule starts (its `-` item).
    public var location: SourceLocation

    /// Creates a rule.
    public init(
        match: RuleMatch, method: Located<MethodName>, rank: Located<RankSpec>?, fit: Located<FitMode>,
        origin: RuleOrigin, location: SourceLocation, allowGrowth: Located<Bool>? = nil
    ) {
        self.match = match
        self.method = method
        self.rank = rank
        self.fit = fit
        self.allowGrowth = allowGrowth
        self.origin = origin
        self.location = location
    }

    /// Whether the rule accepts a layer that grows.
    public var allowsGrowth: Bool { allowGrowth?.value ?? false }

    private enum CodingKeys: String, CodingKey {
        case match, method, rank, fit
        case allowGrowth = "allow_growth"
    }

    /// Decodes a rule without position or origin (see `Located`).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        match = try c.decode(RuleMatch.self, forKey: .match)
        method = try c.decode(Located<MethodName>.self, forKey: .method)
        rank = try c.decodeIfPresent(Located<RankSpec>.self, forKey: .rank)
        fit = try c.decode(Located<FitMode>.self, forKey: .fit)
        allowGrowth = try c.decodeIfPresent(Located<Bool>.self, forKey: .allowGrowth)
        origin = .pipeline
        location = .unknown
    }

    /// Encodes what the rule does, not where it was written.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(match, forKey: .match)
        try c.encode(method, forKey: .method)
        try c.encodeIfPresent(rank, forKey: .rank)
        try c.encode(fit, forKey: .fit)
        try c.encodeIfPresent(allowGrowth, forKey: .allowGrowth)
    }
}

/// How a command metric's value is read and which direction is better.
public enum MetricGoal: String, Sendable, Hashable, Codable, CaseIterable {
    /// Higher is better (accuracy).
    case maximize
    /// Lower is better (error, loss).
    case minimize
}

/// An external evaluator's command line.
public enum CommandLineSpec: Sendable, Hashable, Codable {
    /// Run directly, no shell.
    case argv([String])
    /// Run with `/bin/sh -c`.
    case shell(String)
}

/// An external evaluator.
public struct CommandMetric: Sendable, Hashable, Codable {
    /// What to run.
    public var command: CommandLineSpec
    /// The key of the value to read from the command's JSON output; `nil` when it prints one number.
    public var metric: String?
    /// Which direction is better.
    public var goal: MetricGoal
    /// The folder of the file that names the command; the command runs there.
    public var workingDirectory: URL

    /// Creates a command metric.
    public init(command: CommandLineSpec, metric: String?, goal: MetricGoal, workingDirectory: URL) {
        self.command = command
        self.metric = metric
        self.goal = goal
        self.workingDirectory = workingDirectory
    }
}

/// How quality is measured.
public enum MetricSpec: Sendable, Hashable, Codable {
    /// Top-1 accuracy.
    case top1
    /// Top-5 accuracy.
    case top5
    /// Top-k accuracy.
    case topK(Int)
    /// Mean squared error against the labels (or the original model's outputs when there are none).
    case mse
    /// An external evaluator.
    case command(CommandMetric)
    /// Fidelity to the original model's outputs on the same inputs: no labels needed.
    case fidelity(FidelityMetric)

    /// Whether higher values are better; a "drop" is always measured in the worse direction.
    public var higherIsBetter: Bool {
        switch self {
        case .top1, .top5, .topK: true
        case .mse: false
        case .command(let c): c.goal == .maximize
        case .fidelity(let f): f.measure != .relativeL2
        }
    }

    /// How the metric is written in YAML (`top1`, `topk: 3`, `command`), for messages.
    public var name: String {
        switch self {
        case .top1: "top1"
        case .top5: "top5"
        case .topK(let k): "topk: \(k)"
        case .mse: "mse"
        case .command: "command"
        case .fidelity(let f): f.measure.rawValue
        }
    }

    /// Whether the metric needs integer class labels in the data.
    public var needsLabels: Bool {
        switch self {
        case .top1, .top5, .topK: true
        case .mse, .command, .fidelity: false
        }
    }
}

/// A label-free metric: the compressed model's outputs against the original model's on the same
/// inputs (`agreement`, `relative_l2`, `cosine`).
public struct FidelityMetric: Sendable, Hashable, Codable {
    /// What is compared.
    public enum Measure: String, Sendable, Hashable, Codable, CaseIterable {
        /// Fraction of positions (every position of a sequence output) whose argmax along `axis`
        /// agrees; with `decode: ctc`, fraction of samples whose greedy CTC decoding agrees.
        case agreement
        /// ‖y − y₀‖ / ‖y₀‖ per sample, averaged (lower is better).
        case relativeL2 = "relative_l2"
        /// cos(y, y₀) per sample, averaged.
        case cosine
    }

    /// What is compared.
    public var measure: Measure
    /// The model output compared (nil: the first).
    public var output: String?
    /// `agreement`: the class axis (nil: the last; negative counts from the end).
    public var axis: Int?
    /// `agreement`: compare greedy CTC decodings (blank 0, repeats merged) per sample.
    public var decodeCTC: Bool

    /// A fidelity metric.
    public init(measure: Measure, output: String? = nil, axis: Int? = nil, decodeCTC: Bool = false) {
        self.measure = measure
        self.output = output
        self.axis = axis
        self.decodeCTC = decodeCTC
    }
}

/// How much worse the compressed model may be.
public enum AcceptSpec: Sendable, Hashable, Codable {
    /// Absolute drop in the metric (`0.005` = half a percentage point of accuracy).
    case maxDrop(Double)
    /// Drop relative to the original model's metric (`0.01` = 1 %).
    case maxRelativeDrop(Double)
}

/// The search policy for ranks marked `search`.
public enum SearchPolicy: String, Sendable, Hashable, Codable, CaseIterable {
    /// Spend the accuracy budget where it buys the most compression.
    case budget
    /// Greedily compress until `target` is reached.
    case greedy
    /// Per-layer binary search on the rank.
    case binary
    /// Per-layer incremental rank reduction.
    case incremental
}

/// What the search minimises.
public enum SearchObjective: String, Sendable, Hashable, Codable, CaseIterable {
    /// Multiply-accumulate operations.
    case macs
    /// Parameter count.
    case params
    /// Flash of the device library (constants and code); the search ranks candidates by their
    /// weight bytes and the chosen model's flash is computed exactly.
    case flash
    /// RAM of the device library (activation arena and scratch), computed for the chosen model.
    case ram
}

/// The `search` section.
public struct SearchSpec: Sendable, Hashable, Codable {
    /// The policy.
    public var policy: Located<SearchPolicy>
    /// The objective.
    public var objective: Located<SearchObjective>
    /// Compression target as a ratio of the objective (`"4x"` → 4); only `greedy` uses it (without it, greedy uses the bound).
    public var target: Located<Double>?
    /// Candidate evaluations run at once; `nil` lets the scheduler decide.
    public var jobs: Located<Int>?
    /// The margin for sampling error on search data (`auto` unless written).
    public var margin: Located<MarginSpec>

    /// Creates a search section.
    public init(
        policy: Located<SearchPolicy>, objective: Located<SearchObjective>, target: Located<Double>?,
        jobs: Located<Int>?, margin: Located<MarginSpec> = Located(.auto, at: .unknown)
    ) {
        self.policy = policy
        self.objective = objective
        self.target = target
        self.jobs = jobs
        self.margin = margin
    }
}

/// The `export` section.
public struct ExportSpec: Sendable, Hashable, Codable {
    /// The compressed model.
    public var onnx: Located<URL>
    /// The markdown report.
    public var report: Located<URL>
    /// The folder of the C library (`export: { c: DIR }`), when one is wanted.
    public var c: Located<URL>?

    /// Creates an export section.
    public init(onnx: Located<URL>, report: Located<URL>, c: Located<URL>? = nil) {
        self.onnx = onnx
        self.report = report
        self.c = c
    }

    /// The JSON report, beside the markdown one with the extension `.json`.
    public var reportJSON: URL { report.value.deletingPathExtension().appendingPathExtension("json") }
}

/// One data set: inputs and (optionally) labels.
public struct DataSetSpec: Sendable, Hashable, Codable {
    /// Where the arrays are.
    public enum Source: Sendable, Hashable, Codable {
        /// One `.npz` archive with the arrays under `xKey` and `yKey`.
        case npz(URL, xKey: String, yKey: String?)
        /// Two `.npy` files; `y` absent when there are no labels.
        case npy(x: URL, y: URL?)
    }

    /// The arrays.
    public var source: Source
    /// Inputs are multiplied by this before use (e.g. `1/255`), when set.
    public var scale: Double?
    /// Where the data set was written.
    public var location: SourceLocation

    /// Creates a data set.
    public init(source: Source, scale: Double?, location: SourceLocation) {
        self.source = source
        self.scale = scale
        self.location = location
    }

    private enum CodingKeys: String, CodingKey { case source, scale }

    /// Decodes without position.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        source = try c.decode(Source.self, forKey: .source)
        scale = try c.decodeIfPresent(Double.self, forKey: .scale)
        location = .unknown
    }

    /// Encodes without position.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(source, forKey: .source)
        try c.encodeIfPresent(scale, forKey: .scale)
    }

    /// Whether labels are available.
    public var hasLabels: Bool {
        switch source {
        case .npz(_, _, let y): y != nil
        case .npy(_, let y): y != nil
        }
    }

    /// The files this data set reads.
    public var files: [URL] {
        switch source {
        case .npz(let url, _, _): [url]
        case .npy(let x, let y): [x] + (y.map { [$0] } ?? [])
        }
    }
}

/// The `data` section.
public struct DataSpec: Sendable, Hashable, Codable {
    /// The evaluation set. Unless `search` or a `verify` set is given, a seeded shuffle splits it
    /// into a search part and a verify part (`verify` fraction of it, half by default).
    public var eval: DataSetSpec
    /// How many samples the search uses; `nil` means all of the search set (or part).
    public var searchSubset: Located<Int>?
    /// The set searched on; `nil` means `eval` (its search part when it is split).
    public var search: DataSetSpec?
    /// The calibration set for `fit: activations`; `nil` means the search set (or part).
    public var calibration: DataSetSpec?
    /// `verify:` as written: the share of `eval` held out, or the set the final check runs on.
    public var verify: Located<VerifySpec>?

    /// The share of `eval` held out for the final check when `verify` is not given.
    public static let defaultVerifyFraction = 0.5

    /// Creates a data section.
    public init(eval: DataSetSpec, searchSubset: Located<Int>?, search: DataSetSpec?, calibration: DataSetSpec?,
                verify: Located<VerifySpec>? = nil) {
        self.eval = eval
        self.searchSubset = searchSubset
        self.search = search
        self.calibration = calibration
        self.verify = verify
    }

    /// The share of `eval` held out for the final check, when `eval` is split: nil when the
    /// search or the verify set is given as its own file (then nothing is split).
    public var verifyFraction: Double? {
        switch verify?.value {
        case .set: return nil
        case .fraction(let f): return search == nil ? f : nil
        case nil: return search == nil ? Self.defaultVerifyFraction : nil
        }
    }

    /// The set the search evaluates candidates on (its search part when `verifyFraction` is set).
    public var effectiveSearch: DataSetSpec { search ?? eval }
    /// The set the final check runs on (its verify part when `verifyFraction` is set).
    public var effectiveVerify: DataSetSpec {
        if case .set(let s) = verify?.value { return s }
        return eval
    }
    /// The set calibration activations are taken from (the search part when `eval` is split, so
    /// the verify samples stay unseen).
    public var effectiveCalibration: DataSetSpec { calibration ?? effectiveSearch }
    /// Whether calibration reads the search part of a split `eval` (no `calibration` given).
    public var calibrationIsSplit: Bool { calibration == nil && verifyFraction != nil }
}

/// `data.verify`: a share of `eval` to hold out, or a separate verify set.
public enum VerifySpec: Sendable, Hashable, Codable {
    /// Hold out this fraction of `eval` (in (0, 1)) by a seeded shuffle.
    case fraction(Double)
    /// Certify on this set; `eval` is not split.
    case set(DataSetSpec)
}

// MARK: - Globs

/// Whole-string glob match: `*` any run of characters (also empty), `?` exactly one.
public func globMatch(pattern: String, name: String) -> Bool {
    let p = Array(pattern), s = Array(name)
    // Iterative backtracking on the last `*`: linear in practice, and no recursion on user input.
    var pi = 0, si = 0, starP = -1, starS = 0
    while si < s.count {
        if pi < p.count, p[pi] == "*" {
            starP = pi
            starS = si
            pi += 1
        } else if pi < p.count, p[pi] == "?" || p[pi] == s[si] {
            pi += 1
            si += 1
        } else if starP >= 0 {
            pi = starP + 1
            starS += 1
            si = starS
        } else {
            return false
        }
    }
    while pi < p.count, p[pi] == "*" { pi += 1 }
    return pi == p.count
}

import Foundation
import ShrinkBuild
import ShrinkCompress
import ShrinkGraph
import ShrinkPipeline
import ShrinkRuntime
import ShrinkTensor

/// Stage versions: bump one when its outputs for the same inputs would change.
enum StageVersion {
    static let load = 6, calibrate = 1, decompose = 2, evaluate = 5, search = 5, export = 1, report = 4, quantize = 1, deviceCheck = 1
    static let refit = 1
    /// The select stage runs decompose, evaluate and refit sub-stages whose results it embeds, so
    /// its key must change when theirs do.
    static var select: String { "select\(search)-decompose\(decompose)-evaluate\(evaluate)-refit\(refit)" }
    /// Digest of every stage kind and version, for the lock file: a Shrink whose stages compute
    /// differently would decide differently, so its locks are not interchangeable.
    static var engine: String {
        Digest.of("load\(load) calibrate\(calibrate) \(select) export\(export) report\(report) quantize\(quantize) device-check\(deviceCheck)").hex
    }
}

/// Parameters of a decompose stage (fixed or a search candidate).
struct DecomposeParameters: Codable, Sendable, Hashable {
    var layer: String
    var method: ShrinkCompress.MethodName
    var rank: ShrinkCompress.RankSpec
    var fit: FitMode
    var objective: CostObjective
}

extension FitMode {
    /// How search candidates and fixed decompositions are fitted: a `sequential` layer is fitted
    /// to activations until the refit step fits it again in sequence.
    var candidateFit: FitMode { self == .sequential ? .activations : self }
}

/// One layer the search may change: method, fit and the range of ranks.
struct SearchableLayer: Sendable, Hashable, Codable {
    var layer: String
    var method: ShrinkCompress.MethodName
    var fit: FitMode
    var min: Int?, max: Int?, step: Int?, multipleOf: Int?
}

/// Parameters of the select (search) stage.
struct SelectParameters: Codable, Sendable {
    var implementation = StageVersion.select
    var policy: SearchPolicyName
    var objective: CostObjective
    var target: Double?
    var bound: BoundKind
    var boundValue: Double
    var metric: MetricRef
    var searchLimit: Int?
    var searchable: [SearchableLayer]
    var fixedLayers: [String]
    /// `search` and `full` → the data set (its blobs are the `SET.data.*` inputs).
    var data: [String: DataRef]
    /// Layer → the value it reads (for reusing the original's activations).
    var layerInputs: [String: String]
    /// Candidates are scored as int8 models by the integer engine (the reference stays float).
    var quantize: QuantizeParameters?
    /// The device's budgets as constraints of the search, and `objective: flash|ram` (device builds only).
    var device: DeviceSearch?
    /// The margin for sampling error on search data.
    var margin: SamplingMargin = .none
    /// The calibration data the chosen layers marked `fit: sequential` are refitted on (its blobs
    /// are the `calibration.data.*` inputs); nil when no layer is.
    var calibration: DataRef?
    /// The fit of each fixed layer (searchable layers carry theirs).
    var fixedFits: [String: FitMode] = [:]
}

/// How the accept bound is measured.
enum BoundKind: String, Codable, Sendable {
    /// `max_drop`: an absolute drop in the metric.
    case absolute
    /// `max_relative_drop`: a drop relative to the original's value.
    case relative
}

/// What the select stage decided and measured.
struct Selection: Sendable, Codable {
    var passed: Bool
    var baseline: Double
    var metric: Double
    var samples: Int
    var decompositions: [DecompositionRef]
    var before: LayerCost
    var after: LayerCost
    var search: SearchReport?
    /// Samples on which the chosen model's outputs held NaN or infinity (counted as wrong).
    var nonFinite: Int?
    /// Quantised pipelines: the chosen model's metric in float32 and the original model's in int8
    /// (full set; `metric` is the chosen model in int8, `baseline` the original in float32).
    var floatMetric: Double?
    var int8Baseline: Double?
    /// The original's and the chosen model's metric on the whole search set, and its size
    /// (`baseline`, `metric` and `samples` are the deciding set's: the verify set when held out).
    var searchBaseline: Double?, searchMetric: Double?, searchSamples: Int?
    /// Whether `passed` was decided on held-out samples the search never saw.
    var heldOut: Bool?
    /// What the run should say about the check (a bound worth too few verify samples).
    var warnings: [String]?
    /// Why no configuration of the space fits the device's budget (the target then fails).
    var shortfall: BudgetShortfall?
    /// The sequential refit of the chosen ranks, when layers are marked `fit: sequential`.
    var refit: RefitSummary?
    /// The margin for sampling error the search applied.
    var margin: MarginSummary?
}

/// Builds the stages of a pipeline run.
struct StageFactory: Sendable {
    /// The model blob (from the load stage).
    var model: Digest
    /// The model as given (differs from `model` when the load stage fixed symbolic input dimensions).
    var original: Digest
    /// The load stage's summary blob (layer table).
    var summary: Digest
    var objective: CostObjective

    /// A decompose stage identity: unique per parameter set, readable in progress lines.
    static func decomposeIdentity(_ p: DecomposeParameters) -> String {
        "decompose:\(p.layer)@\(p.method):\(p.rank)\(p.fit == .activations ? "+act" : "")"
    }

    func decompose(_ p: DecomposeParameters, stats: StageInput?) -> WorkflowStage<DecomposeStage> {
        var inputs: [String: StageInput] = ["model": .blob(model)]
        if p.fit == .activations, let stats { inputs["stats"] = stats }
        return WorkflowStage(identity: Self.decomposeIdentity(p), parameters: p, inputs: inputs)
    }
}

/// One layer rewritten by one method at one rank (fitted to activation statistics or to the weights).
enum DecomposeStage: WorkflowStageKind {
    static var name: String { "decompose" }
    static var version: Int { StageVersion.decompose }

    static func run(_ p: DecomposeParameters, context ctx: StageContext, environment: StageEnvironment) throws -> StageOutputs {
        let graph = try ArtifactMemo.shared.graph(try ctx.digest(of: "model"), store: ctx.store)
        var statistics: ActivationStatistics?
        if ctx.inputs["stats"] != nil {
            statistics = try ArtifactMemo.shared.statistics(try ctx.digest(of: "stats"), layer: p.layer) {
                try LayerWork.statistics(try NPZ.read(try ctx.fileURL("stats")), layer: p.layer)
            }
        }
        // One BLAS thread (the run's setting), whatever --jobs: LAPACK's results may change in
        // the last bits with the thread count, and a factorisation must not depend on it.
        let (arrays, info) = try LayerWork.decompose(graph, layer: p.layer, method: p.method, rank: p.rank,
                                                     fitToActivations: p.fit == .activations,
                                                     statistics: statistics, objective: p.objective)
        return ["info": try LayerWork.jsonEncoder.encode(info), "factors": try NPZ.encode(arrays)]
    }
}

/// Parameters of an evaluate sub-stage. The model and the decompositions are inputs (by content).
struct EvaluateParameters: Codable, Sendable {
    var set: String
    var metric: MetricRef
    var limit: Int?
    /// The decomposed layers (inputs `factors.L` and `info.L` each).
    var layers: [String]
    /// The data set (its blobs are the `data.*` inputs).
    var data: DataRef
    /// Layer → the value it reads, to reuse the original's activations up to the first change.
    var layerInputs: [String: String]
    /// Score the candidate quantised to int8, with the integer engine.
    var quantize: QuantizeParameters?
}

/// The metric of one candidate (the original model with some layers decomposed) on one data set.
enum EvaluateStage: WorkflowStageKind {
    static var name: String { "evaluate" }
    static var version: Int { StageVersion.evaluate }
    static func checkout(of p: EvaluateParameters) -> URL? { p.metric.command?.workingDirectory }

    static func run(_ p: EvaluateParameters, context ctx: StageContext, environment: StageEnvironment) throws -> StageOutputs {
        let modelDigest = try ctx.digest(of: "model")
        let refs = try p.layers.map { l in
            DecompositionRef(layer: l, factors: try ctx.digest(of: "factors.\(l)"), info: try ctx.digest(of: "info.\(l)"))
        }
        let original = try ArtifactMemo.shared.graph(modelDigest, store: ctx.store)
        let candidate = try LayerWork.apply(refs, to: original, store: ctx.store)
        let dataset = try ArtifactMemo.shared.dataset(p.data, store: ctx.store)
        let metric = p.metric.running(in: environment.checkout)
        if let quantize = p.quantize {
            let score = try ctx.withIdleCores { cores in
                try p.data.attributing {
                    let model = try DeviceWork.prepare(candidate, quantize: quantize, store: ctx.store, threads: cores)
                    guard case .int8(let q) = model else { throw PipelineError.internalError("quantisation gave a float model") }
                    return try DeviceWork.score(q, candidate: candidate, original: original, originalKey: modelDigest.hex, data: dataset,
                                                dataKey: p.data.cacheKey, metric: metric, threads: cores)
                }
            }
            return ["score": try LayerWork.jsonEncoder.encode(score)]
        }
        // The batch is split over every core that is idle now: one core per candidate when the
        // policy scores many at once, all of them for a lone candidate.
        let score = try ctx.withIdleCores { cores in
            try p.data.attributing { try Scoring.score(candidate: candidate, original: original, originalKey: modelDigest.hex,
                                  changedLayers: p.layers, layerInputs: p.layerInputs, data: dataset,
                                  dataKey: p.data.cacheKey, metric: metric, threads: cores) }
        }
        if refs.isEmpty, let n = score.nonFinite, n > 0 {
            // Scores of a model whose own outputs are NaN mean nothing: every candidate "keeps" them.
            let part = p.data.part.map { " of its \($0.rawValue) part" } ?? ""
            throw PipelineError.invalidInput("\(dataset.source): the original model gives NaN or infinite outputs on \(n) of the \(score.samples) samples\(part); fix the model (or the data) before compressing it")
        }
        return ["score": try LayerWork.jsonEncoder.encode(score)]
    }
}

/// The `Evaluator` the search policies call: each candidate's decompositions and its score are
/// cached sub-stages of the select stage, so an interrupted search resumes where it was.
final class PipelineEvaluator: Evaluator, @unchecked Sendable {
    let context: StageContext
    let factory: StageFactory
    let searchable: [String: SearchableLayer]
    let options: [String: [RankOption]]
    let fixed: [DecompositionRef]
    let data: [EvaluationSet: DataRef]
    let metric: MetricRef
    let layerInputs: [String: String]
    let stats: StageInput?
    /// Candidates are scored quantised; the reference (the baseline of the drop) stays float.
    let quantize: QuantizeParameters?
    private let known = NSLock()
    private var decompositions: [String: DecompositionRef] = [:]

    init(context: StageContext, factory: StageFactory, searchable: [SearchableLayer], options: [String: [RankOption]],
         fixed: [DecompositionRef], data: [EvaluationSet: DataRef], metric: MetricRef, layerInputs: [String: String],
         stats: StageInput?, quantize: QuantizeParameters? = nil) {
        self.quantize = quantize
        self.context = context
        self.factory = factory
        self.searchable = Dictionary(uniqueKeysWithValues: searchable.map { ($0.layer, $0) })
        self.options = options
        self.fixed = fixed
        self.data = data
        self.metric = metric
        self.layerInputs = layerInputs
        self.stats = stats
    }

    static func rankText(_ rank: [Int]) -> String { rank.map(String.init).joined(separator: ",") }

    /// `conv1=6,1 fc1=32`: a candidate in ranks (stage names and progress lines), not in the
    /// search's option indices.
    func label(_ configuration: Configuration) -> String {
        guard !configuration.choices.isEmpty else { return "original" }
        return configuration.choices.keys.sorted().map { layer in
            let index = configuration.choices[layer]!
            guard let option = options[layer], option.indices.contains(index) else { return "\(layer)=#\(index)" }
            return "\(layer)=\(Self.rankText(option[index].rank))"
        }.joined(separator: " ")
    }

    func parameters(_ layer: String, _ option: Int) -> DecomposeParameters {
        let s = searchable[layer]!
        return DecomposeParameters(layer: layer, method: s.method, rank: .exact(Rank(options[layer]![option].rank)),
                                   fit: s.fit.candidateFit, objective: factory.objective)
    }

    /// Decompositions for (layer, option) pairs, computed as sub-stages in one parallel batch.
    func decompositions(for pairs: [(String, Int)]) throws -> [DecompositionRef] {
        let keys = pairs.map { "\($0.0)#\($0.1)" }
        let missing = known.withLock { zip(pairs, keys).filter { decompositions[$0.1] == nil } }
        if !missing.isEmpty {
            var seen = Set<String>()
            let unique = missing.filter { seen.insert($0.1).inserted }
            let stages: [any ShrinkBuild.Stage] = unique.map { factory.decompose(parameters($0.0.0, $0.0.1), stats: stats) }
            let results = try context.run(substages: stages)
            known.withLock {
                for (m, r) in zip(unique, results) {
                    decompositions[m.1] = DecompositionRef(layer: m.0.0, factors: r.outputs["factors"]!, info: r.outputs["info"]!)
                }
            }
        }
        return known.withLock { keys.map { decompositions[$0]! } }
    }

    func evaluate(_ configurations: [Configuration], on set: EvaluationSet) throws -> [Double] {
        let pairs = configurations.flatMap { c in c.choices.map { ($0.key, $0.value) } }
        _ = try decompositions(for: pairs)
        let stages: [any ShrinkBuild.Stage] = try configurations.map { c in
            let refs = try decompositions(for: c.choices.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            return evaluateStage(refs: fixed + refs, set: set, label: label(c))
        }
        return try scores(try context.run(substages: stages))
    }

    func reference(on set: EvaluationSet) throws -> Double {
        try scores(try context.run(substages: [evaluateStage(refs: [], set: set, label: "reference", quantized: false)]))[0]
    }

    /// Samples and per-sample spread of a scored configuration (the original: the reference's),
    /// read back from its cached evaluate stage.
    func spread(of configuration: Configuration, on set: EvaluationSet) throws -> ScoreSpread? {
        let score: Scoring.Score
        if configuration.choices.isEmpty {
            let r = try context.run(substages: [evaluateStage(refs: [], set: set, label: "reference", quantized: false)])
            score = try JSONDecoder().decode(Scoring.Score.self, from: try context.store.read(try r[0].digest("score")))
        } else {
            score = try self.score(configuration, on: set)
        }
        return ScoreSpread(samples: score.samples, deviation: score.deviation)
    }

    /// The int8 original (nothing decomposed) on `set`, for quantised pipelines.
    func quantizedReference(on set: EvaluationSet) throws -> Double {
        try scores(try context.run(substages: [evaluateStage(refs: [], set: set, label: "reference-int8")]))[0]
    }

    /// The certified score of the chosen configuration, with its sample count (`quantized: false`:
    /// the float32 model of a quantised pipeline).
    func score(_ configuration: Configuration, on set: EvaluationSet, quantized: Bool = true) throws -> Scoring.Score {
        let refs = try decompositions(for: configuration.choices.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        let r = try context.run(substages: [evaluateStage(refs: fixed + refs, set: set, label: label(configuration) + (quantized ? "" : " (float)"),
                                                          quantized: quantized)])
        return try JSONDecoder().decode(Scoring.Score.self, from: try context.store.read(try r[0].digest("score")))
    }

    /// The score of the model with exactly `refs` applied (the refitted choice), on `set`.
    func score(refs: [DecompositionRef], on set: EvaluationSet, label: String, quantized: Bool = true) throws -> Scoring.Score {
        let r = try context.run(substages: [evaluateStage(refs: refs, set: set, label: label + (quantized ? "" : " (float)"),
                                                          quantized: quantized)])
        return try JSONDecoder().decode(Scoring.Score.self, from: try context.store.read(try r[0].digest("score")))
    }

    private func scores(_ results: [StageResult]) throws -> [Double] {
        try results.map { try JSONDecoder().decode(Scoring.Score.self, from: try context.store.read(try $0.digest("score"))).value }
    }

    /// The set whose data is scored: `full` is `search` itself when no subset is taken, so
    /// its evaluations are the search's (one stage, computed once).
    func dataSet(_ set: EvaluationSet) -> EvaluationSet {
        set == .full && data[.full] == data[.search] ? .search : set
    }

    func evaluateStage(refs: [DecompositionRef], set requested: EvaluationSet, label: String, quantized: Bool = true) -> WorkflowStage<EvaluateStage> {
        let set = dataSet(requested)
        let dataRef = data[set]!
        let quantize = quantized ? self.quantize : nil
        var inputs: [String: StageInput] = dataRef.inputs
        if let quantize { inputs.merge(quantize.inputs) { a, _ in a } }
        inputs["model"] = .blob(factory.model)
        let sorted = refs.sorted { $0.layer < $1.layer }
        for r in sorted {
            inputs["factors.\(r.layer)"] = .blob(r.factors)
            inputs["info.\(r.layer)"] = .blob(r.info)
        }
        let params = EvaluateParameters(set: set.rawValue, metric: metric, limit: dataRef.limit, layers: sorted.map(\.layer),
                                        data: dataRef, layerInputs: layerInputs, quantize: quantize)
        let prefix = quantize == nil ? "evaluate" : "evaluate-int8"
        return WorkflowStage(identity: "\(prefix):\(set.rawValue):\(label)", parameters: params, inputs: inputs)
    }
}

extension NSLock {
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

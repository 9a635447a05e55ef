import Foundation
import ShrinkBuild
import ShrinkCompress
import ShrinkDevice
import ShrinkGraph
import ShrinkPipeline
import ShrinkRuntime
import ShrinkTensor

/// How `shrink run` runs.
public struct RunOptions: Sendable {
    /// Parallel stages (and parallel candidate evaluations).
    public var jobs: Int
    /// Keep running independent stages after a failure.
    public var keepGoing: Bool
    /// Run only this variant (nil: the main target and every variant).
    public var variant: String?
    /// Progress and warnings, one line each.
    public var log: @Sendable (String) -> Void
    /// Stage events (progress line).
    public var observer: (any SchedulerObserver)?
    /// Where stages that miss the cache are computed (`--executor`); the search itself stays in
    /// this process and sends its candidates there.
    public var executor: any Executor = InProcessExecutor()
    /// The team cache under the local store (`--remote-cache`, `SHRINK_REMOTE_CACHE`,
    /// `shrink-config.yaml`); nil: local only.
    public var remote: RemoteCache?

    /// Options.
    public init(jobs: Int = ProcessInfo.processInfo.activeProcessorCount, keepGoing: Bool = false, variant: String? = nil,
                log: @escaping @Sendable (String) -> Void = { _ in }, observer: (any SchedulerObserver)? = nil) {
        self.jobs = max(1, jobs)
        self.keepGoing = keepGoing
        self.variant = variant
        self.log = log
        self.observer = observer
    }
}

/// The outcome of one target (the pipeline itself or one variant).
public struct TargetOutcome: Sendable, Codable {
    /// `main` or the variant's name.
    public var target: String
    /// Whether the final model meets the bound on the verify set (held-out samples by default).
    public var passed: Bool
    /// Whether the final model is bigger than the original in parameters or MACs (only a rule
    /// with `allow_growth: true` lets that happen); such a model is never called "passed".
    public var grew: Bool
    /// Original and final metric on the verify set (what `passed` was decided on).
    public var baseline: Double, metric: Double
    /// Reductions.
    public var paramsReduction: Double, macsReduction: Double
    /// Files written or verified.
    public var exported: [String]
    /// Per layer: method and rank.
    public var layers: [String: String]
    /// The original's and the final model's metric on the whole search set, and its size.
    public var searchBaseline: Double, searchMetric: Double, searchSamples: Int
    /// Samples of the verify set (`metric` is `verifyMetric`).
    public var verifySamples: Int
    /// Whether the verify set was held out from the search (false for pipelines that certify on
    /// the search set itself, which none do since `data.verify` exists).
    public var heldOut: Bool
    /// The device build (flash, RAM, sizes measured, the C library's check), when there is one.
    public var device: DeviceOutcome?
    /// The device budget (`flash`, `ram`) no configuration of the search space fits, when that is
    /// why the target failed rather than the accuracy bound.
    public var overBudget: String?
    /// The final model's metric on the verify set: `metric` under the name reports use.
    public var verifyMetric: Double { metric }

    private enum CodingKeys: String, CodingKey {
        case target, passed, grew, baseline, metric, paramsReduction, macsReduction, exported, layers
        case searchBaseline = "search_baseline", searchMetric = "search_metric", searchSamples = "search_samples"
        case verifySamples = "verify_samples", heldOut = "held_out", verifyMetric = "verify_metric", device
        case overBudget = "over_budget"
    }

    /// An outcome.
    public init(target: String, passed: Bool, grew: Bool, baseline: Double, metric: Double, paramsReduction: Double,
                macsReduction: Double, exported: [String], layers: [String: String], searchBaseline: Double,
                searchMetric: Double, searchSamples: Int, verifySamples: Int, heldOut: Bool, device: DeviceOutcome? = nil,
                overBudget: String? = nil) {
        self.target = target
        self.passed = passed
        self.grew = grew
        self.baseline = baseline
        self.metric = metric
        self.paramsReduction = paramsReduction
        self.macsReduction = macsReduction
        self.exported = exported
        self.layers = layers
        self.searchBaseline = searchBaseline
        self.searchMetric = searchMetric
        self.searchSamples = searchSamples
        self.verifySamples = verifySamples
        self.heldOut = heldOut
        self.device = device
        self.overBudget = overBudget
    }

    /// Decodes an outcome (`verify_metric` is derived, not read).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        target = try c.decode(String.self, forKey: .target)
        passed = try c.decode(Bool.self, forKey: .passed)
        grew = try c.decode(Bool.self, forKey: .grew)
        baseline = try c.decode(Double.self, forKey: .baseline)
        metric = try c.decode(Double.self, forKey: .metric)
        paramsReduction = try c.decode(Double.self, forKey: .paramsReduction)
        macsReduction = try c.decode(Double.self, forKey: .macsReduction)
        exported = try c.decode([String].self, forKey: .exported)
        layers = try c.decode([String: String].self, forKey: .layers)
        searchBaseline = try c.decode(Double.self, forKey: .searchBaseline)
        searchMetric = try c.decode(Double.self, forKey: .searchMetric)
        searchSamples = try c.decode(Int.self, forKey: .searchSamples)
        verifySamples = try c.decode(Int.self, forKey: .verifySamples)
        heldOut = try c.decode(Bool.self, forKey: .heldOut)
        device = try c.decodeIfPresent(DeviceOutcome.self, forKey: .device)
        overBudget = try c.decodeIfPresent(String.self, forKey: .overBudget)
    }

    /// Encodes every field and `verify_metric`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(target, forKey: .target)
        try c.encode(passed, forKey: .passed)
        try c.encode(grew, forKey: .grew)
        try c.encode(baseline, forKey: .baseline)
        try c.encode(metric, forKey: .metric)
        try c.encode(paramsReduction, forKey: .paramsReduction)
        try c.encode(macsReduction, forKey: .macsReduction)
        try c.encode(exported, forKey: .exported)
        try c.encode(layers, forKey: .layers)
        try c.encode(searchBaseline, forKey: .searchBaseline)
        try c.encode(searchMetric, forKey: .searchMetric)
        try c.encode(searchSamples, forKey: .searchSamples)
        try c.encode(verifySamples, forKey: .verifySamples)
        try c.encode(heldOut, forKey: .heldOut)
        try c.encode(metric, forKey: .verifyMetric)
        try c.encodeIfPresent(device, forKey: .device)
        try c.encodeIfPresent(overBudget, forKey: .overBudget)
    }
}

/// The outcome of `shrink run`.
public struct RunOutcome: Sendable, Codable {
    /// Stages that ran, and stages that came from the cache (sub-stages included).
    public var executed: Int, cached: Int
    /// One entry per target.
    public var targets: [TargetOutcome]
    /// Why stages ran: identity → reasons.
    public var reasons: [String: [String]]
    /// What the team cache did (nil without one).
    public var remote: RemoteCacheStats?
    /// Whether every target met its bound.
    public var allPassed: Bool { targets.allSatisfy(\.passed) }
}

/// Turns a pipeline file into stages, runs them, exports the results and writes the lock file.
public struct PipelineRunner: Sendable {
    /// The pipeline file.
    public var file: URL
    /// Options.
    public var options: RunOptions
    /// Which pipeline entry each data blob came from, so data-content errors raised inside stages
    /// point at the `data:` entry (file:line:col), not at a cache object.
    let dataOrigins = DataOrigins()

    /// A runner.
    public init(file: URL, options: RunOptions = RunOptions()) {
        self.file = file.standardizedFileURL
        self.options = options
    }

    /// The repository root (nearest folder above the pipeline holding `.git`).
    public var root: URL { RepositoryRoot.find(from: file.deletingLastPathComponent()) }

    /// How the run's stages are scheduled: Ctrl-C and SIGTERM stop the run, and stages still
    /// running are abandoned (unpublished) after half a second, so the process ends well within
    /// two seconds of the signal however long their BLAS calls take.
    var schedulerOptions: SchedulerOptions {
        SchedulerOptions(jobs: options.jobs, keepGoing: options.keepGoing, handlesSignals: true, cancellationGrace: 0.5,
                         executor: options.executor)
    }

    func openStore() throws -> Store {
        try Store(repositoryRoot: root, warn: options.log, remote: options.remote)
    }

    /// Where git recipes are cached: `.shrink/recipes` beside the store.
    var recipeCache: URL { root.appendingPathComponent(".shrink/recipes") }

    /// Loads and validates the pipeline, printing warnings through `log`.
    func loadPipeline() throws -> LoadedPipeline {
        let loaded: LoadedPipeline
        do {
            loaded = try PipelineLoader(gitCache: recipeCache).load(file: file)
        } catch {
            throw PipelineError.diagnostics(error.diagnostics)
        }
        return loaded
    }

    /// Everything a run needs, resolved before any stage runs.
    struct Resolved {
        var loaded: LoadedPipeline
        var loadIdentity: String { PipelineRunner.loadIdentity(loaded.spec) }
        var store: Store
        var model: Digest
        var summaryDigest: Digest
        var summary: ModelSummary
        var phaseA: RunSummary?
        /// The load stage's key (plan tells a local from a remote hit by it).
        var loadKey: StageKey
        var graph: StageGraph
        var targets: [(name: String, spec: PipelineSpec, select: String, export: String, report: String)]
        var warnings: [String]
    }

    /// Reads the model; `data` (the evaluation set) fixes input dimensions the model leaves
    /// symbolic besides the batch. Outputs `model` (with those fixed; what every later stage reads),
    /// `original` (as given; what the export keeps the interface of) and `summary`.
    func loadStage(_ model: StageInput, data: DataRef, identity: String) -> WorkflowStage<LoadStage> {
        var inputs = data.inputs
        inputs["model"] = model
        return WorkflowStage(identity: identity, parameters: data, inputs: inputs)
    }

    /// The model file as the load stage's input: the file itself, or — when it keeps tensors in
    /// external data files (PyTorch's default exporter) — one self-contained model made from it
    /// and its data, so the stage, the cache and other machines see every byte that was hashed.
    func modelInput(_ url: URL, store: Store, at location: SourceLocation) throws -> StageInput {
        let data: Data?
        do { data = try Graph.selfContainedData(ofModelAt: url.path) } catch {
            throw PipelineError.invalid("model `\(relativePath(url, from: file.deletingLastPathComponent()))`: \(error.message)\(error.hint.map { "; \($0)" } ?? "")", at: location)
        }
        guard let data else { return .file(url) }
        return .blob(try store.put(data))
    }

    /// Phase A (load) then the per-layer graph of phase B.
    func resolve(store: Store, execute: Bool) throws -> Resolved {
        let loaded = try loadPipeline()
        let modelURL = loaded.spec.model.value
        guard FileManager.default.fileExists(atPath: modelURL.path) else {
            throw PipelineError.invalid("model file not found: \(relativePath(modelURL, from: file.deletingLastPathComponent()))",
                                        at: loaded.spec.model.location)
        }
        // Named after the pipeline, like every other stage: `plan` explains a stage by comparing it
        // with the last run of the same identity, which must be this pipeline's, not another's.
        let loadIdentity = Self.loadIdentity(loaded.spec)
        var phaseA = StageGraph()
        let labelFree = { (spec: PipelineSpec) -> Bool in if case .fidelity = spec.metric.value { return true }; return false }
        try phaseA.add(loadStage(try modelInput(modelURL, store: store, at: loaded.spec.model.location), data: try dataRef(loaded.spec.data.eval, limit: nil, store: store, labels: !labelFree(loaded.spec)),
                                 identity: loadIdentity))
        let scheduler = Scheduler(store: store, options: schedulerOptions, observer: options.observer)
        var summaryA: RunSummary?
        let loadResult: StageResult
        if execute {
            let s = try scheduler.run(phaseA)
            summaryA = s
            if s.interrupted { throw PipelineInterrupted(signal: s.interruptSignal) }
            if let f = s.failures.first { throw explain(f, specs: loaded.allSpecs) }
            guard let r = s.results[loadIdentity] else { throw PipelineError.internalError("load stage did not finish") }
            loadResult = r
        } else {
            let planned = try scheduler.plan(phaseA)
            let known: ActionRecord? = switch planned[0].status {
            case .cached(let key): store.record(for: key)
            case .remote(let key): store.remote?.knownRecord(key)
            case .willRun, .unavailable: nil
            }
            guard let record = known else { throw PlanIncomplete(stages: planned) }
            let key = record.key
            loadResult = StageResult(identity: loadIdentity, kind: "load", key: key, outputs: record.outputs.mapValues(\.digest), status: .cached,
                                     reasons: [], elapsed: 0)
        }
        let model = try loadResult.digest("model")
        let original = try loadResult.digest("original")
        let summary = try JSONDecoder().decode(ModelSummary.self, from: try store.read(try loadResult.digest("summary")))
        let layers = summary.layers.map {
            LayerDescription(name: $0.name, op: $0.op, kernel: $0.kernel, params: $0.params, macs: $0.macs, group: $0.group,
                             inputChannels: $0.op == "Conv" && $0.weightShape.count > 1 ? $0.weightShape[1] * ($0.group ?? 1) : nil)
        }
        let assignment = loaded.assign(layers: layers, applicability: try Self.applicability(model: model, store: store))
        if assignment.hasErrors {
            throw PipelineError.diagnostics(assignment.diagnostics)
        }
        // Notes (an imported recipe's rule that matches no layer here) are for `plan`, not every run.
        var warnings = (loaded.diagnostics + assignment.diagnostics).filter { $0.severity != .note }.map {
            $0.formatted(relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        }
        if let note = summary.pinnedInput { warnings.append("warning: \(note)") }
        var graph = StageGraph()
        var targets: [(String, PipelineSpec, String, String, String)] = []
        var added = Set<String>()
        let specs: [(String, PipelineSpec, LayerAssignments)] =
            [("main", loaded.spec, assignment.pipeline)] + loaded.variants.compactMap { v in
                guard let name = v.variant, let a = assignment.variants[name] else { return nil }
                return (name, v, a)
            }
        let growth = try growthDiagnostics(specs.map { ($0.1, $0.2) }, summary: summary, model: model, store: store)
        if !growth.isEmpty { throw PipelineError.diagnostics(growth) }
        for (name, spec, assigned) in specs where options.variant == nil || options.variant == name || (options.variant == "main" && name == "main") {
            try addTarget(name: name, spec: spec, assigned: assigned, summary: summary, summaryDigest: try loadResult.digest("summary"), model: model, original: original, store: store,
                          graph: &graph, added: &added, warnings: &warnings)
            let prefix = Self.stagePrefix(spec: spec, target: name)
            targets.append((name, spec, "\(prefix)select", "\(prefix)export", "\(prefix)report"))
        }
        if targets.isEmpty, let v = options.variant {
            throw PipelineError.invalidInput("\(file.lastPathComponent): no variant named '\(v)' (it has: main\(loaded.variants.compactMap(\.variant).map { ", " + $0 }.joined()))")
        }
        return Resolved(loaded: loaded, store: store, model: model, summaryDigest: try loadResult.digest("summary"), summary: summary, phaseA: summaryA, loadKey: loadResult.key, graph: graph,
                        targets: targets, warnings: warnings)
    }

    /// Adds the stages of one target; stages with identical parameters are shared across targets.
    func addTarget(name: String, spec: PipelineSpec, assigned: LayerAssignments, summary: ModelSummary, summaryDigest: Digest, model: Digest,
                   original: Digest, store: Store, graph: inout StageGraph, added: inout Set<String>, warnings: inout [String]) throws {
        let objective = CostObjective(spec.search.objective.value)
        // `fit: sequential` (the default) needs Shrink's engine to run the model on calibration
        // data; a model it cannot run is fitted to the weights instead, with a warning.
        var fits: [String: FitMode] = [:]
        for a in assigned.assignments where a.method != .keep {
            fits[a.layer.name] = a.fit == .sequential && summary.engineError != nil ? .weights : a.fit
        }
        if let engineError = summary.engineError {
            let fitted = fits.filter { $0.value == .activations }.map(\.key)
            if case .command = spec.metric.value, fitted.isEmpty {
                warnings.append("warning: \(spec.model.value.path): Shrink's engine cannot run this model (\(engineError)); the `command` metric evaluates every candidate")
                if assigned.assignments.contains(where: { $0.fit == .sequential && $0.method != .keep }) {
                    warnings.append("warning: \(spec.model.value.path): `fit: sequential` needs Shrink's engine; the layers are fitted to the weights")
                }
            } else {
                let needs = fitted.isEmpty ? "metric `\(spec.metric.value.name)` needs Shrink's engine"
                    : "`fit: activations` (\(fitted.sorted().joined(separator: ", "))) needs Shrink's engine"
                throw PipelineError.invalid("\(engineError). The \(name == "main" ? "pipeline" : "variant '\(name)'")'s \(needs); evaluate with your own runtime through `metric: { command: […] }` and fit to the weights",
                                            at: spec.model.location)
            }
        }
        var needsStats = false
        var searchable: [SearchableLayer] = []
        var fixedParams: [DecomposeParameters] = []
        var fixedFits: [String: FitMode] = [:]
        let byName = Dictionary(uniqueKeysWithValues: summary.layers.map { ($0.name, $0) })
        for a in assigned.assignments where a.method != .keep {
            let fit = fits[a.layer.name] ?? .weights
            if fit.candidateFit == .activations { needsStats = true }
            let method = ShrinkCompress.MethodName(a.method)
            if let given = a.rank, let rank = ShrinkCompress.RankSpec(given, layer: byName[a.layer.name]) {
                fixedParams.append(DecomposeParameters(layer: a.layer.name, method: method, rank: rank, fit: fit.candidateFit, objective: objective))
                fixedFits[a.layer.name] = fit
            } else {
                var s = SearchableLayer(layer: a.layer.name, method: method, fit: fit)
                if case .search(let r) = a.rank { s.min = r.min; s.max = r.max; s.step = r.step; s.multipleOf = r.multipleOf }
                searchable.append(s)
            }
        }
        let calibration = spec.data.effectiveCalibration
        // A split `eval` is split the same way everywhere: calibration reads its search part, so
        // the verify samples stay unseen by every fit as well as by the search.
        let split = spec.data.verifyFraction.map { DataSplit(verifyFraction: $0) }
        var statsInput: StageInput?
        // Calibration reads inputs only: labels are never needed to fit.
        let calib = needsStats || fits.values.contains(.sequential)
            ? try dataRef(calibration, limit: nil, store: store, labels: false,
                          split: spec.data.calibrationIsSplit ? split : nil, part: .search)
            : nil
        if needsStats, let calib {
            let layersNeeding = fits.filter { $0.value.candidateFit == .activations }.map(\.key).sorted()
            let identity = "calibrate:" + Digest.of(layersNeeding.joined(separator: ",") + calib.cacheKey).short
            if added.insert(identity).inserted {
                var inputs = calib.inputs
                inputs["model"] = .blob(model)
                try graph.add(WorkflowStage<CalibrateStage>(identity: identity, parameters: CalibrateParameters(layers: layersNeeding, data: calib),
                                                            inputs: inputs))
            }
            statsInput = .output(of: identity, named: "stats")
        }
        let factory = StageFactory(model: model, original: original, summary: summaryDigest, objective: objective)
        var fixed: [String: String] = [:]
        for p in fixedParams {
            let stage = factory.decompose(p, stats: statsInput)
            if added.insert(stage.identity).inserted { try graph.add(stage) }
            fixed[p.layer] = stage.identity
        }
        var labels = true
        if case .fidelity = spec.metric.value { labels = false }
        let subset = spec.data.searchSubset?.value
        let searchSet = spec.data.effectiveSearch
        let searchRef = try dataRef(searchSet, limit: subset, store: store, labels: labels, split: split, part: .search)
        let full = try dataRef(searchSet, limit: nil, store: store, labels: labels, split: split, part: .search)
        let verify = try dataRef(spec.data.effectiveVerify, limit: nil, store: store, labels: labels, split: split, part: .verify)
        let (bound, boundValue): (BoundKind, Double) = {
            switch spec.accept.value {
            case .maxDrop(let d): return (.absolute, d)
            case .maxRelativeDrop(let r): return (.relative, r)
            }
        }()
        let metric = MetricRef(spec.metric.value)
        let prefix = Self.stagePrefix(spec: spec, target: name)
        let quantize = try deviceQuantization(spec, model: model, store: store)
        let layerInputs = Dictionary(uniqueKeysWithValues: summary.layers.map { ($0.name, $0.input) })
        let params = SelectParameters(policy: SearchPolicyName(spec.search.policy.value), objective: objective,
                                      target: spec.search.target?.value, bound: bound, boundValue: boundValue, metric: metric,
                                      searchLimit: subset, searchable: searchable, fixedLayers: fixedParams.map(\.layer).sorted(),
                                      data: [EvaluationSet.full.rawValue: full, EvaluationSet.search.rawValue: searchRef,
                                             EvaluationSet.verify.rawValue: verify],
                                      layerInputs: layerInputs, quantize: quantize,
                                      device: Self.deviceSearch(spec, int8: quantize != nil),
                                      margin: Self.samplingMargin(spec), calibration: fits.values.contains(.sequential) ? calib : nil,
                                      fixedFits: fixedFits)
        let log = options.log
        try graph.add(factory.select(identity: "\(prefix)select", parameters: params, fixed: fixed, stats: statsInput,
                                     log: { log("\(prefix)search: \($0)") }))
        try graph.add(factory.export(identity: "\(prefix)export", select: "\(prefix)select"))
        var quantizeStage: String?
        if Self.buildsForDevice(spec) {
            quantizeStage = "\(prefix)quantize"
            try graph.add(factory.quantize(identity: "\(prefix)quantize", export: "\(prefix)export",
                                           parameters: DeviceBuildParameters(quantize: quantize, device: Self.deviceName(spec))))
            let verify = spec.target?.verify.map { $0.value == .host ? VerifyTarget.host : .qemu }
            let checkData = try verify.map { try dataRef(spec.data.eval, limit: $0 == .qemu ? 100 : nil, store: store, labels: false) }
            try graph.add(factory.deviceCheck(identity: "\(prefix)device-check", quantize: "\(prefix)quantize", export: "\(prefix)export",
                                              parameters: DeviceCheckParameters(device: Self.deviceName(spec), verify: verify, data: checkData,
                                                                                tools: DeviceCheckParameters.tools(.detect()))))
        }
        let base = file.deletingLastPathComponent()
        let boundText = bound == .absolute ? "absolute drop ≤ \(boundValue)" : "relative drop ≤ \(boundValue)"
        let report = ReportParameters(pipeline: spec.name.value, variant: name == "main" ? nil : name,
                                      model: relativePath(spec.model.value, from: base), metric: spec.metric.value.name,
                                      bound: boundText, stem: spec.export.report.value.deletingPathExtension().lastPathComponent,
                                      boundKind: bound, boundValue: boundValue, higherIsBetter: metric.higherIsBetter,
                                      flashBudget: spec.target?.flash?.value, ramBudget: spec.target?.ram?.value)
        try graph.add(factory.report(identity: "\(prefix)report", select: "\(prefix)select", export: "\(prefix)export",
                                     quantize: quantizeStage, int8: quantize != nil, parameters: report))
    }

    /// Rule matching asks the decomposition methods themselves — the same check their stages run —
    /// whether they can rewrite a layer, so every refusal is reported at its rule.
    static func applicability(model: Digest, store: Store) throws -> MethodApplicability {
        let graph = try ArtifactMemo.shared.graph(model, store: store)
        let refs = try GraphLayers.references(in: graph)
        var descriptors: [String: LayerDescriptor] = [:]
        for r in refs { if let d = try? GraphLayers.descriptor(r, in: graph) { descriptors[d.name] = d } }
        return MethodApplicability { [descriptors] method, layer in
            guard let d = descriptors[layer.name] else { return nil }
            do {
                try ShrinkCompress.MethodName(method).method.check(d)
                return nil
            } catch {
                return (error as? DecompositionError)?.message ?? "\(error)"
            }
        }
    }

    /// `search.margin` for the pipeline's metric: proportions (top-k, agreement) get a binomial
    /// standard error, means (relative L2, cosine, MSE, a command's number) their samples' own.
    static func samplingMargin(_ spec: PipelineSpec) -> SamplingMargin {
        let spread: SamplingMargin.Spread
        switch spec.metric.value {
        case .top1, .top5, .topK: spread = .proportion
        case .fidelity(let f): spread = f.measure == .agreement ? .proportion : .mean
        case .mse, .command: spread = .mean
        }
        switch spec.search.margin.value {
        case .auto: return SamplingMargin(mode: .auto, spread: spread)
        case .fixed(let m): return SamplingMargin(mode: .fixed(m), spread: spread)
        }
    }

    /// `lenet-mnist/load`: the load stage, shared by the pipeline's variants.
    static func loadIdentity(_ spec: PipelineSpec) -> String { "\(spec.name.value)/load" }

    /// `lenet-mnist/` or `lenet-mnist[loose]/`: stage names say which pipeline and target they serve.
    static func stagePrefix(spec: PipelineSpec, target: String) -> String {
        target == "main" ? "\(spec.name.value)/" : "\(spec.name.value)[\(target)]/"
    }

    /// A data set as store blobs (files are copied into the store so stages read what was hashed).
    /// `labels: false` reads the inputs only (a label-free metric needs no `y`).
    func dataRef(_ spec: DataSetSpec, limit: Int?, store: Store, labels: Bool = true, split: DataSplit? = nil,
                 part: DataSplit.Part = .search) throws -> DataRef {
        var ref = try plainDataRef(spec, limit: limit, store: store, labels: labels)
        if let split {
            ref.split = split
            ref.part = part
        }
        return ref
    }

    private func plainDataRef(_ spec: DataSetSpec, limit: Int?, store: Store, labels: Bool) throws -> DataRef {
        let base = file.deletingLastPathComponent()
        func put(_ url: URL) throws -> Digest {
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw PipelineError.invalid("data file not found: \(relativePath(url, from: base))", at: spec.location)
            }
            let digest = try store.putFile(at: url)
            dataOrigins.record(digest, file: relativePath(url, from: base), at: spec.location)
            ArtifactMemo.shared.setName(relativePath(url, from: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)),
                                        for: digest)
            return digest
        }
        switch spec.source {
        case .npz(let url, let x, let y):
            return DataRef(format: "npz", x: try put(url), y: nil, xKey: x, yKey: labels ? y : nil, scale: spec.scale, limit: limit)
        case .npy(let x, let y):
            let y = labels ? y : nil
            return DataRef(format: "npy", x: try put(x), y: try y.map(put), xKey: "x", yKey: y == nil ? nil : "y",
                           scale: spec.scale, limit: limit)
        }
    }
}

/// `plan` could not look past a stage that has not run yet.
struct PlanIncomplete: Error {
    var stages: [PlannedStage]
}

/// `path` relative to `base` when it lies below it, else with `../` steps.
func relativePath(_ url: URL, from base: URL) -> String {
    let a = url.standardizedFileURL.pathComponents, b = base.standardizedFileURL.pathComponents
    var i = 0
    while i < a.count && i < b.count && a[i] == b[i] { i += 1 }
    return (Array(repeating: "..", count: b.count - i) + a[i...]).joined(separator: "/")
}

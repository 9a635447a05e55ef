import Foundation
import ShrinkBuild
import ShrinkCompress
import ShrinkDevice
import ShrinkGraph
import ShrinkPipeline
import ShrinkTensor

extension StageFactory {
    /// The select stage: runs the rank search (or just certifies fixed choices) and publishes the
    /// chosen decompositions with the verified metric.
    func select(identity: String, parameters: SelectParameters, fixed: [String: String], stats: StageInput?,
                log: @escaping @Sendable (String) -> Void) -> WorkflowStage<SelectStage> {
        var inputs: [String: StageInput] = ["model": .blob(model)]
        for (set, ref) in parameters.data {
            for (k, v) in ref.inputs { inputs["\(set).\(k)"] = v }
        }
        if let stats { inputs["stats"] = stats }
        if let c = parameters.calibration { for (k, v) in c.inputs { inputs["calibration.\(k)"] = v } }
        if let q = parameters.quantize { inputs.merge(q.inputs) { a, _ in a } }
        for (layer, stage) in fixed {
            inputs["fixed.factors.\(layer)"] = .output(of: stage, named: "factors")
            inputs["fixed.info.\(layer)"] = .output(of: stage, named: "info")
        }
        return WorkflowStage(identity: identity, parameters: parameters, inputs: inputs, log: log)
    }

    /// The export stage: the chosen decompositions applied to the model, as ONNX bytes.
    func export(identity: String, select: String) -> WorkflowStage<ExportStage> {
        var inputs: [String: StageInput] = ["model": .blob(model), "selection": .output(of: select, named: "selection")]
        if original != model { inputs["original"] = .blob(original) }
        return WorkflowStage(identity: identity, parameters: EmptyParameters(), inputs: inputs)
    }
}

/// The rank search (or the certification of fixed choices): runs in the driver, where its policy
/// decides as scores arrive; its candidate decompositions and evaluations are sub-stages that go
/// through the run's executor.
enum SelectStage: WorkflowStageKind {
    static var name: String { "select" }
    static var version: Int { StageVersion.search }
    static var runsInDriver: Bool { true }
    static func checkout(of p: SelectParameters) -> URL? { p.metric.command?.workingDirectory }

    static func run(_ p: SelectParameters, context ctx: StageContext, environment: StageEnvironment) throws -> StageOutputs {
        let model = try ctx.digest(of: "model")
        let factory = StageFactory(model: model, original: model, summary: model, objective: p.objective)
        let stats: StageInput? = ctx.inputs["stats"].map { .blob($0) }
        var data: [EvaluationSet: DataRef] = [:]
        for (set, ref) in p.data { if let s = EvaluationSet(rawValue: set) { data[s] = ref } }
        let metric = p.metric.running(in: environment.checkout)
        let graph = try ArtifactMemo.shared.graph(model, store: ctx.store)
        let refs = try GraphLayers.references(in: graph)
        let table = try GraphLayers.table(of: graph)
        var options: [String: [RankOption]] = [:]
        var layers: [SearchLayer] = []
        for s in p.searchable {
            let d = try GraphLayers.descriptor(try GraphLayers.reference(named: s.layer, in: refs), in: graph)
            let opts = try RankLadder.options(method: s.method, layer: d, objective: factory.objective,
                                              range: RankLadder.Range(min: s.min, max: s.max, step: s.step, multipleOf: s.multipleOf))
            options[s.layer] = opts
            if !opts.isEmpty { layers.append(SearchLayer(name: s.layer, original: d.cost, options: opts)) }
        }
        let fixedRefs = try p.fixedLayers.map { l in
            DecompositionRef(layer: l, factors: try ctx.digest(of: "fixed.factors.\(l)"), info: try ctx.digest(of: "fixed.info.\(l)"))
        }
        var fixedCost = LayerCost(params: table.modelParams, macs: table.totalMACs)
        for l in layers { fixedCost = fixedCost - l.original }
        for r in fixedRefs {
            let info = try JSONDecoder().decode(DecompositionInfo.self, from: try ctx.store.read(r.info))
            fixedCost = fixedCost - info.before + info.after
        }
        let space = SearchSpace(layers: layers, fixedCost: fixedCost)
        let evaluator = PipelineEvaluator(context: ctx, factory: factory, searchable: p.searchable, options: options,
                                          fixed: fixedRefs, data: data, metric: metric, layerInputs: p.layerInputs,
                                          stats: stats, quantize: p.quantize)
        let acceptance = Acceptance(bound: p.bound == .relative ? .relative(p.boundValue) : .absolute(p.boundValue),
                                    direction: p.metric.higherIsBetter ? .higherIsBetter : .lowerIsBetter)
        let (constraints, ranking) = try deviceConstraints(p, graph: graph, fixed: fixedRefs, layers: layers, ctx: ctx)
        let session = SearchSession(space: space, acceptance: acceptance, objective: factory.objective,
                                    evaluator: evaluator, margin: p.margin, constraints: constraints, ranking: ranking,
                                    log: environment.log)
        let policy: any ShrinkCompress.SearchPolicy
        switch p.policy {
        case .greedy: policy = GreedyPolicy(target: p.target)
        case .binary: policy = BinaryPolicy()
        case .incremental: policy = IncrementalPolicy()
        case .budget: policy = BudgetPolicy()
        }
        let holdOut = data[.verify] != nil
        // With a refit step the verify set is scored here, once, on the refitted model.
        let refitting = p.calibration != nil
        var result = try RankSearch(policy: policy, holdOut: holdOut && !refitting).run(session)
        let chosen = try evaluator.decompositions(for: result.configuration.choices.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        var searched = try evaluator.score(result.configuration, on: .full)
        let label = evaluator.label(result.configuration)
        var decisions = fixedRefs + chosen
        var refit: RefitSummary?
        if refitting {
            let outcome = try SequentialRefit.apply(decisions, parameters: p, searched: searched, label: label, factory: factory,
                                                   evaluator: evaluator, session: session, context: ctx)
            refit = outcome.summary
            if let r = outcome.summary {
                result.notes.append(r.kept
                    ? "refitted in sequence (\(r.layers.joined(separator: ", "))): search-set metric \(metricText(r.searchMetricBefore)) → \(metricText(r.searchMetricAfter))"
                    : "refitted in sequence (\(r.layers.joined(separator: ", "))): search-set metric \(metricText(r.searchMetricBefore)) → \(metricText(r.searchMetricAfter)) fails the bound on the search set and scores below the search's own fit, which is kept")
            }
            decisions = outcome.decisions
            searched = outcome.searched
            result.decidedOn = holdOut ? .verify : .full
            result.baseline = try session.baseline(result.decidedOn)
            result.metric = try evaluator.score(refs: decisions, on: result.decidedOn, label: label + (outcome.summary?.kept == true ? " (refit)" : "")).value
            result.passed = acceptance.accepts(baseline: result.baseline, value: result.metric)
            if holdOut {
                result.notes.append("verify check (held-out samples, scored once): drop \(metricText(acceptance.drop(baseline: result.baseline, value: result.metric))) — \(result.passed ? "passed" : "FAILED: the choice holds on the search data but not on unseen samples")")
            }
        }
        let finalLabel = label + (refit?.kept == true ? " (refit)" : "")
        let final = try evaluator.score(refs: decisions, on: result.decidedOn, label: finalLabel)
        let margin = try SequentialRefit.marginSummary(p.margin, session: session, searched: searched)
        var warnings: [String] = []
        if let m = margin, !layers.isEmpty, m.full >= acceptance.allowedDrop(baseline: try session.baseline(.full)) {
            warnings.append("the search's margin for sampling error (\(metricText(m.full)) on \(searched.samples) search samples) is not smaller than the bound, so only candidates at least as good as the original pass; search on more samples, or set `search: { margin: 0 }` to search without it")
        }
        if holdOut {
            let worth = VerifyStrength(metric: p.metric, samples: final.samples,
                                       allowedDrop: acceptance.allowedDrop(baseline: result.baseline))
            if let w = worth.warning { warnings.append(w) }
        }
        // The float32 twin of the chosen model and the int8 original, on the set that decided, for
        // the float-vs-int8 report.
        let floatFinal = p.quantize == nil ? nil : try evaluator.score(refs: decisions, on: result.decidedOn, label: finalLabel, quantized: false).value
        let int8Baseline = p.quantize == nil ? nil : try evaluator.quantizedReference(on: result.decidedOn)
        var report: SearchReport?
        if !layers.isEmpty {
            var sensitivity: [String: [SensitivityPoint]] = [:]
            for (layer, curve) in result.sensitivity {
                let opts = options[layer] ?? []
                sensitivity[layer] = curve.keys.sorted().map { i in
                    SensitivityPoint(rank: opts[i].rank, cost: opts[i].cost[factory.objective], drop: curve[i]!)
                }
            }
            let visited = result.visited.map { v in
                TradeoffPoint(set: v.set.rawValue, macs: v.cost.macs, params: v.cost.params, metric: v.metric,
                              chosen: v.configuration == result.configuration)
            }
            report = SearchReport(policy: p.policy.rawValue, objective: factory.objective.rawValue,
                                  evaluations: result.evaluations, sensitivity: sensitivity, visited: visited,
                                  notes: result.notes)
            report?.boundBy = constraints.isEmpty ? nil : result.boundBy
            report?.rankedBy = ranking?.resource
        }
        let selection = Selection(passed: result.passed, baseline: result.baseline, metric: final.value,
                                  samples: final.samples, decompositions: decisions,
                                  before: LayerCost(params: table.modelParams, macs: table.totalMACs),
                                  after: result.cost, search: report, nonFinite: final.nonFinite,
                                  floatMetric: floatFinal, int8Baseline: int8Baseline,
                                  searchBaseline: result.searchBaseline, searchMetric: searched.value,
                                  searchSamples: searched.samples, heldOut: holdOut, warnings: warnings.isEmpty ? nil : warnings,
                                  shortfall: result.shortfall, refit: refit, margin: margin)
        return ["selection": try LayerWork.jsonEncoder.encode(selection)]
    }
}

extension SelectStage {
    /// The device's budgets as hard constraints of the search and, for `objective: flash|ram`,
    /// the exact bytes it ranks by; none when the pipeline does not build for a device.
    static func deviceConstraints(_ p: SelectParameters, graph: Graph, fixed: [DecompositionRef], layers: [SearchLayer],
                                  ctx: StageContext) throws -> ([ResourceConstraint], (any ResourceMeasure)?) {
        guard let d = p.device, d.flashBudget != nil || d.ramBudget != nil || d.ranking != nil else { return ([], nil) }
        guard let profile = DeviceProfile.named(d.device) else { throw PipelineError.internalError("unknown device \(d.device)") }
        let refs = try GraphLayers.references(in: graph)
        let methods = Dictionary(p.searchable.map { ($0.layer, $0.method) }, uniquingKeysWith: { a, _ in a })
        var costLayers: [String: DeviceCosts.Layer] = [:]
        for l in layers {
            let descriptor = try GraphLayers.descriptor(try GraphLayers.reference(named: l.name, in: refs), in: graph)
            costLayers[l.name] = DeviceCosts.Layer(descriptor: descriptor, method: methods[l.name]!, options: l.options)
        }
        let base = try LayerWork.apply(fixed, to: graph, store: ctx.store)
        let costs = try DeviceCosts(base: base, layers: costLayers, profile: profile, int8: d.int8)
        var constraints: [ResourceConstraint] = []
        if let f = d.flashBudget { constraints.append(ResourceConstraint(measure: costs.measure(.flash), limit: f)) }
        if let r = d.ramBudget { constraints.append(ResourceConstraint(measure: costs.measure(.ram), limit: r)) }
        return (constraints, d.ranking.map { costs.measure($0) })
    }
}

/// The chosen decompositions applied to the model, as ONNX bytes.
enum ExportStage: WorkflowStageKind {
    static var name: String { "export" }
    static var version: Int { StageVersion.export }

    static func run(_ p: EmptyParameters, context ctx: StageContext, environment: StageEnvironment) throws -> StageOutputs {
        let selection = try JSONDecoder().decode(Selection.self, from: try ctx.data("selection"))
        let model = try ctx.digest(of: "model"), original = ctx.inputs["original"] ?? model
        var graph = try LayerWork.apply(selection.decompositions, to: try ArtifactMemo.shared.graph(model, store: ctx.store),
                                        store: ctx.store)
        // Keep the input declarations (symbolic dimensions) of the model as given.
        if original != model { graph.inputs = try ArtifactMemo.shared.graph(original, store: ctx.store).inputs }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-\(UUID().uuidString).onnx")
        try graph.save(to: tmp.path)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let digest = try ctx.putFile(at: tmp)
        return ["onnx": try ctx.store.read(digest)]
    }
}
